/**
 * A lean headless viewer for the benchmark: common/viewerLink.ts (the viewer side every client
 * uses: snapshot, then chunks by offset, gaps resynced) with a sink per pane that counts bytes
 * and optionally verifies them against the generator's pattern. No terminal emulation on the hot
 * path (the late-join scenario adds its own).
 */
import type { PaneSnapshot, ViewerJoinReply } from '../../common/protocol.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import type { PaneStream } from '../../common/paneStream.ts';
import type { LinkPane, PaneSink, ViewerSocket } from '../../common/viewerLink.ts';
import { ViewerLink } from '../../common/viewerLink.ts';
/** Checks a viewer's bytes as they arrive (the pattern, or a payload's hash). */
export interface ChunkVerifier {
  feed(offset: number, chunk: Uint8Array): void;
}

export type { ViewerSocket };

export class BenchPane implements PaneSink {
  /** Offset of the next byte written to the consumer. */
  pos = 0;
  liveBytes = 0;
  chunks = 0;
  snapshots: PaneSnapshot[] = [];
  firstByteAt = 0;
  lastByteAt = 0;
  verifier: ChunkVerifier | null = null;
  /** Called with every live chunk written (after ordering / dedup), e.g. the echo scenario. */
  onBytes: ((bytes: Uint8Array, at: number) => void) | null = null;
  private waiters: Array<{ offset: number; resolve: () => void }> = [];

  constructor(
    readonly paneId: string,
    private readonly linkPane: () => LinkPane,
  ) {}

  get stream(): PaneStream {
    return this.linkPane().stream;
  }

  get gaps(): number {
    return this.linkPane().gaps;
  }

  reset(): void {}

  write(data: string | Uint8Array): void {
    if (typeof data === 'string') {
      // the snapshot's serialized screen: pos is its offset now
      if (this.waiters.length) this.checkWaiters();
      return;
    }
    const now = performance.now();
    if (!this.firstByteAt) this.firstByteAt = now;
    this.lastByteAt = now;
    this.verifier?.feed(this.pos, data);
    this.pos += data.length;
    this.liveBytes += data.length;
    this.onBytes?.(data, now);
    if (this.waiters.length) this.checkWaiters();
  }

  chunk(): void {
    this.chunks++;
  }

  snapshot(s: PaneSnapshot): void {
    this.snapshots.push(s);
    this.pos = s.offset;
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
  readonly link: ViewerLink;
  readonly socket: ViewerSocket;
  readonly panes = new Map<string, BenchPane>();

  private constructor(url: string, token: string, grant?: string) {
    this.link = new ViewerLink({
      url,
      token,
      grant: grant ?? null,
      reconnect: false,
      forceNew: true,
      sink: (paneId) => {
        const p = new BenchPane(paneId, () => this.link.panes.get(paneId) as LinkPane);
        this.panes.set(paneId, p);
        return p;
      },
    });
    this.socket = this.link.socket;
  }

  static async connect(url: string, token: string, grant?: string, timeoutMs = 20_000): Promise<BenchViewer> {
    const v = new BenchViewer(url, token, grant);
    await v.link.whenConnected(timeoutMs);
    return v;
  }

  pane(paneId: string = TASK_PANE): BenchPane {
    this.link.follow(paneId);
    return this.panes.get(paneId) as BenchPane;
  }

  async join(runId: string, timeoutMs = 20_000): Promise<ViewerJoinReply> {
    try {
      return await this.link.join(runId, { timeoutMs });
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new Error(`run:join refused: ${e.code ?? 'error'}: ${e.message}`, { cause: err });
    }
  }

  sendInput(data: Uint8Array, paneId: string = TASK_PANE): void {
    if (!this.link.runId) throw new Error('join a run first');
    this.link.sendInput(paneId, data);
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
    this.link.close();
  }
}
