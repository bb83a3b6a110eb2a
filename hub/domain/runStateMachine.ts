/**
 * The task run state machine (architecture §3), beside the session one: which status may follow
 * which, and what each move writes with it. queued → running (claimed) | cancelled; running →
 * succeeded | failed | cancelled | queued (requeued: handed back, or its worker lost); the
 * terminal states never change. The claim is one SQL statement (skip locked) that makes the
 * queued → running move itself; every other status is written here.
 */
import type { TaskRunStatus } from '../../common/statuses.ts';
import { DEFAULT_LIVE_CONTROL, TERMINAL_RUN_STATUSES } from '../../common/statuses.ts';
import type { TaskRun } from '../db/entities.ts';
import { invalidState } from './errors.ts';

const NEXT: Record<TaskRunStatus, readonly TaskRunStatus[]> = {
  queued: ['running', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function isTerminalRun(status: TaskRunStatus): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

/** Why the move is refused, or null when it is allowed. */
export function runTransitionProblem(from: TaskRunStatus, to: TaskRunStatus): string | null {
  if (NEXT[from].includes(to)) return null;
  if (isTerminalRun(from)) return `task run is already ${from}`;
  return `task run is ${from}, not ${from === 'queued' ? 'running' : 'queued'}`;
}

/**
 * Moves a run to `to`, refusing what the machine forbids (422), with what goes with the move:
 * an end time, exit code and no attention flag for a finished run; for a requeued one no
 * worker, a fresh control state and the next attempt.
 */
export function moveRun(run: TaskRun, to: TaskRunStatus, end: { exitCode?: number | null } = {}): void {
  const problem = runTransitionProblem(run.status, to);
  if (problem) throw invalidState(problem, { from: run.status, to });
  run.status = to;
  if (isTerminalRun(to)) {
    run.finishedAt = new Date();
    if (end.exitCode !== undefined) run.exitCode = end.exitCode;
    run.payload = withoutAttention(run.payload);
  } else if (to === 'queued') {
    run.workerId = null;
    run.startedAt = null;
    run.lastHeartbeatAt = null;
    run.attempts += 1;
    run.payload = { ...withoutAttention(run.payload), liveControl: { ...DEFAULT_LIVE_CONTROL } };
  }
}

/** A run that ended or went back to the queue waits for nobody. */
function withoutAttention(payload: TaskRun['payload']): TaskRun['payload'] {
  if (!payload.attention) return payload;
  const { attention: _gone, ...rest } = payload;
  return rest;
}
