/**
 * Starts a real hub for a test: on a fresh PostgreSQL database or on the embedded store, in a
 * temporary data folder, on a free loopback port, with its logs collected in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { HubConfig } from '../../hub/config.ts';
import { loadHubConfig } from '../../hub/config.ts';
import type { RunningHub } from '../../hub/hub.ts';
import { startHub } from '../../hub/hub.ts';
import type { OperatorRole } from '../../common/statuses.ts';
import { createTestDatabase } from './testDatabase.ts';
import type { TestDatabase } from './testDatabase.ts';

export type Store = 'postgres' | 'embedded';

/** Which stores the suites run on: both by default; HANDOFF_TEST_STORES=postgres narrows it. */
export const STORES: Store[] = (process.env.HANDOFF_TEST_STORES ?? 'postgres,embedded').split(',').map((s) => s.trim() as Store);

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const TEST_ENCRYPTION_KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

export interface TestHub {
  hub: RunningHub;
  url: string;
  config: HubConfig;
  store: Store;
  databaseUrl: string | null;
  dataDir: string;
  logs: string[];
  token(role: OperatorRole, sub?: string): string;
  workerToken(workerId: string): string;
  /** One REST call; a string body is sent as it is (with `headers` saying its type), anything else as JSON. */
  api<T = unknown>(method: string, path: string, token: string | null, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer<T>>;
  close(): Promise<void>;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  text: string;
  contentType: string | null;
}

export async function startTestHub(store: Store, env: Record<string, string> = {}): Promise<TestHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'handoff-test-'));
  let db: TestDatabase | null = null;
  if (store === 'postgres') db = await createTestDatabase();
  const config = loadHubConfig({
    NODE_ENV: 'test',
    HANDOFF_DATA_DIR: dataDir,
    HANDOFF_PORT: '0',
    HANDOFF_HOST: '127.0.0.1',
    HANDOFF_JWT_SECRET: TEST_JWT_SECRET,
    HANDOFF_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    HANDOFF_LOG_LEVEL: 'debug',
    HANDOFF_SWEEP_INTERVAL_MS: '200',
    ...(db ? { HANDOFF_DATABASE_URL: db.url } : {}),
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  let hub: RunningHub;
  try {
    hub = await startHub(config, { logDestination: sink });
  } catch (err) {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    hub,
    url: hub.url,
    config,
    store,
    databaseUrl: db?.url ?? null,
    dataDir,
    logs,
    token: (role, sub = `${role}-user`) => hub.ctx.tokens.mintOperator(sub, role),
    workerToken: (workerId) => hub.ctx.tokens.mintWorker(workerId),
    async api<T>(method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) {
      const res = await fetch(`${hub.url}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined; // not JSON: callers look at `text`
      }
      return { status: res.status, body: parsed as T, text, contentType: res.headers.get('content-type') };
    },
    async close() {
      await hub.close();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
