/**
 * A live session's rows: the one factory, and the one place its status is written (through the
 * state machine, sessionStateMachine.ts), used by both services.
 */
import type { SessionProvider, SessionStatus } from '../../common/statuses.ts';
import type { TaskRun } from '../db/entities.ts';
import { TaskRunLiveSession } from '../db/entities.ts';
import type { Actor } from './actors.ts';
import { invalidState } from './errors.ts';
import type { UnitOfWork } from './hubContext.ts';
import { isTerminalSession, transitionProblem } from './sessionStateMachine.ts';

/** A new session of `run`, waiting for a worker (disabled), audited as create_session. */
export function newSessionIn(uow: UnitOfWork, run: TaskRun, provider: SessionProvider, actor: Actor, metadata: Record<string, unknown> = {}): TaskRunLiveSession {
  const now = new Date();
  const session = uow.em.create(TaskRunLiveSession, {
    taskRun: run,
    provider,
    status: 'disabled',
    workerId: run.workerId ?? null,
    rwGeneration: 0,
    createdAt: now,
    updatedAt: now,
  });
  uow.audit(run.id, 'create_session', actor, { sessionId: session.id, ...metadata });
  return session;
}

const ACTION_FOR: Partial<Record<SessionStatus, 'session_starting' | 'session_ready' | 'session_error' | 'session_ended' | 'revoke_session'>> = {
  starting: 'session_starting',
  ready: 'session_ready',
  error: 'session_error',
  ended: 'session_ended',
  revoked: 'revoke_session',
};

/**
 * Moves a session to a new status inside a unit of work, refusing what the state machine
 * forbids (422) and recording the transition. The one place a session's status is written.
 */
export function transitionIn(
  uow: UnitOfWork,
  session: TaskRunLiveSession,
  to: SessionStatus,
  actor: Actor,
  metadata: Record<string, unknown> = {},
): boolean {
  const from = session.status;
  const problem = transitionProblem(from, to);
  if (problem) throw invalidState(problem, { from, to });
  if (from === to) return false;
  session.status = to;
  const now = new Date();
  if (to === 'ready') session.readyAt = now;
  if (isTerminalSession(to)) {
    session.endedAt = now;
    session.rwGrantedUntil = null;
    session.rwGeneration += 1; // every RW grant dies with the session
  }
  const action = ACTION_FOR[to];
  if (action) uow.audit(session.taskRun.id, action, actor, { from, to, ...metadata });
  return true;
}

/** Ends a session if it is still live (run finished, cancelled, worker lost); no-op otherwise. */
export function endSessionIn(
  uow: UnitOfWork,
  session: TaskRunLiveSession,
  to: 'ended' | 'error' | 'revoked',
  actor: Actor,
  metadata: Record<string, unknown> = {},
  errorMessage?: string,
): void {
  if (isTerminalSession(session.status)) return;
  if (errorMessage) session.errorMessage = errorMessage;
  transitionIn(uow, session, to, actor, metadata);
}
