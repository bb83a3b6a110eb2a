/** The OpenAPI 3.1 document of the REST API, built from the same zod schemas the routes validate with. */
import { z } from 'zod';
import { CONTROL_ACTIONS, SESSION_PROVIDERS, SESSION_STATUSES, TASK_RUN_STATUSES } from '../../common/statuses.ts';
import * as s from '../domain/commands.ts';

type Json = Record<string, unknown>;
const schema = (t: z.ZodType): Json => z.toJSONSchema(t, { io: 'input', unrepresentable: 'any' }) as Json;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (sch: Json) => ({ content: { 'application/json': { schema: sch } } });
const obj = (props: Record<string, Json>) => ({ type: 'object', properties: props, required: Object.keys(props) });

const withOptional = (o: ReturnType<typeof obj>, extra: Record<string, Json>) => ({ ...o, properties: { ...o.properties, ...extra } });

/** Every error code the REST API answers, in `{ error: { code, message, details? } }`. */
export const REST_ERROR_CODES = [
  'unauthorized',
  'forbidden',
  'not_found',
  'invalid_payload',
  'invalid_json',
  'invalid_state',
  'stale_attempt',
  'payload_too_large',
  'unsupported_media_type',
  'bad_request',
  'unavailable',
  'internal',
] as const;

const ERROR_STATUS: Record<number, string> = {
  401: 'unauthorized: no bearer token, a malformed or expired one, or a token of the wrong kind (a worker token on an operator route, an RW grant as a bearer)',
  403: 'forbidden: the operator role is too low, or the worker token is for another worker than the body names',
  409: "stale_attempt: the attempt named is not the run's current attempt, or not this worker's (the run was re-queued or claimed again): stop that attempt, nothing was changed",
  404: 'not_found: no such run (an id that is not a UUID names no run either), or the run has no live session',
  413: 'payload_too_large: the body is too large (a JSON body: 1 MB; a recording: 2 GiB)',
  415: 'unsupported_media_type: the body is not of the documented content type',
  422: 'invalid_payload (the body or query string does not match its schema, `details` lists the problems per field; a recording that is not asciicast v2), invalid_json (the body is not JSON) or invalid_state (the run or session is not in a state that allows this)',
  503: 'unavailable: the database is away for a moment; retry after a pause',
};

/** The error answers of one operation; `default` covers what any route may answer (400 bad_request for a malformed URL, 415 unsupported_media_type for a JSON body charset other than UTF-8, 431 for oversized headers, 500 internal). */
const errors = (...codes: number[]) => ({
  ...Object.fromEntries(codes.map((c) => [String(c), { description: ERROR_STATUS[c] ?? 'error', ...json(ref('Error')) }])),
  default: { description: 'any other error, in the same shape (400 bad_request, 415 unsupported_media_type, 431, 500 internal)', ...json(ref('Error')) },
});

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const nullable = (t: string, format?: string) => ({ type: [t, 'null'], ...(format ? { format } : {}) });

type Tag = 'task-runs' | 'workers' | 'live-sessions' | 'recordings' | 'operator-sessions' | 'auth' | 'service';
const TAGS: Array<{ name: Tag; description: string }> = [
  { name: 'task-runs', description: 'Operators create, list, read, cancel, control and message runs, and read their audit timeline.' },
  { name: 'workers', description: 'What a worker (agent) does over REST: claim, report, heartbeat, complete. The real-time path is the /agent Socket.IO namespace (docs/protocol.md).' },
  { name: 'live-sessions', description: 'The live session of a run: enable, read, grant / revoke write, revoke.' },
  { name: 'recordings', description: 'The asciicast v2 recording of a run.' },
  { name: 'operator-sessions', description: "Who is signed in (admin): every operator token belongs to an operator session; ending one refuses its tokens and drops its sockets on every hub at once." },
  { name: 'auth', description: 'Signing in and out. With HANDOFF_OIDC_ISSUER: the dashboard through the OpenID provider (/auth/login, /auth/callback), the CLI through the device flow (/auth/device); without it, only development tokens.' },
  { name: 'service', description: 'Health, readiness, metrics and this document: no token.' },
];

interface OpOptions {
  operationId: string;
  tag: Tag;
  body?: z.ZodType;
  params?: Json[];
  ok: Json;
  okStatus?: number;
  errors: number[];
  security?: string;
  extra?: Json;
}

function op(summary: string, opts: OpOptions): Json {
  // every route reads the database; a JSON body may be too large
  const codes = [...new Set([...opts.errors, ...(opts.body ? [413] : []), 503])].sort((a, b) => a - b);
  return {
    operationId: opts.operationId,
    tags: [opts.tag],
    summary,
    security: opts.security === 'none' ? [] : [{ [opts.security ?? 'operator']: [] }],
    ...(opts.params ? { parameters: opts.params } : {}),
    // a body whose every field is optional may be left out (the routes read a missing body as {})
    ...(opts.body ? { requestBody: { required: !opts.body.safeParse({}).success, ...json(schema(opts.body)) } } : {}),
    responses: { [String(opts.okStatus ?? 200)]: { description: 'ok', ...json(opts.ok) }, ...(opts.extra ?? {}), ...errors(...codes) },
  };
}

/** The sign-in flows that exist only with an OpenID provider configured. */
function oidcPaths(): Record<string, Json> {
  const html = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });
  return {
    '/auth/login': {
      get: {
        operationId: 'login',
        tags: ['auth'],
        summary: 'Starts the dashboard sign-in: redirects to the provider (authorization code + PKCE; state, nonce and verifier in a sealed HttpOnly SameSite=Lax cookie)',
        security: [],
        parameters: [{ name: 'next', in: 'query', required: false, schema: { type: 'string' }, description: 'a same-site path to open after signing in' }],
        responses: { 302: { description: 'to the provider' }, 503: html('the provider cannot be reached') },
      },
    },
    '/auth/callback': {
      get: {
        operationId: 'loginCallback',
        tags: ['auth'],
        summary: 'Where the provider sends the browser back: opens an operator session and hands the dashboard its token in the fragment of /signin',
        security: [],
        responses: { 303: { description: 'to /signin#token=…' }, 400: html('the answer could not be verified (state, nonce, PKCE, a stale cookie)'), 403: html('the person is in no mapped group, or refused at the provider') },
      },
    },
    '/auth/device': {
      post: op('Starts a device sign-in for `handoff login`: the code to enter at the provider, and a sealed handle to poll with', {
        operationId: 'deviceLogin',
        tag: 'auth',
        security: 'none',
        ok: obj({ userCode: { type: 'string' }, verificationUri: { type: 'string' }, verificationUriComplete: nullable('string'), expiresIn: { type: 'integer' }, interval: { type: 'integer' }, handle: { type: 'string' } }),
        errors: [],
      }),
    },
    '/auth/device/token': {
      post: op('Long poll of a device sign-in: 202 while the person has not finished, 200 with the operator token once they have', {
        operationId: 'deviceLoginToken',
        tag: 'auth',
        security: 'none',
        body: s.deviceTokenBody,
        ok: obj({ status: { const: 'signed_in' }, token: { type: 'string' }, sessionId: { type: 'string', format: 'uuid' }, subject: { type: 'string' }, displayName: nullable('string'), role: { enum: ['viewer', 'operator', 'admin'] }, expiresAt: { type: 'string', format: 'date-time' } }),
        extra: { 202: { description: 'not yet: poll again', ...json(obj({ status: { const: 'pending' } })) } },
        errors: [403, 422],
      }),
    },
  };
}

export function buildOpenApi(serverUrl?: string, features: { oidc?: boolean } = {}): Json {
  const queryParams = (t: z.ZodObject) =>
    Object.entries((schema(t) as { properties: Record<string, Json> }).properties).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch }));
  const ls = '/api/task-runs/{id}/live-session';
  return {
    openapi: '3.1.0',
    info: { title: 'handoff hub', version: '1.0.0', description: 'Live task handoff: task runs, live sessions, RW grants, controls and the audit trail.' },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    tags: TAGS,
    components: {
      securitySchemes: {
        operator: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'operator token (role viewer, operator or admin)' },
        worker: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'worker token bound to one worker id' },
      },
      schemas: {
        Error: obj({ error: { type: 'object', properties: { code: { enum: [...REST_ERROR_CODES] }, message: { type: 'string' }, details: {} }, required: ['code', 'message'] } }),
        LiveControl: {
          type: 'object',
          properties: { paused: { type: 'boolean' }, mode: { enum: ['soft', 'hard'] }, takeover: { type: 'boolean' }, lastAction: { enum: ['pause', 'resume', 'takeover', null] }, updatedAt: nullable('string', 'date-time'), appliedAt: nullable('string', 'date-time') },
        },
        LiveSession: obj({
          id: { type: 'string', format: 'uuid' },
          taskRunId: { type: 'string', format: 'uuid' },
          provider: { enum: [...SESSION_PROVIDERS] },
          status: { enum: [...SESSION_STATUSES] },
          readyAt: nullable('string', 'date-time'),
          endedAt: nullable('string', 'date-time'),
          expiresAt: nullable('string', 'date-time'),
          rwGrantedUntil: nullable('string', 'date-time'),
          lastHeartbeatAt: nullable('string', 'date-time'),
          workerId: nullable('string'),
          workerHostname: nullable('string'),
          attachRo: nullable('string'),
          webRo: nullable('string'),
          errorMessage: nullable('string'),
          rwGeneration: { type: 'integer' },
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
        }),
        TaskRun: withOptional(
          obj({
            id: { type: 'string', format: 'uuid' },
            status: { enum: [...TASK_RUN_STATUSES] },
            steps: { type: 'array', items: { type: 'string' } },
            payload: {
              type: 'object',
              properties: {
                liveControl: ref('LiveControl'),
                cwd: { type: 'string' },
                attention: { type: 'object', properties: { waitingForInput: { type: 'boolean' }, since: { type: 'string', format: 'date-time' } }, required: ['waitingForInput', 'since'] },
              },
            },
            workerId: nullable('string'),
            attempt: { type: 'integer', minimum: 1, description: "the number of the run's current attempt; a worker names it in every report about the run" },
            exitCode: nullable('integer'),
            createdAt: { type: 'string', format: 'date-time' },
            startedAt: nullable('string', 'date-time'),
            finishedAt: nullable('string', 'date-time'),
            updatedAt: { type: 'string', format: 'date-time' },
          }),
          { liveSession: { anyOf: [ref('LiveSession'), { type: 'null' }] } },
        ),
        ControlEvent: obj({
          id: { type: 'integer' },
          taskRunId: { type: 'string', format: 'uuid' },
          actorUserId: nullable('string'),
          action: { type: 'string', examples: [...CONTROL_ACTIONS] },
          metadata: { type: 'object' },
          createdAt: { type: 'string', format: 'date-time' },
        }),
        OperatorSession: obj({
          id: { type: 'string', format: 'uuid' },
          subject: { type: 'string', description: "the identity provider's subject (`sub`), or the name a development token was minted for" },
          issuer: { type: 'string', description: "the identity provider's issuer URL, or `handoff:dev` for development tokens" },
          displayName: nullable('string'),
          role: { enum: ['viewer', 'operator', 'admin'] },
          source: { type: 'string', enum: ['oidc', 'cli', 'dev', 'jwt'] },
          createdAt: { type: 'string', format: 'date-time' },
          expiresAt: { type: 'string', format: 'date-time' },
          endedAt: nullable('string', 'date-time'),
          endedBy: nullable('string'),
        }),
        RunStep: obj({
          index: { type: 'integer', minimum: 0 },
          command: { type: 'string' },
          startedAt: nullable('string', 'date-time'),
          finishedAt: nullable('string', 'date-time'),
          exitCode: nullable('integer'),
        }),
      },
    },
    paths: {
      '/api/task-runs': {
        post: op('Create a task run', { operationId: 'createTaskRun', tag: 'task-runs', body: s.createRunBody, ok: obj({ taskRun: ref('TaskRun') }), okStatus: 201, errors: [401, 403, 422] }),
        get: op('List task runs (newest first)', { operationId: 'listTaskRuns', tag: 'task-runs', params: queryParams(s.listRunsQuery), ok: obj({ taskRuns: { type: 'array', items: ref('TaskRun') } }), errors: [401, 422] }),
      },
      '/api/task-runs/claim': {
        post: op('Atomically claim the oldest queued run (worker)', {
          operationId: 'claimTaskRun',
          tag: 'workers',
          body: s.claimBody,
          security: 'worker',
          ok: obj({ taskRun: ref('TaskRun') }),
          extra: { 204: { description: 'no queued run (or the worker is at capacity)' } },
          errors: [401, 403, 422],
        }),
      },
      '/api/task-runs/{id}': {
        get: op('Read a task run with its live session', { operationId: 'getTaskRun', tag: 'task-runs', params: [idParam], ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 404] }),
      },
      '/api/task-runs/{id}/cancel': {
        post: op('Cancel a task run (also while paused)', { operationId: 'cancelTaskRun', tag: 'task-runs', params: [idParam], body: s.cancelBody, ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 403, 404, 422] }),
      },
      '/api/task-runs/{id}/events': {
        get: op('Audit timeline of the run (events with an id above `after`)', {
          operationId: 'listTaskRunEvents',
          tag: 'task-runs',
          params: [idParam, ...queryParams(s.eventsQuery)],
          ok: obj({ events: { type: 'array', items: ref('ControlEvent') } }),
          errors: [401, 404, 422],
        }),
      },
      '/api/task-runs/{id}/steps': {
        get: op("The run's steps: each with its command, start, end and exit code (from the step_started / step_finished audit; the latest attempt of a requeued run)", {
          operationId: 'listTaskRunSteps',
          tag: 'task-runs',
          params: [idParam],
          ok: obj({ steps: { type: 'array', items: ref('RunStep') } }),
          errors: [401, 404],
        }),
      },
      '/api/task-runs/{id}/recording': {
        get: {
          operationId: 'getRecording',
          tags: ['recordings'],
          summary: 'The run terminal recording (asciicast v2): kept by the hub as the output flows, with an `m` marker where each step began and ended',
          security: [{ operator: [] }],
          parameters: [idParam],
          responses: { 200: { description: 'asciicast v2', content: { 'application/x-asciicast': { schema: { type: 'string' } } } }, ...errors(401, 404, 503) },
        },
        put: {
          operationId: 'putRecording',
          tags: ['recordings'],
          summary: "Upload the worker's own recording of the run (owning worker); kept only if it holds at least as much output as the hub's",
          security: [{ worker: [] }],
          parameters: [idParam, ...queryParams(s.recordingUploadQuery).map((p) => ({ ...p, required: true }))],
          requestBody: { required: true, content: { 'application/x-asciicast': { schema: { type: 'string' } } } },
          responses: {
            200: {
              description: 'which recording the hub keeps',
              ...json(obj({ bytes: { type: 'integer' }, outputBytes: { type: 'integer' }, kept: { type: 'string', enum: ['upload', 'existing'] } })),
            },
            ...errors(401, 403, 404, 409, 413, 415, 422, 503),
          },
        },
      },
      '/api/task-runs/{id}/complete': {
        post: op('Report the run result (owning worker)', {
          operationId: 'completeTaskRun',
          tag: 'workers',
          params: [idParam],
          body: s.completeBody,
          security: 'worker',
          ok: obj({ taskRun: ref('TaskRun') }),
          errors: [401, 403, 404, 409, 422],
        }),
      },
      '/api/task-runs/{id}/control': {
        post: op('Pause, resume or take over a run', { operationId: 'controlTaskRun', tag: 'task-runs', params: [idParam], body: s.controlBody, ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 403, 404, 422] }),
      },
      '/api/task-runs/{id}/operator-messages': {
        post: op('Send an operator message to the agent and every viewer', {
          operationId: 'sendOperatorMessage',
          tag: 'task-runs',
          params: [idParam],
          body: s.messageBody,
          okStatus: 201,
          ok: obj({ event: ref('ControlEvent') }),
          errors: [401, 403, 404, 422],
        }),
      },
      [ls]: {
        post: op('Enable the live session (idempotent)', { operationId: 'enableLiveSession', tag: 'live-sessions', params: [idParam], body: s.enableBody, ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }),
        get: op('Read the live session (never holds RW attach data)', { operationId: 'getLiveSession', tag: 'live-sessions', params: [idParam], ok: obj({ session: ref('LiveSession') }), errors: [401, 404] }),
      },
      [`${ls}/grant-write`]: {
        post: op('Grant write: a scoped, expiring RW grant for the caller', {
          operationId: 'grantWrite',
          tag: 'live-sessions',
          params: [idParam],
          body: s.grantWriteBody,
          ok: withOptional(obj({ session: ref('LiveSession'), attachRw: { type: 'string' }, grantToken: { type: 'string' }, grantedUntil: { type: 'string', format: 'date-time' } }), {
            webRw: { type: 'string', description: 'the dashboard link with the grant in its fragment (#grant=); only when HANDOFF_ALLOW_WEB is on and the worker reported a webRw' },
          }),
          errors: [401, 403, 404, 422],
        }),
      },
      [`${ls}/revoke-write`]: {
        post: op('Revoke every RW grant of the session', { operationId: 'revokeWrite', tag: 'live-sessions', params: [idParam], body: s.revokeBody, ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }),
      },
      [`${ls}/revoke`]: {
        post: op('Revoke the session (admin)', { operationId: 'revokeLiveSession', tag: 'live-sessions', params: [idParam], body: s.revokeBody, ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }),
      },
      [`${ls}/report`]: {
        post: op('Report the live layer state (owning worker)', {
          operationId: 'reportLiveSession',
          tag: 'workers',
          params: [idParam],
          body: s.reportBody,
          security: 'worker',
          ok: obj({ session: ref('LiveSession') }),
          errors: [401, 403, 404, 409, 422],
        }),
      },
      [`${ls}/heartbeat`]: {
        post: op('Heartbeat (owning worker)', {
          operationId: 'heartbeatLiveSession',
          tag: 'workers',
          params: [idParam],
          body: s.heartbeatBody,
          security: 'worker',
          ok: obj({ session: ref('LiveSession') }),
          errors: [401, 403, 404, 409, 422],
        }),
      },
      '/api/operator-sessions': {
        get: op('Active operator sessions (admin), newest first; filter by subject / issuer', {
          operationId: 'listOperatorSessions',
          tag: 'operator-sessions',
          params: queryParams(s.operatorSessionsQuery),
          ok: obj({ sessions: { type: 'array', items: ref('OperatorSession') } }),
          errors: [401, 403, 422],
        }),
      },
      '/api/operator-sessions/end': {
        post: op("End every active session of one person (admin): their tokens are refused and their sockets dropped at once", {
          operationId: 'endOperatorSessions',
          tag: 'operator-sessions',
          body: s.endSessionsBody,
          ok: obj({ ended: { type: 'array', items: ref('OperatorSession') } }),
          errors: [401, 403, 422],
        }),
      },
      '/api/operator-sessions/{sid}/end': {
        post: op('End one operator session (admin); ending an ended session answers it as it is', {
          operationId: 'endOperatorSession',
          tag: 'operator-sessions',
          params: [{ name: 'sid', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          ok: obj({ session: ref('OperatorSession') }),
          errors: [401, 403, 404, 422],
        }),
      },
      '/auth/methods': {
        get: {
          operationId: 'authMethods',
          tags: ['auth'],
          summary: 'How operators sign in here: through the OpenID provider, or (development) with a minted token',
          security: [],
          responses: { 200: { description: 'sign-in methods', ...json(withOptional(obj({ oidc: { type: 'boolean' }, development: { type: 'boolean' } }), { issuer: { type: 'string' } })) } },
        },
      },
      '/auth/logout': {
        post: op("Sign out: ends the caller's own operator session (its tokens are refused everywhere at once); `endSessionUrl` is the provider's sign-out page, when it has one", {
          operationId: 'logout',
          tag: 'auth',
          ok: obj({ ended: { const: true }, endSessionUrl: nullable('string') }),
          errors: [401],
        }),
      },
      ...(features.oidc ? oidcPaths() : {}),
      '/healthz': {
        get: { operationId: 'healthz', tags: ['service'], summary: 'Liveness', security: [], responses: { 200: { description: 'the process is up', ...json(obj({ status: { const: 'ok' } })) } } },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          tags: ['service'],
          summary: 'Readiness (database reachable)',
          security: [],
          responses: { 200: { description: 'ready', ...json(obj({ status: { const: 'ready' } })) }, 503: { description: 'database unavailable', ...json(ref('Error')) } },
        },
      },
      '/metrics': {
        get: { operationId: 'metrics', tags: ['service'], summary: 'Prometheus metrics', security: [], responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } },
      },
      '/api/openapi.json': {
        get: { operationId: 'openapi', tags: ['service'], summary: 'This OpenAPI document', security: [], responses: { 200: { description: 'OpenAPI 3.1', ...json({ type: 'object' }) } } },
      },
    },
  };
}
