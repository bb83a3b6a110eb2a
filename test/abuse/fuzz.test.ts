/**
 * Abuse (issue #8): a generated corpus of malformed, oversized and out-of-order inputs, seeded
 * (HANDOFF_FUZZ_SEED to replay; the seed is printed), thrown in random order at a real hub
 * process on a PostgreSQL test database with a real agent running a run:
 *  - every REST endpoint (valid tokens of the right kind, mostly, so bodies get parsed): random
 *    JSON values, wrong types, huge strings, deep nesting, invalid JSON, binary bodies, odd
 *    content types, garbage path parameters and query strings;
 *  - every socket event of both namespaces (agent events with a valid worker token, viewer
 *    events with a valid operator token), plus unknown events, via socket.io-client;
 *  - raw WebSocket frames that are not valid Engine.IO / Socket.IO packets at all.
 * Each input is answered with an error (REST 4xx with the JSON error shape, never 5xx; socket
 * error acks — never `internal` — or silence; a well-formed packet never costs the socket its
 * connection), the hub stays up (healthz 200) with bounded memory (RSS growth < 150 MB), and
 * nothing is persisted half-way (runs only from valid bodies; the target run's audit trail
 * untouched).
 */
import { PUBLIC_FRAME_LIMIT } from '../../hub/realtime/frameLimits.ts';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { AGENT_NAMESPACE, VIEWER_NAMESPACE } from '../../common/protocol.ts';
import { createRunBody } from '../../hub/domain/commands.ts';
import { Fuzz } from '../support/fuzz.ts';
import { assertLifecycleIntegrity } from '../support/integrity.ts';
import type { AgentProcess } from '../support/processes.ts';
import {
  connectSocket,
  createRunAt,
  eventsAt,
  operatorToken,
  removeDir,
  rest,
  spawnAgent,
  waitRunAt,
  waitSessionAt,
  workerToken,
} from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { sleep, waitUntil } from '../support/wait.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { createTestDatabase, sql } from '../support/testDatabase.ts';

const SEED = Number(process.env.HANDOFF_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const INPUTS = Number(process.env.HANDOFF_FUZZ_INPUTS ?? 3000);
const TIME_BUDGET_MS = Number(process.env.HANDOFF_FUZZ_BUDGET_MS ?? 45_000);
const CONCURRENCY = 6;

type TokenKind = 'viewer' | 'operator' | 'admin' | 'worker';
interface Endpoint {
  method: string;
  path: (id: string) => string;
  token: TokenKind;
  /** Changes state when it succeeds (a 2xx must then come from a valid body). */
  mutating: boolean;
  hasBody: boolean;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: () => '/api/task-runs', token: 'operator', mutating: true, hasBody: true },
  { method: 'GET', path: () => '/api/task-runs', token: 'viewer', mutating: false, hasBody: false },
  { method: 'GET', path: (id) => `/api/task-runs/${id}`, token: 'viewer', mutating: false, hasBody: false },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/cancel`, token: 'operator', mutating: true, hasBody: true },
  { method: 'GET', path: (id) => `/api/task-runs/${id}/events`, token: 'viewer', mutating: false, hasBody: false },
  { method: 'GET', path: (id) => `/api/task-runs/${id}/recording`, token: 'viewer', mutating: false, hasBody: false },
  { method: 'PUT', path: (id) => `/api/task-runs/${id}/recording`, token: 'worker', mutating: true, hasBody: true },
  { method: 'POST', path: () => '/api/task-runs/claim', token: 'worker', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/complete`, token: 'worker', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/control`, token: 'operator', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/operator-messages`, token: 'operator', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/live-session`, token: 'operator', mutating: false, hasBody: true },
  { method: 'GET', path: (id) => `/api/task-runs/${id}/live-session`, token: 'viewer', mutating: false, hasBody: false },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/live-session/grant-write`, token: 'operator', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/live-session/revoke-write`, token: 'operator', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/live-session/revoke`, token: 'admin', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/live-session/report`, token: 'worker', mutating: true, hasBody: true },
  { method: 'POST', path: (id) => `/api/task-runs/${id}/live-session/heartbeat`, token: 'worker', mutating: true, hasBody: true },
  { method: 'GET', path: () => '/healthz', token: 'viewer', mutating: false, hasBody: false },
  { method: 'GET', path: () => '/readyz', token: 'viewer', mutating: false, hasBody: false },
  { method: 'GET', path: () => '/api/openapi.json', token: 'viewer', mutating: false, hasBody: false },
  { method: 'DELETE', path: (id) => `/api/task-runs/${id}`, token: 'admin', mutating: true, hasBody: true },
  { method: 'PATCH', path: (id) => `/api/task-runs/${id}/nope`, token: 'admin', mutating: true, hasBody: true },
];

const AGENT_EVENTS = ['agent:hello', 'run:claim', 'session:report', 'run:heartbeat', 'pane:open', 'pane:resize', 'pane:output', 'control:applied', 'run:complete', 'run:release'];
const VIEWER_EVENTS = ['run:join', 'run:leave', 'runs:watch', 'pane:input', 'pane:resize', 'pane:resync'];

/** A query-string value of anything (well-formed UTF-16, so it can be percent-encoded). */
function asText(v: unknown): string {
  let t: string;
  try {
    t = typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
  } catch {
    t = 'x';
  }
  return t.replace(/[\ud800-\udfff]/g, '\ufffd');
}

interface Failure {
  input: number;
  what: string;
  problem: string;
}

/** About the size of an event's text frame (binary arguments travel in frames of their own). */
function encodedLength(args: unknown[]): number {
  return JSON.stringify(args.map((a) => (a instanceof Uint8Array ? 0 : a))).length;
}

describe('abuse: fuzzed REST bodies, socket events and raw frames', function () {
  this.timeout(150_000);
  let db: TestDatabase;
  let hub: HubProcess;
  let agent: AgentProcess;
  let live: { id: string };
  const sockets: Socket[] = [];
  const gate = `/tmp/handoff-fuzz-gate-${randomBytes(6).toString('hex')}`;

  before(async function () {
    this.timeout(60_000);
    db = await createTestDatabase();
    hub = await startTestHub('postgres', { process: true, databaseUrl: db.url, env: { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '30', HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '1' } });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-real', env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '1' } });
    // a live run on the real agent (viewers join it; its output flows during the fuzz)
    live = await createRunAt(hub.url, [`i=0; while [ ! -e ${gate} ] && [ $i -lt 3000 ]; do i=$((i+1)); echo "tick $i"; sleep 0.05; done`]);
    await waitRunAt(hub.url, live.id, ['running'], 30_000);
    await waitSessionAt(hub.url, live.id, ['ready']);
    // the agent's own news of the run (its step began) is on the timeline before anything is counted
    await waitUntil('the live run\'s step_started', async () => ((await eventsAt(hub.url, live.id)).some((e) => e.action === 'step_started') ? true : undefined), 15_000);
  });

  it('refuses text PostgreSQL cannot store (NUL, lone surrogates) with 422 / invalid_payload, never 500', async () => {
    const [{ n: runsBefore }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run')) as [{ n: string }];
    const [{ n: eventsBefore }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run_control_event where task_run_id = $1', [live.id])) as [{ n: string }];
    for (const bad of ['a\u0000b', '\ud800', 'x\udfffy']) {
      const calls: Array<[string, string, string, unknown]> = [
        ['POST', '/api/task-runs', operatorToken(), { steps: [bad] }],
        ['POST', '/api/task-runs', operatorToken(), { steps: ['echo ok'], cwd: bad }],
        ['POST', `/api/task-runs/${live.id}/operator-messages`, operatorToken(), { message: bad }],
        ['POST', `/api/task-runs/${live.id}/control`, operatorToken(), { action: 'resume', summary: bad }],
        ['POST', `/api/task-runs/${live.id}/cancel`, operatorToken(), { reason: bad }],
        ['POST', `/api/task-runs/${live.id}/live-session/revoke-write`, operatorToken(), { reason: bad }],
        ['POST', `/api/task-runs/${live.id}/live-session/revoke`, operatorToken('admin'), { reason: bad }],
        ['POST', `/api/task-runs/${live.id}/live-session/report`, workerToken('w-real'), { workerId: 'w-real', attempt: 1, status: 'ready', errorMessage: bad }],
      ];
      for (const [method, path, token, body] of calls) {
        const r = await rest<{ error?: { code: string } }>(hub.url, method, path, token, body);
        expect([r.status, r.body?.error?.code], `${method} ${path} with ${JSON.stringify(bad)}: ${r.text}`).to.deep.equal([422, 'invalid_payload']);
      }
    }
    // the socket side: a worker's session report and hand-back reason
    const sock = await connectSocket(hub.url, AGENT_NAMESPACE, { token: workerToken('w-nul') });
    sockets.push(sock);
    const hello = (await sock.timeout(10_000).emitWithAck('agent:hello', { protocol: 2, workerId: 'w-nul', hostname: 'host\u0000name', capacity: Number.NaN, runs: [] })) as { ok: boolean };
    expect(hello.ok).to.equal(true);
    const parked = await createRunAt(hub.url, ['echo parked'], { liveSession: true });
    const claim = (await sock.timeout(10_000).emitWithAck('run:claim')) as { ok: boolean; data?: { taskRun: { id: string } | null } };
    expect(claim.data?.taskRun?.id, 'w-nul claims the parked run').to.equal(parked.id);
    for (const bad of ['a\u0000b', '\ud800']) {
      const rep = (await sock.timeout(10_000).emitWithAck('session:report', { runId: parked.id, attempt: 1, status: 'error', errorMessage: bad })) as { ok: boolean; error?: { code: string } };
      expect(rep.error?.code, `session:report with ${JSON.stringify(bad)}`).to.equal('invalid_payload');
    }
    const wrongType = (await sock.timeout(10_000).emitWithAck('session:report', { runId: parked.id, attempt: 1, status: 'starting', attachRo: { a: 1 } })) as { ok: boolean; error?: { code: string } };
    expect(wrongType.error?.code, 'session:report with an object for a text').to.equal('invalid_payload');
    const good = (await sock.timeout(10_000).emitWithAck('session:report', { runId: parked.id, attempt: 1, status: 'starting' })) as { ok: boolean; data?: { session: { workerHostname: string } } };
    expect(good.ok, 'a good report after the bad ones').to.equal(true);
    expect(good.data?.session.workerHostname).to.equal('host\ufffdname');
    const done = (await sock.timeout(10_000).emitWithAck('run:complete', { runId: parked.id, attempt: 1, status: 'succeeded', exitCode: 0 })) as { ok: boolean };
    expect(done.ok).to.equal(true);
    sock.close();

    const [{ n: runsAfter }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run')) as [{ n: string }];
    expect(Number(runsAfter), 'only the parked run was created').to.equal(Number(runsBefore) + 1);
    const [{ n: eventsAfter }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run_control_event where task_run_id = $1', [live.id])) as [{ n: string }];
    expect(Number(eventsAfter), 'nothing recorded on the live run').to.equal(Number(eventsBefore));
    expect((await rest<{ taskRun: { status: string } }>(hub.url, 'GET', `/api/task-runs/${live.id}`, operatorToken('viewer'))).body.taskRun.status).to.equal('running');
  });

  after(async function () {
    this.timeout(30_000);
    for (const s of sockets) s.close();
    await agent?.stop('SIGTERM', 10_000);
    await hub?.close();
    removeDir(agent?.dataDir);
    removeDir(gate);
    await db?.drop();
  });

  it(`answers every hostile input with an error and stays up (seed ${SEED})`, async () => {
    process.stdout.write(`      fuzz seed ${SEED} (replay with HANDOFF_FUZZ_SEED=${SEED})\n`);
    // a finished run: the REST target of every mutating call (valid bodies then meet invalid_state)
    const dead = await createRunAt(hub.url, ['echo dead'], { liveSession: true });
    const cancel = await rest(hub.url, 'POST', `/api/task-runs/${dead.id}/cancel`, operatorToken(), {});
    expect(cancel.status).to.equal(200);
    // a run the fuzzing worker owns (so its events reach the owned-run code paths)
    const owned = await createRunAt(hub.url, ['echo owned'], { liveSession: true });
    const fuzzAgent = await connectSocket(hub.url, AGENT_NAMESPACE, { token: workerToken('w-fuzz') });
    sockets.push(fuzzAgent);
    const claim = (await fuzzAgent.timeout(10_000).emitWithAck('run:claim')) as { ok: boolean; data?: { taskRun: { id: string } | null } };
    expect(claim.ok && claim.data?.taskRun?.id, 'the fuzzing worker owns a run').to.equal(owned.id);

    const [{ n: runsBefore }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run')) as [{ n: string }];
    const [{ n: deadEventsBefore }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run_control_event where task_run_id = $1', [dead.id])) as [{ n: string }];
    const rssBefore = hub.rss();

    const viewerSockets = [await connectSocket(hub.url, VIEWER_NAMESPACE, { token: operatorToken('viewer') }), await connectSocket(hub.url, VIEWER_NAMESPACE, { token: operatorToken('operator') })];
    const agentSockets = [fuzzAgent, await connectSocket(hub.url, AGENT_NAMESPACE, { token: workerToken('w-fuzz') })];
    sockets.push(...viewerSockets, agentSockets[1] as Socket);
    // A viewer's frame over the public limit closes its connection by design (docs/protocol.md):
    // those are counted apart; any other lost connection is a defect.
    let disconnects = 0;
    let viewerDisconnects = 0;
    let overLimitViewerFrames = 0;
    for (const s of agentSockets) s.on('disconnect', () => disconnects++);
    for (const s of viewerSockets) s.on('disconnect', () => viewerDisconnects++);

    const failures: Failure[] = [];
    const pending: Array<Promise<void>> = [];
    const counts = { rest: 0, restByStatus: new Map<number, number>(), created: 0, socket: 0, acks: 0, silent: 0, raw: 0 };
    const started = Date.now();
    const idFor = (f: Fuzz, forSocket: boolean): string => {
      const r = f.rand();
      if (r < 0.3) return dead.id;
      if (r < 0.45) return forSocket ? live.id : dead.id;
      if (r < 0.55) return owned.id;
      if (r < 0.75) return f.uuid();
      const raw = f.string(40);
      if (forSocket) return raw;
      if (f.chance(0.2)) return f.pick(['%', '%zz', '%E0%A4%A', '..%2F..%2Fetc', '%00', '%C0%AF', 'a%2Fb']);
      // lone surrogates cannot be percent-encoded: send them as U+FFFD
      const wellFormed = raw.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
      return encodeURIComponent(wellFormed).slice(0, 200) || 'x';
    };
    const tokenFor = (f: Fuzz, kind: TokenKind): string | null => {
      const r = f.rand();
      if (r < 0.85) return kind === 'worker' ? workerToken(f.chance(0.5) ? 'w-fuzz' : 'w-real') : operatorToken(kind);
      if (r < 0.9) return null;
      if (r < 0.95) return f.string(100).replace(/[^\x21-\x7e]/g, '') || 'x';
      return kind === 'worker' ? operatorToken('admin') : workerToken('w-fuzz');
    };

    // --- one input: REST, socket.io event, or a raw frame
    const restInput = async (i: number, f: Fuzz) => {
      const ep = f.pick(ENDPOINTS);
      const id = idFor(f, false);
      let path = ep.path(id);
      if (f.chance(0.15)) path += `?${f.pick(['status', 'limit', 'offset', 'after', 'x', '__proto__'])}=${encodeURIComponent(asText(f.value()))}`;
      if (f.chance(0.05)) path += `&${f.pick(['status', 'limit', 'after'])}=${f.pick(['1', 'queued', '-5', '99999999999999999999', '1e400'])}`;
      const token = tokenFor(f, ep.token);
      const headers: Record<string, string> = {};
      let body: string | Uint8Array | undefined;
      let sentValue: unknown = undefined;
      let json = false;
      if (ep.hasBody || f.chance(0.1)) {
        const r = f.rand();
        if (r < 0.55) {
          sentValue = f.value();
          body = JSON.stringify(sentValue) ?? 'null';
          json = true;
          headers['content-type'] = 'application/json';
        } else if (r < 0.65) {
          body = f.pick(['{', '{"steps":', '[1,2', 'nul', '"\\ud800"', '{"a":1,}', "{'a':1}", '\u0000', '{"__proto__":{"polluted":1}}', '1e999999']);
          headers['content-type'] = 'application/json';
        } else if (r < 0.75) {
          body = f.bytes(4096);
          headers['content-type'] = f.pick(['application/json', 'application/octet-stream', 'text/plain', 'application/x-asciicast', 'multipart/form-data; boundary=x']);
        } else if (r < 0.8) {
          const depth = f.pick([1000, 10_000, 100_000]);
          body = f.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
          headers['content-type'] = 'application/json';
        } else if (r < 0.84) {
          sentValue = { steps: [f.hugeString()] };
          body = JSON.stringify(sentValue);
          json = true;
          headers['content-type'] = 'application/json';
        } else if (r < 0.9) {
          sentValue = f.value();
          body = JSON.stringify(sentValue) ?? 'null';
          json = true;
          headers['content-type'] = f.pick(['application/json; charset=utf-16', 'application/json; charset=latin1', 'application/vnd.api+json', 'text/json', 'APPLICATION/JSON']);
        } else {
          // a body that passes the schema of a create, now and then
          sentValue = f.chance(0.5) ? { steps: ['echo fuzz-created'] } : { steps: ['echo fuzz-created'], liveSession: f.chance(0.5) };
          body = JSON.stringify(sentValue);
          json = true;
          headers['content-type'] = 'application/json';
        }
        if (f.chance(0.03)) headers['content-encoding'] = f.pick(['gzip', 'br', 'bogus']);
      }
      const what = `#${i} ${ep.method} ${path.slice(0, 120)} (${headers['content-type'] ?? 'no body'}, ${body === undefined ? 0 : body.length} B)`;
      let res: { status: number; body: unknown; text: string };
      try {
        const r2 = await fetch(`${hub.url}${path}`, {
          method: ep.method,
          headers: { ...(token ? { authorization: f.chance(0.05) ? f.pick(['Basic YTpi', 'Bearer', 'Bearer  ', `bearer ${token} extra`, `Token ${token}`]) : `Bearer ${token}` } : {}), ...headers },
          body: body === undefined || ep.method === 'GET' ? undefined : (body as string | Uint8Array<ArrayBuffer>),
          signal: AbortSignal.timeout(20_000),
        });
        const text = await r2.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        res = { status: r2.status, body: parsed, text };
      } catch (err) {
        failures.push({ input: i, what, problem: `request failed: ${(err as Error).message}` });
        return;
      }
      counts.rest++;
      counts.restByStatus.set(res.status, (counts.restByStatus.get(res.status) ?? 0) + 1);
      if (res.status >= 500) return void failures.push({ input: i, what, problem: `${res.status}: ${res.text.slice(0, 300)}` });
      if (res.status >= 400) {
        const e = (res.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
        if (typeof e?.code !== 'string' || typeof e.message !== 'string') failures.push({ input: i, what, problem: `${res.status} without the JSON error shape: ${res.text.slice(0, 200)}` });
        return;
      }
      if (ep.method === 'POST' && ep.path('x') === '/api/task-runs' && res.status === 201) {
        counts.created++;
        if (!json || !createRunBody.safeParse(sentValue).success) failures.push({ input: i, what, problem: `201 for a body the schema refuses: ${String(body).slice(0, 200)}` });
      } else if (ep.mutating && !path.startsWith('/api/task-runs/claim') && !path.includes(owned.id)) {
        // the other targets are a finished run, unknown ids and garbage: nothing there may change
        failures.push({ input: i, what, problem: `${res.status} for a mutating call: ${res.text.slice(0, 200)}` });
      }
    };

    const socketInput = async (i: number, f: Fuzz) => {
      const agentSide = f.chance(0.5);
      const sock = f.pick(agentSide ? agentSockets : viewerSockets);
      if (!sock.connected) return;
      const name = f.chance(0.9) ? f.pick(agentSide ? AGENT_EVENTS : VIEWER_EVENTS) : f.pick(['', 'x', 'run:JOIN', '__proto__', 'constructor', 'hasOwnProperty', f.string(30)]);
      const nargs = f.int(6);
      const args: unknown[] = [];
      for (let k = 0; k < nargs; k++) {
        const r = f.rand();
        if (r < 0.3) args.push(idFor(f, true));
        else if (r < 0.4) args.push(f.pick(['task', 'operator', '']));
        else if (r < 0.5) args.push(f.bytes(f.chance(0.1) ? 80_000 : 300));
        else if (r < 0.53) args.push(f.hugeString());
        else if (r < 0.56) args.push(f.deep(f.pick([200, 1000])));
        else args.push(f.value(0, true));
      }
      const what = `#${i} ${agentSide ? 'agent' : 'viewer'} emit ${JSON.stringify(name)} with ${nargs} args`;
      counts.socket++;
      if (!agentSide && encodedLength(args) > PUBLIC_FRAME_LIMIT) overLimitViewerFrames++;
      const withAck = f.chance(0.6);
      try {
        if (!withAck) {
          sock.emit(name, ...args);
        } else {
          // acks are awaited together at the end: a silent event does not hold the corpus up
          pending.push(
            new Promise<void>((resolve) => {
              sock.timeout(8000).emit(name, ...args, (err: Error | null, reply: { ok?: unknown; error?: { code?: unknown } }) => {
                resolve();
                if (err) return void counts.silent++;
                counts.acks++;
                if (reply?.ok === false) {
                  if (typeof reply.error?.code !== 'string') failures.push({ input: i, what, problem: `error ack without a code: ${JSON.stringify(reply).slice(0, 200)}` });
                  else if (reply.error.code === 'internal') failures.push({ input: i, what, problem: `internal error ack: ${JSON.stringify(reply).slice(0, 200)}` });
                } else if (reply?.ok !== true) failures.push({ input: i, what, problem: `ack not in the { ok } shape: ${JSON.stringify(reply).slice(0, 200)}` });
              });
            }),
          );
        }
      } catch (err) {
        if (/reserved/.test((err as Error).message)) counts.silent++;
        else failures.push({ input: i, what, problem: `emit threw: ${(err as Error).message}` });
      }
      await new Promise((r) => setTimeout(r, 2)); // pacing: the fuzz spaces its socket inputs
    };

    const rawInput = async (i: number, f: Fuzz) => {
      counts.raw++;
      const nsp = f.pick(['/viewer', '/agent', '/', '/nope']);
      const token = f.chance(0.5) ? operatorToken('viewer') : workerToken('w-fuzz');
      const frames: Array<string | Uint8Array> = [];
      const n = 1 + f.int(4);
      for (let k = 0; k < n; k++) {
        const r = f.rand();
        if (r < 0.2) frames.push(f.string(200));
        else if (r < 0.3) frames.push(f.bytes(1000));
        else if (r < 0.45) frames.push(`42${nsp},${f.string(100)}`);
        else if (r < 0.55) frames.push(`42${nsp},["run:join",${'['.repeat(f.pick([1000, 100_000]))}`);
        else if (r < 0.65) {
          // a binary event whose placeholder sits deep inside nested arrays (attachments may never come)
          const d = f.pick([10, 5000, 50_000]);
          frames.push(`45${f.int(3)}-${nsp},["pane:input","${live.id}","task",${'['.repeat(d)}{"_placeholder":true,"num":0}${']'.repeat(d)}]`);
          if (f.chance(0.5)) frames.push(f.bytes(100));
        }
        else if (r < 0.75) frames.push(`${f.int(10)}${f.int(10)}${nsp},${JSON.stringify(f.value())}`);
        else if (r < 0.85) frames.push(`42${nsp},${f.int(1e9)}${JSON.stringify([f.pick([...AGENT_EVENTS, ...VIEWER_EVENTS]), f.value(), f.value()])}`);
        else frames.push(`40${nsp},${JSON.stringify(f.chance(0.5) ? { token } : f.value())}`);
      }
      const ws = new WebSocket(`${hub.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      ws.binaryType = 'arraybuffer';
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          try {
            ws.close();
          } catch {
            /* closed */
          }
          resolve();
        };
        const t = setTimeout(done, 1500); // a cap: a session that never opens or closes ends here
        ws.onerror = done;
        ws.onclose = done;
        ws.onopen = () => {
          // connect to the namespace properly first, half the time
          if (f.chance(0.5)) ws.send(`40${nsp},${JSON.stringify({ token })}`);
          for (const fr of frames) ws.send(fr as string | Uint8Array<ArrayBuffer>);
          setTimeout(done, 150); // pacing: the session stays open a moment for the hub to read its frames
        };
      });
    };

    // the corpus: one sub-seed per input, so every input can be replayed on its own
    const master = Fuzz.seeded(SEED);
    const plan = Array.from({ length: INPUTS }, (_, i) => ({ i, kind: master.rand(), seed: Math.floor(master.rand() * 2 ** 31) }));
    let next = 0;
    const worker = async () => {
      for (;;) {
        if (Date.now() - started > TIME_BUDGET_MS) return;
        const item = plan[next++];
        if (!item) return;
        const f = Fuzz.seeded(item.seed);
        if (item.kind < 0.5) await restInput(item.i, f);
        else if (item.kind < 0.95) await socketInput(item.i, f);
        else await rawInput(item.i, f);
        if (!hub.alive()) {
          failures.push({ input: item.i, what: 'hub', problem: `the hub process died:\n${hub.logs.slice(-20).join('\n')}` });
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await Promise.all(pending);
    const tried = Math.min(next, INPUTS);
    const elapsed = Date.now() - started;
    process.stdout.write(
      `      ${tried} inputs in ${elapsed} ms: ${counts.rest} REST (${[...counts.restByStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}), ` +
        `${counts.socket} socket events (${counts.acks} acked, ${counts.silent} silent), ${counts.raw} raw WebSocket sessions; ${counts.created} runs created by valid bodies\n`,
    );

    // --- verdicts
    if (failures.length) {
      const errors = hub.logs.filter((l) => l.includes('"level":50')).slice(0, 5);
      process.stdout.write(`      hub errors:\n${errors.map((l) => `        ${l.slice(0, 1500)}`).join('\n')}\n`);
    }
    expect(failures.slice(0, 12), `${failures.length} inputs mishandled (seed ${SEED})`).to.deep.equal([]);
    expect(hub.alive(), 'the hub is up').to.equal(true);
    expect((await rest(hub.url, 'GET', '/healthz', null)).status).to.equal(200);
    expect(disconnects, 'well-formed socket.io packets never cost an agent socket its connection').to.equal(0);
    expect(viewerDisconnects, 'a viewer loses its connection only for a frame over the public limit').to.be.at.most(overLimitViewerFrames);
    expect(tried, 'a few thousand inputs (or the whole time budget)').to.be.greaterThan(Math.min(INPUTS, 1000) - 1);
    await sleep(500); // pacing of the measurement: every input was answered above; RSS is read after a moment's rest
    const rssAfter = hub.rss();
    process.stdout.write(`      hub RSS ${(rssBefore / 2 ** 20).toFixed(0)} MB → ${(rssAfter / 2 ** 20).toFixed(0)} MB\n`);
    expect(rssAfter - rssBefore, 'hub RSS growth').to.be.lessThan(150 * 2 ** 20);

    // nothing persisted half-way: runs only from the bodies that were valid; the dead run's trail untouched
    const [{ n: runsAfter }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run')) as [{ n: string }];
    expect(Number(runsAfter), 'task runs after the fuzz').to.equal(Number(runsBefore) + counts.created);
    const [{ n: deadEventsAfter }] = (await sql<{ n: string }>(db.url, 'select count(*) as n from task_run_control_event where task_run_id = $1', [dead.id])) as [{ n: string }];
    expect(Number(deadEventsAfter), 'audit events of the finished run').to.equal(Number(deadEventsBefore));
    const deadNow = await rest<{ taskRun: { status: string } }>(hub.url, 'GET', `/api/task-runs/${dead.id}`, operatorToken('viewer'));
    expect(deadNow.body.taskRun.status).to.equal('cancelled');

    // the real run went on through all of it, and finishes normally
    const { writeFileSync } = await import('node:fs');
    writeFileSync(gate, '');
    const finished = await waitRunAt(hub.url, live.id, ['succeeded', 'failed', 'cancelled'], 30_000);
    removeDir(gate);
    expect(['succeeded', 'cancelled'], `the live run ended ${finished.status}`).to.include(finished.status);

    // wind down: what the fuzz queued or claimed is cancelled, so every run is accounted for
    const open = await sql<{ id: string }>(db.url, `select id from task_run where status in ('queued','running') and worker_id is distinct from 'w-real'`);
    for (const { id } of open) await rest(hub.url, 'POST', `/api/task-runs/${id}/cancel`, operatorToken(), {});
    await waitUntil('the real agent to finish what it claimed', async () => ((await sql(db.url, `select id from task_run where status = 'running'`)).length === 0 ? true : undefined), 30_000, 200);
    await assertLifecycleIntegrity(db.url, { liveWorkers: ['w-real'] });
  });
});
