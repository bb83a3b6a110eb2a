/**
 * The REST contract (architecture §3, §4, §7, §10) through HTTP, on real PostgreSQL and on the embedded
 * store: every endpoint, every error code, the worker flow, RW secrecy, the append-only audit trail,
 * health / metrics / OpenAPI.
 */
import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ControlEventDto, GrantWriteResult, LiveSessionDto, RunStepDto, TaskRunDto } from '../../common/api.ts';
import { TokenService } from '../../hub/auth/tokens.ts';
import { TEST_JWT_SECRET } from '../support/testSecrets.ts';
import { waitUntil } from '../support/wait.ts';
import { createApp } from '../../hub/http/app.ts';
import { HubMetrics } from '../../hub/metrics.ts';
import { RecordingStore } from '../../hub/recordings/recordingStore.ts';
import { sql } from '../support/testDatabase.ts';
import { STORES, startTestHub } from '../support/testHub.ts';
import type { CheckedHub } from '../support/openApiContract.ts';
import { withContractCheck } from '../support/openApiContract.ts';
import { Validator } from '@seriousme/openapi-schema-validator';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
type RunBody = { taskRun: TaskRunDto };
type SessionBody = { session: LiveSessionDto };

/** Every route of the API: method, path (OpenAPI form), who may call it. */
const API_ROUTES: Array<{ method: string; path: string; auth: 'viewer' | 'operator' | 'admin' | 'worker' | 'none' }> = [
  { method: 'POST', path: '/api/task-runs', auth: 'operator' },
  { method: 'GET', path: '/api/task-runs', auth: 'viewer' },
  { method: 'POST', path: '/api/task-runs/claim', auth: 'worker' },
  { method: 'GET', path: '/api/task-runs/{id}', auth: 'viewer' },
  { method: 'POST', path: '/api/task-runs/{id}/cancel', auth: 'operator' },
  { method: 'GET', path: '/api/task-runs/{id}/events', auth: 'viewer' },
  { method: 'GET', path: '/api/task-runs/{id}/steps', auth: 'viewer' },
  { method: 'GET', path: '/api/task-runs/{id}/recording', auth: 'viewer' },
  { method: 'PUT', path: '/api/task-runs/{id}/recording', auth: 'worker' },
  { method: 'POST', path: '/api/task-runs/{id}/complete', auth: 'worker' },
  { method: 'POST', path: '/api/task-runs/{id}/control', auth: 'operator' },
  { method: 'POST', path: '/api/task-runs/{id}/operator-messages', auth: 'operator' },
  { method: 'POST', path: '/api/task-runs/{id}/live-session', auth: 'operator' },
  { method: 'GET', path: '/api/task-runs/{id}/live-session', auth: 'viewer' },
  { method: 'POST', path: '/api/task-runs/{id}/live-session/grant-write', auth: 'operator' },
  { method: 'POST', path: '/api/task-runs/{id}/live-session/revoke-write', auth: 'operator' },
  { method: 'POST', path: '/api/task-runs/{id}/live-session/revoke', auth: 'admin' },
  { method: 'POST', path: '/api/task-runs/{id}/live-session/report', auth: 'worker' },
  { method: 'POST', path: '/api/task-runs/{id}/live-session/heartbeat', auth: 'worker' },
  { method: 'GET', path: '/api/operator-sessions', auth: 'admin' },
  { method: 'POST', path: '/api/operator-sessions/end', auth: 'admin' },
  { method: 'POST', path: '/api/operator-sessions/{sid}/end', auth: 'admin' },
];
const PUBLIC_ROUTES = [
  { method: 'GET', path: '/auth/methods' },
  { method: 'POST', path: '/auth/logout' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/api/openapi.json' },
];

const at = (path: string, id: string) => path.replace('{id}', id);

/** Lists the routes an Express app answers, as "METHOD /path/{param}" (Express 5 router internals). */
function routesOf(app: ReturnType<typeof createApp>): string[] {
  interface Layer {
    name: string;
    route?: { path: unknown; methods: Record<string, boolean> };
    handle?: { stack?: Layer[] };
    matchers?: Array<(p: string) => unknown>;
  }
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string') continue; // the dashboard's regexp fallback
        for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${prefix}${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
      } else if (layer.name === 'router' && layer.handle?.stack) {
        // Mounted routers keep no mount path: the app mounts one router at /api, which mounts its own at its root.
        if (prefix === '') {
          expect(layer.matchers?.[0]?.('/api/task-runs')).to.not.equal(false);
          expect(layer.matchers?.[0]?.('/task-runs')).to.equal(false);
        }
        walk(layer.handle.stack, prefix === '' ? '/api' : prefix);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out.sort();
}

for (const store of STORES) {
  describe(`REST API (${store})`, function () {
    this.timeout(60_000);
    let h: CheckedHub;
    let viewer: string;
    let operator: string;
    let admin: string;

    before(async () => {
      // every answer `h.api` returns is checked against the served OpenAPI document
      h = await withContractCheck(await startTestHub(store, { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '2' } }));
      viewer = h.token('viewer', 'vera');
      operator = h.token('operator', 'olga');
      admin = h.token('admin', 'ada');
    });
    after(async () => {
      await h?.close();
    });

    const db = <R>(text: string) => h.hub.database.orm.em.getConnection().execute<R[]>(text);

    async function create(body: unknown = { steps: ['echo hello'] }): Promise<TaskRunDto> {
      const r = await h.api<RunBody>('POST', '/api/task-runs', operator, body);
      expect(r.status, r.text).to.equal(201);
      return r.body.taskRun;
    }

    /** Cancels every queued run, so the next claim takes the run a test just made. */
    async function drainQueue(): Promise<void> {
      const r = await h.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?status=queued&limit=500', viewer);
      expect(r.status).to.equal(200);
      for (const run of r.body.taskRuns) expect((await h.api('POST', `/api/task-runs/${run.id}/cancel`, operator, {})).status).to.equal(200);
    }

    /** A fresh run claimed by `workerId` (asserting the claim took exactly that run). */
    async function claimed(workerId: string, body: unknown = { steps: ['echo hello'] }): Promise<TaskRunDto> {
      await drainQueue();
      const run = await create(body);
      const r = await h.api<RunBody>('POST', '/api/task-runs/claim', h.workerToken(workerId), { workerId });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.taskRun.id).to.equal(run.id);
      return r.body.taskRun;
    }

    async function report(workerId: string, runId: string, body: Record<string, unknown>) {
      return h.api<SessionBody & ErrorBody>('POST', `/api/task-runs/${runId}/live-session/report`, h.workerToken(workerId), { workerId, attempt: 1, ...body });
    }

    /** A claimed run whose live session is ready with attach info. */
    async function readyRun(workerId: string, extra: Record<string, unknown> = {}): Promise<TaskRunDto> {
      const run = await claimed(workerId);
      expect((await report(workerId, run.id, { status: 'starting', workerHostname: 'box-1' })).status).to.equal(200);
      const r = await report(workerId, run.id, {
        status: 'ready',
        attachRo: `handoff attach ${run.id}`,
        attachRw: `handoff attach ${run.id} --rw`,
        webRo: `http://hub/runs/${run.id}`,
        webRw: `http://hub/runs/${run.id}?rw=1`,
        ...extra,
      });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.session.status).to.equal('ready');
      return run;
    }

    async function events(runId: string): Promise<ControlEventDto[]> {
      const r = await h.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${runId}/events`, viewer);
      expect(r.status).to.equal(200);
      return r.body.events;
    }

    async function getRun(runId: string): Promise<TaskRunDto> {
      const r = await h.api<RunBody>('GET', `/api/task-runs/${runId}`, viewer);
      expect(r.status).to.equal(200);
      return r.body.taskRun;
    }

    function expectError(r: { status: number; body: unknown; text: string }, status: number, code?: string) {
      expect(r.status, r.text).to.equal(status);
      const body = r.body as ErrorBody;
      expect(body, r.text).to.have.property('error');
      expect(body.error.code).to.be.a('string');
      expect(body.error.message).to.be.a('string');
      expect(body.error.message.length).to.be.greaterThan(0);
      if (code) expect(body.error.code).to.equal(code);
    }

    describe('401: no or invalid token', () => {
      it('every API route refuses a call without a token', async () => {
        const id = randomUUID();
        for (const route of API_ROUTES) {
          const r = await h.api(route.method, at(route.path, id), null, route.method === 'GET' ? undefined : {});
          expectError(r, 401, 'unauthorized');
        }
      });

      it('refuses a garbage token, a malformed header, an expired token and a token of another secret', async () => {
        const expired = h.hub.ctx.tokens.mintOperator('olga', 'admin', -60);
        const foreign = new TokenService('some-other-secret-0123456789abcdef0123').mintOperator('olga', 'admin');
        for (const token of ['garbage', 'a.b.c', expired, foreign]) {
          expectError(await h.api('GET', '/api/task-runs', token), 401, 'unauthorized');
          expectError(await h.api('POST', '/api/task-runs', token, { steps: ['x'] }), 401, 'unauthorized');
        }
        expect((await h.api<ErrorBody>('GET', '/api/task-runs', expired)).body.error.message).to.contain('expired');
        const basic = await h.api('GET', '/api/task-runs', null, undefined, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
        expect(basic.status).to.equal(401);
        const expiredWorker = h.hub.ctx.tokens.mintWorker('w-exp', -60);
        expectError(await h.api('POST', '/api/task-runs/claim', expiredWorker, { workerId: 'w-exp' }), 401);
      });

      it('a worker token is refused on operator routes, an operator token on worker routes', async () => {
        const run = await create();
        const w = h.workerToken('w-401');
        for (const route of API_ROUTES) {
          const path = at(route.path, run.id);
          const body = route.method === 'GET' ? undefined : { workerId: 'w-401', status: 'starting', steps: ['x'], action: 'pause', message: 'm' };
          if (route.auth === 'worker') {
            for (const token of [viewer, operator, admin]) expectError(await h.api(route.method, path, token, body), 401, 'unauthorized');
          } else {
            expectError(await h.api(route.method, path, w, body), 401, 'unauthorized');
          }
        }
        expect((await getRun(run.id)).status).to.equal('queued'); // nothing happened
      });

      it('an RW grant token is not a bearer token', async () => {
        const run = await readyRun('w-grant-bearer');
        const g = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {});
        expect(g.status).to.equal(200);
        const grant = g.body.grantToken;
        for (const route of API_ROUTES) {
          const r = await h.api(route.method, at(route.path, run.id), grant, route.method === 'GET' ? undefined : { workerId: 'w-grant-bearer', status: 'ended' });
          expectError(r, 401, 'unauthorized');
        }
        expect((await getRun(run.id)).liveSession?.status).to.equal('ready');
      });
    });

    describe('403: wrong role or wrong worker', () => {
      it('a viewer may read but not create, control, cancel, message, enable, grant or revoke', async () => {
        const run = await readyRun('w-403-viewer');
        const before = await events(run.id);
        const refused: Array<[string, string, unknown]> = [
          ['POST', '/api/task-runs', { steps: ['x'] }],
          ['POST', `/api/task-runs/${run.id}/control`, { action: 'pause' }],
          ['POST', `/api/task-runs/${run.id}/cancel`, {}],
          ['POST', `/api/task-runs/${run.id}/operator-messages`, { message: 'hi' }],
          ['POST', `/api/task-runs/${run.id}/live-session`, undefined],
          ['POST', `/api/task-runs/${run.id}/live-session/grant-write`, {}],
          ['POST', `/api/task-runs/${run.id}/live-session/revoke-write`, {}],
          ['POST', `/api/task-runs/${run.id}/live-session/revoke`, {}],
        ];
        for (const [method, path, body] of refused) expectError(await h.api(method, path, viewer, body), 403, 'forbidden');
        for (const path of ['/api/task-runs', `/api/task-runs/${run.id}`, `/api/task-runs/${run.id}/events`, `/api/task-runs/${run.id}/live-session`]) {
          expect((await h.api('GET', path, viewer)).status, path).to.equal(200);
        }
        const after = await getRun(run.id);
        expect(after.status).to.equal('running');
        expect(after.payload.liveControl?.paused).to.equal(false);
        expect(after.liveSession?.status).to.equal('ready');
        expect(after.liveSession?.rwGrantedUntil).to.equal(null);
        expect(await events(run.id)).to.deep.equal(before);
      });

      it('revoking a session is for admins only', async () => {
        const run = await readyRun('w-403-revoke');
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/revoke`, operator, {}), 403, 'forbidden');
        expect((await getRun(run.id)).liveSession?.status).to.equal('ready');
        const r = await h.api<SessionBody>('POST', `/api/task-runs/${run.id}/live-session/revoke`, admin, { reason: 'enough' });
        expect(r.status).to.equal(200);
        expect(r.body.session.status).to.equal('revoked');
      });

      it('a worker cannot claim for another worker id', async () => {
        await drainQueue();
        const run = await create();
        expectError(await h.api('POST', '/api/task-runs/claim', h.workerToken('w-a'), { workerId: 'w-b' }), 403, 'forbidden');
        expect((await getRun(run.id)).status).to.equal('queued');
        await drainQueue();
      });

      it('a worker cannot report, heartbeat, complete or upload for a run it does not own', async () => {
        const run = await readyRun('w-owner');
        const thief = 'w-thief';
        const t = h.workerToken(thief);
        // Not its attempt (fencing, §7a): refused as stale_attempt, with the run's own attempt number too.
        expectError(await report(thief, run.id, { status: 'ended' }), 409, 'stale_attempt');
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/heartbeat`, t, { workerId: thief, attempt: 1 }), 409, 'stale_attempt');
        expectError(await h.api('POST', `/api/task-runs/${run.id}/complete`, t, { workerId: thief, attempt: 1, status: 'failed', exitCode: 1 }), 409, 'stale_attempt');
        // Its own token but the owner's id in the body: still refused.
        expectError(await h.api('POST', `/api/task-runs/${run.id}/complete`, t, { workerId: 'w-owner', attempt: 1, status: 'failed' }), 403, 'forbidden');
        const put = await putRecording(t, run.id, 'x');
        expect(put.status).to.equal(409);
        // The owner naming an attempt that is not the run's: refused likewise.
        expectError(await h.api('POST', `/api/task-runs/${run.id}/complete`, h.workerToken('w-owner'), { workerId: 'w-owner', attempt: 2, status: 'failed' }), 409, 'stale_attempt');
        const after = await getRun(run.id);
        expect(after.status).to.equal('running');
        expect(after.workerId).to.equal('w-owner');
        expect(after.liveSession?.status).to.equal('ready');
      });
    });

    describe('404: unknown run, or no session', () => {
      it('an unknown run id is 404 on every run route', async () => {
        const id = randomUUID();
        // A valid body for each route, so the only thing wrong is the run.
        const bodies: Record<string, unknown> = {
          '/api/task-runs/{id}/complete': { workerId: 'w-404', attempt: 1, status: 'succeeded', exitCode: 0 },
          '/api/task-runs/{id}/control': { action: 'pause' },
          '/api/task-runs/{id}/operator-messages': { message: 'hi' },
          '/api/task-runs/{id}/live-session/report': { workerId: 'w-404', attempt: 1, status: 'ready' },
          '/api/task-runs/{id}/live-session/heartbeat': { workerId: 'w-404', attempt: 1 },
        };
        let checked = 0;
        for (const route of API_ROUTES) {
          if (!route.path.includes('{id}')) continue;
          const token = route.auth === 'worker' ? h.workerToken('w-404') : admin;
          const body = route.method === 'GET' ? undefined : (bodies[route.path] ?? {});
          const r = route.method === 'PUT' ? await putRecording(token, id, 'x') : await h.api(route.method, at(route.path, id), token, body);
          expectError(r, 404, 'not_found');
          checked++;
        }
        expect(checked).to.equal(16);
      });

      it('a non-uuid id is 404, not a database error', async () => {
        for (const id of ['not-a-uuid', '123', "1' or '1'='1", '00000000-0000-0000-0000-00000000000g']) {
          expectError(await h.api('GET', `/api/task-runs/${encodeURIComponent(id)}`, viewer), 404, 'not_found');
          expectError(await h.api('GET', `/api/task-runs/${encodeURIComponent(id)}/live-session`, viewer), 404, 'not_found');
          expectError(await h.api('POST', `/api/task-runs/${encodeURIComponent(id)}/cancel`, operator, {}), 404, 'not_found');
        }
      });

      it('GET live-session of a run that never enabled one is 404, and so is granting on it', async () => {
        const run = await create({ steps: ['echo x'], liveSession: false });
        expect(run.liveSession).to.equal(null);
        const r = await h.api<ErrorBody>('GET', `/api/task-runs/${run.id}/live-session`, viewer);
        expectError(r, 404, 'not_found');
        expect(r.body.error.message).to.contain('no live session');
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {}), 404);
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/revoke`, admin, {}), 404);
      });

      it('an unknown API path is a JSON 404', async () => {
        expectError(await h.api('GET', '/api/nothing-here', viewer), 404, 'not_found');
      });
    });

    describe('422: invalid payload or state, never 500', () => {
      it('refuses bad create payloads and persists nothing', async () => {
        const [{ n: before }] = (await db<{ n: string }>('select count(*)::text as n from task_run')) as [{ n: string }];
        const bad: unknown[] = [
          {},
          { steps: [] },
          { steps: [''] },
          { steps: 'echo hi' },
          { steps: [1, 2] },
          { steps: null },
          { steps: ['echo'], unknown: true },
          { steps: ['echo'], liveSession: 'yes' },
          { steps: ['echo'], cwd: 5 },
          [],
          'null',
          '"steps"',
          '42',
        ];
        for (const body of bad) {
          const r = await h.api<ErrorBody>('POST', '/api/task-runs', operator, body);
          expectError(r, 422, 'invalid_payload');
        }
        for (const text of ['{"steps": [', '{steps: ["x"]}', "{'steps':['x']}", '{"steps":["x"]}}']) {
          expectError(await h.api('POST', '/api/task-runs', operator, text), 422, 'invalid_json');
        }
        const unknownField = await h.api<ErrorBody>('POST', '/api/task-runs', operator, { steps: ['x'], priority: 1 });
        expect(JSON.stringify(unknownField.body.error)).to.contain('priority');
        const [{ n: after }] = (await db<{ n: string }>('select count(*)::text as n from task_run')) as [{ n: string }];
        expect(after).to.equal(before);
      });

      it('refuses a bad list query', async () => {
        for (const q of ['status=bogus', 'limit=0', 'limit=abc', 'offset=-1', 'color=red']) {
          expectError(await h.api('GET', `/api/task-runs?${q}`, viewer), 422, 'invalid_payload');
        }
      });

      it('refuses bad worker payloads', async () => {
        const run = await claimed('w-422');
        const t = h.workerToken('w-422');
        const cases: Array<[string, unknown]> = [
          ['/api/task-runs/claim', {}],
          ['/api/task-runs/claim', { workerId: 7 }],
          ['/api/task-runs/claim', { workerId: 'w-422', extra: 1 }],
          [`/api/task-runs/${run.id}/complete`, { workerId: 'w-422', attempt: 1, status: 'exploded' }],
          [`/api/task-runs/${run.id}/complete`, { workerId: 'w-422', attempt: 1, status: 'succeeded', exitCode: 'zero' }],
          [`/api/task-runs/${run.id}/live-session/report`, { workerId: 'w-422', attempt: 1, status: 'disabled' }],
          [`/api/task-runs/${run.id}/live-session/report`, { workerId: 'w-422', attempt: 1, status: 'ready', expiresAt: 'tomorrow' }],
          // the document says format date-time (RFC 3339 with a zone): a date alone or a zoneless time is not one
          [`/api/task-runs/${run.id}/live-session/report`, { workerId: 'w-422', attempt: 1, status: 'ready', expiresAt: '2030-01-01' }],
          [`/api/task-runs/${run.id}/live-session/report`, { workerId: 'w-422', attempt: 1, status: 'ready', expiresAt: '2030-01-01T00:00:00' }],
          [`/api/task-runs/${run.id}/live-session/report`, { workerId: 'w-422', attempt: 1, status: 'ready', attachRw: 42 }],
          [`/api/task-runs/${run.id}/live-session/report`, { workerId: 'w-422', attempt: 1, status: 'ready', secret: 'x' }],
          [`/api/task-runs/${run.id}/live-session/heartbeat`, {}],
        ];
        for (const [path, body] of cases) expectError(await h.api('POST', path, t, body), 422, 'invalid_payload');
        const after = await getRun(run.id);
        expect(after.status).to.equal('running');
        expect(after.liveSession?.status).to.equal('disabled');
      });

      it('refuses ttlMinutes outside 1..240 and grant-write while not ready', async () => {
        const run = await claimed('w-ttl');
        // disabled
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {}), 422, 'invalid_state');
        expect((await report('w-ttl', run.id, { status: 'starting' })).status).to.equal(200);
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {}), 422, 'invalid_state');
        expect((await report('w-ttl', run.id, { status: 'ready', attachRw: 'rw' })).status).to.equal(200);
        for (const ttlMinutes of [0, 241, -1, 1.5, '10', null]) {
          expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, { ttlMinutes }), 422, 'invalid_payload');
        }
        expect((await getRun(run.id)).liveSession?.rwGrantedUntil).to.equal(null);
        for (const ttlMinutes of [1, 240]) {
          expect((await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, { ttlMinutes })).status).to.equal(200);
        }
        // After the session ended, no grant either.
        expect((await h.api('POST', `/api/task-runs/${run.id}/complete`, h.workerToken('w-ttl'), { workerId: 'w-ttl', attempt: 1, status: 'succeeded', exitCode: 0 })).status).to.equal(200);
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {}), 422, 'invalid_state');
      });

      it('bounds operator messages at 4 KiB of UTF-8 and refuses an empty one', async () => {
        const run = await create();
        const path = `/api/task-runs/${run.id}/operator-messages`;
        // 2,049 two-byte characters: under 4,096 characters, over 4,096 bytes.
        const r = await h.api<ErrorBody>('POST', path, operator, { message: 'é'.repeat(2049) });
        expectError(r, 422, 'invalid_payload');
        expect(r.body.error.message).to.contain('4098').and.to.contain('4096');
        expectError(await h.api('POST', path, operator, { message: 'x'.repeat(4097) }), 422, 'invalid_payload');
        expectError(await h.api('POST', path, operator, { message: '' }), 422, 'invalid_payload');
        expectError(await h.api('POST', path, operator, {}), 422, 'invalid_payload');
        expectError(await h.api('POST', path, operator, { message: 12 }), 422, 'invalid_payload');
        expect((await events(run.id)).filter((e) => e.action === 'send_message')).to.have.length(0);
        // Exactly 4 KiB is fine (2,048 two-byte characters).
        expect((await h.api('POST', path, operator, { message: 'é'.repeat(2048) })).status).to.equal(201);
      });

      it('refuses bad controls, and controls / messages / cancel on a finished run', async () => {
        const run = await create();
        const path = `/api/task-runs/${run.id}/control`;
        for (const body of [{}, { action: 'explode' }, { action: 'pause', summary: 'only with resume' }, { action: 'resume', mode: 'hard' }, { action: 'pause', mode: 'sideways' }]) {
          expectError(await h.api('POST', path, operator, body), 422, 'invalid_payload');
        }
        expect((await h.api('POST', `/api/task-runs/${run.id}/cancel`, operator, {})).status).to.equal(200);
        for (const action of ['pause', 'resume', 'takeover']) expectError(await h.api('POST', path, operator, { action }), 422, 'invalid_state');
        expectError(await h.api('POST', `/api/task-runs/${run.id}/operator-messages`, operator, { message: 'hello?' }), 422, 'invalid_state');
        expectError(await h.api('POST', `/api/task-runs/${run.id}/cancel`, operator, {}), 422, 'invalid_state');
        const after = await getRun(run.id);
        expect(after.status).to.equal('cancelled');
        expect(after.payload.liveControl?.lastAction).to.equal(null);
      });

      it('refuses a report of ready after the session ended, leaving the row as it was', async () => {
        const run = await readyRun('w-ended');
        expect((await h.api('POST', `/api/task-runs/${run.id}/complete`, h.workerToken('w-ended'), { workerId: 'w-ended', attempt: 1, status: 'succeeded', exitCode: 0 })).status).to.equal(200);
        const ended = (await getRun(run.id)).liveSession as LiveSessionDto;
        expect(ended.status).to.equal('ended');
        for (const status of ['ready', 'starting', 'error', 'revoked']) {
          const r = await report('w-ended', run.id, { status, attachRo: 'changed' });
          expectError(r, 422, 'invalid_state');
          expect(JSON.stringify(r.body)).to.contain('ended');
        }
        expect((await getRun(run.id)).liveSession).to.deep.equal(ended);
      });

      it('refuses going back from ready to starting', async () => {
        const run = await readyRun('w-back');
        expectError(await report('w-back', run.id, { status: 'starting' }), 422, 'invalid_state');
        expect((await report('w-back', run.id, { status: 'ready' })).status).to.equal(200); // same status: idempotent
        expect((await getRun(run.id)).liveSession?.status).to.equal('ready');
      });

      it('no route answers 500 to junk bodies, and nothing unhandled is logged', async () => {
        const run = await claimed('w-junk');
        const junk: unknown[] = ['{', '[]', 'null', '"x"', '0', 'true', { a: { b: { c: [1, 2, 3] } } }, { workerId: ['w-junk'] }, { steps: [{}], message: {}, action: [], ttlMinutes: {} }, { __proto__: { admin: true } }, { constructor: { prototype: { x: 1 } } }];
        for (const route of API_ROUTES) {
          if (route.method === 'GET' || route.method === 'PUT') continue;
          const token = route.auth === 'worker' ? h.workerToken('w-junk') : admin;
          for (const body of junk) {
            const r = await h.api(route.method, at(route.path, run.id), token, body);
            expect(r.status, `${route.method} ${route.path} ${JSON.stringify(body)} → ${r.text}`).to.be.oneOf([200, 201, 204, 404, 422]);
          }
        }
        // Junk in query strings and path too.
        for (const q of ['status[]=queued', 'status[$ne]=x', 'limit=1e9', `limit=${'9'.repeat(400)}`]) {
          expect((await h.api('GET', `/api/task-runs?${q}`, viewer)).status, q).to.equal(422);
        }
        expect((await h.api('GET', `/api/task-runs/${run.id}/events?after=-1`, viewer)).status).to.equal(422);
        expect((await h.api('GET', `/api/task-runs/%E0%A4%A`, viewer)).status).to.be.below(500);
        expect(h.logs.join('')).not.to.contain('unhandled error');
      });
    });

    describe('task runs', () => {
      it('creates a queued run with its live session and default live control', async () => {
        const r = await h.api<RunBody>('POST', '/api/task-runs', operator, { steps: ['echo one', 'echo two'] });
        expect(r.status).to.equal(201);
        const run = r.body.taskRun;
        expect(run.id).to.match(/^[0-9a-f-]{36}$/);
        expect(run.status).to.equal('queued');
        expect(run.steps).to.deep.equal(['echo one', 'echo two']);
        expect(run.workerId).to.equal(null);
        expect(run.exitCode).to.equal(null);
        expect(run.startedAt).to.equal(null);
        expect(run.finishedAt).to.equal(null);
        expect(run.payload.liveControl).to.include({ paused: false, takeover: false, lastAction: null });
        expect(run.liveSession?.status).to.equal('disabled');
        expect(run.liveSession?.taskRunId).to.equal(run.id);
        expect(run.liveSession?.provider).to.equal('hub');
        const got = await getRun(run.id);
        expect(got).to.deep.equal(run);
        const evs = await events(run.id);
        expect(evs.map((e) => e.action)).to.deep.equal(['run_created', 'create_session']);
        for (const e of evs) expect(e.actorUserId).to.equal('olga');
      });

      it('lists runs newest first and filters by status', async () => {
        const a = await create();
        const b = await create();
        expect((await h.api('POST', `/api/task-runs/${a.id}/cancel`, operator, { reason: 'not needed' })).status).to.equal(200);
        const all = (await h.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?limit=500', viewer)).body.taskRuns;
        const ids = all.map((r) => r.id);
        expect(ids).to.include(a.id).and.to.include(b.id);
        expect(ids.indexOf(b.id)).to.be.below(ids.indexOf(a.id));
        const queued = (await h.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?status=queued&limit=500', viewer)).body.taskRuns;
        expect(queued.map((r) => r.id)).to.include(b.id).and.not.to.include(a.id);
        expect(queued.every((r) => r.status === 'queued')).to.equal(true);
        const cancelled = (await h.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?status=cancelled&limit=500', viewer)).body.taskRuns;
        expect(cancelled.map((r) => r.id)).to.include(a.id).and.not.to.include(b.id);
        expect(cancelled.every((r) => r.status === 'cancelled')).to.equal(true);
        const one = (await h.api<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?limit=1', viewer)).body.taskRuns;
        expect(one).to.have.length(1);
        expect(all.find((r) => r.id === b.id)?.liveSession?.status).to.equal('disabled');
      });

      it('cancels a queued and a running run; the session ends; the audit names the operator', async () => {
        const queued = await create();
        const r = await h.api<RunBody>('POST', `/api/task-runs/${queued.id}/cancel`, operator, { reason: 'wrong branch' });
        expect(r.status).to.equal(200);
        expect(r.body.taskRun.status).to.equal('cancelled');
        expect(r.body.taskRun.finishedAt).to.be.a('string');
        expect(r.body.taskRun.liveSession?.status).to.equal('ended');
        const cancelEvent = (await events(queued.id)).find((e) => e.action === 'run_cancelled');
        expect(cancelEvent?.actorUserId).to.equal('olga');
        expect(cancelEvent?.metadata['reason']).to.equal('wrong branch');

        const running = await readyRun('w-cancel');
        const c = await h.api<RunBody>('POST', `/api/task-runs/${running.id}/cancel`, operator, {});
        expect(c.body.taskRun.status).to.equal('cancelled');
        expect(c.body.taskRun.liveSession?.status).to.equal('ended');
        // The worker's late completion report is harmless.
        const done = await h.api<RunBody>('POST', `/api/task-runs/${running.id}/complete`, h.workerToken('w-cancel'), { workerId: 'w-cancel', attempt: 1, status: 'failed', exitCode: 143 });
        expect(done.status).to.equal(200);
        expect(done.body.taskRun.status).to.equal('cancelled');
      });

      it('claim answers 204 when nothing is queued', async () => {
        await drainQueue();
        const r = await h.api('POST', '/api/task-runs/claim', h.workerToken('w-idle'), { workerId: 'w-idle' });
        expect(r.status).to.equal(204);
        expect(r.text).to.equal('');
      });

      it('a worker at its concurrency limit gets 204 while runs are queued', async () => {
        const w = 'w-capacity';
        const t = h.workerToken(w);
        await drainQueue();
        const runs = [await create(), await create(), await create()];
        const c1 = await h.api<RunBody>('POST', '/api/task-runs/claim', t, { workerId: w });
        const c2 = await h.api<RunBody>('POST', '/api/task-runs/claim', t, { workerId: w });
        expect([c1.status, c2.status]).to.deep.equal([200, 200]);
        expect([c1.body.taskRun.id, c2.body.taskRun.id]).to.deep.equal([runs[0]?.id, runs[1]?.id]); // oldest first
        const c3 = await h.api('POST', '/api/task-runs/claim', t, { workerId: w });
        expect(c3.status).to.equal(204);
        expect((await getRun(runs[2]!.id)).status).to.equal('queued');
        // Another worker still gets it; after one finishes, this worker has room again.
        expect((await h.api('POST', `/api/task-runs/${c1.body.taskRun.id}/complete`, t, { workerId: w, attempt: 1, status: 'succeeded', exitCode: 0 })).status).to.equal(200);
        const c4 = await h.api<RunBody>('POST', '/api/task-runs/claim', t, { workerId: w });
        expect(c4.status).to.equal(200);
        expect(c4.body.taskRun.id).to.equal(runs[2]?.id);
        for (const id of [c2.body.taskRun.id, c4.body.taskRun.id]) {
          expect((await h.api('POST', `/api/task-runs/${id}/complete`, t, { workerId: w, attempt: 1, status: 'succeeded' })).status).to.equal(200);
        }
      });
    });

    describe('worker flow', () => {
      it('claim → starting → ready → heartbeat → complete → session ended, with the audit trail in order', async () => {
        const w = 'w-flow';
        const t = h.workerToken(w);
        await drainQueue();
        const run = await create({ steps: ['make test'] });
        const claim = await h.api<RunBody>('POST', '/api/task-runs/claim', t, { workerId: w });
        expect(claim.status).to.equal(200);
        expect(claim.body.taskRun).to.include({ id: run.id, status: 'running', workerId: w });
        expect(claim.body.taskRun.startedAt).to.be.a('string');
        expect(claim.body.taskRun.liveSession?.status).to.equal('disabled');

        const starting = await report(w, run.id, { status: 'starting', workerHostname: 'worker-host-7' });
        expect(starting.status).to.equal(200);
        expect(starting.body.session).to.include({ status: 'starting', workerId: w, workerHostname: 'worker-host-7' });

        const ready = await report(w, run.id, { status: 'ready', attachRo: 'ssh ro@box', attachRw: 'ssh rw@box', webRo: 'https://box/ro', webRw: 'https://box/rw' });
        expect(ready.status).to.equal(200);
        const s = ready.body.session;
        expect(s).to.include({ status: 'ready', attachRo: 'ssh ro@box', webRo: 'https://box/ro' });
        expect(s.readyAt).to.be.a('string');
        expect(Date.parse(s.expiresAt as string) - Date.now()).to.be.within(59 * 60_000, 61 * 60_000); // default TTL 60 min
        expect(s).not.to.have.property('attachRw');
        expect(s).not.to.have.property('webRw');

        const hb1 = s.lastHeartbeatAt as string;
        await waitUntil('the clock to pass the first heartbeat', () => (Date.now() > Date.parse(hb1) ? true : undefined), 1000, 1);
        const hb = await h.api<SessionBody>('POST', `/api/task-runs/${run.id}/live-session/heartbeat`, t, { workerId: w, attempt: 1 });
        expect(hb.status).to.equal(200);
        expect(Date.parse(hb.body.session.lastHeartbeatAt as string)).to.be.greaterThan(Date.parse(hb1));

        const live = await h.api<SessionBody>('GET', `/api/task-runs/${run.id}/live-session`, viewer);
        expect(live.status).to.equal(200);
        expect(live.body.session.status).to.equal('ready');

        const done = await h.api<RunBody>('POST', `/api/task-runs/${run.id}/complete`, t, { workerId: w, attempt: 1, status: 'succeeded', exitCode: 0 });
        expect(done.status).to.equal(200);
        expect(done.body.taskRun).to.include({ status: 'succeeded', exitCode: 0 });
        expect(done.body.taskRun.finishedAt).to.be.a('string');
        expect(done.body.taskRun.liveSession?.status).to.equal('ended');
        expect(done.body.taskRun.liveSession?.endedAt).to.be.a('string');

        // A repeated completion (lost ack) is harmless; a contradicting one is refused.
        expect((await h.api<RunBody>('POST', `/api/task-runs/${run.id}/complete`, t, { workerId: w, attempt: 1, status: 'succeeded', exitCode: 0 })).status).to.equal(200);
        expectError(await h.api('POST', `/api/task-runs/${run.id}/complete`, t, { workerId: w, attempt: 1, status: 'failed', exitCode: 1 }), 422, 'invalid_state');

        const evs = await events(run.id);
        const lifecycle = evs.filter((e) => ['create_session', 'session_starting', 'session_ready', 'session_ended'].includes(e.action));
        expect(lifecycle.map((e) => e.action)).to.deep.equal(['create_session', 'session_starting', 'session_ready', 'session_ended']);
        expect(evs.map((e) => e.action)).to.deep.equal(['run_created', 'create_session', 'run_claimed', 'session_starting', 'session_ready', 'run_completed', 'session_ended']);
        const ids = evs.map((e) => e.id);
        expect(ids).to.deep.equal([...ids].sort((a, b) => a - b));
        for (const e of evs) {
          expect(e.taskRunId).to.equal(run.id);
          if (['run_created', 'create_session'].includes(e.action)) {
            expect(e.actorUserId, e.action).to.equal('olga');
          } else {
            expect(e.actorUserId, e.action).to.equal(null);
            expect(e.metadata['workerId'], e.action).to.equal(w);
          }
        }
        expect(evs.find((e) => e.action === 'run_completed')?.metadata).to.include({ status: 'succeeded', exitCode: 0 });
        // ?after= pages the timeline.
        const later = (await h.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${run.id}/events?after=${evs[3]!.id}`, viewer)).body.events;
        expect(later.map((e) => e.id)).to.deep.equal(ids.slice(4));
      });

      it('GET steps: each step with its command, start, end and exit code, from the steps the agent reports', async () => {
        const w = 'w-steps';
        const run = await claimed(w, { steps: ['make build', 'make test', 'make deploy'] });
        const steps = async () => {
          const r = await h.api<{ steps: RunStepDto[] }>('GET', `/api/task-runs/${run.id}/steps`, viewer);
          expect(r.status, r.text).to.equal(200);
          return r.body.steps;
        };
        expect(await steps()).to.deep.equal(run.steps.map((command, index) => ({ index, command, startedAt: null, finishedAt: null, exitCode: null })));
        // what the agent's run:step reports do (hub/realtime/agentGateway.ts)
        await h.hub.runs.step(w, run.id, 1, { index: 0, phase: 'start' });
        await h.hub.runs.step(w, run.id, 1, { index: 0, phase: 'end', exitCode: 0 });
        await h.hub.runs.step(w, run.id, 1, { index: 1, phase: 'start' });
        await h.hub.runs.step(w, run.id, 1, { index: 1, phase: 'end', exitCode: 2 });
        const [build, test, deploy] = await steps();
        expect(build).to.include({ index: 0, command: 'make build', exitCode: 0 });
        expect(Date.parse(build!.finishedAt!)).to.be.at.least(Date.parse(build!.startedAt!));
        expect(test).to.include({ index: 1, command: 'make test', exitCode: 2 });
        expect(test!.startedAt).to.be.a('string');
        expect(deploy).to.deep.equal({ index: 2, command: 'make deploy', startedAt: null, finishedAt: null, exitCode: null });
        // a running step has a start and no end yet
        await h.hub.runs.step(w, run.id, 1, { index: 2, phase: 'start' });
        expect((await steps())[2]).to.include({ finishedAt: null, exitCode: null }).and.to.have.property('startedAt').that.is.a('string');
      });

      it('a live layer that cannot start reports error; the run still completes', async () => {
        const w = 'w-error';
        const run = await claimed(w);
        expect((await report(w, run.id, { status: 'starting' })).status).to.equal(200);
        const e = await report(w, run.id, { status: 'error', errorMessage: 'node-pty failed to spawn' });
        expect(e.status).to.equal(200);
        expect(e.body.session).to.include({ status: 'error', errorMessage: 'node-pty failed to spawn' });
        const done = await h.api<RunBody>('POST', `/api/task-runs/${run.id}/complete`, h.workerToken(w), { workerId: w, attempt: 1, status: 'failed', exitCode: 2 });
        expect(done.body.taskRun).to.include({ status: 'failed', exitCode: 2 });
        expect(done.body.taskRun.liveSession?.status).to.equal('error'); // a terminal state never changes
        const err = (await events(run.id)).find((x) => x.action === 'session_error');
        expect(err?.metadata).to.include({ workerId: w, errorMessage: 'node-pty failed to spawn' });
      });
    });

    describe('live session', () => {
      it('enabling is idempotent: same session id, one create_session event', async () => {
        const run = await create({ steps: ['echo'], liveSession: false });
        const a = await h.api<SessionBody>('POST', `/api/task-runs/${run.id}/live-session`, operator);
        const b = await h.api<SessionBody>('POST', `/api/task-runs/${run.id}/live-session`, operator);
        expect([a.status, b.status]).to.deep.equal([200, 200]);
        expect(a.body.session.status).to.equal('disabled');
        expect(b.body.session.id).to.equal(a.body.session.id);
        const g = await h.api<SessionBody>('GET', `/api/task-runs/${run.id}/live-session`, viewer);
        expect(g.body.session.id).to.equal(a.body.session.id);
        const creates = (await events(run.id)).filter((e) => e.action === 'create_session');
        expect(creates).to.have.length(1);
        expect(creates[0]?.actorUserId).to.equal('olga');
        expect(creates[0]?.metadata['sessionId']).to.equal(a.body.session.id);
        // And on a run created with a session, enabling returns that one.
        const withSession = await create();
        const c = await h.api<SessionBody>('POST', `/api/task-runs/${withSession.id}/live-session`, operator);
        expect(c.body.session.id).to.equal(withSession.liveSession?.id);
        expect((await events(withSession.id)).filter((e) => e.action === 'create_session')).to.have.length(1);
        // Parallel enables still make one session.
        const p = await create({ steps: ['echo'], liveSession: false });
        const all = await Promise.all([1, 2, 3, 4].map(() => h.api<SessionBody>('POST', `/api/task-runs/${p.id}/live-session`, operator)));
        expect(new Set(all.map((x) => x.body.session.id)).size).to.equal(1);
        expect((await events(p.id)).filter((e) => e.action === 'create_session')).to.have.length(1);
      });

      it('enabling on a finished run is refused', async () => {
        const run = await create({ steps: ['echo'], liveSession: false });
        await h.api('POST', `/api/task-runs/${run.id}/cancel`, operator, {});
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session`, operator), 422, 'invalid_state');
        expectError(await h.api('GET', `/api/task-runs/${run.id}/live-session`, viewer), 404);
      });

      it('grant-write returns attachRw, webRw, grantToken and grantedUntil; the session never holds RW data', async () => {
        const run = await readyRun('w-grant');
        const before = Date.now();
        const g = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, { ttlMinutes: 10 });
        expect(g.status).to.equal(200);
        const { session, attachRw, webRw, grantToken, grantedUntil } = g.body;
        // the grant is never on a command line nor in a URL query: the web link has it in its fragment
        expect(attachRw).to.equal(`handoff attach ${run.id} --rw`);
        expect(webRw).to.equal(`http://hub/runs/${run.id}?rw=1#grant=${grantToken}`);
        expect(Date.parse(grantedUntil) - before).to.be.within(10 * 60_000 - 2000, 10 * 60_000 + 2000);
        expect(session.rwGrantedUntil).to.equal(grantedUntil);
        expect(session).not.to.have.property('attachRw');
        expect(session).not.to.have.property('webRw');
        const claims = h.hub.ctx.tokens.verifyGrant(grantToken);
        expect(claims).to.include({ runId: run.id, sessionId: session.id, grantee: 'olga', generation: session.rwGeneration });
        expect(claims.expiresAt).to.be.at.most(Date.parse(grantedUntil));
        const ev = (await events(run.id)).filter((e) => e.action === 'grant_rw');
        expect(ev).to.have.length(1);
        expect(ev[0]?.actorUserId).to.equal('olga');
        expect(ev[0]?.metadata).to.include({ grantee: 'olga', ttlMinutes: 10, jti: claims.jti });
        expect(JSON.stringify(ev)).not.to.contain(grantToken);
        // Default TTL is 15 minutes.
        const d = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, admin, {});
        expect(Date.parse(d.body.grantedUntil) - Date.now()).to.be.within(14 * 60_000, 15 * 60_000 + 2000);
      });

      it('a grant never outlives the session', async () => {
        const expiresAt = new Date(Date.now() + 5 * 60_000).toISOString();
        const run = await readyRun('w-grant-cap', { expiresAt });
        const g = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, { ttlMinutes: 240 });
        expect(g.status).to.equal(200);
        expect(g.body.grantedUntil).to.equal(expiresAt);
      });

      it('revoke-write bumps rwGeneration and clears the grant', async () => {
        const run = await readyRun('w-revoke-write');
        const g = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {});
        const gen = g.body.session.rwGeneration;
        const r = await h.api<SessionBody>('POST', `/api/task-runs/${run.id}/live-session/revoke-write`, operator, { reason: 'done typing' });
        expect(r.status).to.equal(200);
        expect(r.body.session.rwGeneration).to.equal(gen + 1);
        expect(r.body.session.rwGrantedUntil).to.equal(null);
        expect(r.body.session.status).to.equal('ready');
        const claims = h.hub.ctx.tokens.verifyGrant(g.body.grantToken);
        expect(await h.hub.sessions.checkGrant(claims, run.id, { kind: 'operator', sub: 'olga', role: 'operator' })).to.deep.equal({ ok: false, reason: 'grant was revoked' });
        const ev = (await events(run.id)).find((e) => e.action === 'revoke_rw');
        expect(ev?.actorUserId).to.equal('olga');
        expect(ev?.metadata).to.include({ generation: gen + 1, reason: 'done typing' });
      });

      it('revoke (admin) ends the session: revoked, revoke_session event, no more grants or reports', async () => {
        const run = await readyRun('w-revoke');
        const r = await h.api<SessionBody>('POST', `/api/task-runs/${run.id}/live-session/revoke`, admin, { reason: 'suspicious' });
        expect(r.status).to.equal(200);
        expect(r.body.session.status).to.equal('revoked');
        expect(r.body.session.endedAt).to.be.a('string');
        const ev = (await events(run.id)).find((e) => e.action === 'revoke_session');
        expect(ev?.actorUserId).to.equal('ada');
        expect(ev?.metadata).to.include({ reason: 'suspicious', from: 'ready', to: 'revoked' });
        expectError(await h.api('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {}), 422, 'invalid_state');
        expectError(await report('w-revoke', run.id, { status: 'ready' }), 422, 'invalid_state');
        // The run itself keeps going (headless) and completes.
        expect((await getRun(run.id)).status).to.equal('running');
        const done = await h.api<RunBody>('POST', `/api/task-runs/${run.id}/complete`, h.workerToken('w-revoke'), { workerId: 'w-revoke', attempt: 1, status: 'succeeded', exitCode: 0 });
        expect(done.body.taskRun.status).to.equal('succeeded');
        expect(done.body.taskRun.liveSession?.status).to.equal('revoked');
      });
    });

    describe('controls and operator messages', () => {
      it('pause / takeover / resume update payload.liveControl; resume records the summary', async () => {
        const run = await readyRun('w-control');
        const path = `/api/task-runs/${run.id}/control`;
        const p = await h.api<RunBody>('POST', path, operator, { action: 'pause' });
        expect(p.status).to.equal(200);
        expect(p.body.taskRun.payload.liveControl).to.include({ paused: true, takeover: false, mode: 'soft', lastAction: 'pause' });
        expect(p.body.taskRun.payload.liveControl?.updatedAt).to.be.a('string');
        const t = await h.api<RunBody>('POST', path, operator, { action: 'takeover', mode: 'hard' });
        expect(t.body.taskRun.payload.liveControl).to.include({ paused: true, takeover: true, mode: 'hard', lastAction: 'takeover' });
        const r = await h.api<RunBody>('POST', path, operator, { action: 'resume', summary: 'fixed the lockfile; carry on' });
        expect(r.body.taskRun.payload.liveControl).to.include({ paused: false, takeover: false, lastAction: 'resume' });
        expect((await getRun(run.id)).payload.liveControl).to.deep.equal(r.body.taskRun.payload.liveControl);
        const evs = (await events(run.id)).filter((e) => ['pause', 'takeover', 'resume'].includes(e.action));
        expect(evs.map((e) => e.action)).to.deep.equal(['pause', 'takeover', 'resume']);
        for (const e of evs) expect(e.actorUserId).to.equal('olga');
        expect(evs[1]?.metadata['mode']).to.equal('hard');
        expect(evs[2]?.metadata['summary']).to.equal('fixed the lockfile; carry on');
        // Cancel while paused still ends the run.
        await h.api('POST', path, operator, { action: 'pause' });
        const c = await h.api<RunBody>('POST', `/api/task-runs/${run.id}/cancel`, operator, {});
        expect(c.body.taskRun.status).to.equal('cancelled');
      });

      it('an operator message is 201 and persisted as send_message', async () => {
        const run = await create();
        const text = 'please use the staging database — ünïcode ok';
        const r = await h.api<{ event: ControlEventDto }>('POST', `/api/task-runs/${run.id}/operator-messages`, operator, { message: text });
        expect(r.status).to.equal(201);
        expect(r.body.event).to.include({ taskRunId: run.id, action: 'send_message', actorUserId: 'olga' });
        expect(r.body.event.metadata['message']).to.equal(text);
        const stored = (await events(run.id)).filter((e) => e.action === 'send_message');
        expect(stored).to.deep.equal([r.body.event]);
      });
    });

    describe('recording', () => {
      const cast = (events: string[]) => `${JSON.stringify({ version: 2, width: 80, height: 24 })}\n${events.map((e) => `${e}\n`).join('')}`;
      const getRecording = async (runId: string) => {
        const res = await h.api('GET', `/api/task-runs/${runId}/recording`, viewer);
        return { status: res.status, type: res.contentType ?? '', text: res.text };
      };
      const eventLines = (text: string) => text.split('\n').filter(Boolean).slice(1);

      it('404 not_found before any; the owning worker PUTs one; GET serves its events after the hub header', async () => {
        const w = 'w-rec';
        const run = await claimed(w);
        expectError(await h.api('GET', `/api/task-runs/${run.id}/recording`, viewer), 404, 'not_found');
        expect((await h.api('HEAD', `/api/task-runs/${run.id}/recording`, viewer)).status).to.equal(404);
        const events = ['[0.1, "o", "hello \\u00e9\\r\\n"]', `[0.2, "o", "${randomBytes(8).toString('hex')}"]`, '[0.3, "m", "step 1"]'];
        const body = cast(events);
        const put = await putRecording(h.workerToken(w), run.id, body);
        expect(put.status, put.text).to.equal(200);
        expect(put.body).to.deep.equal({ bytes: Buffer.byteLength(body), outputBytes: Buffer.byteLength('hello é\r\n') + 16, kept: 'upload' });
        const get = await getRecording(run.id);
        expect(get.status).to.equal(200);
        expect(get.type).to.contain('application/x-asciicast');
        expect(JSON.parse(get.text.split('\n')[0] as string)).to.include({ version: 2 });
        expect(eventLines(get.text)).to.deep.equal(events);
        // HEAD says whether it is there, with GET's type and no body
        const head = await h.api('HEAD', `/api/task-runs/${run.id}/recording`, viewer);
        expect([head.status, head.contentType, head.text]).to.deep.equal([200, get.type, '']);
        // Without a token: 401.
        expect((await h.api('GET', `/api/task-runs/${run.id}/recording`, null)).status).to.equal(401);
      });

      it('refuses a wrong type, a file that is not asciicast v2, and a shorter recording; each leaves the recording as it was', async () => {
        const w = 'w-rec2';
        const run = await claimed(w);
        const long = cast(['[0.1, "o", "0123456789"]', '[0.2, "o", "abcdef"]']);
        expect((await putRecording(h.workerToken(w), run.id, long)).status).to.equal(200);
        const before = await getRecording(run.id);

        expectError(await h.api('PUT', `/api/task-runs/${run.id}/recording?attempt=1`, h.workerToken(w), '{}', { 'content-type': 'application/json' }), 415, 'unsupported_media_type');
        expectError(await putRecording(h.workerToken(w), run.id, 'hello\n'), 422, 'invalid_payload');
        expectError(await putRecording(h.workerToken(w), run.id, `${cast(['[0.1, "o", "x"]'])}not json\n`), 422, 'invalid_payload');
        const shorter = await putRecording(h.workerToken(w), run.id, cast(['[0.1, "o", "0123"]']));
        expect(shorter.status).to.equal(200);
        expect(shorter.body).to.include({ kept: 'existing', outputBytes: 16 });
        expect((await getRecording(run.id)).text).to.equal(before.text);
        // Another worker may not upload at all.
        expectError(await putRecording(h.workerToken('w-other'), run.id, long), 409, 'stale_attempt');
      });

      it('keeps parts zstd-compressed in a column the store does not compress again; a text part from before is served in order with them', async () => {
        const w = 'w-rec3';
        const run = await claimed(w);
        const lines = Array.from({ length: 200 }, (_, i) => `[${(i / 100).toFixed(2)}, "o", "\\u001b[32mPASS\\u001b[0m test ${i % 7} ${'.'.repeat(60)}\\r\\n"]`);
        const body = cast(lines);
        expect((await putRecording(h.workerToken(w), run.id, body)).status).to.equal(200);
        const parts = await db<{ events: string | null; packed: number }>(`select events, octet_length(events_zstd) as packed from task_run_recording_part where task_run_id = '${run.id}'`);
        expect(parts).to.have.length(1);
        expect(parts[0]?.events, 'no text copy').to.equal(null);
        // repetitive test-runner output packs to a small fraction of its text
        expect(Number(parts[0]?.packed)).to.be.greaterThan(0).and.below(Buffer.byteLength(body) / 10);
        const [storage] = await db<{ attstorage: string }>(`select attstorage from pg_attribute where attrelid = 'task_run_recording_part'::regclass and attname = 'events_zstd'`);
        expect(storage?.attstorage, 'external: never compressed again by the store').to.equal('e');
        // A part written as text, as every hub wrote them before compression: served after the others.
        await db(`insert into task_run_recording_part (task_run_id, source, output_bytes, events, created_at) values ('${run.id}', 'upload', 1, '[9.5, "o", "z"]' || chr(10), now())`);
        expect(eventLines((await getRecording(run.id)).text)).to.deep.equal([...lines, '[9.5, "o", "z"]']);
      });
    });

    function putRecording(token: string, runId: string, body: string) {
      return h.api<{ bytes: number; outputBytes: number; kept: string }>('PUT', `/api/task-runs/${runId}/recording?attempt=1`, token, body, { 'content-type': 'application/x-asciicast' });
    }

    describe('RW attach data stays secret', () => {
      it('never appears in GET answers, lists, events or logs; the row holds only ciphertext; grant-write reveals it', async () => {
        const w = 'w-secret';
        const secret = `SECRET-RW-${randomBytes(12).toString('hex')}`;
        const webSecret = `https://hub.example/rw/WEBSECRET-${randomBytes(12).toString('hex')}`;
        const run = await claimed(w);
        expect((await report(w, run.id, { status: 'starting' })).status).to.equal(200);
        const rep = await report(w, run.id, { status: 'ready', attachRo: 'ro-command', attachRw: secret, webRo: 'https://hub.example/ro', webRw: webSecret });
        expect(rep.status).to.equal(200);
        expect(rep.text).not.to.contain(secret);
        expect(rep.text).not.to.contain('WEBSECRET');

        const grant = await h.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, operator, {});
        expect(grant.status).to.equal(200);
        expect(grant.body.attachRw).to.equal(secret);
        expect(grant.body.webRw).to.equal(`${webSecret}#grant=${grant.body.grantToken}`);
        const grantToken = grant.body.grantToken;
        expect(JSON.stringify(grant.body.session)).not.to.contain(secret);

        await h.api('POST', `/api/task-runs/${run.id}/live-session/heartbeat`, h.workerToken(w), { workerId: w, attempt: 1 });
        await h.api('POST', `/api/task-runs/${run.id}/operator-messages`, operator, { message: 'hello' });
        const reads = [
          await h.api('GET', `/api/task-runs/${run.id}`, viewer),
          await h.api('GET', `/api/task-runs/${run.id}/live-session`, viewer),
          await h.api('GET', '/api/task-runs?limit=500', viewer),
          await h.api('GET', '/api/task-runs?status=running&limit=500', admin),
          await h.api('GET', `/api/task-runs/${run.id}/events`, admin),
          await h.api('POST', `/api/task-runs/${run.id}/live-session`, operator),
          await h.api('POST', `/api/task-runs/${run.id}/control`, operator, { action: 'pause' }),
          await h.api('POST', `/api/task-runs/${run.id}/live-session/revoke-write`, operator, {}),
        ];
        for (const r of reads) {
          expect(r.status).to.be.oneOf([200, 201]);
          expect(r.text).not.to.contain(secret);
          expect(r.text).not.to.contain('WEBSECRET');
          expect(r.text).not.to.contain(grantToken);
          expect(r.text).not.to.match(/attachRw|webRw/);
        }

        // The row as the database holds it.
        const rows = await db<{ attach_rw_encrypted: string; web_rw_encrypted: string; attach_ro: string }>(
          `select attach_rw_encrypted, web_rw_encrypted, attach_ro from task_run_live_session where task_run_id = '${run.id}'`,
        );
        expect(rows).to.have.length(1);
        const row = rows[0]!;
        expect(row.attach_ro).to.equal('ro-command');
        expect(row.attach_rw_encrypted).to.be.a('string').and.not.equal(secret);
        expect(row.attach_rw_encrypted).not.to.contain(secret);
        expect(row.attach_rw_encrypted).not.to.contain('SECRET-RW');
        expect(row.attach_rw_encrypted).not.to.contain(Buffer.from(secret).toString('base64'));
        expect(row.attach_rw_encrypted).not.to.contain(Buffer.from(secret).toString('hex'));
        expect(row.web_rw_encrypted).to.be.a('string').and.not.to.contain('WEBSECRET');
        expect(h.hub.ctx.sealedBox.open(row.attach_rw_encrypted)).to.equal(secret);
        // Nowhere else in the database either.
        const dump = await db<{ t: string }>(
          `select row_to_json(x)::text as t from task_run x union all select row_to_json(y)::text from task_run_live_session y union all select row_to_json(z)::text from task_run_control_event z`,
        );
        expect(dump.length).to.be.greaterThan(3);
        for (const { t } of dump) {
          expect(t).not.to.contain(secret);
          expect(t).not.to.contain('WEBSECRET');
          expect(t).not.to.contain(grantToken);
        }
        if (h.databaseUrl) {
          // The same seen from a plain pg connection on the PostgreSQL server.
          const [plain] = await sql<{ attach_rw_encrypted: string }>(h.databaseUrl, 'select attach_rw_encrypted from task_run_live_session where task_run_id = $1', [run.id]);
          expect(plain?.attach_rw_encrypted).to.equal(row.attach_rw_encrypted);
        }

        // The logs (debug level) hold none of it.
        const logs = h.logs.join('');
        expect(h.logs.length).to.be.greaterThan(0);
        expect(logs).not.to.contain(secret);
        expect(logs).not.to.contain('WEBSECRET');
        expect(logs).not.to.contain(grantToken);
        expect(logs).not.to.contain(grantToken.split('.')[2] as string);
        expect(logs).not.to.contain(operator);
      });
    });

    describe('the audit trail is append-only', () => {
      it('the database refuses UPDATE, DELETE and TRUNCATE on task_run_control_event', async () => {
        const run = await create();
        const before = await events(run.id);
        expect(before.length).to.be.greaterThan(0);
        const attempts = [
          `update task_run_control_event set action = 'forged', actor_user_id = 'mallory' where task_run_id = '${run.id}'`,
          `update task_run_control_event set metadata_json = '{}'::jsonb`,
          `delete from task_run_control_event where task_run_id = '${run.id}'`,
          `delete from task_run_control_event`,
          `truncate task_run_control_event`,
        ];
        for (const text of attempts) {
          let refused: unknown = null;
          try {
            await db(text);
          } catch (err) {
            refused = err;
          }
          expect(refused, text).to.be.instanceOf(Error);
          expect(String((refused as Error).message), text).to.contain('append-only');
        }
        if (h.databaseUrl) {
          let refused = false;
          await sql(h.databaseUrl, `delete from task_run_control_event where task_run_id = $1`, [run.id]).catch(() => (refused = true));
          expect(refused).to.equal(true);
        }
        expect(await events(run.id)).to.deep.equal(before);
      });
    });

    describe('operator sessions (admin)', () => {
      type Sessions = { sessions: Array<{ id: string; subject: string; issuer: string; role: string; source: string; endedAt: string | null }> };
      const sidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { sid: string }).sid;

      it('every operator token carries a session; a development token registers it on first use and the admin sees it', async () => {
        const t = h.token('viewer', 'sam');
        expect(sidOf(t)).to.match(/^[0-9a-f-]{36}$/);
        expect((await h.api('GET', '/api/task-runs?limit=1', t)).status).to.equal(200);
        const list = await h.api<Sessions>('GET', '/api/operator-sessions?subject=sam', admin);
        expect(list.status, list.text).to.equal(200);
        expect(list.body.sessions.map((s) => s.id)).to.deep.equal([sidOf(t)]);
        expect(list.body.sessions[0]).to.include({ subject: 'sam', issuer: 'handoff:dev', role: 'viewer', source: 'dev', endedAt: null });
        // a token minted without a session (before sessions existed) is refused
        const legacy = (await import('jsonwebtoken')).default.sign({ role: 'admin' }, TEST_JWT_SECRET, { algorithm: 'HS256', subject: 'old', audience: 'handoff:operator', issuer: 'handoff', expiresIn: 600 });
        expectError(await h.api('GET', '/api/task-runs', legacy), 401, 'unauthorized');
      });

      it('a token naming someone else’s session is refused; many first calls of one token together register one session', async () => {
        const borrowed = h.hub.ctx.tokens.mintOperator('mallory', 'admin', 600, { sid: sidOf(admin) });
        const r = await h.api<ErrorBody>('GET', '/api/task-runs?limit=1', borrowed);
        expectError(r, 401, 'unauthorized');
        expect(r.body.error.message).to.contain('does not match');
        const t = h.token('viewer', 'crowd');
        const all = await Promise.all(Array.from({ length: 30 }, () => h.api('GET', '/api/task-runs?limit=1', t)));
        expect(all.map((x) => x.status)).to.deep.equal(Array(30).fill(200));
        expect(await db<{ n: number }>(`select count(*)::int as n from operator_session where subject = 'crowd'`)).to.deep.equal([{ n: 1 }]);
      });

      it('an operator may neither list nor end sessions', async () => {
        expectError(await h.api('GET', '/api/operator-sessions', operator), 403, 'forbidden');
        expectError(await h.api('POST', '/api/operator-sessions/end', operator, { subject: 'ada' }), 403, 'forbidden');
        expectError(await h.api('POST', `/api/operator-sessions/${sidOf(admin)}/end`, operator, {}), 403, 'forbidden');
      });

      it("ending one session refuses its tokens at once (401); the person's other sessions go on; ending all of a person's ends every one", async () => {
        const a = h.token('operator', 'paul');
        const b = h.token('operator', 'paul');
        for (const t of [a, b]) expect((await h.api('GET', '/api/task-runs?limit=1', t)).status).to.equal(200);
        const one = await h.api<{ session: { id: string; endedAt: string | null; endedBy: string | null } }>('POST', `/api/operator-sessions/${sidOf(a)}/end`, admin, {});
        expect(one.status, one.text).to.equal(200);
        expect(one.body.session.id).to.equal(sidOf(a));
        expect(one.body.session.endedAt).to.be.a('string');
        expect(one.body.session.endedBy).to.equal('handoff:dev ada');
        const refused = await h.api<ErrorBody>('GET', '/api/task-runs?limit=1', a);
        expectError(refused, 401, 'unauthorized');
        expect(refused.body.error.message).to.contain('session ended');
        expect((await h.api('GET', '/api/task-runs?limit=1', b)).status).to.equal(200);
        // ending an ended session answers it as it is
        expect((await h.api('POST', `/api/operator-sessions/${sidOf(a)}/end`, admin, {})).status).to.equal(200);
        const all = await h.api<{ ended: Array<{ id: string }> }>('POST', '/api/operator-sessions/end', admin, { subject: 'paul' });
        expect(all.status, all.text).to.equal(200);
        expect(all.body.ended.map((s) => s.id)).to.deep.equal([sidOf(b)]);
        expectError(await h.api('GET', '/api/task-runs?limit=1', b), 401, 'unauthorized');
        expect((await h.api<Sessions>('GET', '/api/operator-sessions?subject=paul', admin)).body.sessions).to.deep.equal([]);
        expectError(await h.api('POST', `/api/operator-sessions/${randomUUID()}/end`, admin, {}), 404, 'not_found');
        expectError(await h.api('POST', '/api/operator-sessions/not-a-uuid/end', admin, {}), 404, 'not_found');
        expectError(await h.api('POST', '/api/operator-sessions/end', admin, {}), 422, 'invalid_payload');
      });

      it('without an identity provider: /auth/methods says development sign-in; /auth/logout ends the caller’s own session', async () => {
        const m = await h.api<{ oidc: boolean; development: boolean }>('GET', '/auth/methods', null);
        expect(m.status).to.equal(200);
        expect(m.body).to.deep.equal({ oidc: false, development: true });
        expectError(await h.api('GET', '/auth/login', null), 404, 'not_found');
        const t = h.token('operator', 'leo');
        const out = await h.api<{ ended: boolean; endSessionUrl: string | null }>('POST', '/auth/logout', t);
        expect(out.status, out.text).to.equal(200);
        expect(out.body).to.deep.equal({ ended: true, endSessionUrl: null });
        expectError(await h.api('GET', '/api/task-runs?limit=1', t), 401, 'unauthorized');
        expectError(await h.api('POST', '/auth/logout', t), 401, 'unauthorized');
      });

      it('a session that expired is refused even if the token says otherwise', async () => {
        const t = h.token('viewer', 'eve');
        expect((await h.api('GET', '/api/task-runs?limit=1', t)).status).to.equal(200);
        await db(`update operator_session set expires_at = now() - interval '1 second' where id = '${sidOf(t)}'`);
        // refused once the short cache of active sessions (5 s) is re-read
        const r = await waitUntil('the expired session to be refused', async () => {
          const x = await h.api<ErrorBody>('GET', '/api/task-runs?limit=1', t);
          return x.status === 401 ? x : undefined;
        }, 8000, 200);
        expectError(r, 401, 'unauthorized');
        expect(r.body.error.message).to.contain('session expired');
      });
    });

    describe('health, metrics, OpenAPI', () => {
      it('/healthz and /readyz answer without a token', async () => {
        const hz = await h.api<{ status: string }>('GET', '/healthz', null);
        expect(hz.status).to.equal(200);
        expect(hz.body.status).to.equal('ok');
        const rz = await h.api<{ status: string }>('GET', '/readyz', null);
        expect(rz.status).to.equal(200);
        expect(rz.body.status).to.equal('ready');
      });

      it('/metrics is Prometheus text with handoff_ metrics', async () => {
        await h.api('GET', '/api/task-runs', viewer);
        const res = await h.api('GET', '/metrics', null);
        expect(res.status).to.equal(200);
        expect(res.contentType).to.contain('text/plain');
        const text = res.text;
        expect(text).to.match(/^# HELP handoff_/m);
        expect(text).to.match(/^# TYPE handoff_http_requests_total counter$/m);
        expect(text).to.match(/^handoff_http_requests_total\{[^}]*route="\/api\/task-runs"[^}]*status="200"[^}]*\} \d+/m);
        expect(text).to.contain('handoff_http_request_duration_seconds_bucket');
        expect(text).to.contain('handoff_sweeper_leader');
        expect(text).to.contain('handoff_agents_connected');
        expect(text).to.contain('handoff_viewers_connected');
      });

      it('/api/openapi.json passes a third-party OpenAPI 3.1 validator; every operation has a unique operationId and a tag', async () => {
        const r = await h.api<Record<string, unknown>>('GET', '/api/openapi.json', null);
        const validator = new Validator();
        const verdict = await validator.validate(r.body);
        expect(verdict.errors ?? [], JSON.stringify(verdict.errors)).to.deep.equal([]);
        expect(verdict.valid).to.equal(true);
        expect(validator.version).to.equal('3.1');
        const ops = Object.values(h.contract.doc.paths).flatMap((byMethod) => Object.values(byMethod)) as Array<{ operationId?: string; tags?: string[] }>;
        expect(ops).to.have.length(API_ROUTES.length + PUBLIC_ROUTES.length);
        const ids = ops.map((o) => o.operationId);
        expect(ids.every((id) => typeof id === 'string' && id.length > 0), JSON.stringify(ids)).to.equal(true);
        expect(new Set(ids).size).to.equal(ids.length);
        const tags = new Set((r.body['tags'] as Array<{ name: string }>).map((t) => t.name));
        for (const o of ops) expect(o.tags?.length && o.tags.every((t) => tags.has(t)), o.operationId).to.equal(true);
      });

      it('/api/openapi.json is OpenAPI 3.1.0 and lists exactly the routes the server answers', async () => {
        const r = await h.api<{ openapi: string; paths: Record<string, Record<string, unknown>>; components: { securitySchemes: Record<string, unknown> } }>('GET', '/api/openapi.json', null);
        expect(r.status).to.equal(200);
        expect(r.body.openapi).to.equal('3.1.0');
        const documented = Object.entries(r.body.paths)
          .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
          .sort();
        const expected = [...API_ROUTES, ...PUBLIC_ROUTES].map((x) => `${x.method} ${x.path}`).sort();
        expect(documented).to.deep.equal(expected);
        expect(Object.keys(r.body.paths).sort()).to.deep.equal([...new Set(expected.map((x) => x.split(' ')[1]))].sort());
        expect(r.body.components.securitySchemes).to.have.keys(['operator', 'worker']);

        // The routes the Express app actually registers are the same list.
        const app = createApp({
          orm: h.hub.database.orm,
          tokens: h.hub.ctx.tokens,
          operatorAuth: h.hub.operatorAuth,
          runs: h.hub.runs,
          sessions: h.hub.sessions,
          recordings: new RecordingStore(h.hub.database.orm),
          metrics: new HubMetrics(),
          log: h.hub.log,
          publicUrl: undefined,
        });
        expect(routesOf(app)).to.deep.equal(expected);

        // And each documented operation answers (401 / 200), never the catch-all 404.
        const id = randomUUID();
        for (const x of expected) {
          const [method, path] = x.split(' ') as [string, string];
          const res = await h.api(method, at(path, id), null, method === 'GET' ? undefined : {});
          expect(res.status, x).to.be.oneOf([200, 401]);
        }
      });
    });

    describe('every answer above matched the OpenAPI document', () => {
      it('each operation was answered with its success status at least once, and checked', () => {
        const seen = [...h.contract.checked.keys()];
        for (const [path, byMethod] of Object.entries(h.contract.doc.paths)) {
          for (const [method, op] of Object.entries(byMethod)) {
            const ok = Object.keys(op.responses).filter((st) => /^2/.test(st));
            const hit = seen.some((k) => ok.some((st) => k === `${method.toUpperCase()} ${path} ${st}`));
            expect(hit, `${method.toUpperCase()} ${path} (${op.operationId}) answered ${ok.join('/')}`).to.equal(true);
          }
        }
      });
    });
  });
}
