/**
 * Creates a new embedded store (PGlite's initdb), run as a child process of the hub
 * (embeddedPostgres.ts): initdb grows the WASM heap to some 400 MiB, and memory a process once
 * held is not given back, so a hub that ran it in-process stayed at twice an idle hub's size.
 * Usage: node bin/run-ts.js hub/db/initEmbeddedStore.ts PGDATA_DIR
 */
import { PGlite } from '@electric-sql/pglite';
import { START_PARAMS } from './embeddedPostgres.ts';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: initEmbeddedStore.ts PGDATA_DIR');
  process.exit(2);
}
const db = await PGlite.create(dir, { startParams: START_PARAMS });
await db.close();
