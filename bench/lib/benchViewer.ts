/**
 * A lean headless viewer for the benchmark: a socket.io-client on /viewer that joins a run and
 * follows each pane's `pane:output` through common/paneStream.ts (snapshot, then chunks by
 * offset, gaps resynced), counting bytes and optionally verifying them against the generator's
 * pattern. No terminal emulation on the hot path (the late-join scenario adds its own).
 */
import type { Socket } from 'socket.io-client';
import { io } from 'socket.io-client';
import type { Ack, HubToViewerEvents, PaneSnapshot, ViewerJoinReply, ViewerToHubEvents } from '../../common/protocol.ts';
import { SOCKET_PATH, TASK_PANE, VIEWER_NAMESPACE } from '../../common/protocol.ts';
import { PaneStream } from '../../common/paneStream.ts';
import type { StreamVerifier } from './pattern.ts';

export type ViewerSocket = Socket<HubToViewerEvents, ViewerToHubEvents>;

export class BenchPane {
  readonly stream: PaneStream;
  /** Offset of the next byte written to the consumer. */
  pos = 0;
  liveBytes = 0;
  chunks = 0;
  gaps = 0;
  snapshots: PaneSnapshot[] = [];
  firstByteAt = 0;
  lastByteAt = 0;
  verifier: StreamVerifier | null = null;
  /** Called with every live chunk written (after ordering / dedup), e.g. the echo scenario. */
  onBytes: ((bytes: Uint8Array, at: number) => void) | null = null;
  private waiters: Array<{ offset: number; resolve: () => void }> = [];

  constructor(
    readonly paneId: string,
    onGap: () => void,
  ) {
    this.stream = new PaneStream({
      write: (data) => {
        if (typeof data === 'string') return; // the snapshot's serialized screen
        const now = performance.now();
        if (!this.firstByteAt) this.firstByteAt = now;
        this.lastByteAt = now;
        this.verifier?.feed(this.pos, data);
        this.pos += data.length;
        this.liveBytes += data.length;
        this.onBytes?.(data, now);
        if (this.waiters.length) this.checkWaiters();
      },
      onGap: () => {
        this.gaps++;
        onGap();
      },
    });
  }

  applySnapshot(s: PaneSnapshot): void {
    this.snapshots.push(s);
    this.pos = s.offset;
    this.stream.applySnapshot(s);
    if (this.waiters.length) this.checkWaiters();
  }

  /** Resolves once everything below `offset` was written. */
  reached(offset: number): Promise<void> {
    if (this.stream.synced && this.pos >= offset) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ offset, resolve }));
  }

  private checkWaiters(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.pos < w.offset) return true;
      w.resolve();
      return false;
    });
  }
}

export class BenchViewer {
  readonly socket: ViewerSocket;
  readonly panes = new Map<string, BenchPane>();
  private runId: string | null = null;
  private resyncing = false;

  private constructor(url: string, token: string, grant?: string) {
    this.socket = io(`${url}${VIEWER_NAMESPACE}`, {
      path: SOCKET_PATH,
      transports: ['websocket'],
      auth: { token, ...(grant ? { grant } : {}) },
      reconnection: false,
      forceNew: true,
    });
    this.socket.on('pane:output', (runId, paneId, offset, data) => {
      if (runId === this.runId) this.pane(paneId).stream.push(offset, data as Uint8Array);
    });
    // the hub held this viewer's output back (it fell more than the limit behind) and resyncs it
    this.socket.on('pane:snapshot', (runId, snap) => {
      if (runId === this.runId) this.pane(snap.paneId).applySnapshot(snap);
    });
  }

  static async connect(url: string, token: string, grant?: string, timeoutMs = 20_000): Promise<BenchViewer> {
    const v = new BenchViewer(url, token, grant);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('viewer connect timed out')), timeoutMs);
      v.socket.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      v.socket.once('connect_error', (err) => {
        clearTimeout(t);
        reject(err);
      });
    });
    return v;
  }

  pane(paneId: string = TASK_PANE): BenchPane {
    let p = this.panes.get(paneId);
    if (!p) {
      p = new BenchPane(paneId, () => void this.resync(paneId));
      this.panes.set(paneId, p);
    }
    return p;
  }

  async join(runId: string, timeoutMs = 20_000): Promise<ViewerJoinReply> {
    this.runId = runId;
    const ack: Ack<ViewerJoinReply> = await this.socket.timeout(timeoutMs).emitWithAck('run:join', runId);
    if (!ack.ok) throw new Error(`run:join refused: ${ack.error.code}: ${ack.error.message}`);
    for (const snap of ack.data.panes) this.pane(snap.paneId).applySnapshot(snap);
    return ack.data;
  }

  /**
   * Asks for snapshots until the pane is in sync again: a snapshot whose replay hits another gap
   * signals it while this is still running (the signal is not repeated), and a request can fail
   * or time out while the agent is busy.
   */
  private async resync(paneId: string): Promise<void> {
    if (!this.runId || this.resyncing) return;
    this.resyncing = true;
    const pane = this.pane(paneId);
    try {
      for (let attempt = 1; attempt <= 10 && !pane.stream.synced && this.socket.connected; attempt++) {
        try {
          const reply: Ack<PaneSnapshot> = await this.socket.timeout(20_000).emitWithAck('pane:resync', this.runId, paneId);
          if (reply.ok) {
            pane.applySnapshot(reply.data);
            continue;
          }
        } catch {
          /* timed out: ask again */
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    } finally {
      this.resyncing = false;
    }
  }

  sendInput(data: Uint8Array, paneId: string = TASK_PANE): void {
    if (!this.runId) throw new Error('join a run first');
    this.socket.emit('pane:input', this.runId, paneId, data);
  }

  private get rawSocket(): { pause(): void; resume(): void } | undefined {
    const ws = (this.socket.io.engine?.transport as unknown as { ws?: { _socket?: { pause(): void; resume(): void } } } | undefined)?.ws;
    return ws?._socket ?? undefined;
  }

  /** Stops reading from the TCP socket: the kernel buffers fill and the hub sees a stalled viewer. */
  stall(): void {
    const s = this.rawSocket;
    if (!s) throw new Error('cannot reach the websocket of this viewer');
    s.pause();
  }

  unstall(): void {
    this.rawSocket?.resume();
  }

  close(): void {
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }
}
