/**
 * Faults (issue #8): the agent is SIGKILLed mid-run. Hub and agent are real processes
 * (`handoff hub`, `handoff agent`) on a PostgreSQL test database, heartbeat 1 s, grace 2 s,
 * sweeps every 200 ms.
 *  - policy fail: within the grace the session goes `error` (worker_lost), the run `failed`, a
 *    joined viewer gets `session:ended` with status error; an agent restarted with the same
 *    worker id does not resurrect the old run; the step's processes do not outlive the agent;
 *  - policy requeue: the run is queued again with a fresh `disabled` session, and the restarted
 *    agent runs it to the end.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { TASK_PANE } from '../../common/protocol.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import {
  createRunAt,
  eventsAt,
  getRunAt,
  operatorToken,
  processesMatching,
  spawnAgent,
  stopDeployment,
  waitRunAt,
  waitSessionAt,
} from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';
import { sql } from '../support/testDatabase.ts';
import { TestViewer } from '../support/viewerClient.ts';

const FAST_SWEEP = { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '2', HANDOFF_SWEEP_INTERVAL_MS: '200' };

/**
 * A step that starts a background job, prints a ready line and then loops forever in the
 * foreground; every process of it carries `marker` on its command line.
 */
const endlessStep = (marker: string) => `bash -c 'exec -a ${marker}-bg sleep 300' & echo ready-${marker}; bash -c 'while :; do sleep 0.1; done; : ${marker}'`;

for (const policy of ['fail', 'requeue'] as const) {
  describe(`faults: agent SIGKILLed mid-run (worker-lost policy ${policy})`, function () {
    this.timeout(60_000);
    let hub: HubProcess<'postgres'>;
    let agent: AgentProcess | null = null;
    let agent2: AgentProcess | null = null;
    const viewers: TestViewer[] = [];
    const marker = `handoff-fault-${randomBytes(6).toString('hex')}`;

    before(async function () {
      this.timeout(40_000);
      hub = await startTestHub('postgres', { process: true, env: { ...FAST_SWEEP, HANDOFF_WORKER_LOST_POLICY: policy } });
    });

    after(async function () {
      this.timeout(30_000);
      for (const v of viewers) v.close();
      // whatever the test found, leave no step process behind on the machine
      await stopDeployment({ agents: [[agent, 'SIGKILL'], [agent2, 'SIGTERM']], hub, dirs: [`/tmp/${marker}.first-attempt`], markers: [marker] });
    });

    it('ends the session with worker_lost, tells the viewers, and never resurrects the run', async () => {
      const workerId = `w-kill-${policy}`;
      agent = spawnAgent({ hubUrl: hub.url, workerId });
      // second attempt (requeue policy) finishes: the step sees the flag file left by the first
      const flag = `/tmp/${marker}.first-attempt`;
      const step = policy === 'requeue' ? `if [ -e ${flag} ]; then echo second-attempt-${marker}; exit 0; fi; touch ${flag}; ${endlessStep(marker)}` : endlessStep(marker);
      const run = await createRunAt(hub.url, [step]);
      await waitRunAt(hub.url, run.id, ['running'], 30_000);
      const ready = await waitSessionAt(hub.url, run.id, ['ready']);

      const viewer = await TestViewer.connect(hub.url, operatorToken('viewer'));
      viewers.push(viewer);
      await viewer.join(run.id);
      await viewer.waitForOutput(TASK_PANE, (_b, p) => p.snapshots.length > 0, 10_000, 'the join snapshot');
      await waitUntil('the step processes to run', async () => ((await processesMatching(marker)).length > 0 ? true : undefined), 10_000, 50);

      const killedAt = Date.now();
      agent.proc.kill('SIGKILL');
      await agent.exited;

      // within the grace (+ a sweep + slack for a loaded machine): the session is `error`
      const session = await waitSessionAt(hub.url, run.id, policy === 'requeue' ? ['disabled'] : ['error'], 10_000);
      const lostAfter = Date.now() - killedAt;
      expect(lostAfter, 'worker_lost detected within grace + slack').to.be.lessThan(9000);
      const ended = await viewer.waitForEnded(5000);
      expect(ended.status).to.equal('error');
      expect(ended.reason).to.match(/lost/);

      const events = await eventsAt(hub.url, run.id);
      const lost = events.filter((e) => e.action === 'worker_lost');
      expect(lost, 'one worker_lost event').to.have.length(1);
      expect(lost[0]?.metadata['workerId']).to.equal(workerId);
      const sessionError = events.find((e) => e.action === 'session_error');
      expect(sessionError?.metadata['reason']).to.equal('worker_lost');

      let after = await getRunAt(hub.url, run.id);
      if (policy === 'fail') {
        expect(after.status).to.equal('failed');
        expect(session.status).to.equal('error');
        expect(session.endedAt).to.be.a('string');
        expect(session.errorMessage).to.match(/worker .* lost/);
      } else {
        expect(after.status).to.equal('queued');
        expect(events.find((e) => e.action === 'run_requeued')?.metadata['attempts']).to.equal(1);
        expect(after.workerId).to.equal(null);
        expect(session.id, 'a fresh session').to.not.equal(ready.id);
        expect(session.status).to.equal('disabled');
        expect(events.map((e) => e.action)).to.include.members(['run_requeued', 'create_session']);
      }

      // The killed agent's step processes: the pty hung up when the agent died.
      const survivors = await waitUntil(
        'the killed agent’s step processes to go',
        async () => {
          const left = await processesMatching(marker);
          return left.length === 0 ? [] : Date.now() - killedAt > 8000 ? left : undefined;
        },
        15_000,
        100,
      );
      expect(survivors, `step processes of the SIGKILLed agent still alive (orphans): ${survivors.join(', ')}`).to.deep.equal([]);

      // The agent comes back with the same worker id: the old run stays as the hub decided.
      agent2 = spawnAgent({ hubUrl: hub.url, workerId });
      if (policy === 'fail') {
        // The restarted agent claims on its hello and on each run:available: once it ran a fresh
        // run to the end it is past both, and claiming gave it the new run, not the failed one.
        const probe = await createRunAt(hub.url, ['echo probe']);
        const probed = await waitRunAt(hub.url, probe.id, ['succeeded', 'failed', 'cancelled'], 30_000);
        expect([probed.status, probed.workerId], 'the restarted agent runs new work').to.deep.equal(['succeeded', workerId]);
        after = await getRunAt(hub.url, run.id);
        expect(after.status, 'the failed run is not resurrected').to.equal('failed');
        expect((await waitSessionAt(hub.url, run.id, ['error'], 1000)).status).to.equal('error');
        expect(await processesMatching(marker), 'no new step process for the failed run').to.deep.equal([]);
      } else {
        // requeue: the restarted agent claims it again and, this time, it finishes
        expect((await waitRunAt(hub.url, run.id, ['succeeded'], 30_000)).status).to.equal('succeeded');
        const [row] = await sql<{ attempts: number }>(hub.databaseUrl, 'select attempts from task_run where id = $1', [run.id]);
        expect(row?.attempts).to.equal(1);
        const s = await waitSessionAt(hub.url, run.id, ['ended'], 5000);
        expect(s.id).to.not.equal(ready.id);
      }
      await assertLifecycleIntegrity(hub.databaseUrl, { liveWorkers: [workerId] });
    });
  });
}

describe('faults: agent SIGKILLed mid-run — the recording', function () {
  this.timeout(60_000);
  let hub: HubProcess<'postgres'>;
  let agent: AgentProcess | null = null;
  let viewer: TestViewer | null = null;
  const marker = `handoff-rec-${randomBytes(6).toString('hex')}`;

  before(async function () {
    this.timeout(40_000);
    hub = await startTestHub('postgres', { process: true, env: FAST_SWEEP });
  });
  after(async function () {
    this.timeout(30_000);
    viewer?.close();
    await stopDeployment({ agents: [[agent, 'SIGKILL']], hub, markers: [marker] });
  });

  it('holds every byte the viewers saw, up to the kill', async () => {
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-rec-kill' });
    const run = await createRunAt(hub.url, [`bash -c 'i=0; while :; do i=$((i+1)); echo "line $i é"; if ((i % 200 == 0)); then sleep 0.01; fi; done; : ${marker}'`]);
    await waitSessionAt(hub.url, run.id, ['ready']);
    viewer = await TestViewer.connect(hub.url, operatorToken('viewer'));
    await viewer.join(run.id);
    await viewer.waitForOutput(TASK_PANE, (b) => b.length > 64 * 1024, 20_000, '64 KiB of live output');
    agent.proc.kill('SIGKILL');
    await agent.exited;
    await waitSessionAt(hub.url, run.id, ['error'], 15_000);

    const pane = viewer.pane(TASK_PANE);
    const seen = pane.liveOutput();
    const from = pane.snapshots[0]?.offset ?? 0;
    const res = await fetch(`${hub.url}/api/task-runs/${run.id}/recording`, { headers: { authorization: `Bearer ${operatorToken('viewer')}` } });
    expect(res.status).to.equal(200);
    const lines = (await res.text()).split('\n').filter(Boolean).slice(1);
    const recorded = Buffer.from(
      lines
        .map((l) => JSON.parse(l) as [number, string, string])
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
      'utf8',
    );
    expect(seen.length, 'the viewer saw output').to.be.greaterThan(64 * 1024);
    expect(recorded.length, 'the recording reaches the last byte the viewer saw').to.be.at.least(from + seen.length);
    expect(recorded.subarray(from, from + seen.length).equals(seen), 'the bytes the viewer saw, in the same place').to.equal(true);
  });
});
