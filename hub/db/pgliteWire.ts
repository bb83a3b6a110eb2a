/**
 * An in-process PostgreSQL connection to PGlite: a Duplex that `pg` uses in place of its TCP
 * socket (pg's `stream` option), carrying the wire protocol straight into PGlite's protocol
 * handler. Nothing listens, so no other process can reach the embedded store (architecture §8);
 * the hub keeps the same `pg` driver, the same MikroORM platform and the same SQL on both stores.
 *
 * PGlite has a single backend. The hub gives the embedded store a pool of one connection (see
 * database.ts), so a transaction's statements can never interleave with another connection's;
 * each batch of messages still runs under PGlite's own mutex.
 */
import { Duplex } from 'node:stream';
import type { PGlite } from '@electric-sql/pglite';

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
const GSS_REQUEST = 80877104;
const TERMINATE = 0x58; // 'X'

/**
 * The rollback a closed connection still owes, per store: the next connection waits for it, so its
 * first statement never lands inside the previous connection's transaction.
 */
const owedRollbacks = new WeakMap<PGlite, Promise<void>>();

export class PgliteWireConnection extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private started = false;
  private owing = false;

  constructor(private readonly db: PGlite) {
    super();
  }

  // The parts of net.Socket that pg calls.
  connect(): this {
    process.nextTick(() => this.emit('connect'));
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  override _read(): void {
    // Replies are pushed as PGlite produces them.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.drain().then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.push(null);
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // A connection that goes away inside a transaction must not leave it open for the next one.
    this.owe();
    done(err);
  }

  /** Hands every complete message in `pending` to PGlite, in order. */
  private async drain(): Promise<void> {
    for (;;) {
      if (!this.started) {
        // Untyped start-up packets: length, code.
        if (this.pending.length < 8) return;
        const length = this.pending.readInt32BE(0);
        if (this.pending.length < length) return;
        const code = this.pending.readInt32BE(4);
        const packet = this.pending.subarray(0, length);
        this.pending = this.pending.subarray(length);
        if (code === SSL_REQUEST || code === GSS_REQUEST) {
          this.push(Buffer.from('N'));
          continue;
        }
        if (code === CANCEL_REQUEST) {
          // No backend to signal: a cancel connection carries nothing else.
          this.push(null);
          return;
        }
        this.started = true;
        await this.execute(packet);
        continue;
      }
      // Typed messages: type byte, length (which counts itself, not the type byte).
      let end = 0;
      let terminate = false;
      while (this.pending.length >= end + 5) {
        const length = this.pending.readInt32BE(end + 1);
        if (this.pending.length < end + 1 + length) break;
        if (this.pending[end] === TERMINATE) {
          terminate = true;
          break;
        }
        end += 1 + length;
      }
      if (end > 0) {
        const batch = this.pending.subarray(0, end);
        this.pending = this.pending.subarray(end);
        await this.execute(batch);
      }
      if (terminate) {
        this.pending = Buffer.alloc(0);
        this.owe();
        this.push(null);
      }
      return;
    }
  }

  private async execute(message: Buffer): Promise<void> {
    await owedRollbacks.get(this.db);
    await this.db.runExclusive(() =>
      this.db.execProtocolRawStream(new Uint8Array(message), {
        // The bytes live in WASM memory that PGlite reuses: copy them out.
        onRawData: (data) => {
          if (data.length) this.push(Buffer.from(data));
        },
      }),
    );
  }

  private owe(): void {
    if (!this.started || this.owing) return;
    this.owing = true;
    const db = this.db;
    const rollback = (owedRollbacks.get(db) ?? Promise.resolve())
      .then(async () => {
        if (!db.closed && db.isInTransaction()) await db.exec('rollback');
      })
      // A store closing meanwhile has nothing left to roll back.
      .catch(() => undefined);
    owedRollbacks.set(db, rollback);
  }
}
