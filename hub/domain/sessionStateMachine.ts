/**
 * The live session state machine (architecture §3), the one place that says which status may follow
 * which. disabled → starting → ready → (revoked | ended | error); starting → error; terminal
 * states never change. A report of the status a session already has is an idempotent no-op.
 */
import type { SessionStatus } from '../../common/statuses.ts';
import { TERMINAL_SESSION_STATUSES } from '../../common/statuses.ts';

const NEXT: Record<SessionStatus, readonly SessionStatus[]> = {
  // disabled: enabled for the run, waiting for a worker to bring the live layer up
  disabled: ['starting', 'ready', 'revoked', 'ended', 'error'],
  starting: ['ready', 'revoked', 'ended', 'error'],
  ready: ['revoked', 'ended', 'error'],
  revoked: [],
  ended: [],
  error: [],
};

export function isTerminalSession(status: SessionStatus): boolean {
  return TERMINAL_SESSION_STATUSES.includes(status);
}

export function canTransition(from: SessionStatus, to: SessionStatus): boolean {
  return NEXT[from].includes(to);
}

/** Why a transition is refused, or null when it is allowed (same status counts as allowed). */
export function transitionProblem(from: SessionStatus, to: SessionStatus): string | null {
  if (from === to) return null;
  if (canTransition(from, to)) return null;
  if (isTerminalSession(from)) return `session is ${from}: a terminal state never changes`;
  return `session cannot go from ${from} to ${to}`;
}
