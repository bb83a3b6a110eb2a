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
import type { HubHandle } from './testHub.ts';
import { createRunAt, getRunAt, waitRunAt, waitSessionAt } from './rest.ts';
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

export function startTestAgent(hub: HubHandle, opts: TestAgentOptions = {}): TestAgent {
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

// The run reads of the in-process suites: the same REST client as every suite (rest.ts).
export const createRun = (hub: HubHandle, steps: string[], extra: Record<string, unknown> = {}): Promise<TaskRunDto> => createRunAt(hub.url, steps, extra);
export const getRun = (hub: HubHandle, runId: string): Promise<TaskRunDto> => getRunAt(hub.url, runId);
export const waitForRunStatus = (hub: HubHandle, runId: string, statuses: TaskRunStatus[], timeoutMs = 20_000): Promise<TaskRunDto> => waitRunAt(hub.url, runId, statuses, timeoutMs);
export const waitForSessionStatus = (hub: HubHandle, runId: string, statuses: SessionStatus[], timeoutMs = 10_000): Promise<LiveSessionDto> => waitSessionAt(hub.url, runId, statuses, timeoutMs);
