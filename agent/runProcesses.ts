/**
 * Finding and ending every process a run started (architecture §7a "no orphans"), also those
 * that left the pty's session (`setsid`, a double fork) or ignore its hang-up (`nohup`,
 * `trap '' HUP`). Each run's steps and operator shell carry HANDOFF_RUN_MARKER=<marker> in
 * their environment, and children inherit it; /proc/<pid>/environ is the environment a process
 * started with, so the marker is there for the whole tree.
 *
 * The marker is `<agent process prefix>.<run id>`: at a run's end the agent ends that run's
 * processes; the watchdog (runWatchdog.ts) ends every process with this agent process's prefix
 * once the agent is gone. A step that scrubs the marker from a child's environment on purpose
 * escapes this scan — the sandbox's pid namespace (stepSandbox.ts) is what holds then.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const RUN_MARKER_VAR = 'HANDOFF_RUN_MARKER';

/** This agent process's prefix: the watchdog's scan never touches another agent's runs. */
export const MARKER_PREFIX = `handoff-${randomBytes(9).toString('base64url')}`;

export function runMarker(runId: string): string {
  return `${MARKER_PREFIX}.${runId}`;
}

/**
 * Live processes whose environment holds `HANDOFF_RUN_MARKER=<marker>` exactly, or (with
 * `prefix`) a marker starting with it. Linux only: elsewhere none are found.
 */
export function markedProcesses(marker: string, prefix = false): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const needle = Buffer.from(`${RUN_MARKER_VAR}=${marker}${prefix ? '' : '\0'}`);
  const out: number[] = [];
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57 || Number(e) === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${e}/environ`);
    } catch {
      continue; // gone, or not ours to read
    }
    const at = env.indexOf(needle);
    // a whole variable: at the start, or just after the previous one's NUL
    if (at === 0 || (at > 0 && env[at - 1] === 0)) {
      if (!isZombie(e)) out.push(Number(e));
    }
  }
  return out;
}

function isZombie(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

/**
 * Ends the run's remaining processes: SIGTERM (with SIGCONT, for stopped ones), up to `graceMs`
 * for them to go, then rounds of SIGSTOP + SIGKILL (stopped first, so none forks a new one
 * between the scan and the kill) until none is left or 3 s passed. Returns how many it found.
 */
export async function endMarkedProcesses(marker: string, graceMs = 1000): Promise<number> {
  const first = markedProcesses(marker);
  if (first.length === 0) return 0;
  signal(first, 'SIGCONT');
  signal(first, 'SIGTERM');
  const graceEnd = Date.now() + graceMs;
  while (Date.now() < graceEnd && markedProcesses(marker).length) await new Promise((r) => setTimeout(r, 25));
  const hardEnd = Date.now() + 3000;
  for (let left = markedProcesses(marker); left.length && Date.now() < hardEnd; left = markedProcesses(marker)) {
    signal(left, 'SIGSTOP');
    signal(left, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 25));
  }
  return first.length;
}
