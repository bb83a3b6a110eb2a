/**
 * The decisions of hub/realtime/slowViewerGuard.ts over viewers' queues: when to hold a run's
 * output (every viewer behind), when to release it, when to give a hold up (nobody drains), and
 * when to take a viewer off the stream (past the bound). The sockets are stand-ins whose queue
 * sizes the test sets: on loopback the kernel's socket buffers (tens of MB here) absorb a
 * stalled viewer's output before the hub's own queue grows, so these thresholds cannot be
 * driven from a real socket in a test's time. The e2e tests cover the real paths
 * (slowViewer.test.ts, outputFlow.test.ts).
 */
import { expect } from 'chai';
import type { Logger } from 'pino';
import type { HubMetrics } from '../../hub/metrics.ts';
import { viewerOutputRoom } from '../../hub/realtime/rooms.ts';
import { ACK_STALL_MS, queuedBytes, SlowViewerGuard } from '../../hub/realtime/slowViewerGuard.ts';
import type { AgentNamespace, ViewerNamespace, ViewerSocket } from '../../hub/realtime/types.ts';
import { waitUntil } from '../support/wait.ts';

const MiB = 1024 * 1024;
const BOUND = 32 * MiB; // holds above a quarter of it, releases under a sixteenth

interface FakeSocket {
  id: string;
  connected: boolean;
  data: { joined: Set<string>; readingAt: number | null };
  conn: { writeBuffer: Array<{ data: Buffer }>; transport: { writable: boolean; socket: { bufferedAmount: number } } };
  left: string[];
  leave(room: string): void;
  join(room: string): Promise<void>;
}

function fakeSocket(id: string, runs: string[]): FakeSocket {
  return {
    id,
    connected: true,
    data: { joined: new Set(runs), readingAt: null },
    conn: { writeBuffer: [], transport: { writable: true, socket: { bufferedAmount: 0 } } },
    left: [],
    leave(room) {
      this.left.push(room);
    },
    async join() {},
  };
}

const setQueue = (s: FakeSocket, bytes: number) => (s.conn.transport.socket.bufferedAmount = bytes);

function harness(...sockets: FakeSocket[]) {
  const flows: Array<{ runId: string; behind: boolean }> = [];
  let detached = 0;
  const viewers = { sockets: new Map(sockets.map((s) => [s.id, s])) } as unknown as ViewerNamespace;
  const agents = {
    to: () => ({
      emit: (event: string, runId: string, _hubId: string, behind: boolean) => {
        if (event === 'run:flow') flows.push({ runId, behind });
      },
      timeout: () => ({ emitWithAck: async () => [] }),
    }),
  } as unknown as AgentNamespace;
  const metrics = { slowViewers: { inc: () => detached++ }, outputHolds: { inc: () => undefined } } as unknown as HubMetrics;
  const log = { info: () => undefined } as unknown as Logger;
  const guard = new SlowViewerGuard(viewers, agents, metrics, log, BOUND);
  const check = () => (guard as unknown as { check(): void }).check();
  return { flows, check, detached: () => detached };
}


describe('hub/SlowViewerGuard', () => {
  it('counts the engine queue and the bytes the websocket has not handed to the kernel', () => {
    const s = fakeSocket('a', ['r1']);
    s.conn.writeBuffer.push({ data: Buffer.alloc(1000) });
    setQueue(s, 500);
    expect(queuedBytes(s as unknown as ViewerSocket)).to.equal(1500);
  });

  it('holds a run only while every viewer of it is behind, and releases it once they caught up', () => {
    const a = fakeSocket('a', ['r1']);
    const b = fakeSocket('b', ['r1']);
    const h = harness(a, b);
    setQueue(a, 20 * MiB);
    h.check();
    expect(h.flows, 'one viewer keeps up: no hold').to.deep.equal([]);
    setQueue(b, 9 * MiB);
    h.check();
    expect(h.flows).to.deep.equal([{ runId: 'r1', behind: true }]);
    setQueue(a, 5 * MiB);
    setQueue(b, 4 * MiB);
    h.check();
    expect(h.flows, 'draining, still over the low mark: the hold stays').to.have.length(1);
    setQueue(a, 1 * MiB);
    h.check();
    expect(h.flows.at(-1)).to.deep.equal({ runId: 'r1', behind: false });
    expect(h.detached()).to.equal(0);
  });

  it('gives a hold up when nobody drains, and does not hold again until the viewers caught up', async () => {
    const a = fakeSocket('a', ['r1']);
    const h = harness(a);
    setQueue(a, 10 * MiB);
    h.check();
    expect(h.flows).to.deep.equal([{ runId: 'r1', behind: true }]);
    // checked as the guard's timer does (every 50 ms) until the hold is given up: not before the
    // queue stood still for longer than a hold may stall (500 ms)
    const heldAt = performance.now();
    await waitUntil('the hold to be given up', () => (h.check(), h.flows.length > 1 ? true : undefined), 5000, 50);
    expect(performance.now() - heldAt, 'given up only after the stall limit').to.be.at.least(500);
    expect(h.flows.at(-1)).to.deep.equal({ runId: 'r1', behind: false });
    h.check();
    expect(h.flows, 'not held again while it does not read').to.have.length(2);
    setQueue(a, 0);
    h.check();
    setQueue(a, 10 * MiB);
    h.check();
    expect(h.flows.at(-1), 'held again after it caught up').to.deep.equal({ runId: 'r1', behind: true });
  });

  it('takes a viewer past the bound off the stream, and a hold does not wait for it', () => {
    const a = fakeSocket('a', ['r1']);
    const b = fakeSocket('b', ['r1']);
    const h = harness(a, b);
    setQueue(a, BOUND + 1);
    setQueue(b, 0);
    h.check();
    expect(a.left).to.deep.equal([viewerOutputRoom('r1')]);
    expect(h.detached()).to.equal(1);
    setQueue(b, 9 * MiB);
    h.check();
    expect(h.flows, 'the remaining viewer alone decides').to.deep.equal([{ runId: 'r1', behind: true }]);
  });

  it('keeps a viewer past the bound that acknowledges what it reads, up to twice the bound; one whose acknowledgements stopped goes', () => {
    const reading = fakeSocket('reading', ['r1']);
    const stopped = fakeSocket('stopped', ['r1']);
    const silent = fakeSocket('silent', ['r1']);
    const h = harness(reading, stopped, silent);
    reading.data.readingAt = performance.now(); // acked just now
    stopped.data.readingAt = performance.now() - ACK_STALL_MS - 1; // its last ack is too old
    for (const s of [reading, stopped, silent]) setQueue(s, BOUND + MiB);
    h.check();
    expect([reading.left, stopped.left, silent.left]).to.deep.equal([[], [viewerOutputRoom('r1')], [viewerOutputRoom('r1')]]);
    setQueue(reading, 2 * BOUND + 1);
    reading.data.readingAt = performance.now();
    h.check();
    expect(reading.left, 'past twice the bound, reading or not').to.deep.equal([viewerOutputRoom('r1')]);
  });
});
