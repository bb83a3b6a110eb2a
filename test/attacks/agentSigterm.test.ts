/**
 * An agent stopped with SIGTERM under the default `finish` shutdown policy (issue 12 item 5,
 * architecture §10): it keeps heartbeating until its runs end. Hub and agent are real processes
 * (heartbeat 1 s, grace 3 s, worker-lost policy requeue): a step three times longer than the grace
 * is running when the agent gets SIGTERM; the run completes successfully, is never declared
 * lost, no second attempt starts, and the agent leaves once the run is reported.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { AgentProcess } from '../support/processes.ts';
import { createRunAt, eventsAt, processesMatching, spawnAgent, stopDeployment, waitRunAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { sql } from '../support/testDatabase.ts';
import { waitUntil } from '../support/wait.ts';

const GRACE_S = 3;
const STEP_S = 10;

describe('attack: agent SIGTERM during a long step (shutdown policy finish)', function () {
  this.timeout(90_000);
  let hub: HubProcess<'postgres'>;
  let agent: AgentProcess | null = null;
  const marker = `handoff-sigterm-${randomBytes(6).toString('hex')}`;

  before(async function () {
    this.timeout(40_000);
    hub = await startTestHub('postgres', { process: true, env: { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: String(GRACE_S), HANDOFF_SWEEP_INTERVAL_MS: '200', HANDOFF_WORKER_LOST_POLICY: 'requeue' } });
  });
  after(async function () {
    this.timeout(30_000);
    await stopDeployment({ agents: [[agent, 'SIGKILL']], hub, markers: [marker] });
  });

  it('keeps heartbeating until the run ends: succeeded, never worker_lost, one attempt', async () => {
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-sigterm', env: { HANDOFF_AGENT_SHUTDOWN: 'finish' } });
    const run = await createRunAt(hub.url, [`echo start; bash -c 'sleep ${STEP_S}; : ${marker}'; echo finished-${marker}`]);
    await waitRunAt(hub.url, run.id, ['running'], 30_000);
    await waitUntil('the step to run', async () => ((await processesMatching(marker)).length > 0 ? true : undefined), 15_000, 50);

    const termAt = Date.now();
    agent.proc.kill('SIGTERM');
    const exit = await agent.exited;
    const leftAfter = (Date.now() - termAt) / 1000;
    const done = await waitRunAt(hub.url, run.id, ['succeeded', 'failed', 'cancelled', 'queued'], 5000);
    const events = await eventsAt(hub.url, run.id);
    const actions = events.map((e) => e.action);
    console.log(`      agent left ${leftAfter.toFixed(1)} s after SIGTERM (exit ${exit.code}); run ${done.status}; ${actions.filter((a) => a === 'worker_lost').length} worker_lost`);
    expect(actions, 'never declared lost while it still ran').to.not.include('worker_lost');
    expect(actions, 'never re-queued').to.not.include('run_requeued');
    expect([done.status, done.exitCode, done.workerId]).to.deep.equal(['succeeded', 0, 'w-sigterm']);
    expect(actions.filter((a) => a === 'run_claimed'), 'one attempt').to.have.length(1);
    const [row] = await sql<{ attempts: number }>(hub.databaseUrl, 'select attempts from task_run where id = $1', [run.id]);
    expect(row?.attempts).to.equal(0);
    expect(exit.code, 'the agent leaves cleanly once its run is reported').to.equal(0);
    expect(leftAfter, 'it waited for the step').to.be.greaterThan(GRACE_S);
    expect(await processesMatching(marker)).to.deep.equal([]);
  });
});
