/**
 * Ending an operator session (issue 18) across hubs: two hub processes on one PostgreSQL and the
 * machine's Redis. An operator watches a run through hub B; an admin ends that operator's sessions
 * through hub A. Within a second the operator's socket on B is dropped, B answers the operator's
 * REST calls 401 at once (no cache left to age), a new handshake is refused, and another operator
 * watching the same run is untouched.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import type { TaskRunDto } from '../../common/api.ts';
import { TokenService } from '../../hub/auth/tokens.ts';
import { connectSocket, removeDir, rest, spawnAgent } from '../support/processes.ts';
import type { AgentProcess } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { createTestDatabase } from '../support/testDatabase.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { TEST_JWT_SECRET } from '../support/testSecrets.ts';
import type { Listenable } from '../support/wait.ts';
import { nextEvent, waitUntil } from '../support/wait.ts';

/** socket.io-client's typed emitter, seen as the plain emitter the waits take. */
const listenable = (s: Socket) => s as unknown as Listenable;

const REDIS_URL = process.env.HANDOFF_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('operator sessions: an admin ends a session across hubs', function () {
  this.timeout(90_000);
  const tokens = new TokenService(TEST_JWT_SECRET);
  const admin = tokens.mintOperator('ada', 'admin');
  const olga = tokens.mintOperator('olga', 'operator');
  const olgaOther = tokens.mintOperator('olga', 'operator');
  const otto = tokens.mintOperator('otto', 'operator');
  let db: TestDatabase;
  let hubA: HubProcess;
  let hubB: HubProcess;
  let agent: AgentProcess;
  const sockets: Socket[] = [];

  before(async () => {
    db = await createTestDatabase();
    const env = { HANDOFF_REDIS_URL: REDIS_URL, HANDOFF_REDIS_CHANNEL_PREFIX: `handoff-test-${randomBytes(4).toString('hex')}`, HANDOFF_SWEEP_INTERVAL_MS: '200' };
    [hubA, hubB] = await Promise.all([startTestHub('postgres', { process: true, databaseUrl: db.url, env }), startTestHub('postgres', { process: true, databaseUrl: db.url, env })]);
    agent = spawnAgent({ hubUrl: hubA.url, workerId: 'w-end' });
  });

  after(async () => {
    for (const s of sockets) s.close();
    await agent?.stop('SIGTERM');
    await Promise.all([hubA?.close(), hubB?.close()]);
    removeDir(agent?.dataDir);
    await db?.drop();
  });

  const watch = async (hub: HubProcess, token: string, runId: string) => {
    const s = await connectSocket(hub.url, '/viewer', { token });
    sockets.push(s);
    const ack = (await s.timeout(10_000).emitWithAck('run:join', runId)) as { ok: boolean };
    expect(ack.ok, JSON.stringify(ack)).to.equal(true);
    return s;
  };

  it('drops the operator’s sockets on the other hub within a second; later calls are 401 everywhere', async () => {
    const created = await rest<{ taskRun: TaskRunDto }>(hubA.url, 'POST', '/api/task-runs', otto, { steps: ['for i in $(seq 1 600); do echo tick $i; sleep 0.1; done'] });
    expect(created.status, created.text).to.equal(201);
    const runId = created.body.taskRun.id;
    await waitUntil('the run to be live', async () => {
      const r = await rest<{ taskRun: TaskRunDto }>(hubB.url, 'GET', `/api/task-runs/${runId}`, otto);
      return r.body.taskRun.liveSession?.status === 'ready' ? true : undefined;
    }, 30_000, 100);

    const olgaSocket = await watch(hubB, olga, runId);
    const olgaSecond = await watch(hubA, olgaOther, runId);
    const ottoSocket = await watch(hubB, otto, runId);
    // olga's token has been seen by B (its session is cached there as active)
    expect((await rest(hubB.url, 'GET', `/api/task-runs/${runId}`, olga)).status).to.equal(200);
    const output = nextEvent(listenable(ottoSocket), 'pane:output', 'output still reaching otto after the end', () => true, 10_000);

    const dropped = nextEvent<[string]>(listenable(olgaSocket), 'disconnect', 'olga’s socket on hub B to be dropped', () => true, 5000);
    const droppedSecond = nextEvent<[string]>(listenable(olgaSecond), 'disconnect', 'olga’s other socket on hub A to be dropped', () => true, 5000);
    const endedAt = Date.now();
    const end = await rest<{ ended: Array<{ subject: string }> }>(hubA.url, 'POST', '/api/operator-sessions/end', admin, { subject: 'olga' });
    expect(end.status, end.text).to.equal(200);
    expect(end.body.ended.map((s) => s.subject)).to.deep.equal(['olga', 'olga']);
    const [reason] = await dropped;
    const tookMs = Date.now() - endedAt;
    expect(reason).to.equal('io server disconnect');
    expect(tookMs, 'socket dropped within a second of the end').to.be.below(1000);
    expect((await droppedSecond)[0]).to.equal('io server disconnect');

    // B has no cache left to age: 401 at once, on both hubs, for both of her tokens
    for (const [hub, token] of [[hubB, olga], [hubA, olga], [hubB, olgaOther]] as const) {
      const r = await rest<{ error: { message: string } }>(hub.url, 'GET', `/api/task-runs/${runId}`, token);
      expect(r.status, r.text).to.equal(401);
      expect(r.body.error.message).to.contain('session ended');
    }
    let refused = '';
    await connectSocket(hubB.url, '/viewer', { token: olga }).catch((err: Error) => (refused = err.message));
    expect(refused).to.contain('session ended');

    // otto, watching the same run on the same hub, goes on
    await output;
    expect(ottoSocket.connected).to.equal(true);
    expect((await rest(hubB.url, 'GET', `/api/task-runs/${runId}`, otto)).status).to.equal(200);
    await rest(hubA.url, 'POST', `/api/task-runs/${runId}/cancel`, otto, {});
  });

  it('drops a viewer whose token (and so its session) expires, and refuses its reconnect as expired', async () => {
    const short = tokens.mintOperator('sven', 'viewer', 2);
    const s = await connectSocket(hubB.url, '/viewer', { token: short });
    sockets.push(s);
    const startedAt = Date.now();
    const [reason] = await nextEvent<[string]>(listenable(s), 'disconnect', 'the expired viewer to be dropped', () => true, 6000);
    expect(reason).to.equal('io server disconnect');
    expect(Date.now() - startedAt).to.be.below(3500);
    let refused = '';
    await connectSocket(hubB.url, '/viewer', { token: short }).catch((err: Error) => (refused = err.message));
    expect(refused).to.contain('expired');
    expect((await rest(hubA.url, 'GET', '/api/task-runs?limit=1', short)).status).to.equal(401);
  });
});
