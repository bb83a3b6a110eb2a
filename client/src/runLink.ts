/**
 * One run's live link on the detail page: the viewer socket, joined to the run after every
 * (re)connect, and the tab's RW state. Taking a grant reconnects with auth { token, grant } and
 * joins again (the hub checks the grant on join); losing it (rw:changed, or the local countdown
 * reaching zero) drops back to read-only without a reconnect.
 */
import type { Ack, RwState, ViewerJoinReply } from '../../common/protocol.ts';
import type { ViewerSocket } from './socket.ts';
import { connectViewer, unwrap } from './socket.ts';

export interface RwView {
  canWrite: boolean;
  /** ISO instant the write grant ends; null when read-only. */
  until: string | null;
  reason?: string;
}

type Listener<T> = (v: T) => void;

export class RunLink {
  readonly socket: ViewerSocket;
  private grant: string | null = null;
  private rw: RwView = { canWrite: false, until: null };
  private expiry: ReturnType<typeof setTimeout> | null = null;
  private readonly joiningL: Array<() => void> = [];
  private readonly joinedL: Array<Listener<ViewerJoinReply>> = [];
  private readonly rwL: Array<Listener<RwView>> = [];
  private readonly errorL: Array<Listener<string>> = [];
  private closed = false;

  constructor(
    readonly runId: string,
    private readonly token: string,
  ) {
    this.socket = connectViewer({ token });
    this.socket.on('connect', () => void this.join());
    this.socket.on('rw:changed', (s: RwState) => {
      if (s.runId !== this.runId) return;
      if (!s.canWrite) this.dropGrant();
      this.setRw({ canWrite: s.canWrite, until: s.until, ...(s.reason ? { reason: s.reason } : {}) });
    });
    this.socket.on('session:ended', (runId) => {
      if (runId === this.runId) {
        this.dropGrant();
        this.setRw({ canWrite: false, until: null, reason: 'session ended' });
      }
    });
  }

  get state(): RwView {
    return this.rw;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Called before each join (reset pane streams: output is buffered until the snapshot). */
  onJoining(fn: () => void): void {
    this.joiningL.push(fn);
  }

  onJoined(fn: Listener<ViewerJoinReply>): void {
    this.joinedL.push(fn);
  }

  onRw(fn: Listener<RwView>): void {
    this.rwL.push(fn);
  }

  onError(fn: Listener<string>): void {
    this.errorL.push(fn);
  }

  /** Joins again on the same connection (e.g. after the hub detached us from a revoked session's stream). */
  rejoin(): void {
    if (this.socket.connected) void this.join();
  }

  /** Uses an RW grant token (from grant-write): reconnects with it and joins again. */
  useGrant(grantToken: string): void {
    this.grant = grantToken;
    this.socket.auth = { token: this.token, grant: grantToken };
    if (this.socket.connected) this.socket.disconnect();
    this.socket.connect();
  }

  /** Forgets the grant so that a later reconnect does not present it again. */
  dropGrant(): void {
    this.grant = null;
    this.socket.auth = { token: this.token };
  }

  /** The local countdown reached zero: read-only now (the hub downgrades on its own clock too). */
  expireLocally(): void {
    if (!this.rw.canWrite) return;
    this.dropGrant();
    this.setRw({ canWrite: false, until: null, reason: 'grant expired' });
  }

  close(): void {
    this.closed = true;
    if (this.expiry) clearTimeout(this.expiry);
    if (this.socket.connected) this.socket.emit('run:leave', this.runId);
    this.socket.disconnect();
  }

  private async join(): Promise<void> {
    for (const fn of this.joiningL) fn();
    try {
      const ack: Ack<ViewerJoinReply> = await this.socket.timeout(15_000).emitWithAck('run:join', this.runId);
      const reply = unwrap(ack);
      if (this.closed) return;
      for (const fn of this.joinedL) fn(reply);
      if (this.grant && !reply.canWrite) this.dropGrant();
      this.setRw({ canWrite: reply.canWrite, until: reply.rwUntil });
    } catch (err) {
      for (const fn of this.errorL) fn(`could not join the run's live stream: ${(err as Error).message}`);
    }
  }

  private setRw(rw: RwView): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
    if (rw.canWrite && rw.until) {
      const left = Date.parse(rw.until) - Date.now();
      if (left <= 0) rw = { canWrite: false, until: null, reason: 'grant expired' };
      else this.expiry = setTimeout(() => this.expireLocally(), Math.min(left, 2 ** 31 - 1));
    }
    this.rw = rw;
    for (const fn of this.rwL) fn(rw);
  }
}
