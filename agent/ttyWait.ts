/**
 * Whether a pty's foreground job is blocked reading the terminal — a run that waits for a person
 * (`read -p 'Password: '`, a confirmation prompt, an editor). Read from Linux's /proc, never
 * guessed from the text on the screen: the terminal's foreground process group (`tpgid` of the
 * session leader) has a process in a `read` system call on a descriptor that is the pty itself.
 * Elsewhere (or without permission to look) the answer is always false.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** System call numbers that read one descriptor (its number is the first argument). */
const READ_SYSCALLS: Record<string, ReadonlySet<number>> = {
  x64: new Set([0, 17, 19]), // read, pread64, readv
  arm64: new Set([63, 65, 67]), // read, readv, pread64
};

function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields resume after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function readsFrom(pid: string, reads: ReadonlySet<number>): string | null {
  try {
    const [nr, fd] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
    if (!reads.has(Number(nr))) return null;
    return readlinkSync(`/proc/${pid}/fd/${Number(fd)}`);
  } catch {
    return null;
  }
}

/** `leaderPid`: the pty's first process (its session leader; its stdin is the pty). */
export function waitingForTerminalInput(leaderPid: number): boolean {
  const reads = READ_SYSCALLS[process.arch];
  if (process.platform !== 'linux' || !reads) return false;
  const leader = statFields(leaderPid);
  if (!leader) return false;
  // after the ')' : state(0) ppid(1) pgrp(2) session(3) tty_nr(4) tpgid(5)
  const tpgid = leader[5];
  if (!tpgid || tpgid === '-1') return false;
  let tty: string;
  try {
    tty = readlinkSync(`/proc/${leaderPid}/fd/0`);
  } catch {
    return false;
  }
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => d.charCodeAt(0) >= 48 && d.charCodeAt(0) <= 57);
  } catch {
    return false;
  }
  for (const pid of pids) {
    const f = statFields(pid);
    // in the foreground group, of this terminal's session, sleeping in a read of the terminal
    if (!f || f[2] !== tpgid || f[3] !== String(leaderPid) || f[0] !== 'S') continue;
    if (readsFrom(pid, reads) === tty) return true;
  }
  return false;
}
