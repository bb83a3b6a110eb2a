/**
 * Viewers that fall behind (architecture §5: slow consumers are isolated). A check every CHECK_MS over
 * this hub's viewer sockets, never on the relay's hot path, looks at what each socket has queued:
 *
 * - past the bound (HANDOFF_VIEWER_BACKLOG_BYTES) a viewer is taken out of its runs' output
 *   rooms, so it never holds the agent or other viewers back and the hub's memory stays
 *   bounded; once its queue has drained it gets fresh snapshots (a resync) and rejoins. A
 *   viewer that acknowledges what it writes (`pane:ack`) and did so within ACK_STALL_MS is
 *   reading: its queue is output on its way through socket buffers (on loopback the kernel's
 *   grow to tens of MB, unequally per connection), so it stays up to READING_CAP × the bound;
 * - when every viewer of a run on this hub is behind (a quarter of the bound), the run's agent
 *   is asked to stop reading the pty (`run:flow`) until they are under a sixteenth, so viewers
 *   that read, only slower than the run prints, keep every byte instead of being resynced. A
 *   hold during which not one of them drains anything for HOLD_STALL_MS is given up (they do
 *   not read: they go on to the bound), so a viewer that stopped reading costs the run at most
 *   that once. Holds lapse on the agent unless renewed: a hub that dies leaves no run paused.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { HubMetrics } from '../metrics.ts';
import { agentRunRoom, viewerOutputRoom } from './rooms.ts';
import type { AgentNamespace, ViewerNamespace, ViewerSocket } from './types.ts';
import { requestSnapshots } from './viewerGateway.ts';

const CHECK_MS = 50;
const RESYNC_ATTEMPTS = 5;
/** A hold under which the viewers' smallest queue has not shrunk for this long is given up. */
const HOLD_STALL_MS = 500;
/** How often a hold is renewed towards the agent (it lapses there after FLOW_HOLD_LAPSE_MS). */
const HOLD_RENEW_MS = 1000;
/** A viewer whose last acknowledgement moved on longer ago than this is not reading (it acks every 256 KiB). */
export const ACK_STALL_MS = 2000;
/** How far past the bound a reading viewer's queue may go: the hub's memory stays bounded. */
const READING_CAP = 2;
/** Queued output past which a viewer counts as stalled (HANDOFF_VIEWER_BACKLOG_BYTES). */
export const MAX_VIEWER_BACKLOG_BYTES = 32 * 1024 * 1024;

interface EnginePacket {
  data?: string | Buffer | ArrayBuffer | Uint8Array;
}
interface EngineSocketLike {
  writeBuffer?: EnginePacket[];
  transport?: { writable?: boolean; socket?: { bufferedAmount?: number } };
}

/**
 * Bytes this hub holds for the socket: its engine.io queue (not yet handed to the transport)
 * plus what the websocket has handed to the TCP socket but the kernel has not taken yet.
 */
export function queuedBytes(socket: ViewerSocket): number {
  const conn = socket.conn as unknown as EngineSocketLike;
  let n = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const p of conn.writeBuffer ?? []) {
    const d = p.data;
    if (typeof d === 'string') n += d.length;
    else if (d) n += d.byteLength;
  }
  return n;
}

/** The viewer acknowledges output, and its last acknowledgement moved on within ACK_STALL_MS. */
function isReading(socket: ViewerSocket, now: number): boolean {
  const at = socket.data.readingAt ?? null;
  return at !== null && now - at < ACK_STALL_MS;
}

interface Hold {
  /** when the hold was last sent to the agent */
  sentAt: number;
  /** the smallest queue of the run's viewers, and when it last shrank */
  queued: number;
  shrankAt: number;
}

export class SlowViewerGuard {
  private timer: NodeJS.Timeout | null = null;
  /** socket id → the runs whose output it was taken off */
  private readonly stalled = new Map<string, Set<string>>();
  /** runs whose agent was asked to hold output */
  private readonly holds = new Map<string, Hold>();
  /** runs whose hold was given up: not held again until their viewers caught up */
  private readonly givenUp = new Set<string>();
  /** Tells this hub's holds apart from other hubs' on the agent. */
  private readonly hubId = randomUUID();
  private readonly behindHigh: number;
  private readonly behindLow: number;

  constructor(
    private readonly viewers: ViewerNamespace,
    private readonly agents: AgentNamespace,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
    private readonly maxBacklogBytes = MAX_VIEWER_BACKLOG_BYTES,
  ) {
    // well below the bound, so draining viewers are held, not dropped
    this.behindHigh = Math.max(64 * 1024, Math.floor(maxBacklogBytes / 4));
    this.behindLow = Math.floor(this.behindHigh / 4);
  }

  start(): void {
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const runId of this.holds.keys()) this.sendHold(runId, false);
    this.holds.clear();
  }

  private check(): void {
    const now = performance.now();
    /** run → the smallest queue among its viewers on this hub */
    const slowest = new Map<string, number>();
    for (const socket of this.viewers.sockets.values()) {
      const runs = this.stalled.get(socket.id);
      if (runs) {
        if (!socket.connected) this.stalled.delete(socket.id);
        else if (queuedBytes(socket) === 0 && (socket.conn as unknown as EngineSocketLike).transport?.writable) void this.resync(socket, runs);
        continue;
      }
      if (!socket.data.joined.size) continue;
      const queued = queuedBytes(socket);
      if (queued > this.maxBacklogBytes && !(isReading(socket, now) && queued <= this.maxBacklogBytes * READING_CAP)) {
        this.detach(socket);
        continue;
      }
      for (const runId of socket.data.joined) slowest.set(runId, Math.min(slowest.get(runId) ?? Infinity, queued));
    }
    this.flow(slowest, now);
  }

  /** Holds a run's output while all its viewers here are behind, releases it once they caught up. */
  private flow(slowest: Map<string, number>, now: number): void {
    for (const [runId, queued] of slowest) {
      const hold = this.holds.get(runId);
      if (queued < this.behindLow) {
        this.givenUp.delete(runId);
        if (hold) this.release(runId);
      } else if (!hold) {
        if (queued > this.behindHigh && !this.givenUp.has(runId)) {
          this.holds.set(runId, { sentAt: now, queued, shrankAt: now });
          this.sendHold(runId, true);
        }
      } else if (queued < hold.queued) {
        hold.queued = queued;
        hold.shrankAt = now;
      } else if (now - hold.shrankAt > HOLD_STALL_MS) {
        // nobody drains: they are not slow readers but stopped ones; the bound deals with them
        this.givenUp.add(runId);
        this.release(runId);
        continue;
      }
      if (hold && now - hold.sentAt >= HOLD_RENEW_MS && this.holds.has(runId)) {
        hold.sentAt = now;
        this.sendHold(runId, true);
      }
    }
    for (const runId of this.holds.keys()) if (!slowest.has(runId)) this.release(runId); // no viewer of it left here
    for (const runId of this.givenUp) if (!slowest.has(runId)) this.givenUp.delete(runId);
  }

  private release(runId: string): void {
    this.holds.delete(runId);
    this.sendHold(runId, false);
  }

  private sendHold(runId: string, behind: boolean): void {
    this.agents.to(agentRunRoom(runId)).emit('run:flow', runId, this.hubId, behind);
    if (behind) this.metrics.outputHolds.inc();
  }

  private detach(socket: ViewerSocket): void {
    const runs = new Set(socket.data.joined);
    this.stalled.set(socket.id, runs);
    for (const runId of runs) void socket.leave(viewerOutputRoom(runId));
    this.metrics.slowViewers.inc();
    this.log.info({ socket: socket.id, runs: runs.size }, 'viewer stalled: output paused until it drains, then resync');
  }

  private async resync(socket: ViewerSocket, runs: Set<string>): Promise<void> {
    this.stalled.delete(socket.id);
    for (const runId of runs) {
      if (!socket.data.joined.has(runId)) continue;
      // Back in the room first, then the snapshot: nothing after its offset is missed.
      await socket.join(viewerOutputRoom(runId));
      void this.pushSnapshots(socket, runId, 1);
    }
  }

  /**
   * The agent may be slow to answer (its mirror catching up after a burst): try again a few
   * times, since with the run's output over no later chunk would reveal the gap to the viewer.
   */
  private async pushSnapshots(socket: ViewerSocket, runId: string, attempt: number): Promise<void> {
    const snaps = await requestSnapshots(this.agents, runId, null);
    if (!socket.connected || !socket.data.joined.has(runId)) return;
    for (const snap of snaps) socket.emit('pane:snapshot', runId, snap);
    if (!snaps.length && attempt < RESYNC_ATTEMPTS) setTimeout(() => void this.pushSnapshots(socket, runId, attempt + 1), 1000 * attempt).unref();
  }
}
