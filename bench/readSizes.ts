/**
 * Why does `yes LINE | head -c N` through a pty run faster than `cat FILE` of the same bytes?
 * Reads each shape from node-pty in this process (no network), several times each, and prints
 * MB/s, CPU of this process per MB, the number of pty reads per MB and their sizes.
 *
 *   node bin/run-ts.js bench/readSizes.ts [--mb 50] [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ptyRead } from './lib/peers.ts';
import { generatorCommand, LINE, ptyBytes } from './lib/pattern.ts';
import { MB, median } from './lib/stats.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '50' }, runs: { type: 'string', default: '3' } } });
const bytes = Number(values.mb) * 1e6;
const runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), 'handoff-readsizes-'));
const file = join(dir, 'yes.txt');
writeFileSync(file, execFileSync('bash', ['-c', generatorCommand(bytes)], { maxBuffer: bytes * 2 }));
const total = ptyBytes(bytes);

interface Shape {
  name: string;
  command: string;
}
const shapes: Shape[] = [
  { name: 'yes | head -c (pipe into the pty)', command: generatorCommand(bytes) },
  { name: 'cat FILE', command: `cat '${file}'` },
  { name: 'cat FILE | cat (pipe into the pty)', command: `cat '${file}' | cat` },
  { name: 'dd bs=8K (8 KiB writes)', command: `dd if='${file}' bs=8K status=none` },
  { name: 'dd bs=128K (128 KiB writes)', command: `dd if='${file}' bs=128K status=none` },
];

process.stdout.write(`${bytes / 1e6} MB of '${LINE.slice(0, 20)}…' lines, ${runs} runs each, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
for (const s of shapes) {
  const mbps: number[] = [];
  const cpuPerMb: number[] = [];
  const readsPerMb: number[] = [];
  const meanRead: number[] = [];
  const hist = new Map<number, number>();
  for (let i = 0; i < runs; i++) {
    let reads = 0;
    const c0 = process.cpuUsage();
    const seconds = await ptyRead(dir, s.command, total, (chunk) => {
      reads++;
      const bucket = 2 ** Math.ceil(Math.log2(Math.max(1, chunk.length)));
      hist.set(bucket, (hist.get(bucket) ?? 0) + 1);
    });
    const c = process.cpuUsage(c0);
    mbps.push(total / MB / seconds);
    cpuPerMb.push((c.user + c.system) / 1000 / (total / MB));
    readsPerMb.push(reads / (total / MB));
    meanRead.push(total / reads);
  }
  const top = [...hist.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([b, n]) => `≤${b >= 1024 ? `${b / 1024}K` : b}: ${Math.round((100 * n) / [...hist.values()].reduce((x, y) => x + y, 0))}%`);
  process.stdout.write(
    `${s.name.padEnd(38)} ${median(mbps).toFixed(1).padStart(6)} MB/s  reader CPU ${median(cpuPerMb).toFixed(1).padStart(5)} ms/MB  ${median(readsPerMb).toFixed(0).padStart(5)} reads/MB  mean read ${(median(meanRead) / 1024).toFixed(1).padStart(5)} KiB  (${top.join(', ')})\n`,
  );
}
process.stdout.write(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
