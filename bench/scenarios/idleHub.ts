/**
 * An idle hub on the embedded default, as the README starts it: `handoff hub` with a data folder
 * of its own (PGlite), measured after it has sat idle, on its first start (the store is created)
 * and after a restart on the same folder. Nothing else runs in the process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, spawnNode, stopProcess } from '../lib/cluster.ts';
import { rssBytes } from '../lib/procStats.ts';
import { MiB, sleep, waitFor } from '../lib/stats.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

/** Starts `handoff hub` on `dataDir`, waits until it listens and then `idleMs`, and returns its RSS and peak. */
async function idleHub(dataDir: string, idleMs: number): Promise<{ rss: number; peak: number }> {
  const hub = spawnNode('idle hub', [join(ROOT, 'bin', 'handoff.js'), 'hub'], { HANDOFF_DATA_DIR: dataDir, HANDOFF_PORT: '0', HANDOFF_HOST: '127.0.0.1', HANDOFF_LOG_LEVEL: 'warn' });
  try {
    await waitFor(
      'the idle hub to listen',
      () => {
        if (hub.child.exitCode !== null) throw new Error(`the hub exited with ${hub.child.exitCode}:\n${hub.tail.join('\n')}`);
        return hub.tail.some((l) => l.includes('listening on')) ? true : undefined;
      },
      120_000,
      50,
    );
    await sleep(idleMs);
    const peak = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${hub.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
    return { rss: rssBytes(hub.pid), peak };
  } finally {
    await stopProcess(hub);
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
