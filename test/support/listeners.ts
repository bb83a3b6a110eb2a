/**
 * What a local attacker sees of a process (Linux /proc): the TCP ports it listens on, and the
 * modes of the files it keeps.
 */
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Socket inodes among the open files of `pid`. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/** Every TCP port (IPv4 and IPv6) that `pid` holds a listening socket on. */
export function listeningTcpPorts(pid: number): number[] {
  const mine = socketInodes(pid);
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT, st 0A is LISTEN, inode is field 9.
      if (f.length < 10 || f[3] !== '0A' || !mine.has(f[9] as string)) continue;
      ports.add(parseInt((f[1] as string).split(':')[1] as string, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** Paths of the listening Unix sockets that `pid` holds. */
export function listeningUnixSockets(pid: number): string[] {
  const mine = socketInodes(pid);
  const out: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 00010000 is __SO_ACCEPTCON (listening); inode is field 6, the path field 7.
    if (f.length >= 8 && f[3] === '00010000' && mine.has(f[6] as string)) out.push(f[7] as string);
  }
  return out;
}

/** Files and folders under `dir` whose mode lets anyone but the owner in (path → octal mode). */
export function openToOthers(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    const st = statSync(path);
    if (st.mode & 0o077) out[path] = (st.mode & 0o777).toString(8);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return out;
}
