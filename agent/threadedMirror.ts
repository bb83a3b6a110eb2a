/**
 * A pane's screen mirror kept in the agent's mirror worker thread (mirrorWorker.ts): the same
 * contract as TerminalMirror (write in stream order, consistent snapshots), with the parsing
 * off the agent's main thread. One worker serves every pane of the agent.
 */
import { Worker } from 'node:worker_threads';
import type { MirrorSnapshot } from './terminalMirror.ts';

export type MirrorRequest =
  | { kind: 'create'; id: number; cols: number; rows: number; scrollback: number; startOffset: number }
  | { kind: 'write'; id: number; bytes: Uint8Array }
  | { kind: 'resize'; id: number; cols: number; rows: number }
  | { kind: 'mark'; id: number; step: number }
  | { kind: 'snapshot'; id: number; request: number; scrollback: boolean }
  | { kind: 'dispose'; id: number };

export type MirrorReply = { kind: 'snapshot'; request: number; snapshot?: MirrorSnapshot; error?: string } | { kind: 'progress'; id: number; offset: number; skipped: number };

/**
 * Output posted to the worker but not parsed yet, past which the pane stops reading its pty
 * (the mirror fell behind a sustained burst: without a bound its queue would grow with the
 * output), and under which it reads again. Bursts below it never wait for the mirror.
 */
export const MIRROR_BEHIND_HIGH = 32 * 1024 * 1024;
export const MIRROR_BEHIND_LOW = 8 * 1024 * 1024;

let worker: Worker | null = null;
let users = 0;
let nextId = 1;
let nextRequest = 1;
const pending = new Map<number, { resolve: (s: MirrorSnapshot) => void; reject: (e: Error) => void }>();
const live = new Map<number, ThreadedMirror>();

function acquire(): Worker {
  users++;
  if (worker) return worker;
  const w = new Worker(new URL('./mirrorWorker.mjs', import.meta.url));
  w.on('message', (msg: MirrorReply) => {
    if (msg.kind === 'progress') return live.get(msg.id)?.parsedUpTo(msg.offset, msg.skipped);
    const p = pending.get(msg.request);
    if (!p) return;
    pending.delete(msg.request);
    if (msg.snapshot) p.resolve(msg.snapshot);
    else p.reject(new Error(msg.error ?? 'snapshot failed'));
  });
  w.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    // no progress will come from a dead worker: never leave a pane's pty held for it
    for (const m of live.values()) m.parsedUpTo(Number.MAX_SAFE_INTEGER);
    worker = null;
  });
  w.unref(); // an idle mirror never keeps the agent alive
  worker = w;
  return w;
}

function release(): void {
  if (--users > 0 || !worker) return;
  const w = worker;
  worker = null;
  void w.terminate();
}

export class ThreadedMirror {
  private readonly id = nextId++;
  private readonly worker: Worker;
  private disposed = false;
  /** Offset of the output posted to the worker, and of what it reported parsed. */
  private posted: number;
  private parsed: number;
  private behind = false;
  /** Of the output parsed, what the worker left out unparsed (overwritten before it was parsed), as last reported. */
  private skipped = 0;
  private behindFn: ((behind: boolean) => void) | null = null;

  constructor(cols: number, rows: number, scrollback = 10_000, startOffset = 0) {
    this.worker = acquire();
    this.posted = startOffset;
    this.parsed = startOffset;
    live.set(this.id, this);
    this.post({ kind: 'create', id: this.id, cols, rows, scrollback, startOffset });
  }

  /** Called with true when the mirror is more than MIRROR_BEHIND_HIGH behind the output, false once under MIRROR_BEHIND_LOW. */
  onBehind(fn: (behind: boolean) => void): void {
    this.behindFn = fn;
  }

  /** Bytes posted but not parsed yet (as last reported by the worker). */
  get backlog(): number {
    return this.posted - this.parsed;
  }

  /** Output the mirror left out instead of parsing it (TerminalMirror.skippedBytes), as last reported. */
  get skippedBytes(): number {
    return this.skipped;
  }

  parsedUpTo(offset: number, skipped = this.skipped): void {
    this.parsed = offset;
    this.skipped = skipped;
    this.checkBehind();
  }

  private checkBehind(): void {
    const b = this.backlog;
    const behind = this.behind ? b > MIRROR_BEHIND_LOW : b > MIRROR_BEHIND_HIGH;
    if (behind === this.behind) return;
    this.behind = behind;
    this.behindFn?.(behind);
  }

  private post(msg: MirrorRequest): void {
    this.worker.postMessage(msg);
  }

  /** The bytes are copied to the worker: the caller's buffer stays usable (it is also being sent). */
  write(chunk: Uint8Array): void {
    if (this.disposed || !chunk.length) return;
    this.post({ kind: 'write', id: this.id, bytes: chunk });
    this.posted += chunk.length;
    if (!this.behind && this.backlog > MIRROR_BEHIND_HIGH) this.checkBehind();
  }

  resize(cols: number, rows: number): void {
    if (!this.disposed) this.post({ kind: 'resize', id: this.id, cols, rows });
  }

  mark(step: number): void {
    if (!this.disposed) this.post({ kind: 'mark', id: this.id, step });
  }

  snapshot(opts: { scrollback?: boolean } = {}): Promise<MirrorSnapshot> {
    if (this.disposed) return Promise.reject(new Error('mirror disposed'));
    const request = nextRequest++;
    return new Promise((resolve, reject) => {
      pending.set(request, { resolve, reject });
      this.post({ kind: 'snapshot', id: this.id, request, scrollback: opts.scrollback ?? true });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    live.delete(this.id);
    if (this.behind) this.behindFn?.(false);
    this.post({ kind: 'dispose', id: this.id });
    release();
  }
}
