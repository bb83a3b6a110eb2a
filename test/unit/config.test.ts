/** Hub configuration (architecture §8): defaults, and clear refusals that name the variable. */
import { expect } from 'chai';
import { resolve } from 'node:path';
import { ConfigError } from '../../common/configError.ts';
import { loadHubConfig, workerLostAfterSeconds } from '../../hub/config.ts';

const SECRET = 'a-secret-that-is-long-enough-0123456789';
const HEX_KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

/** Loads a config expecting a refusal; returns the ConfigError. */
function refused(env: Record<string, string>): ConfigError {
  try {
    loadHubConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail(`configuration ${JSON.stringify(env)} was accepted`);
}

describe('hub configuration', () => {
  it('has the documented defaults when nothing is set', () => {
    const c = loadHubConfig({});
    expect(c.env).to.equal('development');
    expect(c.databaseUrl).to.equal(undefined); // embedded store
    expect(c.redisUrl).to.equal(undefined); // single process
    expect(c.host).to.equal('127.0.0.1');
    expect(c.port).to.equal(8080);
    expect(c.liveSession.ttlMinutes).to.equal(60);
    expect(c.liveSession.rwGrantTtlMinutes).to.equal(15);
    expect(c.liveSession.enabledDefault).to.equal(true);
    expect(c.liveSession.provider).to.equal('hub');
    expect(c.liveSession.allowWeb).to.equal(true);
    expect(c.liveSession.maxConcurrentPerWorker).to.be.a('number').and.to.be.at.least(1);
    expect(c.heartbeatSeconds).to.equal(10);
    expect(c.heartbeatGraceSeconds).to.be.greaterThan(c.heartbeatSeconds);
    expect(c.workerLostPolicy).to.equal('fail');
    expect(c.operatorMessageMaxBytes).to.equal(4096);
    expect(c.dataDir).to.equal(resolve('.data'));
    expect(c.jwtSecret).to.equal(undefined);
    expect(c.encryptionKey).to.equal(undefined);
  });

  it('reads every documented variable', () => {
    const c = loadHubConfig({
      NODE_ENV: 'production',
      HANDOFF_DATABASE_URL: 'postgresql://u@db:5432/handoff',
      HANDOFF_REDIS_URL: 'redis://cache:6379',
      HANDOFF_JWT_SECRET: SECRET,
      HANDOFF_ENCRYPTION_KEY: HEX_KEY,
      HANDOFF_LIVE_SESSION_ENABLED_DEFAULT: 'false',
      HANDOFF_LIVE_SESSION_PROVIDER: 'none',
      HANDOFF_LIVE_SESSION_TTL_MINUTES: '30',
      HANDOFF_LIVE_SESSION_RW_GRANT_TTL_MINUTES: '5',
      HANDOFF_LIVE_SESSION_ALLOW_WEB: 'no',
      HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '7',
      HANDOFF_HEARTBEAT_SECONDS: '4',
      HANDOFF_PUBLIC_URL: 'https://handoff.example.com',
      HANDOFF_HOST: '0.0.0.0',
      HANDOFF_PORT: '9000',
      HANDOFF_DATA_DIR: '/var/lib/handoff',
    });
    expect(c.env).to.equal('production');
    expect(c.databaseUrl).to.equal('postgresql://u@db:5432/handoff');
    expect(c.redisUrl).to.equal('redis://cache:6379');
    expect(c.jwtSecret).to.equal(SECRET);
    expect(c.encryptionKey?.toString('hex')).to.equal(HEX_KEY);
    expect(c.liveSession).to.deep.equal({ enabledDefault: false, provider: 'none', ttlMinutes: 30, rwGrantTtlMinutes: 5, allowWeb: false, maxConcurrentPerWorker: 7 });
    expect(c.heartbeatSeconds).to.equal(4);
    expect(c.heartbeatGraceSeconds).to.equal(12); // three heartbeats when not set
    expect(c.publicUrl).to.equal('https://handoff.example.com');
    expect(c.host).to.equal('0.0.0.0');
    expect(c.port).to.equal(9000);
    expect(c.dataDir).to.equal('/var/lib/handoff');
  });

  it('re-queues a lost run only after the run lease plus a margin; fails it at the grace', () => {
    const fail = loadHubConfig({ HANDOFF_HEARTBEAT_SECONDS: '10' });
    expect([fail.runLeaseSeconds, workerLostAfterSeconds(fail)], 'fail: lease = grace, lost at the grace').to.deep.equal([30, 30]);
    const requeue = loadHubConfig({ HANDOFF_HEARTBEAT_SECONDS: '10', HANDOFF_WORKER_LOST_POLICY: 'requeue' });
    expect(workerLostAfterSeconds(requeue), 'requeue: lease 30 s + one beat').to.equal(40);
    const fast = loadHubConfig({ HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '2', HANDOFF_WORKER_LOST_POLICY: 'requeue' });
    expect(workerLostAfterSeconds(fast), 'the margin is at least 2 s').to.equal(4);
    const long = loadHubConfig({ HANDOFF_HEARTBEAT_GRACE_SECONDS: '5', HANDOFF_RUN_LEASE_SECONDS: '60', HANDOFF_WORKER_LOST_POLICY: 'requeue' });
    expect(workerLostAfterSeconds(long), 'a lease longer than the grace holds the requeue back').to.equal(70);
    expect(refused({ HANDOFF_RUN_LEASE_SECONDS: '0' }).message).to.include('HANDOFF_RUN_LEASE_SECONDS');
  });

  it('accepts a base64 encryption key of 32 bytes', () => {
    const b64 = Buffer.from(HEX_KEY, 'hex').toString('base64');
    expect(loadHubConfig({ HANDOFF_ENCRYPTION_KEY: b64 }).encryptionKey?.toString('hex')).to.equal(HEX_KEY);
  });

  const wrong: Array<[string, string]> = [
    ['HANDOFF_PORT', 'eighty'],
    ['HANDOFF_PORT', '70000'],
    ['HANDOFF_LIVE_SESSION_TTL_MINUTES', '0'],
    ['HANDOFF_LIVE_SESSION_TTL_MINUTES', '-5'],
    ['HANDOFF_LIVE_SESSION_RW_GRANT_TTL_MINUTES', '241'],
    ['HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER', '0'],
    ['HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER', '1.5'],
    ['HANDOFF_HEARTBEAT_SECONDS', '0'],
    ['HANDOFF_LIVE_SESSION_ENABLED_DEFAULT', 'maybe'],
    ['HANDOFF_LIVE_SESSION_ALLOW_WEB', 'sure'],
    ['HANDOFF_LIVE_SESSION_PROVIDER', 'tmate'],
    ['HANDOFF_DATABASE_URL', 'mysql://localhost/db'],
    ['HANDOFF_DATABASE_URL', 'not a url'],
    ['HANDOFF_REDIS_URL', 'http://localhost:6379'],
    ['HANDOFF_PUBLIC_URL', 'ftp://example.com'],
    ['HANDOFF_JWT_SECRET', 'short'],
    ['HANDOFF_ENCRYPTION_KEY', 'abcd'],
    ['HANDOFF_WORKER_LOST_POLICY', 'ignore'],
    ['NODE_ENV', 'staging'],
  ];
  for (const [name, value] of wrong) {
    it(`refuses ${name}=${value} with a message naming the variable`, () => {
      const err = refused({ [name]: value });
      expect(err.message).to.contain(name);
      expect(err.problems).to.have.length(1);
      expect(err.problems[0]).to.match(new RegExp(`^${name}: .+`));
    });
  }

  it('lists every wrong variable at once', () => {
    const err = refused({ HANDOFF_PORT: 'x', HANDOFF_HEARTBEAT_SECONDS: 'y' });
    expect(err.message).to.contain('HANDOFF_PORT').and.to.contain('HANDOFF_HEARTBEAT_SECONDS');
  });

  it('refuses production without HANDOFF_JWT_SECRET', () => {
    const err = refused({ NODE_ENV: 'production', HANDOFF_ENCRYPTION_KEY: HEX_KEY });
    expect(err.message).to.contain('HANDOFF_JWT_SECRET');
    expect(err.message).not.to.contain('HANDOFF_ENCRYPTION_KEY');
  });

  it('refuses production without HANDOFF_ENCRYPTION_KEY', () => {
    const err = refused({ NODE_ENV: 'production', HANDOFF_JWT_SECRET: SECRET });
    expect(err.message).to.contain('HANDOFF_ENCRYPTION_KEY');
    expect(err.message).not.to.contain('HANDOFF_JWT_SECRET');
  });

  it('refuses production with neither secret, naming both', () => {
    const err = refused({ NODE_ENV: 'production' });
    expect(err.message).to.contain('HANDOFF_JWT_SECRET').and.to.contain('HANDOFF_ENCRYPTION_KEY');
  });

  it('treats an empty variable as unset', () => {
    const c = loadHubConfig({ HANDOFF_PORT: '', HANDOFF_DATABASE_URL: '' });
    expect(c.port).to.equal(8080);
    expect(c.databaseUrl).to.equal(undefined);
  });

  it('allows development without secrets (they are generated into the data folder)', () => {
    expect(() => loadHubConfig({ NODE_ENV: 'development' })).not.to.throw();
  });

  describe('sign-in and token lifetimes (issue 18)', () => {
    it('defaults: no identity provider, tokens at most 30d (operator) and 400d (worker), sign-ins of 8h', () => {
      const c = loadHubConfig({});
      expect(c.oidc).to.equal(null);
      expect(c.tokenMaxSeconds).to.deep.equal({ operator: 30 * 86400, worker: 400 * 86400 });
      expect(c.operatorSessionSeconds).to.equal(8 * 3600);
    });

    it('reads the identity provider: issuer, client, groups claim, role map, redirect (from the public URL), JWT acceptance', () => {
      const c = loadHubConfig({
        HANDOFF_OIDC_ISSUER: 'https://idp.example.com/realms/ops',
        HANDOFF_OIDC_CLIENT_ID: 'handoff',
        HANDOFF_OIDC_CLIENT_SECRET: 's3cret',
        HANDOFF_OIDC_ROLE_MAP: 'ops-admins=admin, ops=operator,staff=viewer',
        HANDOFF_OIDC_GROUPS_CLAIM: 'roles',
        HANDOFF_OIDC_ACCEPT_JWT: '1',
        HANDOFF_PUBLIC_URL: 'https://handoff.example.com/',
        HANDOFF_OPERATOR_SESSION_TTL: '12h',
        HANDOFF_OPERATOR_TOKEN_MAX_TTL: '1d',
      });
      expect(c.oidc).to.deep.equal({
        issuer: 'https://idp.example.com/realms/ops',
        clientId: 'handoff',
        clientSecret: 's3cret',
        groupsClaim: 'roles',
        roleMap: [['ops-admins', 'admin'], ['ops', 'operator'], ['staff', 'viewer']],
        redirectUrl: 'https://handoff.example.com/auth/callback',
        scopes: 'openid profile email',
        acceptJwt: true,
        audience: 'handoff',
      });
      expect(c.operatorSessionSeconds).to.equal(12 * 3600);
      expect(c.tokenMaxSeconds.operator).to.equal(86400);
    });

    it('refuses an incomplete or malformed provider configuration, naming the variable', () => {
      expect(refused({ HANDOFF_OIDC_ISSUER: 'https://idp.example.com' }).message).to.contain('HANDOFF_OIDC_CLIENT_ID: required').and.to.contain('HANDOFF_OIDC_ROLE_MAP: required');
      expect(refused({ HANDOFF_OIDC_ISSUER: 'https://idp.example.com', HANDOFF_OIDC_CLIENT_ID: 'x', HANDOFF_OIDC_ROLE_MAP: 'ops=root' }).message).to.contain('HANDOFF_OIDC_ROLE_MAP').and.to.contain('"ops=root"');
      expect(refused({ HANDOFF_OIDC_CLIENT_ID: 'x' }).message).to.contain('HANDOFF_OIDC_CLIENT_ID: has no effect without HANDOFF_OIDC_ISSUER');
      expect(refused({ HANDOFF_OIDC_ACCEPT_JWT: 'true' }).message).to.contain('HANDOFF_OIDC_ACCEPT_JWT: needs HANDOFF_OIDC_ISSUER');
      expect(refused({ HANDOFF_OPERATOR_TOKEN_MAX_TTL: '99999d' }).message).to.contain('HANDOFF_OPERATOR_TOKEN_MAX_TTL: must be at most 365d');
      expect(refused({ HANDOFF_WORKER_TOKEN_MAX_TTL: 'forever' }).message).to.contain('HANDOFF_WORKER_TOKEN_MAX_TTL: expected a duration');
    });
  });
});
