/**
 * The operator's shell pane during a takeover: an interactive bash in the run's workspace with
 * the run's environment, in its own pty beside the task's pane.
 */
import { spawn } from 'node-pty';
import type { IEvent, IPty } from 'node-pty';
import { sessionProcesses, signalSession } from './processTree.ts';

export class OperatorShell {
  private readonly term: IPty;
  private exited = false;
  private readonly exitedPromise: Promise<void>;

  constructor(opts: { cwd: string; env: Record<string, string | undefined>; cols: number; rows: number; onData: (chunk: Buffer) => void; onExit: () => void }) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined && k !== 'COLUMNS' && k !== 'LINES') env[k] = v;
    env['PS1'] = '[operator] \\w \\$ ';
    this.term = spawn('bash', ['--noprofile', '--norc', '-i'], { name: 'xterm-256color', cols: opts.cols, rows: opts.rows, cwd: opts.cwd, env, encoding: null });
    // node-pty emits Buffers with encoding null; its typings still say string
    (this.term.onData as unknown as IEvent<Buffer>)(opts.onData);
    this.exitedPromise = new Promise((resolve) =>
      this.term.onExit(() => {
        this.exited = true;
        opts.onExit();
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.term.pid;
  }

  write(data: string | Buffer): void {
    if (!this.exited) this.term.write(data);
  }

  resize(cols: number, rows: number): void {
    if (!this.exited) this.term.resize(cols, rows);
  }

  pauseOutput(): void {
    if (!this.exited) this.term.pause();
  }

  resumeOutput(): void {
    if (!this.exited) this.term.resume();
  }

  /** Ends the shell and everything started from it. */
  async close(graceMs = 500): Promise<void> {
    const pid = this.term.pid;
    if (!this.exited) signalSession(pid, 'SIGHUP');
    const deadline = Date.now() + graceMs;
    while ((sessionProcesses(pid)?.length ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if ((sessionProcesses(pid)?.length ?? 0) > 0) signalSession(pid, 'SIGKILL');
    if (!this.exited) {
      try {
        this.term.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    await Promise.race([this.exitedPromise, new Promise((r) => setTimeout(r, 1000))]);
  }
}
