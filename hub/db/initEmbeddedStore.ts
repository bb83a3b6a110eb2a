/**
 * Creates a new embedded store (PGlite's initdb) and applies the migrations, run as a child
 * process of the hub (embeddedPostgres.ts): initdb grows the WASM heap to some 400 MiB, and the
 * migrations' DDL runs enough of PostgreSQL for V8 to recompile much of it (~35 MiB of compiler
 * memory); memory a process once held is not given back, so a hub that did either in-process
 * stayed larger than one restarted on the same folder. Prints the applied migrations' names
 * (a JSON array) on stdout.
 * Usage: node bin/run-ts.js hub/db/initEmbeddedStore.ts PGDATA_DIR
 */
import { PGlite } from '@electric-sql/pglite';
import { MikroORM } from '@mikro-orm/postgresql';
import { embeddedOrmOptions, migrate } from './database.ts';
import { EMBEDDED_URL, START_PARAMS } from './embeddedPostgres.ts';
import { PgliteWireConnection } from './pgliteWire.ts';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: initEmbeddedStore.ts PGDATA_DIR');
  process.exit(2);
}
const db = await PGlite.create(dir, { startParams: START_PARAMS });
try {
  const orm = await MikroORM.init(embeddedOrmOptions(EMBEDDED_URL, () => new PgliteWireConnection(db)));
  try {
    process.stdout.write(JSON.stringify(await migrate(orm, null)));
  } finally {
    await orm.close(true);
  }
} finally {
  await db.close();
}
