/**
 * The hub's half of a run's recording: the task pane's output as it flows through the relay,
 * kept as asciicast v2 event lines in the database (architecture §3). The hot path only appends a
 * reference to the chunk; lines are formatted and written in batches (every second, or sooner
 * past a size), and a run's batch is written before its completion or hand-back is answered and
 * when its agent goes away, so the recording holds every byte this hub relayed.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import { TASK_PANE } from '../../common/protocol.ts';
import type { RecordingStore } from './recordingStore.ts';

const FLUSH_INTERVAL_MS = 1000;
/** A batch past this many output bytes is written at once rather than at the next tick. */
const FLUSH_BYTES = 256 * 1024;
/** Output closer together than this (and contiguous) becomes one `o` event. */
const MERGE_WINDOW_MS = 8;
/** Batches a database outage holds back, per run, before the oldest is given up (and logged). */
const MAX_RETAINED_BATCHES = 256;

type Entry =
  | { kind: 'o'; at: number; offset: number; end: number; chunks: Uint8Array[] }
  | { kind: 'r'; at: number; size: string }
  | { kind: 'm'; at: number; label: string };

interface Batch {
  events: string;
  outputBytes: number;
}

class RunTape {
  entries: Entry[] = [];
  pendingBytes = 0;
  /** The pane offset recorded so far: re-sent output (a reconnect replaying its backlog) is skipped. */
  upTo = 0;
  lastT = 0;
  t0: number | null = null;
  readonly decoder = new StringDecoder('utf8');
  unwritten: Batch[] = [];
  writing: Promise<void> = Promise.resolve();
}

export class LiveRecorder {
  private readonly tapes = new Map<string, RunTape>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: RecordingStore,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => {
      for (const [runId, tape] of this.tapes) if (tape.entries.length || tape.unwritten.length) void this.write(runId);
    }, FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  private tape(runId: string): RunTape {
    let t = this.tapes.get(runId);
    if (!t) this.tapes.set(runId, (t = new RunTape()));
    return t;
  }

  /** Hot path: one comparison and an array push per chunk. */
  output(runId: string, paneId: string, offset: number, data: Uint8Array): void {
    if (paneId !== TASK_PANE) return;
    const tape = this.tape(runId);
    const at = Date.now();
    const last = tape.entries[tape.entries.length - 1];
    if (last?.kind === 'o' && last.end === offset && at - last.at < MERGE_WINDOW_MS) {
      last.chunks.push(data);
      last.end += data.byteLength;
    } else {
      tape.entries.push({ kind: 'o', at, offset, end: offset + data.byteLength, chunks: [data] });
    }
    tape.pendingBytes += data.byteLength;
    if (tape.pendingBytes >= FLUSH_BYTES) void this.write(runId);
  }

  resized(runId: string, paneId: string, cols: number, rows: number): void {
    if (paneId !== TASK_PANE) return;
    this.tape(runId).entries.push({ kind: 'r', at: Date.now(), size: `${cols}x${rows}` });
  }

  /** A marker event (asciicast `m`): where a step began or ended. */
  marker(runId: string, label: string): void {
    this.tape(runId).entries.push({ kind: 'm', at: Date.now(), label });
  }

  /** Writes what is pending for a run (resolves when it is in the database, or retained after a failure). */
  flush(runId: string): Promise<void> {
    return this.tapes.has(runId) ? this.write(runId) : Promise.resolve();
  }

  /** The run ended here: everything written, the tape forgotten. */
  async finish(runId: string): Promise<void> {
    const tape = this.tapes.get(runId);
    if (!tape) return;
    await this.write(runId, true);
    if (!tape.entries.length && !tape.unwritten.length) this.tapes.delete(runId);
  }

  /** Output bytes of the run in the database (after finish(): all that was relayed here and written). */
  heldOutputBytes(runId: string): Promise<number> {
    return this.store.heldOutputBytes(runId);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.tapes.keys()].map((id) => this.finish(id)));
  }

  private write(runId: string, final = false): Promise<void> {
    const tape = this.tapes.get(runId);
    if (!tape) return Promise.resolve();
    tape.writing = tape.writing.then(async () => {
      if (tape.t0 === null) {
        try {
          tape.t0 = await this.store.startOf(runId);
        } catch (err) {
          this.log.warn({ err: (err as Error).message, runId }, 'recording: run start unknown, retrying');
          return;
        }
      }
      const entries = tape.entries;
      tape.entries = [];
      tape.pendingBytes = 0;
      const batch = format(tape, entries, final);
      if (batch.events) tape.unwritten.push(batch);
      while (tape.unwritten.length) {
        const next = tape.unwritten[0] as Batch;
        try {
          await this.store.appendLive(runId, next.events, next.outputBytes);
        } catch (err) {
          if (tape.unwritten.length > MAX_RETAINED_BATCHES) {
            tape.unwritten.shift();
            this.log.error({ runId }, 'recording: database away too long, a batch of output was given up');
          }
          this.log.warn({ err: (err as Error).message, runId }, 'recording: batch not written, retrying');
          return;
        }
        tape.unwritten.shift();
      }
    });
    return tape.writing;
  }
}

/** Entries → asciicast event lines (times in seconds since the run started, never decreasing). */
function format(tape: RunTape, entries: Entry[], final: boolean): Batch {
  let events = '';
  let outputBytes = 0;
  const t0 = tape.t0 ?? 0;
  const time = (at: number) => {
    tape.lastT = Math.max(tape.lastT, (at - t0) / 1000);
    return tape.lastT.toFixed(6);
  };
  for (const e of entries) {
    if (e.kind === 'o') {
      if (e.end <= tape.upTo) continue;
      const skip = Math.max(0, tape.upTo - e.offset);
      tape.upTo = e.end;
      let buf = e.chunks.length === 1 ? Buffer.from((e.chunks[0] as Uint8Array).buffer, (e.chunks[0] as Uint8Array).byteOffset, (e.chunks[0] as Uint8Array).byteLength) : Buffer.concat(e.chunks);
      if (skip) buf = buf.subarray(skip);
      outputBytes += buf.length;
      const text = tape.decoder.write(buf);
      if (text) events += `[${time(e.at)},"o",${JSON.stringify(text)}]\n`;
    } else if (e.kind === 'r') {
      events += `[${time(e.at)},"r",${JSON.stringify(e.size)}]\n`;
    } else {
      events += `[${time(e.at)},"m",${JSON.stringify(e.label)}]\n`;
    }
  }
  // An incomplete UTF-8 sequence at the very end is written as what it is (replacement characters).
  const tail = final ? tape.decoder.end() : '';
  if (tail) events += `[${time(Date.now())},"o",${JSON.stringify(tail)}]\n`;
  return { events, outputBytes };
}
