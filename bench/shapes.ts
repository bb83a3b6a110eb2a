/**
 * The FIFO shape (`yes LINE | head -c N`) beside the user's shape (`cat FILE` of the same bytes)
 * through the whole pipeline (pty → agent → hub → 1 viewer), alternating in one run on one hub:
 * MB/s, CPU per MB of each process and of the agent's threads, frames per MB at the viewer.
 *
 *   node bin/run-ts.js bench/shapes.ts [--mb 50] [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster } from './lib/cluster.ts';
import { generatorCommand, ptyBytes } from './lib/pattern.ts';
import { makePayloads } from './lib/payloads.ts';
import type { Payload } from './lib/payloads.ts';
import { formatProfile, summarizeProfile } from './lib/profile.ts';
import { MB, median } from './lib/stats.ts';
import { streamRun } from './lib/streaming.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '50' }, runs: { type: 'string', default: '3' }, payloads: { type: 'string' }, prof: { type: 'string' }, only: { type: 'string' } } });
const bytes = Number(values.mb) * 1e6;
const runs = Number(values.runs);
const log = (m: string) => process.stderr.write(`[shapes] ${m}\n`);

/** CPU seconds of each thread of a process, summed by thread name. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(rest[11]) + Number(rest[12])) / 100);
    } catch {
      /* thread gone */
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'handoff-shapes-'));
const file = join(dir, 'yes.txt');
writeFileSync(file, execFileSync('bash', ['-c', generatorCommand(bytes)], { maxBuffer: bytes * 2 }));
const total = ptyBytes(bytes);
const yesFile: Payload = { name: 'yes-file', title: 'cat of the FIFO pattern', file, ptyBytes: total, sha256: '' };
const extra = values.payloads ? makePayloads(dir, bytes, values.payloads.split(',')) : [];
const prof = values.prof ? ['--cpu-prof', '--cpu-prof-dir', values.prof] : [];
const cluster = await Cluster.start({ capacity: 4, log, hubNodeArgs: prof, agentNodeArgs: prof });

const windows: Array<[number, number]> = [];
type Row = { mbps: number[]; perMb: Map<string, number[]>; framesPerMb: number[] };
const rows = new Map<string, Row>();
const row = (name: string): Row => {
  let r = rows.get(name);
  if (!r) rows.set(name, (r = { mbps: [], perMb: new Map(), framesPerMb: [] }));
  return r;
};
process.stdout.write(`${bytes / 1e6} MB, ${runs} runs, load at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
try {
  for (let i = 0; i < runs; i++) {
    for (const shape of ['fifo', 'cat', ...extra.map((p) => p.name)].filter((n) => !values.only || values.only.split(',').includes(n))) {
      const payload = shape === 'fifo' ? undefined : shape === 'cat' ? yesFile : extra.find((p) => p.name === shape);
      const agentPid = cluster.agentPid as number;
      const t0 = threadCpu(agentPid);
      const r = await streamRun(cluster, { bytes, viewers: 1, ...(payload ? { payload } : {}) });
      const frames = r.perViewer[0]?.frames ?? 0;
      windows.push(r.window);
      const t1 = threadCpu(agentPid);
      const rr = row(shape === 'fifo' ? 'yes | head -c (FIFO shape)' : shape === 'cat' ? 'cat FILE (same bytes)' : `cat ${shape}`);
      const mb = r.ptyBytes / MB;
      rr.mbps.push(r.minMbps);
      rr.framesPerMb.push(frames / mb);
      for (const [k, s] of Object.entries(r.cpu)) rr.perMb.set(k, [...(rr.perMb.get(k) ?? []), (s * 1000) / mb]);
      for (const [name, s] of t1) {
        const d = s - (t0.get(name) ?? 0);
        if (d > 0.02) rr.perMb.set(`agent:${name}`, [...(rr.perMb.get(`agent:${name}`) ?? []), (d * 1000) / mb]);
      }
      log(`${shape} ${i + 1}: ${r.minMbps.toFixed(1)} MB/s exact=${payload?.sha256 === '' ? 'n/a' : r.exact} load ${(loadavg()[0] ?? 0).toFixed(2)}`);
    }
  }
} catch (err) {
  log(`failed: ${(err as Error).stack} ${String((err as Error).cause)}\nhub: ${cluster.hub.tail.join('\n')}\nagent: ${cluster.agent?.tail.join('\n')}`);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
for (const [name, r] of rows) {
  const cpu = [...r.perMb].map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ');
  process.stdout.write(`${name.padEnd(28)} ${median(r.mbps).toFixed(1).padStart(6)} MB/s  ${median(r.framesPerMb).toFixed(1).padStart(6)} frames/MB  CPU ms/MB: ${cpu}\n`);
}
if (values.prof) {
  for (const f of readdirSync(values.prof).filter((n) => n.endsWith('.cpuprofile'))) {
    process.stdout.write(`${formatProfile(summarizeProfile(join(values.prof, f), 15, windows), f, 15)}\n\n`);
  }
}
process.stdout.write(`load at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
process.exit(0);
