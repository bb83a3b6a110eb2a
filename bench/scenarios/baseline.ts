/**
 * 7. Baseline: node-pty read throughput in this one process, no network — the same generator in
 * the same kind of pty (120×40, raw bytes), same trigger, same byte check. Plus the pty's own
 * echo round trip (`stty raw -echo; cat`), for scale.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IEvent } from 'node-pty';
import { spawn } from 'node-pty';
import { generatorCommand, ptyBytes, StreamVerifier } from '../lib/pattern.ts';
import { ptyRead } from '../lib/peers.ts';
import { latencySummary } from '../lib/echo.ts';
import { CpuMeter } from '../lib/procStats.ts';
import { MB, withTimeout } from '../lib/stats.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

export async function ptyThroughput(bytes: number): Promise<{ mbps: number; seconds: number; exact: boolean; cpuSeconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-bench-pty-'));
  const total = ptyBytes(bytes);
  const verifier = new StreamVerifier(total);
  try {
    const cpu = new CpuMeter({ bench: process.pid });
    const seconds = await ptyRead(dir, generatorCommand(bytes), total, (chunk) => verifier.feed(verifier.offset, chunk));
    return { mbps: verifier.bytes / MB / seconds, seconds, exact: verifier.exact, cpuSeconds: cpu.stop().bench ?? Number.NaN };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function ptyEcho(count: number): Promise<number[]> {
  const term = spawn('bash', ['--noprofile', '--norc', '-c', `stty raw -echo; printf READY; exec cat`], {
    name: 'xterm-256color',
    cols: 120,
    rows: 40,
    env: process.env as Record<string, string>,
    encoding: null,
  });
  let waiting: { byte: number; resolve: (t: number) => void } | null = null;
  let text = '';
  (term.onData as unknown as IEvent<Buffer>)((chunk) => {
    const now = performance.now();
    if (waiting && chunk.includes(waiting.byte)) {
      const w = waiting;
      waiting = null;
      w.resolve(now);
    } else text = (text + chunk.toString('latin1')).slice(-32);
  });
  try {
    const deadline = Date.now() + 10_000;
    while (!text.includes('READY') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const out: number[] = [];
    for (let i = 0; i < count + 20; i++) {
      const byte = 0x61 + (i % 26);
      const back = new Promise<number>((resolve) => (waiting = { byte, resolve }));
      const t0 = performance.now();
      term.write(String.fromCharCode(byte));
      const t1 = await withTimeout('pty echo', back, 5000);
      if (i >= 20) out.push(t1 - t0);
    }
    return out;
  } finally {
    term.kill('SIGKILL');
  }
}

export const baseline: Scenario = {
  name: 'baseline',
  title: 'node-pty read in one process, no network (the limit)',
  async run(ctx: BenchContext): Promise<RepResult> {
    const bytes = ctx.quick ? 10 * MB : 100 * MB;
    const r = await ptyThroughput(bytes);
    const echo = latencySummary(await ptyEcho(ctx.quick ? 200 : 1000));
    ctx.log(`baseline: ${r.mbps.toFixed(1)} MB/s (${r.seconds.toFixed(2)} s, exact=${r.exact}); pty echo p99 ${echo.p99.toFixed(3)} ms`);
    return {
      metrics: { mbps: r.mbps, seconds: r.seconds, cpuSeconds: r.cpuSeconds, msPerMB: (r.cpuSeconds * 1000) / (ptyBytes(bytes) / MB), echoP50: echo.p50, echoP99: echo.p99 },
      checks: { exact: r.exact },
      info: { bytes, ptyBytes: ptyBytes(bytes) },
    };
  },
};
