/**
 * The run watchdog: a small process that outlives the agent (its own session, so a signal to
 * the agent's process group misses it) and, once the agent is gone — SIGKILL, a crash, an exit
 * that skipped the clean-up — ends every process still carrying this agent's run marker
 * (runProcesses.ts). It learns of the agent's death from its stdin, a pipe only the agent
 * holds (EOF when the agent dies, however it dies), and checks the agent's pid each second as
 * a back-stop. A bash loop over /proc, not a second Node.js: a few MB, started once per agent
 * process, before the first run.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { MARKER_PREFIX, RUN_MARKER_VAR } from './runProcesses.ts';

// $1 = the agent's pid, $2 = the marker prefix (letters, digits, - and _ only).
const WATCHDOG_SCRIPT = `
agent=$1 re="^${RUN_MARKER_VAR}=$2\\\\."
while kill -0 "$agent" 2>/dev/null; do
  read -r -t 1 _
  rc=$?
  [ $rc -gt 128 ] && continue   # a second without news: look at the pid again
  [ $rc -eq 0 ] && continue     # a line: nothing to do
  break                         # EOF: the agent's end of the pipe closed, it is gone
done
# Stopped before killed, so none forks a new one between the scan and the kill; repeated until none is left.
for round in $(seq 1 100); do
  pids=$(grep -lzsE "$re" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
  [ -z "$pids" ] && break
  kill -STOP $pids 2>/dev/null
  kill -KILL $pids 2>/dev/null
  sleep 0.05
done
`;

let watchdog: ChildProcess | undefined;

/** Starts this agent process's watchdog, unless it runs already (Linux only: it reads /proc). */
export function ensureRunWatchdog(log: (msg: string) => void): void {
  if (watchdog || process.platform !== 'linux') return;
  const child = spawn('bash', ['--noprofile', '--norc', '-c', WATCHDOG_SCRIPT, 'handoff-run-watchdog', String(process.pid), MARKER_PREFIX], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  watchdog = child;
  child.on('error', (err) => {
    log(`run watchdog could not start: ${err.message} (a killed agent may leave its runs' processes behind)`);
    if (watchdog === child) watchdog = undefined;
  });
  child.on('exit', () => {
    if (watchdog === child) watchdog = undefined;
  });
  // It must not keep the agent alive, nor be ended with it.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
}
