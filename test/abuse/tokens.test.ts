/**
 * Abuse (issue #8): token attacks against a real hub process (PostgreSQL test database) with a
 * real agent. Expired, wrong kind, wrong signature, tampered payload, `alg: none`, other
 * algorithms — on REST and on both socket namespaces; a grant for run A used on run B; a grant
 * replayed after revoke-write (connect with it → join → read-only, input dropped); an expired
 * grant at reconnect (read-only and told so, not thrown out).
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { TASK_PANE } from '../../common/protocol.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import { connectSocket, createRunAt, operatorToken, removeDir, rest, spawnAgent, testTokens, waitRunAt, waitSessionAt, workerToken } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { TEST_JWT_SECRET, startTestHub } from '../support/testHub.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { createTestDatabase, sql } from '../support/testDatabase.ts';
import { TestViewer } from '../support/viewerClient.ts';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const text = (b: Buffer) => b.toString('utf8');

describe('abuse: token attacks', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let hub: HubProcess;
  let agent: AgentProcess;
  const viewers: TestViewer[] = [];

  before(async function () {
    this.timeout(40_000);
    db = await createTestDatabase();
    hub = await startTestHub('postgres', { process: true, databaseUrl: db.url, env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-tok', env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
  });

  after(async function () {
    this.timeout(30_000);
    for (const v of viewers) v.close();
    await agent?.stop('SIGTERM', 10_000);
    await hub?.close();
    removeDir(agent?.dataDir);
    await db?.drop();
  });

  /** Forged and misused variants of a genuine token. */
  function attacks(genuine: string, claims: Record<string, unknown>): Array<[string, string]> {
    const [h, p] = genuine.split('.') as [string, string, string];
    const sig = genuine.split('.')[2] as string;
    const now = Math.floor(Date.now() / 1000);
    return [
      ['expired', jwt.sign({ ...claims, iat: now - 7200, exp: now - 3600 }, TEST_JWT_SECRET, { algorithm: 'HS256' })],
      ['wrong signature', jwt.sign(claims, 'another-secret-another-secret-another-secret', { algorithm: 'HS256' })],
      ['tampered payload', `${h}.${b64({ ...claims, role: 'admin', sub: 'mallory' })}.${sig}`],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`],
      ['alg none, no dot', `${b64({ alg: 'none', typ: 'JWT' })}.${p}`],
      ['HS512 with the right secret', jwt.sign(claims, TEST_JWT_SECRET, { algorithm: 'HS512' })],
      ['no issuer', jwt.sign({ ...claims, iss: undefined }, TEST_JWT_SECRET, { algorithm: 'HS256' })],
      ['garbage', 'not.a.jwt'],
      ['empty', ''],
    ];
  }

  it('REST: refuses expired, forged, unsigned and wrong-kind tokens with 401, a weak role with 403', async () => {
    const op = operatorToken('operator');
    const opClaims = jwt.decode(op) as Record<string, unknown>;
    const wk = workerToken('w-tok');
    const wkClaims = jwt.decode(wk) as Record<string, unknown>;
    const run = await createRunAt(hub.url, ['sleep 2']);
    const grant = testTokens.mintGrant({ runId: run.id, sessionId: '00000000-0000-4000-8000-000000000000', grantee: 'x', generation: 0, expiresAt: Date.now() + 60_000 }).token;

    const [{ n: before }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run')) as [{ n: string }];
    const checks: Array<[string, string, string, string | null, unknown, number]> = [];
    for (const [what, token] of attacks(op, opClaims)) checks.push([`operator ${what}`, 'POST', '/api/task-runs', token, { steps: ['echo no'] }, 401]);
    for (const [what, token] of attacks(wk, wkClaims)) checks.push([`worker ${what}`, 'POST', '/api/task-runs/claim', token, { workerId: 'w-tok' }, 401]);
    checks.push(['worker token as operator', 'POST', '/api/task-runs', wk, { steps: ['echo no'] }, 401]);
    checks.push(['grant token as operator', 'POST', '/api/task-runs', grant, { steps: ['echo no'] }, 401]);
    checks.push(['operator token as worker', 'POST', '/api/task-runs/claim', op, { workerId: 'w-tok' }, 401]);
    checks.push(['grant token as worker', 'POST', '/api/task-runs/claim', grant, { workerId: 'w-tok' }, 401]);
    checks.push(['admin token as worker', 'POST', `/api/task-runs/${run.id}/complete`, operatorToken('admin'), { workerId: 'w-tok', attempt: 1, status: 'succeeded' }, 401]);
    checks.push(['body names another worker (complete)', 'POST', `/api/task-runs/${run.id}/complete`, workerToken('w-other'), { workerId: 'w-tok', attempt: 1, status: 'succeeded' }, 403]);
    checks.push(['body names another worker', 'POST', '/api/task-runs/claim', workerToken('w-other'), { workerId: 'w-tok' }, 403]);
    checks.push(['viewer role creates', 'POST', '/api/task-runs', operatorToken('viewer'), { steps: ['echo no'] }, 403]);
    checks.push(['operator role revokes', 'POST', `/api/task-runs/${run.id}/live-session/revoke`, operatorToken('operator'), {}, 403]);
    checks.push(['no token', 'GET', '/api/task-runs', null, undefined, 401]);
    for (const [what, method, path, token, body, status] of checks) {
      const r = await rest<{ error?: { code: string } }>(hub.url, method, path, token, body);
      expect(r.status, `${what}: ${r.text}`).to.equal(status);
      expect(r.body?.error?.code, what).to.equal(status === 401 ? 'unauthorized' : 'forbidden');
    }
    const [{ n: after }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run')) as [{ n: string }];
    expect(Number(after), 'no run created by a refused token').to.equal(Number(before));
    await waitRunAt(hub.url, run.id, ['succeeded'], 20_000);
  });

  it('sockets: refuses forged and wrong-kind tokens at the handshake of both namespaces', async () => {
    const op = operatorToken('viewer');
    const wk = workerToken('w-tok');
    const refused = async (nsp: string, auth: Record<string, unknown>) => {
      try {
        const s = await connectSocket(hub.url, nsp, auth);
        s.close();
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    };
    for (const [what, token] of attacks(op, jwt.decode(op) as Record<string, unknown>)) expect(await refused('/viewer', { token }), `viewer: ${what}`).to.match(/unauthorized/);
    for (const [what, token] of attacks(wk, jwt.decode(wk) as Record<string, unknown>)) expect(await refused('/agent', { token }), `agent: ${what}`).to.match(/unauthorized/);
    expect(await refused('/viewer', { token: wk }), 'worker token on /viewer').to.match(/unauthorized/);
    expect(await refused('/agent', { token: op }), 'operator token on /agent').to.match(/unauthorized/);
    expect(await refused('/viewer', {}), 'no token').to.match(/unauthorized/);
    expect(await refused('/viewer', { token: { $ne: 1 } }), 'object token').to.match(/unauthorized/);
    expect(await refused('/agent', { token: [wk] }), 'array token').to.match(/unauthorized/);
    // a grant is not an operator token
    const grant = testTokens.mintGrant({ runId: '00000000-0000-4000-8000-000000000000', sessionId: '00000000-0000-4000-8000-000000000000', grantee: 'x', generation: 0, expiresAt: Date.now() + 60_000 }).token;
    expect(await refused('/viewer', { token: grant }), 'grant as operator token').to.match(/unauthorized/);
    expect(await refused('/agent', { token: grant }), 'grant as worker token').to.match(/unauthorized/);
    // an operator token in the grant slot
    expect(await refused('/viewer', { token: op, grant: operatorToken('admin') }), 'operator token as grant').to.match(/unauthorized/);
  });

  it('grants: wrong run, replay after revoke-write, expired at reconnect — read-only, input dropped', async () => {
    // two live runs that echo whatever line reaches them
    const echoStep = `echo ready; read -t 8 line; echo "got:[$line]"`;
    const runA = await createRunAt(hub.url, [echoStep]);
    const runB = await createRunAt(hub.url, [echoStep]);
    for (const r of [runA, runB]) {
      await waitRunAt(hub.url, r.id, ['running'], 30_000);
      await waitSessionAt(hub.url, r.id, ['ready']);
    }
    const grantA = await rest<{ grantToken: string; session: { id: string; rwGeneration: number } }>(hub.url, 'POST', `/api/task-runs/${runA.id}/live-session/grant-write`, operatorToken(), {});
    expect(grantA.status).to.equal(200);

    // a grant for run A opens nothing on run B
    const vb = await TestViewer.connect(hub.url, operatorToken('operator'), { grant: grantA.body.grantToken });
    viewers.push(vb);
    expect((await vb.join(runB.id)).canWrite, 'grant for A on B').to.equal(false);
    vb.sendInput(TASK_PANE, 'cross-run\r');
    await vb.waitForNotice('read_only');

    // replay after revoke-write
    const revoked = await rest(hub.url, 'POST', `/api/task-runs/${runA.id}/live-session/revoke-write`, operatorToken(), { reason: 'test' });
    expect(revoked.status).to.equal(200);
    const va = await TestViewer.connect(hub.url, operatorToken('operator'), { grant: grantA.body.grantToken });
    viewers.push(va);
    const joined = await va.join(runA.id);
    expect(joined.canWrite, 'a revoked grant replayed').to.equal(false);
    const notice = await va.waitForNotice('grant_refused');
    expect(notice.message).to.match(/revoked/);
    va.sendInput(TASK_PANE, 'replayed\r');
    await va.waitForNotice('read_only');

    // an authentic grant that expired (a reconnect after its TTL): read-only, told so, not thrown out
    const s = grantA.body.session;
    const expired = testTokens.mintGrant({ runId: runA.id, sessionId: s.id, grantee: 'operator-user', generation: s.rwGeneration + 1, expiresAt: Date.now() - 1000 }).token;
    const ve = await TestViewer.connect(hub.url, operatorToken('operator'), { grant: expired });
    viewers.push(ve);
    expect((await ve.join(runA.id)).canWrite, 'an expired grant').to.equal(false);
    expect((await ve.waitForNotice('grant_refused')).message).to.match(/expired/);
    ve.sendInput(TASK_PANE, 'expired\r');
    await ve.waitForNotice('read_only');

    // none of it reached a pty (each was refused read_only above): both steps, still reading when
    // it was sent, time out and print an empty line
    for (const [v, r] of [[va, runA], [vb, runB]] as const) expect(text(v.pane(TASK_PANE).liveOutput()), `run ${r.id} still reading`).to.not.include('got:[');
    for (const [v, r] of [[va, runA], [vb, runB]] as const) {
      await v.waitForOutput(TASK_PANE, (b) => text(b).includes('got:['), 25_000, 'the step’s read to time out');
      const out = text(v.pane(TASK_PANE).liveOutput());
      expect(out, `run ${r.id}`).to.include('got:[]');
      expect(out).to.not.match(/cross-run|replayed|expired/);
    }
    const events = await rest<{ events: Array<{ action: string }> }>(hub.url, 'GET', `/api/task-runs/${runA.id}/events`, operatorToken('viewer'));
    expect(events.body.events.map((e) => e.action), 'no rw_attach for a refused grant').to.not.include('rw_attach');
    for (const r of [runA, runB]) await waitRunAt(hub.url, r.id, ['succeeded'], 20_000);
    await assertLifecycleIntegrity(db.url, { liveWorkers: ['w-tok'] });
  });
});
