/**
 * The operator's token for this browser tab (sessionStorage: it dies with the tab and is not
 * shared with other tabs). The role and name are read from the JWT payload without verifying
 * it: they only decide which buttons to show; the hub checks every call.
 */
import type { OperatorAction } from '../../common/policy.ts';
import { may } from '../../common/policy.ts';
import type { OperatorRole } from '../../common/statuses.ts';
import { OPERATOR_ROLES } from '../../common/statuses.ts';

const KEY = 'handoff.token';

export interface Identity {
  token: string;
  sub: string;
  /** The display name the identity provider gave (absent for development tokens). */
  name: string | null;
  role: OperatorRole;
  /** Expiry, ms since epoch; null when the token has none. */
  expiresAt: number | null;
}

function decodeBase64Url(part: string): string {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Reads an operator token's claims; throws an Error with a readable message when it is not one or has expired. */
export function parseToken(raw: string): Identity {
  const id = readClaims(raw);
  if (id.expiresAt !== null && id.expiresAt <= Date.now()) throw new Error('that token has expired');
  return id;
}

function readClaims(raw: string): Identity {
  const token = raw.trim();
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('that is not a token (expected three dot-separated parts)');
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(decodeBase64Url(parts[1] ?? '')) as Record<string, unknown>;
  } catch {
    throw new Error('that is not a token (its payload is not readable)');
  }
  const role = payload['role'];
  if (!OPERATOR_ROLES.includes(role as OperatorRole)) throw new Error('that token carries no operator role (is it a worker or grant token?)');
  const sub = typeof payload['sub'] === 'string' ? payload['sub'] : 'unknown';
  const exp = typeof payload['exp'] === 'number' ? payload['exp'] * 1000 : null;
  const name = typeof payload['name'] === 'string' && payload['name'] ? payload['name'] : null;
  return { token, sub, name, role: role as OperatorRole, expiresAt: exp };
}

export function currentIdentity(): Identity | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return parseToken(raw);
  } catch {
    sessionStorage.removeItem(KEY);
    return null;
  }
}

export function signIn(raw: string): Identity {
  const id = parseToken(raw);
  sessionStorage.setItem(KEY, id.token);
  return id;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}

/** Whether the signed-in role may take `action`: the hub's own policy table (the hub has the last word). */
export function can(id: Identity | null, action: OperatorAction): boolean {
  return !!id && may(id.role, action);
}

/** How long before its expiry the page warns that the sign-in ends. */
export const EXPIRY_WARNING_MS = 5 * 60_000;

function at(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Why the tab is being signed out, for the sign-in page. */
export function expiredReason(expiresAt: number): string {
  return `Signed out: your sign-in token expired at ${at(expiresAt)}. Sign in again with a fresh token to go on; what you were typing is kept.`;
}

/** The sign-in page's reason after the hub refused the token (`message` is the hub's). */
export function refusedReason(message: string): string {
  const raw = sessionStorage.getItem(KEY);
  let exp: number | null;
  try {
    exp = raw ? readClaims(raw).expiresAt : null;
  } catch {
    exp = null; // not readable: the generic reason
  }
  if (exp !== null && exp <= Date.now() + 1000) return expiredReason(exp);
  return `Your token was refused by the hub (${message}). Please sign in again.`;
}
