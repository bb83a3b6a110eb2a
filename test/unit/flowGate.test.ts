/**
 * The agent's flow gate (agent/flowGate.ts): every reason a pane's pty is not read — the hub
 * link congested, a hub's `run:flow` hold (which lapses unless renewed), the screen mirror
 * behind — combines in one place, and a pane is read again only once no reason holds it.
 */
import { expect } from 'chai';
import { FLOW_HOLD_LAPSE_MS } from '../../common/protocol.ts';
import { FlowGate, HIGH_WATER, LOW_WATER } from '../../agent/flowGate.ts';
import type { OutputValve } from '../../agent/flowGate.ts';
import { waitUntil } from '../support/wait.ts';

function valve(): OutputValve & { calls: string[] } {
  const calls: string[] = [];
  return { calls, pauseOutput: () => calls.push('pause'), resumeOutput: () => calls.push('resume') };
}

describe('agent/FlowGate', () => {
  it('holds every streaming pane while the hub link is congested, until it drains under the low mark', async () => {
    let queued = 0;
    const gate = new FlowGate(() => queued);
    const a = valve();
    const b = valve();
    const headless = valve();
    gate.pane('run-1', a).streaming(true);
    gate.pane('run-2', b).streaming(true);
    gate.pane('run-3', headless); // not streaming: never held for the hub's sake
    queued = HIGH_WATER;
    gate.sent();
    expect(a.calls, 'at the mark: not yet').to.deep.equal([]);
    queued = HIGH_WATER + 1;
    gate.sent();
    expect(a.calls).to.deep.equal(['pause']);
    expect(b.calls).to.deep.equal(['pause']);
    expect(headless.calls).to.deep.equal([]);
    queued = LOW_WATER; // drained somewhat, but not under the low mark
    // A negative wait: no resume may come within 50 ms while above the low mark.
    await new Promise((r) => setTimeout(r, 50));
    expect(a.calls).to.deep.equal(['pause']);
    queued = LOW_WATER - 1;
    await waitUntil('the link to drain', () => (a.calls.length === 2 ? true : undefined), 2000, 5);
    expect(a.calls).to.deep.equal(['pause', 'resume']);
    expect(b.calls).to.deep.equal(['pause', 'resume']);
  });

  it("a hub's hold holds only that run's streaming panes and lapses unless renewed", async () => {
    const gate = new FlowGate(() => 0);
    const mine = valve();
    const other = valve();
    gate.pane('run-1', mine).streaming(true);
    gate.pane('run-2', other).streaming(true);
    const t0 = Date.now();
    gate.hubHold('run-1', 'hub-a', true);
    expect(mine.calls).to.deep.equal(['pause']);
    expect(other.calls).to.deep.equal([]);
    await waitUntil('the hold to lapse', () => (mine.calls.length === 2 ? true : undefined), FLOW_HOLD_LAPSE_MS * 3, 20);
    expect(Date.now() - t0).to.be.at.least(FLOW_HOLD_LAPSE_MS - 50);
    expect(mine.calls).to.deep.equal(['pause', 'resume']);
  });

  it('two hubs holding the same run: read again only when both let go', () => {
    const gate = new FlowGate(() => 0);
    const v = valve();
    gate.pane('run-1', v).streaming(true);
    gate.hubHold('run-1', 'hub-a', true);
    gate.hubHold('run-1', 'hub-b', true);
    gate.hubHold('run-1', 'hub-a', false);
    expect(v.calls).to.deep.equal(['pause']);
    gate.hubHold('run-1', 'hub-b', false);
    expect(v.calls).to.deep.equal(['pause', 'resume']);
  });

  it('the mirror behind holds a pane streaming or not; with a hub hold too, it waits for both', () => {
    const gate = new FlowGate(() => 0);
    const v = valve();
    const flow = gate.pane('run-1', v);
    flow.mirrorBehind(true);
    expect(v.calls).to.deep.equal(['pause']);
    flow.streaming(true);
    gate.hubHold('run-1', 'hub-a', true);
    flow.mirrorBehind(false);
    expect(v.calls, 'still held by the hub').to.deep.equal(['pause']);
    gate.releaseRun('run-1');
    expect(v.calls).to.deep.equal(['pause', 'resume']);
  });

  it('a pane that stops streaming (headless, or over) is released from the hub side at once', () => {
    const gate = new FlowGate(() => 0);
    const v = valve();
    const flow = gate.pane('run-1', v);
    flow.streaming(true);
    gate.hubHold('run-1', 'hub-a', true);
    flow.streaming(false);
    expect(v.calls).to.deep.equal(['pause', 'resume']);
    flow.close();
    gate.releaseRun('run-1');
    expect(v.calls).to.deep.equal(['pause', 'resume']);
  });
});
