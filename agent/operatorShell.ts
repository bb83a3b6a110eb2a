/**
 * The operator's shell pane during a takeover: an interactive bash in the run's workspace with
 * the run's environment, in its own pty beside the task's pane.
 */
import { Pty } from './pty.ts';

export class OperatorShell {
  private readonly term: Pty;

  constructor(opts: { cwd: string; env: Record<string, string | undefined>; cols: number; rows: number; onData: (chunk: Buffer) => void; onExit: () => void }) {
    this.term = new Pty({
      file: 'bash',
      args: ['--noprofile', '--norc', '-i'],
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: { ...opts.env, PS1: '[operator] \\w \\$ ' },
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
