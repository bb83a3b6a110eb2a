/**
 * Locks and lookups under the services (taskRuns.ts, liveSessions.ts): a run or its session
 * read for update, and a worker's run checked to be its own.
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { TaskRun, TaskRunLiveSession } from '../db/entities.ts';
import { forbidden, notFound } from './errors.ts';

export async function lockRun(em: EntityManager, id: string): Promise<TaskRun> {
  const run = await em.findOne(TaskRun, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!run) throw notFound(`task run ${id} not found`);
  return run;
}

/** 403 unless `workerId` owns the run: the one ownership rule of worker commands. */
export function assertOwner(run: { id: string; workerId?: string | null }, workerId: string): void {
  if (run.workerId !== workerId) throw forbidden(`worker ${workerId} does not own task run ${run.id}`);
}

/** Loads a run for a worker command, locked: 404 if unknown, 403 unless this worker owns it. */
export async function ownedRun(em: EntityManager, runId: string, workerId: string): Promise<TaskRun> {
  const run = await lockRun(em, runId);
  assertOwner(run, workerId);
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
