/**
 * 1. Throughput: pty → agent → hub → 1 viewer, 100 MB, byte-exact.
 * 2. Fan-out: the same to 20 viewers of one run; each rep also takes a one-viewer reference on
 *    the same hub, so the ratio min-per-viewer ÷ one-viewer is paired within the repetition.
 */
import { MB, MiB } from '../lib/stats.ts';
import type { StreamResult } from '../lib/streaming.ts';
import { streamRun } from '../lib/streaming.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

/** CPU seconds each process spent, its share of a core while streaming, and its CPU cost per MB
 * of pty output (independent of what else the machine runs: 1000 ÷ ms-per-MB is the MB/s that
 * process could sustain on a core of its own). */
export function cpuMetrics(r: StreamResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(r.cpu)) {
    out[`cpu_${name}`] = s;
    out[`core_${name}`] = s / r.seconds;
    out[`msPerMB_${name}`] = (s * 1000) / (r.ptyBytes / MB);
  }
  return out;
}

export const throughput: Scenario = {
  name: 'throughput',
  title: 'pty → agent → hub → 1 viewer',
  needs: ['baseline'],
  async run(ctx: BenchContext): Promise<RepResult> {
    const cluster = await ctx.cluster();
    const bytes = ctx.quick ? 10 * MB : 100 * MB;
    const r = await streamRun(cluster, { bytes, viewers: 1 });
    ctx.log(`throughput: ${r.minMbps.toFixed(1)} MB/s (${r.seconds.toFixed(2)} s, exact=${r.exact}, holds ${r.holds}) cpu ${fmtCpu(r)}`);
    return {
      metrics: {
        mbps: r.minMbps,
        seconds: r.seconds,
        holds: r.holds,
        agentRssMaxMiB: (r.agentRss?.max ?? Number.NaN) / MiB,
        hubRssMaxMiB: r.hubRss.max / MiB,
        ...cpuMetrics(r),
      },
      checks: { exact: r.exact },
      info: { bytes, ptyBytes: r.ptyBytes },
    };
  },
};

export const fanout: Scenario = {
  name: 'fanout',
  title: 'pty → agent → hub → 20 viewers of one run',
  async run(ctx: BenchContext): Promise<RepResult> {
    const cluster = await ctx.cluster();
    const bytes = ctx.quick ? 10 * MB : 100 * MB;
    const viewers = 20;
    const one = await streamRun(cluster, { bytes, viewers: 1 });
    const many = await streamRun(cluster, { bytes, viewers });
    const ratio = many.minMbps / one.minMbps;
    ctx.log(
      `fan-out: one viewer ${one.minMbps.toFixed(1)} MB/s; ${viewers} viewers: min ${many.minMbps.toFixed(1)}, max ${many.maxMbps.toFixed(1)}, ` +
        `aggregate ${many.aggregateMbps.toFixed(1)} MB/s (ratio ${ratio.toFixed(2)}, exact=${many.exact && one.exact}, resynced ${many.resynced}, holds ${many.holds}) cpu ${fmtCpu(many)}`,
    );
    return {
      metrics: {
        oneViewerMbps: one.minMbps,
        minViewerMbps: many.minMbps,
        maxViewerMbps: many.maxMbps,
        aggregateMbps: many.aggregateMbps,
        ratio,
        resynced: many.resynced,
        holds: many.holds,
        seconds: many.seconds,
        hubRssMaxMiB: many.hubRss.max / MiB,
        ...cpuMetrics(many),
      },
      checks: { exact: one.exact && many.exact },
      info: { bytes, viewers, perViewerMbps: many.perViewer.map((v) => Math.round(v.mbps * 100) / 100) },
    };
  },
};

export function fmtCpu(r: StreamResult): string {
  return Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${v.toFixed(1)} s (${((100 * v) / r.seconds).toFixed(0)}% of a core)`)
    .join(', ');
}
