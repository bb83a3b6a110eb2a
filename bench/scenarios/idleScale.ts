/**
 * 5. Idle scale: on a fresh hub process, 1,000 agent sockets (worker tokens, `agent:hello`) and
 * 10,000 viewer sockets, opened from separate child processes (bench/idleClients.ts) so the hub's
 * RSS is its own. Figures: hub RSS before / after, the time to connect them all, bytes per socket.
 * The hub's own gauges (/metrics) confirm the counts.
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, ROOT } from '../lib/cluster.ts';
import { CpuMeter, rssBytes } from '../lib/procStats.ts';
import { KiB, MiB, sleep } from '../lib/stats.ts';
import type { BenchContext, RepResult, Scenario } from '../lib/types.ts';

const PER_CHILD = 2500;

interface Child {
  proc: ChildProcess;
  count: number;
  result: Promise<{ count: number; failed: number; firstError: string | null; ms: number }>;
}

function spawnClients(spec: Record<string, unknown>): Promise<Child> {
  const proc = fork(join(ROOT, 'bin', 'run-ts.js'), [join(ROOT, 'bench', 'idleClients.ts'), JSON.stringify(spec)], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let resolveResult: (r: { count: number; failed: number; firstError: string | null; ms: number }) => void = () => undefined;
  const result = new Promise<{ count: number; failed: number; firstError: string | null; ms: number }>((r) => (resolveResult = r));
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`idle client process exited with ${code}`)));
    proc.on('message', (m: { type: string; count: number; failed: number; firstError: string | null; ms: number }) => {
      if (m.type === 'ready') resolve({ proc, count: spec.count as number, result });
      else if (m.type === 'connected') resolveResult(m);
    });
  });
}

/** The soft open-files limit of a process (Node raises its own to the hard limit at start). */
function openFilesLimit(pid: number): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

async function gauge(cluster: Cluster, name: string): Promise<number> {
  const text = await (await fetch(`${cluster.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

export const idleScale: Scenario = {
  name: 'idle',
  title: 'idle connections on one hub process',
  async run(ctx: BenchContext): Promise<RepResult> {
    let agents = ctx.quick ? 100 : 1000;
    let viewers = ctx.quick ? 1000 : 10_000;
    const cluster = await Cluster.start({ agent: false });
    const children: Child[] = [];
    try {
      const limit = openFilesLimit(cluster.hubPid);
      const need = agents + viewers + 256;
      if (limit < need) {
        const scale = (limit - 256) / (agents + viewers);
        ctx.log(`WARNING: the hub may open only ${limit} files (ulimit -n); ${agents + viewers} sockets need ${need}: scaling down by ${scale.toFixed(2)} (raise it with ulimit -n)`);
        agents = Math.floor(agents * scale);
        viewers = Math.floor(viewers * scale);
      }
      await sleep(1000);
      const heapBefore = await gauge(cluster, 'handoff_nodejs_heap_size_used_bytes');
      const externalBefore = await gauge(cluster, 'handoff_nodejs_external_memory_bytes');
      // the lowest of a few samples: right after start the hub still holds start-up garbage that a
      // later GC returns, which would hide the sockets' cost (after: the highest, conservative too)
      const beforeSamples: number[] = [];
      for (let i = 0; i < 5; i++) {
        beforeSamples.push(rssBytes(cluster.hubPid));
        await sleep(400);
      }
      const before = Math.min(...beforeSamples);

      const tokensFile = join(cluster.dir, 'worker-tokens.txt');
      writeFileSync(tokensFile, Array.from({ length: agents }, (_, i) => cluster.tokens.mintWorker(`idle-worker-${i}`)).join('\n'));
      const viewerToken = cluster.tokens.mintOperator('idle-viewer', 'viewer', 24 * 3600);
      const specs: Array<Record<string, unknown>> = [{ url: cluster.url, kind: 'agent', count: agents, concurrency: 50, tokensFile }];
      for (let left = viewers; left > 0; left -= PER_CHILD) specs.push({ url: cluster.url, kind: 'viewer', count: Math.min(PER_CHILD, left), concurrency: 50, token: viewerToken });
      children.push(...(await Promise.all(specs.map(spawnClients))));

      const cpu = new CpuMeter({ hub: cluster.hubPid });
      const t0 = performance.now();
      for (const c of children) c.proc.send({ type: 'go' });
      const results = await Promise.all(children.map((c) => c.result));
      const connectSeconds = (performance.now() - t0) / 1000;
      const connectCpu = cpu.stop().hub ?? Number.NaN;
      const failed = results.reduce((s, r) => s + r.failed, 0);
      const firstError = results.find((r) => r.firstError)?.firstError ?? null;
      await sleep(2000);
      const idleCpu = new CpuMeter({ hub: cluster.hubPid });
      const afterSamples: number[] = [];
      for (let i = 0; i < 5; i++) {
        afterSamples.push(rssBytes(cluster.hubPid));
        await sleep(600);
      }
      const idleCpuPct = ((idleCpu.stop().hub ?? Number.NaN) / 3) * 100;
      const after = Math.max(...afterSamples);
      const sockets = results.reduce((s, r) => s + r.count, 0);
      const heapAfter = await gauge(cluster, 'handoff_nodejs_heap_size_used_bytes');
      const externalAfter = await gauge(cluster, 'handoff_nodejs_external_memory_bytes');
      const agentsSeen = await gauge(cluster, 'handoff_agents_connected');
      const viewersSeen = await gauge(cluster, 'handoff_viewers_connected');
      const perSocket = (after - before) / Math.max(1, sockets);
      ctx.log(
        `idle: ${sockets} sockets (${agentsSeen} agents + ${viewersSeen} viewers per the hub, ${failed} failed${firstError ? `: ${firstError}` : ''}) in ${connectSeconds.toFixed(1)} s; ` +
          `hub RSS ${(before / MiB).toFixed(0)} → ${(after / MiB).toFixed(0)} MiB = ${(perSocket / KiB).toFixed(1)} KiB a socket (JS heap ${((heapAfter - heapBefore) / Math.max(1, sockets) / KiB).toFixed(1)} KiB); idle CPU ${idleCpuPct.toFixed(1)}%`,
      );
      return {
        metrics: {
          sockets,
          agents: agentsSeen,
          viewers: viewersSeen,
          failed,
          rssBeforeMiB: before / MiB,
          rssAfterMiB: after / MiB,
          perSocketKiB: perSocket / KiB,
          // the JS heap and external (Buffer) memory the hub reports itself, per socket: less
          // blurred by heap slack than RSS (but includes garbage not yet collected)
          perSocketHeapKiB: (heapAfter - heapBefore) / Math.max(1, sockets) / KiB,
          perSocketExternalKiB: (externalAfter - externalBefore) / Math.max(1, sockets) / KiB,
          heapUsedAfterMiB: heapAfter / MiB,
          connectSeconds,
          connectsPerSecond: sockets / connectSeconds,
          hubConnectCpuSeconds: connectCpu,
          hubIdleCpuPct: idleCpuPct,
        },
        checks: { allConnected: failed === 0 && agentsSeen === agents && viewersSeen === viewers },
        info: { targetAgents: agents, targetViewers: viewers, openFilesLimit: limit },
      };
    } finally {
      for (const c of children) c.proc.send({ type: 'close' });
      await Promise.all(children.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
      await cluster.stop();
    }
  },
};
