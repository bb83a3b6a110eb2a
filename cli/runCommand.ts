/** `handoff run [--rw] -- CMD…`: creates a task run of one shell command and attaches to it (architecture §8a). */
import { parseArgs } from 'node:util';
import type { TaskRunDto } from '../common/api.ts';
import { obtainGrant } from './attachCommand.ts';
import { clientEnv, HubClient, HubError } from './hubClient.ts';
import { attachTerminal } from './terminalAttach.ts';
import { UsageError } from './usageError.ts';

/** How long `--rw` waits for the session to become ready (the run may queue for a worker). */
const READY_WAIT_MS = 120_000;
/** How long to wait for the run's result after its session ended. */
const RESULT_WAIT_MS = 15_000;
const RECORDING_WAIT_MS = 5_000;
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { rw: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  if (positionals.length === 0) throw new UsageError('usage: handoff run [--rw] -- CMD…');
  const command = positionals.join(' ');
  const env = clientEnv();
  const hub = new HubClient(env);
  const created = await hub.createRun([command]);
  process.stderr.write(`handoff: run ${created.id}\n`);

  let grant: string | null = null;
  if (values.rw) {
    // a write grant needs a ready session
    if (!(await waitUntilReady(hub, created.id))) return 1;
    grant = await obtainGrant(hub, created.id);
    if (!grant) return 1;
  }
  const outcome = await attachTerminal({ ...env, runId: created.id, grant });
  if (outcome.kind === 'detached') {
    process.stderr.write(`handoff: run ${created.id} goes on; attach again with: handoff attach ${created.id}\n`);
    return 0;
  }
  if (outcome.kind === 'failed') return 1;
  const finished = await waitForResult(hub, created.id);
  // the run was over before this terminal joined it: show what it printed from its recording
  if (!outcome.sawOutput && finished) await printRecording(hub, created.id);
  if (!finished) {
    process.stderr.write(`handoff: run ${created.id} has not finished yet (its live session ended)\n`);
    return 0;
  }
  process.stderr.write(`handoff: run ${created.id} ${finished.status}${finished.exitCode !== null ? ` (exit code ${finished.exitCode})` : ''}\n`);
  if (finished.exitCode !== null) return finished.exitCode;
  return finished.status === 'succeeded' ? 0 : 1;
}

async function waitUntilReady(hub: HubClient, runId: string): Promise<boolean> {
  const deadline = Date.now() + READY_WAIT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const session = await hub.getSession(runId).catch((err: unknown) => {
      if (err instanceof HubError && err.status === 404) return null;
      throw err;
    });
    const status = session?.status ?? 'none';
    if (status === 'ready') return true;
    if (status === 'ended' || status === 'revoked' || status === 'error') {
      process.stderr.write(`handoff run: the live session of run ${runId} is ${status}${session?.errorMessage ? `: ${session.errorMessage}` : ''}\n`);
      return false;
    }
    if (status !== last) {
      last = status;
      process.stderr.write(`handoff: waiting for the live session (${status})…\n`);
    }
    await sleep(250);
  }
  process.stderr.write(`handoff run: the live session of run ${runId} was not ready within ${READY_WAIT_MS / 1000} s\n`);
  return false;
}

async function waitForResult(hub: HubClient, runId: string): Promise<TaskRunDto | null> {
  const deadline = Date.now() + RESULT_WAIT_MS;
  for (;;) {
    const r = await hub.getRun(runId);
    if (FINISHED.has(r.status)) return r;
    if (Date.now() >= deadline) return null;
    await sleep(250);
  }
}

async function printRecording(hub: HubClient, runId: string): Promise<void> {
  const deadline = Date.now() + RECORDING_WAIT_MS;
  for (;;) {
    try {
      process.stdout.write(await hub.recordedOutput(runId));
      return;
    } catch (err) {
      // the agent uploads the recording just after the run's result
      if (!(err instanceof HubError && err.status === 404) || Date.now() >= deadline) return;
    }
    await sleep(250);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
