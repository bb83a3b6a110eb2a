/**
 * The agent's one owner of pseudo-terminals (architecture §6): the task's step driver and the
 * operator's shell are both a `Pty`. It builds the child's environment, spawns through
 * node-pty (raw bytes, never strings), and signals and reaps everything the pty's session
 * started. Nothing else in the agent touches node-pty.
 */
import { spawn } from 'node-pty';
import type { IEvent, IPty } from 'node-pty';
import { sessionProcesses, signalSession } from './processTree.ts';
import { inheritedEnvironment } from './stepEnvironment.ts';

export interface PtyOptions {
  file: string;
  args: string[];
  cwd: string;
  /** Merged over the agent's environment less its HANDOFF_* settings; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  cols: number;
  rows: number;
  /** Run the child as this user (the agent must be root): HANDOFF_STEP_UID. */
  uid?: number;
  gid?: number;
}

export interface PtyExit {
  exitCode: number;
  signal: number | undefined;
}

/**
 * The environment of a pty's child: the agent's own without its settings (stepEnvironment.ts),
 * with `extra` merged over it. node-pty passes any value through as text, so unset variables
 * are left out rather than given as `undefined`.
 */
export function ptyEnvironment(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env = inheritedEnvironment();
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export class Pty {
  private readonly term: IPty;
  private exitedFlag = false;
  /** Resolves when the pty's first process (the session leader) has exited. */
  readonly exited: Promise<PtyExit>;

  constructor(opts: PtyOptions) {
    this.term = spawn(opts.file, opts.args, {
      name: 'xterm-256color',
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: ptyEnvironment(opts.env),
      ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid }),
      // raw bytes: never split UTF-8 sequences into strings (node-pty then emits Buffers,
      // although its typings still say string)
      encoding: null,
    });
    this.exited = new Promise((resolve) =>
      this.term.onExit((e) => {
        this.exitedFlag = true;
        resolve({ exitCode: e.exitCode, signal: e.signal });
      }),
    );
  }

  /** pid of the pty's first process (= its process group and session id). */
  get pid(): number {
    return this.term.pid;
  }

  get hasExited(): boolean {
    return this.exitedFlag;
  }

  onData(fn: (chunk: Buffer) => void): void {
    (this.term.onData as unknown as IEvent<Buffer>)(fn);
  }

  write(data: string | Buffer): void {
    if (!this.exitedFlag) this.term.write(data);
  }

  resize(cols: number, rows: number): void {
    if (!this.exitedFlag) this.term.resize(cols, rows);
  }

  /** Flow control: stop / restart reading the pty (its writers block on a full buffer meanwhile). */
  pauseOutput(): void {
    if (!this.exitedFlag) this.term.pause();
  }

  resumeOutput(): void {
    if (!this.exitedFlag) this.term.resume();
  }

  /** Signals the pty's process group and every other process left in its session. */
  signalAll(sig: NodeJS.Signals): void {
    signalSession(this.term.pid, sig);
  }

  /** Whether any process of the pty's session or group is still alive. */
  hasProcesses(): boolean {
    const procs = sessionProcesses(this.term.pid);
    if (procs) return procs.length > 0;
    try {
      process.kill(-this.term.pid, 0); // no /proc: ask the process group
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ends whatever is left of the pty's session: SIGCONT + SIGHUP + SIGTERM, then SIGKILL once
   * `graceMs` passed, for at most 3 s more; then the pty itself, if still open.
   */
  async reap(graceMs: number): Promise<void> {
    const graceEnd = Date.now() + graceMs;
    const hardEnd = graceEnd + 3000;
    let termSent = false;
    while (this.hasProcesses()) {
      const now = Date.now();
      if (now >= hardEnd) break;
      if (now >= graceEnd) this.signalAll('SIGKILL');
      else if (!termSent) {
        this.signalAll('SIGCONT');
        this.signalAll('SIGHUP');
        this.signalAll('SIGTERM');
        termSent = true;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    if (this.exitedFlag) return;
    this.kill();
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 1000))]);
  }

  /** SIGKILL to the pty's first process. */
  kill(): void {
    if (this.exitedFlag) return;
    try {
      this.term.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}
