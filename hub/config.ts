/**
 * Hub configuration (architecture §8): read from the environment once, validated, with errors that
 * name the variable. Secrets are resolved separately (see secrets.ts) because that may touch disk.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../common/configError.ts';
import type { OperatorRole } from '../common/statuses.ts';
import { OPERATOR_ROLES } from '../common/statuses.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'expected true or false' })
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'expected a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }));
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL (${protocols.join(' or ')})` },
  );

/** A duration such as 90s, 15m, 8h, 30d, in seconds. */
const duration = (maxSeconds: number) =>
  z
    .string()
    .regex(/^\d+[smhd]?$/, { message: 'expected a duration such as 15m, 8h or 30d' })
    .transform((v) => Number(v.slice(0, /\d$/.test(v) ? undefined : -1)) * ({ s: 1, m: 60, h: 3600, d: 86400 }[v.slice(-1)] ?? 1))
    .pipe(z.number().int().min(60, { message: 'must be at least 1m' }).max(maxSeconds, { message: `must be at most ${maxSeconds / 86400}d` }));

/** `group=role,group=role`: the identity provider's groups → handoff roles. */
const roleMap = z.string().transform((v, ctx) => {
  const map: Array<[string, OperatorRole]> = [];
  for (const part of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const group = part.slice(0, eq).trim();
    const role = part.slice(eq + 1).trim();
    if (eq <= 0 || !group || !OPERATOR_ROLES.includes(role as OperatorRole)) {
      ctx.addIssue({ code: 'custom', message: `"${part}": expected group=role with role one of ${OPERATOR_ROLES.join(', ')}` });
      return z.NEVER;
    }
    map.push([group, role as OperatorRole]);
  }
  return map;
});

/** Variable name → parser. Absent variables take the default after `??`. */
const schema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  HANDOFF_DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  HANDOFF_DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/, { message: 'expected a lower-case SQL identifier' }).optional(),
  HANDOFF_REDIS_URL: url(['redis:', 'rediss:']).optional(),
  HANDOFF_REDIS_CHANNEL_PREFIX: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'expected 1-64 letters, digits or _.:-' }).default('handoff'),
  HANDOFF_SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  HANDOFF_DATABASE_QUERY_TIMEOUT_MS: int(100, 3_600_000).default(15_000),
  HANDOFF_VIEWER_BACKLOG_BYTES: int(64 * 1024, 1024 ** 3).default(32 * 1024 * 1024),
  HANDOFF_JWT_SECRET: z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
  HANDOFF_ENCRYPTION_KEY: z
    .string()
    .refine((v) => decodeKey(v) !== null, { message: 'expected 32 bytes as 64 hex characters or base64' })
    .optional(),
  HANDOFF_LIVE_SESSION_ENABLED_DEFAULT: bool.default(true),
  HANDOFF_LIVE_SESSION_PROVIDER: z.enum(['hub', 'none']).default('hub'),
  HANDOFF_LIVE_SESSION_TTL_MINUTES: int(1, 7 * 24 * 60).default(60),
  HANDOFF_LIVE_SESSION_RW_GRANT_TTL_MINUTES: int(1, 240).default(15),
  HANDOFF_LIVE_SESSION_ALLOW_WEB: bool.default(true),
  HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: int(1, 256).default(2),
  HANDOFF_HEARTBEAT_SECONDS: int(1, 3600).default(10),
  HANDOFF_HEARTBEAT_GRACE_SECONDS: int(1, 86_400).optional(),
  HANDOFF_WORKER_LOST_POLICY: z.enum(['fail', 'requeue']).default('fail'),
  HANDOFF_RUN_LEASE_SECONDS: int(1, 86_400).optional(),
  HANDOFF_SWEEP_INTERVAL_MS: int(50, 600_000).default(5000),
  HANDOFF_OPERATOR_MESSAGE_MAX_BYTES: int(1, 1024 * 1024).default(4096),
  HANDOFF_PUBLIC_URL: url(['http:', 'https:']).optional(),
  HANDOFF_HOST: z.string().min(1).default('127.0.0.1'),
  HANDOFF_PORT: int(0, 65535).default(8080),
  HANDOFF_DATA_DIR: z.string().min(1).default('.data'),
  HANDOFF_OPERATOR_TOKEN_MAX_TTL: duration(365 * 86400).default(30 * 86400),
  HANDOFF_WORKER_TOKEN_MAX_TTL: duration(3650 * 86400).default(400 * 86400),
  HANDOFF_OPERATOR_SESSION_TTL: duration(365 * 86400).default(8 * 3600),
  HANDOFF_OIDC_ISSUER: url(['http:', 'https:']).optional(),
  HANDOFF_OIDC_CLIENT_ID: z.string().min(1).optional(),
  HANDOFF_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  HANDOFF_OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  HANDOFF_OIDC_ROLE_MAP: roleMap.optional(),
  HANDOFF_OIDC_REDIRECT_URL: url(['http:', 'https:']).optional(),
  HANDOFF_OIDC_SCOPES: z.string().min(1).default('openid profile email'),
  HANDOFF_OIDC_ACCEPT_JWT: bool.default(false),
  HANDOFF_OIDC_AUDIENCE: z.string().min(1).optional(),
  HANDOFF_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface HubConfig {
  env: 'production' | 'development' | 'test';
  databaseUrl: string | undefined;
  /** PostgreSQL schema the hub's tables live in (tests use one per run). */
  databaseSchema: string | undefined;
  redisUrl: string | undefined;
  /** Redis pub/sub channel prefix: hubs of one deployment share it. */
  redisChannelPrefix: string;
  /** Longest a database statement may take: a database that stops answering becomes a 503, not a hang. */
  databaseQueryTimeoutMs: number;
  /** Output queued for one viewer past which it is held back and later resynced from a snapshot. */
  viewerBacklogBytes: number;
  /** How long a hub's graceful shutdown may take before it exits anyway. */
  shutdownTimeoutMs: number;
  jwtSecret: string | undefined;
  encryptionKey: Buffer | undefined;
  liveSession: {
    enabledDefault: boolean;
    provider: 'hub' | 'none';
    ttlMinutes: number;
    rwGrantTtlMinutes: number;
    allowWeb: boolean;
    maxConcurrentPerWorker: number;
  };
  heartbeatSeconds: number;
  heartbeatGraceSeconds: number;
  workerLostPolicy: 'fail' | 'requeue';
  /**
   * The run lease L (fencing, architecture §7a): an agent that could not heartbeat for L seconds
   * kills its runs; under the requeue policy the hub re-queues a silent worker's run only after
   * L + a margin (see workerLostAfterSeconds), so the two attempts never run side by side.
   */
  runLeaseSeconds: number;
  sweepIntervalMs: number;
  operatorMessageMaxBytes: number;
  publicUrl: string | undefined;
  host: string;
  port: number;
  dataDir: string;
  logLevel: string;
  /** Longest lifetimes of operator and worker tokens, seconds (minting refuses more, the hub refuses tokens that claim more). */
  tokenMaxSeconds: { operator: number; worker: number };
  /** How long a sign-in (dashboard or `handoff login`) lasts, seconds. */
  operatorSessionSeconds: number;
  /** OpenID Connect sign-in; null without HANDOFF_OIDC_ISSUER (development sign-in only). */
  oidc: OidcConfig | null;
}

export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  /** The ID token / userinfo claim that lists the person's groups. */
  groupsClaim: string;
  /** Group → role, in the order given; a person in several mapped groups gets the highest role. */
  roleMap: Array<[group: string, role: OperatorRole]>;
  /** Where the provider sends the browser back: HANDOFF_OIDC_REDIRECT_URL, or HANDOFF_PUBLIC_URL + /auth/callback. */
  redirectUrl: string | undefined;
  scopes: string;
  /** Accept the provider's own access tokens / ID tokens (JWTs checked against its JWKS) as operator tokens. */
  acceptJwt: boolean;
  /** The audience such a JWT must carry (HANDOFF_OIDC_AUDIENCE, default the client id). */
  audience: string;
}

/**
 * What the lease margin covers: the agent's lease check tick, killing the run's processes, and
 * clock drift between the hubs that record a heartbeat and sweep it. One beat, at least 2 s.
 */
export function leaseMarginSeconds(c: Pick<HubConfig, 'heartbeatSeconds'>): number {
  return Math.max(2, c.heartbeatSeconds);
}

/**
 * Silence after which a run's worker is declared lost: the grace; under the requeue policy never
 * before the lease plus its margin has passed (the previous attempt is fenced by then).
 */
export function workerLostAfterSeconds(c: Pick<HubConfig, 'heartbeatSeconds' | 'heartbeatGraceSeconds' | 'workerLostPolicy' | 'runLeaseSeconds'>): number {
  if (c.workerLostPolicy !== 'requeue') return c.heartbeatGraceSeconds;
  return Math.max(c.heartbeatGraceSeconds, c.runLeaseSeconds + leaseMarginSeconds(c));
}

export function decodeKey(value: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  const b = Buffer.from(value, 'base64');
  return b.length === 32 ? b : null;
}

export function loadHubConfig(env: NodeJS.ProcessEnv = process.env): HubConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`));
  }
  const c = parsed.data;
  const problems: string[] = [];
  if (c.NODE_ENV === 'production') {
    if (!c.HANDOFF_JWT_SECRET) problems.push('HANDOFF_JWT_SECRET: required when NODE_ENV=production');
    if (!c.HANDOFF_ENCRYPTION_KEY) problems.push('HANDOFF_ENCRYPTION_KEY: required when NODE_ENV=production');
  }
  if (c.HANDOFF_OIDC_ISSUER) {
    if (!c.HANDOFF_OIDC_CLIENT_ID) problems.push('HANDOFF_OIDC_CLIENT_ID: required with HANDOFF_OIDC_ISSUER');
    if (!c.HANDOFF_OIDC_ROLE_MAP?.length) problems.push('HANDOFF_OIDC_ROLE_MAP: required with HANDOFF_OIDC_ISSUER (e.g. ops-admins=admin,ops=operator,staff=viewer)');
  } else {
    for (const k of ['HANDOFF_OIDC_CLIENT_ID', 'HANDOFF_OIDC_CLIENT_SECRET', 'HANDOFF_OIDC_ROLE_MAP', 'HANDOFF_OIDC_REDIRECT_URL', 'HANDOFF_OIDC_AUDIENCE'] as const) {
      if (c[k] !== undefined) problems.push(`${k}: has no effect without HANDOFF_OIDC_ISSUER`);
    }
    if (c.HANDOFF_OIDC_ACCEPT_JWT) problems.push('HANDOFF_OIDC_ACCEPT_JWT: needs HANDOFF_OIDC_ISSUER');
  }
  if (problems.length) throw new ConfigError(problems);
  return {
    env: c.NODE_ENV,
    databaseUrl: c.HANDOFF_DATABASE_URL,
    databaseSchema: c.HANDOFF_DATABASE_SCHEMA,
    redisUrl: c.HANDOFF_REDIS_URL,
    redisChannelPrefix: c.HANDOFF_REDIS_CHANNEL_PREFIX,
    shutdownTimeoutMs: c.HANDOFF_SHUTDOWN_TIMEOUT_MS,
    databaseQueryTimeoutMs: c.HANDOFF_DATABASE_QUERY_TIMEOUT_MS,
    viewerBacklogBytes: c.HANDOFF_VIEWER_BACKLOG_BYTES,
    jwtSecret: c.HANDOFF_JWT_SECRET,
    encryptionKey: c.HANDOFF_ENCRYPTION_KEY ? (decodeKey(c.HANDOFF_ENCRYPTION_KEY) ?? undefined) : undefined,
    liveSession: {
      enabledDefault: c.HANDOFF_LIVE_SESSION_ENABLED_DEFAULT,
      provider: c.HANDOFF_LIVE_SESSION_PROVIDER,
      ttlMinutes: c.HANDOFF_LIVE_SESSION_TTL_MINUTES,
      rwGrantTtlMinutes: c.HANDOFF_LIVE_SESSION_RW_GRANT_TTL_MINUTES,
      allowWeb: c.HANDOFF_LIVE_SESSION_ALLOW_WEB,
      maxConcurrentPerWorker: c.HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER,
    },
    heartbeatSeconds: c.HANDOFF_HEARTBEAT_SECONDS,
    heartbeatGraceSeconds: c.HANDOFF_HEARTBEAT_GRACE_SECONDS ?? c.HANDOFF_HEARTBEAT_SECONDS * 3,
    workerLostPolicy: c.HANDOFF_WORKER_LOST_POLICY,
    runLeaseSeconds: c.HANDOFF_RUN_LEASE_SECONDS ?? c.HANDOFF_HEARTBEAT_GRACE_SECONDS ?? c.HANDOFF_HEARTBEAT_SECONDS * 3,
    sweepIntervalMs: c.HANDOFF_SWEEP_INTERVAL_MS,
    operatorMessageMaxBytes: c.HANDOFF_OPERATOR_MESSAGE_MAX_BYTES,
    publicUrl: c.HANDOFF_PUBLIC_URL,
    host: c.HANDOFF_HOST,
    port: c.HANDOFF_PORT,
    dataDir: resolve(c.HANDOFF_DATA_DIR),
    logLevel: c.HANDOFF_LOG_LEVEL,
    tokenMaxSeconds: { operator: c.HANDOFF_OPERATOR_TOKEN_MAX_TTL, worker: c.HANDOFF_WORKER_TOKEN_MAX_TTL },
    operatorSessionSeconds: Math.min(c.HANDOFF_OPERATOR_SESSION_TTL, c.HANDOFF_OPERATOR_TOKEN_MAX_TTL),
    oidc:
      c.HANDOFF_OIDC_ISSUER && c.HANDOFF_OIDC_CLIENT_ID && c.HANDOFF_OIDC_ROLE_MAP
        ? {
            issuer: c.HANDOFF_OIDC_ISSUER,
            clientId: c.HANDOFF_OIDC_CLIENT_ID,
            clientSecret: c.HANDOFF_OIDC_CLIENT_SECRET,
            groupsClaim: c.HANDOFF_OIDC_GROUPS_CLAIM,
            roleMap: c.HANDOFF_OIDC_ROLE_MAP,
            redirectUrl: c.HANDOFF_OIDC_REDIRECT_URL ?? (c.HANDOFF_PUBLIC_URL ? `${c.HANDOFF_PUBLIC_URL.replace(/\/+$/, '')}/auth/callback` : undefined),
            scopes: c.HANDOFF_OIDC_SCOPES,
            acceptJwt: c.HANDOFF_OIDC_ACCEPT_JWT,
            audience: c.HANDOFF_OIDC_AUDIENCE ?? c.HANDOFF_OIDC_CLIENT_ID,
          }
        : null,
  };
}
