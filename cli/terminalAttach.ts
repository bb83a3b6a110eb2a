/**
 * This terminal as a viewer of a run's task pane (architecture §5, §8a): joins the '/viewer'
 * namespace, paints the late-join snapshot and then the live output through PaneStream (gap →
 * resync), forwards keystrokes only under a live RW grant, and detaches on Ctrl-].
 * Status (grant time left, operator messages, notices) goes to the title bar and a one-line
 * overlay on stderr, never into the pane's byte stream.
 */
import { io, type Socket } from 'socket.io-client';
import type { LiveSessionDto, TaskRunDto } from '../common/api.ts';
import { PaneStream } from '../common/paneStream.ts';
import type { Ack, HubToViewerEvents, PaneSnapshot, ViewerJoinReply, ViewerToHubEvents } from '../common/protocol.ts';
import { SOCKET_PATH, TASK_PANE, VIEWER_NAMESPACE } from '../common/protocol.ts';

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

type ViewerSocket = Socket<HubToViewerEvents, ViewerToHubEvents>;

const TERMINAL_RUN = new Set(['succeeded', 'failed', 'cancelled']);
const TERMINAL_SESSION = new Set(['ended', 'revoked', 'error']);

export function attachTerminal(opts: AttachOptions): Promise<AttachOutcome> {
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const { runId } = opts;
  const short = runId.slice(0, 8);
  const tty = stdout.isTTY === true;

  return new Promise<AttachOutcome>((resolve) => {
    let done = false;
    let rawMode = false;
    let connectedOnce = false;
    let canWrite = false;
    let rwUntil: number | null = null;
    let roHintShown = false;
    let oneMinuteWarned = false;
    let resyncing = false;
    let resyncRetry: NodeJS.Timeout | null = null;
    let lostTimer: NodeJS.Timeout | null = null;
    let sawOutput = false;
    /** The current connection's join was answered (a snapshot came, or none was to be had). */
    let joinAnswered = false;
    let lastTitle = '';
    /** Row of the status overlay drawn on the terminal (cleared on exit), or 0. */
    let overlayRow = 0;

    const socket: ViewerSocket = io(`${opts.hubUrl}${VIEWER_NAMESPACE}`, {
      path: SOCKET_PATH,
      transports: ['websocket'],
      auth: { token: opts.token, ...(opts.grant ? { grant: opts.grant } : {}) },
      reconnectionDelay: 300,
      reconnectionDelayMax: 2000,
    });

    const stream = new PaneStream({
      onReset: () => {
        if (tty) stdout.write('\x1bc');
        lastTitle = '';
      },
      write: (data) => {
        if (data.length > 0) sawOutput = true;
        stdout.write(data);
      },
      onGap: () => resync(),
    });

    // ---- status: title bar + one-line overlay ------------------------------------------------
    const title = () => {
      if (!tty || done) return;
      let t = `handoff ${short} · `;
      if (canWrite && rwUntil === null) t += 'RW';
      else if (canWrite && rwUntil !== null) {
        const left = Math.max(0, rwUntil - Date.now());
        t += left >= 60_000 ? `RW ${Math.floor(left / 60_000)} min left` : `RW ${Math.ceil(left / 1000)} s left`;
        if (left <= 60_000 && !oneMinuteWarned) {
          oneMinuteWarned = true;
          status('write access ends in less than a minute');
        }
      } else t += 'read-only';
      t += ' · Ctrl-] detaches';
      if (t === lastTitle) return;
      lastTitle = t;
      stdout.write(`\x1b]2;${t}\x07`);
    };
    const titleTimer = setInterval(title, 1000);

    /** One line on stderr; on a terminal, drawn over the bottom row with the cursor kept where it was. */
    const status = (msg: string) => {
      if (done) return;
      // eslint-disable-next-line no-control-regex -- control characters would corrupt the screen
      const line = msg.replace(/[\x00-\x1f\x7f]+/g, ' ');
      if (stderr.isTTY) {
        const cols = stderr.columns || 80;
        const rows = stderr.rows || 24;
        const text = line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line;
        overlayRow = rows;
        stderr.write(`\x1b7\x1b[${rows};1H\x1b[2K\x1b[7m${text}\x1b[0m\x1b8`);
      } else stderr.write(`handoff attach: ${line}\n`);
    };

    // ---- ending --------------------------------------------------------------------------------
    const finish = (outcome: AttachOutcome, message: string) => {
      if (done) return;
      done = true;
      clearInterval(titleTimer);
      if (resyncRetry) clearTimeout(resyncRetry);
      if (lostTimer) clearTimeout(lostTimer);
      stdin.off('data', onKeys);
      stdout.off('resize', onResize);
      for (const sig of SIGNALS) process.off(sig, onSignal);
      if (rawMode) {
        try {
          stdin.setRawMode(false);
        } catch {
          // stdin already gone
        }
      }
      stdin.pause();
      socket.removeAllListeners();
      socket.close();
      if (overlayRow) stderr.write(`\x1b7\x1b[${overlayRow};1H\x1b[2K\x1b8`);
      if (tty) stdout.write(`${RESTORE}\x1b]2;\x07\r\n`);
      stderr.write(`${message}\n`);
      resolve(outcome);
    };

    // ---- stream --------------------------------------------------------------------------------
    const resync = () => {
      if (done || resyncing) return;
      resyncing = true;
      socket
        .timeout(JOIN_TIMEOUT_MS)
        .emitWithAck('pane:resync', runId, TASK_PANE)
        .then((reply: Ack<PaneSnapshot | PaneSnapshot[]>) => {
          resyncing = false;
          if (done) return;
          const snap = reply.ok ? pickTask(reply.data) : undefined;
          if (snap) stream.applySnapshot(snap);
          else retryResync();
        })
        .catch(() => {
          resyncing = false;
          retryResync();
        });
    };
    const retryResync = () => {
      if (done || stream.synced || resyncRetry) return;
      resyncRetry = setTimeout(() => {
        resyncRetry = null;
        if (!stream.synced) resync();
      }, 1000);
    };

    /** The join's answer: paint the screen, or wait for the run to start, or say why not. */
    const joined = (reply: ViewerJoinReply) => {
      const { run, session } = reply;
      if (!session || (session.status === 'disabled' && TERMINAL_RUN.has(run.status))) {
        return finish({ kind: 'failed', message: 'no live session' }, `handoff attach: run ${runId} has no live session (${run.status})`);
      }
      if (TERMINAL_SESSION.has(session.status) || TERMINAL_RUN.has(run.status)) {
        const outcome = endedOutcome(run, session, sawOutput);
        return finish(outcome, endedMessage(outcome));
      }
      setWrite(reply.canWrite, reply.rwUntil, null);
      const snap = pickTask(reply.panes);
      if (snap) stream.applySnapshot(snap);
      else if (!stream.synced) status(`waiting for run ${short} to start (${run.status}, session ${session.status})…`);
      if (canWrite) onResize();
      title();
    };

    const join = () => {
      socket
        .timeout(JOIN_TIMEOUT_MS)
        .emitWithAck('run:join', runId)
        .then((reply: Ack<ViewerJoinReply>) => {
          if (done) return;
          if (!reply.ok) return finish({ kind: 'failed', message: reply.error.message }, `handoff attach: ${reply.error.message}`);
          joinAnswered = true;
          joined(reply.data);
        })
        .catch(() => finish({ kind: 'failed', message: 'join timed out' }, `handoff attach: the hub did not answer the join of run ${runId}`));
    };

    const setWrite = (write: boolean, until: string | null, reason: string | null) => {
      const had = canWrite;
      canWrite = write;
      rwUntil = write && until ? Date.parse(until) : null;
      if (had && !write) status(`write access ended: ${reason ?? 'grant no longer valid'} (read-only now)`);
      if (!had && write) oneMinuteWarned = false;
      title();
    };

    // ---- hub events ----------------------------------------------------------------------------
    socket.on('connect', () => {
      if (lostTimer) clearTimeout(lostTimer);
      lostTimer = null;
      if (connectedOnce) {
        // the hub forgot our room: join again and repaint from a fresh snapshot
        stream.reset();
        status('reconnected');
      }
      joinAnswered = false;
      connectedOnce = true;
      join();
    });

    socket.on('connect_error', (err) => {
      if (done) return;
      if (!socket.active) return finish({ kind: 'failed', message: err.message }, `handoff attach: the hub refused the connection: ${err.message}`);
      if (!lostTimer) {
        lostTimer = setTimeout(
          () => finish({ kind: 'failed', message: 'unreachable' }, `handoff attach: cannot reach the hub at ${opts.hubUrl} (${err.message}); gave up after ${RECONNECT_GRACE_MS / 1000} s`),
          RECONNECT_GRACE_MS,
        );
      }
    });

    socket.on('disconnect', (reason) => {
      if (done) return;
      // a hub shutting down closes its sockets itself: Socket.IO would not retry then, so do it here
      if (reason === 'io server disconnect') setTimeout(() => !done && socket.connect(), 300);
      status('connection to the hub lost, reconnecting…');
      if (!lostTimer) {
        lostTimer = setTimeout(
          () => finish({ kind: 'failed', message: 'connection lost' }, `handoff attach: lost the connection to the hub at ${opts.hubUrl} (${reason}); no reconnect within ${RECONNECT_GRACE_MS / 1000} s`),
          RECONNECT_GRACE_MS,
        );
      }
    });

    socket.on('pane:output', (rid, paneId, offset, data) => {
      if (rid !== runId || paneId !== TASK_PANE) return;
      stream.push(offset, data instanceof Uint8Array ? data : new Uint8Array(data));
      // output while still waiting for the first snapshot (a pane:open we missed): fetch one
      if (!stream.synced && joinAnswered) resync();
    });

    // the hub held our output back (we had stalled) and now resyncs us
    socket.on('pane:snapshot', (rid, snap) => {
      if (rid === runId && snap.paneId === TASK_PANE) stream.applySnapshot(snap);
    });

    socket.on('pane:open', (rid, pane) => {
      if (rid !== runId || pane.paneId !== TASK_PANE || stream.synced) return;
      if (pane.offset === 0) stream.applySnapshot({ offset: 0, cols: pane.cols, rows: pane.rows, data: '' });
      else resync();
    });

    socket.on('rw:changed', (state) => {
      if (state.runId === runId) setWrite(state.canWrite, state.until, state.reason ?? null);
    });

    socket.on('run:message', (msg) => {
      if (msg.runId === runId) status(`[message from ${msg.from ?? 'system'}] ${msg.message}`);
    });

    socket.on('run:control', (rid, lc) => {
      if (rid === runId) status(`[control] ${lc.paused ? 'paused' : 'resumed'}${lc.takeover ? ' (takeover)' : ''}`);
    });

    socket.on('notice', (rid, code, message) => {
      if (rid !== runId || code === 'read_only') return;
      status(message);
    });

    socket.on('run:status', (rid, run, session) => {
      if (rid !== runId) return;
      if (!stream.synced && joinAnswered && run.status === 'running' && session?.status === 'ready') resync();
    });

    socket.on('session:ended', (rid, st, reason) => {
      if (rid !== runId) return;
      const outcome = { kind: 'ended' as const, status: st, reason, sawOutput };
      finish(outcome, endedMessage(outcome));
    });

    // ---- keyboard and size ---------------------------------------------------------------------
    const onKeys = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const chord = bytes.indexOf(DETACH_BYTE);
      const input = chord >= 0 ? bytes.subarray(0, chord) : bytes;
      if (input.length > 0) {
        if (canWrite) socket.emit('pane:input', runId, TASK_PANE, Buffer.from(input));
        else if (!roHintShown) {
          roHintShown = true;
          status('read-only: keystrokes are not sent (attach with --rw to type; Ctrl-] detaches)');
        }
      }
      if (chord >= 0) finish({ kind: 'detached' }, 'detached');
    };
    const onResize = () => {
      if (!canWrite || done) return;
      const { columns, rows } = stdout;
      if (columns > 0 && rows > 0) socket.emit('pane:resize', runId, TASK_PANE, columns, rows);
    };
    const onSignal = (sig: NodeJS.Signals) => finish({ kind: 'failed', message: sig }, `handoff attach: ${sig}`);

    if (stdin.isTTY) {
      stdin.setRawMode(true);
      rawMode = true;
    }
    stdin.on('data', onKeys);
    stdin.resume();
    stdout.on('resize', onResize);
    for (const sig of SIGNALS) process.on(sig, onSignal);
  });
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

function pickTask(data: PaneSnapshot | PaneSnapshot[] | undefined): PaneSnapshot | undefined {
  if (!data) return undefined;
  const list = Array.isArray(data) ? data : [data];
  return list.find((p) => p && p.paneId === TASK_PANE);
}

function endedOutcome(run: TaskRunDto, session: LiveSessionDto, sawOutput: boolean): AttachOutcome & { kind: 'ended' } {
  const status = TERMINAL_SESSION.has(session.status) ? session.status : 'ended';
  return { kind: 'ended', status, reason: session.errorMessage ?? `run ${run.status}`, sawOutput };
}

export function endedMessage(o: { status: string; reason: string }): string {
  return `session ended (${o.status}): ${o.reason}`;
}
