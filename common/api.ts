/** JSON shapes of the REST API (architecture §4), shared by hub, agent, CLI and dashboard. */
import type { ControlAction, LiveControl, SessionProvider, SessionStatus, TaskRunStatus } from './statuses.ts';

/** Set by the hub from the agent's report: the run's terminal waits for a person's input. */
export interface RunAttention {
  waitingForInput: boolean;
  /** Since when it waits (or waited, until it was given input). */
  since: string;
}

export interface TaskRunDto {
  id: string;
  status: TaskRunStatus;
  steps: string[];
  payload: Record<string, unknown> & { liveControl?: LiveControl; cwd?: string; attention?: RunAttention };
  workerId: string | null;
  /** The number of the run's current attempt (1 for the first claim; each re-queue starts the next). */
  attempt: number;
  exitCode: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  /** Present on list and detail answers. */
  liveSession?: LiveSessionDto | null;
}

/** A live session as served: never holds RW attach data (only grant-write reveals it). */
export interface LiveSessionDto {
  id: string;
  taskRunId: string;
  provider: SessionProvider;
  status: SessionStatus;
  readyAt: string | null;
  endedAt: string | null;
  expiresAt: string | null;
  rwGrantedUntil: string | null;
  lastHeartbeatAt: string | null;
  workerId: string | null;
  workerHostname: string | null;
  attachRo: string | null;
  webRo: string | null;
  errorMessage: string | null;
  rwGeneration: number;
  createdAt: string;
  updatedAt: string;
}

export interface ControlEventDto {
  id: number;
  taskRunId: string;
  actorUserId: string | null;
  action: ControlAction | string;
  metadata: Record<string, unknown>;
  createdAt: string;
}

export interface GrantWriteResult {
  session: LiveSessionDto;
  /** The session's RW attach command, without the grant (never on a command line): `handoff attach RUN --rw`. */
  attachRw: string;
  /** The dashboard link with the grant in its fragment: `…/runs/ID#grant=TOKEN`. */
  webRw?: string;
  /** Works only under the grantee's own operator token (architecture §7a). */
  grantToken: string;
  grantedUntil: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/**
 * One step of a run as the hub recorded it (its step_started / step_finished audit events; the
 * latest attempt when the run was requeued). Times are null for a step that has not begun or ended.
 */
export interface RunStepDto {
  /** 0-based index into the run's steps. */
  index: number;
  command: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
}
