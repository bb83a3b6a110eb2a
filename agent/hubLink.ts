/**
 * The agent's persistent socket to the hub: reconnects forever with back-off, says hello on
 * every (re)connect, and never lets Socket.IO buffer output without bound while the hub is
 * away: output goes to a bounded per-pane backlog instead and is sent after the hello.
 */
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import type { Ack, AgentRunState, AgentToHubEvents, HelloReply, HubToAgentEvents } from '../common/protocol.ts';
import { AGENT_NAMESPACE, PROTOCOL_VERSION, SOCKET_PATH } from '../common/protocol.ts';
import type { AgentConfig } from './agentConfig.ts';

export type AgentSocket = Socket<HubToAgentEvents, AgentToHubEvents>;

interface Backlog {
  runId: string;
  paneId: string;
  chunks: Array<{ offset: number; data: Buffer }>;
  bytes: number;
}

/** Output queued towards the hub past which the agent stops reading its ptys, and where it resumes. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

export class HubLink {
  readonly socket: AgentSocket;
  private congested = false;
  private readonly flowFns: Array<(congested: boolean) => void> = [];
  private readonly backlogs = new Map<string, Backlog>();
  private ready = false;
  private readonly onReadyFns: Array<(reply: HelloReply) => void> = [];
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

  /** Called after each successful hello (first connect and every reconnect). */
  onReady(fn: (reply: HelloReply) => void): void {
    this.onReadyFns.push(fn);
  }

  private async hello(): Promise<void> {
    try {
      const reply: Ack<HelloReply> = await this.socket.timeout(10_000).emitWithAck('agent:hello', {
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
      this.flushBacklogs();
      for (const fn of this.onReadyFns) fn(reply.data);
    } catch (err) {
      this.log(`hello failed: ${(err as Error).message}`);
      if (this.socket.connected) setTimeout(() => void this.hello(), 1000);
    }
  }

  /**
   * Back-pressure: called with true when the hub connection has more than HIGH_WATER bytes
   * waiting (the ptys should stop being read), and with false once it is under LOW_WATER.
   */
  onFlowChange(fn: (congested: boolean) => void): void {
    this.flowFns.push(fn);
  }

  /** Bytes handed to the websocket but not yet written to the network. */
  private bufferedAmount(): number {
    const transport = (this.socket.io.engine as unknown as { transport?: { ws?: { bufferedAmount?: number } } } | undefined)?.transport;
    return transport?.ws?.bufferedAmount ?? 0;
  }

  private setCongested(on: boolean): void {
    if (this.congested === on) return;
    this.congested = on;
    for (const fn of this.flowFns) fn(on);
    if (!on) return;
    const poll = setInterval(() => {
      if (!this.isReady || this.bufferedAmount() < LOW_WATER) {
        clearInterval(poll);
        this.setCongested(false);
      }
    }, 5);
  }

  /** The relay's hot path on the agent side. */
  sendOutput(runId: string, paneId: string, offset: number, data: Buffer): void {
    if (this.isReady) {
      this.socket.emit('pane:output', runId, paneId, offset, data);
      if (!this.congested && this.bufferedAmount() > HIGH_WATER) this.setCongested(true);
      return;
    }
    const key = `${runId}\u0000${paneId}`;
    let b = this.backlogs.get(key);
    if (!b) this.backlogs.set(key, (b = { runId, paneId, chunks: [], bytes: 0 }));
    b.chunks.push({ offset, data });
    b.bytes += data.length;
    // Keep the newest output; what falls off is a gap the viewers resync over with a snapshot.
    while (b.bytes > this.config.backlogBytes && b.chunks.length) b.bytes -= b.chunks.shift()!.data.length;
  }

  dropBacklog(runId: string): void {
    for (const [k, b] of this.backlogs) if (b.runId === runId) this.backlogs.delete(k);
  }

  private flushBacklogs(): void {
    for (const [k, b] of this.backlogs) {
      for (const c of b.chunks) this.socket.emit('pane:output', b.runId, b.paneId, c.offset, c.data);
      this.backlogs.delete(k);
    }
  }

  /** Sends a request and waits for its ack, retrying across disconnects until `deadline`. */
  async request<T>(
    send: (s: AgentSocket) => Promise<Ack<T>>,
    opts: { retryUntil?: number } = {},
  ): Promise<Ack<T>> {
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

  private closing = false;

  close(): void {
    this.closing = true;
    this.socket.disconnect();
  }
}
