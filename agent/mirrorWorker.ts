/**
 * The worker thread that keeps every pane's screen mirror. Parsing terminal output is the
 * agent's heaviest work; here it never delays reading the pty or sending to the hub.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { TerminalMirror } from './terminalMirror.ts';
import type { MirrorReply, MirrorRequest } from './threadedMirror.ts';

const PROGRESS_MS = 50;

// Lower this thread's priority: when the CPU is short, reading the pty and relaying to the hub
// go first, and the mirror catches up afterwards (Linux: a thread id is a schedulable task).
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid)) setPriority(tid, 10);
} catch {
  // not Linux, or not allowed: run at normal priority
}

const mirrors = new Map<number, TerminalMirror>();
const port = parentPort;
if (!port) throw new Error('mirrorWorker must run in a worker thread');

// Parsing progress back to the agent's main thread, which bounds how far a mirror may fall
// behind the pty (ThreadedMirror): a few messages a second, only for mirrors that moved.
const reported = new Map<number, number>();
setInterval(() => {
  for (const [id, mirror] of mirrors) {
    const offset = mirror.parsedOffset;
    if (reported.get(id) === offset) continue;
    reported.set(id, offset);
    port.postMessage({ kind: 'progress', id, offset, skipped: mirror.skippedBytes } satisfies MirrorReply);
  }
}, PROGRESS_MS).unref();

port.on('message', (msg: MirrorRequest) => {
  switch (msg.kind) {
    case 'create':
      mirrors.set(msg.id, new TerminalMirror(msg.cols, msg.rows, msg.scrollback, msg.startOffset));
      break;
    case 'write':
      mirrors.get(msg.id)?.write(msg.bytes);
      break;
    case 'resize':
      mirrors.get(msg.id)?.resize(msg.cols, msg.rows);
      break;
    case 'mark':
      mirrors.get(msg.id)?.mark(msg.step);
      break;
    case 'snapshot': {
      const mirror = mirrors.get(msg.id);
      if (!mirror) {
        port.postMessage({ kind: 'snapshot', request: msg.request, error: 'mirror disposed' } satisfies MirrorReply);
        break;
      }
      mirror.snapshot({ scrollback: msg.scrollback }).then(
        (snapshot) => port.postMessage({ kind: 'snapshot', request: msg.request, snapshot } satisfies MirrorReply),
        (err: Error) => port.postMessage({ kind: 'snapshot', request: msg.request, error: err.message } satisfies MirrorReply),
      );
      break;
    }
    case 'dispose':
      mirrors.get(msg.id)?.dispose();
      mirrors.delete(msg.id);
      reported.delete(msg.id);
      break;
  }
});
