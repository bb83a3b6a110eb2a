/** Memory and CPU figures of a process, read from /proc (Linux). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Resident set size in bytes (VmRSS), or NaN when the process is gone / not Linux. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU seconds used so far by a process (its own threads, not its children). */
export function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may contain spaces) start after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds each named process used between start() and stop(). */
export class CpuMeter {
  private readonly start = new Map<string, number>();

  constructor(private readonly pids: Record<string, number | undefined>) {
    for (const [name, pid] of Object.entries(pids)) if (pid) this.start.set(name, cpuSeconds(pid));
  }

  stop(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = this.start.get(name);
      if (pid && s !== undefined) out[name] = cpuSeconds(pid) - s;
    }
    return out;
  }
}

/** Samples a process's RSS at a fixed interval. */
export class RssSampler {
  readonly samples: Array<{ t: number; rss: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): this {
    this.t0 = performance.now();
    this.take();
    this.timer = setInterval(() => this.take(), this.everyMs);
    return this;
  }

  private take(): void {
    const rss = rssBytes(this.pid);
    if (Number.isFinite(rss)) this.samples.push({ t: performance.now() - this.t0, rss });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.take();
  }

  get max(): number {
    return Math.max(...this.samples.map((s) => s.rss));
  }

  /** RSS growth from the moment `at` (performance.now()) on: max of the later samples minus the first of them. */
  growthSince(at: number): number {
    return this.growthAfter(at - this.t0);
  }

  /** RSS growth after `afterMs` (max of the later samples minus the sample at afterMs). */
  growthAfter(afterMs: number): number {
    const later = this.samples.filter((s) => s.t >= afterMs);
    if (later.length < 2) return 0;
    const first = (later[0] as { rss: number }).rss;
    return Math.max(...later.map((s) => s.rss)) - first;
  }
}
