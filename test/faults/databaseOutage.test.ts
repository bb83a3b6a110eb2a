/**
 * Faults (issue #8): PostgreSQL unreachable for a few seconds. The hub (a real process) reaches
 * its test database through a TCP proxy that the test cuts: every connection reset, new ones
 * refused (the machine's PostgreSQL server is never touched). While cut:
 *  - writes answer 503 `{ error: { code: 'unavailable' } }` (never a 500 with a stack), reads too;
 *  - /readyz answers 503, /healthz 200: the process stays up;
 *  - the relay keeps streaming: a viewer joined before the cut keeps receiving the run's output.
 * When the proxy is back the hub recovers by itself: /readyz 200, writes succeed, the run that was
 * running during the outage completes (its worker was not declared lost for the database's
 * silence), and the database agrees with reality.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { TASK_PANE } from '../../common/protocol.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import { connectSocket, createRunAt, operatorToken, workerToken, removeDir, rest, sleep, spawnAgent, TcpProxy, waitRunAt, waitSessionAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { createTestDatabase } from '../support/testDatabase.ts';
import { TestViewer } from '../support/viewerClient.ts';

const OUTAGE_MS = 4000;

describe('faults: database unreachable for a few seconds', function () {
  this.timeout(90_000);
  let db: TestDatabase;
  let proxy: TcpProxy;
  let hub: HubProcess | null = null;
  let agent: AgentProcess | null = null;
  const viewers: TestViewer[] = [];
  const gate = `/tmp/handoff-fault-dbgate-${randomBytes(6).toString('hex')}`;

  before(async function () {
    this.timeout(40_000);
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = await TcpProxy.start(Number(target.port || 5432), target.hostname);
    const viaProxy = new URL(db.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    // grace 3 s < the outage: the silence of a database that is away is not the workers'
    hub = await startTestHub('postgres', {
      process: true,
      databaseUrl: viaProxy.toString(),
      env: { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '3', HANDOFF_SWEEP_INTERVAL_MS: '200', HANDOFF_DATABASE_QUERY_TIMEOUT_MS: '2000' },
    });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-dbdown' });
  });

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    await proxy?.restore().catch(() => undefined);
    await agent?.stop('SIGTERM');
    await hub?.close();
    await proxy?.close();
    removeDir(agent?.dataDir);
    removeDir(gate);
    await db?.drop();
  });

  it('answers 503 unavailable while the database is away, keeps relaying, recovers by itself', async () => {
    const h = hub!;
    const step = `i=0; while [ ! -e ${gate} ] && [ $i -lt 1200 ]; do i=$((i+1)); echo "tick $i"; sleep 0.05; done; echo done-${'$'}i`;
    const run = await createRunAt(h.url, [step]);
    await waitRunAt(h.url, run.id, ['running'], 30_000);
    await waitSessionAt(h.url, run.id, ['ready']);
    const viewer = await TestViewer.connect(h.url, operatorToken('viewer'));
    viewers.push(viewer);
    await viewer.join(run.id);
    await viewer.waitForOutput(TASK_PANE, (b) => b.length > 0, 10_000);
    expect((await rest(h.url, 'GET', '/readyz', null)).status).to.equal(200);

    // a worker socket and a viewer socket of their own, to see the socket acks during the outage
    const workerSock = await connectSocket(h.url, '/agent', { token: workerToken('w-dbprobe') });
    const viewerSock = await connectSocket(h.url, '/viewer', { token: operatorToken('viewer') });

    // --- cut
    await proxy.cut();
    const cutAt = Date.now();
    const pane = viewer.panes.get(TASK_PANE)!;
    const bytesAtCut = pane.liveByteCount;

    const probes: Array<{ what: string; status: number; body: unknown; text: string }> = [];
    const probe = async (what: string, method: string, path: string, token: string | null, body?: unknown) => {
      const r = await rest(h.url, method, path, token, body);
      probes.push({ what, status: r.status, body: r.body, text: r.text });
      return r;
    };
    // one round of every kind of call, then keep probing until the outage ends
    while (Date.now() - cutAt < OUTAGE_MS) {
      await probe('create', 'POST', '/api/task-runs', operatorToken(), { steps: ['echo never'] });
      await probe('control', 'POST', `/api/task-runs/${run.id}/control`, operatorToken(), { action: 'pause' });
      await probe('message', 'POST', `/api/task-runs/${run.id}/operator-messages`, operatorToken(), { message: 'lost?' });
      await probe('get', 'GET', `/api/task-runs/${run.id}`, operatorToken('viewer'));
      await probe('readyz', 'GET', '/readyz', null);
      expect((await rest(h.url, 'GET', '/healthz', null)).status, 'healthz while the database is away').to.equal(200);
      await sleep(300); // pacing: a round of probes every 300 ms until the outage ends
    }
    // socket requests that need the database are answered `unavailable` (not `internal`)
    const beat = (await workerSock.timeout(10_000).emitWithAck('run:heartbeat', [{ runId: run.id, attempt: 1, panes: [] }])) as { ok: boolean; error?: { code: string } };
    expect(beat, 'agent heartbeat ack during the outage').to.deep.include({ ok: false });
    expect(beat.error?.code).to.equal('unavailable');
    const join = (await viewerSock.timeout(10_000).emitWithAck('run:join', run.id)) as { ok: boolean; error?: { code: string } };
    expect(join.error?.code, 'viewer join ack during the outage').to.equal('unavailable');
    workerSock.close();
    viewerSock.close();

    for (const p of probes) {
      expect(p.status, `${p.what} during the outage: ${p.text}`).to.equal(503);
      expect(p.body, `${p.what}: JSON error shape`).to.deep.include({ error: (p.body as { error: unknown }).error });
      expect((p.body as { error: { code: string } }).error.code, p.what).to.equal('unavailable');
      expect(p.text, 'no stack trace').to.not.match(/\bat .*\(.*:\d+:\d+\)/);
    }
    expect(probes.length).to.be.greaterThan(5);
    // the relay kept streaming: output that was produced during the cut reached the viewer
    const streamedDuringCut = pane.liveByteCount - bytesAtCut;
    expect(streamedDuringCut, 'output relayed while the database was away').to.be.greaterThan(500);
    expect(h.alive(), 'the hub process is up').to.equal(true);

    // --- back
    await proxy.restore();
    const backAt = Date.now();
    await waitUntil(
      '/readyz to say ready again',
      async () => ((await rest(h.url, 'GET', '/readyz', null)).status === 200 ? true : undefined),
      15_000,
      100,
    );
    const created = await rest<{ taskRun: { id: string } }>(h.url, 'POST', '/api/task-runs', operatorToken(), { steps: ['echo after the outage'] });
    expect(created.status, created.text).to.equal(201);
    const recoveredMs = Date.now() - backAt;

    // nothing from the outage was persisted half-way: no run 'echo never'
    const all = await rest<{ taskRuns: Array<{ steps: string[] }> }>(h.url, 'GET', '/api/task-runs?limit=500', operatorToken('viewer'));
    expect(all.body.taskRuns.filter((r) => r.steps[0] === 'echo never'), 'runs created during the outage').to.have.length(0);

    // the run that ran through the outage finishes normally
    writeFileSync(gate, '');
    const done = await waitRunAt(h.url, run.id, ['succeeded', 'failed', 'cancelled'], 20_000);
    expect(done.status, `recovered after ${recoveredMs} ms`).to.equal('succeeded');
    await waitRunAt(h.url, created.body.taskRun.id, ['succeeded'], 20_000);
    expect(h.alive()).to.equal(true);
    await assertLifecycleIntegrity(db.url, { liveWorkers: ['w-dbdown'] });
  });

  it('answers 503 in bounded time when the database silently stops answering, and recovers', async () => {
    const h = hub as HubProcess;
    proxy.blackhole();
    try {
      const started = Date.now();
      const res = await rest(h.url, 'POST', '/api/task-runs', operatorToken(), { steps: ['echo never-silent'] });
      const tookMs = Date.now() - started;
      expect(res.status, res.text).to.equal(503);
      expect((res.body as { error: { code: string } }).error.code).to.equal('unavailable');
      // the query timeout (2 s here), or the pool's connect timeout (5 s) once every connection is stuck
      expect(tookMs).to.be.below(12_000);
      expect((await rest(h.url, 'GET', '/healthz', null)).status).to.equal(200);
    } finally {
      await proxy.restore();
    }
    await waitUntil('/readyz to say ready again', async () => ((await rest(h.url, 'GET', '/readyz', null)).status === 200 ? true : undefined), 30_000, 200);
    const created = await rest(h.url, 'POST', '/api/task-runs', operatorToken(), { steps: ['echo after the silence'] });
    expect(created.status, created.text).to.equal(201);
    const all = await rest<{ taskRuns: Array<{ steps: string[] }> }>(h.url, 'GET', '/api/task-runs?limit=500', operatorToken('viewer'));
    expect(all.body.taskRuns.filter((r) => r.steps[0] === 'echo never-silent')).to.have.length(0);
  });
});
