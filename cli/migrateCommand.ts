/** `handoff migrate`: applies pending migrations to the configured database, then exits. */
import { loadHubConfig } from '../hub/config.ts';
import { openDatabase } from '../hub/db/database.ts';

export async function run(): Promise<number> {
  const config = loadHubConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false });
  try {
    const done = await db.orm.migrator.up();
    process.stdout.write(done.length ? `applied ${done.length} migration(s): ${done.map((m) => m.name).join(', ')}\n` : 'database is up to date\n');
    return 0;
  } finally {
    await db.close();
  }
}
