/**
 * A worker's socket payloads are held to the REST rules (issue 12 item 7–8, architecture §7a):
 * `session:report` goes through the same schema as the REST report (a clear `invalid_payload`,
 * never `internal`), `expiresAt` is clamped to the configured TTL, worker-reported web addresses
 * are http(s) only, a heartbeat refreshes only the sending worker's own runs, and `control:applied`,
 * `run:attention` and `run:release` go through their schemas in hub/domain/commands.ts (issue 16).
 */
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import type { Ack } from '../../common/protocol.ts';
import type { ControlEventDto, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import { RawAgents } from '../support/rawAgent.ts';
import { startTestHub } from '../support/testHub.ts';
import type { TestHub } from '../support/testHub.ts';
import { getRunAt } from '../support/rest.ts';
import { sleep, waitUntil } from '../support/wait.ts';

describe('attack: agent payloads', function () {
  this.timeout(60_000);
  let t: TestHub;
  let raw: RawAgents;

  before(async () => {
    t = await startTestHub('postgres');
    raw = new RawAgents(t.url, (id) => t.workerToken(id));
  });
  afterEach(() => raw.closeAll());
  after(async () => t?.close());

  // these attacks need no hello: a worker's socket may send commands as soon as it is connected
  const agent = (workerId: string) => raw.connect(workerId, { hello: false });

  /** A live run claimed by `s` (its attempt in `attempts`), its session starting. */
  const attempts = new Map<string, number>();
  async function claimedRun(s: Socket): Promise<string> {
    const created = await t.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', t.token('operator'), { steps: ['true'], liveSession: true });
    expect(created.status).to.equal(201);
    const claim = (await s.timeout(5000).emitWithAck('run:claim')) as Ack<{ taskRun: TaskRunDto | null }>;
    const id = claim.ok ? claim.data.taskRun?.id : undefined;
    expect(id, 'claimed').to.equal(created.body.taskRun.id);
    const attempt = (claim.ok ? claim.data.taskRun?.attempt : undefined) as number;
    attempts.set(id as string, attempt);
    const started = (await s.timeout(5000).emitWithAck('session:report', { runId: id, attempt, status: 'starting' })) as Ack<unknown>;
    expect(started.ok).to.equal(true);
    return id as string;
  }

  it("session:report with expiresAt 'garbage' or a javascript: web address is refused as invalid_payload", async () => {
    const s = await agent('w-payloads');
    const runId = await claimedRun(s);
    for (const bad of [{ expiresAt: 'garbage' }, { webRo: 'javascript:alert(document.cookie)' }, { webRw: 'data:text/html,<script>1</script>' }]) {
      const reply = (await s.timeout(5000).emitWithAck('session:report', { runId, attempt: attempts.get(runId), status: 'ready', ...bad })) as Ack<unknown>;
      expect(reply, JSON.stringify(bad)).to.deep.include({ ok: false });
      if (!reply.ok) expect(reply.error.code, JSON.stringify(bad)).to.equal('invalid_payload');
    }
    const session = await t.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${runId}/live-session`, t.token('viewer'));
    expect(session.body.session.status, 'nothing changed').to.equal('starting');
    // REST refuses the same address
    const rest = await t.api('POST', `/api/task-runs/${runId}/live-session/report`, t.workerToken('w-payloads'), { workerId: 'w-payloads', attempt: attempts.get(runId), status: 'ready', webRo: 'javascript:alert(1)' });
    expect(rest.status).to.equal(422);
  });

  it('expiresAt in year 9999 is clamped to the configured session TTL', async () => {
    const s = await agent('w-clamp');
    const runId = await claimedRun(s);
    const reply = (await s.timeout(5000).emitWithAck('session:report', { runId, attempt: attempts.get(runId), status: 'ready', expiresAt: '9999-12-31T00:00:00Z', webRo: 'https://hub.example/runs/x' })) as Ack<{ session: LiveSessionDto }>;
    expect(reply.ok, JSON.stringify(reply)).to.equal(true);
    const expiresAt = reply.ok ? Date.parse(reply.data.session.expiresAt as string) : NaN;
    expect(expiresAt - Date.now()).to.be.at.most(t.config.liveSession.ttlMinutes * 60_000 + 5000);
  });

  it("worker B's heartbeat for worker A's run refreshes nothing of it", async () => {
    const a = await agent('w-owner');
    const runId = await claimedRun(a);
    const before = (await t.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${runId}/live-session`, t.token('viewer'))).body.session.lastHeartbeatAt;
    const b = await agent('w-intruder');
    const beat = (await b.timeout(5000).emitWithAck('run:heartbeat', [{ runId, attempt: attempts.get(runId), panes: [] }])) as Ack<unknown>;
    expect(!beat.ok && beat.error.code, 'B is told the run attempt is not its').to.equal('stale_attempt');
    const after = (await t.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${runId}/live-session`, t.token('viewer'))).body.session.lastHeartbeatAt;
    expect(after, "A's session heartbeat untouched").to.equal(before);
  });

  it('run:complete is held to the REST completion schema: a malformed one is refused as invalid_payload and the run goes on', async () => {
    const s = await agent('w-complete');
    const runId = await claimedRun(s);
    const attempt = attempts.get(runId);
    for (const bad of [{ exitCode: 'three' }, { exitCode: 1e12 }, { reason: 'x'.repeat(501) }, { extra: true }]) {
      const reply = (await s.timeout(5000).emitWithAck('run:complete', { runId, attempt, status: 'succeeded', exitCode: 0, ...bad })) as Ack<unknown>;
      expect(!reply.ok && reply.error.code, JSON.stringify(bad).slice(0, 60)).to.equal('invalid_payload');
    }
    const run = await t.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${runId}`, t.token('viewer'));
    expect(run.body.taskRun.status, 'nothing changed').to.equal('running');
    const good = (await s.timeout(5000).emitWithAck('run:complete', { runId, attempt, status: 'failed', exitCode: 3 })) as Ack<{ run: TaskRunDto }>;
    expect(good.ok && [good.data.run.status, good.data.run.exitCode]).to.deep.equal(['failed', 3]);
  });

  const getRun = (runId: string) => getRunAt(t.url, runId);
  /**
   * The hub handled every event sent before on this socket (in order; a malformed one is
   * refused before anything is written): an acknowledged heartbeat of the run behind them.
   */
  async function handled(s: Socket, runId: string, attempt: number | undefined): Promise<void> {
    const beat = (await s.timeout(5000).emitWithAck('run:heartbeat', [{ runId, attempt, panes: [] }])) as Ack<unknown>;
    expect(beat.ok, JSON.stringify(beat)).to.equal(true);
  }
  /** The hub still answers: a fresh agent's claim is acknowledged. */
  async function hubStaysUp(): Promise<void> {
    const probe = await agent('w-probe');
    const claim = (await probe.timeout(5000).emitWithAck('run:claim')) as Ack<unknown>;
    expect(claim.ok, 'the hub answers after the junk').to.equal(true);
  }

  it('control:applied with wrong field types is refused: the control stays unapplied until a well-formed ack', async () => {
    const s = await agent('w-control');
    const runId = await claimedRun(s);
    const attempt = attempts.get(runId);
    const paused = await t.api<{ taskRun: TaskRunDto }>('POST', `/api/task-runs/${runId}/control`, t.token('operator'), { action: 'pause' });
    expect(paused.status).to.equal(200);
    const lc = paused.body.taskRun.payload.liveControl;
    expect(lc?.updatedAt, 'the pause is stamped').to.be.a('string');
    // each names the current updatedAt, which is all the service compares: the schema must refuse them
    for (const bad of [{ ...lc, paused: 'yes' }, { ...lc, mode: 7 }, { ...lc, takeover: 'no', lastAction: 'explode' }, { updatedAt: lc?.updatedAt }, { ...lc, extra: true }]) s.emit('control:applied', runId, attempt, bad);
    await handled(s, runId, attempt);
    await sleep(200); // negative wait: no write may land from the junk (it has no ack to wait for)
    expect((await getRun(runId)).payload.liveControl?.appliedAt ?? null, 'junk acks apply nothing').to.equal(null);
    await hubStaysUp();
    s.emit('control:applied', runId, attempt, lc);
    await waitUntil('the well-formed ack applies the pause', async () => ((await getRun(runId)).payload.liveControl?.appliedAt ? true : undefined));
  });

  it("run:attention 'yes' (or any non-boolean) is refused: only a boolean marks the run waiting for input", async () => {
    const s = await agent('w-attention');
    const runId = await claimedRun(s);
    const attempt = attempts.get(runId);
    for (const bad of ['yes', 1, { waitingForInput: true }, null]) s.emit('run:attention', runId, attempt, bad);
    await handled(s, runId, attempt);
    await sleep(200); // negative wait: no write may land from the junk (it has no ack to wait for)
    expect((await getRun(runId)).payload.attention, 'junk marks nothing').to.equal(undefined);
    await hubStaysUp();
    s.emit('run:attention', runId, attempt, true);
    const attention = await waitUntil('a boolean marks the run waiting', async () => (await getRun(runId)).payload.attention);
    expect(attention.waitingForInput).to.equal(true);
    const events = await t.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${runId}/events`, t.token('viewer'));
    expect(events.body.events.filter((e) => e.action === 'input_wanted'), 'one input_wanted, none from junk').to.have.length(1);
  });

  it('run:release with a reason that is an object or 10 KB long is refused as invalid_payload and the run goes on', async () => {
    const s = await agent('w-release');
    const runId = await claimedRun(s);
    const attempt = attempts.get(runId);
    for (const bad of [{ why: 'x' }, 'x'.repeat(10 * 1024), 42]) {
      const reply = (await s.timeout(5000).emitWithAck('run:release', runId, attempt, bad)) as Ack<unknown>;
      expect(!reply.ok && reply.error.code, JSON.stringify(bad).slice(0, 60)).to.equal('invalid_payload');
    }
    const bogusAttempt = (await s.timeout(5000).emitWithAck('run:release', runId, 'one', 'bye')) as Ack<unknown>;
    expect(!bogusAttempt.ok && bogusAttempt.error.code, 'attempt must be a number').to.equal('invalid_payload');
    const run = await getRun(runId);
    expect([run.status, run.attempt], 'nothing changed').to.deep.equal(['running', attempt]);
    await hubStaysUp();
    const good = (await s.timeout(5000).emitWithAck('run:release', runId, attempt, 'agent shutting down')) as Ack<{ run: TaskRunDto }>;
    expect(good.ok && good.data.run.status, 'a well-formed release hands the run back').to.equal('queued');
  });
});
