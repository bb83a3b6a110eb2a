/** Periodic once-per-deployment work: session TTL, RW grant expiry, lost workers (architecture §10). */
import type { Logger } from 'pino';
import type { LiveSessionService } from '../domain/liveSessions.ts';
import type { TaskRunService } from '../domain/taskRuns.ts';
import type { HubMetrics } from '../metrics.ts';
import type { LeaderLock } from './leaderLock.ts';

export class SessionSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly deps: {
      runs: TaskRunService;
      sessions: LiveSessionService;
      /** null on the embedded store, where this process is the only one. */
      lock: LeaderLock | null;
      metrics: HubMetrics;
      log: Logger;
      intervalMs: number;
    },
  ) {}

  /**
   * Since when heartbeats could reach the database without a break: the hub's start, or the end
   * of the last failed sweep (database away). Agents silent only because of that are not lost.
   */
  private listeningSince = new Date();

  start(): void {
    this.listeningSince = new Date();
    const tick = () => {
      this.running = this.sweepOnce()
        .catch((err) => {
          this.listeningSince = new Date();
          this.deps.log.warn({ err: (err as Error).message }, 'sweep failed');
        })
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, this.deps.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** One pass; returns what it changed. Exposed for tests and for `handoff` maintenance. */
  async sweepOnce(now = new Date()): Promise<{ ttl: number; rw: number; lost: number } | null> {
    const { lock, metrics } = this.deps;
    if (lock && !(await lock.tryAcquire())) {
      // not the sweeping hub (or the database is away): whoever sweeps next starts counting afresh
      this.listeningSince = new Date();
      metrics.isLeader.set(0);
      return null;
    }
    metrics.isLeader.set(1);
    const ttl = await this.deps.sessions.sweepTtl(now);
    const rw = await this.deps.sessions.sweepRwExpiry(now);
    const lost = await this.deps.runs.sweepLostWorkers(now, this.listeningSince);
    if (ttl) metrics.sweeps.inc({ kind: 'ttl_expired' }, ttl);
    if (rw) metrics.sweeps.inc({ kind: 'rw_expired' }, rw);
    if (lost) metrics.sweeps.inc({ kind: 'worker_lost' }, lost);
    return { ttl, rw, lost };
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = null;
    if (t) clearTimeout(t);
    await this.running;
    await this.deps.lock?.release();
  }
}
