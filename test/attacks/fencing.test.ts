/**
 * Run attempts are fenced (issue 12 "Runs are fenced", architecture §7a). Attacked from where a
 * stale agent stands:
 *  - raw agent sockets on an in-process hub: an agent whose run was re-queued and claimed again
 *    (by the same worker id, as a restarted agent would) keeps sending heartbeats, output, a
 *    session report, a step and its completion for the old attempt: each is refused with
 *    `stale_attempt` (or dropped) and nothing changes; a worker's heartbeat for another worker's
 *    run is refused and refreshes nothing;
 *  - real `handoff agent` processes: one cut off from the hub kills its attempt (its lease ran
 *    out) before the re-queued attempt starts; one frozen (SIGSTOP, it cannot fence itself) comes
 *    back with its stale attempt, which is killed at once (checked in /proc), and the new attempt's
 *    result is the one kept.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'socket.io-client';
import type { LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { Ack } from '../../common/protocol.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import type { AgentProcess } from '../support/processes.ts';
import {
  connectSocket,
  createRunAt,
  eventsAt,
  getRunAt,
  operatorToken,
  processesMatching,
  removeDir,
  spawnAgent,
  stopDeployment,
  TcpProxy,
  waitRunAt,
  waitSessionAt,
} from '../support/processes.ts';
import { sql } from '../support/testDatabase.ts';
import { startTestHub } from '../support/testHub.ts';
import type { HubProcess, TestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';
import { RawAgents } from '../support/rawAgent.ts';

type Refusal = { ok: false; error: { code: string; message: string } };
const refusalCode = (a: Ack<unknown>) => (a.ok ? 'ok (accepted)' : (a as Refusal).error.code);

describe('attack: stale run attempts (raw agent sockets)', function () {
  this.timeout(60_000);
  let t: TestHub<'postgres'>;
  let raw: RawAgents;

  before(async () => {
    // grace 1 s, requeue: a silent worker's run is queued again after the lease (1 s) + margin
    t = await startTestHub('postgres', { env: { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '1', HANDOFF_RUN_LEASE_SECONDS: '1', HANDOFF_WORKER_LOST_POLICY: 'requeue' } });
    raw = new RawAgents(t.url, (id) => t.workerToken(id));
  });
  afterEach(() => raw.closeAll());
  after(async () => t?.close());

  const agent = (workerId: string) => raw.connect(workerId);
  const claim = (s: Socket) => raw.claim(s);
  const session = async (runId: string) => (await t.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${runId}/live-session`, t.token('viewer'))).body.session;
  const heartbeatAt = async (runId: string) => (await sql<{ at: Date | null }>(t.databaseUrl, 'select last_heartbeat_at as at from task_run where id = $1', [runId]))[0]?.at?.getTime() ?? null;

  it("refuses the old attempt's heartbeat, output, report, step and completion after a requeue; nothing changes", async () => {
    const old = await agent('w-same');
    const created = await t.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', t.token('operator'), { steps: ['true'], liveSession: true });
    const first = await claim(old);
    expect(first.id).to.equal(created.body.taskRun.id);
    const a1 = first.attempt ?? 1;

    // The old agent goes silent: the sweeper re-queues the run; the same worker id claims it again.
    await waitRunAt(t.url, first.id, ['queued'], 15_000);
    const fresh = await agent('w-same');
    const second = await claim(fresh);
    expect(second.id).to.equal(first.id);
    expect(second.attempt, 'the claim carries the new attempt number').to.equal(a1 + 1);
    const a2 = second.attempt;

    const viewer = await connectSocket(t.url, '/viewer', { token: t.token('viewer') });
    raw.keep(viewer);
    const seen: string[] = [];
    viewer.on('pane:output', (_runId: string, _pane: string, _offset: number, data: ArrayBuffer | Uint8Array) => seen.push(Buffer.from(data as Uint8Array).toString('utf8')));
    expect(((await viewer.timeout(10_000).emitWithAck('run:join', first.id)) as Ack<unknown>).ok).to.equal(true);

    const eventsBefore = (await t.api<{ events: unknown[] }>('GET', `/api/task-runs/${first.id}/events`, t.token('viewer'))).body.events.length;
    const sessionBefore = await session(first.id);
    const beatBefore = await heartbeatAt(first.id);

    // The stale agent speaks for attempt 1, in every way the gateway accepts per run.
    old.emit('pane:output', first.id, a1, TASK_PANE, 0, Buffer.from('STALE-OUTPUT'));
    old.emit('pane:open', first.id, a1, { paneId: TASK_PANE, title: 'task', cols: 80, rows: 24, offset: 0 });
    old.emit('run:step', first.id, a1, { index: 0, phase: 'start' });
    old.emit('run:attention', first.id, a1, true);
    const beat = (await old.timeout(5000).emitWithAck('run:heartbeat', [{ runId: first.id, attempt: a1, panes: [] }])) as Ack<unknown>;
    const report = (await old.timeout(5000).emitWithAck('session:report', { runId: first.id, attempt: a1, status: 'error', errorMessage: 'stale says hi' })) as Ack<unknown>;
    const complete = (await old.timeout(5000).emitWithAck('run:complete', { runId: first.id, attempt: a1, status: 'failed', exitCode: 1 })) as Ack<unknown>;
    const release = (await old.timeout(5000).emitWithAck('run:release', first.id, a1, 'stale hands back')) as Ack<unknown>;
    const restComplete = await t.api('POST', `/api/task-runs/${first.id}/complete`, t.workerToken('w-same'), { workerId: 'w-same', attempt: a1, status: 'failed', exitCode: 1 });
    const restBeat = await t.api('POST', `/api/task-runs/${first.id}/live-session/heartbeat`, t.workerToken('w-same'), { workerId: 'w-same', attempt: a1 });

    expect(refusalCode(beat), 'heartbeat of the old attempt').to.equal('stale_attempt');
    expect(refusalCode(report), 'session report of the old attempt').to.equal('stale_attempt');
    expect(refusalCode(complete), 'completion of the old attempt').to.equal('stale_attempt');
    expect(refusalCode(release), 'hand-back of the old attempt').to.equal('stale_attempt');
    expect([restComplete.status, (restComplete.body as Refusal).error?.code], 'REST completion of the old attempt').to.deep.equal([409, 'stale_attempt']);
    expect([restBeat.status, (restBeat.body as Refusal).error?.code], 'REST heartbeat of the old attempt').to.deep.equal([409, 'stale_attempt']);

    // The current attempt still streams: once its chunk is here, the stale one would have been too.
    fresh.emit('pane:output', first.id, a2, TASK_PANE, 0, Buffer.from('FRESH-OUTPUT'));
    await waitUntil('the current attempt’s output at the viewer', () => (seen.join('').includes('FRESH-OUTPUT') ? true : undefined), 5000);
    expect(seen.join(''), 'no output of the stale attempt relayed').to.not.include('STALE');

    const run = (await t.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${first.id}`, t.token('viewer'))).body.taskRun;
    expect([run.status, run.workerId, run.attempt, run.payload.attention?.waitingForInput ?? false]).to.deep.equal(['running', 'w-same', a2, false]);
    expect((await session(first.id)).status, 'the session as the current attempt left it').to.equal(sessionBefore.status);
    expect(await heartbeatAt(first.id), 'the stale heartbeat refreshed nothing').to.equal(beatBefore);
    const eventsAfter = (await t.api<{ events: Array<{ action: string }> }>('GET', `/api/task-runs/${first.id}/events`, t.token('viewer'))).body.events;
    expect(eventsAfter.slice(eventsBefore).map((e) => e.action).filter((a) => a !== 'stale_attempt_refused'), 'no audit rows from the stale attempt').to.deep.equal([]);

    // The current attempt's result is the one kept.
    expect((await fresh.timeout(5000).emitWithAck('run:heartbeat', [{ runId: first.id, attempt: a2, panes: [] }])) as Ack<unknown>).to.deep.include({ ok: true });
    const done = (await fresh.timeout(5000).emitWithAck('run:complete', { runId: first.id, attempt: a2, status: 'succeeded', exitCode: 0 })) as Ack<{ run: TaskRunDto }>;
    expect(done.ok && done.data.run.status, JSON.stringify(done)).to.equal('succeeded');
    const rec = await t.api('GET', `/api/task-runs/${first.id}/recording`, t.token('viewer'));
    expect(rec.text, 'the recording holds the current attempt’s output').to.include('FRESH-OUTPUT');
    expect(rec.text, 'and none of the stale one’s').to.not.include('STALE');
  });

  it("refuses a worker's heartbeat for a run it does not own, and refreshes nothing of it", async () => {
    const owner = await agent('w-owner');
    await t.api('POST', '/api/task-runs', t.token('operator'), { steps: ['true'], liveSession: true });
    const run = await claim(owner);
    expect((await owner.timeout(5000).emitWithAck('session:report', { runId: run.id, attempt: run.attempt, status: 'starting' })) as Ack<unknown>).to.deep.include({ ok: true });
    const sessionBefore = (await session(run.id)).lastHeartbeatAt;
    const beatBefore = await heartbeatAt(run.id);
    const intruder = await agent('w-intruder');
    // the right attempt number, the wrong worker
    const beat = (await intruder.timeout(5000).emitWithAck('run:heartbeat', [{ runId: run.id, attempt: run.attempt, panes: [] }])) as Ack<unknown>;
    expect(refusalCode(beat)).to.equal('stale_attempt');
    const rest = await t.api('POST', `/api/task-runs/${run.id}/live-session/heartbeat`, t.workerToken('w-intruder'), { workerId: 'w-intruder', attempt: run.attempt });
    expect([rest.status, (rest.body as Refusal).error?.code], 'REST likewise').to.deep.equal([409, 'stale_attempt']);
    expect((await session(run.id)).lastHeartbeatAt, "the owner's session heartbeat untouched").to.equal(sessionBefore);
    expect(await heartbeatAt(run.id), "the owner's run heartbeat untouched").to.equal(beatBefore);
  });
});

/** A step that runs twice: the first attempt prints forever (its processes carry `<marker>-a1`);
 * the second records which first-attempt processes it found alive, says so and waits for `gate`. */
function twoAttemptStep(marker: string): string {
  const f = `/tmp/${marker}`;
  // The marker is put together at run time so that no command line but the first attempt's
  // processes ever holds `<marker>-a1` (pgrep -f would find the step's own shell otherwise).
  return (
    `M=${marker}; if [ -e ${f}.first ]; then pgrep -f "$M-a1" > ${f}.seen-; mv ${f}.seen- ${f}.seen; echo "second-attempt $M"; ` +
    `w=0; while [ ! -e ${f}.gate ] && [ $w -lt 1200 ]; do sleep 0.05; w=$((w+1)); done; echo "second-done $M"; exit 0; fi; ` +
    `touch ${f}.first; bash -c "exec -a $M-a1-bg sleep 300" & bash -c "while :; do echo first-attempt-out; sleep 0.2; done; : $M-a1"`
  );
}

describe('attack: stale run attempts (real agent processes)', function () {
  this.timeout(120_000);
  let hub: HubProcess<'postgres'>;
  const agents: AgentProcess[] = [];
  const viewerSockets: Socket[] = [];
  const proxies: TcpProxy[] = [];
  const markers: string[] = [];

  before(async function () {
    this.timeout(40_000);
    // lease = grace = 3 s: a silent worker's run is re-queued after 3 s + the 2 s margin
    hub = await startTestHub('postgres', { process: true, env: { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '3', HANDOFF_SWEEP_INTERVAL_MS: '200', HANDOFF_WORKER_LOST_POLICY: 'requeue' } });
  });
  after(async function () {
    this.timeout(30_000);
    for (const v of viewerSockets) v.close();
    for (const p of proxies) await p.close();
    await stopAgents();
    await stopDeployment({ hub, dirs: markers.flatMap((m) => ['first', 'seen', 'seen-', 'gate'].map((ext) => `/tmp/${m}.${ext}`)), markers });
  });

  const stopAgents = async () => {
    for (const a of agents.splice(0)) {
      if (a.alive()) a.proc.kill('SIGCONT');
      await a.stop('SIGKILL');
      removeDir(a.dataDir);
    }
  };
  // Each case starts its own agents: one left from the case before would claim its run.
  afterEach(async function () {
    this.timeout(30_000);
    await stopAgents();
  });

  const newMarker = () => {
    const m = `handoff-fence-${randomBytes(6).toString('hex')}`;
    markers.push(m);
    return m;
  };
  const firstAttemptAlive = (m: string) => processesMatching(`${m}-a1`);

  it('a cut-off agent kills its attempt (lease) before the re-queued attempt starts, and comes back changing nothing', async () => {
    const m = newMarker();
    const proxy = await TcpProxy.start(hub.port);
    proxies.push(proxy);
    const cut = spawnAgent({ hubUrl: `http://127.0.0.1:${proxy.port}`, workerId: 'w-cutoff' });
    agents.push(cut);
    const run = await createRunAt(hub.url, [twoAttemptStep(m)]);
    await waitRunAt(hub.url, run.id, ['running'], 30_000);
    await waitUntil('the first attempt’s processes', async () => ((await firstAttemptAlive(m)).length >= 2 ? true : undefined), 15_000, 50);

    await proxy.cut();
    const cutAt = Date.now();
    await waitRunAt(hub.url, run.id, ['queued'], 20_000);
    // one run at a time: a run created later goes to the cut-off agent once it is back
    const other = spawnAgent({ hubUrl: hub.url, workerId: 'w-other', env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '1' } });
    agents.push(other);
    await waitUntil('the second attempt to look for the first', () => (existsSync(`/tmp/${m}.seen`) ? true : undefined), 30_000, 50);
    const alive = readFileSync(`/tmp/${m}.seen`, 'utf8').split('\n').filter(Boolean);
    console.log(`      requeued ${((Date.now() - cutAt) / 1000).toFixed(1)} s after the cut; first-attempt processes alive when the second started: ${alive.length}`);
    expect(alive, 'the first attempt’s processes when the second attempt started (two attempts side by side)').to.deep.equal([]);
    expect(await firstAttemptAlive(m)).to.deep.equal([]);

    // The cut-off agent comes back: it holds nothing of the run any more.
    const before = proxy.connections;
    await proxy.restore();
    await waitUntil('the cut-off agent to reconnect', () => (proxy.connections > before ? true : undefined), 15_000, 50);
    // It claims on its hello: once it ran a new run to the end, it is past its hello and claims.
    const probe = await createRunAt(hub.url, ['echo probe']);
    const probed = await waitRunAt(hub.url, probe.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect([probed.status, probed.workerId], 'the cut-off agent is back at work').to.deep.equal(['succeeded', 'w-cutoff']);
    expect((await getRunAt(hub.url, run.id)).status, 'the second attempt goes on').to.equal('running');
    writeFileSync(`/tmp/${m}.gate`, '');
    const done = await waitRunAt(hub.url, run.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect([done.status, done.workerId, done.attempt]).to.deep.equal(['succeeded', 'w-other', 2]);
    const events = await eventsAt(hub.url, run.id);
    const completed = events.filter((e) => e.action === 'run_completed');
    expect(completed.map((e) => [e.metadata['status'], e.metadata['workerId'] ?? null]), 'one completion: the second attempt’s').to.have.length(1);
    const requeuedAt = events.findIndex((e) => e.action === 'run_requeued');
    const lateFromCutoff = events.slice(requeuedAt + 1).filter((e) => JSON.stringify(e.metadata).includes('w-cutoff'));
    expect(lateFromCutoff.map((e) => e.action), 'nothing from the cut-off agent after the requeue').to.deep.equal([]);
    expect(await firstAttemptAlive(m)).to.deep.equal([]);
  });

  it('a frozen agent (SIGSTOP) comes back with its stale attempt: killed at once, nothing it sends counts, the new result is kept', async () => {
    const m = newMarker();
    const frozen = spawnAgent({ hubUrl: hub.url, workerId: 'w-twin' });
    agents.push(frozen);
    const run = await createRunAt(hub.url, [twoAttemptStep(m)]);
    await waitRunAt(hub.url, run.id, ['running'], 30_000);
    await waitUntil('the first attempt’s processes', async () => ((await firstAttemptAlive(m)).length >= 2 ? true : undefined), 15_000, 50);
    // A viewer of the run from before: it stays in the run's rooms across attempts.
    const viewer = await connectSocket(hub.url, '/viewer', { token: operatorToken('viewer') });
    viewerSockets.push(viewer);
    let requeued = false;
    let staleAfterRequeue = '';
    let fromSecond = '';
    viewer.on('pane:output', (_runId: string, _pane: string, _offset: number, data: Uint8Array) => {
      const text = Buffer.from(data).toString('utf8');
      if (requeued && text.includes('first-attempt-out')) staleAfterRequeue += text;
      if (requeued) fromSecond += text;
    });
    expect(((await viewer.timeout(35_000).emitWithAck('run:join', run.id)) as Ack<unknown>).ok).to.equal(true);

    // Frozen, it cannot fence itself: its step goes on printing into the pty meanwhile.
    frozen.proc.kill('SIGSTOP');
    await waitRunAt(hub.url, run.id, ['queued'], 20_000);
    requeued = true; // from here on the frozen agent sends nothing until it is thawed
    // The same worker id starts again elsewhere (a restarted agent) and claims the new attempt.
    const twin = spawnAgent({ hubUrl: hub.url, workerId: 'w-twin' });
    agents.push(twin);
    await waitSessionAt(hub.url, run.id, ['ready'], 30_000);
    await waitUntil('the second attempt to run', () => (existsSync(`/tmp/${m}.seen`) ? true : undefined), 30_000, 50);

    frozen.proc.kill('SIGCONT');
    const thawedAt = Date.now();
    const left = await waitUntil(
      'the stale attempt’s processes to go',
      async () => {
        const l = await firstAttemptAlive(m);
        return l.length === 0 ? [] : Date.now() - thawedAt > 6000 ? l : undefined;
      },
      10_000,
      50,
    );
    console.log(`      stale attempt's processes gone ${((Date.now() - thawedAt) / 1000).toFixed(1)} s after the agent was thawed (left: ${left.length})`);
    expect(left, 'processes of the stale attempt alive after it came back').to.deep.equal([]);
    await waitUntil('the thawed agent to say it fenced the attempt', () => (frozen.logs.some((l) => l.includes(`run ${run.id}: attempt 1 fenced`)) ? true : undefined), 5000, 50);

    writeFileSync(`/tmp/${m}.gate`, '');
    const done = await waitRunAt(hub.url, run.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    expect([done.status, done.exitCode, done.attempt], 'the second attempt’s result').to.deep.equal(['succeeded', 0, 2]);
    await waitUntil('the second attempt’s last line at the viewer', () => (fromSecond.includes(`second-done ${m}`) ? true : undefined), 10_000, 50);
    expect(staleAfterRequeue, 'output of the stale attempt relayed to a viewer after the requeue').to.equal('');
    const events = await eventsAt(hub.url, run.id);
    expect(events.filter((e) => e.action === 'run_completed').map((e) => e.metadata['status'])).to.deep.equal(['succeeded']);
    const [row] = await sql<{ attempts: number; status: string }>(hub.databaseUrl, 'select attempts, status from task_run where id = $1', [run.id]);
    expect(row).to.deep.equal({ attempts: 1, status: 'succeeded' });
    expect(await firstAttemptAlive(m)).to.deep.equal([]);
  });
});
