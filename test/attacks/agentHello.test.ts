/**
 * Costs after a worker's authentication stay linear and bounded (issue 12 item 7, §7a): a hello
 * listing 40,000 run ids is refused at once instead of stalling the event loop, and a pane named
 * like an object property (`constructor`, `__proto__`) never reaches a viewer.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Socket } from 'socket.io-client';
import type { Ack, PaneInfo } from '../../common/protocol.ts';
import { PROTOCOL_VERSION } from '../../common/protocol.ts';
import type { TaskRunDto } from '../../common/api.ts';
import { connectSocket } from '../support/processes.ts';
import { startTestHub } from '../support/testHub.ts';
import type { TestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';

describe('attack: agent hello and panes', function () {
  this.timeout(60_000);
  let t: TestHub;
  const sockets: Socket[] = [];

  before(async () => {
    t = await startTestHub('postgres');
  });
  after(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  it('a hello with 40,000 run ids is refused without stalling the hub', async () => {
    const s = await connectSocket(t.url, '/agent', { token: t.workerToken('w-hello') });
    sockets.push(s);
    const runs = Array.from({ length: 40_000 }, () => ({ runId: randomUUID(), attempt: 1, panes: [] }));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const reply = (await s.timeout(30_000).emitWithAck('agent:hello', { protocol: PROTOCOL_VERSION, workerId: 'w-hello', hostname: 'h', capacity: 1, runs })) as Ack<unknown>;
    delay.disable();
    const stallMs = delay.max / 1e6;
    console.log(`      event loop stall during the hello: ${stallMs.toFixed(0)} ms`);
    expect(reply.ok).to.equal(false);
    if (!reply.ok) expect(reply.error.code).to.equal('invalid_payload');
    expect(stallMs).to.be.lessThan(500);
  });

  it("a pane opened as 'constructor' or '__proto__' never reaches a viewer", async () => {
    const agent = await connectSocket(t.url, '/agent', { token: t.workerToken('w-panes') });
    sockets.push(agent);
    const created = await t.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', t.token('operator'), { steps: ['true'], liveSession: true });
    const claim = (await agent.timeout(5000).emitWithAck('run:claim')) as Ack<{ taskRun: TaskRunDto | null }>;
    const runId = claim.ok ? claim.data.taskRun?.id : undefined;
    const attempt = claim.ok ? claim.data.taskRun?.attempt : undefined;
    expect(runId).to.equal(created.body.taskRun.id);
    const viewer = await connectSocket(t.url, '/viewer', { token: t.token('viewer') });
    sockets.push(viewer);
    const opened: string[] = [];
    viewer.on('pane:open', (_runId: string, pane: PaneInfo) => opened.push(pane.paneId));
    const joined = (await viewer.timeout(10_000).emitWithAck('run:join', runId)) as Ack<unknown>;
    expect(joined.ok, JSON.stringify(joined)).to.equal(true);
    const pane = (paneId: string): PaneInfo => ({ paneId, title: paneId, cols: 80, rows: 24, offset: 0 });
    for (const bad of ['constructor', '__proto__', 'Task', 'x'.repeat(33), 'a b']) agent.emit('pane:open', runId, attempt, pane(bad));
    agent.emit('pane:open', runId, attempt, pane('task'));
    await waitUntil('the good pane to reach the viewer', () => (opened.includes('task') ? true : undefined));
    expect(opened).to.deep.equal(['task']);
    expect(t.logs.join('')).to.include('pane:open refused');
  });
});
