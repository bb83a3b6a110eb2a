/**
 * The persisted model (architecture §3). Plain data: the rules that change it live in hub/domain.
 */
import { randomUUID } from 'node:crypto';
import { defineEntity, p } from '@mikro-orm/core';
import type { InferEntity } from '@mikro-orm/core';
import type { RunAttention } from '../../common/api.ts';
import type { LiveControl } from '../../common/statuses.ts';
import { OPERATOR_ROLES, SESSION_PROVIDERS, SESSION_STATUSES, TASK_RUN_STATUSES } from '../../common/statuses.ts';

export interface TaskRunPayload {
  liveControl?: LiveControl;
  attention?: RunAttention;
  /** Working directory for the steps; the run's artifact folder when absent. */
  cwd?: string;
  [key: string]: unknown;
}

export const TaskRun = defineEntity({
  name: 'TaskRun',
  tableName: 'task_run',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    status: p.enum(TASK_RUN_STATUSES).index(),
    steps: p.json<string[]>(),
    payload: p.json<TaskRunPayload>(),
    workerId: p.string().nullable().index(),
    exitCode: p.integer().nullable(),
    /** How many times the run went back to the queue after its worker was lost. */
    attempts: p.integer().default(0),
    createdAt: p.datetime().onCreate(() => new Date()).index(),
    startedAt: p.datetime().nullable(),
    /** Last sign of life from the owning worker (heartbeat); the sweeper fails or re-queues stale runs. */
    lastHeartbeatAt: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type TaskRun = InferEntity<typeof TaskRun>;

export const TaskRunLiveSession = defineEntity({
  name: 'TaskRunLiveSession',
  tableName: 'task_run_live_session',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    taskRun: () => p.oneToOne(TaskRun).owner().deleteRule('cascade'),
    provider: p.enum(SESSION_PROVIDERS),
    status: p.enum(SESSION_STATUSES).index(),
    readyAt: p.datetime().nullable(),
    endedAt: p.datetime().nullable(),
    expiresAt: p.datetime().nullable(),
    rwGrantedUntil: p.datetime().nullable(),
    lastHeartbeatAt: p.datetime().nullable(),
    workerId: p.string().nullable(),
    workerHostname: p.string().nullable(),
    attachRo: p.text().nullable(),
    /** AES-256-GCM sealed (hub/auth/sealedBox.ts); never served except by grant-write. */
    attachRwEncrypted: p.text().nullable(),
    webRo: p.text().nullable(),
    webRwEncrypted: p.text().nullable(),
    errorMessage: p.text().nullable(),
    rwGeneration: p.integer().default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type TaskRunLiveSession = InferEntity<typeof TaskRunLiveSession>;

export const TaskRunControlEvent = defineEntity({
  name: 'TaskRunControlEvent',
  tableName: 'task_run_control_event',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    taskRun: () => p.manyToOne(TaskRun).deleteRule('cascade').index(),
    actorUserId: p.string().nullable(),
    action: p.string().index(),
    metadataJson: p.json<Record<string, unknown>>(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type TaskRunControlEvent = InferEntity<typeof TaskRunControlEvent>;

/**
 * A run's terminal recording (asciicast v2 event lines), kept by the hub as the output flows, in
 * batches (architecture §3): any hub serves any recording, and it holds every byte a hub saw.
 */
export const TaskRunRecordingPart = defineEntity({
  name: 'TaskRunRecordingPart',
  tableName: 'task_run_recording_part',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    taskRun: () => p.manyToOne(TaskRun).deleteRule('cascade').index(),
    /** live: written by a hub from the relayed stream; upload: a whole recording the agent sent. */
    source: p.enum(['live', 'upload'] as const),
    /** The pane's output offset after the last byte of this part (live parts; dedupes re-sent output). */
    endOffset: p.bigint('number').default(0),
    /** Terminal output bytes in this part (a longer recording is never replaced by a shorter one). */
    outputBytes: p.bigint('number').default(0),
    /** Newline-terminated asciicast event lines, times relative to the recording's start (parts written before zstd). */
    events: p.text().nullable(),
    /** The same lines, zstd-compressed (recordings/compression.ts); stored without the store's own compression. */
    eventsZstd: p.blob().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type TaskRunRecordingPart = InferEntity<typeof TaskRunRecordingPart>;

/**
 * An operator's sign-in (architecture §7): every operator token names one by its `sid`, and the hub
 * refuses a token whose session has ended or expired. Rows are never deleted by the application:
 * an ended session stays as the record of who ended it and when.
 */
export const OperatorSession = defineEntity({
  name: 'OperatorSession',
  tableName: 'operator_session',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    /** The identity provider's subject (`sub`), or the name a development token was minted for. */
    subject: p.string().index(),
    /** The identity provider's issuer URL; `handoff:dev` for development tokens. */
    issuer: p.string(),
    displayName: p.string().nullable(),
    role: p.enum(OPERATOR_ROLES),
    /** How the session began: `oidc` (dashboard sign-in), `cli` (handoff login), `dev` (a minted token, registered on first use). */
    source: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
    expiresAt: p.datetime().index(),
    endedAt: p.datetime().nullable(),
    /** Who ended it: an admin's `issuer subject`, `self` (sign-out). */
    endedBy: p.string().nullable(),
  },
});
export type OperatorSession = InferEntity<typeof OperatorSession>;

export const ENTITIES = [TaskRun, TaskRunLiveSession, TaskRunControlEvent, TaskRunRecordingPart, OperatorSession];
