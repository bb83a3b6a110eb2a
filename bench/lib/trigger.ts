/**
 * Starts a step's output at a moment the bench chooses (after its viewers joined): the step
 * blocks on `read` from a FIFO; fire() opens the FIFO for writing (which waits until the step
 * has opened it for reading) and releases it with one line.
 */
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

let n = 0;

export class Trigger {
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, `trigger-${process.pid}-${++n}`);
    execFileSync('mkfifo', ['-m', '600', this.path]);
  }

  /** The shell fragment that waits for fire(). */
  get shellWait(): string {
    return `read -r _ < '${this.path}'`;
  }

  /** Releases the step; resolves with the time (performance.now()) it was released. */
  async fire(timeoutMs = 60_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const opening = open(this.path, constants.O_WRONLY);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // unblock the pending open (it waits for a reader) so the thread pool is not left stuck
        void open(this.path, constants.O_RDONLY | constants.O_NONBLOCK).then((fh) => setTimeout(() => void fh.close(), 100));
        reject(new Error(`the step never opened ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const fh = await Promise.race([opening, timeout]).finally(() => clearTimeout(timer));
    const at = performance.now();
    await fh.write('go\n');
    await fh.close();
    return at;
  }
}
