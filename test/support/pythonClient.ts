/**
 * The Python clients of test/python (an agent and a viewer written from docs/protocol.md) as
 * child processes of Debian's /usr/bin/python3, each printing one JSON object a line.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { nextEvent } from './wait.ts';

export const PYTHON = '/usr/bin/python3';
const DIR = fileURLToPath(new URL('../python/', import.meta.url));

/** Why the Python clients cannot run here, or null when they can. */
export function pythonClientsMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import socketio, aiohttp'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is missing`;
  return r.status === 0 ? null : `${PYTHON} lacks socketio / aiohttp (scripts/test-deps.sh installs python3-socketio and python3-aiohttp)`;
}

export type PyEvent = Record<string, unknown> & { event: string };

export class PythonClient {
  readonly events: PyEvent[] = [];
  readonly stderr: string[] = [];
  private readonly emitter = new EventEmitter();
  private readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(script: string, args: string[], env: Record<string, string>) {
    this.proc = spawn(PYTHON, [`${DIR}${script}`, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    let carry = '';
    this.proc.stdout?.setEncoding('utf8');
    this.proc.stdout?.on('data', (s: string) => {
      const lines = (carry + s).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        const e = JSON.parse(line) as PyEvent;
        this.events.push(e);
        this.emitter.emit('line', e);
      }
    });
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (s: string) => this.stderr.push(s));
  }

  /** The first event named `event` passing `match`, seen already or still to come. */
  async next(event: string, match: (e: PyEvent) => boolean = () => true, timeoutMs = 20_000): Promise<PyEvent> {
    const seen = this.events.find((e) => e.event === event && match(e));
    if (seen) return seen;
    const waiting = nextEvent<[PyEvent]>(this.emitter, 'line', `python ${event} (stderr: ${this.stderr.join('').slice(-2000)})`, (e) => e.event === event && match(e), timeoutMs);
    return (await waiting)[0];
  }

  count(event: string, match: (e: PyEvent) => boolean = () => true): number {
    return this.events.filter((e) => e.event === event && match(e)).length;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}
