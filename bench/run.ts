/**
 * `npm run bench` — the performance suite of issue #6 against the targets of architecture §9.
 *
 *   npm run bench                          all scenarios, 3 repetitions, full sizes, with profiles
 *   npm run bench -- --quick               1 small repetition of each (no profiles)
 *   npm run bench -- --only echo,latejoin  some scenarios (and those their ratios need)
 *   options: --runs N, --profile / --no-profile, --out DIR
 *
 * A hub (embedded store in a temp folder, or PostgreSQL when HANDOFF_BENCH_DATABASE_URL is set)
 * and an agent run as their own processes (fanout2: two hubs on a fresh PostgreSQL database and
 * Redis, skipped when those are unreachable); viewers live in this process (or, for the idle-scale
 * scenario, in child processes). Prints a table (median with min and max of the repetitions,
 * each architecture §9 target beside its figure) and writes it as JSON to bench/results/latest.json
 * plus a timestamped copy.
 */
import { cpus } from 'node:os';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, ROOT } from './lib/cluster.ts';
import { formatProfile } from './lib/profile.ts';
import type { Machine, ScenarioOutcome } from './lib/report.ts';
import { buildRows, formatMarkdown, formatTable, summarize } from './lib/report.ts';
import type { BenchContext, RepResult, Scenario } from './lib/types.ts';
import { baseline } from './scenarios/baseline.ts';
import { echo } from './scenarios/echo.ts';
import { fanout2 } from './scenarios/fanout2.ts';
import { idleScale } from './scenarios/idleScale.ts';
import { lateJoin } from './scenarios/lateJoin.ts';
import type { ProfileResult } from './scenarios/profile.ts';
import { profileRun } from './scenarios/profile.ts';
import { slowViewer } from './scenarios/slowViewer.ts';
import { fanout, throughput } from './scenarios/throughput.ts';
import { idleHubScenario } from './scenarios/idleHub.ts';
import { userRuns } from './scenarios/userRuns.ts';

/** In run order: the ones sharing a hub first, then the ones that start their own. */
const SCENARIOS: Scenario[] = [baseline, throughput, fanout, echo, userRuns, lateJoin, slowViewer, idleScale, idleHubScenario, fanout2];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    runs: { type: 'string' },
    profile: { type: 'boolean' },
    'no-profile': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(`usage: npm run bench -- [--quick] [--only ${SCENARIOS.map((s) => s.name).join(',')}] [--runs N] [--profile|--no-profile] [--out DIR]\n`);
  process.exit(0);
}

const quick = values.quick ?? false;
const runs = values.runs ? Math.max(1, Number(values.runs)) : quick ? 1 : 3;
const withProfile = values['no-profile'] ? false : (values.profile ?? !quick);
let selected = SCENARIOS;
if (values.only) {
  const names = new Set(values.only.split(',').map((s) => s.trim()).filter(Boolean));
  const unknown = [...names].filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.name).join(', ')})\n`);
    process.exit(2);
  }
  for (const s of SCENARIOS) if (names.has(s.name)) for (const n of s.needs ?? []) names.add(n);
  selected = SCENARIOS.filter((s) => names.has(s.name));
}
const outDir = values.out ?? join(ROOT, 'bench', 'results');

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function machine(): Machine {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    os: `${process.platform} ${release()}`,
    store: process.env.HANDOFF_BENCH_DATABASE_URL ? 'postgresql' : 'embedded',
    loadStart: loadavg()[0] as number,
  };
}

let shared: Promise<Cluster> | null = null;
const ctx: BenchContext = {
  quick,
  log,
  cluster() {
    shared ??= (log('starting the shared hub + agent'), Cluster.start({ capacity: 4, log }));
    return shared;
  },
};

async function main(): Promise<void> {
  const m = machine();
  const started = new Date();
  log(`${quick ? 'quick' : 'full'} run: ${selected.map((s) => s.name).join(', ')} × ${runs}; ${m.nproc} cores, ${m.cpu}, node ${m.node}, ${m.store} store`);
  const outcomes = new Map<string, ScenarioOutcome>();
  let profile: ProfileResult | null = null;
  try {
    for (const s of selected) {
      const reps: RepResult[] = [];
      const errors: string[] = [];
      for (let i = 0; i < runs; i++) {
        log(`${s.name} ${i + 1}/${runs}: ${s.title}`);
        try {
          const r = await s.run(ctx, i);
          reps.push(r);
          if (r.skipped) {
            log(`${s.name} skipped: ${r.skipped}`);
            break;
          }
        } catch (err) {
          const msg = (err as Error).stack ?? String(err);
          errors.push(msg);
          log(`${s.name} failed: ${msg}`);
        }
      }
      outcomes.set(s.name, summarize(s.name, s.title, reps, errors));
    }
  } finally {
    if (shared) await (await shared.catch(() => null))?.stop();
  }
  if (withProfile) {
    log('profiling hub, agent and viewers (--cpu-prof) on a throughput run to 1 and to 20 viewers');
    try {
      profile = await profileRun(quick, join(outDir, 'profiles'), log);
    } catch (err) {
      log(`profiling failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  m.loadEnd = loadavg()[0] as number;
  const rows = buildRows(outcomes, profile, m.nproc);
  const table = formatTable(rows);
  const profileText = profile
    ? [
        profile.agent && formatProfile(profile.agent, `agent (${profile.bytes.oneViewer / 1e6} MB to 1 viewer, then ${profile.bytes.fanout / 1e6} MB to 20)`),
        profile.hub && formatProfile(profile.hub, 'hub (same runs)'),
        profile.viewers && formatProfile(profile.viewers, `viewers: this process during the 20-viewer run`),
        profile.lateJoinAgent && formatProfile(profile.lateJoinAgent, 'agent during late joins (10,000 lines of scrollback)'),
        profile.lateJoinHub && formatProfile(profile.lateJoinHub, 'hub during late joins'),
      ]
        .filter(Boolean)
        .join('\n\n')
    : '';
  const header = `handoff benchmark — ${started.toISOString()} — ${quick ? 'quick (1 small run)' : `median of ${runs}`} — ${m.nproc} cores, ${m.cpu}, node ${m.node}, ${m.store} store, load average ${m.loadStart.toFixed(1)} → ${m.loadEnd.toFixed(1)}`;
  process.stdout.write(`\n${header}\n\n${table}\n${profileText ? `\nCPU profiles (self time):\n\n${profileText}\n` : ''}`);
  const errors = [...outcomes.values()].filter((o) => o.errors.length);
  if (errors.length) process.stdout.write(`\nscenarios with failed repetitions: ${errors.map((o) => `${o.name} (${o.errors.length})`).join(', ')}\n`);

  const result = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    runs,
    machine: m,
    scenarios: Object.fromEntries([...outcomes].map(([k, o]) => [k, o])),
    rows,
    table,
    markdown: formatMarkdown(rows),
    profile,
  };
  mkdirSync(outDir, { recursive: true });
  const json = `${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  for (const name of [`${stamp}${quick ? '-quick' : ''}.json`, 'latest.json']) {
    const file = join(outDir, name);
    writeFileSync(`${file}.tmp`, json);
    renameSync(`${file}.tmp`, file);
  }
  writeFileSync(join(outDir, 'latest.md'), `${header}\n\n${result.markdown}\n`);
  log(`results written to ${join(outDir, 'latest.json')} and ${stamp}${quick ? '-quick' : ''}.json`);
  process.exitCode = errors.length ? 1 : 0;
}

await main();
process.exit();
