/** Task runs: create, list, claim, complete, cancel, control, operator messages (architecture §3, §4). */
import type { ControlEventDto, RunStepDto, TaskRunDto } from '../../common/api.ts';
import type { StepEvent } from '../../common/protocol.ts';
import type { LiveControl, TaskRunStatus } from '../../common/statuses.ts';
import { DEFAULT_LIVE_CONTROL } from '../../common/statuses.ts';
import { stepsOf } from '../../common/runSteps.ts';
import { workerLostAfterSeconds } from '../config.ts';
import { TaskRun, TaskRunControlEvent, TaskRunLiveSession } from '../db/entities.ts';
import type { Actor } from './actors.ts';
import { systemActor } from './actors.ts';
import { invalidPayload, invalidState, notFound, staleAttempt } from './errors.ts';
import type { HubContext, UnitOfWork } from './hubContext.ts';
import { transact } from './hubContext.ts';
import { isTerminalRun, moveRun } from './runStateMachine.ts';
import { holds, lockRun, ownedRun, sessionOf } from './runRecords.ts';
import { endSessionIn, newSessionIn } from './sessionRecords.ts';
import { eventDto, runDto, sessionDto } from './serializers.ts';

export interface CreateRunInput {
  steps: string[];
  liveSession?: boolean;
  cwd?: string;
}

export interface ControlInput {
  action: 'pause' | 'resume' | 'takeover';
  mode?: 'soft' | 'hard';
  summary?: string;
}

/** First key of the per-worker claim lock (pg_advisory_xact_lock(int, int)); the second is hashtext(workerId). */
const CLAIM_LOCK_NAMESPACE = 0x636c6169; // 'clai'

export class TaskRunService {
  constructor(private readonly ctx: HubContext) {}

  private announce(uow: UnitOfWork, run: TaskRun, session: TaskRunLiveSession | null) {
    const dto = runDto(run);
    const sdto = session ? sessionDto(session) : null;
    uow.afterCommit(() => this.ctx.events.emit('run:changed', dto, sdto));
  }

  async create(actor: Actor, input: CreateRunInput): Promise<TaskRunDto> {
    const live = input.liveSession ?? this.ctx.config.liveSession.enabledDefault;
    return transact(this.ctx, async (uow) => {
      const now = new Date();
      const run = uow.em.create(TaskRun, {
        status: 'queued',
        steps: input.steps,
        payload: { liveControl: { ...DEFAULT_LIVE_CONTROL }, ...(input.cwd ? { cwd: input.cwd } : {}) },
        createdAt: now,
        updatedAt: now,
      });
      uow.audit(run.id, 'run_created', actor, { steps: input.steps.length });
      let session: TaskRunLiveSession | null = null;
      if (live) {
        session = newSessionIn(uow, run, this.ctx.config.liveSession.provider, actor);
      }
      await uow.em.flush();
      uow.afterCommit(() => this.ctx.events.emit('run:available'));
      this.announce(uow, run, session);
      return runDto(run, session);
    });
  }

  async list(filter: { status?: TaskRunStatus; limit: number; offset: number }): Promise<TaskRunDto[]> {
    const em = this.ctx.orm.em.fork();
    const runs = await em.find(TaskRun, filter.status ? { status: filter.status } : {}, {
      orderBy: { createdAt: 'desc' },
      limit: filter.limit,
      offset: filter.offset,
    });
    const sessions = runs.length ? await em.find(TaskRunLiveSession, { taskRun: { $in: runs.map((r) => r.id) } }) : [];
    const byRun = new Map(sessions.map((s) => [s.taskRun.id, s]));
    return runs.map((r) => runDto(r, byRun.get(r.id) ?? null));
  }

  async get(id: string): Promise<TaskRunDto> {
    const em = this.ctx.orm.em.fork();
    const run = await em.findOne(TaskRun, { id });
    if (!run) throw notFound(`task run ${id} not found`);
    return runDto(run, await sessionOf(em, id));
  }

  async events(id: string, afterId = 0): Promise<ControlEventDto[]> {
    const em = this.ctx.orm.em.fork();
    if (!(await em.count(TaskRun, { id }))) throw notFound(`task run ${id} not found`);
    const events = await em.find(TaskRunControlEvent, { taskRun: id, id: { $gt: afterId } }, { orderBy: { id: 'asc' } });
    return events.map(eventDto);
  }

  /** Each step with its command, start, end and exit code, from the audit (common/runSteps.ts). */
  async steps(id: string): Promise<RunStepDto[]> {
    const em = this.ctx.orm.em.fork();
    const run = await em.findOne(TaskRun, { id });
    if (!run) throw notFound(`task run ${id} not found`);
    const events = await em.find(TaskRunControlEvent, { taskRun: id, action: { $in: ['run_claimed', 'step_started', 'step_finished'] } }, { orderBy: { id: 'asc' } });
    return stepsOf(run.steps, events.map(eventDto));
  }

  /** Atomically claims the oldest queued run for the worker (two claimers never get the same run). */
  async claim(workerId: string): Promise<TaskRunDto | null> {
    return transact(this.ctx, async (uow) => {
      const em = uow.em;
      // One claim per worker at a time, so parallel claims of one worker cannot all pass the
      // capacity check below (the count alone is racy under READ COMMITTED).
      await em.execute('select pg_advisory_xact_lock(?, hashtext(?))', [CLAIM_LOCK_NAMESPACE, workerId]);
      const running = await em.count(TaskRun, { status: 'running', workerId });
      if (running >= this.ctx.config.liveSession.maxConcurrentPerWorker) return null;
      const rows = await em.execute<Array<{ id: string }>>(
        `update task_run set status = 'running', worker_id = ?, started_at = now(), last_heartbeat_at = now(), updated_at = now()
         where id = (select id from task_run where status = 'queued' order by created_at, id limit 1 for update skip locked)
         returning id`,
        [workerId],
      );
      const id = rows[0]?.id;
      if (!id) return null;
      const run = await em.findOneOrFail(TaskRun, { id }, { refresh: true });
      const session = await sessionOf(em, id);
      if (session && session.status === 'disabled') session.workerId = workerId;
      uow.audit(id, 'run_claimed', { kind: 'worker', workerId });
      await em.flush();
      this.announce(uow, run, session);
      return runDto(run, session);
    });
  }

  async complete(workerId: string, runId: string, attempt: number, input: { status: 'succeeded' | 'failed' | 'cancelled'; exitCode?: number | null; reason?: string }): Promise<TaskRunDto> {
    return transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, runId, workerId, attempt);
      const session = await sessionOf(uow.em, runId);
      if (isTerminalRun(run.status)) {
        // A repeated report (agent retry after a lost ack, or the run was cancelled meanwhile) is harmless.
        if (run.status === input.status || run.status === 'cancelled') return runDto(run, session);
        throw invalidState(`task run is already ${run.status}`);
      }
      moveRun(run, input.status, { exitCode: input.exitCode ?? null });
      uow.audit(runId, 'run_completed', { kind: 'worker', workerId }, { status: input.status, exitCode: input.exitCode ?? null, ...(input.reason ? { reason: input.reason } : {}) });
      if (session) endSessionIn(uow, session, 'ended', { kind: 'worker', workerId }, { reason: input.reason ? `run ${input.status}: ${input.reason}` : `run ${input.status}` });
      await uow.em.flush();
      this.announce(uow, run, session);
      return runDto(run, session);
    });
  }

  /** The agent says the run's terminal waits for a person, or no longer does: flagged and audited once per change. */
  async attention(workerId: string, runId: string, attempt: number, waitingForInput: boolean): Promise<void> {
    await transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, runId, workerId, attempt);
      if (run.status !== 'running' || (run.payload.attention?.waitingForInput ?? false) === waitingForInput) return;
      run.payload = { ...run.payload, attention: { waitingForInput, since: new Date().toISOString() } };
      uow.audit(runId, waitingForInput ? 'input_wanted' : 'input_given', { kind: 'worker', workerId }, {});
      await uow.em.flush();
      this.announce(uow, run, await sessionOf(uow.em, runId));
    });
  }

  /** A step of a running run began or ended (the run page's step list and the replay's markers). */
  async step(workerId: string, runId: string, attempt: number, step: StepEvent): Promise<void> {
    await transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, runId, workerId, attempt);
      if (run.status !== 'running') return; // late news of a finished run changes nothing
      if (step.index >= run.steps.length) throw invalidPayload(`the run has ${run.steps.length} steps`);
      const meta: Record<string, unknown> = { index: step.index, command: (run.steps[step.index] as string).slice(0, 500) };
      if (step.phase === 'end') meta['exitCode'] = step.exitCode ?? null;
      uow.audit(runId, step.phase === 'start' ? 'step_started' : 'step_finished', { kind: 'worker', workerId }, meta);
      await uow.em.flush();
    });
  }

  async cancel(actor: Actor, runId: string, reason?: string): Promise<TaskRunDto> {
    return transact(this.ctx, async (uow) => {
      const run = await lockRun(uow.em, runId);
      const wasRunning = run.status === 'running';
      moveRun(run, 'cancelled');
      uow.audit(runId, 'run_cancelled', actor, reason ? { reason } : {});
      const session = await sessionOf(uow.em, runId);
      if (session) endSessionIn(uow, session, 'ended', actor, { reason: 'run cancelled' });
      await uow.em.flush();
      if (wasRunning) uow.afterCommit(() => this.ctx.events.emit('run:cancelled', runId));
      this.announce(uow, run, session);
      return runDto(run, session);
    });
  }

  /** pause / resume / takeover: updates payload.liveControl and records the action, atomically. */
  async control(actor: Actor, runId: string, input: ControlInput): Promise<TaskRunDto> {
    return transact(this.ctx, async (uow) => {
      const run = await lockRun(uow.em, runId);
      if (isTerminalRun(run.status)) throw invalidState(`task run is ${run.status}: controls apply to queued or running runs`);
      const prev = { ...DEFAULT_LIVE_CONTROL, ...run.payload.liveControl };
      const now = new Date().toISOString();
      let next: LiveControl;
      switch (input.action) {
        case 'pause':
          next = { ...prev, paused: true, mode: input.mode ?? 'soft', lastAction: 'pause', updatedAt: now, appliedAt: null };
          break;
        case 'takeover':
          next = { ...prev, paused: true, takeover: true, mode: input.mode ?? prev.mode, lastAction: 'takeover', updatedAt: now, appliedAt: null };
          break;
        case 'resume':
          next = { ...prev, paused: false, takeover: false, lastAction: 'resume', updatedAt: now, appliedAt: null };
          break;
      }
      run.payload = { ...run.payload, liveControl: next };
      const meta: Record<string, unknown> = { mode: next.mode };
      if (input.summary !== undefined) meta['summary'] = input.summary;
      uow.audit(runId, input.action, actor, meta);
      await uow.em.flush();
      uow.afterCommit(() => this.ctx.events.emit('run:control', runId, next, input.summary));
      this.announce(uow, run, await sessionOf(uow.em, runId));
      return runDto(run);
    });
  }

  /** The agent acknowledges that a control state is in force. */
  async controlApplied(workerId: string, runId: string, attempt: number, applied: LiveControl): Promise<void> {
    await transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, runId, workerId, attempt);
      const cur = run.payload.liveControl;
      // Only the first acknowledgement of the state that is still the latest one asked for counts:
      // a repeated ack changes nothing and tells nobody (architecture §5, one event per change).
      if (!cur || cur.updatedAt !== applied.updatedAt || cur.appliedAt) return;
      run.payload = { ...run.payload, liveControl: { ...cur, appliedAt: new Date().toISOString() } };
      await uow.em.flush();
      const lc = run.payload.liveControl as LiveControl;
      // Viewers learn the state is in force; the agent applied it, so it is not told again.
      uow.afterCommit(() => this.ctx.events.emit('run:controlApplied', runId, lc));
    });
  }

  async message(actor: Actor, runId: string, message: string): Promise<ControlEventDto> {
    const max = this.ctx.config.operatorMessageMaxBytes;
    const size = Buffer.byteLength(message, 'utf8');
    if (size > max) throw invalidPayload(`message is ${size} bytes; the limit is ${max}`);
    return transact(this.ctx, async (uow) => {
      const run = await lockRun(uow.em, runId);
      if (isTerminalRun(run.status)) throw invalidState(`task run is ${run.status}: messages go to queued or running runs`);
      const event = uow.audit(runId, 'send_message', actor, { message });
      await uow.em.flush();
      const dto = eventDto(event);
      uow.afterCommit(() => this.ctx.events.emit('run:message', runId, dto));
      return dto;
    });
  }

  /**
   * Heartbeat of a worker for its run attempts. Answers the runs it should abandon (over: not
   * running any more), the attempts that are not its own (`stale`: re-queued or another worker's)
   * and the control state of the others (a back-stop for a missed real-time control). Only the
   * worker's current attempts are refreshed; with `refuseStale`, any stale entry refuses the
   * whole beat (`stale_attempt`, the stale runs in `details.stale`) and nothing is refreshed.
   */
  async heartbeat(
    workerId: string,
    beats: Array<{ runId: string; attempt: number }>,
    opts: { refuseStale?: boolean } = {},
  ): Promise<{ abandon: string[]; stale: string[]; controls: Record<string, LiveControl> }> {
    if (!beats.length) return { abandon: [], stale: [], controls: {} };
    const em = this.ctx.orm.em.fork();
    const rows = await em.find(TaskRun, { id: { $in: beats.map((b) => b.runId) } }, { fields: ['id', 'workerId', 'attempts', 'status', 'payload'] });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const abandon: string[] = [];
    const stale: string[] = [];
    const mine: typeof rows = [];
    for (const b of beats) {
      const run = byId.get(b.runId);
      if (!run) abandon.push(b.runId);
      else if (!holds(run, workerId, b.attempt)) stale.push(b.runId);
      else if (run.status !== 'running') abandon.push(b.runId);
      else mine.push(run);
    }
    if (stale.length && opts.refuseStale) throw staleAttempt(`${stale.length} of the heartbeat's run attempts are not worker ${workerId}'s current ones`, { stale });
    if (mine.length) {
      const now = new Date();
      // Each row only while it is still this worker's attempt and running: a re-queue that
      // committed since the read above is not undone by a late beat.
      const current = mine.map((r) => ({ id: r.id, attempts: r.attempts, workerId, status: 'running' as const }));
      await em.nativeUpdate(TaskRun, { $or: current }, { lastHeartbeatAt: now });
      await em.nativeUpdate(TaskRunLiveSession, { taskRun: { $in: mine.map((r) => r.id) }, status: { $in: ['disabled', 'starting', 'ready'] } }, { lastHeartbeatAt: now });
    }
    const controls: Record<string, LiveControl> = {};
    for (const r of mine) if (r.payload.liveControl) controls[r.id] = r.payload.liveControl;
    return { abandon, stale, controls };
  }

  /**
   * Puts a running run back in the queue. Its session has ended (terminal states are final),
   * so the next attempt gets a session of its own; the audit trail keeps both.
   */
  private async requeueIn(uow: UnitOfWork, run: TaskRun, session: TaskRunLiveSession | null, actor: Actor, reason?: string): Promise<TaskRunLiveSession | null> {
    moveRun(run, 'queued');
    uow.audit(run.id, 'run_requeued', actor, { attempts: run.attempts, ...(reason ? { reason } : {}) });
    uow.afterCommit(() => this.ctx.events.emit('run:available'));
    if (!session) return null;
    // viewers of the old session learn that it ended (session:ended) before they see the fresh one
    this.announce(uow, run, session);
    // the old session's end is written first; then its row makes way (one session per run)
    await uow.em.flush();
    await uow.em.nativeDelete(TaskRunLiveSession, { id: session.id });
    return newSessionIn(uow, run, session.provider, actor, { attempt: run.attempts + 1, replaces: session.id });
  }

  /** The owning worker hands a run back (agent shutting down with the handback policy). */
  async release(workerId: string, runId: string, attempt: number, reason: string): Promise<TaskRunDto> {
    return transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, runId, workerId, attempt);
      if (run.status !== 'running') throw invalidState(`task run is ${run.status}, not running`);
      const actor: Actor = { kind: 'worker', workerId };
      const session = await sessionOf(uow.em, runId);
      if (session) endSessionIn(uow, session, 'ended', actor, { reason });
      const fresh = await this.requeueIn(uow, run, session, actor, reason);
      await uow.em.flush();
      this.announce(uow, run, fresh);
      return runDto(run, fresh);
    });
  }

  /**
   * Sweeper: runs whose worker went silent past the grace period are failed or re-queued.
   * `listeningSince` is when the caller could last start receiving heartbeats (hub start, or
   * the database coming back): a silence that began while no heartbeat could be recorded is
   * not the worker's, so nobody is declared lost before the grace has run from that instant.
   */
  async sweepLostWorkers(now = new Date(), listeningSince?: Date): Promise<number> {
    const lostAfter = workerLostAfterSeconds(this.ctx.config);
    const graceMs = lostAfter * 1000;
    if (listeningSince && now.getTime() - listeningSince.getTime() < graceMs) return 0;
    const cutoff = new Date(now.getTime() - graceMs);
    const em = this.ctx.orm.em.fork();
    const stale = await em.find(TaskRun, { status: 'running', lastHeartbeatAt: { $lt: cutoff } }, { fields: ['id'] });
    let n = 0;
    for (const { id } of stale) {
      const done = await transact(this.ctx, async (uow) => {
        const run = await lockRun(uow.em, id);
        if (run.status !== 'running' || !run.lastHeartbeatAt || run.lastHeartbeatAt >= cutoff) return false;
        const lostWorker = run.workerId;
        const actor = systemActor('heartbeat_sweeper');
        const requeue = this.ctx.config.workerLostPolicy === 'requeue';
        uow.audit(id, 'worker_lost', actor, { workerId: lostWorker, lastHeartbeatAt: run.lastHeartbeatAt.toISOString(), outcome: requeue ? 'requeued' : 'failed' });
        const session = await sessionOf(uow.em, id);
        if (session) endSessionIn(uow, session, 'error', actor, { reason: 'worker_lost' }, `worker ${lostWorker} lost (no heartbeat for ${lostAfter}s)`);
        let current = session;
        if (requeue) {
          current = await this.requeueIn(uow, run, session, actor);
        } else {
          moveRun(run, 'failed');
        }
        await uow.em.flush();
        this.announce(uow, run, current);
        return true;
      });
      if (done) n++;
    }
    return n;
  }
}
