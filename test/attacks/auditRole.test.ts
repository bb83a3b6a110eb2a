/**
 * The audit is append-only against the hub itself (issue 12, architecture §7a): on the real
 * PostgreSQL server, with the roles of scripts/db-roles.sql, the hub's role cannot update,
 * delete or truncate audit rows, nor get around the trigger (replica mode, disabling, dropping
 * or replacing it) — and a real `handoff hub` works as that role. Both ways a deployment gets
 * there: roles first then `handoff migrate` as the owner, and an existing database migrated as
 * postgres, handed over by the script.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../../hub/db/database.ts';
import type { AgentProcess } from '../support/processes.ts';
import { createRunAt, eventsAt, getRunAt, operatorToken, removeDir, rest, spawnAgent, waitRunAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { ADMIN_URL, createTestDatabase } from '../support/testDatabase.ts';
import type { TestDatabase } from '../support/testDatabase.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = fileURLToPath(new URL('../../scripts/db-roles.sql', import.meta.url));

function urlAs(dbUrl: string, role: string): string {
  const u = new URL(dbUrl);
  u.username = role;
  return u.toString();
}

/** Runs scripts/db-roles.sql with psql as postgres against `dbUrl`. */
async function runRolesScript(dbUrl: string, owner: string, app: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `owner=${owner}`, '-v', `app=${app}`, '-f', SCRIPT, dbUrl], { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`psql failed: ${stderr || err.message}`)) : resolve(stdout + stderr),
    );
  });
}

async function migrateAs(url: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-attack-migrate-'));
  try {
    const db = await openDatabase({ databaseUrl: url, dataDir: dir });
    await db.close();
  } finally {
    removeDir(dir);
  }
}

/** Each statement as the hub's role: the error it got, or null when it went through. */
async function attemptsAs(url: string, statements: string[]): Promise<Record<string, string | null>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const out: Record<string, string | null> = {};
  try {
    for (const s of statements) {
      try {
        await c.query(s);
        out[s] = null;
      } catch (err) {
        out[s] = (err as Error).message;
      }
    }
  } finally {
    await c.end();
  }
  return out;
}

const TAMPERING = [
  `update task_run_control_event set action = 'rewritten'`,
  `delete from task_run_control_event`,
  `truncate task_run_control_event`,
  `set session_replication_role = replica`,
  `alter table task_run_control_event disable trigger task_run_control_event_append_only`,
  `drop trigger task_run_control_event_append_only on task_run_control_event`,
  `create or replace function handoff_refuse_audit_change() returns trigger language plpgsql as $$ begin return old; end $$`,
  `alter table task_run_control_event owner to current_user`,
];

describe('attacks: the hub role against its own audit trail (PostgreSQL)', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let owner: string;
  let app: string;
  let hub: HubProcess | null = null;
  let agent: AgentProcess | null = null;

  beforeEach(async () => {
    db = await createTestDatabase();
    const tag = randomBytes(4).toString('hex');
    owner = `handoff_owner_${tag}`;
    app = `handoff_app_${tag}`;
  });

  afterEach(async () => {
    await agent?.stop('SIGKILL');
    if (agent) removeDir(agent.dataDir);
    agent = null;
    await hub?.stop('SIGKILL');
    await hub?.close();
    hub = null;
    await db.drop();
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      for (const r of [app, owner]) await c.query(`drop role if exists ${r}`);
    } finally {
      await c.end();
    }
  });

  async function hubWorksAsAppAndCannotTamper(): Promise<void> {
    const appUrl = urlAs(db.url, app);
    hub = await startTestHub('postgres', { process: true, databaseUrl: appUrl });
    // A whole run through an agent: claim, live session, output kept as a recording, completion.
    agent = spawnAgent({ hubUrl: hub.url, workerId: `w-${app}` });
    const done = await createRunAt(hub.url, ['echo audited-output']);
    expect((await waitRunAt(hub.url, done.id, ['succeeded', 'failed'], 40_000)).status).to.equal('succeeded');
    const recording = await rest(hub.url, 'GET', `/api/task-runs/${done.id}/recording`, operatorToken('viewer'));
    expect(recording.status, recording.text).to.equal(200);
    expect(recording.text).to.include('audited-output');
    await agent.stop('SIGTERM');
    const run = await createRunAt(hub.url, ['echo audited']);
    const cancel = await rest(hub.url, 'POST', `/api/task-runs/${run.id}/cancel`, operatorToken());
    expect(cancel.status, cancel.text).to.equal(200);
    expect((await getRunAt(hub.url, run.id)).status).to.equal('cancelled');
    const events = await eventsAt(hub.url, run.id);
    expect(events.length).to.be.above(0);

    const results = await attemptsAs(appUrl, TAMPERING);
    const through = Object.entries(results).filter(([, err]) => err === null).map(([s]) => s);
    expect(through, 'statements the hub role got through').to.deep.equal([]);
    // Refused for the right reason: a privilege, ownership or the trigger — not a typo.
    for (const [s, err] of Object.entries(results)) expect(err, s).to.match(/permission denied|must be owner|append-only/);
    expect((await eventsAt(hub.url, run.id)).map((e) => e.action)).to.deep.equal(events.map((e) => e.action));
  }

  it('roles first, then `handoff migrate` as the owner: the hub runs as the app role, which cannot rewrite the audit', async () => {
    await runRolesScript(db.url, owner, app);
    await migrateAs(urlAs(db.url, owner));
    await hubWorksAsAppAndCannotTamper();
    // The check has teeth: as postgres, what the hub connected as before, the trick works.
    const asSuperuser = await attemptsAs(db.url, [`set session_replication_role = replica`, `delete from task_run_control_event`]);
    expect(Object.values(asSuperuser)).to.deep.equal([null, null]);
  });

  it('a database migrated as postgres, handed over by the script: the same', async () => {
    await migrateAs(db.url);
    await runRolesScript(db.url, owner, app);
    await hubWorksAsAppAndCannotTamper();
  });
});
