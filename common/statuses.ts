/** Status vocabularies shared by hub, agent and browser (architecture §3). */

export const TASK_RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskRunStatus = (typeof TASK_RUN_STATUSES)[number];
export const TERMINAL_RUN_STATUSES: readonly TaskRunStatus[] = ['succeeded', 'failed', 'cancelled'];

export const SESSION_STATUSES = ['disabled', 'starting', 'ready', 'revoked', 'ended', 'error'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const TERMINAL_SESSION_STATUSES: readonly SessionStatus[] = ['revoked', 'ended', 'error'];

export const SESSION_PROVIDERS = ['hub', 'none'] as const;
export type SessionProvider = (typeof SESSION_PROVIDERS)[number];

export const OPERATOR_ROLES = ['viewer', 'operator', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export const CONTROL_ACTIONS = [
  'create_session',
  'session_starting',
  'session_ready',
  'session_error',
  'session_ended',
  'grant_rw',
  'revoke_rw',
  'revoke_session',
  'ttl_expired',
  'rw_expired',
  'pause',
  'resume',
  'takeover',
  'send_message',
  'rw_attach',
  'rw_detach',
  'worker_lost',
  'run_created',
  'run_claimed',
  'run_completed',
  'run_cancelled',
  'run_requeued',
  'step_started',
  'step_finished',
  'input_wanted',
  'input_given',
] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

/** What the agent reads from `payload.liveControl`. */
export interface LiveControl {
  paused: boolean;
  /** soft: hold before the next step; hard: SIGSTOP the step's process group. */
  mode: 'soft' | 'hard';
  takeover: boolean;
  lastAction: 'pause' | 'resume' | 'takeover' | null;
  updatedAt: string | null;
  /** Set by the agent when it has applied the state above. */
  appliedAt?: string | null;
}

export const DEFAULT_LIVE_CONTROL: LiveControl = {
  paused: false,
  mode: 'soft',
  takeover: false,
  lastAction: null,
  updatedAt: null,
  appliedAt: null,
};
