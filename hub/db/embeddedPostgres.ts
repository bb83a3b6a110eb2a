/**
 * The embedded default: PGlite (PostgreSQL compiled to WASM) kept in the data folder and reached
 * in-process (pgliteWire.ts), so the same @mikro-orm/postgresql driver and the same migrations
 * serve both the embedded store and a real PostgreSQL server. One process owns the folder
 * (storeLock.ts), nothing listens, and the files are the hub user's alone (architecture §7a).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { ensurePrivateDir, makeTreePrivate } from '../privateFiles.ts';
import { PgliteWireConnection } from './pgliteWire.ts';
import { acquireStoreLock } from './storeLock.ts';

/**
 * PostgreSQL's own default of 128 MB shared buffers lives in the WASM heap and is most of an idle
 * hub's memory; the embedded store's working set (runs, audit, recordings in batches) fits in far
 * less (bench/README.md: idle hub RSS).
 */
export const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * V8 compiles PGlite's WASM with its baseline compiler first and recompiles a function with the
 * optimising one once it has run a budget of code. The store's start (recovery, migrations,
 * schema checks) ran enough of PostgreSQL to recompile much of it, and those compilations' memory
 * stayed in the process: some 45 MiB of an idle hub. With a budget 100 times V8's default only the
 * functions a busy store runs over and over are recompiled (bench/README.md: idle hub RSS).
 */
const WASM_TIERING_BUDGET = 1_300_000_000;

export interface EmbeddedPostgres {
  /** EMBEDDED_URL. */
  url: string;
  /** pg's `stream` option: every pooled connection is an in-process one. */
  stream: () => PgliteWireConnection;
  /** The migrations applied as this start created the store (none when it existed). */
  migratedOnCreate: string[];
  close(): Promise<void>;
}

/** A placeholder URL for the driver's parsing; the embedded store's connections are `stream`. */
export const EMBEDDED_URL = 'postgresql://postgres@embedded/postgres';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A new store's initdb and migrations, in a child process whose memory goes when it exits
 * (initEmbeddedStore.ts). Returns the migrations it applied.
 */
async function initStore(dir: string): Promise<string[]> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'hub/db/initEmbeddedStore.ts'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`creating the embedded store in ${dir} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no output'}`);
  const migrated: unknown = JSON.parse(stdout);
  if (!Array.isArray(migrated) || !migrated.every((m) => typeof m === 'string')) throw new Error(`creating the embedded store in ${dir}: unexpected output ${stdout.slice(0, 200)}`);
  return migrated;
}

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  ensurePrivateDir(dataDir);
  // Before PGlite touches the files: a second PGlite on the same folder corrupts it.
  const lock = acquireStoreLock(dataDir);
  let db: PGlite;
  let migratedOnCreate: string[] = [];
  try {
    const dir = join(dataDir, 'pgdata');
    ensurePrivateDir(dir);
    if (!existsSync(join(dir, 'PG_VERSION'))) migratedOnCreate = await initStore(dir);
    // Process-wide, but PGlite is the only sizeable WASM here; read when a function's budget is set.
    setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
    db = await PGlite.create(dir, { startParams: START_PARAMS });
    // initdb (and older versions of handoff) left world-readable files; PostgreSQL creates its
    // later files 0600 itself.
    makeTreePrivate(dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  return {
    url: EMBEDDED_URL,
    stream: () => new PgliteWireConnection(db),
    migratedOnCreate,
    async close() {
      try {
        await db.close();
      } finally {
        lock.release();
      }
    },
  };
}
