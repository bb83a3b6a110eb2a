/**
 * Where task steps run (architecture §7a). Steps are code the hub did not write, run by the
 * agent's user: without help they could read the agent's /proc (its environment, the worker
 * token), the data folder (the hub's secrets and store under `handoff dev`) and any file that
 * user can. Two things keep them out, each the operator's choice (HANDOFF_STEP_SANDBOX,
 * HANDOFF_STEP_UID):
 *
 * - `bwrap` (bubblewrap, Debian's `bubblewrap` package): the step's pty runs
 *   `bwrap --unshare-pid --die-with-parent …`. A new pid namespace with its own /proc shows the
 *   step only its own processes (not the agent's environ), and takes every process of the run
 *   down when the run's first process or the agent dies; the data folder, the worker token file
 *   and HANDOFF_STEP_HIDE are covered (an empty tmpfs over a folder, /dev/null over a file);
 *   the run's artifact folder, its working folder and the driver's control folder stay as they
 *   are. `auto` (the default) uses it when /usr/bin/bwrap works here, else runs steps as before
 *   and says so once.
 * - a step uid (only when the agent runs as root): the steps run as that user, who cannot read
 *   the agent's /proc nor its 0700 data folder at all. With the sandbox too, that is the
 *   strongest setting.
 *
 * Pure argument building (`bwrapArgs`) is separate from probing the platform (`probeBwrap`).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError } from '../common/configError.ts';

export type SandboxMode = 'auto' | 'bwrap' | 'off';

export const DEFAULT_BWRAP = '/usr/bin/bwrap';

/** The user steps run as (HANDOFF_STEP_UID), when not the agent's own. */
export interface StepUser {
  uid: number;
  gid: number;
}

/** How one pty's command is started: the command to spawn, as which user. */
export interface StepLauncher {
  readonly kind: 'bwrap' | 'off';
  readonly user: StepUser | undefined;
  /** The command that runs `command` (file + args); `expose`: folders the step must see and write. */
  command(command: string[], expose: string[]): { file: string; args: string[] };
}

/** A path the step must not see: a folder (covered by an empty tmpfs) or a file (by /dev/null). */
export interface HiddenPath {
  path: string;
  folder: boolean;
}

/** Whether `inner` is `outer` or lies under it. */
export function isWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * bubblewrap's arguments for `command`: the host's file system as it is, a new pid namespace
 * with its own /proc and a private /dev (its console is the pty; /dev/shm 1777), `hide` covered, `expose`
 * bound back where it lies under a hidden folder. Mounts go shortest path first, so a folder
 * exposed inside a hidden one is bound after the tmpfs, and a file hidden inside an exposed
 * folder is covered after the bind; at the same path the hiding wins (an exposed folder that
 * is itself a hidden one stays hidden).
 */
export function bwrapArgs(bwrap: string, command: string[], hide: HiddenPath[], expose: string[]): { file: string; args: string[] } {
  type Mount = { path: string; args: string[]; order: number };
  const mounts: Mount[] = [];
  for (const h of hide) mounts.push({ path: h.path, order: 1, args: h.folder ? ['--tmpfs', h.path] : ['--ro-bind', '/dev/null', h.path] });
  for (const e of expose) {
    // only what a hidden folder covers needs binding back; the rest is there already
    if (hide.some((h) => h.path === e)) continue; // hidden itself: stays hidden
    if (hide.some((h) => h.folder && isWithin(e, h.path))) mounts.push({ path: e, order: 0, args: ['--bind', e, e] });
  }
  mounts.sort((a, b) => a.path.split('/').length - b.path.split('/').length || a.path.length - b.path.length || a.order - b.order);
  const args = [
    '--die-with-parent',
    '--unshare-pid',
    '--bind', '/', '/',
    '--proc', '/proc',
    '--dev', '/dev',
    // a private /dev/shm anyone in the sandbox may write (POSIX semaphores, Python's multiprocessing)
    '--perms', '1777', '--tmpfs', '/dev/shm',
    ...mounts.flatMap((m) => m.args),
    '--',
    ...command,
  ];
  return { file: bwrap, args };
}

/** Whether `bwrap` starts a sandbox like the steps' here (as `user`, when given). */
export function probeBwrap(bwrap: string = DEFAULT_BWRAP, user?: StepUser): boolean {
  const { args } = bwrapArgs(bwrap, ['/bin/sh', '-c', 'exit 0'], [], []);
  const r = spawnSync(bwrap, args, { stdio: 'ignore', timeout: 10_000, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
  return r.status === 0;
}

export interface SandboxSettings {
  mode: SandboxMode;
  bwrapPath?: string;
  /** Folders and files steps must not see (the data folder, the token file, HANDOFF_STEP_HIDE). */
  hide: string[];
  user: StepUser | undefined;
}

/** Raised when HANDOFF_STEP_SANDBOX=bwrap and bubblewrap does not work here (the agent stops, saying so). */
export class SandboxUnavailableError extends ConfigError {}

/**
 * The launcher for `settings`; `probe` says whether bubblewrap works (tests pass their own).
 * `note` hears, once, when `auto` falls back to no sandbox.
 */
export function stepLauncher(settings: SandboxSettings, note: (msg: string) => void = () => undefined, probe: (bwrap: string, user?: StepUser) => boolean = probeBwrap): StepLauncher {
  const bwrap = settings.bwrapPath ?? DEFAULT_BWRAP;
  const user = settings.user;
  const works = settings.mode !== 'off' && probe(bwrap, user);
  if (settings.mode === 'bwrap' && !works) {
    throw new SandboxUnavailableError([`HANDOFF_STEP_SANDBOX: bwrap, but ${bwrap} does not start a sandbox here (install bubblewrap; in a container, allow user namespaces or run the agent as root)`]);
  }
  if (!works) {
    if (settings.mode === 'auto') {
      note(`steps run without a sandbox (${bwrap} is missing or does not work here): a step can read what the agent's user can; install bubblewrap or set HANDOFF_STEP_UID (README "Security model")`);
    }
    return { kind: 'off', user, command: (command) => ({ file: command[0] as string, args: command.slice(1) }) };
  }
  return {
    kind: 'bwrap',
    user,
    command(command, expose) {
      // what exists now: bwrap cannot cover a path that is not there (and must not create it)
      const hide: HiddenPath[] = [];
      for (const p of settings.hide) {
        try {
          hide.push({ path: resolve(p), folder: statSync(p).isDirectory() });
        } catch {
          /* not there: nothing to hide */
        }
      }
      return bwrapArgs(bwrap, command, hide, expose.map((e) => resolve(e)));
    },
  };
}

let cached: { key: string; launcher: StepLauncher } | undefined;

/** One launcher per setting for the process (probing spawns bwrap once, not per run). */
export function sharedStepLauncher(settings: SandboxSettings, note: (msg: string) => void): StepLauncher {
  const key = JSON.stringify(settings);
  if (cached?.key !== key) cached = { key, launcher: stepLauncher(settings, note) };
  return cached.launcher;
}

/** Hands `paths` to the step user (its artifact folder, the driver's control files). */
export function giveToStepUser(paths: string[], user: StepUser | undefined): void {
  if (!user) return;
  for (const p of paths) chownSync(p, user.uid, user.gid);
}

/** HANDOFF_STEP_UID: `uid` or `uid:gid` (the gid defaults to the uid). */
export function parseStepUser(value: string): StepUser | null {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(value);
  if (!m) return null;
  const uid = Number(m[1]);
  return { uid, gid: m[2] === undefined ? uid : Number(m[2]) };
}
