/**
 * Locks and lookups under the services (taskRuns.ts, liveSessions.ts): a run or its session
 * read for update, and a worker's message checked to come from the run's current attempt.
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { TaskRun, TaskRunLiveSession } from '../db/entities.ts';
import { notFound, staleAttempt } from './errors.ts';

export async function lockRun(em: EntityManager, id: string): Promise<TaskRun> {
  const run = await em.findOne(TaskRun, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!run) throw notFound(`task run ${id} not found`);
  return run;
}

/** Whether `attempt` is the run's current attempt and `workerId` holds it (fencing, architecture §7a). */
export function holds(run: { workerId?: string | null; attempts: number }, workerId: string, attempt: number): boolean {
  return run.workerId === workerId && run.attempts + 1 === attempt;
}

/**
 * `stale_attempt` (409) unless `attempt` is the run's current attempt (`attempt` of its DTO) and
 * `workerId` holds it: the one rule of a worker's messages about a run (fencing, §7a).
 */
export function assertHolder(run: { id: string; workerId?: string | null; attempt: number }, workerId: string, attempt: number): void {
  if (run.workerId !== workerId || run.attempt !== attempt) throw staleAttempt(`attempt ${attempt} of task run ${run.id} is not worker ${workerId}'s current attempt`);
}

/**
 * Loads a run for a worker command about one attempt, locked: 404 if unknown, `stale_attempt`
 * unless `attempt` is the run's current one and this worker holds it. The row stays locked until
 * the transaction ends, so a re-queue cannot slip in between.
 */
export async function ownedRun(em: EntityManager, runId: string, workerId: string, attempt: number): Promise<TaskRun> {
  const run = await lockRun(em, runId);
  if (!holds(run, workerId, attempt)) throw staleAttempt(`attempt ${attempt} of task run ${runId} is not worker ${workerId}'s current attempt`);
  return run;
}

export async function sessionOf(em: EntityManager, runId: string): Promise<TaskRunLiveSession | null> {
  return em.findOne(TaskRunLiveSession, { taskRun: runId });
}

/** The run's session, locked: 404 when the run or its session does not exist. */
export async function lockSession(em: EntityManager, runId: string): Promise<TaskRunLiveSession> {
  const session = await em.findOne(TaskRunLiveSession, { taskRun: runId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!session) {
    const exists = await em.count(TaskRun, { id: runId });
    throw notFound(exists ? `task run ${runId} has no live session` : `task run ${runId} not found`);
  }
  return session;
}
