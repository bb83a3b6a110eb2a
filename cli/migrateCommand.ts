/** `handoff migrate`: applies pending migrations to the configured database, then exits. */
import { loadHubConfig } from '../hub/config.ts';
import { migrate, openDatabase } from '../hub/db/database.ts';

export async function run(): Promise<number> {
  const config = loadHubConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false });
  try {
    const done = [...db.migratedOnOpen, ...(await migrate(db.orm, db.embedded ? null : (config.databaseUrl ?? null)))];
    process.stdout.write(done.length ? `applied ${done.length} migration(s): ${done.join(', ')}\n` : 'database is up to date\n');
    return 0;
  } finally {
    await db.close();
  }
}
