/**
 * Who may do what: the one policy table (architecture §7). The hub's routes and gateways enforce
 * it; the dashboard reads it to show only the controls a role may use.
 */
import type { OperatorRole } from './statuses.ts';

const ROLE_RANK: Record<OperatorRole, number> = { viewer: 0, operator: 1, admin: 2 };

/** Each operator action and the least role that may take it. */
export const POLICY = {
  /** runs, their events, recordings and live sessions; watching a run read-only */
  'runs.read': 'viewer',
  'runs.create': 'operator',
  'runs.cancel': 'operator',
  /** pause, resume, takeover */
  'runs.control': 'operator',
  'runs.message': 'operator',
  'session.enable': 'operator',
  'session.grantWrite': 'operator',
  'session.revokeWrite': 'operator',
  /** typing into a run and resizing its pane, under a write grant of one's own */
  'session.write': 'operator',
  /** ends a live session for good */
  'session.revoke': 'admin',
  /** who is signed in: the active operator sessions */
  'operatorSessions.read': 'admin',
  /** ends someone's operator session (their tokens are refused, their sockets dropped) */
  'operatorSessions.end': 'admin',
} as const satisfies Record<string, OperatorRole>;

export type OperatorAction = keyof typeof POLICY;

export function roleAtLeast(role: OperatorRole, min: OperatorRole): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[min];
}

/** Whether `role` may take `action`. */
export function may(role: OperatorRole, action: OperatorAction): boolean {
  return roleAtLeast(role, POLICY[action]);
}
