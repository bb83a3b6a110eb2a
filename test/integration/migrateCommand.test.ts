/**
 * `handoff migrate` on the embedded store: a new store is created and migrated by a child process
 * (hub/db/initEmbeddedStore.ts), and the command still reports every migration that the run
 * applied; run again, it finds nothing to do (issue 17).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';

describe('handoff migrate: the embedded store', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'handoff-migrate-cmd-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const migrate = () => spawnSync(process.execPath, ['bin/handoff.js', 'migrate'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HANDOFF_DATA_DIR: dir } });
  const shipped = readdirSync('migrations')
    .filter((f) => /^Migration\d+_\w+\.ts$/.test(f))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();

  it('on a new data folder reports every shipped migration as applied, then that the store is up to date', () => {
    const first = migrate();
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout.trim()).to.equal(`applied ${shipped.length} migration(s): ${shipped.join(', ')}`);
    const again = migrate();
    expect(again.status, again.stderr).to.equal(0);
    expect(again.stdout.trim()).to.equal('database is up to date');
  });
});
