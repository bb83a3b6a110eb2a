/**
 * Developer tool: generates a migration in migrations/ from the difference between the entities
 * and a scratch embedded database with every existing migration applied.
 *   node bin/run-ts.js hub/db/createMigration.ts [--blank] [name]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './database.ts';

const blank = process.argv.includes('--blank');
const name = process.argv.slice(2).find((a) => !a.startsWith('--'));
const dir = mkdtempSync(join(tmpdir(), 'handoff-migrate-'));
const db = await openDatabase({ databaseUrl: process.env.HANDOFF_DATABASE_URL, dataDir: dir });
try {
  const result = await db.orm.migrator.create(undefined, blank, false, name);
  console.log(result.fileName ? `created migrations/${result.fileName}` : 'no changes');
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
