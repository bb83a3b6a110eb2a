/**
 * 3. Echo latency: an RW viewer (grant-write with an operator token) sends one byte to
 * `stty raw -echo; cat` and waits for it to come back: viewer → hub → agent → pty → agent →
 * hub → viewer; 1,000 round trips one after the other.
 */
import { BenchViewer } from '../lib/benchViewer.ts';
import type { Cluster } from '../lib/cluster.ts';
import { Echoer, echoStep, latencySummary } from '../lib/echo.ts';
import { CpuMeter } from '../lib/procStats.ts';
import { Trigger } from '../lib/trigger.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

/** An echo run with its RW viewer, ready for round trips. */
export async function startEchoRun(cluster: Cluster): Promise<{ echoer: Echoer; close(): Promise<void> }> {
  const trigger = new Trigger(cluster.dir);
  const run = await cluster.createRun([echoStep(trigger.shellWait)]);
  let viewer: BenchViewer | null = null;
  try {
    await cluster.waitLive(run.id);
    const grant = await cluster.grantWrite(run.id);
    viewer = await BenchViewer.connect(cluster.url, cluster.operatorToken, grant);
    const join = await viewer.join(run.id);
    if (!join.canWrite) throw new Error('the echo viewer was not admitted read-write');
    const echoer = new Echoer(viewer);
    await trigger.fire();
    await echoer.ready();
    const v = viewer;
    return {
      echoer,
      async close() {
        v.close();
        await cluster.cancel(run.id);
        await cluster.settle(run.id).catch(() => undefined);
      },
    };
  } catch (err) {
    viewer?.close();
    await cluster.cancel(run.id).catch(() => undefined);
    throw err;
  }
}

export const echo: Scenario = {
  name: 'echo',
  title: 'keystroke → echo round trip (RW viewer → hub → agent → pty and back)',
  async run(ctx: BenchContext): Promise<RepResult> {
    const cluster = await ctx.cluster();
    const count = ctx.quick ? 200 : 1000;
    const e = await startEchoRun(cluster);
    try {
      const cpu = new CpuMeter({ hub: cluster.hubPid, agent: cluster.agentPid, bench: process.pid });
      const t0 = performance.now();
      const ms = await e.echoer.series(count);
      const wall = (performance.now() - t0) / 1000;
      const used = cpu.stop();
      const s = latencySummary(ms);
      const over = (limit: number) => ms.filter((v) => v > limit).length;
      ctx.log(`echo: p50 ${s.p50.toFixed(2)} ms, p95 ${s.p95.toFixed(2)}, p99 ${s.p99.toFixed(2)}, max ${s.max.toFixed(2)} (${count} round trips)`);
      return {
        metrics: {
          p50: s.p50,
          p95: s.p95,
          p99: s.p99,
          max: s.max,
          over2ms: over(2),
          over4ms: over(4),
          hubCpuPerEchoMs: ((used.hub ?? Number.NaN) * 1000) / (count + 20),
          agentCpuPerEchoMs: ((used.agent ?? Number.NaN) * 1000) / (count + 20),
          wallSeconds: wall,
        },
        info: { count },
      };
    } finally {
      await e.close();
    }
  },
};
