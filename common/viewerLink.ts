/**
 * The viewer side of the protocol (architecture §5, docs/protocol.md "Viewer namespace"), written
 * once for every viewer: the CLI (`handoff attach`), the dashboard, the benchmark and the tests.
 * No other file emits `run:join`.
 *
 * A link owns one socket on `/viewer` and follows at most one run:
 * - join → the join's snapshots → one PaneStream per pane (common/paneStream.ts) → live chunks;
 * - a gap, output for a pane it has no snapshot of, or a `pane:open` beyond what it holds →
 *   `pane:resync`, retried with the one retry policy below while connected;
 * - every (re)connect joins again and repaints from fresh snapshots — after a network loss (Socket.IO
 *   reconnects) and after the hub closed the socket itself (a hub shutting down: Socket.IO would not
 *   retry that on its own, the link does);
 * - the write state: the join's `canWrite`, `rw:changed`, a session end, and the grant's own expiry
 *   on the local clock; a grant is presented at the handshake (`useGrant` reconnects with it);
 * - the connection state a person needs to see: connecting, connected, rejoining, cut off (since
 *   when), refused (the hub would not take the token).
 * Other hub events (run:status, run:message, notice…) are read from `link.socket` directly.
 */
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import type { Ack, HubToViewerEvents, PaneInfo, PaneSnapshot, ViewerJoinReply, ViewerToHubEvents } from './protocol.ts';
import { SOCKET_PATH, VIEWER_ACK_BYTES, VIEWER_NAMESPACE } from './protocol.ts';
import { PaneStream } from './paneStream.ts';
import { cancel, later } from './timers.ts';
import type { TimerId } from './timers.ts';

export type ViewerSocket = Socket<HubToViewerEvents, ViewerToHubEvents>;

/** The one retry policy of every viewer: 250 ms, doubling, at most 5 s between tries. */
export const RETRY_FIRST_MS = 250;
export const RETRY_MAX_MS = 5000;
export function retryDelay(attempt: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.max(0, attempt));
}

/** A join or resync may wait for the agent's mirror to catch up (the hub gives up after 30 s). */
const REQUEST_TIMEOUT_MS = 35_000;
/** How long a sink that keepsHistory waits for the join's full state before asking for it. */
const FULL_STATE_WAIT_MS = 2000;
/** Error codes worth asking again for (docs/protocol.md). */
const RETRYABLE = new Set(['unavailable', 'rate_limited', 'internal', 'timeout']);

/** Where a pane's bytes go: a terminal, a byte counter, a test recorder. */
export interface PaneSink {
  /** Before a snapshot is written: reset the terminal and size it to cols × rows. */
  reset(cols: number, rows: number): void;
  /** The snapshot's data, then the live bytes, in order, each once. */
  write(data: string | Uint8Array): void;
  /** Observers (optional): a snapshot is about to be applied; a chunk arrived (before ordering); a gap was seen. */
  snapshot?(snap: PaneSnapshot): void;
  chunk?(offset: number, bytes: Uint8Array): void;
  gap?(): void;
  /** Step `step` began `line` lines from the cursor's line, in order with the writes (paneStream.ts). */
  mark?(step: number, line: number): void;
  /**
   * What was written before a reset stays (a person's terminal keeps the screen it clears in its
   * history): a join's partial snapshot (the screen first) is skipped for the full state the hub
   * sends right after, so the history does not hold a stale copy of the screen.
   */
  keepsHistory?: boolean;
}

/** Which panes to follow and where their bytes go; null ignores a pane. */
export type PaneSinkFactory = (paneId: string, cols: number, rows: number) => PaneSink | null;

export interface RwView {
  canWrite: boolean;
  /** ISO instant the write grant ends; null when read-only (or a grant without an end). */
  until: string | null;
  reason?: string;
}

export type LinkState =
  | { kind: 'connecting'; since: number }
  /** Connected, and (when following a run) joined. */
  | { kind: 'connected'; since: number }
  /** Connected again, the join (and its snapshots) in flight. */
  | { kind: 'rejoining'; since: number }
  /** The connection is lost; retrying. `since` is when it was lost. */
  | { kind: 'cut_off'; since: number; reason: string }
  /** The hub refused the handshake (bad or expired token): no retry. */
  | { kind: 'refused'; since: number; reason: string }
  | { kind: 'closed'; since: number };

export class JoinError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JoinError';
  }
}

export interface LinkEvents {
  state: (state: LinkState) => void;
  /** Before each join (the panes wait for fresh snapshots). */
  joining: () => void;
  /** Every join's answer (the first and each rejoin). */
  joined: (reply: ViewerJoinReply) => void;
  /** A join the hub refused for good (not found, forbidden…). */
  joinFailed: (err: JoinError) => void;
  rw: (rw: RwView) => void;
  /** The run's live session ended (the hub detached this viewer from the stream). */
  ended: (status: string, reason: string) => void;
  /** A followed pane was announced (`pane:open`). */
  paneOpened: (info: PaneInfo) => void;
  paneResized: (paneId: string, cols: number, rows: number) => void;
}

export interface ViewerLinkOptions {
  /** The hub's base URL; '' for the page's own origin (the dashboard). */
  url: string;
  token: string;
  /** A write grant to present at the handshake. */
  grant?: string | null;
  /** Reconnect and rejoin when the connection is lost (default true; tests and the bench turn it off). */
  reconnect?: boolean;
  /** A connection of its own, not shared with other links to the same hub (default false). */
  forceNew?: boolean;
  /** After the session ended, join again to keep receiving the run's status and events (default false). */
  rejoinAfterEnd?: boolean;
  /** Where panes' bytes go, unless a join says otherwise. */
  sink?: PaneSinkFactory;
}

export interface JoinOptions {
  sink?: PaneSinkFactory;
  /** Panes to create before anything is seen of them (the CLI follows `task` from the start). */
  expect?: string[];
  /** Bound of the first join, retries included (default 35 s). */
  timeoutMs?: number;
}

/** A followed pane: its stream and its sink. */
export class LinkPane {
  readonly stream: PaneStream;
  gaps = 0;
  /** A `pane:resync` is in flight, or waiting for its next try (or for the join's full state). */
  resyncing = false;
  /** A partial snapshot was skipped: the join's full state is awaited (PaneSink.keepsHistory). */
  awaitingFull = false;
  retryTimer: TimerId | null = null;
  attempt = 0;
  /** The offset last acknowledged to the hub (`pane:ack`). */
  acked = 0;

  constructor(
    readonly paneId: string,
    readonly sink: PaneSink,
    onGap: () => void,
  ) {
    this.stream = new PaneStream({
      write: (d) => sink.write(d),
      onReset: (c, r) => sink.reset(c, r),
      mark: (step, line) => sink.mark?.(step, line),
      onGap: () => {
        this.gaps++;
        sink.gap?.();
        onGap();
      },
    });
  }

  apply(snap: PaneSnapshot): void {
    this.sink.snapshot?.(snap);
    this.stream.applySnapshot(snap);
  }

  stopRetry(): void {
    cancel(this.retryTimer);
    this.retryTimer = null;
  }
}

type Handlers = { [K in keyof LinkEvents]: Array<LinkEvents[K]> };

export class ViewerLink {
  readonly socket: ViewerSocket;
  readonly panes = new Map<string, LinkPane>();
  private token: string;
  private grant: string | null;
  private readonly reconnect: boolean;
  private readonly rejoinAfterEnd: boolean;
  private handlers: Handlers = { state: [], joining: [], joined: [], joinFailed: [], rw: [], ended: [], paneOpened: [], paneResized: [] };
  private st: LinkState = { kind: 'connecting', since: Date.now() };
  private rwView: RwView = { canWrite: false, until: null };
  private rwTimer: TimerId | null = null;
  private reconnectTimer: TimerId | null = null;
  private reconnectAttempt = 0;
  private watching = false;
  private closed = false;

  // the followed run
  private run: string | null = null;
  private sinkFactory: PaneSinkFactory | null = null;
  private joinPhase: 'none' | 'joining' | 'joined' | 'failed' = 'none';
  /** Bumped by every join: answers to an older one are ignored. */
  private generation = 0;
  private sessionEnded = false;
  private firstJoin: { resolve: (r: ViewerJoinReply) => void; reject: (e: Error) => void; deadline: number } | null = null;

  constructor(opts: ViewerLinkOptions) {
    this.token = opts.token;
    this.grant = opts.grant ?? null;
    this.reconnect = opts.reconnect ?? true;
    this.rejoinAfterEnd = opts.rejoinAfterEnd ?? false;
    this.sinkFactory = opts.sink ?? null;
    this.socket = io(`${opts.url}${VIEWER_NAMESPACE}`, {
      path: SOCKET_PATH,
      transports: ['websocket'],
      auth: this.auth(),
      reconnection: this.reconnect,
      reconnectionDelay: RETRY_FIRST_MS,
      reconnectionDelayMax: RETRY_MAX_MS,
      forceNew: opts.forceNew ?? false,
    });
    this.wire();
  }

  // ---- reading ---------------------------------------------------------------------------------

  get state(): LinkState {
    return this.st;
  }

  get rw(): RwView {
    return this.rwView;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Resolves once the socket is connected; rejects with the hub's refusal or after `timeoutMs`. */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        cancel(t);
        this.socket.off('connect', onConnect);
        this.socket.off('connect_error', done);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      const t = later(() => done(new Error(`the viewer socket did not connect within ${timeoutMs} ms`)), timeoutMs);
      this.socket.once('connect', onConnect);
      this.socket.once('connect_error', done);
    });
  }

  get runId(): string | null {
    return this.run;
  }

  /** The run's session ended (until the next join). */
  get ended(): boolean {
    return this.sessionEnded;
  }

  on<K extends keyof LinkEvents>(name: K, fn: LinkEvents[K]): () => void {
    (this.handlers[name] as Array<LinkEvents[K]>).push(fn);
    return () => {
      const list = this.handlers[name] as Array<LinkEvents[K]>;
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  // ---- doing -----------------------------------------------------------------------------------

  /**
   * Follows a run: joins now (or as soon as connected) and after every reconnect. Resolves with
   * the first join's answer; rejects when the hub refuses it for good or `timeoutMs` passes.
   */
  join(runId: string, opts: JoinOptions = {}): Promise<ViewerJoinReply> {
    if (this.run && this.run !== runId) this.leave();
    this.run = runId;
    if (opts.sink) this.sinkFactory = opts.sink;
    for (const id of opts.expect ?? []) this.pane(id);
    const promise = new Promise<ViewerJoinReply>((resolve, reject) => {
      this.firstJoin = { resolve, reject, deadline: Date.now() + (opts.timeoutMs ?? REQUEST_TIMEOUT_MS) };
    });
    if (this.socket.connected) void this.startJoin();
    return promise;
  }

  /** Joins again on the same connection (fresh snapshots). */
  rejoin(): void {
    if (this.run && this.socket.connected) void this.startJoin();
  }

  /** Stops following the run. */
  leave(): void {
    const runId = this.run;
    if (!runId) return;
    this.generation++;
    if (this.socket.connected) this.socket.emit('run:leave', runId);
    this.run = null;
    this.joinPhase = 'none';
    this.sessionEnded = false;
    for (const p of this.panes.values()) p.stopRetry();
    this.panes.clear();
    this.failFirstJoin(new JoinError('left', 'left the run'));
  }

  /** Follows a pane before anything was seen of it (its sink is made now); null if the sink declines it. */
  follow(paneId: string): LinkPane | null {
    return this.pane(paneId);
  }

  /** Asks for a fresh snapshot of a pane now (as after a gap). */
  resyncPane(paneId: string): void {
    const p = this.panes.get(paneId);
    if (p) this.resync(p);
  }

  /** Receives `run:status` for every run, now and after every reconnect. */
  watchRuns(): void {
    this.watching = true;
    if (this.socket.connected) this.sendWatch();
  }

  /** Sends keystrokes (the hub drops them unless this viewer holds a live grant). */
  sendInput(paneId: string, data: Uint8Array): boolean {
    if (!this.run || !this.socket.connected || data.length === 0) return false;
    this.socket.emit('pane:input', this.run, paneId, data);
    return true;
  }

  resize(paneId: string, cols: number, rows: number): void {
    if (this.run && this.socket.connected) this.socket.emit('pane:resize', this.run, paneId, cols, rows);
  }

  /** Presents a write grant: reconnects with it and joins again (the hub checks it at join). */
  useGrant(grant: string): void {
    this.grant = grant;
    this.socket.auth = this.auth();
    if (this.socket.connected) this.socket.disconnect();
    this.socket.connect();
  }

  /** Forgets the grant so that a later reconnect does not present it again. */
  dropGrant(): void {
    this.grant = null;
    this.socket.auth = this.auth();
  }

  /** A new operator token (signed in again): used from the next connection on. */
  setToken(token: string): void {
    this.token = token;
    this.socket.auth = this.auth();
    if (this.st.kind === 'refused') this.socket.connect();
  }

  close(): void {
    if (this.closed) return;
    this.leave();
    this.closed = true;
    cancel(this.rwTimer);
    cancel(this.reconnectTimer);
    this.setState({ kind: 'closed', since: Date.now() });
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  // ---- internals -------------------------------------------------------------------------------

  private auth(): { token: string; grant?: string } {
    return { token: this.token, ...(this.grant ? { grant: this.grant } : {}) };
  }

  private emit<K extends keyof LinkEvents>(name: K, ...args: Parameters<LinkEvents[K]>): void {
    for (const fn of [...this.handlers[name]] as Array<(...a: Parameters<LinkEvents[K]>) => void>) fn(...args);
  }

  private setState(s: LinkState): void {
    const prev = this.st;
    if (prev.kind === s.kind) return; // a cut-off keeps the time it was first lost
    this.st = s;
    this.emit('state', s);
  }

  private wire(): void {
    const s = this.socket;
    s.on('connect', () => {
      cancel(this.reconnectTimer);
      this.reconnectTimer = null;
      this.reconnectAttempt = 0;
      if (this.watching) this.sendWatch();
      if (this.run) void this.startJoin();
      else this.setState({ kind: 'connected', since: Date.now() });
    });
    s.on('connect_error', (err) => {
      if (this.closed) return;
      // Socket.IO gives up by itself only when the hub's handshake refused us (bad token…)
      if (this.reconnect && !s.active) {
        if (this.grant) {
          // a grant the hub will not take (forged, for another run): go on read-only without it
          this.dropGrant();
          this.setRw({ canWrite: false, until: null, reason: 'grant refused' });
          s.connect();
          return;
        }
        this.setState({ kind: 'refused', since: Date.now(), reason: err.message });
        this.failFirstJoin(new JoinError('unauthorized', err.message));
        return;
      }
      this.setState({ kind: 'cut_off', since: Date.now(), reason: err.message });
    });
    s.on('disconnect', (reason) => {
      if (this.closed) return;
      this.generation++; // answers of this connection's requests no longer count
      for (const p of this.panes.values()) {
        p.stopRetry();
        p.resyncing = false;
      }
      if (reason === 'io client disconnect') return; // ours (useGrant reconnects at once)
      this.setState({ kind: 'cut_off', since: Date.now(), reason });
      // a hub that shuts down closes its sockets itself; Socket.IO does not retry that on its own
      if (reason === 'io server disconnect' && this.reconnect) this.retryConnect();
    });

    s.on('pane:output', (runId, paneId, offset, data) => {
      if (runId !== this.run) return;
      const p = this.pane(paneId);
      if (!p) return;
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
      p.sink.chunk?.(offset, bytes);
      p.stream.push(offset, bytes);
      this.ackIfDue(runId, p);
      // output for a pane we hold no snapshot of (a pane:open we missed, a join without it)
      if (!p.stream.synced && this.joinPhase === 'joined') this.resync(p);
    });
    // the hub held our output back (we had stalled) and resyncs us; also the join's full state
    s.on('pane:snapshot', (runId, snap) => {
      if (runId !== this.run) return;
      const p = this.pane(snap.paneId, snap.cols, snap.rows);
      if (p) this.applySnapshot(p, snap);
    });
    s.on('pane:mark', (runId, paneId, offset, step) => {
      if (runId !== this.run || typeof offset !== 'number' || typeof step !== 'number') return;
      this.panes.get(paneId)?.stream.pushMark(offset, step);
    });
    s.on('pane:open', (runId, info) => this.paneOpen(runId, info));
    s.on('pane:resize', (runId, paneId, cols, rows) => {
      if (runId === this.run && this.panes.has(paneId)) this.emit('paneResized', paneId, cols, rows);
    });
    s.on('rw:changed', (state) => {
      if (state.runId !== this.run) return;
      if (!state.canWrite) this.dropGrant();
      this.setRw({ canWrite: state.canWrite, until: state.until, ...(state.reason ? { reason: state.reason } : {}) });
    });
    s.on('run:status', (runId, run, session) => {
      // the run came up after we joined: fetch the screens of the panes we expect
      if (runId !== this.run || this.joinPhase !== 'joined' || this.sessionEnded) return;
      if (run.status === 'running' && session?.status === 'ready') for (const p of this.panes.values()) if (!p.stream.synced) this.resync(p);
    });
    s.on('session:ended', (runId, status, reason) => {
      if (runId !== this.run) return;
      this.sessionEnded = true;
      for (const p of this.panes.values()) p.stopRetry();
      this.dropGrant();
      this.setRw({ canWrite: false, until: null, reason: 'session ended' });
      this.emit('ended', status, reason);
      if (this.rejoinAfterEnd) {
        const gen = this.generation;
        later(() => gen === this.generation && this.rejoin(), RETRY_FIRST_MS);
      }
    });
  }

  private retryConnect(): void {
    if (this.reconnectTimer || this.closed) return;
    this.reconnectTimer = later(() => {
      this.reconnectTimer = null;
      if (this.closed || this.socket.connected) return;
      this.reconnectAttempt++;
      this.socket.connect();
      // a hub still down answers with connect_error; Socket.IO's own reconnection takes over from there
    }, retryDelay(this.reconnectAttempt));
  }

  private sendWatch(): void {
    this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck('runs:watch')
      .then(
        (ack) => {
          if (!ack.ok && RETRYABLE.has(ack.error.code)) later(() => this.socket.connected && this.sendWatch(), retryDelay(1));
        },
        () => this.socket.connected && this.sendWatch(),
      );
  }

  private pane(paneId: string, cols = 0, rows = 0): LinkPane | null {
    const existing = this.panes.get(paneId);
    if (existing) return existing;
    const sink = this.sinkFactory?.(paneId, cols, rows);
    if (!sink) return null;
    const p: LinkPane = new LinkPane(paneId, sink, () => this.resync(p));
    this.panes.set(paneId, p);
    return p;
  }

  private async startJoin(): Promise<void> {
    const runId = this.run;
    if (!runId || this.closed) return;
    const gen = ++this.generation;
    this.joinPhase = 'joining';
    this.sessionEnded = false;
    for (const p of this.panes.values()) {
      p.stopRetry();
      p.resyncing = false;
      p.awaitingFull = false;
      p.attempt = 0;
      p.stream.reset();
    }
    this.setState(this.st.kind === 'connecting' ? this.st : { kind: 'rejoining', since: Date.now() });
    this.emit('joining');
    for (let attempt = 0; ; attempt++) {
      let ack: Ack<ViewerJoinReply>;
      const first = this.firstJoin;
      const timeout = first ? Math.max(1, Math.min(REQUEST_TIMEOUT_MS, first.deadline - Date.now())) : REQUEST_TIMEOUT_MS;
      try {
        ack = await this.socket.timeout(timeout).emitWithAck('run:join', runId);
      } catch {
        ack = { ok: false, error: { code: 'timeout', message: 'the hub did not answer the join' } };
      }
      if (gen !== this.generation) return;
      if (ack.ok) return this.joined(ack.data);
      const err = new JoinError(ack.error.code, ack.error.message);
      const giveUp = !RETRYABLE.has(ack.error.code) || (first !== null && Date.now() + retryDelay(attempt) > first.deadline);
      if (giveUp) {
        this.joinPhase = 'failed';
        this.setState({ kind: 'connected', since: Date.now() });
        this.failFirstJoin(err);
        this.emit('joinFailed', err);
        return;
      }
      await new Promise<void>((r) => later(r, retryDelay(attempt)));
      if (gen !== this.generation || !this.socket.connected) return;
    }
  }

  private joined(reply: ViewerJoinReply): void {
    this.joinPhase = 'joined';
    if (this.grant && !reply.canWrite) this.dropGrant();
    this.setRw({ canWrite: reply.canWrite, until: reply.rwUntil });
    for (const snap of reply.panes) {
      const p = this.pane(snap.paneId, snap.cols, snap.rows);
      if (p) this.applySnapshot(p, snap);
    }
    const first = this.firstJoin;
    this.firstJoin = null;
    this.setState({ kind: 'connected', since: Date.now() });
    this.emit('joined', reply);
    first?.resolve(reply);
    const live = reply.run.status === 'running' && reply.session?.status === 'ready';
    // chunks of a pane the join brought no snapshot of are waiting in its stream
    for (const p of this.panes.values()) if (!p.stream.synced && (live || p.stream.bufferedByteCount > 0)) this.resync(p);
  }

  private failFirstJoin(err: Error): void {
    const first = this.firstJoin;
    this.firstJoin = null;
    first?.reject(err);
  }

  private paneOpen(runId: string, info: PaneInfo): void {
    if (runId !== this.run) return;
    const p = this.pane(info.paneId, info.cols, info.rows);
    if (!p) return;
    this.emit('paneOpened', info);
    if (this.joinPhase !== 'joined') return; // the join's answer brings the screens
    const expected = p.stream.expectedOffset;
    if (expected !== null && info.offset === expected) return;
    if (info.offset === 0) {
      // a new pane (or a pane started anew, e.g. a second takeover's shell): nothing to fetch
      p.stopRetry();
      p.resyncing = false;
      this.applySnapshot(p, { paneId: info.paneId, cols: info.cols, rows: info.rows, offset: 0, data: '' });
      return;
    }
    // behind (bytes we never saw), or ahead of a pane that started over: fetch its state
    if (expected !== null && info.offset < expected) p.stream.reset();
    this.resync(p);
  }

  private applySnapshot(p: LinkPane, snap: PaneSnapshot): void {
    if (snap.partial && p.sink.keepsHistory && !p.stream.synced) return this.awaitFullState(p);
    if (p.awaitingFull) {
      p.awaitingFull = false;
      p.stopRetry();
      p.resyncing = false;
    }
    p.attempt = 0;
    p.apply(snap);
    if (this.run) this.ackIfDue(this.run, p);
  }

  /** The hub pushes the join's full state next; nothing else asks for it meanwhile. Asks for it if it does not come. */
  private awaitFullState(p: LinkPane): void {
    if (p.awaitingFull) return;
    p.awaitingFull = true;
    p.resyncing = true;
    const gen = this.generation;
    p.retryTimer = later(() => {
      p.retryTimer = null;
      p.awaitingFull = false;
      p.resyncing = false;
      if (gen === this.generation && !p.stream.synced) this.resync(p);
    }, FULL_STATE_WAIT_MS);
  }

  /** Tells the hub what this pane has written, every VIEWER_ACK_BYTES: a viewer that reads is never taken for a stalled one. */
  private ackIfDue(runId: string, p: LinkPane): void {
    const at = p.stream.expectedOffset;
    if (at === null || (at - p.acked < VIEWER_ACK_BYTES && at >= p.acked)) return;
    p.acked = at;
    if (this.socket.connected) this.socket.emit('pane:ack', runId, p.paneId, at);
  }

  /** Asks for a fresh snapshot of a pane until it is in sync again (the one retry policy). */
  private resync(p: LinkPane): void {
    const runId = this.run;
    if (!runId || p.resyncing || this.sessionEnded || this.joinPhase !== 'joined' || !this.socket.connected) return;
    p.resyncing = true;
    const gen = this.generation;
    const retry = () => {
      p.retryTimer = later(() => {
        p.retryTimer = null;
        p.resyncing = false;
        if (gen === this.generation && !p.stream.synced) this.resync(p);
      }, retryDelay(p.attempt++));
    };
    this.socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck('pane:resync', runId, p.paneId)
      .then(
        (ack: Ack<PaneSnapshot>) => {
          if (gen !== this.generation || this.panes.get(p.paneId) !== p) return;
          if (!ack.ok || ack.data.paneId !== p.paneId) return retry();
          p.resyncing = false;
          this.applySnapshot(p, ack.data);
          // its replay may have hit another gap (signalled while this ran): ask again
          if (!p.stream.synced) this.resync(p);
        },
        () => gen === this.generation && retry(),
      );
  }

  private setRw(rw: RwView): void {
    cancel(this.rwTimer);
    this.rwTimer = null;
    if (rw.canWrite && rw.until) {
      const left = Date.parse(rw.until) - Date.now();
      if (left <= 0) rw = { canWrite: false, until: null, reason: 'grant expired' };
      // the hub downgrades on its own clock too; this keeps the page honest if its notice is late
      else this.rwTimer = later(() => this.expireLocally(), Math.min(left, 2 ** 31 - 1));
    }
    if (!rw.canWrite && this.grant && rw.reason) this.dropGrant();
    const prev = this.rwView;
    this.rwView = rw;
    if (prev.canWrite !== rw.canWrite || prev.until !== rw.until || prev.reason !== rw.reason) this.emit('rw', rw);
  }

  private expireLocally(): void {
    if (!this.rwView.canWrite) return;
    this.dropGrant();
    this.setRw({ canWrite: false, until: null, reason: 'grant expired' });
  }
}
