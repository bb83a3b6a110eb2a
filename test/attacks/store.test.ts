/**
 * Attacks on the embedded store from a second local process of the same machine (issue 12,
 * architecture §7a): a second hub on the same data folder, every port the hub process holds tried
 * as a PostgreSQL server, the modes of the data folder's files, and a `kill -9` while a second hub
 * tried to share the folder. Real `handoff hub` processes on the embedded store.
 */
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createRunAt, getRunAt, operatorToken, removeDir, rest } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { waitUntil } from '../support/wait.ts';
import { listeningTcpPorts, listeningUnixSockets, openToOthers } from '../support/listeners.ts';

/** Starts a second hub on `dataDir`: its exit (refused) or its URL (it serves, the defect). */
async function secondHub(dataDir: string): Promise<{ refused: string } | { serving: HubProcess }> {
  try {
    return { serving: await startTestHub('embedded', { process: true, dataDir }) };
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

/** Tries a PostgreSQL login as `postgres` without a password; the error when refused. */
async function tryPostgresLogin(port: number): Promise<string | null> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined); // a server that hangs up after the attempt: the attempt's own rejection says it
  try {
    await c.connect();
  } catch (err) {
    return (err as Error).message || String(err);
  }
  try {
    // What an attacker does next: switch the audit trigger off for this session.
    await c.query('set session_replication_role = replica');
  } finally {
    await c.end().catch(() => undefined);
  }
  return null;
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

describe('attacks: a second local process against the embedded store', function () {
  this.timeout(120_000);
  const hubs: HubProcess[] = [];
  const dirs: string[] = [];

  const start = async (dataDir?: string, env: Record<string, string> = {}) => {
    const h = await startTestHub('embedded', { process: true, dataDir, env });
    hubs.push(h);
    return h;
  };

  afterEach(async () => {
    // every hub down before any close() removes the data folder it made (a restarted hub may still use it)
    for (const h of hubs) await h.stop('SIGKILL');
    for (const h of hubs.splice(0)) await h.close();
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('a second hub on the same data folder exits at once, naming the folder and the holder; the first keeps serving', async () => {
    const first = await start();
    const run = await createRunAt(first.url, ['echo kept']);
    const second = await secondHub(first.dataDir);
    if ('serving' in second) {
      hubs.push(second.serving);
      expect.fail(`a second hub opened the same embedded store and serves on ${second.serving.url}`);
    }
    expect(second.refused).to.include(first.dataDir);
    expect(second.refused).to.include(`pid ${first.pid}`);
    expect((await getRunAt(first.url, run.id)).id).to.equal(run.id);
    expect((await createRunAt(first.url, ['echo after'])).status).to.equal('queued');
  });

  it('no port the hub holds accepts a PostgreSQL login, and it listens on no Unix socket', async () => {
    const hub = await start();
    const ports = listeningTcpPorts(hub.pid);
    expect(ports, 'the hub listens on its HTTP port at least').to.include(hub.port);
    const accepted: number[] = [];
    for (const port of ports) if ((await tryPostgresLogin(port)) === null) accepted.push(port);
    expect(accepted, `ports of the hub (${ports.join(', ')}) that let anyone in as postgres`).to.deep.equal([]);
    expect(listeningUnixSockets(hub.pid)).to.deep.equal([]);
  });

  it('kill -9 after a second hub tried the folder: the store opens again and every run confirmed with 201 is there; so after a clean stop', async () => {
    const first = await start();
    const before = await createRunAt(first.url, ['echo before']);
    const second = await secondHub(first.dataDir);
    const confirmed = [before.id];
    if ('serving' in second) {
      hubs.push(second.serving);
      // Today's defect: both serve; a run the second confirmed must survive too.
      confirmed.push((await createRunAt(second.serving.url, ['echo via second'])).id);
    }
    confirmed.push((await createRunAt(first.url, ['echo after second'])).id);
    await first.stop('SIGKILL');
    if ('serving' in second) await second.serving.stop('SIGKILL');

    const restarted = await start(first.dataDir);
    for (const id of confirmed) expect((await getRunAt(restarted.url, id)).id).to.equal(id);
    confirmed.push((await createRunAt(restarted.url, ['echo after kill'])).id);
    await restarted.stop('SIGTERM');
    expect(restarted.alive()).to.equal(false);

    const again = await start(first.dataDir);
    for (const id of confirmed) expect((await getRunAt(again.url, id)).id).to.equal(id);
  });

  it('kill -9 in the middle of a stream of writes: every run confirmed with 201 is there after the restart', async () => {
    const hub = await start();
    const confirmed: string[] = [];
    let stop = false;
    // Four writers, each creating runs back to back until the hub dies under them.
    const writers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 500 && !stop; i++) {
        try {
          confirmed.push((await createRunAt(hub.url, ['echo stream'])).id);
        } catch {
          return; // the hub is gone: this write was never confirmed
        }
      }
    });
    await waitUntil('40 confirmed writes', () => (confirmed.length >= 40 ? true : undefined), 60_000, 20);
    await hub.stop('SIGKILL');
    stop = true;
    await Promise.all(writers);
    const restarted = await start(hub.dataDir);
    const lost: string[] = [];
    for (const id of confirmed) {
      const res = await rest(restarted.url, 'GET', `/api/task-runs/${id}`, operatorToken('viewer'));
      if (res.status !== 200) lost.push(`${id}: ${res.status}`);
    }
    expect(lost, `confirmed runs lost of ${confirmed.length}`).to.deep.equal([]);
  });

  it('the data folder is private: folders 0700, files 0600, secrets.json and the PostgreSQL configuration included', async () => {
    // No secrets in the environment: the hub generates secrets.json in the data folder.
    const hub = await start(undefined, { HANDOFF_JWT_SECRET: '', HANDOFF_ENCRYPTION_KEY: '' });
    expect(modeOf(hub.dataDir)).to.equal('700');
    expect(modeOf(join(hub.dataDir, 'secrets.json'))).to.equal('600');
    expect(modeOf(join(hub.dataDir, 'pgdata', 'postgresql.conf'))).to.equal('600');
    expect(modeOf(join(hub.dataDir, 'pgdata', 'pg_hba.conf'))).to.equal('600');
    expect(openToOthers(hub.dataDir)).to.deep.equal({});
  });

  it('a data folder left world-readable by an older version is made private on start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'handoff-attack-old-'));
    dirs.push(dataDir);
    const first = await start(dataDir, { HANDOFF_JWT_SECRET: '', HANDOFF_ENCRYPTION_KEY: '' });
    await first.stop('SIGTERM');
    // What an older version left: every folder 0777, every file 0666.
    const loosen = (path: string) => {
      if (statSync(path).isDirectory()) {
        chmodSync(path, 0o777);
        for (const name of readdirSync(path)) loosen(join(path, name));
      } else chmodSync(path, 0o666);
    };
    loosen(dataDir);
    expect(Object.keys(openToOthers(dataDir)).length).to.be.above(100);
    await start(dataDir, { HANDOFF_JWT_SECRET: '', HANDOFF_ENCRYPTION_KEY: '' });
    expect(openToOthers(dataDir)).to.deep.equal({});
  });
});
