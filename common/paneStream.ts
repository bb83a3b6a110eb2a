/**
 * Viewer-side assembler of a pane's output (architecture §5: lossless output, late join): turns a
 * snapshot plus offset-tagged chunks into a gap-free, duplicate-free byte stream for a
 * terminal. Runs in the browser too: no Node-only imports, Uint8Array (never Buffer).
 *
 * States:
 * - waiting (before the first snapshot, or after a gap): chunks are buffered, bounded;
 * - synced: `expectedOffset` is the offset of the next byte the terminal needs. A chunk at it
 *   is written; one entirely below it is a duplicate (dropped); one straddling it is written
 *   from `expectedOffset` on; one beyond it is a gap → onGap() once, and back to waiting
 *   until the next applySnapshot().
 */

export interface PaneStreamSnapshot {
  offset: number;
  cols: number;
  rows: number;
  data: string | Uint8Array;
  /** Steps begun before `offset`, as lines from the cursor once `data` is written. */
  marks?: { step: number; line: number }[];
}

export interface PaneStreamOptions {
  /** Receives the snapshot data and then the live bytes, in order, exactly once each. */
  write: (data: string | Uint8Array) => void;
  /** A gap was detected (or the wait buffer overflowed): request a fresh snapshot. Called
   * at most once per waiting period. */
  onGap: () => void;
  /** Called before a snapshot is written: reset the terminal and size it to cols × rows. */
  onReset?: (cols: number, rows: number) => void;
  /** Bound of the bytes buffered while waiting for a snapshot (default 8 MiB); the oldest
   * chunks are dropped beyond it. */
  maxBufferedBytes?: number;
  /** Bound of the recently written bytes kept to replay after a snapshot older than them (default 2 MiB). */
  maxRecentBytes?: number;
  /**
   * Step `step` began `line` lines from the cursor (0: the cursor's line), in order with the
   * writes: after the bytes before it and before those after it.
   */
  mark?: (step: number, line: number) => void;
}

interface LiveMark {
  offset: number;
  step: number;
  done: boolean;
}

/** Live step marks kept (for a snapshot older than them); steps are few. */
const MAX_MARKS = 256;

interface Pending {
  offset: number;
  bytes: Uint8Array;
}

const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;
const DEFAULT_MAX_RECENT = 2 * 1024 * 1024;

export class PaneStream {
  private readonly opts: PaneStreamOptions;
  private readonly maxBuffered: number;
  /** null while waiting for a snapshot. */
  private expected: number | null = null;
  private buffered: Pending[] = [];
  private bufferedBytes = 0;
  private gapSignalled = false;
  private recent: Pending[] = [];
  private recentBytes = 0;
  private readonly maxRecent: number;
  private marks: LiveMark[] = [];
  /** Offset of the snapshot the terminal was last built from: marks before it are in it. */
  private base = 0;

  constructor(opts: PaneStreamOptions) {
    this.opts = opts;
    this.maxBuffered = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.maxRecent = opts.maxRecentBytes ?? DEFAULT_MAX_RECENT;
  }

  /** Offset of the next byte the terminal needs; null while waiting for a snapshot. */
  get expectedOffset(): number | null {
    return this.expected;
  }

  get synced(): boolean {
    return this.expected !== null;
  }

  get bufferedByteCount(): number {
    return this.bufferedBytes;
  }

  applySnapshot(snap: PaneStreamSnapshot): void {
    this.opts.onReset?.(snap.cols, snap.rows);
    this.opts.write(snap.data);
    for (const m of snap.marks ?? []) this.opts.mark?.(m.step, m.line);
    this.expected = snap.offset;
    this.base = snap.offset;
    for (const m of this.marks) m.done = false;
    this.gapSignalled = false;
    // Replay what arrived while waiting, and the recent tail already written that lies past
    // this snapshot (a snapshot can arrive after live chunks newer than it), in offset order.
    const replay = [...this.recent, ...this.buffered].sort((a, b) => a.offset - b.offset);
    this.recent = [];
    this.recentBytes = 0;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (let i = 0; i < replay.length; i++) {
      const p = replay[i] as Pending;
      if (this.expected === null) {
        // a gap occurred during replay: keep the rest for the next snapshot
        this.buffer(p);
        continue;
      }
      this.accept(p.offset, p.bytes);
    }
    this.flushMarks();
  }

  /** Step `step` began at byte `offset` of the output (a live `pane:mark`). */
  pushMark(offset: number, step: number): void {
    const m = { offset, step, done: false };
    let i = this.marks.length;
    while (i > 0 && (this.marks[i - 1] as LiveMark).offset > offset) i--;
    this.marks.splice(i, 0, m);
    if (this.marks.length > MAX_MARKS) this.marks.shift();
    this.flushMarks();
  }

  push(offset: number, data: Uint8Array | ArrayBuffer): void {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    if (bytes.length === 0) return;
    if (this.expected === null) this.buffer({ offset, bytes });
    else this.accept(offset, bytes);
  }

  /** Forget everything and wait for a new snapshot (e.g. after a reconnect). */
  reset(): void {
    this.expected = null;
    this.recent = [];
    this.recentBytes = 0;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.gapSignalled = false;
    this.marks = [];
  }

  private accept(offset: number, bytes: Uint8Array): void {
    const expected = this.expected as number;
    const end = offset + bytes.length;
    if (end <= expected) return; // duplicate
    if (offset > expected) {
      // gap: some bytes never arrived; resync from a snapshot
      this.expected = null;
      this.signalGap();
      this.buffer({ offset, bytes });
      return;
    }
    const fresh = offset === expected ? bytes : bytes.subarray(expected - offset);
    this.opts.write(fresh);
    this.remember({ offset: expected, bytes: fresh });
    this.expected = end;
    if (this.marks.length) this.flushMarks();
  }

  /** Emits the marks the written bytes have reached; those before the snapshot are in it. */
  private flushMarks(): void {
    const expected = this.expected;
    if (expected === null) return;
    for (const m of this.marks) {
      if (m.offset > expected) break;
      if (m.done) continue;
      m.done = true;
      if (m.offset >= this.base) this.opts.mark?.(m.step, 0);
    }
  }

  /** Keeps the last bytes written (bounded), for a snapshot that turns out older than them. */
  private remember(p: Pending): void {
    this.recent.push(p);
    this.recentBytes += p.bytes.length;
    while (this.recentBytes > this.maxRecent && this.recent.length > 1) this.recentBytes -= (this.recent.shift() as Pending).bytes.length;
  }

  private buffer(p: Pending): void {
    this.buffered.push(p);
    this.bufferedBytes += p.bytes.length;
    if (this.bufferedBytes > this.maxBuffered) {
      // drop the oldest: a later snapshot most likely covers them anyway
      while (this.bufferedBytes > this.maxBuffered && this.buffered.length > 0) {
        const dropped = this.buffered.shift() as Pending;
        this.bufferedBytes -= dropped.bytes.length;
      }
      this.signalGap();
    }
  }

  private signalGap(): void {
    if (this.gapSignalled) return;
    this.gapSignalled = true;
    this.opts.onGap();
  }
}
