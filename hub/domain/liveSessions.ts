/** Live sessions: enable, report, heartbeat, grant / revoke write, revoke, TTL (architecture §3, §4, §7). */
import type { GrantWriteResult, LiveSessionDto } from '../../common/api.ts';
import type { SessionReport } from '../../common/protocol.ts';
import type { ControlAction, SessionStatus } from '../../common/statuses.ts';
import type { GrantClaims } from '../auth/tokens.ts';
import { may, POLICY } from '../../common/policy.ts';
import { TaskRun, TaskRunLiveSession } from '../db/entities.ts';
import type { Actor } from './actors.ts';
import { systemActor } from './actors.ts';
import { invalidState, notFound } from './errors.ts';
import type { HubContext, UnitOfWork } from './hubContext.ts';
import { transact } from './hubContext.ts';
import { isTerminalSession } from './sessionStateMachine.ts';
import { newSessionIn, transitionIn } from './sessionRecords.ts';
import { lockRun, lockSession, ownedRun } from './runRecords.ts';
import { runDto, sessionDto } from './serializers.ts';

const LIVE: SessionStatus[] = ['disabled', 'starting', 'ready'];

export class LiveSessionService {
  constructor(private readonly ctx: HubContext) {}

  private announce(uow: UnitOfWork, run: TaskRun, session: TaskRunLiveSession) {
    const r = runDto(run);
    const s = sessionDto(session);
    uow.afterCommit(() => this.ctx.events.emit('run:changed', r, s));
  }

  /** Idempotent: a second call returns the session the first one made. */
  async enable(actor: Actor, runId: string): Promise<LiveSessionDto> {
    return transact(this.ctx, async (uow) => {
      const run = await lockRun(uow.em, runId);
      const existing = await uow.em.findOne(TaskRunLiveSession, { taskRun: runId });
      if (existing) return sessionDto(existing);
      if (run.status !== 'queued' && run.status !== 'running') throw invalidState(`task run is ${run.status}: a live session needs a queued or running run`);
      const session = newSessionIn(uow, run, this.ctx.config.liveSession.provider, actor);
      await uow.em.flush();
      if (run.status === 'running') uow.afterCommit(() => this.ctx.events.emit('session:enabled', runId));
      this.announce(uow, run, session);
      return sessionDto(session);
    });
  }

  async get(runId: string): Promise<LiveSessionDto> {
    const em = this.ctx.orm.em.fork();
    const session = await em.findOne(TaskRunLiveSession, { taskRun: runId });
    if (!session) {
      const exists = await em.count(TaskRun, { id: runId });
      throw notFound(exists ? `task run ${runId} has no live session` : `task run ${runId} not found`);
    }
    return sessionDto(session);
  }

  /** The owning worker reports the live layer's state (and its attach info). */
  async report(workerId: string, input: SessionReport & { expiresAt?: string }): Promise<LiveSessionDto> {
    return transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, input.runId, workerId, input.attempt);
      const session = await lockSession(uow.em, input.runId);
      const actor: Actor = { kind: 'worker', workerId };
      const sealed = this.ctx.sealedBox;
      transitionIn(uow, session, input.status, actor, input.errorMessage ? { errorMessage: input.errorMessage } : {});
      session.workerId = workerId;
      if (input.workerHostname !== undefined) session.workerHostname = input.workerHostname;
      if (input.attachRo !== undefined) session.attachRo = input.attachRo;
      if (input.webRo !== undefined) session.webRo = input.webRo;
      if (input.attachRw !== undefined) session.attachRwEncrypted = sealed.seal(input.attachRw);
      if (input.webRw !== undefined) session.webRwEncrypted = sealed.seal(input.webRw);
      if (input.errorMessage !== undefined) session.errorMessage = input.errorMessage;
      if (input.status === 'ready' && !session.expiresAt) {
        // The worker may ask for less than the configured TTL, never more.
        const longest = Date.now() + this.ctx.config.liveSession.ttlMinutes * 60_000;
        const asked = input.expiresAt ? Date.parse(input.expiresAt) : NaN;
        session.expiresAt = new Date(Number.isFinite(asked) ? Math.min(asked, longest) : longest);
      }
      session.lastHeartbeatAt = new Date();
      await uow.em.flush();
      this.announce(uow, run, session);
      return sessionDto(session);
    });
  }

  async heartbeat(workerId: string, runId: string, attempt: number): Promise<LiveSessionDto> {
    return transact(this.ctx, async (uow) => {
      const run = await ownedRun(uow.em, runId, workerId, attempt);
      const session = await lockSession(uow.em, runId);
      const now = new Date();
      if (!isTerminalSession(session.status)) session.lastHeartbeatAt = now;
      if (run.status === 'running') run.lastHeartbeatAt = now;
      await uow.em.flush();
      return sessionDto(session);
    });
  }

  /** Mints an RW grant for the caller: scoped to this run and session, expiring, revocable. */
  async grantWrite(actor: Actor & { kind: 'operator' }, runId: string, ttlMinutes?: number): Promise<GrantWriteResult> {
    const ttl = ttlMinutes ?? this.ctx.config.liveSession.rwGrantTtlMinutes;
    return transact(this.ctx, async (uow) => {
      const session = await lockSession(uow.em, runId);
      if (session.status !== 'ready') throw invalidState(`session is ${session.status}: write can be granted only while ready`);
      let until = new Date(Date.now() + ttl * 60_000);
      // A grant never outlives the session.
      if (session.expiresAt && session.expiresAt < until) until = session.expiresAt;
      const { token, jti } = this.ctx.tokens.mintGrant({
        runId,
        sessionId: session.id,
        grantee: actor.sub,
        generation: session.rwGeneration,
        expiresAt: until.getTime(),
      });
      if (!session.rwGrantedUntil || session.rwGrantedUntil < until) session.rwGrantedUntil = until;
      uow.audit(runId, 'grant_rw', actor, { grantee: actor.sub, jti, ttlMinutes: ttl, until: until.toISOString(), generation: session.rwGeneration });
      await uow.em.flush();
      const base = session.attachRwEncrypted ? this.ctx.sealedBox.open(session.attachRwEncrypted) : `handoff attach ${runId} --rw`;
      const webBase = session.webRwEncrypted ? this.ctx.sealedBox.open(session.webRwEncrypted) : undefined;
      // The grant never goes into a command line (ps, shell history) nor a URL query (history,
      // proxy and server logs, Referer): the RW command is the session's own, to be given the grant
      // by --grant-file or HANDOFF_GRANT; the web link carries it in the fragment, which no request
      // sends and the dashboard strips from the address at once.
      const result: GrantWriteResult = {
        session: sessionDto(session),
        attachRw: base,
        grantToken: token,
        grantedUntil: until.toISOString(),
      };
      if (this.ctx.config.liveSession.allowWeb && webBase) result.webRw = `${webBase}${webBase.includes('#') ? '&' : '#'}grant=${token}`;
      const gen = session.rwGeneration;
      const rwUntil = session.rwGrantedUntil.toISOString();
      uow.afterCommit(() => this.ctx.events.emit('rw:changed', runId, gen, rwUntil));
      return result;
    });
  }

  /** Invalidates every RW grant of the session at once (bumps rwGeneration). */
  async revokeWrite(actor: Actor, runId: string, reason?: string): Promise<LiveSessionDto> {
    return transact(this.ctx, async (uow) => {
      const session = await lockSession(uow.em, runId);
      if (isTerminalSession(session.status)) throw invalidState(`session is ${session.status}`);
      session.rwGeneration += 1;
      session.rwGrantedUntil = null;
      uow.audit(runId, 'revoke_rw', actor, { generation: session.rwGeneration, ...(reason ? { reason } : {}) });
      await uow.em.flush();
      const gen = session.rwGeneration;
      uow.afterCommit(() => this.ctx.events.emit('rw:changed', runId, gen, null));
      return sessionDto(session);
    });
  }

  async revoke(actor: Actor, runId: string, reason: string | undefined, action: 'revoke_session' | 'ttl_expired' = 'revoke_session'): Promise<LiveSessionDto> {
    return transact(this.ctx, async (uow) => {
      const session = await lockSession(uow.em, runId);
      if (isTerminalSession(session.status)) {
        if (session.status === 'revoked') return sessionDto(session); // revoking twice is harmless
        throw invalidState(`session is ${session.status}: a terminal state never changes`);
      }
      transitionIn(uow, session, 'revoked', actor, reason ? { reason } : {});
      if (action === 'ttl_expired') uow.audit(runId, 'ttl_expired', actor, { expiresAt: session.expiresAt?.toISOString() ?? null });
      await uow.em.flush();
      const run = await uow.em.findOneOrFail(TaskRun, { id: runId });
      const why = reason ?? action;
      // Status first: viewers see "revoked" before they are detached from the run's room.
      this.announce(uow, run, session);
      uow.afterCommit(() => this.ctx.events.emit('session:revoked', runId, why));
      return sessionDto(session);
    });
  }

  /** Appends an audit event that changes nothing else (rw_attach, rw_detach…). */
  async record(runId: string, action: ControlAction, actor: Actor, metadata: Record<string, unknown>): Promise<void> {
    await transact(this.ctx, async (uow) => {
      uow.audit(runId, action, actor, metadata);
      await uow.em.flush();
    });
  }

  /**
   * Checks a grant token, presented by `holder` (the socket's operator identity), against the
   * session as it is now. A grant is bound to its grantee (architecture §7a): anyone else holding
   * it, or the grantee under a role that may not write, gets nothing from it. The realtime layer
   * caches the verdict until the grant's expiry and drops it when `rw:changed` says the
   * generation moved.
   */
  async checkGrant(claims: GrantClaims, runId: string, holder: Actor & { kind: 'operator' }): Promise<{ ok: true; until: Date } | { ok: false; reason: string }> {
    if (claims.grantee !== holder.sub) return { ok: false, reason: 'the grant was issued to another operator; ask for your own' };
    if (!may(holder.role, 'session.write')) return { ok: false, reason: `role ${holder.role} may not write (needs ${POLICY['session.write']})` };
    if (claims.runId !== runId) return { ok: false, reason: 'grant is for another run' };
    if (claims.expiresAt <= Date.now()) return { ok: false, reason: 'grant expired' };
    const session = await this.ctx.orm.em.fork().findOne(TaskRunLiveSession, { taskRun: runId });
    if (!session || session.id !== claims.sessionId) return { ok: false, reason: 'grant is for another session' };
    if (session.status !== 'ready') return { ok: false, reason: `session is ${session.status}` };
    if (session.rwGeneration !== claims.generation) return { ok: false, reason: 'grant was revoked' };
    return { ok: true, until: new Date(claims.expiresAt) };
  }

  /** Sweeper: sessions past their TTL are revoked (`ttl_expired`). */
  async sweepTtl(now = new Date()): Promise<number> {
    const em = this.ctx.orm.em.fork();
    const due = await em.find(TaskRunLiveSession, { status: { $in: LIVE }, expiresAt: { $lte: now } }, { fields: ['taskRun'] });
    let n = 0;
    for (const s of due) {
      try {
        await this.revoke(systemActor('ttl_sweeper'), s.taskRun.id, 'session TTL passed', 'ttl_expired');
        n++;
      } catch (err) {
        this.ctx.log.warn({ err, runId: s.taskRun.id }, 'ttl sweep skipped a session');
      }
    }
    return n;
  }

  /** Sweeper: RW grants past rwGrantedUntil are recorded as expired (`rw_expired`). */
  async sweepRwExpiry(now = new Date()): Promise<number> {
    const em = this.ctx.orm.em.fork();
    const due = await em.find(TaskRunLiveSession, { rwGrantedUntil: { $lte: now } }, { fields: ['taskRun'] });
    let n = 0;
    for (const s of due) {
      await transact(this.ctx, async (uow) => {
        const session = await lockSession(uow.em, s.taskRun.id);
        if (!session.rwGrantedUntil || session.rwGrantedUntil > now) return;
        const until = session.rwGrantedUntil.toISOString();
        session.rwGrantedUntil = null;
        uow.audit(session.taskRun.id, 'rw_expired', systemActor('rw_sweeper'), { until });
        await uow.em.flush();
        const gen = session.rwGeneration;
        const runId = session.taskRun.id;
        uow.afterCommit(() => this.ctx.events.emit('rw:changed', runId, gen, null));
        n++;
      });
    }
    return n;
  }
}
