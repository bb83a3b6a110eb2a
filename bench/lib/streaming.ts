/**
 * The pipeline measurement shared by the throughput, fan-out and slow-viewer scenarios (and the
 * harness smoke test): a run whose step waits for a trigger and then prints `bytes` of the
 * pattern; `viewers` headless viewers join it first (plus `stalled` ones that stop reading);
 * the trigger fires; each viewer's figure is its bytes over the time from the trigger to its
 * last byte. Every byte is checked against the pattern and the last offset against the pty's
 * output size. With `viewerHub` the viewers join through another hub of the same deployment
 * (PostgreSQL + Redis) than the one the agent is connected to, so every chunk crosses Redis.
 */
import type { BenchViewer } from './benchViewer.ts';
import { BenchViewer as Viewer } from './benchViewer.ts';
import type { Cluster } from './cluster.ts';
import { generatorCommand, ptyBytes, StreamVerifier } from './pattern.ts';
import type { Payload } from './payloads.ts';
import { HashVerifier } from './payloads.ts';
import { CpuMeter, RssSampler, rssBytes } from './procStats.ts';
import { monotonicUs } from './profile.ts';
import { MB, max, min, withTimeout } from './stats.ts';
import { Trigger } from './trigger.ts';

export interface StreamOptions {
  /** Bytes the generator prints (the pty's output is a little larger: "\n" → "\r\n"). */
  bytes: number;
  /** Instead of the FIFO-released generator: a step that `cat`s this payload's file once the viewers joined. */
  payload?: Payload;
  viewers: number;
  /** Viewers that join and then stop reading their socket. */
  stalled?: number;
  /** Keep sampling the hub's RSS this long after the last viewer finished (ms). */
  tailMs?: number;
  /** Another hub process of the same deployment the viewers connect to (default: `cluster`'s hub,
   * which the agent is connected to). Its CPU is counted as `hubB`. */
  viewerHub?: Cluster;
  /** Runs while the output streams (e.g. an echo probe on another run); stopped at the end. */
  during?: () => { stop(): Promise<void> };
  log?: (msg: string) => void;
}

export interface StreamResult {
  ptyBytes: number;
  /** Per viewer (reading ones only): MB/s, seconds, byte-exact. */
  perViewer: Array<{ mbps: number; seconds: number; exact: boolean; bytes: number; gaps: number; frames: number }>;
  minMbps: number;
  maxMbps: number;
  /** All reading viewers' bytes over the time until the last one finished. */
  aggregateMbps: number;
  exact: boolean;
  /** Reading viewers the hub took off the stream and resynced from a snapshot (they fell more
   * than HANDOFF_VIEWER_BACKLOG_BYTES behind). */
  resynced: number;
  /** Times the hub asked the agent to hold the run's output (every viewer behind), renewals included. */
  holds: number;
  seconds: number;
  /** When the first byte reached a viewer (performance.now()). */
  firstByteAt: number;
  cpu: Record<string, number>;
  hubRss: RssSampler;
  /** The viewers' hub, when it is not the agent's. */
  viewerHubRss: RssSampler | null;
  agentRss: RssSampler | null;
  stalledViewers: BenchViewer[];
  /** From the trigger to the last byte, on the clock of CPU profiles (µs). */
  window: [number, number];
}

export async function streamRun(cluster: Cluster, opts: StreamOptions): Promise<StreamResult> {
  const payload = opts.payload;
  const total = payload ? payload.ptyBytes : ptyBytes(opts.bytes);
  const trigger = new Trigger(cluster.dir);
  const run = await cluster.createRun([`${trigger.shellWait}; ${payload ? `cat '${payload.file}'` : generatorCommand(opts.bytes)}`]);
  const viewers: BenchViewer[] = [];
  const stalled: BenchViewer[] = [];
  let probe: { stop(): Promise<void> } | null = null;
  let ok = false;
  const hubRss = new RssSampler(cluster.hubPid, 250);
  const agentRss = cluster.agentPid ? new RssSampler(cluster.agentPid, 250) : null;
  const viewerHub = opts.viewerHub ?? cluster;
  const viewerHubRss = opts.viewerHub ? new RssSampler(opts.viewerHub.hubPid, 250) : null;
  try {
    await cluster.waitLive(run.id);
    const connect = async () => {
      const v = await Viewer.connect(viewerHub.url, viewerHub.operatorToken);
      const join = await v.join(run.id);
      const snap = join.panes.find((p) => p.paneId === 'task');
      if (!snap) throw new Error('the join answer has no task pane snapshot');
      return v;
    };
    viewers.push(...(await Promise.all(Array.from({ length: opts.viewers }, connect))));
    for (const v of viewers) {
      const p = v.pane();
      p.verifier = payload ? new HashVerifier(payload, p.pos) : new StreamVerifier(total, p.pos);
    }
    for (let i = 0; i < (opts.stalled ?? 0); i++) {
      const v = await connect();
      v.stall();
      stalled.push(v);
    }
    probe = opts.during?.() ?? null;
    const cpu = new CpuMeter({ hub: cluster.hubPid, ...(opts.viewerHub ? { hubB: opts.viewerHub.hubPid } : {}), agent: cluster.agentPid, bench: process.pid });
    hubRss.start();
    viewerHubRss?.start();
    agentRss?.start();
    const holdsBefore = await viewerHub.metric('handoff_output_holds_total');
    const t0 = await trigger.fire();
    const w0 = monotonicUs();
    const timeoutMs = 60_000 + (total / MB) * 1000 * Math.max(1, opts.viewers / 2);
    await withTimeout(
      `${opts.viewers} viewer(s) receiving ${total} bytes`,
      Promise.all(viewers.map((v) => v.pane().reached(total))),
      timeoutMs,
    ).catch((err: Error) => {
      const where = viewers.map((v) => v.pane().pos).join(', ');
      throw new Error(`${err.message} (viewers at ${where})`);
    });
    const cpuUsed = cpu.stop();
    const holds = (await viewerHub.metric('handoff_output_holds_total')) - holdsBefore;
    const w1 = monotonicUs();
    if (probe) await probe.stop();
    probe = null;
    if (opts.tailMs) await new Promise((r) => setTimeout(r, opts.tailMs));
    hubRss.stop();
    viewerHubRss?.stop();
    agentRss?.stop();
    const perViewer = viewers.map((v) => {
      const p = v.pane();
      const seconds = (p.lastByteAt - t0) / 1000;
      const f = p.verifier as StreamVerifier | HashVerifier;
      // byte-exact: every byte from offset 0 as expected, and the last offset = the pty's output size
      // a viewer the hub resynced (it fell more than the hub's limit behind) skipped bytes: not exact
      const resyncs = p.snapshots.length - 1;
      const exact = (f instanceof HashVerifier ? f.exact() : f.exact) && f.start === 0 && p.pos === total && p.gaps === 0 && resyncs === 0;
      return { mbps: f.bytes / MB / seconds, seconds, exact, bytes: f.bytes, gaps: p.gaps + resyncs, frames: p.chunks };
    });
    const seconds = max(perViewer.map((v) => v.seconds));
    ok = true;
    return {
      ptyBytes: total,
      perViewer,
      minMbps: min(perViewer.map((v) => v.mbps)),
      maxMbps: max(perViewer.map((v) => v.mbps)),
      aggregateMbps: perViewer.reduce((s, v) => s + v.bytes, 0) / MB / seconds,
      exact: perViewer.every((v) => v.exact),
      resynced: perViewer.filter((v) => v.gaps > 0).length,
      firstByteAt: min(viewers.map((v) => v.pane().firstByteAt)),
      holds,
      seconds,
      cpu: cpuUsed,
      hubRss,
      viewerHubRss,
      agentRss,
      stalledViewers: stalled,
      window: [w0, w1],
    };
  } finally {
    if (probe) await probe.stop().catch(() => undefined);
    hubRss.stop();
    viewerHubRss?.stop();
    agentRss?.stop();
    for (const v of viewers) v.close();
    // stalled viewers are the caller's to inspect and close (they are returned); close them on error
    if (!ok) for (const v of stalled) v.close();
    await cluster.settle(run.id).catch(() => undefined);
  }
}

/**
 * `runs` independent runs, a viewer each, every step `cat`ing the payload once all viewers joined
 * (20 sessions of issue 17): aggregate MB/s = all bytes over the time from the first trigger to
 * the last byte of the slowest; byte-exact per viewer.
 */
export async function streamMany(cluster: Cluster, payload: Payload, runs: number): Promise<{ aggregateMbps: number; minMbps: number; exact: boolean; cpu: Record<string, number>; bytes: number }> {
  const triggers = Array.from({ length: runs }, () => new Trigger(cluster.dir));
  const created = await Promise.all(triggers.map((t) => cluster.createRun([`${t.shellWait}; cat '${payload.file}'`])));
  const viewers: BenchViewer[] = [];
  try {
    await Promise.all(created.map((r) => cluster.waitLive(r.id, 120_000)));
    for (const r of created) {
      const v = await Viewer.connect(cluster.url, cluster.operatorToken);
      await v.join(r.id);
      const p = v.pane();
      p.verifier = new HashVerifier(payload, p.pos);
      viewers.push(v);
    }
    const cpu = new CpuMeter({ hub: cluster.hubPid, agent: cluster.agentPid, bench: process.pid });
    const t0s = await Promise.all(triggers.map((t) => t.fire()));
    const t0 = min(t0s);
    await withTimeout(`${runs} runs' viewers receiving ${payload.ptyBytes} bytes each`, Promise.all(viewers.map((v) => v.pane().reached(payload.ptyBytes))), 60_000 + (runs * payload.ptyBytes * 1000) / MB);
    const used = cpu.stop();
    const seconds = (max(viewers.map((v) => v.pane().lastByteAt)) - t0) / 1000;
    const each = viewers.map((v, i) => payload.ptyBytes / MB / ((v.pane().lastByteAt - (t0s[i] as number)) / 1000));
    const exact = viewers.every((v) => {
      const p = v.pane();
      return (p.verifier as HashVerifier).exact() && p.gaps === 0 && p.snapshots.length === 1;
    });
    return { aggregateMbps: (runs * payload.ptyBytes) / MB / seconds, minMbps: min(each), exact, cpu: used, bytes: runs * payload.ptyBytes };
  } finally {
    for (const v of viewers) v.close();
    await Promise.all(created.map((r) => cluster.settle(r.id).catch(() => undefined)));
  }
}

/** Hub RSS growth per idle viewer: `n` viewers joined to one run whose step only waits (KiB each). */
export async function idleViewerKiB(cluster: Cluster, n: number): Promise<number> {
  const run = await cluster.createRun(['sleep 600']);
  const viewers: BenchViewer[] = [];
  try {
    await cluster.waitLive(run.id);
    const before = rssBytes(cluster.hubPid);
    for (let i = 0; i < n; i += 10) {
      viewers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(10, n - i) }, async () => {
            const v = await Viewer.connect(cluster.url, cluster.operatorToken);
            await v.join(run.id);
            return v;
          }),
        )),
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
    return (rssBytes(cluster.hubPid) - before) / 1024 / n;
  } finally {
    for (const v of viewers) v.close();
    await cluster.cancel(run.id);
    await cluster.settle(run.id).catch(() => undefined);
  }
}
