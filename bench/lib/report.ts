/**
 * Turns the scenarios' repetitions into the report: median / min / max of every figure, the
 * architecture §9 targets (ratios taken within this bench run), a "what limits it" line for each
 * target not reached (backed by the CPU accounting and, when taken, the CPU profiles), and the
 * printed table.
 */
import type { ProfileResult } from '../scenarios/profile.ts';
import type { ProfileSummary } from './profile.ts';
import { max, median, min } from './stats.ts';
import type { RepResult } from './types.ts';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface ScenarioOutcome {
  name: string;
  title: string;
  reps: RepResult[];
  errors: string[];
  summary: Record<string, Stat>;
  /** A check holds only if it held in every repetition. */
  checks: Record<string, boolean>;
  /** Why the scenario did not run here (see RepResult.skipped). */
  skipped?: string;
}

export function summarize(name: string, title: string, reps: RepResult[], errors: string[]): ScenarioOutcome {
  const summary: Record<string, Stat> = {};
  const keys = new Set(reps.flatMap((r) => Object.keys(r.metrics)));
  for (const k of keys) {
    const vals = reps.map((r) => r.metrics[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    summary[k] = { median: median(vals), min: min(vals), max: max(vals), n: vals.length };
  }
  const checks: Record<string, boolean> = {};
  for (const r of reps) for (const [k, v] of Object.entries(r.checks ?? {})) checks[k] = (checks[k] ?? true) && v;
  const skipped = reps.find((r) => r.skipped)?.skipped;
  return { name, title, reps, errors, summary, checks, ...(skipped ? { skipped } : {}) };
}

export interface Row {
  scenario: string;
  figure: string;
  unit: string;
  stat: Stat | null;
  digits: number;
  target?: string;
  reached?: boolean | null;
  limits?: string[];
}

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  os: string;
  store: string;
  /** 1-minute load average at the start and the end (other work on a shared machine). */
  loadStart: number;
  loadEnd?: number;
}

type Outcomes = Map<string, ScenarioOutcome>;

const single = (v: number): Stat => ({ median: v, min: Number.NaN, max: Number.NaN, n: 1 });

function stat(o: Outcomes, scenario: string, metric: string): Stat | null {
  const s = o.get(scenario)?.summary[metric];
  return s && s.n > 0 ? s : null;
}

function topOf(p: ProfileSummary | null | undefined, n = 4): string {
  if (!p) return '';
  const fns = p.top
    .filter((e) => !e.name.startsWith('(program)'))
    .slice(0, n)
    .map((e) => `${e.name}${e.where ? ` (${e.where})` : ''} ${e.pct.toFixed(0)}%`)
    .join(', ');
  const mods = p.byModule
    .slice(0, 3)
    .map((m) => `${m.module} ${m.pct.toFixed(0)}%`)
    .join(', ');
  return `top self time: ${fns}; by package: ${mods}`;
}

function cores(o: Outcomes, scenario: string): Array<[string, number]> {
  return (['agent', 'hub', 'bench'] as const)
    .map((p) => [p, stat(o, scenario, `core_${p}`)?.median ?? Number.NaN] as [string, number])
    .filter(([, v]) => Number.isFinite(v))
    .sort((a, b) => b[1] - a[1]);
}

const NAMES: Record<string, string> = { agent: 'agent', hub: 'hub', bench: 'viewers (bench process)' };

/** CPU cost per MB of each process: contention-independent (what each could do on a core of its own). */
function costLine(o: Outcomes, scenario: string): string {
  const parts = (['agent', 'hub', 'bench'] as const)
    .map((p) => [p, stat(o, scenario, `msPerMB_${p}`)?.median ?? Number.NaN] as [string, number])
    .filter(([, v]) => Number.isFinite(v))
    .sort((a, b) => b[1] - a[1]);
  if (!parts.length) return '';
  const base = stat(o, 'baseline', 'msPerMB')?.median;
  return (
    `CPU per MB of output: ${parts.map(([p, v]) => `${NAMES[p]} ${v.toFixed(1)} ms (≤ ${(1000 / v).toFixed(0)} MB/s on a core of its own)`).join(', ')}` +
    (base ? `; the baseline's pty read costs ${base.toFixed(1)} ms/MB` : '')
  );
}

function coreLine(o: Outcomes, scenario: string): string {
  const c = cores(o, scenario);
  if (!c.length) return '';
  const total = c.reduce((s, [, v]) => s + v, 0);
  return `while streaming, CPU use in cores: ${c.map(([p, v]) => `${NAMES[p]} ${v.toFixed(2)}`).join(', ')} (sum ${total.toFixed(2)} of the machine's cores)`;
}

export function buildRows(o: Outcomes, profile: ProfileResult | null, nproc: number): Row[] {
  const rows: Row[] = [];
  const add = (scenario: string, metric: string, figure: string, unit: string, digits = 1) => {
    const s = stat(o, scenario, metric);
    if (s) rows.push({ scenario, figure, unit, stat: s, digits });
    return s;
  };
  const target = (row: Omit<Row, 'reached'> & { reached: boolean | null }) => rows.push(row);
  const failedChecks = (scenario: string) =>
    Object.entries(o.get(scenario)?.checks ?? {})
      .filter(([, v]) => !v)
      .map(([k]) => k);

  if (o.has('baseline')) {
    add('baseline', 'mbps', 'node-pty read, one process', 'MB/s');
    add('baseline', 'echoP99', 'node-pty raw echo p99', 'ms', 3);
  }
  if (o.has('throughput')) {
    const tp = add('throughput', 'mbps', '1 viewer', 'MB/s');
    const base = stat(o, 'baseline', 'mbps');
    const bad = failedChecks('throughput');
    if (tp && base) {
      const ratio = tp.median / base.median;
      const limits: string[] = [costLine(o, 'throughput')];
      const c = cores(o, 'throughput');
      if (c.length) {
        const [who, share] = c[0] as [string, number];
        limits.push(`${coreLine(o, 'throughput')}; the ${NAMES[who]} is ${share >= 0.85 ? 'saturated (one core, single-threaded)' : 'the busiest'}` + (nproc <= 2 && c.reduce((s, [, v]) => s + v, 0) > 0.85 * nproc ? `, and together they fill the ${nproc} cores` : ''));
        const prof = who === 'agent' ? profile?.agent : who === 'hub' ? profile?.hub : profile?.viewers;
        if (prof) limits.push(`${NAMES[who]} profile — ${topOf(prof)}`);
      }
      if (bad.length) limits.unshift(`checks failed: ${bad.join(', ')}`);
      target({ scenario: 'throughput', figure: '1 viewer ÷ baseline', unit: '×', stat: single(ratio), digits: 2, target: '≥ 0.90', reached: ratio >= 0.9 && !bad.length, limits });
    }
    add('throughput', 'agentRssMaxMiB', 'agent RSS max while streaming', 'MiB', 0);
  }
  if (o.has('fanout')) {
    add('fanout', 'oneViewerMbps', '1 viewer (paired reference)', 'MB/s');
    add('fanout', 'minViewerMbps', '20 viewers: min per viewer', 'MB/s');
    add('fanout', 'aggregateMbps', '20 viewers: aggregate', 'MB/s');
    add('fanout', 'resynced', '20 viewers: resynced by the hub (fell past its bound)', '', 0);
    add('fanout', 'holds', "20 viewers: hub held the run's output (all behind)", 'times', 0);
    const r = stat(o, 'fanout', 'ratio');
    const bad = failedChecks('fanout');
    if (r) {
      const limits: string[] = [costLine(o, 'fanout'), coreLine(o, 'fanout')];
      const agg = stat(o, 'fanout', 'aggregateMbps');
      const one = stat(o, 'fanout', 'oneViewerMbps');
      if (agg && one) limits.push(`the aggregate (${agg.median.toFixed(0)} MB/s) is ${(agg.median / one.median).toFixed(1)}× the one-viewer figure: 20 copies of every chunk are written by the hub and decoded by 20 clients on the same ${nproc} cores`);
      if (profile?.hub) limits.push(`hub profile — ${topOf(profile.hub)}`);
      if (profile?.viewers) limits.push(`viewers' profile — ${topOf(profile.viewers, 3)}`);
      const resynced = stat(o, 'fanout', 'resynced');
      if (resynced && resynced.max > 0)
        limits.push(
          `in ${o.get('fanout')?.reps.filter((x) => (x.metrics.resynced ?? 0) > 0).length} repetition(s) up to ${resynced.max} of the 20 viewers fell more than the hub's bound (HANDOFF_VIEWER_BACKLOG_BYTES) behind the others and were resynced from a snapshot (not byte-exact) while the others' queues were small: the hub holds the run only while every viewer is behind (architecture §5 isolates a slow one instead), and the hub-side queue of equally fed viewers differs with how much each connection's kernel buffers absorb (loopback autotunes them per connection, up to tens of MB)`,
        );
      if (bad.length) limits.unshift(`checks failed: ${bad.join(', ')}`);
      target({ scenario: 'fanout', figure: 'min per viewer ÷ 1 viewer', unit: '×', stat: r, digits: 2, target: '≥ 0.80', reached: r.median >= 0.8 && !bad.length, limits });
    }
  }
  if (o.has('fanout2')) {
    // no architecture §9 target: information beside the one-hub figure of the same repetition
    const skipped = o.get('fanout2')?.skipped;
    if (skipped) rows.push({ scenario: 'fanout2', figure: `skipped: ${skipped}`, unit: '', stat: null, digits: 0 });
    else {
      const bad = failedChecks('fanout2');
      add('fanout2', 'oneViewerMbps', '1 viewer on hub A (paired reference)', 'MB/s');
      add('fanout2', 'oneHubMinViewerMbps', 'one hub: 20 viewers on hub A, min per viewer', 'MB/s');
      add('fanout2', 'minViewerMbps', 'two hubs: 20 viewers on hub B, min per viewer', 'MB/s');
      add('fanout2', 'aggregateMbps', 'two hubs: aggregate', 'MB/s');
      add('fanout2', 'ratio', `two hubs ÷ one hub (min per viewer)${bad.length ? ` — checks failed: ${bad.join(', ')}` : ''}`, '×', 2);
      add('fanout2', 'oneHub_msPerMB_hub', 'one hub: hub CPU per MB', 'ms', 1);
      add('fanout2', 'msPerMB_hub', "two hubs: hub A (agent's) CPU per MB", 'ms', 1);
      add('fanout2', 'msPerMB_hubB', "two hubs: hub B (viewers') CPU per MB", 'ms', 1);
    }
  }
  if (o.has('userruns')) {
    const u = o.get('userruns') as ScenarioOutcome;
    const names = Object.keys(u.summary)
      .filter((k) => k.endsWith('_handoff') && !/^(echo|sessions_|idleKiB_)/.test(k))
      .map((k) => k.slice(0, -'_handoff'.length));
    for (const n of names) {
      add('userruns', `${n}_load`, `${n}: load average (1 min) when measured`, '', 1);
      add('userruns', `${n}_raw`, `${n}: node-pty read`, 'MB/s');
      add('userruns', `${n}_wetty`, `${n}: WeTTY, 1 client`, 'MB/s');
      add('userruns', `${n}_handoff`, `${n}: handoff, 1 viewer`, 'MB/s');
      const bad = failedChecks('userruns').filter((c) => c.startsWith(`${n}_`));
      const perMB = (['agent', 'hub', 'bench'] as const)
        .map((p) => [p, stat(o, 'userruns', `${n}_msPerMB_${p}`)?.median ?? Number.NaN] as [string, number])
        .filter(([, v]) => Number.isFinite(v))
        .sort((a, b) => b[1] - a[1]);
      const cost = perMB.length ? `CPU per MB of this payload: ${perMB.map(([p, v]) => `${NAMES[p]} ${v.toFixed(1)} ms (≤ ${(1000 / v).toFixed(0)} MB/s on a core of its own)`).join(', ')}; from the profiles (bench/README.md, users' runs): the hub's is mostly the run's recording written to the store as it flows, the agent's the screen mirror and its socket writes` : '';
      const vsRaw = stat(o, 'userruns', `${n}_vsRaw`);
      if (vsRaw) target({ scenario: 'userruns', figure: `${n}: handoff ÷ node-pty`, unit: '×', stat: vsRaw, digits: 2, target: '≥ 0.90', reached: vsRaw.median >= 0.9 && !bad.length, limits: bad.length ? [`checks failed: ${bad.join(', ')}`, cost] : [cost] });
      const vsWetty = stat(o, 'userruns', `${n}_vsWetty`);
      if (vsWetty) target({ scenario: 'userruns', figure: `${n}: handoff ÷ WeTTY`, unit: '×', stat: vsWetty, digits: 2, target: '> 1 (ahead of WeTTY)', reached: vsWetty.median > 1 && !bad.length, limits: [cost] });
    }
    add('userruns', 'sessions_raw', '20 sessions (base64): node-pty reading 20 ptys, aggregate', 'MB/s');
    add('userruns', 'sessions_wetty', '20 sessions: WeTTY, aggregate', 'MB/s');
    add('userruns', 'sessions_handoff', '20 sessions: handoff, 20 runs a viewer each, aggregate', 'MB/s');
    const sBad = failedChecks('userruns').filter((c) => c.startsWith('sessions_'));
    const sPerMB = (['agent', 'hub', 'bench'] as const)
      .map((p) => [p, stat(o, 'userruns', `sessions_msPerMB_${p}`)?.median ?? Number.NaN] as [string, number])
      .filter(([, v]) => Number.isFinite(v));
    const sCost = sPerMB.length ? `CPU per MB: ${sPerMB.map(([p, v]) => `${NAMES[p]} ${v.toFixed(1)} ms`).join(', ')}` : '';
    const sRaw = stat(o, 'userruns', 'sessions_vsRaw');
    if (sRaw) target({ scenario: 'userruns', figure: '20 sessions: handoff ÷ node-pty', unit: '×', stat: sRaw, digits: 2, target: '≥ 0.90', reached: sRaw.median >= 0.9 && !sBad.length, limits: sBad.length ? [`checks failed: ${sBad.join(', ')}`, sCost] : [sCost] });
    const sWetty = stat(o, 'userruns', 'sessions_vsWetty');
    if (sWetty) target({ scenario: 'userruns', figure: '20 sessions: handoff ÷ WeTTY', unit: '×', stat: sWetty, digits: 2, target: '> 1 (ahead of WeTTY)', reached: sWetty.median > 1 && !sBad.length, limits: [sCost] });
    add('userruns', 'idleKiB_wetty', 'idle connection: WeTTY process RSS each (its session waiting)', 'KiB', 1);
    add('userruns', 'idleKiB_handoff', 'idle viewer joined to a run: hub RSS each', 'KiB', 1);
    add('userruns', 'echoP50_wetty', 'echo p50, WeTTY', 'ms', 2);
    add('userruns', 'echoP50_handoff', 'echo p50, handoff', 'ms', 2);
    const ours = stat(o, 'userruns', 'echoP99_handoff');
    const theirs = stat(o, 'userruns', 'echoP99_wetty');
    if (theirs) add('userruns', 'echoP99_wetty', 'echo p99, WeTTY', 'ms', 2);
    if (ours) target({ scenario: 'userruns', figure: 'echo p99, handoff', unit: 'ms', stat: ours, digits: 2, target: '≤ 2 ms and below WeTTY', reached: ours.median <= 2 && (!theirs || ours.median < theirs.median), limits: [`see the echo scenario's line: the same round trip, measured alone`] });
  }
  if (o.has('echo')) {
    add('echo', 'p50', 'echo round trip p50', 'ms', 2);
    add('echo', 'p95', 'echo round trip p95', 'ms', 2);
    const p99 = stat(o, 'echo', 'p99');
    if (p99) {
      const p50 = stat(o, 'echo', 'p50');
      const limits: string[] = [];
      if (p50 && p50.median >= 4)
        limits.push(
          `even the median is ≥ 4 ms: the agent's OutputCoalescer (agent/outputCoalescer.ts, maxDelayMs = 4) holds a small chunk for a 4 ms setTimeout before sending it — every echo waits for that timer; the pty itself echoes in ${stat(o, 'baseline', 'echoP99')?.median.toFixed(2) ?? '<1'} ms (p99)`,
        );
      else if (p50 && p99.median > 2)
        limits.push(
          `the median round trip is ${p50.median.toFixed(2)} ms; the slowest 1 % are round trips in which one of the six hops (viewer → hub → agent → pty → agent → hub → viewer) waited 2–6 ms for its process to be scheduled — at any hop, not one code path (a per-hop trace in bench/README.md); back to back, the round trips keep ~1.5 of the ${nproc} cores busy`,
        );
      const hubMs = stat(o, 'echo', 'hubCpuPerEchoMs');
      const agMs = stat(o, 'echo', 'agentCpuPerEchoMs');
      if (hubMs && agMs) limits.push(`CPU per round trip: hub ${hubMs.median.toFixed(2)} ms, agent ${agMs.median.toFixed(2)} ms — latency is waiting, not work`);
      target({ scenario: 'echo', figure: 'echo round trip p99', unit: 'ms', stat: p99, digits: 2, target: '≤ 2 ms', reached: p99.median <= 2, limits });
    }
  }
  if (o.has('latejoin')) {
    const ms = stat(o, 'latejoin', 'ms');
    const bad = failedChecks('latejoin');
    if (ms) {
      const ack = stat(o, 'latejoin', 'ackMs');
      const parse = stat(o, 'latejoin', 'parseMs');
      const kib = stat(o, 'latejoin', 'snapshotKiB');
      const limits = [
        `of which join ack (hub → agent: snapshot of the visible screen, sent back over both hops) ${ack?.median.toFixed(1)} ms and writing + parsing it in the viewer's terminal ${parse?.median.toFixed(1)} ms; the full state (${kib?.median.toFixed(0)} KiB with scrollback) follows as pane:snapshot`,
      ];
      if (profile?.lateJoinAgent) limits.push(`agent profile during joins — ${topOf(profile.lateJoinAgent)}`);
      if (profile?.lateJoinHub) limits.push(`hub profile during joins — ${topOf(profile.lateJoinHub, 3)}`);
      if (bad.length) limits.unshift(`checks failed: ${bad.join(', ')}`);
      target({ scenario: 'latejoin', figure: 'first full screen', unit: 'ms', stat: ms, digits: 1, target: '≤ 50 ms', reached: ms.median <= 50 && !bad.length, limits });
    }
    add('latejoin', 'ackMs', 'join ack', 'ms');
    add('latejoin', 'parseMs', 'screen snapshot write + parse', 'ms');
    add('latejoin', 'fullMs', 'with all 10,000 lines of scrollback (pushed after the ack)', 'ms');
    add('latejoin', 'snapshotKiB', 'full snapshot size', 'KiB', 0);
  }
  if (o.has('idle')) {
    add('idle', 'sockets', 'sockets connected (agents + viewers)', '', 0);
    add('idle', 'connectSeconds', 'time to connect them all', 's', 1);
    add('idle', 'rssBeforeMiB', 'hub RSS before', 'MiB', 0);
    const after = stat(o, 'idle', 'rssAfterMiB');
    const per = stat(o, 'idle', 'perSocketKiB');
    const bad = failedChecks('idle');
    const sockets = stat(o, 'idle', 'sockets')?.median ?? 0;
    const full = sockets >= 11_000;
    if (after) {
      const before = stat(o, 'idle', 'rssBeforeMiB');
      const limits = [`the hub starts at ${before?.median.toFixed(0)} MiB with no socket (embedded PGlite runs inside the hub process) and adds ${per?.median.toFixed(1)} KiB per socket`];
      if (bad.length) limits.unshift(`checks failed: ${bad.join(', ')}`);
      target({ scenario: 'idle', figure: `hub RSS after${full ? '' : ` (${sockets} sockets only)`}`, unit: 'MiB', stat: after, digits: 0, target: '≤ 1024 MiB', reached: after.median <= 1024 && !bad.length, limits });
    }
    if (per) target({ scenario: 'idle', figure: 'per socket', unit: 'KiB', stat: per, digits: 1, target: '≤ 100 KiB', reached: per.median <= 100 && !bad.length, limits: [] });
  }
  if (o.has('idlehub')) {
    add('idlehub', 'firstStartPeakMiB', 'peak on the first start (creating the store)', 'MiB', 0);
    add('idlehub', 'firstStartMiB', 'idle after the first start', 'MiB', 0);
    const again = stat(o, 'idlehub', 'restartMiB');
    if (again) {
      const limits = [
        'in the hub process: Node with the tsx loader ~63 MiB, the PGlite module ~49 MiB and its WASM heap (16 MB shared buffers), MikroORM ~36 MiB (import costs measured one by one)',
      ];
      target({ scenario: 'idlehub', figure: 'idle after a restart', unit: 'MiB', stat: again, digits: 0, target: '≤ 200 MiB', reached: again.median <= 200, limits });
    }
  }
  if (o.has('slow')) {
    add('slow', 'othersMbpsWithout', 'others (min of 5) without a stalled viewer', 'MB/s');
    add('slow', 'othersMbpsWith', 'others (min of 5) with one stalled viewer', 'MB/s');
    const r = stat(o, 'slow', 'ratio');
    const bad = failedChecks('slow').filter((k) => k !== 'flat');
    const growth = stat(o, 'slow', 'hubRssGrowthAfter1sMiB');
    if (r) {
      const limits: string[] = [];
      if (growth && growth.median > 32) limits.push(`hub RSS +${growth.median.toFixed(0)} MiB after the first second of output with the stalled viewer`);
      const p99a = stat(o, 'slow', 'probeP99Without');
      const p99b = stat(o, 'slow', 'probeP99With');
      if (p99a && p99b) limits.push(`echo probe on another run, p99: ${p99a.median.toFixed(1)} ms without, ${p99b.median.toFixed(1)} ms with the stalled viewer`);
      if (bad.length) limits.unshift(`checks failed: ${bad.join(', ')}`);
      target({ scenario: 'slow', figure: 'others with ÷ without', unit: '×', stat: r, digits: 2, target: '≥ 0.95', reached: r.median >= 0.95 && !bad.length, limits });
    }
    add('slow', 'probeP99Without', 'echo probe p99 without', 'ms', 1);
    add('slow', 'probeP99With', 'echo probe p99 with', 'ms', 1);
    add('slow', 'hubRssMaxMiB', 'hub RSS max (with the stalled viewer)', 'MiB', 0);
    if (growth) {
      const flat = o.get('slow')?.checks.flat ?? false;
      target({
        scenario: 'slow',
        figure: 'hub RSS growth after the first second of output',
        unit: 'MiB',
        stat: growth,
        digits: 0,
        target: 'flat (≤ 32 MiB)',
        reached: flat,
        limits: flat
          ? []
          : [
              `the hub keeps up to HANDOFF_VIEWER_BACKLOG_BYTES (32 MiB) queued for the stalled viewer before taking it off the stream (hub/realtime/slowViewerGuard.ts); growth past that is the allocator and GC of the relay, not a queue`,
            ],
      });
    }
  }
  return rows;
}

function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatTable(rows: Row[]): string {
  const header = ['scenario', 'figure', 'median', 'min', 'max', 'unit', 'target', 'status'];
  const body = rows.map((r) => [
    r.scenario,
    r.figure,
    r.stat ? fmt(r.stat.median, r.digits) : '',
    r.stat && r.stat.n > 1 ? fmt(r.stat.min, r.digits) : '',
    r.stat && r.stat.n > 1 ? fmt(r.stat.max, r.digits) : '',
    r.unit,
    r.target ?? '',
    r.target ? (r.reached ? 'reached' : 'NOT reached') : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const right = new Set([2, 3, 4]);
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const b of body) out.push(line(b));
  const missed = rows.filter((r) => r.target && !r.reached);
  if (missed.length) {
    out.push('', 'What limits it:');
    for (const r of missed) {
      out.push(`- ${r.scenario} / ${r.figure}:`);
      for (const l of r.limits ?? []) if (l) out.push(`    ${l}`);
    }
  }
  return out.join('\n');
}

export function formatMarkdown(rows: Row[]): string {
  const out = ['| scenario | figure | median | min | max | unit | target | status |', '| --- | --- | ---: | ---: | ---: | --- | --- | --- |'];
  for (const r of rows) {
    out.push(
      `| ${r.scenario} | ${r.figure} | ${r.stat ? fmt(r.stat.median, r.digits) : ''} | ${r.stat && r.stat.n > 1 ? fmt(r.stat.min, r.digits) : ''} | ${r.stat && r.stat.n > 1 ? fmt(r.stat.max, r.digits) : ''} | ${r.unit} | ${r.target ?? ''} | ${r.target ? (r.reached ? 'reached' : '**not reached**') : ''} |`,
    );
  }
  const missed = rows.filter((r) => r.target && !r.reached);
  if (missed.length) {
    out.push('', 'What limits it:', '');
    for (const r of missed) {
      out.push(`- **${r.scenario} / ${r.figure}**`);
      for (const l of r.limits ?? []) if (l) out.push(`  - ${l}`);
    }
  }
  return out.join('\n');
}
