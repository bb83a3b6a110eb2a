/**
 * The operator's shell pane during a takeover: an interactive bash in the run's workspace with
 * the run's environment, in its own pty beside the task's pane.
 */
import { Pty } from './pty.ts';
import type { StepLauncher } from './stepSandbox.ts';

export class OperatorShell {
  private readonly term: Pty;

  /** `launcher`/`expose`: the same sandbox and user as the run's steps (the shell is as trusted as they are). */
  constructor(opts: { cwd: string; env: Record<string, string | undefined>; cols: number; rows: number; onData: (chunk: Buffer) => void; onExit: () => void; launcher?: StepLauncher; expose?: string[] }) {
    const shell = ['bash', '--noprofile', '--norc', '-i'];
    const launch = opts.launcher?.command(shell, opts.expose ?? [opts.cwd]) ?? { file: 'bash', args: shell.slice(1) };
    const user = opts.launcher?.user;
    this.term = new Pty({
      file: launch.file,
      args: launch.args,
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: { ...opts.env, PS1: '[operator] \\w \\$ ' },
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    this.term.onData(opts.onData);
    void this.term.exited.then(opts.onExit);
  }

  get pid(): number {
    return this.term.pid;
  }

  write(data: string | Buffer): void {
    this.term.write(data);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }

  pauseOutput(): void {
    this.term.pauseOutput();
  }

  resumeOutput(): void {
    this.term.resumeOutput();
  }

  /** Ends the shell and everything started from it. */
  async close(graceMs = 500): Promise<void> {
    await this.term.reap(graceMs);
  }
}
