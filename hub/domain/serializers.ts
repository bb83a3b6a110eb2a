/** Entities → the JSON shapes of common/api.ts. RW attach data never leaves through here. */
import type { ControlEventDto, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { TaskRun, TaskRunControlEvent, TaskRunLiveSession } from '../db/entities.ts';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function runDto(run: TaskRun, session?: TaskRunLiveSession | null): TaskRunDto {
  const dto: TaskRunDto = {
    id: run.id,
    status: run.status,
    steps: run.steps,
    payload: run.payload,
    workerId: run.workerId ?? null,
    attempt: run.attempts + 1,
    exitCode: run.exitCode ?? null,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    updatedAt: run.updatedAt.toISOString(),
  };
  if (session !== undefined) dto.liveSession = session ? sessionDto(session) : null;
  return dto;
}

export function sessionDto(s: TaskRunLiveSession): LiveSessionDto {
  return {
    id: s.id,
    taskRunId: s.taskRun.id,
    provider: s.provider,
    status: s.status,
    readyAt: iso(s.readyAt),
    endedAt: iso(s.endedAt),
    expiresAt: iso(s.expiresAt),
    rwGrantedUntil: iso(s.rwGrantedUntil),
    lastHeartbeatAt: iso(s.lastHeartbeatAt),
    workerId: s.workerId ?? null,
    workerHostname: s.workerHostname ?? null,
    attachRo: s.attachRo ?? null,
    webRo: s.webRo ?? null,
    errorMessage: s.errorMessage ?? null,
    rwGeneration: s.rwGeneration,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

export function eventDto(e: TaskRunControlEvent): ControlEventDto {
  return {
    id: Number(e.id),
    taskRunId: e.taskRun.id,
    actorUserId: e.actorUserId ?? null,
    action: e.action,
    metadata: e.metadataJson,
    createdAt: e.createdAt.toISOString(),
  };
}
