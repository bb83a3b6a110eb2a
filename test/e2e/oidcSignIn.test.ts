/**
 * Signing in through the organisation's identity provider (issue 18), end to end: a real OpenID
 * provider (oidc-provider, test/support/oidcProvider.ts) on 127.0.0.1, a real hub on PostgreSQL
 * configured against it, a real agent, and the dashboard in Chromium.
 *
 *  - the dashboard's sign-in (authorization code + PKCE through the provider's login screens) gives
 *    each person the role their groups map to; a person in no mapped group gets a 403 page;
 *  - the audit names the person as the provider does: subject, issuer, display name;
 *  - sign-out ends the session at the hub (the same token is refused afterwards);
 *  - an admin ends another operator's session while that operator watches a run in the
 *    dashboard: the operator's live connection drops, the page says why, and the token is 401;
 *  - an expired session is refused.
 */
import { expect } from 'chai';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ControlEventDto, TaskRunDto } from '../../common/api.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { startAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/agentConfig.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, screenText, waitFor } from '../support/browser.ts';
import * as oidcClient from 'openid-client';
import { generateKeyPair, SignJWT } from 'jose';
import { CLIENT_ID, CLIENT_SECRET, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, startTestProvider } from '../support/oidcProvider.ts';
import { TEST_JWT_SECRET } from '../support/testSecrets.ts';
import type { TestProvider } from '../support/oidcProvider.ts';
import { connectSocket, freePort } from '../support/processes.ts';
import type { CheckedHub } from '../support/openApiContract.ts';
import { withContractCheck } from '../support/openApiContract.ts';
import { startTestHub } from '../support/testHub.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ROLE_MAP = 'ops-admins=admin,ops=operator,staff=viewer';

interface Claims {
  sub: string;
  role: string;
  sid: string;
  idp: string;
  name?: string;
  exp: number;
}
/** Runs the CLI (asynchronously: the hub under test lives in this process). */
function cli(args: string[], env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/handoff.js'), ...args], { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: unknown }).code as number) : 0, stdout, stderr }),
    );
  });
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Claims;

describe('OpenID Connect sign-in (browser, postgres, a real provider)', function () {
  this.timeout(120_000);
  let idp: TestProvider;
  let hub: CheckedHub;
  let agent: RunningAgent;
  let agentDir: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const created: string[] = [];

  before(async function () {
    this.timeout(180_000);
    execFileSync(process.execPath, [join(ROOT, 'client/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    const port = await freePort();
    idp = await startTestProvider({ redirectUris: [`http://127.0.0.1:${port}/auth/callback`] });
    // every answer of `hub.api` is checked against the served OpenAPI document (with the /auth/… flows)
    hub = await withContractCheck(await startTestHub('postgres', {
      port,
      env: {
        HANDOFF_OIDC_ISSUER: idp.issuer,
        HANDOFF_OIDC_CLIENT_ID: CLIENT_ID,
        HANDOFF_OIDC_CLIENT_SECRET: CLIENT_SECRET,
        HANDOFF_OIDC_ROLE_MAP: ROLE_MAP,
        HANDOFF_OIDC_ACCEPT_JWT: '1',
        HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4',
      },
    }));
    agentDir = mkdtempSync(join(tmpdir(), 'handoff-oidc-agent-'));
    agent = startAgent(
      loadAgentConfig({ HANDOFF_HUB_URL: hub.url, HANDOFF_WORKER_TOKEN: hub.workerToken('w-oidc'), HANDOFF_DATA_DIR: agentDir, HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' }),
      () => undefined,
    );
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    await agent?.close({ cancelRuns: true });
    await hub?.close();
    await idp?.close();
    if (agentDir) rmSync(agentDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
    for (const id of created.splice(0)) await hub.api('POST', `/api/task-runs/${id}/cancel`, hub.token('operator'), {});
  });

  /** Goes through the provider's own login and consent screens as `login` (any password). */
  async function providerLogin(page: Page, login: string): Promise<void> {
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    // consent, the first time this person signs in to the client
    const consent = page.locator('button[type="submit"]', { hasText: 'Continue' });
    await consent.waitFor({ timeout: 10_000 });
    await consent.click();
  }

  /** Signs in on the dashboard through the provider; the tab's token once the runs page shows. */
  async function signIn(login: string, next = '/'): Promise<{ page: Page; token: string }> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${hub.url}/signin?next=${encodeURIComponent(next)}`);
    await page.getByTestId('oidc-signin').click();
    await page.waitForURL((u) => u.origin === idp.issuer, { timeout: 10_000 });
    await providerLogin(page, login);
    await page.getByTestId('whoami').waitFor({ timeout: 15_000 });
    const token = await page.evaluate(() => sessionStorage.getItem('handoff.token'));
    expect(token, 'the tab holds its token').to.be.a('string');
    // the token never stays in the address bar or the history
    expect(page.url()).to.not.contain('token=');
    return { page, token: token as string };
  }

  async function createRun(steps: string[]): Promise<TaskRunDto> {
    const res = await hub.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', hub.token('operator'), { steps, liveSession: true });
    expect(res.status, res.text).to.equal(201);
    created.push(res.body.taskRun.id);
    return res.body.taskRun;
  }

  it('the sign-in page offers the provider; the token sign-in is labelled for development and automation', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${hub.url}/signin`);
    await page.getByTestId('oidc-signin').waitFor();
    expect(await page.getByTestId('dev-signin').innerText()).to.match(/development and automation/i);
  });

  it('maps groups to roles: ops-admins → admin, ops → operator, staff → viewer; the session names the person', async () => {
    for (const [login, role, name] of [['alice', 'admin', 'Alice Admin'], ['oscar', 'operator', 'Oscar Operator'], ['vic', 'viewer', 'Vic Viewer']] as const) {
      const { page, token } = await signIn(login);
      expect(await page.getByTestId('whoami').getAttribute('data-role'), login).to.equal(role);
      expect(await page.getByTestId('whoami-name').innerText(), 'the header names the person').to.equal(name);
      const c = claimsOf(token);
      expect(c).to.include({ sub: login, role, idp: idp.issuer, name });
      const sessions = await hub.api<{ sessions: Array<{ id: string; subject: string; issuer: string; displayName: string; role: string; source: string }> }>('GET', `/api/operator-sessions?subject=${login}`, hub.token('admin'));
      expect(sessions.body.sessions.find((s) => s.id === c.sid)).to.include({ subject: login, issuer: idp.issuer, displayName: name, role, source: 'oidc' });
    }
  });

  it('refuses a person in no mapped group with a clear 403 page, and opens no session', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${hub.url}/signin`);
    await page.getByTestId('oidc-signin').click();
    await page.waitForURL((u) => u.origin === idp.issuer);
    const callback = page.waitForResponse((r) => r.url().startsWith(`${hub.url}/auth/callback`));
    await providerLogin(page, 'rick');
    expect((await callback).status()).to.equal(403);
    expect(await page.getByTestId('auth-title').innerText()).to.equal('No access to handoff');
    const message = await page.getByTestId('auth-message').innerText();
    expect(message).to.contain('Rick Refused').and.to.contain('ops-admins, ops, staff');
    expect(await page.evaluate(() => sessionStorage.getItem('handoff.token'))).to.equal(null);
    const sessions = await hub.api<{ sessions: unknown[] }>('GET', '/api/operator-sessions?subject=rick', hub.token('admin'));
    expect(sessions.body.sessions).to.deep.equal([]);
  });

  it('keeps the login state in an HttpOnly SameSite=Lax cookie; a callback without it, or with a forged state, is refused', async () => {
    const res = await fetch(`${hub.url}/auth/login?next=/runs`, { redirect: 'manual' });
    expect(res.status).to.equal(302);
    const to = new URL(res.headers.get('location') as string);
    expect(to.origin).to.equal(idp.issuer);
    expect(to.searchParams.get('code_challenge_method')).to.equal('S256');
    for (const p of ['state', 'nonce', 'code_challenge']) expect(to.searchParams.get(p), p).to.be.a('string').with.length.above(20);
    const setCookie = res.headers.get('set-cookie') as string;
    expect(setCookie).to.match(/^handoff_login=/).and.to.contain('HttpOnly').and.to.contain('SameSite=Lax').and.to.contain('Path=/auth');
    // nothing readable in the cookie (sealed): not the state, not the verifier
    expect(decodeURIComponent(setCookie)).to.not.contain(to.searchParams.get('state') as string);
    const noCookie = await fetch(`${hub.url}/auth/callback?code=abc&state=${to.searchParams.get('state')}`, { redirect: 'manual' });
    expect(noCookie.status).to.equal(400);
    expect(await noCookie.text()).to.contain('sign-in cookie is missing');
    const jar = setCookie.split(';')[0] as string;
    const forged = await fetch(`${hub.url}/auth/callback?code=abc&state=not-the-state&iss=${encodeURIComponent(idp.issuer)}`, { redirect: 'manual', headers: { cookie: jar } });
    expect(forged.status).to.equal(400);
    expect(forged.headers.get('location')).to.equal(null);
    // the provider saying no is shown as such
    const denied = await fetch(`${hub.url}/auth/callback?error=access_denied&error_description=End-User+aborted`, { redirect: 'manual', headers: { cookie: jar } });
    expect(denied.status).to.equal(403);
    // an open redirect through `next` is not possible
    const evil = await fetch(`${hub.url}/auth/login?next=//evil.example/x`, { redirect: 'manual' });
    const st = JSON.stringify(decodeURIComponent(evil.headers.get('set-cookie') ?? ''));
    expect(st).to.not.contain('evil.example');
  });

  it('audits actions as the person: subject, issuer and display name', async () => {
    const { token } = await signIn('oscar');
    const run = await createRun(['sleep 30']);
    const paused = await hub.api('POST', `/api/task-runs/${run.id}/control`, token, { action: 'pause' });
    expect(paused.status, paused.text).to.equal(200);
    const events = await hub.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${run.id}/events`, token);
    const pause = events.body.events.find((e) => e.action === 'pause');
    expect(pause?.actorUserId).to.equal('oscar');
    expect(pause?.metadata).to.include({ role: 'operator', issuer: idp.issuer, name: 'Oscar Operator', sid: claimsOf(token).sid });
  });

  it('sign-out ends the session at the hub: the same token is refused afterwards', async () => {
    const { page, token } = await signIn('vic');
    expect((await hub.api('GET', '/api/task-runs?limit=1', token)).status).to.equal(200);
    await page.locator('[data-action="sign-out"]').click();
    await page.waitForURL((u) => u.pathname === '/signin');
    const after = await hub.api<{ error: { message: string } }>('GET', '/api/task-runs?limit=1', token);
    expect(after.status).to.equal(401);
    expect(after.body.error.message).to.contain('session ended');
    const row = await hub.hub.database.orm.em.getConnection().execute<Array<{ ended_by: string }>>(`select ended_by from operator_session where id = '${claimsOf(token).sid}'`);
    expect(row[0]?.ended_by).to.equal('self');
  });

  it('an admin ends an operator’s session while they watch a run: their live connection drops, the page says why, their token is 401', async () => {
    const run = await createRun(['for i in $(seq 1 600); do echo "tick $i"; sleep 0.1; done']);
    await waitFor('session ready', async () => (await hub.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${run.id}`, hub.token('viewer'))).body.taskRun.liveSession?.status === 'ready');
    const admin = await signIn('alice');
    const oscar = await signIn('oscar', `/runs/${run.id}`);
    await waitFor('oscar watching the live terminal', async () => /tick \d+/.test(await screenText(oscar.page)));
    const sid = claimsOf(oscar.token).sid;
    const end = await admin.page.evaluate(async (s) => {
      const token = sessionStorage.getItem('handoff.token');
      const r = await fetch(`/api/operator-sessions/${s}/end`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
      return { status: r.status, body: (await r.json()) as { session: { endedBy: string } } };
    }, sid);
    expect(end.status).to.equal(200);
    expect(end.body.session.endedBy).to.equal(`${idp.issuer} alice`);
    await oscar.page.waitForURL((u) => u.pathname === '/signin', { timeout: 5000 });
    expect(await oscar.page.getByTestId('signin-error').innerText()).to.contain('session ended');
    expect((await hub.api('GET', `/api/task-runs/${run.id}`, oscar.token)).status).to.equal(401);
    // the admin's own session goes on
    expect((await hub.api('GET', `/api/task-runs/${run.id}`, admin.token)).status).to.equal(200);
  });

  it('device sign-in over the API: pending (202) while the person has not confirmed, a forged handle refused (422)', async () => {
    const start = await hub.api<{ handle: string; userCode: string; interval: number }>('POST', '/auth/device', null, {});
    expect(start.status, start.text).to.equal(200);
    expect(start.body.userCode).to.be.a('string');
    const t0 = Date.now();
    const pending = await hub.api<{ status: string }>('POST', '/auth/device/token', null, { handle: start.body.handle, waitSeconds: start.body.interval + 2 });
    expect(pending.status, pending.text).to.equal(202);
    expect(pending.body).to.deep.equal({ status: 'pending' });
    // the hub answers once the wait is over (give or take one polling interval)
    expect(Date.now() - t0).to.be.below((2 * start.body.interval + 4) * 1000);
    const forged = await hub.api<{ error: { code: string } }>('POST', '/auth/device/token', null, { handle: `${start.body.handle.slice(0, -4)}AAAA` });
    expect(forged.status, forged.text).to.equal(422);
  });

  it('handoff login: the device flow through the provider, credentials saved 0600 in the config folder, used by handoff run; handoff logout ends it', async () => {
    const config = mkdtempSync(join(tmpdir(), 'handoff-xdg-'));
    try {
      const env = { PATH: process.env.PATH ?? '', HOME: config, XDG_CONFIG_HOME: config, HANDOFF_HUB_URL: hub.url };
      const login = spawn(process.execPath, [join(ROOT, 'bin/handoff.js'), 'login'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      login.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      const exited = new Promise<number>((resolve) => login.on('exit', (code) => resolve(code ?? -1)));
      const url = await waitFor('the login command to print the address', () => /(http:\/\/127\.0\.0\.1:\d+\/device\S*)/.exec(stderr)?.[1]);
      const code = /the code (\S+)\./.exec(stderr)?.[1];
      expect(url.startsWith(idp.issuer)).to.equal(true);
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(url);
      if (code) expect(await page.content()).to.contain(code);
      await page.locator('button[type="submit"]', { hasText: 'Continue' }).first().click();
      await providerLogin(page, 'oscar');
      expect(await exited, stderr).to.equal(0);
      expect(stderr).to.contain('Signed in to').and.to.contain('Oscar Operator (operator)');
      const file = join(config, 'handoff', 'credentials.json');
      expect(statSync(file).mode & 0o777, 'credentials file mode').to.equal(0o600);
      expect(statSync(join(config, 'handoff')).mode & 0o777, 'config folder mode').to.equal(0o700);
      const stored = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, { token: string; subject: string; role: string }>)[hub.url];
      expect(stored).to.include({ subject: 'oscar', role: 'operator' });
      expect(claimsOf(stored!.token)).to.include({ sub: 'oscar', idp: idp.issuer });
      const session = await hub.api<{ sessions: Array<{ id: string; source: string }> }>('GET', '/api/operator-sessions?subject=oscar', hub.token('admin'));
      expect(session.body.sessions.find((x) => x.id === claimsOf(stored!.token).sid)?.source).to.equal('cli');

      // handoff run without HANDOFF_TOKEN uses the stored sign-in
      const ran = await cli(['run', '--', 'echo signed-in-by-login'], env);
      expect(ran.status, ran.stderr).to.equal(0);
      expect(ran.stdout).to.contain('signed-in-by-login');
      const runId = /run ([0-9a-f-]{36})/.exec(ran.stderr)?.[1] as string;
      const events = await hub.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${runId}/events`, hub.token('viewer'));
      const byOscar = events.body.events.filter((e) => e.actorUserId === 'oscar');
      expect(byOscar.length, JSON.stringify(events.body.events.map((e) => [e.action, e.actorUserId]))).to.be.above(0);
      expect(byOscar[0]?.metadata).to.include({ issuer: idp.issuer, name: 'Oscar Operator' });

      const out = await cli(['logout'], env);
      expect(out.status, out.stderr).to.equal(0);
      expect((await hub.api('GET', '/api/task-runs?limit=1', stored!.token)).status).to.equal(401);
      const again = await cli(['attach', runId], env);
      expect(again.status).to.equal(2);
      expect(again.stderr).to.contain('not signed in to').and.to.contain('handoff login');
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  });

  /** Automation's own sign-in at a provider (device flow, confirmed in the browser as `login`): the provider's ID token. */
  async function providerIdToken(provider: TestProvider, clientId: string, secret: string, login: string): Promise<string> {
    const cfg = await oidcClient.discovery(new URL(provider.issuer), clientId, undefined, oidcClient.ClientSecretBasic(secret), { execute: [oidcClient.allowInsecureRequests] });
    const d = await oidcClient.initiateDeviceAuthorization(cfg, { scope: 'openid profile' });
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(d.verification_uri_complete as string);
    await page.locator('button[type="submit"]', { hasText: 'Continue' }).first().click();
    const tokens = oidcClient.pollDeviceAuthorizationGrant(cfg, { ...d, interval: 1 });
    await providerLogin(page, login);
    return (await tokens).id_token as string;
  }

  it('accepts the provider’s own JWTs (HANDOFF_OIDC_ACCEPT_JWT) checked against its JWKS; wrong audience, wrong issuer and a foreign key are refused', async function () {
    this.timeout(90_000);
    const good = await providerIdToken(idp, CLIENT_ID, CLIENT_SECRET, 'oscar');
    const header = JSON.parse(Buffer.from(good.split('.')[0] as string, 'base64url').toString('utf8')) as { alg: string };
    expect(header.alg).to.be.oneOf(['RS256', 'ES256']);
    const ok = await hub.api('GET', '/api/task-runs?limit=1', good);
    expect(ok.status, ok.text).to.equal(200);
    const run = await createRun(['sleep 20']);
    expect((await hub.api('POST', `/api/task-runs/${run.id}/control`, good, { action: 'pause' })).status).to.equal(200);
    const viewerOnly = await hub.api('POST', `/api/task-runs/${run.id}/live-session/revoke`, good, {});
    expect(viewerOnly.status, 'groups map to operator, not admin').to.equal(403);
    // the socket handshake takes it too
    const sock = await connectSocket(hub.url, '/viewer', { token: good });
    sock.close();
    // it is an operator session like any other: listed, and ended by an admin
    const sessions = await hub.api<{ sessions: Array<{ id: string; source: string; issuer: string }> }>('GET', '/api/operator-sessions?subject=oscar', hub.token('admin'));
    const mine = sessions.body.sessions.find((x) => x.source === 'jwt');
    expect(mine?.issuer).to.equal(idp.issuer);
    expect((await hub.api('POST', `/api/operator-sessions/${mine!.id}/end`, hub.token('admin'), {})).status).to.equal(200);
    expect((await hub.api('GET', '/api/task-runs?limit=1', good)).status).to.equal(401);

    const refused = async (token: string, why: RegExp | string) => {
      const r = await hub.api<{ error: { message: string } }>('GET', '/api/task-runs?limit=1', token);
      expect(r.status, r.text).to.equal(401);
      expect(r.body.error.message).to.match(typeof why === 'string' ? new RegExp(why) : why);
      let handshake = '';
      await connectSocket(hub.url, '/viewer', { token }).then((s) => s.close(), (err: Error) => (handshake = err.message));
      expect(handshake, 'the socket handshake refuses it too').to.match(/^unauthorized/);
    };
    // the same provider, another client: not for handoff
    await refused(await providerIdToken(idp, OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, 'oscar'), '"aud" claim');
    // another provider altogether (its own issuer and keys), even for a client called handoff-hub
    const elsewhere = await startTestProvider({ redirectUris: ['http://127.0.0.1:9/auth/callback'] });
    try {
      await refused(await providerIdToken(elsewhere, CLIENT_ID, CLIENT_SECRET, 'alice'), '"iss" claim');
    } finally {
      await elsewhere.close();
    }
    // right issuer and audience, signed with a key the provider does not publish
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ groups: ['ops-admins'], name: 'Mallory' }).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).setIssuer(idp.issuer).setAudience(CLIENT_ID).setSubject('mallory').setIssuedAt(now).setExpirationTime(now + 600).sign(privateKey);
    await refused(forged, 'invalid token');
    // HS256 with the provider's issuer (a confusion attempt with the hub's own secret) is refused as well
    const confused = await new SignJWT({ groups: ['ops-admins'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer(idp.issuer).setAudience(CLIENT_ID).setSubject('mallory').setIssuedAt(now).setExpirationTime(now + 600).sign(new TextEncoder().encode(TEST_JWT_SECRET));
    await refused(confused, 'invalid token');
  });

  it('an expired session is refused, whatever its token says', async () => {
    const { token } = await signIn('vic');
    expect((await hub.api('GET', '/api/task-runs?limit=1', token)).status).to.equal(200);
    await hub.hub.database.orm.em.getConnection().execute(`update operator_session set expires_at = now() - interval '1 second' where id = '${claimsOf(token).sid}'`);
    const r = await waitFor('the expired session to be refused', async () => {
      const x = await hub.api<{ error: { message: string } }>('GET', '/api/task-runs?limit=1', token);
      return x.status === 401 ? x : undefined;
    }, 8000, 200);
    expect(r.body.error.message).to.contain('session expired');
  });
});
