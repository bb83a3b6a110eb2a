/**
 * A real worker agent for end-to-end tests: startAgent() against a test hub, in a temporary
 * data folder, with its log lines collected in memory; plus small REST helpers to create a
 * run and wait for it (or its live session) to reach a status, each with a deadline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { SessionStatus, TaskRunStatus } from '../../common/statuses.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { startAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/agentConfig.ts';
import type { TestHub } from './testHub.ts';
import { waitUntil } from './wait.ts';

export interface TestAgent {
  agent: RunningAgent;
  workerId: string;
  dataDir: string;
  logs: string[];
  /** Resolves once the agent's hello was accepted (it can claim runs). */
  ready(timeoutMs?: number): Promise<void>;
  /** Cancels what still runs (by default), waits for the runs to finish, disconnects, deletes the data folder. */
  close(opts?: { cancelRuns?: boolean }): Promise<void>;
}

export interface TestAgentOptions {
  workerId?: string;
  /** Extra agent environment (e.g. HANDOFF_AGENT_FAULTS). */
  env?: Record<string, string>;
}

export function startTestAgent(hub: TestHub, opts: TestAgentOptions = {}): TestAgent {
  const workerId = opts.workerId ?? 'w1';
  const dataDir = mkdtempSync(join(tmpdir(), 'handoff-agent-'));
  const logs: string[] = [];
  const config = loadAgentConfig({
    HANDOFF_HUB_URL: hub.url,
    HANDOFF_WORKER_TOKEN: hub.workerToken(workerId),
    HANDOFF_DATA_DIR: dataDir,
    HANDOFF_HEARTBEAT_SECONDS: '1',
    ...opts.env,
  });
  const agent = startAgent(config, (m) => logs.push(m));
  let closed = false;
  return {
    agent,
    workerId,
    dataDir,
    logs,
    async ready(timeoutMs = 10_000) {
      await waitUntil('the agent to be connected', () => (agent.link.isReady ? true : undefined), timeoutMs);
    },
    async close(o = { cancelRuns: true }) {
      if (closed) return;
      closed = true;
      await agent.close({ cancelRuns: o.cancelRuns ?? true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a task run over REST (operator token) and returns it. */
export async function createRun(hub: TestHub, steps: string[], extra: Record<string, unknown> = {}): Promise<TaskRunDto> {
  const res = await hub.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', hub.token('operator'), { steps, ...extra });
  if (res.status !== 201) throw new Error(`creating a run failed: ${res.status} ${res.text}`);
  return res.body.taskRun;
}

export async function getRun(hub: TestHub, runId: string): Promise<TaskRunDto> {
  const res = await hub.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${runId}`, hub.token('viewer'));
  if (res.status !== 200) throw new Error(`reading run ${runId} failed: ${res.status} ${res.text}`);
  return res.body.taskRun;
}

export async function waitForRunStatus(hub: TestHub, runId: string, statuses: TaskRunStatus[], timeoutMs = 20_000): Promise<TaskRunDto> {
  return waitUntil(
    `run ${runId} to be ${statuses.join('|')}`,
    async () => {
      const run = await getRun(hub, runId);
      return statuses.includes(run.status) ? run : undefined;
    },
    timeoutMs,
    50,
  );
}

export async function waitForSessionStatus(hub: TestHub, runId: string, statuses: SessionStatus[], timeoutMs = 10_000): Promise<LiveSessionDto> {
  return waitUntil(
    `run ${runId}'s session to be ${statuses.join('|')}`,
    async () => {
      const res = await hub.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${runId}/live-session`, hub.token('viewer'));
      return res.status === 200 && statuses.includes(res.body.session.status) ? res.body.session : undefined;
    },
    timeoutMs,
    25,
  );
}
