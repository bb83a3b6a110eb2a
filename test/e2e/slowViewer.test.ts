/**
 * A viewer that stops reading never slows the run or the other viewers, and the hub does not
 * buffer for it without bound: its output is held back past a bound (HANDOFF_VIEWER_BACKLOG_BYTES), and when it reads again it
 * is resynced from a snapshot (architecture §5). Real hub, agent, pty and sockets; the stall is real
 * (the client's TCP socket stops reading).
 */
import type { Socket as NetSocket } from 'node:net';
import { expect } from 'chai';
import { TASK_PANE } from '../../common/protocol.ts';
import { queuedBytes } from '../../hub/realtime/slowViewerGuard.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import { waitUntil } from '../support/wait.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { TestViewer } from '../support/viewerClient.ts';

/** The TCP socket under a socket.io-client websocket (to stop reading from it). */
function tcpOf(v: TestViewer): NetSocket {
  const engine = v.socket.io.engine as unknown as { transport: { ws: { _socket: NetSocket } } };
  return engine.transport.ws._socket;
}

/** A small limit, so a few MB of output show the mechanism (the default is 32 MiB). */
const BACKLOG = 4 * 1024 * 1024;

async function slowViewerCount(url: string): Promise<number> {
  const m = (await (await fetch(`${url}/metrics`)).text()).match(/^handoff_slow_viewers_total (\d+)/m);
  return Number(m?.[1] ?? 0);
}

describe('slow viewer isolation (e2e)', function () {
  this.timeout(90_000);
  let hub: TestHub;
  let agent: TestAgent;
  const viewers: TestViewer[] = [];

  before(async () => {
    hub = await startTestHub('postgres', { env: { HANDOFF_VIEWER_BACKLOG_BYTES: String(BACKLOG) } });
    agent = startTestAgent(hub);
    await agent.ready();
  });
  after(async () => {
    for (const v of viewers) v.close();
    await agent?.close();
    await hub?.close();
  });

  it('holds a stalled viewer back within a bound, keeps the others streaming, and resyncs it when it reads again', async () => {
    // 4,000,000 numbered lines (36 MB through the pty's \n → \r\n), after a pause long enough for both viewers to join.
    const run = await createRun(hub, ['sleep 1; seq -w 1 4000000; echo END-OF-RUN; sleep 3']);
    const total = 4_000_000 * 9 + 'END-OF-RUN\r\n'.length;
    await waitForSessionStatus(hub, run.id, ['ready']);
    const healthy = await TestViewer.connect(hub.url, hub.token('viewer'), { terminal: false });
    const stalled = await TestViewer.connect(hub.url, hub.token('viewer'));
    viewers.push(healthy, stalled);
    await healthy.join(run.id);
    await stalled.join(run.id);
    tcpOf(stalled).pause();

    const hubSocket = [...hub.hub.io.of('/viewer').sockets.values()].find((s) => s.id === stalled.socket.id);
    expect(hubSocket, 'the stalled viewer on the hub').to.not.equal(undefined);
    let maxQueued = 0;
    const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, queuedBytes(hubSocket!))), 10);
    try {
      await waitUntil('the whole run at the healthy viewer', () => (healthy.pane(TASK_PANE).liveByteCount >= total ? true : undefined), 60_000, 50);
    } finally {
      clearInterval(sampler);
    }
    const healthyPane = healthy.pane(TASK_PANE);
    expect(healthyPane.gaps).to.equal(0);
    expect(healthyPane.liveByteCount).to.equal(total);
    expect(healthyPane.liveOutput().subarray(-30).toString()).to.include('4000000\r\nEND-OF-RUN\r\n');
    // The guard checks every 50 ms: what queues up between two checks is the only slack.
    expect(maxQueued, 'hub-side queue of the stalled viewer').to.be.below(BACKLOG * 4);
    expect(await slowViewerCount(hub.url)).to.be.at.least(1);

    // It reads again: it is handed a fresh snapshot and ends with the same screen.
    tcpOf(stalled).resume();
    await waitUntil('a pushed snapshot', () => stalled.events.find((e) => e.name === 'pane:snapshot'), 20_000);
    const lines = await waitUntil('the resynced screen to end with the run\'s last lines', async () => {
      const l = (await stalled.pane(TASK_PANE).screenLines()).filter(Boolean);
      return l.at(-1) === 'END-OF-RUN' && l.at(-2) === '4000000' ? l : undefined;
    }, 20_000, 100);
    expect(lines.slice(-2)).to.deep.equal(['4000000', 'END-OF-RUN']);
    await waitForRunStatus(hub, run.id, ['succeeded']);
  });

  it('gives a viewer that drains only after the run ended the final screen (the agent keeps it for a while)', async () => {
    // no pause at the end: the run is over long before the stalled viewer reads again
    // as much output as the first test: enough to fill the kernel's socket buffers and pass the bound
    const run = await createRun(hub, ['sleep 1; seq -w 1 4000000; echo END-OF-RUN']);
    const total = 4_000_000 * 9 + 'END-OF-RUN\r\n'.length;
    const slowBefore = await slowViewerCount(hub.url);
    await waitForSessionStatus(hub, run.id, ['ready']);
    const stalled = await TestViewer.connect(hub.url, hub.token('viewer'));
    viewers.push(stalled);
    await stalled.join(run.id);
    tcpOf(stalled).pause();
    await waitForRunStatus(hub, run.id, ['succeeded'], 60_000);
    await waitUntil('the hub to take the stalled viewer off the stream', async () => ((await slowViewerCount(hub.url)) > slowBefore ? true : undefined), 10_000, 50);

    const seen = stalled.events.length;
    tcpOf(stalled).resume();
    const pushed = await waitUntil('a pushed snapshot of the final screen', () => stalled.events.slice(seen).find((e) => e.name === 'pane:snapshot'), 20_000);
    expect((pushed.args[1] as { offset: number }).offset, 'the snapshot covers the whole run').to.equal(total);
    await stalled.pane(TASK_PANE).parsed();
    const lines = (await stalled.pane(TASK_PANE).screenLines()).filter(Boolean);
    expect(lines.at(-1)).to.equal('END-OF-RUN');
    expect(lines.at(-2)).to.equal('4000000');
    // and an explicit resync of the finished run answers the same final screen
    const reply = await stalled.socket.timeout(10_000).emitWithAck('pane:resync', run.id, TASK_PANE);
    expect(reply.ok, JSON.stringify(reply).slice(0, 200)).to.equal(true);
    if (reply.ok) expect(reply.data.offset).to.equal(total);
  });
});
