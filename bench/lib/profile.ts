/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
 * and self time grouped by package / source file. CLI: bench/profileSummary.ts.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  busyMs: number;
  idleMs: number;
  gcMs: number;
  top: ProfileEntry[];
  byModule: Array<{ module: string; selfMs: number; pct: number }>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function where(url: string): string {
  if (!url) return '';
  let path = url;
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url);
    } catch {
      path = url;
    }
  }
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

/** node_modules package, node internal, or the project's file. */
function moduleOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native / V8)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] as string;
  if (url.startsWith('node:')) return 'node: (core)';
  return where(url);
}

/** Now on the clock of V8's profile timestamps (CLOCK_MONOTONIC, µs), valid across processes. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * `windows` (µs, from monotonicUs() in any process of this machine) keeps only the samples taken
 * inside them, e.g. the measured part of a run without the process's start-up.
 */
export function summarizeProfile(file: string, topN = 15, windows?: Array<[number, number]>): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  const inside = (t: number) => !windows || windows.some(([a, b]) => t >= a && t <= b);
  let windowMs = 0;
  // timeDeltas[i] is the time before sample i; attribute the time after a sample to it
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000;
    if (!inside(t)) continue;
    windowMs += dt;
    const id = prof.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, { name: string; where: string; selfMs: number }>();
  const mod = new Map<string, number>();
  let idleMs = 0;
  let gcMs = 0;
  let busyMs = 0;
  for (const [id, ms] of self) {
    const cf = (byId.get(id) as ProfileNode).callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (name === '(garbage collector)') gcMs += ms;
    busyMs += ms;
    const loc = cf.url ? `${where(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${name}@${loc}`;
    const e = fn.get(key) ?? { name, where: loc, selfMs: 0 };
    e.selfMs += ms;
    fn.set(key, e);
    const m = moduleOf(cf.url, name);
    mod.set(m, (mod.get(m) ?? 0) + ms);
  }
  const pct = (ms: number) => (busyMs ? (100 * ms) / busyMs : 0);
  return {
    file,
    wallMs: windows ? windowMs : (prof.endTime - prof.startTime) / 1000,
    busyMs,
    idleMs,
    gcMs,
    top: [...fn.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, topN)
      .map((e) => ({ ...e, pct: pct(e.selfMs) })),
    byModule: [...mod.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([module, selfMs]) => ({ module, selfMs, pct: pct(selfMs) })),
  };
}

export function formatProfile(s: ProfileSummary, title: string, topN = 12): string {
  const lines = [
    `${title}: busy ${(s.busyMs / 1000).toFixed(2)} s of ${(s.wallMs / 1000).toFixed(2)} s profiled (GC ${(s.gcMs / 1000).toFixed(2)} s; shares are of the busy time)`,
    '  self %   self ms  function (where)',
  ];
  for (const e of s.top.slice(0, topN)) lines.push(`  ${e.pct.toFixed(1).padStart(6)} ${e.selfMs.toFixed(0).padStart(9)}  ${e.name}${e.where ? ` (${e.where})` : ''}`);
  lines.push('  by package / file:');
  for (const m of s.byModule.slice(0, 8)) lines.push(`  ${m.pct.toFixed(1).padStart(6)} ${m.selfMs.toFixed(0).padStart(9)}  ${m.module}`);
  return lines.join('\n');
}
