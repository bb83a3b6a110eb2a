/**
 * Agent-side mirror of a pane's screen (architecture §5, late join): every flushed output chunk is
 * also written into an @xterm/headless terminal, and snapshot() serializes screen + scrollback
 * (cellSerializer.ts) with the rest of the terminal's state around the cells (terminalState.ts,
 * stateSequences.ts), tagged with the exact byte offset it reflects.
 *
 * xterm parses writes asynchronously, in time slices. To make a snapshot consistent
 * (`data` reflects exactly bytes [0, offset)), operations go through a small queue: data is
 * handed to xterm at once unless a "barrier" (snapshot or resize) is waiting; a barrier waits
 * for the write callback of the last handed chunk, runs synchronously, and then the data that
 * queued up behind it is handed over. Resizes are barriers too, since xterm applies resize()
 * immediately while earlier writes may still be unparsed.
 *
 * A serialized screen cannot carry the parser's in-flight state (half a UTF-8 sequence, an
 * unfinished escape sequence): a late joiner fed `data` + the bytes after `offset` would then
 * print garbage. So a snapshot is only taken at a "ground" boundary, tracked by a small VT
 * state machine (BoundaryTracker): if the bytes handed so far end mid-sequence, the snapshot
 * first hands over queued bytes up to the next ground boundary (so its offset may lie a
 * little after the request), waiting for more output if needed (at most
 * GROUND_WAIT_MS, then it snapshots anyway).
 */
// @xterm/headless is CommonJS without an "exports" map: under Node ESM only the default export
// (module.exports) is reliable, so destructure it.
import { isAscii } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import xtermHeadless from '@xterm/headless';
import type { IMarker, Terminal as HeadlessTerminal } from '@xterm/headless';
import type { StepMark } from '../common/protocol.ts';
import { serializeCells } from './cellSerializer.ts';
import { withState } from './stateSequences.ts';
import { ModeTracker, readTerminalState } from './terminalState.ts';
import type { XtermInternals } from './xtermInternals.ts';
import { xtermInternals } from './xtermInternals.ts';

const { Terminal } = xtermHeadless;

export interface MirrorSnapshot {
  cols: number;
  rows: number;
  /** Total bytes of output reflected by `data` (bytes [0, offset)). */
  offset: number;
  /** Write into a fresh terminal of cols × rows to reproduce screen + scrollback. */
  data: string;
  /** False when scrollback was left out (asked for the screen only, and there is some). */
  complete: boolean;
  /** Where each step still in the buffer began. */
  marks: StepMark[];
}

/**
 * Bytes handed to xterm but not yet parsed, at most (its own discard limit is 50 MB). The rest
 * waits in our queue, where output that can no longer change the state can be left out.
 */
const MAX_UNPARSED_BYTES = 1024 * 1024;

/**
 * Queued output past which the mirror looks for bytes it may leave out instead of parsing them
 * (skipPlain, skipFrames): below it, every byte is parsed. Also the least output between two
 * such looks. Once the queue is handed over (a burst ended or waited long enough) or a snapshot
 * waits, the mirror looks from HANDING_SKIP_BYTES on: a burst of 1–4 MiB is cut to a screen and
 * scrollback's worth too instead of parsed whole, and a join never waits for a deferred queue to
 * be parsed in full.
 */
const SKIP_CHECK_BYTES = 4 * 1024 * 1024;
const HANDING_SKIP_BYTES = 1024 * 1024;

/**
 * Output waits in the queue until none came for IDLE_HAND_MS, or for MAX_DEFER_MS at most, before
 * xterm parses it (a snapshot, resize or mark hands it over at once): during a burst the queue
 * then reaches SKIP_CHECK_BYTES, where skipPlain can leave most of it out, instead of every byte
 * being parsed as it comes — the mirror was the agent's largest cost per MB. While this thread is
 * busy — its mirrors take in more than BUSY_INTAKE together, or its event loop is occupied more
 * than BUSY_UTILIZATION of the time (20 runs of 1 MB/s each, say: none of them alone reaches
 * SKIP_CHECK_BYTES within MAX_DEFER_MS) — each waits up to BUSY_MAX_DEFER_MS; a quieter thread
 * keeps the short wait, so a join parses little. The intake alone was not enough: a thread that
 * parses everything takes output in no faster than it parses, so on a loaded machine it stayed
 * under BUSY_INTAKE and never deferred enough to skip (bench/README.md).
 */
const IDLE_HAND_MS = 16;
const MAX_DEFER_MS = 500;
const BUSY_IDLE_HAND_MS = 250;
const BUSY_MAX_DEFER_MS = 5000;
const BUSY_INTAKE = 8 * 1024 * 1024;
const BUSY_UTILIZATION = 0.6;

/**
 * Output written to every mirror of this thread, in bytes per second, and the share of time its
 * event loop was busy (decaying averages, updated at most every 250 ms).
 */
const intake = { bytes: 0, since: Date.now(), rate: 0, utilization: 0, elu: performance.eventLoopUtilization() };
function noteIntake(n: number, now: number): void {
  intake.bytes += n;
  const elapsed = now - intake.since;
  if (elapsed < 250) return;
  const w = Math.min(1, elapsed / 1000); // an old burst counts for nothing a second later
  intake.rate = (1 - w) * intake.rate + (w * intake.bytes * 1000) / elapsed;
  const elu = performance.eventLoopUtilization();
  intake.utilization = (1 - w) * intake.utilization + w * performance.eventLoopUtilization(elu, intake.elu).utilization;
  intake.elu = elu;
  intake.bytes = 0;
  intake.since = now;
}

function threadBusy(): boolean {
  return intake.rate >= BUSY_INTAKE || intake.utilization >= BUSY_UTILIZATION;
}

/** How long a snapshot waits for the output to reach a ground boundary before giving up. */
const GROUND_WAIT_MS = 250;

type Op =
  | { kind: 'data'; bytes: Uint8Array }
  | { kind: 'resize'; cols: number; rows: number }
  | { kind: 'mark'; step: number }
  | { kind: 'snapshot'; scrollback: boolean; resolve: (s: MirrorSnapshot) => void; reject: (e: Error) => void };

export class TerminalMirror {
  private readonly term: HeadlessTerminal;
  private readonly internals: XtermInternals;
  private readonly modes: ModeTracker;
  private readonly queue: Op[] = [];
  /** A barrier is waiting for xterm to finish parsing everything handed so far. */
  private blocked = false;
  private handedWrites = 0;
  private parsedWrites = 0;
  private handedBytes: number;
  private parsedBytes = 0;
  private readonly startOffset: number;
  private disposed = false;
  private readonly tracker = new BoundaryTracker();
  /** Output bytes in the queue, all bytes ever queued, and when to look for skippable output next. */
  private queuedBytes = 0;
  private queuedTotal = 0;
  private lastSkipCheck = 0;
  private snapshotsQueued = 0;
  /** Output left out unparsed because later output overwrote all of its effect (skipPlain). */
  skippedBytes = 0;
  /** Last serialization with and without scrollback, by the offset it reflects. */
  private readonly cache = new Map<boolean, { offset: number; data: string }>();
  /** Set while a snapshot waits for more output to reach a ground boundary. */
  private groundTimer: NodeJS.Timeout | undefined;
  private groundWaitExpired = false;
  /** Where each step began, as xterm markers: they move with scrolling and go with trimmed lines. */
  private readonly marks: { step: number; marker: IMarker }[] = [];
  /** Queued output is to be handed to xterm now (the deferral ended, or an op behind it waits). */
  private release = false;
  private deferTimer: NodeJS.Timeout | undefined;
  private deferSince = 0;

  constructor(cols: number, rows: number, scrollback = 10000, startOffset = 0) {
    this.term = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
    this.internals = xtermInternals(this.term);
    this.modes = new ModeTracker(this.term);
    this.handedBytes = startOffset;
    this.startOffset = startOffset;
  }

  get cols(): number {
    return this.term.cols;
  }

  get rows(): number {
    return this.term.rows;
  }

  /** Offset up to which xterm has parsed the output. */
  get parsedOffset(): number {
    return this.startOffset + this.parsedBytes;
  }

  /** Bytes written so far (handed to xterm or queued). */
  get totalBytes(): number {
    let n = this.handedBytes;
    for (const op of this.queue) if (op.kind === 'data') n += op.bytes.length;
    return n;
  }

  /** Feed output bytes, in stream order. The buffer must not be mutated afterwards. */
  write(chunk: Uint8Array): void {
    if (this.disposed || chunk.length === 0) return;
    this.queue.push({ kind: 'data', bytes: chunk });
    const now = Date.now();
    noteIntake(chunk.length, now);
    this.queuedBytes += chunk.length;
    this.queuedTotal += chunk.length;
    if (this.groundTimer || this.release || (this.queuedBytes >= SKIP_CHECK_BYTES && !this.blocked)) this.drain(); // a snapshot waits for these bytes, or some may be left out
    else this.defer(now);
  }

  private defer(now: number): void {
    if (this.deferTimer) clearTimeout(this.deferTimer);
    else this.deferSince = now;
    const busy = threadBusy();
    const wait = Math.min(busy ? BUSY_IDLE_HAND_MS : IDLE_HAND_MS, (busy ? BUSY_MAX_DEFER_MS : MAX_DEFER_MS) - (now - this.deferSince));
    if (wait <= 0) this.handQueued();
    else this.deferTimer = setTimeout(() => this.handQueued(), wait);
  }

  private handQueued(): void {
    if (this.deferTimer) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    this.release = true;
    this.drain();
  }

  /** Resize, ordered with the output written before and after it. */
  resize(cols: number, rows: number): void {
    if (this.disposed) return;
    this.queue.push({ kind: 'resize', cols, rows });
    this.handQueued();
  }

  /** Step `step` begins here, between the output written before and after this call. */
  mark(step: number): void {
    if (this.disposed) return;
    this.queue.push({ kind: 'mark', step });
    this.handQueued();
  }

  /**
   * A consistent serialized state: `data` reflects exactly bytes [0, offset), where offset is
   * the output written before this call, moved on to the next parser ground boundary if that
   * output ends mid-sequence.
   */
  snapshot(opts: { scrollback?: boolean } = {}): Promise<MirrorSnapshot> {
    if (this.disposed) return Promise.reject(new Error('TerminalMirror disposed'));
    const scrollback = opts.scrollback ?? true;
    return new Promise<MirrorSnapshot>((resolve, reject) => {
      this.queue.push({ kind: 'snapshot', scrollback, resolve, reject });
      this.snapshotsQueued++;
      this.handQueued();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.groundTimer) clearTimeout(this.groundTimer);
    if (this.deferTimer) clearTimeout(this.deferTimer);
    for (const op of this.queue.splice(0)) {
      if (op.kind === 'snapshot') op.reject(new Error('TerminalMirror disposed'));
    }
    this.term.dispose();
  }

  private hand(bytes: Uint8Array, tracked = false): void {
    if (!tracked) this.tracker.feed(bytes);
    this.handedWrites++;
    this.handedBytes += bytes.length;
    this.term.write(bytes, () => {
      this.parsedWrites++;
      this.parsedBytes += bytes.length;
      if (this.blocked && this.parsedWrites === this.handedWrites) {
        this.blocked = false;
        this.drain();
      } else if (!this.blocked && this.queue.length > 0 && !this.tooFarAhead()) this.drain();
    });
  }

  /**
   * Flow control towards xterm: it discards input beyond 50 MB unparsed, and a parser running
   * at low priority can fall that far behind during a burst; the rest waits in our queue.
   */
  private tooFarAhead(): boolean {
    return this.handedBytes - this.parsedBytes - this.startOffset > MAX_UNPARSED_BYTES;
  }

  private drain(): void {
    while (!this.blocked && !this.disposed) {
      const op = this.queue[0];
      if (!op) {
        this.release = false;
        return;
      }
      if (op.kind === 'data') {
        if (!this.release && this.queuedBytes < SKIP_CHECK_BYTES) return; // deferred: defer() ends it
        const look = this.snapshotsQueued > 0 || this.release ? HANDING_SKIP_BYTES : SKIP_CHECK_BYTES;
        if (this.queuedBytes >= look && this.queuedTotal - this.lastSkipCheck >= look) {
          // a sequence cut between two writes: parse its rest first, skipPlain starts at ground
          if (!this.tracker.atGround) {
            if (this.tooFarAhead()) return; // resumed by a write callback
            this.handToGround(0);
            continue;
          }
          // what can be left out depends on the state after everything handed: let xterm finish it
          if (this.parsedWrites !== this.handedWrites) {
            this.blocked = true; // resumed by the write callback of the last handed chunk
            return;
          }
          this.lastSkipCheck = this.queuedTotal;
          if (this.skipPlain() === 0) this.skipFrames();
          // What is left (the last screen and scrollback's worth) keeps waiting, so the next look
          // can leave it out too and a burst is parsed once it ends, not at every look; unless
          // much is left, which is output that cannot be left out, or a snapshot waits for it.
          if (this.queuedBytes > look / 2) this.release = true;
          continue;
        }
        if (this.tooFarAhead()) return; // resumed by a write callback
        this.queue.shift();
        this.queuedBytes -= op.bytes.length;
        this.hand(op.bytes);
        continue;
      }
      if (op.kind === 'snapshot' && !this.reachGround()) return; // waiting for more output
      if (this.parsedWrites !== this.handedWrites) {
        this.blocked = true; // resumed by the write callback of the last handed chunk
        return;
      }
      this.queue.shift();
      this.groundWaitExpired = false;
      if (op.kind === 'resize') {
        this.term.resize(op.cols, op.rows);
        this.cache.clear();
      } else if (op.kind === 'mark') {
        this.addMark(op.step);
      } else {
        this.snapshotsQueued--;
        try {
          // Serializing 10,000 lines is the costly part of a join: an unchanged screen (same
          // offset, no resize since) is served from the last serialization.
          // With no scrollback yet, the screen is the whole state.
          const full = op.scrollback || this.term.buffer.normal.length <= this.term.rows;
          const cached = this.cache.get(full);
          let data: string;
          if (cached && cached.offset === this.handedBytes) data = cached.data;
          else {
            // without scrollback: the visible screen only, a small fraction of the work and bytes
            data = this.serialize(full);
            this.cache.set(full, { offset: this.handedBytes, data });
          }
          op.resolve({ cols: this.term.cols, rows: this.term.rows, offset: this.handedBytes, data, complete: full, marks: this.stepMarks(full) });
        } catch (err) {
          op.reject(err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  private addMark(step: number): void {
    // a step that begins again (the steps restart) replaces its mark and those after it
    for (let i = this.marks.length - 1; i >= 0; i--) {
      const m = this.marks[i] as { step: number; marker: IMarker };
      if (m.step >= step) {
        m.marker.dispose();
        this.marks.splice(i, 1);
      }
    }
    // on the normal screen only: a full-screen program's screen has no lines to mark
    if (this.term.buffer.active.type !== 'normal') return;
    const marker = this.term.registerMarker(0);
    if (marker) this.marks.push({ step, marker });
  }

  /** The marks as lines from the cursor's line; only those on the screen without scrollback. */
  private stepMarks(scrollback: boolean): StepMark[] {
    const b = this.term.buffer.normal;
    const cursorLine = b.baseY + b.cursorY;
    const out: StepMark[] = [];
    for (const { step, marker } of this.marks) {
      if (marker.isDisposed || marker.line < 0) continue;
      if (!scrollback && marker.line < b.baseY) continue;
      out.push({ step, line: marker.line - cursorLine });
    }
    return out;
  }

  /**
   * Leaves out queued output whose whole effect later output overwrites, so a mirror that fell
   * behind a burst catches up without parsing it (it is what decides the agent's CPU per MB).
   * Called at ground with everything handed parsed. Safe for a run of "plain" bytes — printable text, CR,
   * LF, TAB and SGR sequences (`CSI digits ; : m`; no other escape, no other control, no C1):
   * they change only cells, the cursor and the current attributes, never a mode, a character
   * set, a tab stop or the scroll region. With the scroll region the whole screen, `rows` line
   * feeds bring the cursor to the bottom row from anywhere, the next CR LF puts it in column 0,
   * and `rows + scrollback` more scroll every line that was there before out of the buffer:
   * after that the cells are the same whether the bytes before them were parsed or not. So
   * everything in the run before its last `2 × rows + scrollback + 2` line feeds is dropped
   * (offsets move on as if it was parsed), except the SGR sequences from the last one that
   * begins with a reset (SGR 0 sets every attribute it can), which are parsed in its place so the
   * attributes the rest is drawn with are the same.
   */
  private skipPlain(): number {
    const b = this.internals.buffers().active;
    if (b.scrollTop !== 0 || b.scrollBottom !== this.term.rows - 1) return 0;
    const keep = 2 * this.term.rows + (this.term.options.scrollback ?? 0) + 2;
    // positions (from the queue's head) just after each of the last keep + 1 line feeds, and where
    // the last SGR that begins with a reset started before each (-1: none since the head)
    const ring = new Float64Array(keep + 1);
    const resetBefore = new Float64Array(keep + 1);
    let lfs = 0;
    let base = 0;
    let prevC2 = false;
    let state: 0 | 1 | 2 = 0; // plain, after ESC, in CSI parameters
    let seqStart = 0;
    let firstZero = true;
    let firstDone = false;
    let lastReset = -1;
    scan: for (const bytes of this.queuedOutput()) {
      const len = bytes.length;
      for (let i = 0; i < len; i++) {
        let c = bytes[i] as number;
        if (state === 0) {
          if (c >= 0x20 && c < 0x7f) {
            // printable ASCII, most of plain output: on to the next other byte in one tight loop
            prevC2 = false;
            do i++;
            while (i < len && (c = bytes[i] as number) >= 0x20 && c < 0x7f);
            if (i >= len) break;
          }
          if (c >= 0x20) {
            if (c === 0x7f || (prevC2 && c <= 0x9f)) break scan; // DEL, or a C1 control (U+0080–U+009F)
            prevC2 = c === 0xc2;
            continue;
          }
          prevC2 = false;
          if (c === 0x0a) {
            const at = lfs++ % (keep + 1);
            ring[at] = base + i + 1;
            resetBefore[at] = lastReset;
          } else if (c === 0x1b) {
            state = 1;
            seqStart = base + i;
          } else if (c !== 0x0d && c !== 0x09) break scan;
        } else if (state === 1) {
          if (c !== 0x5b) break scan;
          state = 2;
          firstZero = true;
          firstDone = false;
        } else if (c >= 0x30 && c <= 0x39) {
          if (!firstDone && c !== 0x30) firstZero = false;
        } else if (c === 0x3b) firstDone = true;
        else if (c === 0x3a) {
          if (!firstDone) firstZero = false;
          firstDone = true;
        } else if (c === 0x6d) {
          if (firstZero) lastReset = seqStart;
          state = 0;
        } else break scan; // another kind of CSI, or a control inside one
      }
      base += bytes.length;
    }
    if (lfs <= keep) return 0;
    const at = (lfs - keep - 1) % (keep + 1);
    return this.dropHead(ring[at] as number, resetBefore[at] as number);
  }

  /**
   * Leaves out queued full-screen redraws that a later one overwrites (a program like `top`
   * drawing with cursor addressing, which skipPlain cannot leave out: no line feeds). Called as
   * skipPlain. Safe for a run of printable ASCII, CR, SGR, cursor positioning (`CSI row ; col H`
   * or `f`) and erase to the end of the line (`CSI K`, `CSI 0 K`), with no screen line marked as
   * wrapped and no character printed while a wrap is pending: such a run changes only cells of the
   * screen, the cursor and the attributes, never the scrollback (nothing scrolls), a mode or a
   * line's wrap mark. A row is covered where the cursor goes to its first column, text follows and
   * the line is erased from the cursor on, with no other positioning in between: every cell of the
   * row is then set by those bytes alone (origin mode moves the rows into the scroll region, rows
   * outside it are written by neither; insert mode shifts only cells the erase clears). Everything
   * in the run before the position from which every row of the screen was covered is dropped (the
   * cursor is set there by the positioning it starts with), except the SGR sequences from the last
   * that begins with a reset, as in skipPlain.
   */
  private skipFrames(): number {
    const t = this.term;
    const rows = t.rows;
    const cols = t.cols;
    const b = t.buffer.active;
    for (let r = 0; r < rows; r++) if (b.getLine(b.baseY + r)?.isWrapped) return 0;
    let x = b.cursorX; // cols: a wrap is pending
    let y = b.cursorY;
    /** Where the latest coverage of each row began (-1: none yet), and where the one in progress did. */
    const covered = new Float64Array(rows).fill(-1);
    let covering = -1;
    let coverStart = 0;
    let coverReset = -1;
    let base = 0;
    let state: 0 | 1 | 2 = 0; // plain, after ESC, in CSI parameters
    let seqStart = 0;
    let p1 = 0;
    let p2 = 0;
    let nth = 0; // which parameter is being read
    let other = false; // a sub-parameter or a third parameter: only SGR may have them
    let firstZero = true;
    let lastReset = -1;
    /** The last reset-starting SGR before each row's latest coverage began. */
    const resetAt = new Float64Array(rows);
    scan: for (const bytes of this.queuedOutput()) {
      for (let i = 0; i < bytes.length; i++) {
        const c = bytes[i] as number;
        if (state === 0) {
          if (c >= 0x20 && c < 0x7f) {
            if (x >= cols) break scan; // would wrap (and scroll, on the last row)
            x++;
          } else if (c === 0x1b) {
            state = 1;
            seqStart = base + i;
          } else if (c === 0x0d) x = 0; // also ends a pending wrap; the columns it passes stay set
          else break scan;
        } else if (state === 1) {
          if (c !== 0x5b) break scan;
          state = 2;
          p1 = p2 = nth = 0;
          other = false;
          firstZero = true;
        } else if (c >= 0x30 && c <= 0x39) {
          if (nth === 0) {
            p1 = p1 * 10 + (c - 0x30);
            if (c !== 0x30) firstZero = false;
          } else if (nth === 1) p2 = p2 * 10 + (c - 0x30);
        } else if (c === 0x3b) {
          if (++nth > 1) other = true;
        } else if (c === 0x3a) {
          if (nth === 0) firstZero = false;
          other = true;
          nth = 2;
        } else if (c === 0x6d) {
          if (firstZero) lastReset = seqStart;
          state = 0;
        } else if ((c === 0x48 || c === 0x66) && !other) {
          y = Math.min(rows, Math.max(1, p1)) - 1;
          x = Math.min(cols, Math.max(1, p2)) - 1;
          covering = x === 0 ? y : -1;
          coverStart = seqStart;
          coverReset = lastReset;
          state = 0;
        } else if (c === 0x4b && nth === 0 && p1 === 0) {
          if (covering === y) {
            covered[y] = coverStart;
            resetAt[y] = coverReset;
          }
          covering = -1;
          state = 0;
        } else break scan; // another kind of CSI, or a control inside one
      }
      base += bytes.length;
    }
    let cut = Infinity;
    let row = 0;
    for (let r = 0; r < rows; r++) {
      const at = covered[r] as number;
      if (at < 0) return 0;
      if (at < cut) {
        cut = at;
        row = r;
      }
    }
    return cut > 0 ? this.dropHead(cut, resetAt[row] as number) : 0;
  }

  /**
   * Drops the queue's first `cut` bytes as if parsed, keeping the SGR sequences in them from
   * `lastReset` on (-1: from the head) in their place; returns the bytes left out.
   */
  private dropHead(cut: number, lastReset: number): number {
    const kept = this.sgrBetween(Math.max(0, lastReset), cut);
    let left = cut;
    while (left > 0) {
      const op = this.queue[0] as Extract<Op, { kind: 'data' }>;
      if (op.bytes.length <= left) {
        this.queue.shift();
        left -= op.bytes.length;
      } else {
        op.bytes = op.bytes.subarray(left);
        left = 0;
      }
    }
    if (kept.length > 0) this.queue.unshift({ kind: 'data', bytes: kept });
    const dropped = cut - kept.length;
    this.queuedBytes -= dropped;
    this.handedBytes += dropped;
    this.parsedBytes += dropped;
    this.skippedBytes += dropped;
    return dropped;
  }

  /** The output at the queue's head, up to its first other operation: what a skip may look at. */
  private *queuedOutput(): Generator<Uint8Array> {
    for (const op of this.queue) {
      if (op.kind !== 'data') return;
      yield op.bytes;
    }
  }

  /** The SGR sequences in queued output [from, to), which a skip found safe (CSI sequences only). */
  private sgrBetween(from: number, to: number): Uint8Array {
    const out: number[] = [];
    let seq: number[] | null = null;
    let base = 0;
    for (const bytes of this.queuedOutput()) {
      if (base >= to) break;
      const end = Math.min(bytes.length, to - base);
      for (let i = Math.max(0, from - base); i < end; i++) {
        if (!seq) {
          // outside a sequence only ESC matters: jump to the next (plain text is most of a skip)
          const esc = bytes.indexOf(0x1b, i);
          if (esc < 0 || esc >= end) break;
          i = esc;
        }
        const c = bytes[i] as number;
        if (c === 0x1b) seq = [];
        if (!seq) continue;
        seq.push(c);
        if (seq.length > 2 && c >= 0x40 && c <= 0x7e) {
          if (c === 0x6d) out.push(...seq);
          seq = null;
        }
      }
      base += bytes.length;
    }
    return Uint8Array.from(out);
  }

  /**
   * The cells (cellSerializer.ts), and around them every other piece of the terminal's state
   * (stateSequences.ts): with them, later output does in the viewer what it does here.
   */
  private serialize(scrollback: boolean): string {
    const t = this.term;
    const normal = serializeCells(t.buffer.normal, t.cols, t.rows, scrollback ? undefined : 0);
    const alternate = t.buffer.active.type === 'alternate' ? serializeCells(t.buffer.alternate, t.cols, t.rows) : null;
    return withState({ normal, alternate }, readTerminalState(t, this.internals, this.modes));
  }

  /**
   * For the snapshot at the queue's head: hand over the queued output up to the next parser
   * ground boundary. Returns false when it has to wait for more output.
   */
  private reachGround(): boolean {
    while (!this.tracker.atGround && !this.groundWaitExpired) {
      const next = this.queue[1];
      if (!next) {
        this.groundTimer ??= setTimeout(() => {
          this.groundTimer = undefined;
          this.groundWaitExpired = true;
          this.drain();
        }, GROUND_WAIT_MS);
        return false;
      }
      if (next.kind !== 'data') break; // never move output across a resize/snapshot
      this.handToGround(1);
    }
    if (this.groundTimer) clearTimeout(this.groundTimer);
    this.groundTimer = undefined;
    return true;
  }

  /** Hands the queued output at `at` (a data op) up to the next ground boundary, or all of it. */
  private handToGround(at: number): void {
    const op = this.queue[at] as Extract<Op, { kind: 'data' }>;
    const cut = this.tracker.feedUntilGround(op.bytes);
    if (cut >= op.bytes.length) {
      this.queue.splice(at, 1);
      this.queuedBytes -= op.bytes.length;
      this.hand(op.bytes, true);
    } else {
      const head = op.bytes.subarray(0, cut);
      op.bytes = op.bytes.subarray(cut);
      this.queuedBytes -= cut;
      this.hand(head, true);
    }
  }
}

const VtState = {
  Ground: 0,
  Escape: 1,
  EscapeIntermediate: 2,
  Csi: 3,
  /** OSC: ends with BEL or ST */
  Osc: 4,
  /** DCS, SOS, PM, APC: end with ST */
  String: 5,
} as const;
type VtState = (typeof VtState)[keyof typeof VtState];

/**
 * Tracks, byte by byte, whether the output so far ends at a point where a terminal's parser
 * is idle: no partial UTF-8 sequence, no unfinished escape/control sequence or string. A
 * simplified version of the DEC/xterm parser state machine (what matters is only where
 * sequences end, not what they mean); C1 controls are recognised as UTF-8 code points, as
 * xterm.js decodes UTF-8 before parsing.
 */
export class BoundaryTracker {
  private state: VtState = VtState.Ground;
  private utf8Need = 0;
  private utf8Lead = 0;

  get atGround(): boolean {
    return this.state === VtState.Ground && this.utf8Need === 0;
  }

  feed(bytes: Uint8Array): void {
    if (!isAscii(bytes)) {
      for (let i = 0; i < bytes.length; i++) this.feedByte(bytes[i] as number);
      return;
    }
    // Fast path for ASCII (the bulk of terminal output), with native scans instead of a JS loop
    // per byte: ESC, CAN and SUB set the state whatever it was, and in ASCII nothing else leaves
    // ground; so only the bytes from the last of them on matter, and only until ground.
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // memrchr, not a JS loop
    const k = Math.max(buf.lastIndexOf(0x1b), buf.lastIndexOf(0x18), buf.lastIndexOf(0x1a));
    let i = 0;
    if (k >= 0) {
      this.utf8Need = 0; // an ASCII byte before or at k ended any pending sequence
      i = k;
    } else if (this.atGround) return;
    for (; i < bytes.length; i++) {
      this.feedByte(bytes[i] as number);
      if (this.atGround && i >= k) return;
    }
  }

  /** Feeds bytes until ground is reached; returns how many were consumed (bytes.length if
   * ground was never reached, or was reached only at the very end). */
  feedUntilGround(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      this.feedByte(bytes[i] as number);
      if (this.atGround) return i + 1;
    }
    return bytes.length;
  }

  private feedByte(b: number): void {
    if (this.utf8Need > 0) {
      if ((b & 0xc0) === 0x80) {
        this.utf8Need--;
        // the only multi-byte code points that matter to the parser: C1 controls U+0080–U+009F
        if (this.utf8Need === 0) this.codePoint(this.utf8Lead === 0xc2 && b <= 0x9f ? b : 0x100);
        return;
      }
      this.utf8Need = 0; // invalid sequence: the decoder drops it and restarts at this byte
    }
    if (b < 0x80) this.codePoint(b);
    else if (b >= 0xc2 && b <= 0xdf) this.startUtf8(b, 1);
    else if (b >= 0xe0 && b <= 0xef) this.startUtf8(b, 2);
    else if (b >= 0xf0 && b <= 0xf4) this.startUtf8(b, 3);
    // stray continuation / invalid lead bytes are dropped by the decoder
  }

  private startUtf8(lead: number, need: number): void {
    this.utf8Lead = lead;
    this.utf8Need = need;
  }

  private codePoint(c: number): void {
    // anywhere: CAN / SUB abort a sequence, ESC starts one (and terminates strings: ESC \ = ST)
    if (c === 0x18 || c === 0x1a) {
      this.state = VtState.Ground;
      return;
    }
    if (c === 0x1b) {
      this.state = VtState.Escape;
      return;
    }
    switch (this.state) {
      case VtState.Ground:
      case VtState.Csi:
      case VtState.Osc:
      case VtState.String:
        if (c >= 0x80 && c <= 0x9f) {
          // C1: CSI, OSC, DCS / SOS / PM / APC start sequences; ST ends strings
          if (c === 0x9b) this.state = VtState.Csi;
          else if (c === 0x9d) this.state = VtState.Osc;
          else if (c === 0x90 || c === 0x98 || c === 0x9e || c === 0x9f) this.state = VtState.String;
          else this.state = VtState.Ground;
          return;
        }
        if (this.state === VtState.Csi && c >= 0x40 && c <= 0x7e) this.state = VtState.Ground;
        else if (this.state === VtState.Osc && c === 0x07) this.state = VtState.Ground;
        return;
      case VtState.Escape:
        if (c === 0x5b) this.state = VtState.Csi;
        else if (c === 0x5d) this.state = VtState.Osc;
        else if (c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) this.state = VtState.String;
        else if (c >= 0x20 && c <= 0x2f) this.state = VtState.EscapeIntermediate;
        else if (c >= 0x30 && c <= 0x7e) this.state = VtState.Ground; // includes ESC \ (ST)
        return; // C0 controls are executed without leaving the sequence
      case VtState.EscapeIntermediate:
        if (c >= 0x30 && c <= 0x7e) this.state = VtState.Ground;
        return;
    }
  }
}
