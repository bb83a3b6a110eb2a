/**
 * The real-time protocol (architecture §5), version 2: Socket.IO namespaces and typed event maps
 * shared by hub, agent, CLI and browser. Documented for other implementers in docs/protocol.md.
 *
 * Hot-path events (`pane:output`, `pane:input`) use positional arguments with a binary payload
 * so Socket.IO sends the bytes as a binary attachment, never as JSON text.
 */
import type { ControlEventDto, LiveSessionDto, TaskRunDto } from './api.ts';
import type { LiveControl, TaskRunStatus } from './statuses.ts';

/** 2: every agent message about a run carries the run's `attempt` (fencing, architecture §7a). */
export const PROTOCOL_VERSION = 2;
/** The error code of a message about a run attempt that is not the current one of the sending worker. */
export const STALE_ATTEMPT = 'stale_attempt';
export const AGENT_NAMESPACE = '/agent';
export const VIEWER_NAMESPACE = '/viewer';
export const SOCKET_PATH = '/socket.io';

/** Default pty size (columns × rows) of a task pane. */
export const DEFAULT_COLS = 120;
export const DEFAULT_ROWS = 40;
export const TASK_PANE = 'task';
export const OPERATOR_PANE = 'operator';
/** How long after a run ends its agent still answers `run:snapshot` with the final screens (a
 * viewer that fell behind at the end resyncs from them); the hub routes requests there as long. */
export const FINAL_SCREEN_RETENTION_MS = 30_000;
/** A hub's `run:flow` hold lapses on the agent unless renewed within this (hubs renew every second). */
export const FLOW_HOLD_LAPSE_MS = 3000;

export type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: string; message: string; details?: unknown } };
export type AckFn<T> = (reply: Ack<T>) => void;

/** Bytes on the wire: Buffer in Node, ArrayBuffer / Uint8Array in the browser. */
export type Bytes = Uint8Array | ArrayBuffer;

export interface StepEvent {
  /** 0-based index into the run's steps. */
  index: number;
  phase: 'start' | 'end';
  /** With phase end: the step's exit status. */
  exitCode?: number;
  /** The task pane's output offset where the step began or ended (the bytes before it are the previous step's). */
  offset?: number;
}

/**
 * Where a step began in a pane's terminal, in a snapshot: `line` counts from the cursor's line of
 * the normal screen (0 = that line, -3 = three lines above it), so it holds wherever the
 * snapshot is written.
 */
export interface StepMark {
  step: number;
  line: number;
}

/** The recording's marker (asciicast `m`) where a step began or ended: the replay finds a step's start by it. */
export function stepMarkerLabel(index: number, phase: StepEvent['phase'], exitCode?: number | null): string {
  return phase === 'start' ? `step ${index + 1}` : `step ${index + 1} exited ${exitCode ?? '?'}`;
}

export interface PaneInfo {
  paneId: string;
  title: string;
  cols: number;
  rows: number;
  /** Bytes of output the pane has produced so far (the offset of the next chunk). */
  offset: number;
}

/** A serialized terminal state: writing `data` into a fresh terminal of cols × rows reproduces
 * the pane's screen and scrollback as of byte `offset` of its output. */
export interface PaneSnapshot {
  paneId: string;
  cols: number;
  rows: number;
  offset: number;
  data: string;
  /** The visible screen only, without scrollback: the full state follows as `pane:snapshot`. */
  partial?: boolean;
  /** Where each step still on the screen or in the scrollback began (task pane). */
  marks?: StepMark[];
}

export interface OperatorMessage {
  id: number;
  runId: string;
  from: string | null;
  message: string;
  createdAt: string;
}

export interface SessionReport {
  runId: string;
  /** The attempt the report is about (the claim's `taskRun.attempt`). */
  attempt: number;
  status: 'starting' | 'ready' | 'ended' | 'revoked' | 'error';
  workerHostname?: string;
  attachRo?: string;
  attachRw?: string;
  webRo?: string;
  webRw?: string;
  errorMessage?: string;
}

export interface AgentRunState {
  runId: string;
  /** The attempt this agent executes (the claim's `taskRun.attempt`). */
  attempt: number;
  panes: PaneInfo[];
}

export interface AgentHello {
  protocol: number;
  workerId: string;
  hostname: string;
  capacity: number;
  /** Runs this agent is executing right now (after a reconnect). */
  runs: AgentRunState[];
}

export interface HelloReply {
  heartbeatSeconds: number;
  /** Runs that are over for the hub (cancelled, failed as lost): stop them. */
  abandon: string[];
  /** Runs whose attempt is not this agent's any more (re-queued, claimed again): kill them at once, report nothing. */
  stale: string[];
  /**
   * Seconds without an acknowledged heartbeat after which the agent must have killed its runs:
   * the hub re-queues a silent worker's run only later (null: this hub never re-queues lost runs).
   */
  leaseSeconds: number | null;
}

export interface HeartbeatReply {
  abandon: string[];
  controls: Record<string, LiveControl>;
}

/** The `details` of a `stale_attempt` refusal of a heartbeat: which of its runs were refused. */
export interface StaleDetails {
  stale: string[];
}

export interface RunCompletion {
  runId: string;
  attempt: number;
  status: Extract<TaskRunStatus, 'succeeded' | 'failed' | 'cancelled'>;
  exitCode: number | null;
  /** Why the run ended this way when it is not the steps' doing (e.g. the agent was stopped); audited. */
  reason?: string;
}

export interface ControlCommand {
  runId: string;
  liveControl: LiveControl;
  /** Operator summary given with resume (appended to the inbox). */
  summary?: string;
}

export interface ViewerJoinReply {
  run: TaskRunDto;
  session: LiveSessionDto | null;
  panes: PaneSnapshot[];
  canWrite: boolean;
  rwUntil: string | null;
}

export interface RwState {
  runId: string;
  canWrite: boolean;
  until: string | null;
  reason?: string;
}

/** Every message about a run names the attempt it comes from (argument after `runId`, or an `attempt` field). */
export interface AgentToHubEvents {
  'agent:hello': (hello: AgentHello, ack: AckFn<HelloReply>) => void;
  'run:claim': (ack: AckFn<{ taskRun: TaskRunDto | null }>) => void;
  'session:report': (report: SessionReport, ack: AckFn<{ session: LiveSessionDto }>) => void;
  /** The ack carries each run's liveControl: a back-stop for a missed `run:control`. */
  'run:heartbeat': (runs: AgentRunState[], ack: AckFn<HeartbeatReply>) => void;
  'pane:open': (runId: string, attempt: number, pane: PaneInfo) => void;
  'pane:resize': (runId: string, attempt: number, paneId: string, cols: number, rows: number) => void;
  'pane:output': (runId: string, attempt: number, paneId: string, offset: number, data: Bytes) => void;
  'control:applied': (runId: string, attempt: number, liveControl: LiveControl) => void;
  /** The run's terminal is (true) or is no longer (false) waiting for a person's input. */
  'run:attention': (runId: string, attempt: number, waitingForInput: boolean) => void;
  /** A step began or ended (audited as step_started / step_finished; a marker in the recording). */
  'run:step': (runId: string, attempt: number, step: StepEvent) => void;
  /** The ack's `recordedOutputBytes`: the task pane's output the hub's recording of the run holds
   * (an agent holding no more need not upload its own). */
  'run:complete': (completion: RunCompletion, ack: AckFn<{ run: TaskRunDto; recordedOutputBytes?: number }>) => void;
  /** Hands a run back to the queue (agent shutting down with the handback policy). */
  'run:release': (runId: string, attempt: number, reason: string, ack: AckFn<{ run: TaskRunDto }>) => void;
}

export interface HubToAgentEvents {
  'run:available': () => void;
  'pane:input': (runId: string, paneId: string, data: Bytes) => void;
  'pane:resize': (runId: string, paneId: string, cols: number, rows: number) => void;
  /** Snapshots of one pane (paneId) or of every pane of the run (null); `scrollback: false` → the visible screen only. */
  'run:snapshot': (runId: string, paneId: string | null, opts: { scrollback: boolean }, ack: AckFn<PaneSnapshot[]>) => void;
  /** The session was enabled after the run started: bring the live layer up. */
  'session:enable': (runId: string) => void;
  'run:control': (command: ControlCommand) => void;
  'run:message': (message: OperatorMessage) => void;
  'run:cancel': (runId: string) => void;
  'session:revoked': (runId: string, reason: string) => void;
  /** Every viewer of the run on hub `hubId` is behind (true: stop reading the pty; renewed while
   * it lasts, lapses after FLOW_HOLD_LAPSE_MS) or caught up (false). */
  'run:flow': (runId: string, hubId: string, viewersBehind: boolean) => void;
}

export interface ViewerToHubEvents {
  'run:join': (runId: string, ack: AckFn<ViewerJoinReply>) => void;
  'run:leave': (runId: string) => void;
  /** Live updates of the runs list (run:status for every run). */
  'runs:watch': (ack: AckFn<{ watching: true }>) => void;
  'pane:input': (runId: string, paneId: string, data: Bytes) => void;
  'pane:resize': (runId: string, paneId: string, cols: number, rows: number) => void;
  'pane:resync': (runId: string, paneId: string, ack: AckFn<PaneSnapshot>) => void;
}

export interface HubToViewerEvents {
  'pane:output': (runId: string, paneId: string, offset: number, data: Bytes) => void;
  /** A fresh snapshot the hub pushes after it held output back (this viewer had stalled): apply it like a resync. */
  'pane:snapshot': (runId: string, snapshot: PaneSnapshot) => void;
  'pane:open': (runId: string, pane: PaneInfo) => void;
  'pane:resize': (runId: string, paneId: string, cols: number, rows: number) => void;
  /** Step `step` began at byte `offset` of the pane's output (after the pane:output before it, in order). */
  'pane:mark': (runId: string, paneId: string, offset: number, step: number) => void;
  'run:status': (runId: string, run: TaskRunDto, session: LiveSessionDto | null) => void;
  'run:control': (runId: string, liveControl: LiveControl) => void;
  'run:message': (message: OperatorMessage) => void;
  /** An audit event was appended to the run's timeline. */
  'run:event': (event: ControlEventDto) => void;
  'rw:changed': (state: RwState) => void;
  'session:ended': (runId: string, status: string, reason: string) => void;
  /** Input or a request was refused (RO viewer typing, rate limit…). */
  'notice': (runId: string, code: string, message: string) => void;
}
