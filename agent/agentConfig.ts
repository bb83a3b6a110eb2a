/** Agent configuration from the environment (architecture §8), validated with errors naming the variable. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../common/configError.ts';
import type { SandboxMode, StepUser } from './stepSandbox.ts';
import { isWithin, parseStepUser } from './stepSandbox.ts';

export interface AgentConfig {
  hubUrl: string;
  workerToken: string;
  workerId: string;
  hostname: string;
  capacity: number;
  heartbeatSeconds: number;
  /**
   * The run lease L (fencing, architecture §7a): after L seconds without an acknowledged
   * heartbeat the agent kills its runs. The hub announces its own in the hello (under its
   * requeue policy); the shorter of the two holds. Unset: the hub's alone.
   */
  runLeaseSeconds: number | undefined;
  dataDir: string;
  /** Where each run's artifact folder goes (`<artifactsDir>/<run id>`); never inside a hub's data folder. */
  artifactsDir: string;
  /** HANDOFF_WORKER_TOKEN_FILE, when the token came from a file (hidden from the steps too). */
  workerTokenFile: string | undefined;
  /** How steps are isolated (stepSandbox.ts): the sandbox, what it hides, the user they run as. */
  stepSandbox: SandboxMode;
  stepHide: string[];
  stepUser: StepUser | undefined;
  /** Said once at start (e.g. a token file others can read). */
  warnings: string[];
  /** Base of the dashboard links given as attach info. */
  publicUrl: string;
  /** Output kept per pane while the hub is away; beyond it, viewers resync from a snapshot. */
  /** A run whose terminal is read with no output for this long is flagged as waiting for a person. */
  inputWaitSeconds: number;
  backlogBytes: number;
  /** On SIGTERM: `finish` the runs in progress, or `handback` them to the queue at once. */
  shutdownPolicy: 'finish' | 'handback';
  /** Fault injection for tests of the headless fallback: `live_layer` makes the live layer fail to start. */
  faults: Set<string>;
}

const int = (min: number, max: number) => z.string().regex(/^\d+$/, 'expected a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

/** The worker id inside a worker token (not verified here: the hub verifies it). */
function workerIdOf(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** What a hub keeps in its data folder (hub/secrets.ts, hub/db): run artifacts never go beside them. */
const HUB_FILES = ['secrets.json', 'pgdata', 'store.lock'];

/**
 * The worker token, from HANDOFF_WORKER_TOKEN or (better: it is then in no process
 * environment) HANDOFF_WORKER_TOKEN_FILE, a file only the agent's user should read.
 */
function readWorkerToken(fromEnv: string | undefined, file: string | undefined, warnings: string[]): string {
  if (fromEnv && file) throw new ConfigError(['HANDOFF_WORKER_TOKEN_FILE: set either it or HANDOFF_WORKER_TOKEN, not both']);
  if (!file) {
    if (!fromEnv) throw new ConfigError(['HANDOFF_WORKER_TOKEN: expected a worker token (handoff token --worker ID), or HANDOFF_WORKER_TOKEN_FILE']);
    return fromEnv;
  }
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
    if ((statSync(file).mode & 0o077) !== 0) warnings.push(`${file} (HANDOFF_WORKER_TOKEN_FILE) can be read by other users: chmod 600 it`);
  } catch (err) {
    throw new ConfigError([`HANDOFF_WORKER_TOKEN_FILE: cannot read ${file}: ${(err as Error).message}`]);
  }
  if (token.length < 10) throw new ConfigError([`HANDOFF_WORKER_TOKEN_FILE: ${file} holds no worker token`]);
  return token;
}

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const schema = z.object({
    HANDOFF_HUB_URL: z.string().url('expected the hub URL, e.g. http://127.0.0.1:8080'),
    HANDOFF_WORKER_TOKEN: z.string().min(10, 'expected a worker token (handoff token --worker ID)').optional(),
    HANDOFF_WORKER_TOKEN_FILE: z.string().min(1).optional(),
    HANDOFF_ARTIFACTS_DIR: z.string().min(1).optional(),
    HANDOFF_STEP_SANDBOX: z.enum(['auto', 'bwrap', 'off']).default('auto'),
    HANDOFF_STEP_HIDE: z.string().optional(),
    HANDOFF_STEP_UID: z.string().optional(),
    HANDOFF_WORKER_ID: z.string().min(1).max(200).optional(),
    HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: int(1, 256).default(2),
    HANDOFF_HEARTBEAT_SECONDS: int(1, 3600).default(10),
    HANDOFF_RUN_LEASE_SECONDS: int(1, 86_400).optional(),
    HANDOFF_DATA_DIR: z.string().min(1).default('.data'),
    HANDOFF_PUBLIC_URL: z.string().url().optional(),
    HANDOFF_AGENT_BACKLOG_BYTES: int(0, 1024 ** 3).default(8 * 1024 * 1024),
    HANDOFF_AGENT_FAULTS: z.string().optional(),
    HANDOFF_AGENT_SHUTDOWN: z.enum(['finish', 'handback']).default('finish'),
    HANDOFF_AGENT_INPUT_WAIT_SECONDS: int(1, 3600).default(3),
  });
  const input: Record<string, string> = {};
  for (const k of Object.keys(schema.shape)) if (env[k]) input[k] = env[k] as string;
  const r = schema.safeParse(input);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`));
  const c = r.data;
  const warnings: string[] = [];
  const workerToken = readWorkerToken(c.HANDOFF_WORKER_TOKEN, c.HANDOFF_WORKER_TOKEN_FILE, warnings);
  const fromToken = workerIdOf(workerToken);
  const workerId = c.HANDOFF_WORKER_ID ?? fromToken;
  if (!workerId) throw new ConfigError(['HANDOFF_WORKER_ID: required (the worker token names no worker)']);
  if (fromToken && fromToken !== workerId) throw new ConfigError([`HANDOFF_WORKER_ID: "${workerId}" differs from the worker token's "${fromToken}"`]);
  const dataDir = resolve(c.HANDOFF_DATA_DIR);
  const artifactsDir = resolve(c.HANDOFF_ARTIFACTS_DIR ?? join(dataDir, 'runs'));
  if (isWithin(artifactsDir, dataDir) && HUB_FILES.some((f) => existsSync(join(dataDir, f)))) {
    throw new ConfigError([`HANDOFF_ARTIFACTS_DIR: ${artifactsDir} is inside ${dataDir}, which holds a hub's secrets and store; give the agent its own HANDOFF_DATA_DIR or set HANDOFF_ARTIFACTS_DIR outside it`]);
  }
  let stepUser: StepUser | undefined;
  if (c.HANDOFF_STEP_UID) {
    const u = parseStepUser(c.HANDOFF_STEP_UID);
    if (!u) throw new ConfigError(['HANDOFF_STEP_UID: expected a numeric uid or uid:gid']);
    if (process.getuid?.() !== 0 && u.uid !== process.getuid?.()) throw new ConfigError(['HANDOFF_STEP_UID: running steps as another user needs an agent running as root']);
    stepUser = u;
  }
  const tokenFile = c.HANDOFF_WORKER_TOKEN_FILE ? resolve(c.HANDOFF_WORKER_TOKEN_FILE) : undefined;
  const extraHide = (c.HANDOFF_STEP_HIDE ?? '').split(':').filter(Boolean).map((p) => resolve(p));
  return {
    hubUrl: c.HANDOFF_HUB_URL.replace(/\/$/, ''),
    workerToken,
    workerTokenFile: tokenFile,
    artifactsDir,
    stepSandbox: c.HANDOFF_STEP_SANDBOX,
    stepHide: [dataDir, ...(tokenFile ? [tokenFile] : []), ...extraHide],
    stepUser,
    warnings,
    workerId,
    hostname: hostname(),
    capacity: c.HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER,
    heartbeatSeconds: c.HANDOFF_HEARTBEAT_SECONDS,
    runLeaseSeconds: c.HANDOFF_RUN_LEASE_SECONDS,
    dataDir,
    publicUrl: (c.HANDOFF_PUBLIC_URL ?? c.HANDOFF_HUB_URL).replace(/\/$/, ''),
    backlogBytes: c.HANDOFF_AGENT_BACKLOG_BYTES,
    shutdownPolicy: c.HANDOFF_AGENT_SHUTDOWN,
    inputWaitSeconds: c.HANDOFF_AGENT_INPUT_WAIT_SECONDS,
    faults: new Set((c.HANDOFF_AGENT_FAULTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)),
  };
}
