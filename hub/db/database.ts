/**
 * Opens the hub's database: a configured PostgreSQL server, or the embedded store. Migrations
 * from migrations/ are applied on open (and by `handoff migrate`).
 */
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MikroORM } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import type { Logger } from 'pino';
import { ENTITIES } from './entities.ts';
import { startEmbeddedPostgres } from './embeddedPostgres.ts';
import type { EmbeddedPostgres } from './embeddedPostgres.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Database {
  orm: MikroORM;
  /** True on the embedded store: one process owns it, so no leader election is needed. */
  embedded: boolean;
  /** Migrations applied as the open created a new embedded store (embeddedPostgres.ts). */
  migratedOnOpen: string[];
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  log?: Logger;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  poolMax?: number;
  /** Longest a single statement may take before it fails (pg client side). */
  queryTimeoutMs?: number;
}

export function ormOptions(clientUrl: string, poolMax: number, queryTimeoutMs = 15_000, connectTimeoutMs = 5000, stream?: () => Duplex) {
  return {
    entities: ENTITIES,
    clientUrl,
    baseDir: ROOT,
    extensions: [Migrator],
    pool: { min: 0, max: poolMax },
    // A database that stops answering (not only one that refuses) must turn into a quick 503,
    // never a request that hangs: bounded connect and query times, TCP keep-alive.
    driverOptions: { connectionTimeoutMillis: connectTimeoutMs, query_timeout: queryTimeoutMs, keepAlive: true, ...(stream ? { stream } : {}) },
    migrations: {
      path: 'migrations',
      pathTs: 'migrations',
      glob: '!(*.d).{js,ts}',
      snapshotOnMigrate: false,
      silent: true,
      emit: 'ts' as const,
    },
    debug: false,
    allowGlobalContext: false,
    // Connection failures surface as errors of our own (503), not as a crash at start.
    connect: true,
  };
}

/**
 * The embedded store is in this process: it cannot be partitioned away, only busy (one backend,
 * WASM), so it gets the patience a remote server does not. One connection: PGlite has one
 * backend, and a second connection's statements would land inside the first one's transaction.
 */
export function embeddedOrmOptions(url: string, stream: () => Duplex, queryTimeoutMs = 0) {
  return ormOptions(url, 1, Math.max(queryTimeoutMs, 120_000), 120_000, stream);
}

const MIGRATION_LOCK = 0x6d696772; // 'migr'

/**
 * Applies pending migrations. On a shared server, hubs starting together take turns under a
 * session advisory lock (held on its own connection), so exactly one of them migrates.
 */
export async function migrate(orm: MikroORM, serverUrl: string | null, log?: Logger): Promise<string[]> {
  let lock: pg.Client | null = null;
  if (serverUrl) {
    lock = new pg.Client({ connectionString: serverUrl, application_name: 'handoff-migrate' });
    await lock.connect();
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
  }
  try {
    const done = (await orm.migrator.up()).map((m) => m.name);
    if (done.length) log?.info({ migrations: done }, 'applied migrations');
    return done;
  } finally {
    await lock?.end().catch(() => undefined);
  }
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = opts.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres(opts.dataDir);
    url = embedded.url;
  }
  let orm: MikroORM;
  try {
    orm = await MikroORM.init(embedded ? embeddedOrmOptions(url, embedded.stream, opts.queryTimeoutMs) : ormOptions(url, opts.poolMax ?? 10, opts.queryTimeoutMs));
    // A new embedded store was migrated as it was created (embeddedPostgres.ts).
    if (embedded?.migratedOnCreate.length) opts.log?.info({ migrations: embedded.migratedOnCreate }, 'applied migrations');
    if (opts.migrate !== false) await migrate(orm, embedded ? null : url, opts.log);
  } catch (err) {
    await embedded?.close();
    throw err;
  }
  return {
    orm,
    embedded: embedded !== undefined,
    migratedOnOpen: embedded?.migratedOnCreate ?? [],
    async close() {
      await orm.close(true);
      await embedded?.close();
    },
  };
}
