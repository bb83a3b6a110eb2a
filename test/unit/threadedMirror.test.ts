/**
 * The agent's threaded screen mirror (agent/threadedMirror.ts + mirrorWorker.ts, a real worker
 * thread): snapshots reflect what was written, and a mirror that falls too far behind the
 * output holds its pane's pty until it caught up, so its queue cannot grow with the output.
 */
import { expect } from 'chai';
import { FlowGate } from '../../agent/flowGate.ts';
import type { PaneInput } from '../../agent/pane.ts';
import { Pane } from '../../agent/pane.ts';
import { MIRROR_BEHIND_HIGH, MIRROR_BEHIND_LOW, ThreadedMirror } from '../../agent/threadedMirror.ts';
import { waitFor } from '../support/wait.ts';

const LINE = Buffer.from(`${'x'.repeat(78)}\r\n`);
function output(bytes: number): Buffer {
  return Buffer.concat(Array.from({ length: Math.ceil(bytes / LINE.length) }, () => LINE)).subarray(0, bytes);
}


describe('agent/ThreadedMirror', function () {
  this.timeout(60_000);

  it('snapshots what was written, at its offset', async () => {
    const m = new ThreadedMirror(80, 24, 100, 0);
    try {
      m.write(Buffer.from('hello\r\nworld'));
      const s = await m.snapshot({ scrollback: true });
      expect(s.offset).to.equal(12);
      expect(s.data).to.include('hello').and.include('world');
    } finally {
      m.dispose();
    }
  });

  it('reports being behind past the high mark, and caught up under the low mark', async () => {
    const m = new ThreadedMirror(80, 24, 1000, 0);
    const events: boolean[] = [];
    m.onBehind((b) => events.push(b));
    try {
      const chunk = output(64 * 1024);
      // written in one go, faster than any parser: the worker cannot have reported progress yet
      for (let n = 0; n <= MIRROR_BEHIND_HIGH + 4 * chunk.length; n += chunk.length) m.write(chunk);
      expect(events).to.deep.equal([true]);
      await waitFor('the mirror to catch up', () => events.length === 2);
      expect(events).to.deep.equal([true, false]);
      expect(m.backlog).to.be.at.most(MIRROR_BEHIND_LOW);
    } finally {
      m.dispose();
    }
  });

  it('holds the pane’s pty while its mirror is behind, and reads again once it caught up', async () => {
    const calls: string[] = [];
    const input: PaneInput = {
      write: () => undefined,
      resize: () => undefined,
      pauseOutput: () => calls.push('pause'),
      resumeOutput: () => calls.push('resume'),
    };
    const gate = new FlowGate(() => 0);
    const pane = new Pane('task', 'task', 80, 24, input, { output: () => undefined, resized: () => undefined }, null, gate, 'run-1');
    pane.startLive();
    try {
      const chunk = output(64 * 1024);
      for (let n = 0; n <= MIRROR_BEHIND_HIGH + 4 * chunk.length; n += chunk.length) {
        pane.push(chunk);
        pane.flush();
      }
      expect(calls).to.deep.equal(['pause']);
      await waitFor('the pty to be read again', () => calls.length === 2);
      expect(calls).to.deep.equal(['pause', 'resume']);
      // a hub's hold goes through the same gate: released when no reason holds
      gate.hubHold('run-1', 'hub-a', true);
      gate.hubHold('run-1', 'hub-a', false);
      expect(calls).to.deep.equal(['pause', 'resume', 'pause', 'resume']);
    } finally {
      pane.dispose();
    }
  });
});
