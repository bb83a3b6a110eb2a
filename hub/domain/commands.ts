/**
 * The commands' schemas, one place for both transports: REST bodies and query strings, and the
 * agent's socket messages that carry the same commands (realtime/agentGateway.ts). Unknown
 * fields are refused. The OpenAPI document (http/openapi.ts) is generated from these.
 */
import { z } from 'zod';
import { TASK_RUN_STATUSES } from '../../common/statuses.ts';
import { invalidPayload } from './errors.ts';
import { findUnstorableText } from './text.ts';

/** Validates a command's input: the API's 422 with the problems listed per field, or the parsed value. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) {
    const bad = findUnstorableText(r.data);
    if (bad !== null) throw invalidPayload(`invalid ${what}: ${bad}: text must not contain NUL characters or lone UTF-16 surrogates`, [{ path: bad, message: 'unstorable text', code: 'invalid_string' }]);
    return r.data;
  }
  const details = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code }));
  const first = details[0];
  throw invalidPayload(`invalid ${what}${first ? `: ${first.path ? `${first.path}: ` : ''}${first.message}` : ''}`, details);
}

const shortText = (max: number) => z.string().max(max);

export const createRunBody = z
  .object({
    steps: z.array(z.string().min(1, 'a step must not be empty').max(64 * 1024)).min(1, 'at least one step').max(100),
    liveSession: z.boolean().optional(),
    cwd: z.string().min(1).max(4096).optional(),
  })
  .strict();

export const listRunsQuery = z
  .object({
    status: z.enum(TASK_RUN_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

export const eventsQuery = z.object({ after: z.coerce.number().int().min(0).default(0) }).strict();

export const cancelBody = z.object({ reason: shortText(1000).optional() }).strict();

/** The run attempt a worker's report is about: the claim's `taskRun.attempt` (fencing, architecture §7a). */
export const attemptField = z.number().int().min(1).max(1_000_000);

export const claimBody = z.object({ workerId: z.string().min(1).max(200) }).strict();

export const completeBody = z
  .object({
    workerId: z.string().min(1).max(200),
    attempt: attemptField,
    status: z.enum(['succeeded', 'failed', 'cancelled']),
    exitCode: z.number().int().min(-1024).max(1024).nullable().optional(),
    /** Why, when the run did not end by its steps (e.g. the agent was stopped). */
    reason: shortText(500).optional(),
  })
  .strict();

export const grantWriteBody = z.object({ ttlMinutes: z.number().int().min(1).max(240).optional() }).strict();

export const revokeBody = z.object({ reason: shortText(1000).optional() }).strict();

/** Enabling a live session takes no fields (an empty body or none). */
export const enableBody = z.object({}).strict();

export const controlBody = z
  .object({
    action: z.enum(['pause', 'resume', 'takeover']),
    mode: z.enum(['soft', 'hard']).optional(),
    summary: shortText(16 * 1024).optional(),
  })
  .strict()
  .refine((b) => b.summary === undefined || b.action === 'resume', { message: 'summary goes with resume', path: ['summary'] })
  .refine((b) => b.mode === undefined || b.action !== 'resume', { message: 'mode goes with pause or takeover', path: ['mode'] });

/** The byte limit of a message is configuration; checked by the service. */
export const messageBody = z.object({ message: z.string().min(1, 'message must not be empty') }).strict();

/** An RFC 3339 date-time with a zone (Z or ±hh:mm): what the document calls `format: date-time`. */
const isoDate = z.iso.datetime({ offset: true });

/** A worker-reported address a browser may follow: http(s) only (a `javascript:` URL is refused). */
const webUrl = shortText(4096).refine(
  (v) => {
    try {
      return ['http:', 'https:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  { message: 'expected an http(s) URL' },
);

/** A live session report's fields, the same over REST (with workerId) and the agent socket (with runId). */
const reportFields = {
  attempt: attemptField,
  status: z.enum(['starting', 'ready', 'ended', 'revoked', 'error']),
  workerHostname: shortText(255).optional(),
  attachRo: shortText(4096).optional(),
  attachRw: shortText(4096).optional(),
  webRo: webUrl.optional(),
  webRw: webUrl.optional(),
  /** Clamped to the configured session TTL by the service. */
  expiresAt: isoDate.optional(),
  errorMessage: shortText(4096).optional(),
};

export const reportBody = z.object({ workerId: z.string().min(1).max(200), ...reportFields }).strict();

/** `session:report` on the agent socket: the worker is the socket's. */
export const reportMessage = z.object({ runId: z.string().uuid(), ...reportFields }).strict();

/** The agent's socket `run:complete`: the REST completion, naming its run instead of its worker (the socket's). */
export const completeMessage = completeBody.omit({ workerId: true }).extend({ runId: z.string().uuid() }).strict();

/** The agent's socket `run:step` (no REST twin): a step of the run began or ended. */
export const stepMessage = z
  .object({
    index: z.number().int().min(0).max(99),
    phase: z.enum(['start', 'end']),
    exitCode: z.number().int().min(-1024).max(1024).optional(),
    offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();

/**
 * The agent's socket `control:applied` (no REST twin): the live-control state it now applies,
 * as the hub sent it (common/statuses.ts LiveControl). Only `updatedAt` is compared by the service.
 */
export const controlAppliedMessage = z
  .object({
    paused: z.boolean(),
    mode: z.enum(['soft', 'hard']),
    takeover: z.boolean(),
    lastAction: z.enum(['pause', 'resume', 'takeover']).nullable(),
    updatedAt: isoDate.nullable(),
    appliedAt: isoDate.nullable().optional(),
  })
  .strict();

/** The agent's socket `run:attention` (no REST twin): whether the run's step waits for input. */
export const attentionMessage = z.boolean();

/** The agent's socket `run:release` (no REST twin): the attempt handed back, and why (as long as a completion's reason). */
export const releaseMessage = z.object({ runId: z.string().uuid(), attempt: attemptField, reason: completeBody.shape.reason }).strict();

export const heartbeatBody = z.object({ workerId: z.string().min(1).max(200), attempt: attemptField }).strict();

/** A worker's recording upload names the attempt it recorded. */
export const recordingUploadQuery = z.object({ attempt: z.coerce.number().pipe(attemptField) }).strict();

export const runIdParam = z.string().uuid();

export const operatorSessionsQuery = z
  .object({ subject: z.string().min(1).max(255).optional(), issuer: z.string().min(1).max(255).optional() })
  .strict();

/** Ends every active session of one person (`subject`, and `issuer` when several providers share subjects). */
export const endSessionsBody = z.object({ subject: z.string().min(1).max(255), issuer: z.string().min(1).max(255).optional() }).strict();

/** `handoff login` polls with the sealed handle /auth/device gave it. */
export const deviceTokenBody = z.object({ handle: z.string().min(1).max(8192), waitSeconds: z.number().int().min(1).max(25).optional() }).strict();
