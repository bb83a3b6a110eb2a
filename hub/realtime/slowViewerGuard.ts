/**
 * Slow consumers are isolated (DESIGN §5): a viewer whose socket stops draining is taken out
 * of its runs' output rooms before its queue can grow without bound, so it never holds the
 * agent or other viewers back. Once its queue has drained it gets fresh snapshots (a resync)
 * and rejoins the live stream. A check every CHECK_MS over this hub's viewer sockets, never on
 * the relay's hot path.
 */
import type { Logger } from 'pino';
import type { HubMetrics } from '../metrics.ts';
import { viewerOutputRoom } from './rooms.ts';
import type { ViewerNamespace, ViewerSocket } from './types.ts';
import { requestSnapshots } from './viewerGateway.ts';
import type { AgentNamespace } from './types.ts';

const CHECK_MS = 50;
const RESYNC_ATTEMPTS = 5;
/** Queued output past which a viewer counts as stalled (HANDOFF_VIEWER_BACKLOG_BYTES). */
export const MAX_VIEWER_BACKLOG_BYTES = 32 * 1024 * 1024;

interface EnginePacket {
  data?: string | Buffer | ArrayBuffer | Uint8Array;
}
interface EngineSocketLike {
  writeBuffer?: EnginePacket[];
  transport?: { writable?: boolean };
}

/** Bytes waiting in the socket's engine.io queue (not yet handed to the transport). */
export function queuedBytes(socket: ViewerSocket): number {
  const conn = socket.conn as unknown as EngineSocketLike;
  let n = 0;
  for (const p of conn.writeBuffer ?? []) {
    const d = p.data;
    if (typeof d === 'string') n += d.length;
    else if (d) n += d.byteLength;
  }
  return n;
}

export class SlowViewerGuard {
  private timer: NodeJS.Timeout | null = null;
  /** socket id → the runs whose output it was taken off */
  private readonly stalled = new Map<string, Set<string>>();

  constructor(
    private readonly viewers: ViewerNamespace,
    private readonly agents: AgentNamespace,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
    private readonly maxBacklogBytes = MAX_VIEWER_BACKLOG_BYTES,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    for (const socket of this.viewers.sockets.values()) {
      const runs = this.stalled.get(socket.id);
      if (!runs) {
        if (socket.data.joined.size && queuedBytes(socket) > this.maxBacklogBytes) this.detach(socket);
      } else if (!socket.connected) {
        this.stalled.delete(socket.id);
      } else if (queuedBytes(socket) === 0 && (socket.conn as unknown as EngineSocketLike).transport?.writable) {
        void this.resync(socket, runs);
      }
    }
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
