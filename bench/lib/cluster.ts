/**
 * A hub and (optionally) an agent, each in its own process, exactly as deployed:
 * `node bin/handoff.js hub` (HANDOFF_PORT=0; the address is parsed from its "listening" line)
 * on the embedded store in a temporary data folder, or on PostgreSQL when
 * HANDOFF_BENCH_DATABASE_URL is set (or at the `databaseUrl` given, with further hub environment
 * such as Redis for several hubs of one deployment); `node bin/handoff.js agent` with a worker
 * token minted here with the same secret. Tokens for viewers are minted in the bench process too.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GrantWriteResult, TaskRunDto } from '../../common/api.ts';
import type { TaskRunStatus } from '../../common/statuses.ts';
import { TokenService } from '../../hub/auth/tokens.ts';
import { cpuSeconds } from './procStats.ts';
import { sleep, waitFor } from './stats.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HANDOFF = join(ROOT, 'bin', 'handoff.js');

/** One secret pair per bench process: every hub it starts and every token it mints share them. */
const JWT_SECRET = `bench-${randomBytes(24).toString('hex')}`;
const ENCRYPTION_KEY = randomBytes(32).toString('hex');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last lines it printed (stdout and stderr), for error messages. */
  tail: string[];
  exited: Promise<number | null>;
}

export function spawnNode(name: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []): ManagedProcess {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return { name, child, pid: child.pid as number, tail, exited };
}

export async function stopProcess(p: ManagedProcess, graceMs = 15_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

export interface ClusterOptions {
  /** Start an agent process too (default true). */
  agent?: boolean;
  /** Extra node flags of the hub / agent process (e.g. --cpu-prof). */
  hubNodeArgs?: string[];
  agentNodeArgs?: string[];
  /** Runs the agent executes at once (default 4). */
  capacity?: number;
  /** The hub's PostgreSQL database (default: HANDOFF_BENCH_DATABASE_URL, else the embedded store). */
  databaseUrl?: string;
  /** Further environment of the hub process (e.g. HANDOFF_REDIS_URL for several hubs). */
  hubEnv?: Record<string, string>;
  /** The hub process's name in error messages (default "hub"). */
  hubName?: string;
  log?: (msg: string) => void;
}

export class Cluster {
  readonly tokens = new TokenService(JWT_SECRET);
  readonly operatorToken: string;
  agent: ManagedProcess | null = null;
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly hub: ManagedProcess,
    readonly url: string,
  ) {
    this.operatorToken = this.tokens.mintOperator('bench-operator', 'operator', 24 * 3600);
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-bench-'));
    const hubDir = join(dir, 'hub');
    mkdirSync(hubDir);
    const dbUrl = opts.databaseUrl ?? process.env.HANDOFF_BENCH_DATABASE_URL;
    const hubName = opts.hubName ?? 'hub';
    const hub = spawnNode(
      hubName,
      [HANDOFF, 'hub'],
      {
        NODE_ENV: 'development',
        HANDOFF_HOST: '127.0.0.1',
        HANDOFF_PORT: '0',
        HANDOFF_DATA_DIR: hubDir,
        HANDOFF_JWT_SECRET: JWT_SECRET,
        HANDOFF_ENCRYPTION_KEY: ENCRYPTION_KEY,
        HANDOFF_LOG_LEVEL: 'warn',
        HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: String(opts.capacity ?? 4),
        ...(dbUrl ? { HANDOFF_DATABASE_URL: dbUrl } : {}),
        ...opts.hubEnv,
      },
      opts.hubNodeArgs,
    );
    let url: string;
    try {
      url = await waitFor(
        `the ${hubName} to listen`,
        () => {
          if (hub.child.exitCode !== null) throw new Error(`${hubName} exited with ${hub.child.exitCode}:\n${hub.tail.join('\n')}`);
          for (const line of hub.tail) {
            const m = /handoff hub listening on (\S+)/.exec(line);
            if (m) return m[1] as string;
          }
          return undefined;
        },
        180_000,
        50,
      );
    } catch (err) {
      hub.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const cluster = new Cluster(dir, hub, url);
    if (opts.agent ?? true) {
      try {
        await cluster.startAgent(opts);
      } catch (err) {
        await cluster.stop();
        throw err;
      }
    }
    return cluster;
  }

  private async startAgent(opts: ClusterOptions): Promise<void> {
    const agentDir = join(this.dir, 'agent');
    mkdirSync(agentDir);
    this.agent = spawnNode(
      'agent',
      [HANDOFF, 'agent'],
      {
        HANDOFF_HUB_URL: this.url,
        HANDOFF_WORKER_TOKEN: this.tokens.mintWorker('bench-worker'),
        HANDOFF_DATA_DIR: agentDir,
        HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: String(opts.capacity ?? 4),
      },
      opts.agentNodeArgs,
    );
    // ready = it claimed and finished a run
    const run = await this.createRun(['true']);
    await this.waitRun(run.id, ['succeeded', 'failed'], 120_000);
  }

  get hubPid(): number {
    return this.hub.pid;
  }

  get agentPid(): number | undefined {
    return this.agent?.pid;
  }

  async api<T>(method: string, path: string, body?: unknown, token = this.operatorToken): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = method === 'HEAD' ? '' : await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed as T };
  }

  /** A counter or gauge of the hub's /metrics (0 when absent). */
  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : 0;
  }

  async createRun(steps: string[]): Promise<TaskRunDto> {
    const res = await this.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', { steps, liveSession: true });
    if (res.status !== 201) throw new Error(`creating a run failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.taskRun;
  }

  async getRun(runId: string): Promise<TaskRunDto> {
    const res = await this.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${runId}`);
    if (res.status !== 200) throw new Error(`reading run ${runId} failed: ${res.status}`);
    return res.body.taskRun;
  }

  async waitRun(runId: string, statuses: TaskRunStatus[], timeoutMs = 60_000): Promise<TaskRunDto> {
    return waitFor(
      `run ${runId} to be ${statuses.join('|')}`,
      async () => {
        this.assertAlive();
        const run = await this.getRun(runId);
        return statuses.includes(run.status) ? run : undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** Waits until the run's live session is ready (the agent streams its panes). */
  async waitLive(runId: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `run ${runId}'s live session to be ready`,
      async () => {
        this.assertAlive();
        const run = await this.getRun(runId);
        if (run.status !== 'queued' && run.status !== 'running') throw new Error(`run ${runId} is ${run.status}`);
        return run.status === 'running' && run.liveSession?.status === 'ready' ? true : undefined;
      },
      timeoutMs,
      25,
    );
  }

  async grantWrite(runId: string): Promise<string> {
    const res = await this.api<GrantWriteResult>('POST', `/api/task-runs/${runId}/live-session/grant-write`, { ttlMinutes: 60 });
    if (res.status !== 200) throw new Error(`grant-write failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.grantToken;
  }

  async cancel(runId: string): Promise<void> {
    await this.api('POST', `/api/task-runs/${runId}/cancel`, {});
  }

  /** After a run: waits until it is over and its recording was uploaded (so that upload does not
   * overlap the next measurement). */
  async settle(runId: string, timeoutMs = 120_000): Promise<void> {
    await this.waitRun(runId, ['succeeded', 'failed', 'cancelled'], timeoutMs);
    await waitFor(
      `run ${runId}'s recording`,
      async () => ((await this.api('HEAD', `/api/task-runs/${runId}/recording`)).status === 200 ? true : undefined),
      timeoutMs,
      100,
    ).catch(() => undefined);
    // The agent then uploads its own copy of the recording, which the hub parses and stores (and
    // drops when the live one is as long): the recording is there before that ends, so wait for
    // hub and agent to be idle, or that work lands in the next measurement's CPU and MB/s.
    await this.quiesce();
  }

  /** Resolves once the hub and the agent each used under 5 % of a core over 250 ms (at most `timeoutMs`). */
  async quiesce(timeoutMs = 30_000): Promise<void> {
    const pids = [this.hubPid, this.agentPid].filter((p): p is number => p !== undefined);
    const deadline = Date.now() + timeoutMs;
    let before = pids.map(cpuSeconds);
    while (Date.now() < deadline) {
      await sleep(250);
      const now = pids.map(cpuSeconds);
      const busiest = Math.max(...now.map((c, i) => c - (before[i] as number)));
      before = now;
      if (!(busiest > 0.0125)) return;
    }
  }

  assertAlive(): void {
    for (const p of [this.hub, this.agent]) {
      if (p && p.child.exitCode !== null && !this.stopped) throw new Error(`${p.name} exited with ${p.child.exitCode}:\n${p.tail.join('\n')}`);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.agent) {
      // SIGTERM lets runs finish; a second one leaves at once
      this.agent.child.kill('SIGTERM');
      await Promise.race([this.agent.exited, sleep(3000)]);
      await stopProcess(this.agent, 5000);
    }
    await stopProcess(this.hub);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
