/** Socket acks in the protocol's `{ ok, data | error }` shape; domain errors keep their code. */
import type { Logger } from 'pino';
import type { Ack, AckFn } from '../../common/protocol.ts';
import { isDatabaseDown } from '../db/databaseDown.ts';
import { ApiError } from '../domain/errors.ts';

export function ackError(err: unknown, log: Logger): Ack<never> {
  if (err instanceof ApiError) return { ok: false, error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
  if (isDatabaseDown(err)) {
    log.warn({ err: (err as Error).message }, 'socket handler: database unavailable');
    return { ok: false, error: { code: 'unavailable', message: 'database unavailable, try again shortly' } };
  }
  log.error({ err }, 'socket handler failed');
  return { ok: false, error: { code: 'internal', message: 'internal error' } };
}

/**
 * Wraps a socket handler: a missing or non-function ack is tolerated (a malformed event must
 * never throw inside Socket.IO), failures are acked as errors.
 */
export function answer<T>(ack: unknown, log: Logger, work: () => Promise<T>): void {
  const reply: AckFn<T> = typeof ack === 'function' ? (ack as AckFn<T>) : () => undefined;
  work().then(
    (data) => reply({ ok: true, data }),
    (err: unknown) => reply(ackError(err, log)),
  );
}
