/** The OpenAPI 3.1 document of the REST API, built from the same zod schemas the routes validate with. */
import { z } from 'zod';
import { CONTROL_ACTIONS, SESSION_PROVIDERS, SESSION_STATUSES, TASK_RUN_STATUSES } from '../../common/statuses.ts';
import * as s from './schemas.ts';

type Json = Record<string, unknown>;
const schema = (t: z.ZodType): Json => z.toJSONSchema(t, { io: 'input', unrepresentable: 'any' }) as Json;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (sch: Json) => ({ content: { 'application/json': { schema: sch } } });
const obj = (props: Record<string, Json>) => ({ type: 'object', properties: props, required: Object.keys(props) });

const withOptional = (o: ReturnType<typeof obj>, extra: Record<string, Json>) => ({ ...o, properties: { ...o.properties, ...extra } });

const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description: { 401: 'missing or invalid token', 403: 'wrong role or wrong worker', 404: 'unknown run, or no session', 413: 'body too large', 415: 'wrong content type', 422: 'invalid payload or state', 503: 'database unavailable' }[c] ?? 'error',
        ...json(ref('Error')),
      },
    ]),
  );

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const nullable = (t: string, format?: string) => ({ type: [t, 'null'], ...(format ? { format } : {}) });

function op(summary: string, opts: { body?: z.ZodType; params?: Json[]; ok: Json; okStatus?: number; errors: number[]; security?: string; extra?: Json }): Json {
  return {
    summary,
    security: [{ [opts.security ?? 'operator']: [] }],
    ...(opts.params ? { parameters: opts.params } : {}),
    ...(opts.body ? { requestBody: { required: true, ...json(schema(opts.body)) } } : {}),
    responses: { [String(opts.okStatus ?? 200)]: { description: 'ok', ...json(opts.ok) }, ...(opts.extra ?? {}), ...errors(...opts.errors) },
  };
}

export function buildOpenApi(serverUrl?: string): Json {
  const queryParams = (t: z.ZodObject) =>
    Object.entries((schema(t) as { properties: Record<string, Json> }).properties).map(([name, sch]) => ({ name, in: 'query', required: false, schema: sch }));
  const ls = '/api/task-runs/{id}/live-session';
  return {
    openapi: '3.1.0',
    info: { title: 'handoff hub', version: '1.0.0', description: 'Live task handoff: task runs, live sessions, RW grants, controls and the audit trail.' },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    components: {
      securitySchemes: {
        operator: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'operator token (role viewer, operator or admin)' },
        worker: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'worker token bound to one worker id' },
      },
      schemas: {
        Error: obj({ error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} }, required: ['code', 'message'] } }),
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
            payload: { type: 'object', properties: { liveControl: ref('LiveControl'), cwd: { type: 'string' } } },
            workerId: nullable('string'),
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
      },
    },
    paths: {
      '/api/task-runs': {
        post: op('Create a task run', { body: s.createRunBody, ok: obj({ taskRun: ref('TaskRun') }), okStatus: 201, errors: [401, 403, 422] }),
        get: op('List task runs (newest first)', { params: queryParams(s.listRunsQuery), ok: obj({ taskRuns: { type: 'array', items: ref('TaskRun') } }), errors: [401, 422] }),
      },
      '/api/task-runs/claim': {
        post: op('Atomically claim the oldest queued run (worker)', {
          body: s.claimBody,
          security: 'worker',
          ok: obj({ taskRun: ref('TaskRun') }),
          extra: { 204: { description: 'no queued run (or the worker is at capacity)' } },
          errors: [401, 403, 422],
        }),
      },
      '/api/task-runs/{id}': { get: op('Read a task run with its live session', { params: [idParam], ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 404] }) },
      '/api/task-runs/{id}/cancel': { post: op('Cancel a task run (also while paused)', { params: [idParam], body: s.cancelBody, ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 403, 404, 422] }) },
      '/api/task-runs/{id}/events': {
        get: op('Audit timeline of the run', { params: [idParam, ...queryParams(s.eventsQuery)], ok: obj({ events: { type: 'array', items: ref('ControlEvent') } }), errors: [401, 404] }),
      },
      '/api/task-runs/{id}/recording': {
        get: {
          summary: 'The run terminal recording (asciicast v2): kept by the hub as the output flows, with an `m` marker where each step began and ended',
          security: [{ operator: [] }],
          parameters: [idParam],
          responses: { 200: { description: 'asciicast v2', content: { 'application/x-asciicast': { schema: { type: 'string' } } } }, ...errors(401, 404) },
        },
        put: {
          summary: "Upload the worker's own recording of the run (owning worker); kept only if it holds at least as much output as the hub's",
          security: [{ worker: [] }],
          parameters: [idParam],
          requestBody: { required: true, content: { 'application/x-asciicast': { schema: { type: 'string' } } } },
          responses: {
            200: {
              description: 'which recording the hub keeps',
              ...json(obj({ bytes: { type: 'integer' }, outputBytes: { type: 'integer' }, kept: { type: 'string', enum: ['upload', 'existing'] } })),
            },
            ...errors(401, 403, 404, 413, 415, 422),
          },
        },
      },
      '/api/task-runs/{id}/complete': {
        post: op('Report the run result (owning worker)', { params: [idParam], body: s.completeBody, security: 'worker', ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 403, 404, 422] }),
      },
      '/api/task-runs/{id}/control': {
        post: op('Pause, resume or take over a run', { params: [idParam], body: s.controlBody, ok: obj({ taskRun: ref('TaskRun') }), errors: [401, 403, 404, 422] }),
      },
      '/api/task-runs/{id}/operator-messages': {
        post: op('Send an operator message to the agent and every viewer', { params: [idParam], body: s.messageBody, okStatus: 201, ok: obj({ event: ref('ControlEvent') }), errors: [401, 403, 404, 422] }),
      },
      [ls]: {
        post: op('Enable the live session (idempotent)', { params: [idParam], ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }),
        get: op('Read the live session (never holds RW attach data)', { params: [idParam], ok: obj({ session: ref('LiveSession') }), errors: [401, 404] }),
      },
      [`${ls}/grant-write`]: {
        post: op('Grant write: a scoped, expiring RW grant for the caller', {
          params: [idParam],
          body: s.grantWriteBody,
          ok: obj({ session: ref('LiveSession'), attachRw: { type: 'string' }, webRw: { type: 'string' }, grantToken: { type: 'string' }, grantedUntil: { type: 'string', format: 'date-time' } }),
          errors: [401, 403, 404, 422],
        }),
      },
      [`${ls}/revoke-write`]: { post: op('Revoke every RW grant of the session', { params: [idParam], body: s.revokeBody, ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }) },
      [`${ls}/revoke`]: { post: op('Revoke the session (admin)', { params: [idParam], body: s.revokeBody, ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }) },
      [`${ls}/report`]: {
        post: op('Report the live layer state (owning worker)', { params: [idParam], body: s.reportBody, security: 'worker', ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }),
      },
      [`${ls}/heartbeat`]: {
        post: op('Heartbeat (owning worker)', { params: [idParam], body: s.heartbeatBody, security: 'worker', ok: obj({ session: ref('LiveSession') }), errors: [401, 403, 404, 422] }),
      },
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { 200: { description: 'the process is up' } } } },
      '/readyz': { get: { summary: 'Readiness (database reachable)', security: [], responses: { 200: { description: 'ready' }, 503: { description: 'database unavailable' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { 200: { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/api/openapi.json': { get: { summary: 'This OpenAPI document', security: [], responses: { 200: { description: 'OpenAPI 3.1', ...json({ type: 'object' }) } } } },
    },
  };
}
