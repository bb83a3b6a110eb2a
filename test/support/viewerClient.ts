/**
 * A real viewer for end-to-end tests: common/viewerLink.ts (the viewer side every client uses)
 * joined to a run, each pane's bytes going into
 *  - a byte buffer of everything written after the latest snapshot (the live bytes), and
 *  - an @xterm/headless terminal (so a test can compare serialized screens).
 * The link resyncs gaps and handles `pane:open`; this layer records what tests assert on
 * (`pane:open`, `session:ended`, `notice`, `rw:changed` and every other event). It does not
 * reconnect: a test that cuts the connection connects a new viewer.
 */
import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';
import type { ITerminalAddon, Terminal as HeadlessTerminal } from '@xterm/headless';
import type { SerializeAddon as SerializeAddonType } from '@xterm/addon-serialize';
import type { PaneInfo, PaneSnapshot, RwState, ViewerJoinReply } from '../../common/protocol.ts';
import type { LinkPane, PaneSink, ViewerSocket } from '../../common/viewerLink.ts';
import { ViewerLink } from '../../common/viewerLink.ts';
import type { PaneStream } from '../../common/paneStream.ts';
import { waitUntil } from './wait.ts';

const { Terminal } = xtermHeadless;
const { SerializeAddon } = serializeAddon;

export type { ViewerSocket };
export interface ViewerOptions {
  /** RW grant token (from grant-write). */
  grant?: string;
  /** Keep an xterm screen per pane (default true; off for pure byte tests). */
  terminal?: boolean;
  /** Scrollback of the viewer's terminals (default 10,000, like the agent's mirror). */
  scrollback?: number;
}

/** Where a received output chunk lay in the pane's stream (to check what chunk boundaries cut). */
export interface ChunkInfo {
  offset: number;
  length: number;
  firstByte: number;
}

export class ViewerPane implements PaneSink {
  /** Every snapshot applied (the first one is the join's), with its offset. */
  readonly snapshots: Array<{ offset: number; cols: number; rows: number; bytes: number }> = [];
  readonly chunks: ChunkInfo[] = [];
  term: HeadlessTerminal | null = null;
  private serializer: SerializeAddonType | null = null;
  private live: Uint8Array[] = [];
  private liveBytes = 0;
  /** Stream offset just past the last recorded live byte (null before the first snapshot). */
  private liveEnd: number | null = null;
  /** Times the live record skipped bytes (a resync jumped past output this viewer never saw). */
  liveHoles = 0;
  private snapshotPending = false;
  private lastParsed: Promise<void> = Promise.resolve();
  /** Arrival times (ms since epoch) of the first and the latest output chunk; 0 before any. */
  firstOutputAt = 0;
  lastOutputAt = 0;

  constructor(
    readonly paneId: string,
    private readonly withTerminal: boolean,
    private readonly scrollback: number,
    private readonly linkPane: () => LinkPane,
  ) {}

  /** The link's stream of this pane (snapshot + offsets). */
  get stream(): PaneStream {
    return this.linkPane().stream;
  }

  /** Gaps detected (each leads to a resync). */
  get gaps(): number {
    return this.linkPane().gaps;
  }

  snapshot(s: PaneSnapshot): void {
    this.snapshots.push({ offset: s.offset, cols: s.cols, rows: s.rows, bytes: s.data.length });
  }

  chunk(offset: number, bytes: Uint8Array): void {
    this.chunks.push({ offset, length: bytes.length, firstByte: bytes[0] ?? -1 });
    this.lastOutputAt = Date.now();
    if (!this.firstOutputAt) this.firstOutputAt = this.lastOutputAt;
  }

  reset(cols: number, rows: number): void {
    this.snapshotPending = true;
    if (!this.withTerminal) return;
    this.term?.dispose();
    this.term = new Terminal({ cols, rows, scrollback: this.scrollback, allowProposedApi: true });
    this.serializer = new SerializeAddon();
    // the addon's typings refer to @xterm/xterm's Terminal; the headless one is compatible
    this.term.loadAddon(this.serializer as unknown as ITerminalAddon);
  }

  write(data: string | Uint8Array): void {
    if (this.snapshotPending) {
      this.snapshotPending = false; // the live record starts after the first snapshot; later ones (resyncs) do not restart it
    } else if (typeof data !== 'string') {
      // PaneStream calls write() before advancing: expectedOffset is where these bytes start.
      // Bytes replayed after a later snapshot overlap what was recorded: keep each byte once.
      const at = this.stream.expectedOffset ?? 0;
      const end = at + data.length;
      const from = this.liveEnd ?? at;
      if (at > from) this.liveHoles++;
      if (end > from) {
        const fresh = at >= from ? data : data.subarray(from - at);
        this.live.push(fresh);
        this.liveBytes += fresh.length;
        this.liveEnd = end;
      }
    }
    const term = this.term;
    if (term) this.lastParsed = new Promise<void>((r) => term.write(data, r));
  }

  /** Offset of the next byte the terminal needs (null while waiting for a snapshot). */
  get offset(): number | null {
    return this.stream.expectedOffset;
  }

  /** The bytes written after the first snapshot, in order, each once (see liveHoles for skips). */
  liveOutput(): Buffer {
    return Buffer.concat(this.live, this.liveBytes);
  }

  get liveByteCount(): number {
    return this.liveBytes;
  }

  /** Resolves once the terminal has parsed everything written so far. */
  async parsed(): Promise<void> {
    for (;;) {
      const p = this.lastParsed;
      await p;
      if (p === this.lastParsed) return;
    }
  }

  /** Screen + scrollback, serialized (after everything written was parsed). */
  async serialize(): Promise<string> {
    await this.parsed();
    if (!this.serializer) throw new Error(`pane ${this.paneId} has no terminal`);
    return this.serializer.serialize();
  }

  /** The active buffer's lines as text (trailing blanks trimmed), for readable diffs. */
  async screenLines(): Promise<string[]> {
    await this.parsed();
    const term = this.term;
    if (!term) return [];
    const buf = term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i)?.translateToString(true) ?? '');
    return out;
  }

  dispose(): void {
    this.term?.dispose();
    this.term = null;
  }
}

export interface RecordedEvent {
  at: number;
  name: string;
  args: unknown[];
}

export class TestViewer {
  readonly link: ViewerLink;
  readonly socket: ViewerSocket;
  readonly panes = new Map<string, ViewerPane>();
  readonly notices: Array<{ runId: string; code: string; message: string }> = [];
  readonly ended: Array<{ runId: string; status: string; reason: string; at: number }> = [];
  readonly paneOpens: PaneInfo[] = [];
  readonly rwChanges: RwState[] = [];
  /** Every event but pane:output, in arrival order. */
  readonly events: RecordedEvent[] = [];
  /** pane:output events received after the first session:ended. */
  outputAfterEnd = 0;
  private readonly withTerminal: boolean;
  private readonly scrollback: number;

  private constructor(url: string, token: string, opts: ViewerOptions) {
    this.withTerminal = opts.terminal ?? true;
    this.scrollback = opts.scrollback ?? 10_000;
    this.link = new ViewerLink({ url, token, grant: opts.grant ?? null, reconnect: false, forceNew: true, sink: this.sink });
    const s = (this.socket = this.link.socket);
    s.onAny((name: string, ...args: unknown[]) => {
      if (name !== 'pane:output') this.events.push({ at: Date.now(), name, args });
    });
    s.on('pane:output', () => {
      if (this.ended.length > 0) this.outputAfterEnd++;
    });
    s.on('session:ended', (runId, status, reason) => this.ended.push({ runId, status, reason, at: Date.now() }));
    s.on('notice', (runId, code, message) => this.notices.push({ runId, code, message }));
    s.on('rw:changed', (state) => this.rwChanges.push(state));
    this.link.on('paneOpened', (info) => this.paneOpens.push(info));
  }

  /** Connects (rejects on a refused handshake or after timeoutMs). */
  static async connect(url: string, token: string, opts: ViewerOptions = {}, timeoutMs = 5000): Promise<TestViewer> {
    const v = new TestViewer(url, token, opts);
    await v.link.whenConnected(timeoutMs);
    return v;
  }

  private readonly sink = (paneId: string): ViewerPane => {
    const p = new ViewerPane(paneId, this.withTerminal, this.scrollback, () => this.link.panes.get(paneId) as LinkPane);
    this.panes.set(paneId, p);
    return p;
  };

  pane(paneId: string): ViewerPane {
    this.link.follow(paneId);
    return this.panes.get(paneId) as ViewerPane;
  }

  async join(runId: string, timeoutMs = 10_000): Promise<ViewerJoinReply> {
    let reply: ViewerJoinReply;
    try {
      reply = await this.link.join(runId, { timeoutMs });
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new Error(`run:join refused: ${e.code ?? 'error'}: ${e.message}`, { cause: err });
    }
    // the join shows the screen first; tests compare full states, so wait for the scrollback too
    const partial = reply.panes.filter((p) => p.partial).map((p) => p.paneId);
    if (partial.length) {
      await waitUntil('the full snapshots after the join', () => (partial.every((id) => this.events.some((e) => e.name === 'pane:snapshot' && (e.args[1] as PaneSnapshot).paneId === id)) ? true : undefined), 30_000, 5);
    }
    return reply;
  }

  /** Asks the hub for a fresh snapshot of a pane (as the link does after a gap). */
  resync(paneId: string): void {
    this.link.resyncPane(paneId);
  }

  sendInput(paneId: string, text: string): void {
    if (!this.link.runId) throw new Error('join a run first');
    this.link.sendInput(paneId, Buffer.from(text, 'utf8'));
  }
  /** Waits until a pane exists and its live bytes satisfy `pred`. */
  async waitForOutput(paneId: string, pred: (live: Buffer, pane: ViewerPane) => boolean, timeoutMs = 10_000, what = 'output'): Promise<ViewerPane> {
    return waitUntil(
      `${what} on pane ${paneId}`,
      () => {
        const p = this.panes.get(paneId);
        return p && p.stream.synced && pred(p.liveOutput(), p) ? p : undefined;
      },
      timeoutMs,
      20,
    );
  }

  /** Waits until a pane has received everything up to `offset`. */
  async waitForOffset(paneId: string, offset: number, timeoutMs = 20_000): Promise<ViewerPane> {
    try {
      return await waitUntil(
        `pane ${paneId} to reach offset ${offset}`,
        () => {
          const p = this.panes.get(paneId);
          return p && (p.offset ?? -1) >= offset ? p : undefined;
        },
        timeoutMs,
        10,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message} (${this.describe(paneId)})`, { cause: err });
    }
  }

  /** The state of a pane, for failure messages. */
  describe(paneId: string): string {
    const p = this.panes.get(paneId);
    if (!p) return `no pane ${paneId}; connected=${this.socket.connected}`;
    const last = p.chunks[p.chunks.length - 1];
    return (
      `connected=${this.socket.connected} expected=${p.offset} buffered=${p.stream.bufferedByteCount} gaps=${p.gaps} ` +
      `snapshots=${JSON.stringify(p.snapshots.map((s) => s.offset))} chunks=${p.chunks.length} ` +
      `last chunk=${last ? `${last.offset}+${last.length}` : 'none'} ended=${JSON.stringify(this.ended)}`
    );
  }

  /** Waits until no output arrived for `quietMs` (and every pane is synced). */
  async waitForQuiet(quietMs = 300, timeoutMs = 10_000): Promise<void> {
    await waitUntil(
      `${quietMs} ms without output`,
      () => {
        const panes = [...this.panes.values()];
        if (panes.length === 0 || panes.some((p) => !p.stream.synced)) return undefined;
        const last = Math.max(...panes.map((p) => p.lastOutputAt));
        return Date.now() - last >= quietMs ? true : undefined;
      },
      timeoutMs,
      20,
    );
  }

  async waitForEnded(timeoutMs = 10_000): Promise<{ runId: string; status: string; reason: string; at: number }> {
    return waitUntil('session:ended', () => this.ended[0], timeoutMs, 10);
  }

  async waitForNotice(code: string, timeoutMs = 5000): Promise<{ runId: string; code: string; message: string }> {
    return waitUntil(`a ${code} notice`, () => this.notices.find((n) => n.code === code), timeoutMs, 10);
  }

  close(): void {
    this.link.close();
    for (const p of this.panes.values()) p.dispose();
  }
}
