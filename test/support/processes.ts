/**
 * Real processes for fault tests: `handoff agent` and `handoff dev` as child processes (so they
 * can be SIGKILLed and restarted; `handoff hub` is started through startTestHub in testHub.ts),
 * a TCP proxy to cut a link (agent ↔ hub, hub ↔ PostgreSQL) without touching the machine's
 * servers, and small REST / token helpers that work without an in-process hub.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as ioClient } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { TokenService } from '../../hub/auth/tokens.ts';
import { TEST_JWT_SECRET } from './testSecrets.ts';
import { workerToken } from './rest.ts';
import { sleep, waitUntil } from './wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'handoff.js');

/** Tokens signed with the test secret (the secret every spawned hub is given). */
export const testTokens = new TokenService(TEST_JWT_SECRET);
// The REST client and run reads live in rest.ts; re-exported for the suites that start processes.
export { createRunAt, eventsAt, getRunAt, operatorToken, rest, waitRunAt, waitSessionAt, workerToken } from './rest.ts';

/** Every child still alive, killed when the test process leaves whatever happened. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** A port that was free a moment ago (for a hub that must come back on the same port). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The environment of a child: the parent's, minus every HANDOFF_* variable, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HANDOFF_')) out[k] = v;
  return { ...out, ...env };
}

export interface ChildHandle {
  proc: ChildProcess;
  pid: number;
  /** stdout and stderr lines, in arrival order. */
  logs: string[];
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** Sends a signal and waits for the exit (SIGKILL after `graceMs` if still alive). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** Resident set size of the process, in bytes (Linux /proc). */
  rss(): number;
}

/** Starts `handoff ARGS` with the parent's environment minus HANDOFF_*, plus `env`. */
export function startChild(args: string[], env: Record<string, string>, name: string, cwd = ROOT): ChildHandle {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const logs: string[] = [];
  let exitedFlag = false;
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let carry = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (s: string) => {
      const parts = (carry + s).split('\n');
      carry = parts.pop() ?? '';
      for (const line of parts) {
        logs.push(line);
        if (logs.length > 5000) logs.splice(0, 1000);
        if (process.env.HANDOFF_TEST_CHILD_LOGS) process.stderr.write(`[${name} ${proc.pid}] ${line}\n`);
      }
    });
  };
  collect(proc.stdout);
  collect(proc.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitedFlag = true;
      children.delete(proc);
      resolve({ code, signal });
    });
  });
  const handle: ChildHandle = {
    proc,
    pid: proc.pid as number,
    logs,
    exited,
    alive: () => !exitedFlag,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (exitedFlag) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    rss() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    },
  };
  return handle;
}

export interface DevProcess extends ChildHandle {
  url: string;
  /** The admin token of the sign-in link `handoff dev` prints. */
  adminToken: string;
}

/**
 * `handoff dev` as the README starts it: no HANDOFF_* settings but a port, in `cwd`, so the
 * embedded store lives in the default data folder `cwd/.data`.
 */
export async function spawnDev(cwd: string, env: Record<string, string> = {}): Promise<DevProcess> {
  const port = await freePort();
  const child = startChild(['dev'], { HANDOFF_PORT: String(port), ...env }, 'dev', cwd);
  const found = await waitUntil(
    'handoff dev to print where to look',
    () => {
      if (!child.alive()) throw new Error(`handoff dev exited:\n${child.logs.slice(-30).join('\n')}`);
      const line = child.logs.find((l) => l.includes('/signin#token='));
      const m = line ? /(http:\/\/\S+)\/signin#token=(\S+)/.exec(line) : null;
      return m ? { url: m[1] as string, adminToken: m[2] as string } : undefined;
    },
    60_000,
  ).catch(async (err: unknown) => {
    await child.stop('SIGKILL');
    throw err;
  });
  return { ...child, ...found };
}

export interface AgentProcess extends ChildHandle {
  workerId: string;
  dataDir: string;
}

export interface AgentProcessOptions {
  hubUrl: string;
  workerId: string;
  dataDir?: string;
  env?: Record<string, string>;
}

/** Starts `handoff agent` against `hubUrl` (a worker token for `workerId`, heartbeat 1 s). */
export function spawnAgent(opts: AgentProcessOptions): AgentProcess {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'handoff-fault-agent-'));
  const child = startChild(
    ['agent'],
    {
      HANDOFF_HUB_URL: opts.hubUrl,
      HANDOFF_WORKER_TOKEN: workerToken(opts.workerId),
      HANDOFF_DATA_DIR: dataDir,
      HANDOFF_HEARTBEAT_SECONDS: '1',
      NODE_ENV: 'test',
      ...opts.env,
    },
    `agent ${opts.workerId}`,
  );
  return { ...child, workerId: opts.workerId, dataDir };
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/**
 * A TCP proxy on loopback: every connection to `port` is piped to `target`. `cut()` resets
 * every open connection and stops listening (new connections are refused, like a server that
 * is down); `restore()` listens again on the same port. `blackhole()` keeps connections open
 * but silently stops forwarding (a partition no one notices until a timeout).
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private holes = false;
  port = 0;
  connections = 0;

  private constructor(private readonly targetPort: number, private readonly targetHost: string) {}

  static async start(targetPort: number, targetHost = '127.0.0.1', port = 0): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort, targetHost);
    await p.listen(port);
    return p;
  }

  get isUp(): boolean {
    return this.server !== null && !this.holes;
  }

  private async listen(port: number): Promise<void> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.holes) this.hold(pair);
  }

  private hold([a, b]: [net.Socket, net.Socket]): void {
    a.unpipe(b);
    b.unpipe(a);
    a.pause();
    b.pause();
  }

  /** Resets every connection and refuses new ones until restore(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
    this.holes = false;
    await closed;
  }

  /** Connections stay open but carry nothing (data waits in the sockets' buffers). */
  blackhole(): void {
    this.holes = true;
    for (const p of this.pairs) this.hold(p);
  }

  async restore(): Promise<void> {
    if (this.holes) {
      this.holes = false;
      for (const [a, b] of this.pairs) {
        a.pipe(b);
        b.pipe(a);
        a.resume();
        b.resume();
      }
    }
    if (!this.server) await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.cut();
  }
}

/** Processes whose command line contains `marker` (pgrep -f), excluding pgrep itself. */
export async function processesMatching(marker: string): Promise<number[]> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('pgrep', ['-f', marker], (err, stdout) => {
      if (err) return resolve([]); // exit 1: none
      resolve(
        stdout
          .split('\n')
          .map((s) => Number(s.trim()))
          .filter((n) => n > 0 && n !== process.pid),
      );
    });
  });
}

/** SIGKILLs every process whose command line contains `marker` (a step a test left behind). */
export async function killMatching(marker: string): Promise<void> {
  for (const pid of await processesMatching(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

/**
 * Tears down what a test spawned, whatever state it left: each agent with its own signal, then
 * the hub (its close(): the database and data folder it made go with it), the agents' data
 * folders and `dirs`, every process naming a marker, then `db` (a database the test made itself).
 */
export async function stopDeployment(d: { agents?: Array<[AgentProcess | null | undefined, NodeJS.Signals]>; hub?: { close(): Promise<void> } | null; dirs?: string[]; markers?: string[]; db?: { drop(): Promise<void> } | null }): Promise<void> {
  for (const [agent, signal] of d.agents ?? []) await agent?.stop(signal);
  await d.hub?.close();
  for (const [agent] of d.agents ?? []) removeDir(agent?.dataDir);
  for (const dir of d.dirs ?? []) removeDir(dir);
  for (const m of d.markers ?? []) await killMatching(m);
  await d.db?.drop();
}

/** Waits until `url`/healthz answers 200 (or fails after timeoutMs). */
export async function waitHealthy(url: string, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    `${url} to be healthy`,
    async () => {
      try {
        const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        return r.status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
    100,
  );
}

export { sleep };


/** A bare Socket.IO client on a namespace (no reconnection), resolved once connected. */
export async function connectSocket(url: string, namespace: string, auth: Record<string, unknown>, timeoutMs = 5000): Promise<Socket> {
  const s = ioClient(`${url}${namespace}`, { path: '/socket.io', transports: ['websocket'], auth, reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`connect to ${namespace} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
    s.once('connect_error', (err) => {
      clearTimeout(t);
      s.close();
      reject(err);
    });
  });
  return s;
}
