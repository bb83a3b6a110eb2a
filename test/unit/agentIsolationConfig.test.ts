/**
 * The agent's isolation settings (agent/agentConfig.ts): the worker token from a file (a
 * warning when others can read it, an error when both forms are set), run artifacts never
 * inside a hub's data folder, HANDOFF_STEP_UID, and what the sandbox hides.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadAgentConfig } from '../../agent/agentConfig.ts';
import { ConfigError } from '../../common/configError.ts';
import { removeDir, workerToken } from '../support/processes.ts';

describe('agent config: isolation settings', () => {
  let dir = '';
  const token = workerToken('w-config');
  const base = () => ({ HANDOFF_HUB_URL: 'http://127.0.0.1:1', HANDOFF_DATA_DIR: join(dir, 'agent') });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-agent-config-'));
  });
  afterEach(() => removeDir(dir));

  it('reads the worker token from HANDOFF_WORKER_TOKEN_FILE and hides that file and the data folder from steps', () => {
    const file = join(dir, 'worker.token');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const c = loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN_FILE: file });
    expect(c.workerToken).to.equal(token);
    expect(c.workerId).to.equal('w-config');
    expect(c.warnings).to.deep.equal([]);
    expect(c.stepHide).to.include.members([join(dir, 'agent'), file]);
    expect(c.artifactsDir).to.equal(join(dir, 'agent', 'runs'));
    expect(c.stepSandbox).to.equal('auto');
  });

  it('warns when the token file can be read by others; refuses both forms at once and a file it cannot read', () => {
    const file = join(dir, 'worker.token');
    writeFileSync(file, token);
    chmodSync(file, 0o644);
    expect(loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN_FILE: file }).warnings[0]).to.match(/chmod 600/);
    expect(() => loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN_FILE: file, HANDOFF_WORKER_TOKEN: token })).to.throw(ConfigError, /not both/);
    expect(() => loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN_FILE: join(dir, 'missing') })).to.throw(ConfigError, /cannot read/);
    expect(() => loadAgentConfig(base())).to.throw(ConfigError, /HANDOFF_WORKER_TOKEN/);
  });

  it('refuses run artifacts inside a folder holding a hub’s secrets or store; HANDOFF_ARTIFACTS_DIR moves them out', () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'secrets.json'), '{}');
    expect(() => loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN: token, HANDOFF_DATA_DIR: shared })).to.throw(ConfigError, /HANDOFF_ARTIFACTS_DIR/);
    const c = loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN: token, HANDOFF_DATA_DIR: shared, HANDOFF_ARTIFACTS_DIR: join(dir, 'runs') });
    expect(c.artifactsDir).to.equal(join(dir, 'runs'));
  });

  it('HANDOFF_STEP_UID and HANDOFF_STEP_HIDE', () => {
    const c = loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN: token, HANDOFF_STEP_HIDE: '/etc/handoff:/srv/secret.key', HANDOFF_STEP_SANDBOX: 'off' });
    expect(c.stepHide).to.include.members(['/etc/handoff', '/srv/secret.key']);
    expect(c.stepSandbox).to.equal('off');
    expect(() => loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN: token, HANDOFF_STEP_UID: 'nobody' })).to.throw(ConfigError, /HANDOFF_STEP_UID/);
    expect(() => loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN: token, HANDOFF_STEP_SANDBOX: 'maybe' })).to.throw(ConfigError, /HANDOFF_STEP_SANDBOX/);
    if (process.getuid?.() === 0) expect(loadAgentConfig({ ...base(), HANDOFF_WORKER_TOKEN: token, HANDOFF_STEP_UID: '65534' }).stepUser).to.deep.equal({ uid: 65534, gid: 65534 });
  });
});
