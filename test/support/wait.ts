/**
 * Waiting in tests, in one place. Prefer waiting for the event that matters (`nextEvent`) or for
 * a state to be reached (`waitUntil`); a timeout always fails with what was awaited.
 */
import type { EventEmitter } from 'node:events';

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Polls a probe of a page or a process that may fail while the thing settles: until it returns a
 * value other than undefined, null or false; a probe that throws is tried again, and its last
 * error is named on timeout.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * Resolves with `read()` once it stayed the same for `quietMs` (output that went quiet: what was
 * in flight has arrived); fails after `timeoutMs`.
 */
export function waitSteady<T>(what: string, read: () => T, quietMs: number, timeoutMs = 5000): Promise<T> {
  let last = read();
  let since = Date.now();
  return waitUntil(what, () => {
    const now = read();
    if (now !== last) [last, since] = [now, Date.now()];
    return Date.now() - since >= quietMs ? last : undefined;
  }, timeoutMs, 10);
}

/** Anything with on / off of an event (Node emitters, Socket.IO sockets). */
export interface Listenable {
  on(event: string, fn: (...args: never[]) => void): unknown;
  off(event: string, fn: (...args: never[]) => void): unknown;
}

/**
 * The next `event` whose arguments pass `match`, or a failure naming `what` after `timeoutMs`.
 * Subscribe before causing the event: call this, then act, then await the promise.
 */
export function nextEvent<A extends unknown[]>(source: Listenable | EventEmitter, event: string, what: string, match: (...args: A) => boolean = () => true, timeoutMs = 10_000): Promise<A> {
  const src = source as Listenable;
  return new Promise<A>((resolve, reject) => {
    const fn = (...args: never[]) => {
      if (!match(...(args as unknown as A))) return;
      clearTimeout(timer);
      src.off(event, fn);
      resolve(args as unknown as A);
    };
    const timer = setTimeout(() => {
      src.off(event, fn);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${event})`));
    }, timeoutMs);
    src.on(event, fn);
  });
}
