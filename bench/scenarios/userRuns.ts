/**
 * 9. Runs shaped like users' runs, beside a peer in the same run (issue 17): for each payload
 * (random base64, colour logs, wide UTF-8, a full-screen redraw loop, the repeated line), a step
 * `cat`s the file with its viewer joined first; the same file read from node-pty in this process
 * (the ceiling) and `cat` in WeTTY with one client. Plus keystroke echo through WeTTY beside
 * handoff's. Every figure byte-exact (SHA-256 of the stream the pty produced).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { latencySummary } from '../lib/echo.ts';
import { makePayloads } from '../lib/payloads.ts';
import { Cluster } from '../lib/cluster.ts';
import { rawPtyCat, rawPtyCatMany, WETTY_VERSION, WettyPeer } from '../lib/peers.ts';
import { MB } from '../lib/stats.ts';
import { idleViewerKiB, streamMany, streamRun } from '../lib/streaming.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';
import { startEchoRun } from './echo.ts';

export const userRuns: Scenario = {
  name: 'userruns',
  title: `runs shaped like users' (cat of a file, viewer first), per payload, beside node-pty and WeTTY ${WETTY_VERSION}`,
  async run(ctx: BenchContext): Promise<RepResult> {
    const cluster = await ctx.cluster();
    const dir = mkdtempSync(join(tmpdir(), 'handoff-bench-payloads-'));
    const metrics: Record<string, number> = {};
    const checks: Record<string, boolean> = {};
    const info: Record<string, unknown> = {};
    const peer = await WettyPeer.start(dir, ctx.log);
    if (typeof peer === 'string') info['wetty'] = peer;
    try {
      const only = process.env.HANDOFF_BENCH_PAYLOADS?.split(',').map((n) => n.trim()).filter(Boolean);
      const payloads = makePayloads(dir, ctx.quick ? 5 * MB : 50 * MB, only);
      for (const p of payloads) {
        const raw = await rawPtyCat(dir, p);
        const ours = await streamRun(cluster, { bytes: p.ptyBytes, payload: p, viewers: 1 });
        const theirs = typeof peer === 'string' ? null : await peer.cat(p);
        metrics[`${p.name}_load`] = loadavg()[0] ?? Number.NaN;
        metrics[`${p.name}_raw`] = raw.mbps;
        metrics[`${p.name}_handoff`] = ours.minMbps;
        metrics[`${p.name}_vsRaw`] = ours.minMbps / raw.mbps;
        for (const [proc, seconds] of Object.entries(ours.cpu)) metrics[`${p.name}_msPerMB_${proc}`] = (seconds * 1000) / (ours.ptyBytes / MB);
        if (theirs) {
          metrics[`${p.name}_wetty`] = theirs.mbps;
          metrics[`${p.name}_vsWetty`] = ours.minMbps / theirs.mbps;
        }
        checks[`${p.name}_exact`] = raw.exact && ours.exact && (theirs?.exact ?? true);
        ctx.log(
          `userruns ${p.name}: node-pty ${raw.mbps.toFixed(1)} MB/s, handoff ${ours.minMbps.toFixed(1)} MB/s (${(ours.minMbps / raw.mbps).toFixed(2)}× raw)` +
            (theirs ? `, WeTTY ${theirs.mbps.toFixed(1)} MB/s (handoff ${(ours.minMbps / theirs.mbps).toFixed(2)}×)` : '') +
            ` exact=${raw.exact}/${ours.exact}/${theirs?.exact ?? '-'}`,
        );
      }
      const count = ctx.quick ? 100 : 500;
      const echo = await startEchoRun(cluster);
      let ms: number[];
      try {
        ms = await echo.echoer.series(count);
      } finally {
        await echo.close();
      }
      const ourEcho = latencySummary(ms);
      metrics['echoP50_handoff'] = ourEcho.p50;
      metrics['echoP99_handoff'] = ourEcho.p99;
      if (typeof peer !== 'string') {
        const theirEcho = latencySummary(await peer.echo(count));
        metrics['echoP50_wetty'] = theirEcho.p50;
        metrics['echoP99_wetty'] = theirEcho.p99;
        ctx.log(`userruns echo: handoff p50 ${ourEcho.p50.toFixed(2)} / p99 ${ourEcho.p99.toFixed(2)} ms, WeTTY p50 ${theirEcho.p50.toFixed(2)} / p99 ${theirEcho.p99.toFixed(2)} ms`);
      }
      // 20 independent sessions, a viewer (client) each, on random base64 (5 MB each)
      const sessions = 20;
      const [small] = makePayloads(dir, ctx.quick ? 1 * MB : 5 * MB, ['base64']);
      if (small) {
        const many = await Cluster.start({ capacity: sessions, log: ctx.log });
        try {
          const raw = await rawPtyCatMany(dir, small, sessions);
          const ours = await streamMany(many, small, sessions);
          const theirs = typeof peer === 'string' ? null : await peer.catMany(small, sessions);
          metrics['sessions_load'] = loadavg()[0] ?? Number.NaN;
          metrics['sessions_raw'] = raw.mbps;
          metrics['sessions_handoff'] = ours.aggregateMbps;
          metrics['sessions_vsRaw'] = ours.aggregateMbps / raw.mbps;
          for (const [proc, seconds] of Object.entries(ours.cpu)) metrics[`sessions_msPerMB_${proc}`] = (seconds * 1000) / (ours.bytes / MB);
          if (theirs) {
            metrics['sessions_wetty'] = theirs.mbps;
            metrics['sessions_vsWetty'] = ours.aggregateMbps / theirs.mbps;
          }
          checks['sessions_exact'] = raw.exact && ours.exact && (theirs?.exact ?? true);
          ctx.log(`userruns ${sessions} sessions: node-pty ${raw.mbps.toFixed(1)} MB/s, handoff ${ours.aggregateMbps.toFixed(1)} MB/s` + (theirs ? `, WeTTY ${theirs.mbps.toFixed(1)} MB/s` : '') + ` exact=${raw.exact}/${ours.exact}/${theirs?.exact ?? '-'}`);
        } finally {
          await many.stop();
        }
      }
      // idle connections: hub RSS per joined viewer beside WeTTY's per connection (its session waiting)
      const idle = ctx.quick ? 20 : 100;
      metrics['idleKiB_handoff'] = await idleViewerKiB(cluster, idle);
      if (typeof peer !== 'string') metrics['idleKiB_wetty'] = await peer.idleKiB(idle);
      ctx.log(`userruns idle: handoff ${metrics['idleKiB_handoff']?.toFixed(1)} KiB a viewer, WeTTY ${metrics['idleKiB_wetty']?.toFixed(1) ?? '-'} KiB a connection (${idle} each)`);
      info['payloads'] = payloads.map((p) => ({ name: p.name, title: p.title, ptyBytes: p.ptyBytes }));
      return { metrics, checks, info };
    } finally {
      if (typeof peer !== 'string') await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
