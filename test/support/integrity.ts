/**
 * Lifecycle integrity (issue #8): after a fault, the database must agree with reality.
 *  - every session in a terminal state (revoked, ended, error) has endedAt, and only those do;
 *  - every terminal run has finishedAt, and its session (if any) is terminal too;
 *  - every run is terminal, queued, or running on an agent that is alive;
 *  - the audit trail is append-only: UPDATE, DELETE and TRUNCATE of task_run_control_event are
 *    refused by the database itself (tried inside a transaction that is rolled back anyway).
 * One helper, called after each fault / abuse scenario.
 */
import { expect } from 'chai';
import pg from 'pg';

export interface IntegrityOptions {
  /** Worker ids of agents that are alive now: a running run must belong to one of them. */
  liveWorkers?: string[];
  /** Queued runs are fine unless this is false. */
  allowQueued?: boolean;
}

export async function assertLifecycleIntegrity(databaseUrl: string, opts: IntegrityOptions = {}): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const q = async <R extends pg.QueryResultRow>(text: string, params: unknown[] = []) => (await c.query<R>(text, params)).rows;

    const endless = await q(`select id, task_run_id, status from task_run_live_session where status in ('revoked','ended','error') and ended_at is null`);
    expect(endless, 'terminal sessions without endedAt').to.deep.equal([]);
    const endedLive = await q(`select id, task_run_id, status from task_run_live_session where status not in ('revoked','ended','error') and ended_at is not null`);
    expect(endedLive, 'live sessions with an endedAt').to.deep.equal([]);

    const unfinished = await q(`select id, status from task_run where status in ('succeeded','failed','cancelled') and finished_at is null`);
    expect(unfinished, 'terminal runs without finishedAt').to.deep.equal([]);
    const liveSessionOfDeadRun = await q(
      `select r.id, r.status as run_status, s.status as session_status
         from task_run r join task_run_live_session s on s.task_run_id = r.id
        where r.status in ('succeeded','failed','cancelled') and s.status not in ('revoked','ended','error')`,
    );
    expect(liveSessionOfDeadRun, 'terminal runs whose session is still live').to.deep.equal([]);

    const live = new Set(opts.liveWorkers ?? []);
    const running = await q<{ id: string; worker_id: string | null }>(`select id, worker_id from task_run where status = 'running'`);
    const orphans = running.filter((r) => !r.worker_id || !live.has(r.worker_id));
    expect(orphans, `running runs not owned by a live agent (live: ${[...live].join(', ') || 'none'})`).to.deep.equal([]);
    if (opts.allowQueued === false) {
      const queued = await q(`select id from task_run where status = 'queued'`);
      expect(queued, 'queued runs').to.deep.equal([]);
    }

    // Append-only audit trail: the database refuses to change or remove a row.
    await c.query('begin');
    try {
      let [row] = await q<{ id: string }>(`select id from task_run_control_event order by id limit 1`);
      if (!row) {
        // an empty trail: make a row to try on (rolled back below)
        const [run] = await q<{ id: string }>(
          `insert into task_run (id, status, steps, payload, created_at, updated_at) values (gen_random_uuid(), 'queued', '[]', '{}', now(), now()) returning id`,
        );
        [row] = await q<{ id: string }>(
          `insert into task_run_control_event (task_run_id, action, metadata_json, created_at) values ($1, 'run_created', '{}', now()) returning id`,
          [run?.id],
        );
      }
      for (const [what, stmt] of [
        ['UPDATE', `update task_run_control_event set action = 'tampered' where id = ${Number(row?.id)}`],
        ['DELETE', `delete from task_run_control_event where id = ${Number(row?.id)}`],
        ['TRUNCATE', `truncate task_run_control_event`],
      ] as const) {
        await c.query('savepoint audit_try');
        let refused: string | null = null;
        try {
          await c.query(stmt);
        } catch (err) {
          refused = (err as { code?: string }).code ?? 'error';
        }
        await c.query('rollback to savepoint audit_try');
        expect(refused, `${what} on task_run_control_event must be refused by the database`).to.equal('42501');
      }
    } finally {
      await c.query('rollback');
    }
  } finally {
    await c.end();
  }
}
