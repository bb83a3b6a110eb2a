/**
 * Profile evidence: a hub and an agent started with `--cpu-prof`, one throughput run to 1 viewer
 * and one to 20 viewers, plus an inspector profile of this process (the viewers) during the
 * latter; each .cpuprofile is summarised (top self-time functions, by package).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { Cluster } from '../lib/cluster.ts';
import type { ProfileSummary } from '../lib/profile.ts';
import { summarizeProfile } from '../lib/profile.ts';
import { MB } from '../lib/stats.ts';
import { streamRun } from '../lib/streaming.ts';
import { lateJoin } from './lateJoin.ts';

export interface ProfileResult {
  bytes: { oneViewer: number; fanout: number };
  hub: ProfileSummary | null;
  agent: ProfileSummary | null;
  viewers: ProfileSummary | null;
  /** The agent and hub during late joins (10,000 lines of scrollback, several joins). */
  lateJoinAgent: ProfileSummary | null;
  lateJoinHub: ProfileSummary | null;
  files: Record<string, string>;
}

function newest(dir: string): string | null {
  const f = readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'));
  return f.length ? join(dir, f.sort().at(-1) as string) : null;
}

export async function profileRun(quick: boolean, outDir: string, log: (m: string) => void): Promise<ProfileResult> {
  const oneViewer = quick ? 10 * MB : 50 * MB;
  const fanout = quick ? 5 * MB : 20 * MB;
  const hubDir = join(outDir, 'hub');
  const agentDir = join(outDir, 'agent');
  const ljHubDir = join(outDir, 'latejoin-hub');
  const ljAgentDir = join(outDir, 'latejoin-agent');
  for (const d of [hubDir, agentDir, ljHubDir, ljAgentDir]) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
  }
  const cluster = await Cluster.start({ hubNodeArgs: ['--cpu-prof', '--cpu-prof-dir', hubDir], agentNodeArgs: ['--cpu-prof', '--cpu-prof-dir', agentDir] });
  let viewers: ProfileSummary | null;
  const files: Record<string, string> = {};
  const windows: Array<[number, number]> = [];
  let ljWindow: [number, number] | undefined;
  try {
    const a = await streamRun(cluster, { bytes: oneViewer, viewers: 1 });
    windows.push(a.window);
    log(`profile: 1 viewer ${a.minMbps.toFixed(1)} MB/s`);
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    const b = await streamRun(cluster, { bytes: fanout, viewers: 20 });
    windows.push(b.window);
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    log(`profile: 20 viewers min ${b.minMbps.toFixed(1)} MB/s`);
    const vf = join(outDir, 'viewers.cpuprofile');
    writeFileSync(vf, JSON.stringify(profile));
    files.viewers = vf;
    viewers = summarizeProfile(vf, 15, [b.window]);
  } finally {
    await cluster.stop();
  }
  const lj = await Cluster.start({ hubNodeArgs: ['--cpu-prof', '--cpu-prof-dir', ljHubDir], agentNodeArgs: ['--cpu-prof', '--cpu-prof-dir', ljAgentDir] });
  try {
    const r = await lateJoin.run({ quick: false, log: (m) => log(`profile: ${m}`), cluster: async () => lj }, 0);
    ljWindow = r.info?.windowUs as [number, number] | undefined;
  } finally {
    await lj.stop();
  }
  const found: Record<string, string | null> = { hub: newest(hubDir), agent: newest(agentDir), lateJoinHub: newest(ljHubDir), lateJoinAgent: newest(ljAgentDir) };
  for (const [k, f] of Object.entries(found)) if (f) files[k] = f;
  // only the measured parts: from each trigger to the last byte, and the joins
  const sum = (f: string | null, w: Array<[number, number]> | undefined) => (f && w?.length ? summarizeProfile(f, 15, w) : null);
  return {
    bytes: { oneViewer, fanout },
    hub: sum(found.hub ?? null, windows),
    agent: sum(found.agent ?? null, windows),
    viewers,
    lateJoinAgent: sum(found.lateJoinAgent ?? null, ljWindow && [ljWindow]),
    lateJoinHub: sum(found.lateJoinHub ?? null, ljWindow && [ljWindow]),
    files,
  };
}
