/**
 * 8. Fan-out across two hubs: the fan-out of scenario 2 (20 viewers of one run), but with two hub
 * processes of one deployment — one PostgreSQL database (created fresh for each repetition and
 * dropped after it) and the machine's Redis (a channel prefix of its own). The agent is connected
 * to hub A, the 20 viewers to hub B, so every chunk crosses Redis (hub A publishes it, hub B
 * receives it once and writes it to its 20 viewers).
 *
 * Each repetition also measures, on the same deployment, one viewer on hub A and the one-hub
 * fan-out (the 20 viewers on hub A), so "two hubs ÷ one hub" is paired within the repetition and
 * isolates the Redis hop (both figures pay for PostgreSQL and the Redis adapter alike). The order
 * of the two fan-outs alternates between repetitions. No architecture §9 target: information only.
 *
 * Needs PostgreSQL (postgresql://postgres@127.0.0.1:5432/postgres, or the server of
 * HANDOFF_BENCH_DATABASE_URL, where a database `handoff_bench_<random>` is created) and Redis ≥ 7
 * (sharded pub/sub; redis://127.0.0.1:6379 or HANDOFF_BENCH_REDIS_URL). Without them the scenario
 * is reported as skipped, not failed.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Cluster } from '../lib/cluster.ts';
import { MB, MiB } from '../lib/stats.ts';
import type { StreamResult } from '../lib/streaming.ts';
import { streamRun } from '../lib/streaming.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';
import { cpuMetrics, fmtCpu } from './throughput.ts';

const PG_ADMIN_URL = process.env.HANDOFF_BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.HANDOFF_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONNECT_TIMEOUT_MS = 3000;

/** Without the password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

interface Problem {
  /** For the table. */
  short: string;
  /** For the log and the JSON. */
  detail: string;
}

/** Why Redis cannot carry the hubs' adapter (unreachable, or older than 7), or null. */
async function redisProblem(url: string): Promise<Problem | null> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: Error | null = null;
  r.on('error', (err: Error) => (lastError = err));
  try {
    await r.connect();
    const info = await r.info('server');
    const version = /^redis_version:(\S+)/m.exec(info)?.[1] ?? '?';
    if (!(Number(version.split('.')[0]) >= 7)) return { short: `Redis ${version} < 7`, detail: `Redis at ${redact(url)} is ${version}; the hubs' sharded pub/sub needs ≥ 7` };
    return null;
  } catch (err) {
    const e = lastError ?? (err as Error);
    return { short: 'Redis unreachable', detail: `Redis at ${redact(url)}: ${e.message || String(e)}` };
  } finally {
    r.disconnect();
  }
}

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database on the server of PG_ADMIN_URL (same credentials). */
async function createDatabase(): Promise<BenchDatabase> {
  const name = `handoff_bench_${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`create database ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withAdmin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}

/** Hub A with the agent and hub B without one, on one database and one Redis channel prefix. */
async function startTwoHubs(dbUrl: string, ctx: BenchContext): Promise<[Cluster, Cluster]> {
  const hubEnv = { HANDOFF_REDIS_URL: REDIS_URL, HANDOFF_REDIS_CHANNEL_PREFIX: `handoff-bench-${randomBytes(4).toString('hex')}` };
  const common = { capacity: 4, databaseUrl: dbUrl, hubEnv, log: ctx.log };
  // Both start at once: the migration lock lets exactly one of them migrate.
  const [a, b] = await Promise.allSettled([Cluster.start({ ...common, hubName: 'hub A' }), Cluster.start({ ...common, hubName: 'hub B', agent: false })]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  await Promise.all([a, b].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  throw (a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason) as Error;
}

function prefixed(prefix: string, m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`${prefix}${k}`, v]));
}

export const fanout2: Scenario = {
  name: 'fanout2',
  title: 'fan-out across two hubs: agent → hub A → Redis → hub B → 20 viewers',
  async run(ctx: BenchContext, rep: number): Promise<RepResult> {
    const problems: Problem[] = [];
    let db: BenchDatabase | null = null;
    try {
      db = await createDatabase();
    } catch (err) {
      problems.push({ short: 'PostgreSQL unreachable', detail: `creating a database on PostgreSQL at ${redact(PG_ADMIN_URL)}: ${(err as Error).message || String(err)}` });
    }
    const redis = await redisProblem(REDIS_URL);
    if (redis) problems.push(redis);
    if (!db || problems.length) {
      await db?.drop().catch(() => undefined);
      const detail = problems.map((p) => p.detail).join('; ');
      ctx.log(`fanout2: ${detail}`);
      return { metrics: {}, skipped: `needs PostgreSQL and Redis (${problems.map((p) => p.short).join(', ')})`, info: { reason: detail } };
    }
    try {
      const [a, b] = await startTwoHubs(db.url, ctx);
      try {
        const bytes = ctx.quick ? 10 * MB : 100 * MB;
        const viewers = 20;
        const one = await streamRun(a, { bytes, viewers: 1 });
        let oneHub: StreamResult;
        let twoHubs: StreamResult;
        if (rep % 2 === 0) {
          oneHub = await streamRun(a, { bytes, viewers });
          twoHubs = await streamRun(a, { bytes, viewers, viewerHub: b });
        } else {
          twoHubs = await streamRun(a, { bytes, viewers, viewerHub: b });
          oneHub = await streamRun(a, { bytes, viewers });
        }
        const ratio = twoHubs.minMbps / oneHub.minMbps;
        const exact = one.exact && oneHub.exact && twoHubs.exact;
        ctx.log(
          `fan-out across two hubs: one viewer on hub A ${one.minMbps.toFixed(1)} MB/s; ${viewers} viewers on hub A: min ${oneHub.minMbps.toFixed(1)}, ` +
            `aggregate ${oneHub.aggregateMbps.toFixed(1)}; ${viewers} viewers on hub B: min ${twoHubs.minMbps.toFixed(1)}, max ${twoHubs.maxMbps.toFixed(1)}, ` +
            `aggregate ${twoHubs.aggregateMbps.toFixed(1)} MB/s (two hubs ÷ one hub ${ratio.toFixed(2)}, exact=${exact}); ` +
            `cpu one hub: ${fmtCpu(oneHub)}; two hubs: ${fmtCpu(twoHubs)}`,
        );
        return {
          metrics: {
            oneViewerMbps: one.minMbps,
            oneHubMinViewerMbps: oneHub.minMbps,
            oneHubAggregateMbps: oneHub.aggregateMbps,
            minViewerMbps: twoHubs.minMbps,
            maxViewerMbps: twoHubs.maxMbps,
            aggregateMbps: twoHubs.aggregateMbps,
            ratio,
            ratioToOneViewer: twoHubs.minMbps / one.minMbps,
            seconds: twoHubs.seconds,
            hubRssMaxMiB: twoHubs.hubRss.max / MiB,
            hubBRssMaxMiB: (twoHubs.viewerHubRss?.max ?? Number.NaN) / MiB,
            ...cpuMetrics(twoHubs),
            ...prefixed('oneHub_', cpuMetrics(oneHub)),
          },
          checks: { exact },
          info: {
            bytes,
            viewers,
            redis: redact(REDIS_URL),
            order: rep % 2 === 0 ? 'one hub, then two hubs' : 'two hubs, then one hub',
            perViewerMbps: twoHubs.perViewer.map((v) => Math.round(v.mbps * 100) / 100),
            oneHubPerViewerMbps: oneHub.perViewer.map((v) => Math.round(v.mbps * 100) / 100),
          },
        };
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    } finally {
      await db.drop().catch((err: Error) => ctx.log(`fanout2: dropping the bench database failed: ${err.message}`));
    }
  },
};
