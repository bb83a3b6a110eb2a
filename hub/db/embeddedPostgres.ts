/**
 * The embedded default: PGlite (PostgreSQL compiled to WASM) kept in the data folder and reached
 * in-process (pgliteWire.ts), so the same @mikro-orm/postgresql driver and the same migrations
 * serve both the embedded store and a real PostgreSQL server. One process owns the folder
 * (storeLock.ts), nothing listens, and the files are the hub user's alone (architecture §7a).
 */
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { ensurePrivateDir, makeTreePrivate } from '../privateFiles.ts';
import { PgliteWireConnection } from './pgliteWire.ts';
import { acquireStoreLock } from './storeLock.ts';

export interface EmbeddedPostgres {
  /** A placeholder URL for the driver's parsing; the connection itself is `stream`. */
  url: string;
  /** pg's `stream` option: every pooled connection is an in-process one. */
  stream: () => PgliteWireConnection;
  close(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  ensurePrivateDir(dataDir);
  // Before PGlite touches the files: a second PGlite on the same folder corrupts it.
  const lock = acquireStoreLock(dataDir);
  let db: PGlite;
  try {
    const dir = join(dataDir, 'pgdata');
    ensurePrivateDir(dir);
    db = await PGlite.create(dir);
    // initdb (and older versions of handoff) left world-readable files; PostgreSQL creates its
    // later files 0600 itself.
    makeTreePrivate(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  return {
    url: 'postgresql://postgres@embedded/postgres',
    stream: () => new PgliteWireConnection(db),
    async close() {
      try {
        await db.close();
      } finally {
        lock.release();
      }
    },
  };
}
