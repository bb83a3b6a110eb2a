/**
 * What the domain tells the real-time layer after a change is committed. The domain never
 * imports Socket.IO; the realtime layer subscribes here and fans out (across hubs through the
 * Socket.IO adapter).
 */
import { EventEmitter } from 'node:events';
import type { ControlEventDto, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { LiveControl } from '../../common/statuses.ts';

export interface HubEventMap {
  /** A run or its session changed status. */
  'run:changed': [run: TaskRunDto, session: LiveSessionDto | null];
  /** A new run is queued: idle agents should claim. */
  'run:available': [];
  'run:cancelled': [runId: string];
  'run:control': [runId: string, liveControl: LiveControl, summary: string | undefined];
  /** The agent acknowledged the latest control state (viewers only). */
  'run:controlApplied': [runId: string, liveControl: LiveControl];
  'run:message': [runId: string, event: ControlEventDto];
  /** The session was revoked (by an operator or the TTL): tear the live layer down. */
  'session:revoked': [runId: string, reason: string];
  /** The session was enabled on a run already running: the agent brings the live layer up. */
  'session:enabled': [runId: string];
  /** RW grants of the session changed: revoke-write bumped the generation, or a grant expired. */
  'rw:changed': [runId: string, rwGeneration: number, rwGrantedUntil: string | null];
  /** Operator sessions were ended: every hub refuses them and drops their sockets. */
  'operator:sessionsEnded': [sessionIds: string[]];
  /** Any control event was appended (the audit timeline is live). */
  'event:appended': [event: ControlEventDto];
}

export class HubEvents extends EventEmitter<HubEventMap> {}
