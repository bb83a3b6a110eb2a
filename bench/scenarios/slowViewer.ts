/**
 * 6. A stalled viewer: on a fresh hub (so its memory is this scenario's alone), a fast run to 5
 * viewers, then the same with a 6th viewer that joined and stopped reading its socket. Compared:
 * the 5 others' throughput (min per viewer) and the echo latency of another run on the same hub
 * (an RW viewer probing every 50 ms while the output streams); the hub's RSS is sampled every
 * 250 ms: its max, and whether it is flat after the first second of output.
 */
import { Cluster } from '../lib/cluster.ts';
import { latencySummary } from '../lib/echo.ts';
import { rssBytes } from '../lib/procStats.ts';
import { MB, MiB, sleep } from '../lib/stats.ts';
import { streamRun } from '../lib/streaming.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';
import { startEchoRun } from './echo.ts';

/** Hub RSS growth after the first second that still counts as flat. */
export const FLAT_TOLERANCE = 32 * MiB;
const OTHERS = 5;

export const slowViewer: Scenario = {
  name: 'slow',
  title: 'a stalled viewer among 5 (others’ throughput and latency, hub memory)',
  async run(ctx: BenchContext): Promise<RepResult> {
    const bytes = ctx.quick ? 10 * MB : 100 * MB;
    const cluster = await Cluster.start({ capacity: 4 });
    try {
      const probeRun = await startEchoRun(cluster);
      const probe = () => {
        const samples: number[] = [];
        let stopping = false;
        const loop = (async () => {
          while (!stopping) {
            samples.push(await probeRun.echoer.once(30_000));
            await sleep(50);
          }
        })();
        return { samples, stop: async () => ((stopping = true), await loop) };
      };
      const measure = async (stalled: number) => {
        let p: ReturnType<typeof probe> | null = null;
        const r = await streamRun(cluster, {
          bytes,
          viewers: OTHERS,
          stalled,
          tailMs: 2000,
          during: () => (p = probe()),
        });
        const lat = latencySummary((p as ReturnType<typeof probe> | null)?.samples ?? [Number.NaN]);
        return { r, lat };
      };
      const a = await measure(0);
      const hubBefore = rssBytes(cluster.hubPid);
      const b = await measure(1);
      // what became of the stalled viewer: resume it and see whether the hub kept it, dropped it, or resynced it
      const stalled = b.r.stalledViewers[0];
      let stalledConnected = false;
      let stalledGaps = 0;
      let stalledBytesWhileStalled = 0;
      let stalledBytesAfterResume = 0;
      let stalledResyncs = 0;
      let stalledCaughtUp = false;
      if (stalled) {
        stalledBytesWhileStalled = stalled.pane().liveBytes;
        stalled.unstall();
        // let it drain what was kept for it (the hub's bounded queue, and what the kernel's
        // socket buffers hold: tens of MB on loopback), then see how it caught up: a snapshot
        // pushed by the hub (it was taken off the stream), a gap, or a disconnect
        let last = -1;
        for (let waited = 0; waited < 30_000 && stalled.pane().liveBytes !== last; waited += 2000) {
          last = stalled.pane().liveBytes;
          await sleep(2000);
        }
        stalledConnected = stalled.socket.connected;
        stalledGaps = stalled.pane().gaps;
        stalledBytesAfterResume = stalled.pane().liveBytes;
        // snapshots after the join's: the hub took it off the stream and resynced it
        stalledResyncs = stalled.pane().snapshots.length - 1;
        stalledCaughtUp = stalled.pane().stream.synced && stalled.pane().pos === b.r.ptyBytes;
        stalled.close();
      }
      await probeRun.close();
      const ratio = b.r.minMbps / a.r.minMbps;
      // flat after the first second of output: by then the stalled viewer's queue has reached
      // the bound (or the viewer was taken off); what grows after that is not bounded by it
      const growth = b.r.hubRss.growthSince(b.r.firstByteAt + 1000);
      const flat = growth <= FLAT_TOLERANCE;
      ctx.log(
        `slow viewer: others ${a.r.minMbps.toFixed(1)} → ${b.r.minMbps.toFixed(1)} MB/s (ratio ${ratio.toFixed(2)}), probe p99 ${a.lat.p99.toFixed(1)} → ${b.lat.p99.toFixed(1)} ms, ` +
          `hub RSS max ${(b.r.hubRss.max / MiB).toFixed(0)} MiB, +${(growth / MiB).toFixed(0)} MiB after 1 s (flat=${flat}), stalled viewer: ${(stalledBytesWhileStalled / MB).toFixed(1)} MB read while stalled, ${(stalledBytesAfterResume / MB).toFixed(1)} MB after resuming, then ${stalledResyncs} resync(s) from a snapshot, ${stalledCaughtUp ? 'ending at the last byte' : 'NOT at the last byte'} (${stalledGaps} gaps, connected=${stalledConnected})`,
      );
      return {
        metrics: {
          othersMbpsWithout: a.r.minMbps,
          othersMbpsWith: b.r.minMbps,
          ratio,
          probeP50Without: a.lat.p50,
          probeP99Without: a.lat.p99,
          probeP50With: b.lat.p50,
          probeP99With: b.lat.p99,
          hubRssMaxMiB: b.r.hubRss.max / MiB,
          stalledMBWhileStalled: stalledBytesWhileStalled / MB,
          stalledMBAfterResume: stalledBytesAfterResume / MB,
          stalledResyncs,
          hubRssMaxWithoutMiB: a.r.hubRss.max / MiB,
          hubRssGrowthAfter1sMiB: growth / MiB,
          hubRssAtStartMiB: hubBefore / MiB,
          agentRssMaxMiB: (b.r.agentRss?.max ?? Number.NaN) / MiB,
        },
        checks: { exact: a.r.exact && b.r.exact, flat },
        info: {
          bytes,
          stalledStillConnected: stalledConnected,
          stalledBytesWhileStalled,
          stalledBytesAfterResume: stalledBytesAfterResume,
          stalledGaps,
          stalledResyncs,
          stalledCaughtUp,
          hubRssSamplesMiB: b.r.hubRss.samples.map((s) => [Math.round(s.t), Math.round(s.rss / MiB)]),
          cpuWithout: a.r.cpu,
          cpuWith: b.r.cpu,
        },
      };
    } finally {
      await cluster.stop();
    }
  },
};
