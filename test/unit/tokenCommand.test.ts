/** `handoff token` keeps every token within its maximum lifetime, with a clear refusal (issue 18). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { TokenService } from '../../hub/auth/tokens.ts';
import { TEST_ENCRYPTION_KEY, TEST_JWT_SECRET } from '../support/testSecrets.ts';

describe('handoff token: maximum lifetimes', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'handoff-token-cmd-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const token = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['bin/handoff.js', 'token', ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HANDOFF_DATA_DIR: dir, HANDOFF_JWT_SECRET: TEST_JWT_SECRET, HANDOFF_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, ...env },
    });

  it('refuses --ttl 99999d (and 99999999999999999999d) saying what the maximum is and where it is set', () => {
    for (const ttl of ['99999d', '99999999999999999999d']) {
      const r = token(['--role', 'operator', '--sub', 'x', '--ttl', ttl]);
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.contain(`--ttl ${ttl} is refused: operator tokens live at most 30d (HANDOFF_OPERATOR_TOKEN_MAX_TTL)`);
    }
    const w = token(['--worker', 'w-1', '--ttl', '9999d']);
    expect(w.status).to.equal(2);
    expect(w.stderr).to.contain('worker tokens live at most 400d (HANDOFF_WORKER_TOKEN_MAX_TTL)');
  });

  it('mints within the limit, and the configured limit binds both the command and the hub', () => {
    const ok = token(['--role', 'operator', '--sub', 'x', '--ttl', '2h']);
    expect(ok.status, ok.stderr).to.equal(0);
    const claims = new TokenService(TEST_JWT_SECRET).verifyOperator(ok.stdout.trim());
    expect(claims.exp - Math.floor(Date.now() / 1000)).to.be.within(7190, 7200);
    const lowered = token(['--role', 'operator', '--sub', 'x', '--ttl', '2h'], { HANDOFF_OPERATOR_TOKEN_MAX_TTL: '1h' });
    expect(lowered.status).to.equal(2);
    expect(lowered.stderr).to.contain('operator tokens live at most 1h');
    // a hub configured for 1h refuses the 2h token it did not mint
    expect(() => new TokenService(TEST_JWT_SECRET, { operator: 3600 }).verifyOperator(ok.stdout.trim())).to.throw(/lifetime/);
  });
});
