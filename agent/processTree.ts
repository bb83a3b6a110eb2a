/** The processes of a pty's session, for signalling and for checking nothing is left behind. */
import fs from 'node:fs';

export /**
 * Live (non-zombie) processes whose session or process group is `sid` (the pty's session
 * leader). Linux only (/proc); returns undefined elsewhere.
 */
function sessionProcesses(sid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // fields after "(comm)": state ppid pgrp session …; comm may contain spaces/parens
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [state, , pgrp, session] = rest;
    if (state === 'Z' || state === 'X') continue;
    if (Number(session) === sid || Number(pgrp) === sid) out.push(Number(e));
  }
  return out;
}

/** Signals the pty's process group and every process left in its session. */
export function signalSession(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* group already gone */
  }
  for (const p of sessionProcesses(pid) ?? []) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}
