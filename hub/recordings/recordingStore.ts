/**
 * Runs' recordings in the database (table task_run_recording_part), served as asciicast v2:
 * one header line, then the event lines of every part in the order they were written. Any hub
 * serves any recording; nothing depends on a folder. Parts come from the live relay
 * (liveRecorder.ts) or from an agent's upload of its own complete recording (a run that was not
 * live throughout); a recording is never replaced by one with less output.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Kysely, MikroORM } from '@mikro-orm/postgresql';
import { DEFAULT_COLS, DEFAULT_ROWS } from '../../common/protocol.ts';
import { ApiError, invalidPayload } from '../domain/errors.ts';
import { compress, decompress } from './compression.ts';

export const MAX_RECORDING_BYTES = 512 * 1024 ** 2;
export const ASCIICAST_TYPE = 'application/x-asciicast';
/** Uploaded lines are stored in parts of about this size (one row each). */
const UPLOAD_PART_BYTES = 1024 ** 2;
/** Parts read per query while serving (bounded memory for any length of recording). */
const SERVE_PAGE = 32;

export interface UploadResult {
  /** Bytes of the uploaded file. */
  bytes: number;
  /** Terminal output bytes the recording holds now. */
  outputBytes: number;
  /** Which recording the hub keeps: the upload, or the one it already had (at least as long). */
  kept: 'upload' | 'existing';
}

type Row = Record<string, unknown>;

export class RecordingStore {
  constructor(private readonly orm: MikroORM) {}

  private em() {
    return this.orm.em.fork();
  }

  /**
   * Epoch ms event times count from: the run's creation, which (unlike its start) stays put when
   * the run is queued again, so a second attempt's events follow the first's.
   */
  async startOf(runId: string): Promise<number> {
    const rows = await this.em().execute<Row[]>('select created_at from task_run where id = ?', [runId]);
    const at = rows[0]?.['created_at'];
    return at ? new Date(at as string | Date).getTime() : Date.now();
  }

  async appendLive(runId: string, events: string, outputBytes: number): Promise<void> {
    // Bound parameters, not `execute`: the driver would interpolate the batch (256 KiB and more,
    // every second of output) into the SQL string, escaping it byte by byte, and the server would
    // parse it back out of the literal — most of the hub's CPU per relayed MB. A Buffer goes as a
    // binary parameter, copied once.
    const packed = await compress(Buffer.from(events, 'utf8'));
    await this.em().getKysely().executeQuery(boundQuery("insert into task_run_recording_part (task_run_id, source, output_bytes, events_zstd, created_at) values ($1, 'live', $2, $3, now())", [runId, outputBytes, packed]));
  }

  /** Bytes of the task pane's output the run's recording holds (every attempt's). */
  async heldOutputBytes(runId: string): Promise<number> {
    const rows = await this.em().execute<Row[]>('select coalesce(sum(output_bytes), 0) as n from task_run_recording_part where task_run_id = ?', [runId]);
    return Number((rows[0] as Row | undefined)?.['n'] ?? 0);
  }

  /** Whether a run has any recorded part. */
  async has(runId: string): Promise<boolean> {
    const rows = await this.em().execute<Row[]>('select 1 from task_run_recording_part where task_run_id = ? limit 1', [runId]);
    return rows.length > 0;
  }

  /** Writes the whole recording to `out` (header first), page by page, respecting back-pressure. */
  async serve(runId: string, title: string, out: Writable): Promise<void> {
    const start = await this.startOf(runId);
    const header = { version: 2, width: DEFAULT_COLS, height: DEFAULT_ROWS, timestamp: Math.floor(start / 1000), title, env: { TERM: 'xterm-256color' } };
    await write(out, `${JSON.stringify(header)}\n`);
    // An upload is a whole recording: when one is kept, the live parts are gone (saveUpload).
    let after = 0;
    for (;;) {
      const rows = await this.em().execute<Row[]>('select id, events, events_zstd from task_run_recording_part where task_run_id = ? and id > ? order by id limit ?', [runId, after, SERVE_PAGE]);
      for (const r of rows) {
        const packed = r['events_zstd'];
        await write(out, Buffer.isBuffer(packed) ? await decompress(packed) : (r['events'] as string));
      }
      if (rows.length < SERVE_PAGE) break;
      after = Number((rows[rows.length - 1] as Row)['id']);
    }
  }

  /**
   * Stores an agent's asciicast v2 file as the run's recording, in one transaction, when it holds at
   * least as much output as the recording the hub already has; otherwise nothing changes.
   */
  async saveUpload(runId: string, body: Readable): Promise<UploadResult> {
    return this.em().transactional(async (em) => {
      await em.execute('select id from task_run where id = ? for update', [runId]);
      const lines = createInterface({ input: body, crlfDelay: Infinity });
      let bytes = 0;
      let outputBytes = 0;
      let first = true;
      let lineNo = 0;
      let part = '';
      let partOutput = 0;
      const ids: number[] = [];
      const store = async () => {
        if (!part) return;
        // bound parameters, as appendLive: a 1 MiB part is not escaped into the SQL text (inside the transaction: getKysely is pinned to it)
        const packed = await compress(Buffer.from(part, 'utf8'));
        const { rows } = await em.getKysely().executeQuery(boundQuery("insert into task_run_recording_part (task_run_id, source, output_bytes, events_zstd, created_at) values ($1, 'upload', $2, $3, now()) returning id", [runId, partOutput, packed]));
        ids.push(Number((rows[0] as Row)['id']));
        part = '';
        partOutput = 0;
      };
      for await (const line of lines) {
        lineNo++;
        bytes += Buffer.byteLength(line) + 1;
        if (bytes > MAX_RECORDING_BYTES) throw new ApiError(413, 'payload_too_large', `a recording is at most ${MAX_RECORDING_BYTES} bytes`);
        if (first) {
          first = false;
          if (!isHeader(line)) throw invalidPayload('not an asciicast v2 recording: the first line must be its header {"version": 2, ...}');
          continue;
        }
        if (!line.trim()) continue;
        const n = outputOf(line);
        if (n === null) throw invalidPayload(`line ${lineNo} is not an asciicast v2 event [time, code, data]`);
        outputBytes += n;
        partOutput += n;
        part += `${line}\n`;
        if (part.length >= UPLOAD_PART_BYTES) await store();
      }
      if (first) throw invalidPayload('empty recording');
      await store();
      const held = await em.execute<Row[]>("select coalesce(sum(output_bytes), 0) as n from task_run_recording_part where task_run_id = ? and not (id = any(?::bigint[]))", [runId, `{${ids.join(',')}}`]);
      const existing = Number((held[0] as Row)['n']);
      if (existing > outputBytes || (existing === outputBytes && existing > 0)) {
        await em.execute('delete from task_run_recording_part where id = any(?::bigint[])', [`{${ids.join(',')}}`]);
        return { bytes, outputBytes: existing, kept: 'existing' as const };
      }
      await em.execute('delete from task_run_recording_part where task_run_id = ? and not (id = any(?::bigint[]))', [runId, `{${ids.join(',')}}`]);
      return { bytes, outputBytes, kept: 'upload' as const };
    });
  }
}

type CompiledQuery = Parameters<Kysely<unknown>['executeQuery']>[0];
let queryIds = 0;

/** A statement with $n placeholders and its parameters, sent to the server as such (Kysely's CompiledQuery.raw). */
function boundQuery(sql: string, parameters: unknown[]): CompiledQuery {
  return { sql, parameters, query: { kind: 'RawNode', sqlFragments: [sql], parameters: [] }, queryId: { queryId: `recording-${++queryIds}` } } as CompiledQuery;
}

function isHeader(line: string): boolean {
  try {
    const h = JSON.parse(line) as unknown;
    return typeof h === 'object' && h !== null && (h as { version?: unknown }).version === 2;
  } catch {
    return false;
  }
}

/** The output bytes of one event line (0 for r / m / i events), or null when it is not an event. */
function outputOf(line: string): number | null {
  try {
    const e = JSON.parse(line) as unknown;
    if (!Array.isArray(e) || e.length < 3 || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') return null;
    return e[1] === 'o' ? Buffer.byteLength(e[2]) : 0;
  } catch {
    return null;
  }
}

function write(out: Writable, chunk: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (out.destroyed) return reject(new Error('client went away'));
    if (out.write(chunk)) return resolve();
    const done = (err?: Error) => {
      out.off('drain', done);
      out.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const closed = () => done(new Error('client went away'));
    out.once('drain', done);
    out.once('close', closed);
  });
}
