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
  | { kind: 'snapshot'; id: number; request: number; scrollback: boolean }
  | { kind: 'dispose'; id: number };

export type MirrorReply = { kind: 'snapshot'; request: number; snapshot?: MirrorSnapshot; error?: string };

let worker: Worker | null = null;
let users = 0;
let nextId = 1;
let nextRequest = 1;
const pending = new Map<number, { resolve: (s: MirrorSnapshot) => void; reject: (e: Error) => void }>();

function acquire(): Worker {
  users++;
  if (worker) return worker;
  const w = new Worker(new URL('./mirrorWorker.mjs', import.meta.url));
  w.on('message', (msg: MirrorReply) => {
    const p = pending.get(msg.request);
    if (!p) return;
    pending.delete(msg.request);
    if (msg.snapshot) p.resolve(msg.snapshot);
    else p.reject(new Error(msg.error ?? 'snapshot failed'));
  });
  w.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
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

  constructor(cols: number, rows: number, scrollback = 10_000, startOffset = 0) {
    this.worker = acquire();
    this.post({ kind: 'create', id: this.id, cols, rows, scrollback, startOffset });
  }

  private post(msg: MirrorRequest): void {
    this.worker.postMessage(msg);
  }

  /** The bytes are copied to the worker: the caller's buffer stays usable (it is also being sent). */
  write(chunk: Uint8Array): void {
    if (!this.disposed && chunk.length) this.post({ kind: 'write', id: this.id, bytes: chunk });
  }

  resize(cols: number, rows: number): void {
    if (!this.disposed) this.post({ kind: 'resize', id: this.id, cols, rows });
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
    this.post({ kind: 'dispose', id: this.id });
    release();
  }
}
