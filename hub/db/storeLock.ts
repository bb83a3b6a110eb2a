/**
 * The embedded store belongs to one process (architecture §7a): before PGlite opens the data
 * folder, the hub takes `<dataDir>/store.lock`, a file that names its pid (and, on Linux, the
 * pid's start time, so a reused pid is not mistaken for the holder). A second process on the same
 * folder refuses at once, naming the folder and the holder; a lock left by a dead process (a
 * `kill -9`) is taken over.
 *
 * The file is created with link(2), which either makes it whole or fails: no reader ever sees a
 * half-written lock. A stale lock is moved aside with rename(2) and checked afterwards, so two
 * processes that both find it stale cannot both believe they took it over.
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'store.lock';
const MAX_TRIES = 8;

interface Holder {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22); null off Linux. */
  startedAt: string | null;
}

/** The embedded data folder is held by another live process. */
export class StoreLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(`the embedded store in ${dataDir} is in use by another handoff process (pid ${holderPid}); stop it, or give this one another HANDOFF_DATA_DIR`);
    this.name = 'StoreLockedError';
  }
}

export interface StoreLock {
  release(): void;
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function readHolder(file: string): Holder | null {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, startedAt: parsed.startedAt ?? null } : { pid: 0, startedAt: null };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { pid: 0, startedAt: null }; // unreadable or garbage: nobody can be holding it
  }
}

function isAlive(holder: Holder): boolean {
  if (holder.pid <= 0) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Alive: the same process only if it started when the lock says (a pid can be reused).
  if (holder.startedAt === null) return true;
  const now = startTimeOf(holder.pid);
  return now === null || now === holder.startedAt;
}

const sameHolder = (a: Holder | null, b: Holder) => a !== null && a.pid === b.pid && a.startedAt === b.startedAt;

export function acquireStoreLock(dataDir: string): StoreLock {
  const file = join(dataDir, LOCK_FILE);
  const me: Holder = { pid: process.pid, startedAt: startTimeOf(process.pid) };
  const draft = join(dataDir, `${LOCK_FILE}.${process.pid}.new`);
  writeFileSync(draft, JSON.stringify(me), { mode: 0o600 });
  try {
    for (let i = 0; i < MAX_TRIES; i++) {
      try {
        linkSync(draft, file);
        return { release: () => releaseIfMine(file, me) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readHolder(file);
      if (holder === null) continue; // released between our link and our read
      if (isAlive(holder)) throw new StoreLockedError(dataDir, holder.pid);
      const aside = join(dataDir, `${LOCK_FILE}.${process.pid}.stale`);
      try {
        renameSync(file, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else moved it
        throw err;
      }
      const moved = readHolder(aside);
      if (!sameHolder(moved, holder)) {
        // Another process took the stale lock over between our read and our rename: what we
        // moved is its live lock. Put it back and let the next round report it as the holder.
        try {
          linkSync(aside, file);
        } catch {
          /* a third process got there: the next round reads whoever holds it now */
        }
      }
      unlinkSync(aside);
    }
    throw new Error(`could not take the lock ${file} after ${MAX_TRIES} tries`);
  } finally {
    unlinkSync(draft);
  }
}

function releaseIfMine(file: string, me: Holder): void {
  if (!sameHolder(readHolder(file), me)) return;
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}
