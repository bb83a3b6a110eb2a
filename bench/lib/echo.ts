/**
 * Keystroke → echo round trips through an RW viewer: a step runs `stty raw -echo; cat`, the
 * viewer sends one byte and waits for that byte to come back in the pane's output.
 */
import type { BenchPane, BenchViewer } from './benchViewer.ts';
import { quantile, withTimeout } from './stats.ts';

export const ECHO_READY = 'ECHO-READY';

/** The step (after a trigger, so the viewer sees the marker live). */
export function echoStep(triggerWait: string): string {
  return `${triggerWait}; stty raw -echo; printf '${ECHO_READY}'; exec cat`;
}

export class Echoer {
  private pane: BenchPane;
  private tail = '';
  private waiting: { byte: number; resolve: (at: number) => void } | null = null;
  private next = 0;

  constructor(private readonly viewer: BenchViewer) {
    this.pane = viewer.pane();
    this.pane.onBytes = (bytes, at) => {
      if (this.waiting) {
        if (bytes.includes(this.waiting.byte)) {
          const w = this.waiting;
          this.waiting = null;
          w.resolve(at);
        }
        return;
      }
      this.tail = (this.tail + Buffer.from(bytes).toString('latin1')).slice(-64);
    };
  }

  /** Waits for the step's ready marker. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.tail.includes(ECHO_READY)) {
      if (Date.now() > deadline) throw new Error('the echo step never printed its ready marker');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** One round trip, in ms. */
  async once(timeoutMs = 10_000): Promise<number> {
    const byte = 0x61 + (this.next++ % 26); // a..z
    const back = new Promise<number>((resolve) => {
      this.waiting = { byte, resolve };
    });
    const t0 = performance.now();
    this.viewer.sendInput(Uint8Array.of(byte));
    const at = await withTimeout('echo', back, timeoutMs);
    return at - t0;
  }

  async series(count: number, warmup = 20, gapMs = 0): Promise<number[]> {
    for (let i = 0; i < warmup; i++) await this.once();
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      out.push(await this.once());
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    return out;
  }
}

export function latencySummary(ms: number[]): { p50: number; p95: number; p99: number; max: number } {
  return { p50: quantile(ms, 0.5), p95: quantile(ms, 0.95), p99: quantile(ms, 0.99), max: Math.max(...ms) };
}
