/**
 * The one way a test starts a hub: on a fresh PostgreSQL database or on the embedded store, in a
 * temporary data folder, on loopback, with the test secrets, its logs collected in memory. By
 * default the hub runs in this process (`hub` gives its parts); with `process: true` it is
 * `handoff hub` as a child process, which a fault test can SIGKILL and restart on the same port,
 * data folder and database. Both modes build their settings here and answer the same handle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { TokenService } from '../../hub/auth/tokens.ts';
import type { HubConfig } from '../../hub/config.ts';
import { loadHubConfig } from '../../hub/config.ts';
import type { RunningHub } from '../../hub/hub.ts';
import { startHub } from '../../hub/hub.ts';
import type { OperatorRole } from '../../common/statuses.ts';
import type { ChildHandle } from './processes.ts';
import { freePort, startChild } from './processes.ts';
import type { ApiAnswer } from './rest.ts';
import { rest } from './rest.ts';
import { createTestDatabase } from './testDatabase.ts';
import { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from './testSecrets.ts';
import { waitUntil } from './wait.ts';

export type Store = 'postgres' | 'embedded';

/** Which stores the suites run on: both by default; HANDOFF_TEST_STORES=postgres narrows it. */
export const STORES: Store[] = (process.env.HANDOFF_TEST_STORES ?? 'postgres,embedded').split(',').map((s) => s.trim() as Store);

export { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from './testSecrets.ts';
export type { ApiAnswer } from './rest.ts';

/** The database URL of a hub on store S: a string on PostgreSQL, null on the embedded store. */
export type DatabaseUrl<S extends Store> = [S] extends ['postgres'] ? string : [S] extends ['embedded'] ? null : string | null;

/** What every test hub answers, in this process or as a child process. */
export interface HubHandle<S extends Store = Store> {
  url: string;
  /** The settings the hub was started with (as the hub reads them from its environment). */
  config: HubConfig;
  store: S;
  /** The PostgreSQL database it runs on; null on the embedded store. */
  databaseUrl: DatabaseUrl<S>;
  dataDir: string;
  /** What the hub logged: in-process its JSON lines (level debug), a child's stdout and stderr lines (level warn). */
  logs: string[];
  token(role: OperatorRole, sub?: string): string;
  workerToken(workerId: string): string;
  /** One REST call; a string body is sent as it is (with `headers` saying its type), anything else as JSON. */
  api<T = unknown>(method: string, path: string, token: string | null, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer<T>>;
  /** Stops the hub (a child with SIGTERM) and removes the database and data folder it created. */
  close(): Promise<void>;
}

/** A hub in this test process: its parts can be reached directly. */
export interface TestHub<S extends Store = Store> extends HubHandle<S> {
  hub: RunningHub;
}

/** `handoff hub` as a child process; pid, logs, exited and the rest follow a restart. */
export interface HubProcess<S extends Store = Store> extends HubHandle<S>, ChildHandle {
  port: number;
  /** Starts `handoff hub` again on the same port, data folder, database and settings (SIGTERMs a live one first). */
  restart(): Promise<void>;
}

export interface TestHubOptions {
  /** HANDOFF_* settings over the test defaults. */
  env?: Record<string, string>;
  /** A fixed port; by default any free one. */
  port?: number;
  /** Run on this data folder (a restarted store), left in place by close(); by default a fresh temporary one, removed. */
  dataDir?: string;
  /**
   * PostgreSQL only: run on this database (one several hubs share, or one reached through a
   * proxy), left to the caller to drop; by default a fresh database, dropped by close().
   */
  databaseUrl?: string;
}

export interface HubProcessOptions extends TestHubOptions {
  process: true;
  /** How long `handoff hub` may take to say it listens. */
  startTimeoutMs?: number;
}

export function startTestHub<S extends Store>(store: S, opts?: TestHubOptions & { process?: false }): Promise<TestHub<S>>;
export function startTestHub<S extends Store>(store: S, opts: HubProcessOptions): Promise<HubProcess<S>>;
export async function startTestHub(store: Store, opts: TestHubOptions & { process?: boolean; startTimeoutMs?: number } = {}): Promise<HubHandle> {
  const inProcess = opts.process !== true;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'handoff-test-'));
  const ownDir = opts.dataDir === undefined;
  let ownDb: { drop(): Promise<void> } | null = null;
  let databaseUrl: string | null = null;
  const cleanup = async () => {
    await ownDb?.drop();
    ownDb = null;
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (store === 'postgres') {
      if (opts.databaseUrl !== undefined) databaseUrl = opts.databaseUrl;
      else {
        const db = await createTestDatabase();
        ownDb = db;
        databaseUrl = db.url;
      }
    } else if (opts.databaseUrl !== undefined) throw new Error('databaseUrl is for the postgres store');
    const port = opts.port ?? (inProcess ? 0 : await freePort());
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      HANDOFF_DATA_DIR: dataDir,
      HANDOFF_PORT: String(port),
      HANDOFF_HOST: '127.0.0.1',
      HANDOFF_JWT_SECRET: TEST_JWT_SECRET,
      HANDOFF_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      // In memory every line is kept (suites look for debug lines); a child's pipe carries warnings.
      HANDOFF_LOG_LEVEL: inProcess ? 'debug' : 'warn',
      // In-process suites drive the sweepers fast; a child keeps the default unless a test says otherwise.
      ...(inProcess ? { HANDOFF_SWEEP_INTERVAL_MS: '200' } : {}),
      ...(databaseUrl !== null ? { HANDOFF_DATABASE_URL: databaseUrl } : {}),
      ...opts.env,
    };
    const config = loadHubConfig(env);
    const base = { config, store, databaseUrl, dataDir };
    return inProcess ? await inProcessHub(base, cleanup) : await hubProcess(base, env, port, opts.startTimeoutMs ?? 30_000, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

type Base = Pick<HubHandle, 'config' | 'store' | 'databaseUrl' | 'dataDir'>;

async function inProcessHub(base: Base, cleanup: () => Promise<void>): Promise<TestHub> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const hub = await startHub(base.config, { logDestination: sink });
  return {
    ...base,
    hub,
    url: hub.url,
    logs,
    token: (role, sub = `${role}-user`) => hub.ctx.tokens.mintOperator(sub, role),
    workerToken: (workerId) => hub.ctx.tokens.mintWorker(workerId),
    api<T>(method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
      return rest<T>(hub.url, method, path, token, body, headers);
    },
    async close() {
      await hub.close();
      await cleanup();
    },
  };
}

/** Starts `handoff hub` and waits for "handoff hub listening on URL". */
async function spawnListening(env: Record<string, string>, timeoutMs: number): Promise<{ child: ChildHandle; url: string }> {
  const child = startChild(['hub'], env, 'hub');
  try {
    const url = await waitUntil(
      'the hub to listen',
      () => {
        if (!child.alive()) throw new Error(`the hub exited before listening:\n${child.logs.slice(-30).join('\n')}`);
        for (const l of child.logs) {
          const m = /handoff hub listening on (\S+)/.exec(l);
          if (m) return m[1] as string;
        }
        return undefined;
      },
      timeoutMs,
      50,
    );
    return { child, url };
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
}

async function hubProcess(base: Base, env: Record<string, string>, port: number, timeoutMs: number, cleanup: () => Promise<void>): Promise<HubProcess> {
  let { child, url } = await spawnListening(env, timeoutMs);
  // A hub told to make its own secrets (HANDOFF_JWT_SECRET='') signs with a key only it knows.
  const tokens = base.config.jwtSecret ? new TokenService(base.config.jwtSecret) : null;
  const signer = () => {
    if (!tokens) throw new Error('this hub made its own secrets: the test cannot sign its tokens');
    return tokens;
  };
  return {
    ...base,
    port,
    get url() {
      return url;
    },
    get proc() {
      return child.proc;
    },
    get pid() {
      return child.pid;
    },
    get logs() {
      return child.logs;
    },
    get exited() {
      return child.exited;
    },
    alive: () => child.alive(),
    stop: (signal, graceMs) => child.stop(signal, graceMs),
    rss: () => child.rss(),
    token: (role, sub = `${role}-user`) => signer().mintOperator(sub, role),
    workerToken: (workerId) => signer().mintWorker(workerId),
    api<T>(method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
      return rest<T>(url, method, path, token, body, headers);
    },
    async restart() {
      await child.stop('SIGTERM');
      ({ child, url } = await spawnListening(env, timeoutMs));
    },
    async close() {
      await child.stop('SIGTERM');
      await cleanup();
    },
  };
}
