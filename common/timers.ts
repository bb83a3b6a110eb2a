/**
 * Timers for common/: every runtime we run in (browsers, Node) has setTimeout / clearTimeout,
 * but neither ES library declares them, and common/ is type-checked without DOM and Node types.
 */
export type TimerId = { readonly __timer: unique symbol };

interface GlobalTimers {
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

const timers = globalThis as unknown as GlobalTimers;

export function later(fn: () => void, ms: number): TimerId {
  return timers.setTimeout(fn, ms);
}

export function cancel(id: TimerId | null | undefined): void {
  if (id) timers.clearTimeout(id);
}
