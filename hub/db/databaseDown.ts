/** Whether an error means the database cannot be reached (→ 503 `unavailable`, not a 500). */
import { ConnectionException } from '@mikro-orm/core';

const DB_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

export function isDatabaseDown(err: unknown): boolean {
  if (err instanceof ConnectionException) return true;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && DB_DOWN_CODES.has(code)) return true;
  const msg = err instanceof Error ? err.message : '';
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i.test(msg);
}
