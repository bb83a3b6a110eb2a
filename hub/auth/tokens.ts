/**
 * The three kinds of bearer token (architecture §7), all HS256 with the configured secret. Each kind
 * has its own audience, so a token of one kind is never accepted as another.
 */
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { OperatorRole } from '../../common/statuses.ts';
import { OPERATOR_ROLES } from '../../common/statuses.ts';

const ISSUER = 'handoff';
const AUD = { operator: 'handoff:operator', worker: 'handoff:worker', grant: 'handoff:rw-grant' } as const;

export interface OperatorClaims {
  kind: 'operator';
  sub: string;
  role: OperatorRole;
}
export interface WorkerClaims {
  kind: 'worker';
  workerId: string;
}
export interface GrantClaims {
  kind: 'rw-grant';
  runId: string;
  sessionId: string;
  grantee: string;
  generation: number;
  jti: string;
  /** Expiry, ms since epoch. */
  expiresAt: number;
}

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
 * The longest a token of each kind may live (from `iat` to `exp`): minting refuses more and
 * verification refuses a token that claims more (or says nothing of when it was issued).
 * Grants are bounded by the hub's configured grant TTL where they are issued.
 */
export const MAX_TOKEN_SECONDS = { operator: 30 * 86400, worker: 400 * 86400, grant: 86400 } as const;

function lifetime(kind: keyof typeof MAX_TOKEN_SECONDS, ttlSeconds: number): number {
  const max = MAX_TOKEN_SECONDS[kind];
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds > max) throw new TokenError(`${kind} tokens live at most ${max / 86400} days (asked: ${ttlSeconds} s)`);
  return ttlSeconds;
}

export class TokenService {
  constructor(private readonly secret: string) {}

  mintOperator(sub: string, role: OperatorRole, ttlSeconds = 8 * 3600): string {
    lifetime('operator', ttlSeconds);
    return jwt.sign({ role }, this.secret, { algorithm: 'HS256', subject: sub, audience: AUD.operator, issuer: ISSUER, expiresIn: ttlSeconds });
  }

  mintWorker(workerId: string, ttlSeconds = 365 * 86400): string {
    lifetime('worker', ttlSeconds);
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
      const max = kind && kind in MAX_TOKEN_SECONDS ? MAX_TOKEN_SECONDS[kind as keyof typeof MAX_TOKEN_SECONDS] : 0;
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
    const role = p['role'];
    if (typeof p.sub !== 'string' || !p.sub || !OPERATOR_ROLES.includes(role as OperatorRole)) throw new TokenError('invalid token');
    return { kind: 'operator', sub: p.sub, role: role as OperatorRole };
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
