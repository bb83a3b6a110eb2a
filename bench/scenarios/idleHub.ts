/**
 * An idle hub on the embedded default, as the README starts it: `handoff hub` with a data folder
 * of its own (PGlite), measured after it has sat idle, on its first start (the store is created)
 * and after a restart on the same folder. Nothing else runs in the process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lib/cluster.ts';
import { rssBytes } from '../lib/procStats.ts';
import { MiB, sleep } from '../lib/stats.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

/** Starts `handoff hub` on `dataDir`, waits until it listens and then `idleMs`, and returns its RSS and peak. */
async function idleHub(dataDir: string, idleMs: number): Promise<{ rss: number; peak: number }> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'handoff.js'), 'hub'], {
    cwd: ROOT,
    env: { ...process.env, HANDOFF_DATA_DIR: dataDir, HANDOFF_PORT: '0', HANDOFF_HOST: '127.0.0.1', HANDOFF_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the hub did not start within 120 s')), 120_000);
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => reject(new Error(`the hub exited with ${code}`)));
    });
    await sleep(idleMs);
    const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
    const peak = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN) * 1024;
    return { rss: rssBytes(proc.pid as number), peak };
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
}

export const idleHubScenario: Scenario = {
  name: 'idlehub',
  title: 'an idle hub on the embedded default',
  async run(ctx: BenchContext): Promise<RepResult> {
    const dataDir = mkdtempSync(join(tmpdir(), 'handoff-bench-idlehub-'));
    const idleMs = ctx.quick ? 3000 : 10_000;
    try {
      const first = await idleHub(dataDir, idleMs);
      const again = await idleHub(dataDir, idleMs);
      ctx.log(`idle hub: first start ${(first.rss / MiB).toFixed(0)} MiB (peak ${(first.peak / MiB).toFixed(0)}), restarted ${(again.rss / MiB).toFixed(0)} MiB`);
      return { metrics: { firstStartMiB: first.rss / MiB, firstStartPeakMiB: first.peak / MiB, restartMiB: again.rss / MiB } };
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};
