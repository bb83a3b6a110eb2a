/**
 * The three kinds of bearer token (architecture §7), all HS256 with the configured secret. Each kind
 * has its own audience, so a token of one kind is never accepted as another.
 */
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { OperatorRole } from '../../common/statuses.ts';
import { OPERATOR_ROLES } from '../../common/statuses.ts';

const ISSUER = 'handoff';
/** The `iss` of every token the hub mints. */
export const HUB_ISSUER = ISSUER;
const AUD = { operator: 'handoff:operator', worker: 'handoff:worker', grant: 'handoff:rw-grant' } as const;

/** The issuer recorded for the people behind development tokens (`handoff token`, `handoff dev`). */
export const DEV_ISSUER = 'handoff:dev';

export interface OperatorClaims {
  kind: 'operator';
  sub: string;
  role: OperatorRole;
  /** The operator session (hub/auth/operatorSessions.ts) the token belongs to: ended → refused. */
  sid: string;
  /** Who vouches for `sub`: the identity provider's issuer URL, or DEV_ISSUER. */
  idp: string;
  /** The person's display name, when the provider gave one. */
  name: string | null;
  /** Expiry, seconds since epoch. */
  exp: number;
  /** Issued by the identity provider itself (externalJwt.ts), not minted by the hub. */
  external?: true;
}

export interface OperatorMint {
  /** The session the token belongs to; a new random one (a development token) when absent. */
  sid?: string;
  idp?: string;
  name?: string | null;
}
export interface WorkerClaims {
  kind: 'worker';
  workerId: string;
}
export interface GrantClaims {
  kind: 'rw-grant';
  runId: string;
  sessionId: string;
  /** The operator (`sub`) it was minted for: it works only under that operator's own token. */
  grantee: string;
  generation: number;
  jti: string;
  /** Expiry, ms since epoch. */
  expiresAt: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Parses durations such as 90, 90s, 15m, 8h, 7d into seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new TokenError(`invalid duration "${text}" (use e.g. 30m, 8h, 7d)`);
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

/**
 * The longest a token of each kind may live (from `iat` to `exp`) by default: minting refuses more
 * and verification refuses a token that claims more (or says nothing of when it was issued).
 * HANDOFF_OPERATOR_TOKEN_MAX_TTL / HANDOFF_WORKER_TOKEN_MAX_TTL lower (or raise) the first two;
 * grants are bounded by the hub's configured grant TTL where they are issued.
 */
export const MAX_TOKEN_SECONDS = { operator: 30 * 86400, worker: 400 * 86400, grant: 86400 } as const;
export type TokenLimits = { [K in keyof typeof MAX_TOKEN_SECONDS]: number };

/** 90 → "90s", 5400 → "90m", 28800 → "8h", 2592000 → "30d": the largest whole unit. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

export class TokenService {
  readonly limits: TokenLimits;

  constructor(
    private readonly secret: string,
    limits: Partial<TokenLimits> = {},
  ) {
    this.limits = { ...MAX_TOKEN_SECONDS, ...limits };
  }

  private lifetime(kind: keyof TokenLimits, ttlSeconds: number): number {
    const max = this.limits[kind];
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds > max) {
      const asked = Number.isSafeInteger(ttlSeconds) ? formatDuration(ttlSeconds) : `${ttlSeconds} s`;
      throw new TokenError(`${kind} tokens live at most ${formatDuration(max)} (asked for ${asked})`);
    }
    return ttlSeconds;
  }

  mintOperator(sub: string, role: OperatorRole, ttlSeconds = 8 * 3600, opts: OperatorMint = {}): string {
    this.lifetime('operator', ttlSeconds);
    const claims = { role, sid: opts.sid ?? randomUUID(), idp: opts.idp ?? DEV_ISSUER, ...(opts.name ? { name: opts.name } : {}) };
    return jwt.sign(claims, this.secret, { algorithm: 'HS256', subject: sub, audience: AUD.operator, issuer: ISSUER, expiresIn: ttlSeconds });
  }

  mintWorker(workerId: string, ttlSeconds = 365 * 86400): string {
    this.lifetime('worker', ttlSeconds);
    return jwt.sign({}, this.secret, { algorithm: 'HS256', subject: workerId, audience: AUD.worker, issuer: ISSUER, expiresIn: ttlSeconds });
  }

  mintGrant(g: Omit<GrantClaims, 'kind' | 'jti'>): { token: string; jti: string } {
    const jti = randomUUID();
    const token = jwt.sign(
      { run: g.runId, session: g.sessionId, gen: g.generation, exp: Math.floor(g.expiresAt / 1000) },
      this.secret,
      { algorithm: 'HS256', subject: g.grantee, audience: AUD.grant, issuer: ISSUER, jwtid: jti },
    );
    return { token, jti };
  }

  private verify(token: string, audience: string): jwt.JwtPayload {
    try {
      const payload = jwt.verify(token, this.secret, { algorithms: ['HS256'], audience, issuer: ISSUER });
      if (typeof payload === 'string') throw new TokenError('malformed token');
      const kind = (Object.keys(AUD) as Array<keyof typeof AUD>).find((k) => AUD[k] === audience);
      const max = kind && kind in this.limits ? this.limits[kind as keyof TokenLimits] : 0;
      if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > max) throw new TokenError('token lifetime exceeds the maximum');
      return payload;
    } catch (err) {
      if (err instanceof TokenError) throw err;
      const msg = err instanceof jwt.TokenExpiredError ? 'token expired' : 'invalid token';
      throw new TokenError(msg);
    }
  }

  verifyOperator(token: string): OperatorClaims {
    const p = this.verify(token, AUD.operator);
    const { role, sid, idp, name } = p as Record<string, unknown>;
    if (typeof p.sub !== 'string' || !p.sub || !OPERATOR_ROLES.includes(role as OperatorRole)) throw new TokenError('invalid token');
    // Every operator token belongs to a session that can be ended; one without is from before sessions existed.
    if (typeof sid !== 'string' || !sid || typeof idp !== 'string' || !idp) throw new TokenError('token has no operator session (mint a new one)');
    if (!UUID.test(sid)) throw new TokenError('invalid token');
    return { kind: 'operator', sub: p.sub, role: role as OperatorRole, sid, idp, name: typeof name === 'string' && name ? name : null, exp: p.exp as number };
  }

  verifyWorker(token: string): WorkerClaims {
    const p = this.verify(token, AUD.worker);
    if (typeof p.sub !== 'string' || !p.sub) throw new TokenError('invalid token');
    return { kind: 'worker', workerId: p.sub };
  }

  verifyGrant(token: string): GrantClaims {
    const p = this.verify(token, AUD.grant);
    const { run, session, gen, jti, exp, sub } = p as Record<string, unknown>;
    if (typeof run !== 'string' || typeof session !== 'string' || typeof gen !== 'number' || typeof jti !== 'string' || typeof exp !== 'number' || typeof sub !== 'string') {
      throw new TokenError('invalid token');
    }
    return { kind: 'rw-grant', runId: run, sessionId: session, grantee: sub, generation: gen, jti, expiresAt: exp * 1000 };
  }
}
