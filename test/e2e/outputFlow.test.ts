/**
 * Back-pressure from viewers to the pty (`run:flow`): while a hub holds a run's output (every
 * viewer of it there is behind), the agent stops reading the pty, so the step blocks on a full
 * pty; it reads again when the hub releases the hold, or when the hold lapses because the hub
 * stopped renewing it (a hub that died must not leave a run paused). Real hub, agent, pty and
 * sockets; the hold is sent the way the hub's SlowViewerGuard sends it.
 */
import { expect } from 'chai';
import { FLOW_HOLD_LAPSE_MS, TASK_PANE } from '../../common/protocol.ts';
import { agentRunRoom } from '../../hub/realtime/rooms.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForSessionStatus } from '../support/testAgent.ts';
import { sleep, waitSteady, waitUntil } from '../support/wait.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { TestViewer } from '../support/viewerClient.ts';

describe('output flow holds (e2e)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let agent: TestAgent;
  let viewer: TestViewer | undefined;

  before(async () => {
    hub = await startTestHub('embedded');
    agent = startTestAgent(hub);
    await agent.ready();
  });
  after(async () => {
    viewer?.close();
    await agent?.close();
    await hub?.close();
  });

  it('stops reading the pty while a hub holds the run, and reads again on release or when the hold lapses', async () => {
    // a step that prints for as long as it is let: it is cancelled when the agent closes
    const run = await createRun(hub, ['while :; do seq 1 1000; sleep 0.01; done']);
    await waitForSessionStatus(hub, run.id, ['ready']);
    viewer = await TestViewer.connect(hub.url, hub.token('viewer'), { terminal: false });
    await viewer.join(run.id);
    const pane = viewer.pane(TASK_PANE);
    const bytes = () => pane.liveByteCount;
    const hold = (behind: boolean) => hub.hub.io.of('/agent').to(agentRunRoom(run.id)).emit('run:flow', run.id, 'test-hub', behind);
    const grows = async (what: string) => {
      const from = bytes();
      await waitUntil(what, () => (bytes() > from + 20_000 ? true : undefined), 10_000, 20);
    };
    /** Output stands still: what was read before the hold has arrived, and nothing more comes. */
    const frozen = async () => {
      // what was read before the hold may still be on its way: wait until it stops coming
      // (the step prints some 4 KB every 10 ms, so 300 ms of quiet is a stop)
      const at = await waitSteady('the output to stop under the hold', bytes, 300);
      await sleep(500); // negative wait: nothing more may arrive while held
      return bytes() - at;
    };

    await grows('output before any hold');
    hold(true);
    expect(await frozen(), 'bytes that arrived while held').to.equal(0);
    hold(false);
    await grows('output after the hold was released');

    // not renewed: the hold lapses on its own
    hold(true);
    const heldAt = Date.now();
    expect(await frozen(), 'bytes that arrived while held').to.equal(0);
    await grows('output after the hold lapsed');
    expect(Date.now() - heldAt, 'the hold lasted until it lapsed').to.be.at.least(FLOW_HOLD_LAPSE_MS - 200);
  });
});
