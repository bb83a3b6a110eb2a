/**
 * The agent's whole protocol face towards the hub (docs/protocol.md): one persistent socket
 * that reconnects forever with back-off and says hello on every (re)connect, a typed method per
 * request the agent makes, typed subscriptions to the hub's commands, and the recording upload.
 * Nothing else in the agent touches the socket. While the hub is away, output goes to a bounded
 * per-pane backlog (never Socket.IO's unbounded buffer) and is sent after the next hello.
 * Every message about a run carries the attempt it is about (protocol 2, fencing): agent/attemptLink.ts
 * binds one attempt for the run's code.
 */
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import type { LiveSessionDto, TaskRunDto } from '../common/api.ts';
import type { Ack, AgentRunState, AgentToHubEvents, HeartbeatReply, HelloReply, HubToAgentEvents, PaneInfo, RunCompletion, SessionReport, StaleDetails, StepEvent } from '../common/protocol.ts';
import { AGENT_NAMESPACE, PROTOCOL_VERSION, SOCKET_PATH, STALE_ATTEMPT } from '../common/protocol.ts';
import type { LiveControl } from '../common/statuses.ts';
import type { AgentConfig } from './agentConfig.ts';

type AgentSocket = Socket<HubToAgentEvents, AgentToHubEvents>;

interface Backlog {
  runId: string;
  attempt: number;
  paneId: string;
  chunks: Array<{ offset: number; data: Buffer }>;
  bytes: number;
}

export type { HeartbeatReply } from '../common/protocol.ts';

/** The hub's answer to a completion: the run, and how much of its output the hub's recording holds. */
export type CompletionReply = { run: TaskRunDto; recordedOutputBytes?: number };
/** A heartbeat's outcome: answered, refused for stale attempts (named), or no answer (hub away or slow). */
export type HeartbeatOutcome = { ok: true; data: HeartbeatReply } | { ok: false; stale: string[] } | null;

const REQUEST_TIMEOUT_MS = 10_000;
/** Step events kept while the hub is away (sent after the next hello; the oldest fall off). */
const MAX_PENDING_STEPS = 1000;

export class HubLink {
  private readonly socket: AgentSocket;
  private readonly backlogs = new Map<string, Backlog>();
  private readonly pendingSteps: Array<[string, number, StepEvent]> = [];
  /** Runs whose terminal waits for a person → the attempt. */
  private readonly waiting = new Map<string, number>();
  private ready = false;
  private closing = false;
  private readonly onReadyFns: Array<(reply: HelloReply, sentAt: number) => void> = [];
  private readonly log: (msg: string) => void;

  constructor(
    private readonly config: AgentConfig,
    private readonly currentRuns: () => AgentRunState[],
    log?: (msg: string) => void,
  ) {
    this.log = log ?? (() => undefined);
    this.socket = io(`${config.hubUrl}${AGENT_NAMESPACE}`, {
      path: SOCKET_PATH,
      auth: { token: config.workerToken },
      transports: ['websocket'],
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 250,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      autoConnect: false,
    });
    this.socket.on('connect', () => void this.hello());
    this.socket.on('disconnect', (reason) => {
      this.ready = false;
      // A hub shutting down closes our socket on purpose: come back (to any hub) like after a drop.
      if (reason === 'io server disconnect' && !this.closing) setTimeout(() => this.socket.connect(), 250 + Math.random() * 500);
      this.log(`disconnected from hub (${reason}); runs continue, output is kept in a bounded backlog`);
    });
    this.socket.on('connect_error', (err) => this.log(`cannot reach hub: ${err.message}`));
  }

  connect(): void {
    this.socket.connect();
  }

  get isReady(): boolean {
    return this.ready && this.socket.connected;
  }

  /** Called after each successful hello (first connect and every reconnect), with when it was sent (performance.now()). */
  onReady(fn: (reply: HelloReply, sentAt: number) => void): void {
    this.onReadyFns.push(fn);
  }

  /** Subscribes to one of the hub's commands (docs/protocol.md, hub → agent). */
  on<E extends keyof HubToAgentEvents>(event: E, fn: HubToAgentEvents[E]): void {
    (this.socket.on as (e: E, f: HubToAgentEvents[E]) => void)(event, fn);
  }

  private async hello(): Promise<void> {
    try {
      const sentAt = performance.now();
      const reply: Ack<HelloReply> = await this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('agent:hello', {
        protocol: PROTOCOL_VERSION,
        workerId: this.config.workerId,
        hostname: this.config.hostname,
        capacity: this.config.capacity,
        runs: this.currentRuns(),
      });
      if (!reply.ok) {
        this.log(`hub refused hello: ${reply.error.message}`);
        return;
      }
      this.ready = true;
      // Runs the hub says are not ours any more get nothing of what was kept for them.
      for (const id of [...(reply.data.stale ?? []), ...reply.data.abandon]) this.dropBacklog(id);
      this.flushBacklogs();
      for (const [runId, attempt, step] of this.pendingSteps.splice(0)) this.socket.emit('run:step', runId, attempt, step);
      for (const [runId, attempt] of this.waiting) this.socket.emit('run:attention', runId, attempt, true);
      for (const fn of this.onReadyFns) fn(reply.data, sentAt);
    } catch (err) {
      this.log(`hello failed: ${(err as Error).message}`);
      if (this.socket.connected) setTimeout(() => void this.hello(), 1000);
    }
  }

  /** Claims the oldest queued run for this worker; null when there is none (or the hub is away). */
  async claim(): Promise<TaskRunDto | null> {
    const ack = await this.request<{ taskRun: TaskRunDto | null }>((s) => s.timeout(REQUEST_TIMEOUT_MS).emitWithAck('run:claim'));
    return ack.ok ? ack.data.taskRun : null;
  }

  /** The live session's status (starting, ready with attach info, error…); retried for 30 s across drops. */
  report(report: SessionReport): Promise<Ack<{ session: LiveSessionDto }>> {
    return this.request((s) => s.timeout(REQUEST_TIMEOUT_MS).emitWithAck('session:report', report), { retryUntil: Date.now() + 30_000 });
  }

  /**
   * The runs' heartbeat; null when unanswered (hub away or slow: the next beat tries again). A
   * beat naming a stale attempt is refused whole: the caller fences those and beats again.
   */
  async heartbeat(states: AgentRunState[]): Promise<HeartbeatOutcome> {
    if (!this.isReady) return null;
    try {
      const ack = await this.socket.timeout(this.config.heartbeatSeconds * 1000).emitWithAck('run:heartbeat', states);
      if (ack.ok) return { ok: true, data: ack.data };
      if (ack.error.code === STALE_ATTEMPT) return { ok: false, stale: ((ack.error.details as StaleDetails | undefined)?.stale ?? []).filter((s) => typeof s === 'string') };
      return null;
    } catch {
      return null;
    }
  }

  /**
   * The run's result. It must reach the hub: retried across hub restarts until the hub answers
   * (the run is over, nothing else is waiting); a refusal other than unavailable ends the tries.
   */
  async complete(completion: RunCompletion): Promise<Ack<CompletionReply>> {
    for (let attempt = 0; ; attempt++) {
      const ack = await this.request<CompletionReply>((s) => s.timeout(REQUEST_TIMEOUT_MS).emitWithAck('run:complete', completion), { retryUntil: Date.now() + 60_000 });
      if (ack.ok || (ack.error.code !== 'unavailable' && ack.error.code !== 'internal') || attempt > 1000) return ack;
    }
  }

  /** Hands a run back to the queue; retried for 30 s across drops. */
  release(runId: string, attempt: number, reason: string): Promise<Ack<{ run: TaskRunDto }>> {
    return this.request((s) => s.timeout(REQUEST_TIMEOUT_MS).emitWithAck('run:release', runId, attempt, reason), { retryUntil: Date.now() + 30_000 });
  }

  /** A pane opened (or its offset after a reconnect): viewers learn it. Dropped while the hub is away (the hello carries it). */
  openPane(runId: string, attempt: number, pane: PaneInfo): void {
    if (this.isReady) this.socket.emit('pane:open', runId, attempt, pane);
  }

  resized(runId: string, attempt: number, paneId: string, cols: number, rows: number): void {
    if (this.isReady) this.socket.emit('pane:resize', runId, attempt, paneId, cols, rows);
  }

  /** The run's terminal waits for a person (or no longer); the latest state is re-sent after a reconnect. */
  attention(runId: string, attempt: number, waitingForInput: boolean): void {
    if (waitingForInput) this.waiting.set(runId, attempt);
    else this.waiting.delete(runId);
    if (this.isReady) this.socket.emit('run:attention', runId, attempt, waitingForInput);
  }

  /** A step began or ended; kept (bounded) while the hub is away. */
  step(runId: string, attempt: number, step: StepEvent): void {
    if (this.isReady) return void this.socket.emit('run:step', runId, attempt, step);
    this.pendingSteps.push([runId, attempt, step]);
    if (this.pendingSteps.length > MAX_PENDING_STEPS) this.pendingSteps.shift();
  }

  controlApplied(runId: string, attempt: number, liveControl: LiveControl): void {
    if (this.isReady) this.socket.emit('control:applied', runId, attempt, liveControl);
  }

  /** Bytes handed to the websocket but not yet written to the network (0 while the hub is away). */
  queuedBytes(): number {
    if (!this.isReady) return 0;
    const transport = (this.socket.io.engine as unknown as { transport?: { ws?: { bufferedAmount?: number } } } | undefined)?.transport;
    return transport?.ws?.bufferedAmount ?? 0;
  }

  /** The relay's hot path on the agent side. */
  sendOutput(runId: string, attempt: number, paneId: string, offset: number, data: Buffer): void {
    if (this.isReady) {
      this.socket.emit('pane:output', runId, attempt, paneId, offset, data);
      return;
    }
    const key = `${runId}\u0000${attempt}\u0000${paneId}`;
    let b = this.backlogs.get(key);
    if (!b) this.backlogs.set(key, (b = { runId, attempt, paneId, chunks: [], bytes: 0 }));
    b.chunks.push({ offset, data });
    b.bytes += data.length;
    // Keep the newest output; what falls off is a gap the viewers resync over with a snapshot.
    while (b.bytes > this.config.backlogBytes && b.chunks.length) b.bytes -= b.chunks.shift()!.data.length;
  }

  /** Forgets what is kept for a run: its output backlog, pending step events and attention state. */
  dropBacklog(runId: string): void {
    this.waiting.delete(runId);
    for (const [k, b] of this.backlogs) if (b.runId === runId) this.backlogs.delete(k);
    for (let i = this.pendingSteps.length - 1; i >= 0; i--) if (this.pendingSteps[i]?.[0] === runId) this.pendingSteps.splice(i, 1);
  }

  private flushBacklogs(): void {
    for (const [k, b] of this.backlogs) {
      for (const c of b.chunks) this.socket.emit('pane:output', b.runId, b.attempt, b.paneId, c.offset, c.data);
      this.backlogs.delete(k);
    }
  }

  /** Uploads a finished run's recording (asciicast v2); a few tries while the hub is away. */
  async uploadRecording(runId: string, runAttempt: number, body: Buffer<ArrayBuffer>): Promise<'ok' | 'refused' | 'failed'> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const res = await fetch(`${this.config.hubUrl}/api/task-runs/${runId}/recording?attempt=${runAttempt}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${this.config.workerToken}`, 'content-type': 'application/x-asciicast' },
          body,
        });
        if (res.ok) return 'ok';
        if (res.status < 500) {
          this.log(`run ${runId}: recording upload refused (${res.status})`);
          return 'refused';
        }
      } catch {
        // hub away: retry
      }
      await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
    }
    return 'failed';
  }

  /** Sends a request and waits for its ack, retrying across disconnects until `retryUntil`. */
  private async request<T>(send: (s: AgentSocket) => Promise<Ack<T>>, opts: { retryUntil?: number } = {}): Promise<Ack<T>> {
    const deadline = opts.retryUntil ?? 0;
    for (;;) {
      if (this.isReady) {
        try {
          return await send(this.socket);
        } catch {
          // timed out: the ack was lost or the hub is slow; try again if time allows
        }
      }
      if (Date.now() >= deadline) return { ok: false, error: { code: 'unavailable', message: 'hub unreachable' } };
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  close(): void {
    this.closing = true;
    this.socket.disconnect();
  }
}
