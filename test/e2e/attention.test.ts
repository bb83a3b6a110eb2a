/**
 * A run that waits for a person says so (issue 15): the agent reads from /proc that the step's
 * terminal is being read with nothing printed for a while; the hub flags the run (payload
 * `attention`, in the runs list) and audits input_wanted / input_given once per change. A run
 * that sleeps or prints is never flagged. Real hub (PostgreSQL), agent, pty, viewer socket.
 */
import { expect } from 'chai';
import type { GrantWriteResult, TaskRunDto } from '../../common/api.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, getRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { TestViewer } from '../support/viewerClient.ts';
import { eventsAt } from '../support/rest.ts';
import { sleep, waitUntil } from '../support/wait.ts';

describe('a run waiting for input is flagged (e2e)', function () {
  this.timeout(60_000);
  let hub: TestHub;
  let agent: TestAgent;
  const viewers: TestViewer[] = [];

  before(async () => {
    hub = await startTestHub('postgres', { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    agent = startTestAgent(hub, { env: { HANDOFF_AGENT_INPUT_WAIT_SECONDS: '1', HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    await agent.ready();
  });
  after(async () => {
    for (const v of viewers) v.close();
    await agent?.close();
    await hub?.close();
  });

  const events = (runId: string) => eventsAt(hub.url, runId);
  const listed = async (runId: string) => (await hub.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?limit=100', hub.token('viewer'))).body.taskRuns.find((r) => r.id === runId);

  it('flags a prompt that waits (read -p), and clears it when the operator answers', async () => {
    const run = await createRun(hub, [`read -r -s -p 'Password: ' pw; echo; echo "got:\${#pw}"; sleep 3`]);
    await waitForSessionStatus(hub, run.id, ['ready']);
    const flagged = await waitUntil('the run to be flagged', async () => ((await getRun(hub, run.id)).payload.attention?.waitingForInput ? true : undefined), 10_000);
    expect(flagged).to.equal(true);
    expect((await listed(run.id))?.payload.attention?.waitingForInput, 'the runs list shows it').to.equal(true);
    expect((await events(run.id)).filter((e) => e.action === 'input_wanted')).to.have.length(1);

    const grant = await hub.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, hub.token('operator', 'op-ann'), { ttlMinutes: 1 });
    const v = await TestViewer.connect(hub.url, hub.token('operator', 'op-ann'), { grant: grant.body.grantToken });
    viewers.push(v);
    await v.join(run.id);
    v.sendInput(TASK_PANE, 'hunter2\r');
    await v.waitForOutput(TASK_PANE, (b) => b.toString().includes('got:7'), 10_000, 'the step to get the answer');
    await waitUntil('the flag to clear', async () => ((await getRun(hub, run.id)).payload.attention?.waitingForInput === false ? true : undefined), 10_000);
    const actions = (await events(run.id)).map((e) => e.action).filter((a) => a.startsWith('input_'));
    expect(actions).to.deep.equal(['input_wanted', 'input_given']);
    const done = await waitForRunStatus(hub, run.id, ['succeeded']);
    expect(done.payload.attention, 'a finished run waits for nobody').to.equal(undefined);
  });

  it('never flags a run that sleeps or keeps printing', async () => {
    // Each run prompts in its second step: the flag that then comes proves the watcher was
    // looking at this very run all along, and that it stayed silent while the first step slept
    // or printed (2.5 s: longer than the 1 s wait plus the 1 s watch period).
    const prompt = 'read -r answer; echo "answer:$answer"';
    const quiet = await createRun(hub, ['sleep 2.5', prompt]);
    const busy = await createRun(hub, ['for i in $(seq 1 25); do echo "tick $i"; sleep 0.1; done', prompt]);
    for (const r of [quiet, busy]) {
      await waitUntil(`${r.steps[0]}: the flag of its prompt`, async () => ((await getRun(hub, r.id)).payload.attention?.waitingForInput ? true : undefined), 15_000);
      const log = (await events(r.id)).filter((e) => e.action === 'step_started' || e.action.startsWith('input_'));
      expect(log.map((e) => (e.action === 'step_started' ? `step_started:${String(e.metadata['index'])}` : e.action)), r.steps[0]).to.deep.equal(['step_started:0', 'step_started:1', 'input_wanted']);
    }
    for (const r of [quiet, busy]) expect((await hub.api('POST', `/api/task-runs/${r.id}/cancel`, hub.token('operator'), {})).status).to.equal(200);
  });

  it('never flags a run held between steps by a soft pause (the hold is the agent\u2019s, not a prompt)', async () => {
    const run = await createRun(hub, ['echo one; sleep 1', 'echo two']);
    // paused once step 1 runs (a pause that lands before it would hold the run from its first step)
    await waitUntil('step 1 to start', async () => ((await events(run.id)).some((e) => e.action === 'step_started') ? true : undefined), 10_000);
    expect((await hub.api('POST', `/api/task-runs/${run.id}/control`, hub.token('operator'), { action: 'pause' })).status).to.equal(200);
    await waitUntil('step 1 to end under the pause', async () => ((await events(run.id)).some((e) => e.action === 'step_finished') ? true : undefined), 10_000);
    // negative wait: no flag while the agent holds the run between steps (past the 1 s wait and
    // its 1 s watch period, counted from the end of step 1 seen above)
    await sleep(2300);
    expect((await getRun(hub, run.id)).payload.attention).to.equal(undefined);
    expect((await hub.api('POST', `/api/task-runs/${run.id}/control`, hub.token('operator'), { action: 'resume' })).status).to.equal(200);
    await waitForRunStatus(hub, run.id, ['succeeded']);
    expect((await events(run.id)).filter((e) => e.action.startsWith('input_'))).to.deep.equal([]);
  });
});
