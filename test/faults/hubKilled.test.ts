/**
 * Faults (issue #8): the hub is SIGKILLed mid-run and restarted on the same database, port and
 * data folder (both hub and agent are real processes; PostgreSQL test database), away for longer
 * than the heartbeat grace.
 *  - the run keeps running on the agent (output during the outage goes to its backlog);
 *  - the agent reconnects and says hello with its run; the hub takes it back;
 *  - a viewer that reconnects and re-joins ends with the same screen as the pty (the agent's
 *    own recording), every line in order;
 *  - no control event is lost: events recorded before the kill are still there, and a control
 *    and a message sent after the restart reach the agent;
 *  - the run does not stay `running`: it completes after the restart.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TASK_PANE } from '../../common/protocol.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import {
  createRunAt,
  eventsAt,
  getRunAt,
  operatorToken,
  removeDir,
  rest,
  sleep,
  spawnAgent,
  waitHealthy,
  waitRunAt,
  waitSessionAt,
} from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { screenLinesOfCast, trimTrailingEmpty } from '../support/screens.ts';
import { waitUntil } from '../support/wait.ts';
import { TestViewer } from '../support/viewerClient.ts';

/**
 * Heartbeat 1 s, grace 8 s (above the agent's 5 s maximum reconnect back-off), sweeps every
 * 200 ms; the hub stays away longer than the grace, so every heartbeat in the database is stale
 * when it comes back: a hub that took that for lost workers would fail the run.
 */
const SWEEP = { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '8', HANDOFF_SWEEP_INTERVAL_MS: '200' };
const OUTAGE_MS = 6500;
const PAUSED_BANNER = '== PAUSED FOR OPERATOR ==';

describe('faults: hub SIGKILLed mid-run and restarted', function () {
  this.timeout(90_000);
  let hub: HubProcess<'postgres'> | null = null;
  let agent: AgentProcess | null = null;
  const viewers: TestViewer[] = [];
  const gate = `/tmp/handoff-fault-gate-${randomBytes(6).toString('hex')}`;

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    await agent?.stop('SIGTERM');
    await hub?.close();
    removeDir(agent?.dataDir);
    removeDir(gate);
  });

  it('keeps the run going, resyncs the agent and the viewers, loses no control event', async () => {
    hub = await startTestHub('postgres', { process: true, env: SWEEP });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-hubkill' });

    // lines 1-60 at once, 61-160 over ~5 s+ (across the kill), then wait for the gate, then 161-200
    const step =
      `for i in $(seq 1 60); do echo "line $i"; done; ` +
      `for i in $(seq 61 160); do echo "line $i"; sleep 0.05; done; ` +
      `w=0; while [ ! -e ${gate} ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w+1)); done; ` +
      `for i in $(seq 161 200); do echo "line $i"; done`;
    const run = await createRunAt(hub.url, [step]);
    await waitRunAt(hub.url, run.id, ['running'], 30_000);
    await waitSessionAt(hub.url, run.id, ['ready']);
    const v1 = await TestViewer.connect(hub.url, operatorToken('viewer'));
    viewers.push(v1);
    await v1.join(run.id);
    await v1.waitForOutput(TASK_PANE, (b) => b.includes('line 61'), 15_000, 'line 61').catch(async () => {
      // joined late: the snapshot already held it
      await waitUntil('line 61 on screen', async () => ((await v1.panes.get(TASK_PANE)?.screenLines())?.includes('line 61') ? true : undefined), 5000);
    });
    const msg = await rest<{ event: { id: number } }>(hub.url, 'POST', `/api/task-runs/${run.id}/operator-messages`, operatorToken(), { message: 'before the crash' });
    expect(msg.status).to.equal(201);
    const before = await eventsAt(hub.url, run.id);

    // --- the crash
    const disconnectsBefore = agent.logs.filter((l) => l.includes('disconnected from hub')).length;
    hub.proc.kill('SIGKILL');
    await hub.exited;
    const killedAt = Date.now();
    // the agent notices (it says so), the run goes on, output piles up in the backlog
    await waitUntil('the agent to notice the hub is gone', () => (agent!.logs.filter((l) => l.includes('disconnected from hub')).length > disconnectsBefore ? true : undefined), OUTAGE_MS, 50);
    await sleep(Math.max(0, killedAt + OUTAGE_MS - Date.now())); // the scenario: the hub stays away this long
    await hub.restart(); // the same port, data folder and database
    await waitHealthy(hub.url);
    const downMs = Date.now() - killedAt;

    // the viewer reconnects and re-joins at once (perhaps before the agent is back)
    const v2 = await TestViewer.connect(hub.url, operatorToken('viewer'));
    viewers.push(v2);
    const joined = await v2.join(run.id);
    // the agent says hello with its run: the viewer gets its pane (join snapshot or pane:open + resync)
    await waitUntil('the reconnected viewer to be synced', () => (v2.panes.get(TASK_PANE)?.stream.synced ? true : undefined), 20_000, 50);

    let current = await getRunAt(hub.url, run.id);
    expect(current.status, `the run is still running after a ${downMs} ms outage`).to.equal('running');
    expect(current.workerId).to.equal('w-hubkill');

    // --- events before the kill are all still there
    const afterRestart = await eventsAt(hub.url, run.id);
    expect(afterRestart.slice(0, before.length).map((e) => [e.id, e.action])).to.deep.equal(before.map((e) => [e.id, e.action]));
    expect(afterRestart.some((e) => e.action === 'worker_lost'), 'no worker_lost: the agent never went away').to.equal(false);

    // --- a control and a message after the restart reach the agent
    const paused = await rest<{ taskRun: { payload: { liveControl: { updatedAt: string } } } }>(hub.url, 'POST', `/api/task-runs/${run.id}/control`, operatorToken(), { action: 'pause' });
    expect(paused.status).to.equal(200);
    const applied = await waitUntil(
      'the agent to apply the pause',
      async () => {
        const r = await getRunAt(hub!.url, run.id);
        const lc = r.payload.liveControl;
        return lc?.paused && lc.appliedAt && lc.updatedAt === paused.body.taskRun.payload.liveControl.updatedAt ? lc : undefined;
      },
      10_000,
      100,
    );
    expect(applied.appliedAt).to.be.a('string');
    const msg2 = await rest(hub.url, 'POST', `/api/task-runs/${run.id}/operator-messages`, operatorToken(), { message: 'after the restart' });
    expect(msg2.status).to.equal(201);
    const inbox = join(agent.dataDir, 'runs', run.id, 'operator_inbox.jsonl');
    await waitUntil('both messages in the agent’s inbox', () => (existsSync(inbox) && readFileSync(inbox, 'utf8').includes('after the restart') ? true : undefined), 10_000, 50);
    expect(readFileSync(inbox, 'utf8')).to.include('before the crash');
    expect((await rest(hub.url, 'POST', `/api/task-runs/${run.id}/control`, operatorToken(), { action: 'resume' })).status).to.equal(200);

    // --- let the step finish: the run completes, nothing stays running
    writeFileSync(gate, '');
    current = await waitRunAt(hub.url, run.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect(current.status).to.equal('succeeded');
    await waitSessionAt(hub.url, run.id, ['ended'], 5000);
    await v2.waitForEnded(10_000);

    // --- the reconnected viewer's screen is the pty's (the agent's own recording of every byte)
    const castPath = join(agent.dataDir, 'runs', run.id, 'recording.cast');
    await waitUntil('the recording to be closed', () => (existsSync(castPath) ? true : undefined), 5000);
    const pty = trimTrailingEmpty(await screenLinesOfCast(readFileSync(castPath, 'utf8')));
    const seen = trimTrailingEmpty(await v2.panes.get(TASK_PANE)!.screenLines());
    expect(seen, `reconnected viewer (join panes ${joined.panes.length}, opens ${v2.paneOpens.length}, gaps ${v2.panes.get(TASK_PANE)?.gaps})`).to.deep.equal(pty);
    const numbered = seen.filter((l) => /^line \d+$/.test(l));
    expect(numbered).to.deep.equal(Array.from({ length: 200 }, (_, i) => `line ${i + 1}`));
    expect(seen.filter((l) => l && !/^line \d+$/.test(l) && !l.includes(PAUSED_BANNER)), 'nothing garbled').to.deep.equal([]);

    const final = await eventsAt(hub.url, run.id);
    const actions = final.map((e) => e.action);
    expect(actions).to.include.members(['send_message', 'pause', 'resume', 'run_completed', 'session_ended']);
    expect(actions.filter((a) => a === 'send_message')).to.have.length(2);
    await assertLifecycleIntegrity(hub.databaseUrl, { liveWorkers: ['w-hubkill'] });
  });
});
