/** Bearer-token checks for the REST API: operator roles and worker identity (architecture §7). */
import type { NextFunction, Request, Response } from 'express';
import type { OperatorAction } from '../../common/policy.ts';
import { may, POLICY } from '../../common/policy.ts';
import type { OperatorClaims, TokenService, WorkerClaims } from '../auth/tokens.ts';
import { TokenError } from '../auth/tokens.ts';
import { forbidden, unauthorized } from '../domain/errors.ts';
import type { OperatorAuth } from '../auth/operatorAuth.ts';

declare module 'express-serve-static-core' {
  interface Request {
    operator?: OperatorClaims;
    worker?: WorkerClaims;
  }
}

function bearer(req: Request): string {
  const h = req.headers.authorization;
  if (!h) throw unauthorized('missing Authorization: Bearer <token>');
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  if (!m?.[1]) throw unauthorized('malformed Authorization header (expected Bearer <token>)');
  return m[1];
}

/** An operator token of a live operator session whose role may take `action` (common/policy.ts). */
export function requireOperator(auth: OperatorAuth, action: OperatorAction) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    let claims: OperatorClaims;
    try {
      claims = await auth.authenticate(bearer(req));
    } catch (err) {
      if (err instanceof TokenError) return next(unauthorized(err.message));
      return next(err);
    }
    if (!may(claims.role, action)) return next(forbidden(`role ${claims.role} may not do this (${action} needs ${POLICY[action]})`));
    req.operator = claims;
    next();
  };
}

export function requireWorker(tokens: TokenService) {
  return (req: Request, _res: Response, next: NextFunction) => {
    try {
      req.worker = tokens.verifyWorker(bearer(req));
      next();
    } catch (err) {
      next(err instanceof TokenError ? unauthorized(err.message) : err);
    }
  };
}

/** A worker may act only as itself: the body's workerId must be the token's. */
export function assertSameWorker(req: Request, workerId: string): string {
  const w = req.worker;
  if (!w) throw unauthorized();
  if (w.workerId !== workerId) throw forbidden(`token is for worker ${w.workerId}, not ${workerId}`);
  return w.workerId;
}
