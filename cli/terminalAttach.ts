/**
 * This terminal as a viewer of a run's task pane (architecture §5, §8a), over common/viewerLink.ts
 * (join, late-join snapshot, live output through PaneStream, gap resync, rejoin after a reconnect,
 * the write state): paints the pane, forwards keystrokes only under a live write grant, and
 * detaches on Ctrl-]. Status (grant time left, operator messages, notices) goes to the title bar
 * and a one-line overlay on stderr, never into the pane's byte stream.
 */
import { spawnSync } from 'node:child_process';
import type { LiveSessionDto, TaskRunDto } from '../common/api.ts';
import type { ViewerJoinReply } from '../common/protocol.ts';
import { TASK_PANE } from '../common/protocol.ts';
import type { LinkState, RwView } from '../common/viewerLink.ts';
import { ViewerLink } from '../common/viewerLink.ts';

/** Ctrl-] detaches (as in telnet / docker attach). */
export const DETACH_BYTE = 0x1d;
/** Give up when a lost connection does not come back within this. */
const RECONNECT_GRACE_MS = 10_000;
const JOIN_TIMEOUT_MS = 15_000;
/** Left modes the remote program may have set: alt screen, hidden cursor, mouse, bracketed paste, app keys, scroll region. */
const RESTORE = '\x1b[?1049l\x1b[?25h\x1b[0m\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1l\x1b>\x1b7\x1b[r\x1b8';

export interface AttachOptions {
  hubUrl: string;
  token: string;
  runId: string;
  /** RW grant token (auth.grant); without it the viewer is read-only. */
  grant?: string | null;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export type AttachOutcome =
  | { kind: 'detached' }
  | { kind: 'ended'; status: string; reason: string; sawOutput: boolean }
  | { kind: 'failed'; message: string };

const TERMINAL_RUN = new Set(['succeeded', 'failed', 'cancelled']);
const TERMINAL_SESSION = new Set(['ended', 'revoked', 'error']);

export function attachTerminal(opts: AttachOptions): Promise<AttachOutcome> {
  return new Promise<AttachOutcome>((resolve) => new TerminalAttach(opts, resolve).start());
}

/** One attach: the link, the status line and title, the keyboard; ends once (finish). */
class TerminalAttach {
  private readonly stdin: NodeJS.ReadStream;
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly short: string;
  private readonly link: ViewerLink;
  private done = false;
  private rawMode = false;
  /** The terminal's settings before output processing was turned off (`stty -g`), to put back; or null. */
  private sttySaved: string | null = null;
  private everConnected = false;
  private sawOutput = false;
  private roHintShown = false;
  private oneMinuteWarned = false;
  private hadWrite = false;
  private lastTitle = '';
  /** Row of the status overlay drawn on the terminal (cleared on exit), or 0. */
  private overlayRow = 0;
  private lostTimer: NodeJS.Timeout | null = null;
  /** The run's pane size, from its latest snapshot. */
  private paneSize: { cols: number; rows: number } | null = null;
  private sizeNoticed = '';
  private readonly titleTimer: NodeJS.Timeout;

  constructor(
    private readonly opts: AttachOptions,
    private readonly resolve: (o: AttachOutcome) => void,
  ) {
    this.stdin = opts.stdin ?? process.stdin;
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
    this.tty = this.stdout.isTTY === true;
    this.short = opts.runId.slice(0, 8);
    this.link = new ViewerLink({ url: opts.hubUrl, token: opts.token, grant: opts.grant ?? null });
    this.titleTimer = setInterval(() => this.title(), 1000);
  }

  start(): void {
    const { link, opts } = this;
    link.on('state', (st) => this.onState(st));
    link.on('rw', (rw) => this.onRw(rw));
    link.on('ended', (status, reason) => {
      const outcome = { kind: 'ended' as const, status, reason, sawOutput: this.sawOutput };
      this.finish(outcome, endedMessage(outcome));
    });
    link.on('joinFailed', (err) => this.finish({ kind: 'failed', message: err.message }, `handoff attach: ${err.code === 'timeout' ? `the hub did not answer the join of run ${opts.runId}` : err.message}`));
    link.on('joined', (reply) => this.joined(reply));
    link.on('paneResized', (paneId, cols, rows) => this.paneResized(paneId, cols, rows));
    const s = link.socket;
    s.on('run:message', (msg) => {
      if (msg.runId === opts.runId) this.status(`[message from ${msg.from ?? 'system'}] ${msg.message}`);
    });
    s.on('run:control', (rid, lc) => {
      if (rid === opts.runId) this.status(`[control] ${lc.paused ? 'paused' : 'resumed'}${lc.takeover ? ' (takeover)' : ''}`);
    });
    s.on('notice', (rid, code, message) => {
      if (rid === opts.runId && code !== 'read_only') this.status(message);
    });
    link
      .join(opts.runId, {
        expect: [TASK_PANE],
        timeoutMs: JOIN_TIMEOUT_MS,
        sink: (paneId, cols, rows) => {
          if (paneId !== TASK_PANE) return null;
          this.paneSize = { cols, rows };
          return {
            // a terminal's history (and a pipe) keeps what a reset clears: the join's full state only
            keepsHistory: true,
            reset: (c, r) => {
              // the terminal keeps the screen a reset clears in its history: not our status line
              this.clearStatus();
              if (this.tty) this.stdout.write('\x1bc');
              this.lastTitle = '';
              this.paneSize = { cols: c, rows: r };
              this.sizeNotice();
            },
            write: (data) => {
              if (data.length > 0) this.sawOutput = true;
              this.stdout.write(data);
            },
          };
        },
      })
      .catch(() => undefined); // joinFailed and a refused handshake end the attach with the reason

    if (this.stdin.isTTY) {
      this.stdin.setRawMode(true);
      this.rawMode = true;
    }
    if (this.tty) this.rawOutput();
    this.stdin.on('data', this.onKeys);
    this.stdin.resume();
    this.stdout.on('resize', this.onResize);
    for (const sig of SIGNALS) process.on(sig, this.onSignal);
  }

  /** The join's answer: paint the screen, or wait for the run to start, or say why not. */
  private joined(reply: ViewerJoinReply): void {
    const { run, session } = reply;
    if (!session || (session.status === 'disabled' && TERMINAL_RUN.has(run.status))) {
      return this.finish({ kind: 'failed', message: 'no live session' }, `handoff attach: run ${this.opts.runId} has no live session (${run.status})`);
    }
    if (TERMINAL_SESSION.has(session.status) || TERMINAL_RUN.has(run.status)) {
      const outcome = endedOutcome(run, session, this.sawOutput);
      return this.finish(outcome, endedMessage(outcome));
    }
    if (!this.link.panes.get(TASK_PANE)?.stream.synced) this.status(`waiting for run ${this.short} to start (${run.status}, session ${session.status})…`);
    if (this.link.rw.canWrite) this.onResize();
    this.title();
  }

  private onState(st: LinkState): void {
    const { hubUrl } = this.opts;
    if (st.kind === 'refused') return this.finish({ kind: 'failed', message: st.reason }, `handoff attach: the hub refused the connection: ${st.reason}`);
    if (st.kind === 'cut_off') {
      if (this.everConnected) this.status('connection to the hub lost, reconnecting…');
      if (!this.lostTimer) {
        const message = this.everConnected
          ? `handoff attach: lost the connection to the hub at ${hubUrl} (${st.reason}); no reconnect within ${RECONNECT_GRACE_MS / 1000} s`
          : `handoff attach: cannot reach the hub at ${hubUrl} (${st.reason}); gave up after ${RECONNECT_GRACE_MS / 1000} s`;
        this.lostTimer = setTimeout(() => this.finish({ kind: 'failed', message: this.everConnected ? 'connection lost' : 'unreachable' }, message), RECONNECT_GRACE_MS);
      }
      return;
    }
    if (st.kind === 'rejoining' || st.kind === 'connected') {
      if (this.lostTimer) clearTimeout(this.lostTimer);
      this.lostTimer = null;
      if (st.kind === 'rejoining') this.status('reconnected');
      this.everConnected = true;
    }
  }

  private onRw(rw: RwView): void {
    const had = this.hadWrite;
    this.hadWrite = rw.canWrite;
    if (had && !rw.canWrite) this.status(`write access ended: ${rw.reason ?? 'grant no longer valid'} (read-only now)`);
    if (rw.canWrite) {
      this.oneMinuteWarned = false;
      this.onResize();
    }
    this.title();
  }

  // ---- status: title bar + one-line overlay ------------------------------------------------
  private title(): void {
    if (!this.tty || this.done) return;
    const rw = this.link.rw;
    let t = `handoff ${this.short} · `;
    if (rw.canWrite && rw.until === null) t += 'RW';
    else if (rw.canWrite && rw.until !== null) {
      const left = Math.max(0, Date.parse(rw.until) - Date.now());
      t += left >= 60_000 ? `RW ${Math.floor(left / 60_000)} min left` : `RW ${Math.ceil(left / 1000)} s left`;
      if (left <= 60_000 && !this.oneMinuteWarned) {
        this.oneMinuteWarned = true;
        this.status('write access ends in less than a minute');
      }
    } else t += 'read-only';
    const cut = this.cutOff();
    if (cut) t += ` · ${cut}`;
    t += ' · Ctrl-] detaches';
    if (t === this.lastTitle) return;
    this.lastTitle = t;
    this.stdout.write(`\x1b]2;${t}\x07`);
  }

  /** One line on stderr; on a terminal, drawn over the bottom row with the cursor kept where it was. */
  private status(msg: string): void {
    if (this.done) return;
    // eslint-disable-next-line no-control-regex -- control characters would corrupt the screen
    const line = msg.replace(/[\x00-\x1f\x7f]+/g, ' ');
    const { stderr } = this;
    if (stderr.isTTY) {
      const cols = stderr.columns || 80;
      const rows = stderr.rows || 24;
      const text = line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line;
      this.overlayRow = rows;
      stderr.write(`\x1b7\x1b[${rows};1H\x1b[2K\x1b[7m${text}\x1b[0m\x1b8`);
    } else stderr.write(`handoff attach: ${line}\n`);
  }

  /** Erases the status line drawn over the bottom row, if any. */
  private clearStatus(): void {
    if (this.overlayRow) this.stderr.write(`\x1b7\x1b[${this.overlayRow};1H\x1b[2K\x1b8`);
    this.overlayRow = 0;
  }

  // ---- keyboard and size ---------------------------------------------------------------------
  private readonly onKeys = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const chord = bytes.indexOf(DETACH_BYTE);
    const input = chord >= 0 ? bytes.subarray(0, chord) : bytes;
    if (input.length > 0) {
      if (this.link.rw.canWrite) this.link.sendInput(TASK_PANE, Buffer.from(input));
      else if (!this.roHintShown) {
        this.roHintShown = true;
        this.status('read-only: keystrokes are not sent (attach with --rw to type; Ctrl-] detaches)');
      }
    }
    if (chord >= 0) this.finish({ kind: 'detached' }, 'detached');
  };

  /**
   * This terminal changed size. With write access the run's pane follows it; read-only, the
   * terminal reflowed or clipped what it showed, so it repaints from a snapshot.
   */
  private readonly onResize = () => {
    if (this.done) return;
    const { columns, rows } = this.stdout;
    if (!(columns > 0 && rows > 0)) return;
    if (this.link.rw.canWrite) this.link.resize(TASK_PANE, columns, rows);
    else if (this.tty && this.link.panes.has(TASK_PANE)) this.link.resyncPane(TASK_PANE);
  };

  /** "80×24 < run 120×40" while this terminal is smaller than the run's pane (its right or bottom part is cut off), else null. */
  private cutOff(): string | null {
    if (!this.tty || !this.paneSize) return null;
    const { cols, rows } = this.paneSize;
    const have = { cols: this.stdout.columns || 0, rows: this.stdout.rows || 0 };
    if (have.cols === 0 || (have.cols >= cols && have.rows >= rows)) return null;
    return `${have.cols}×${have.rows} < run ${cols}×${rows}`;
  }

  /** Said once per size, after the repaint that would draw over it. */
  private sizeNotice(): void {
    const cut = this.cutOff();
    if (!cut || cut === this.sizeNoticed) return;
    this.sizeNoticed = cut;
    setImmediate(() => this.status(`this terminal is smaller than the run's (${cut}): enlarge it to see all of it`));
  }

  /**
   * The run's pane took another size (an RW holder's terminal). A terminal of that size did what
   * the program's terminal did (reset the scroll region, reflowed); any other one did not, and
   * keeps cells outside the pane: it repaints from a snapshot at the new size.
   */
  private paneResized(paneId: string, cols: number, rows: number): void {
    if (paneId !== TASK_PANE || !this.tty || this.done) return;
    this.paneSize = { cols, rows };
    this.sizeNotice();
    if (this.stdout.columns !== cols || this.stdout.rows !== rows) this.link.resyncPane(TASK_PANE);
  }

  private readonly onSignal = (sig: NodeJS.Signals) => this.finish({ kind: 'failed', message: sig }, `handoff attach: ${sig}`);

  /**
   * The pane's bytes reach the terminal as the program's own terminal got them: its pty already
   * did the output processing. Node's raw mode keeps it on (LF → CR LF), which moves the cursor
   * to column 1 where a program whose tty has it off (curses) moved straight down.
   */
  private rawOutput(): void {
    const fd = (this.stdout as { fd?: unknown }).fd;
    if (typeof fd !== 'number') return;
    const saved = spawnSync('stty', ['-g'], { stdio: [fd, 'pipe', 'ignore'], encoding: 'utf8' });
    if (saved.status !== 0 || !saved.stdout) return;
    if (spawnSync('stty', ['-opost'], { stdio: [fd, 'ignore', 'ignore'] }).status === 0) this.sttySaved = saved.stdout.trim();
  }

  private restoreOutput(): void {
    const fd = (this.stdout as { fd?: unknown }).fd;
    if (this.sttySaved === null || typeof fd !== 'number') return;
    spawnSync('stty', [this.sttySaved], { stdio: [fd, 'ignore', 'ignore'] });
    this.sttySaved = null;
  }

  // ---- ending --------------------------------------------------------------------------------
  private finish(outcome: AttachOutcome, message: string): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.titleTimer);
    if (this.lostTimer) clearTimeout(this.lostTimer);
    this.stdin.off('data', this.onKeys);
    this.stdout.off('resize', this.onResize);
    for (const sig of SIGNALS) process.off(sig, this.onSignal);
    if (this.rawMode) {
      try {
        this.stdin.setRawMode(false);
      } catch {
        // stdin already gone
      }
    }
    this.restoreOutput();
    this.stdin.pause();
    this.link.close();
    this.clearStatus();
    if (this.tty) this.stdout.write(`${RESTORE}\x1b]2;\x07\r\n`);
    this.stderr.write(`${message}\n`);
    this.resolve(outcome);
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

function endedOutcome(run: TaskRunDto, session: LiveSessionDto, sawOutput: boolean): AttachOutcome & { kind: 'ended' } {
  const status = TERMINAL_SESSION.has(session.status) ? session.status : 'ended';
  return { kind: 'ended', status, reason: session.errorMessage ?? `run ${run.status}`, sawOutput };
}

export function endedMessage(o: { status: string; reason: string }): string {
  return `session ended (${o.status}): ${o.reason}`;
}
