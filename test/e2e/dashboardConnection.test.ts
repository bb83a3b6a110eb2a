/**
 * The dashboard while its hub goes away and comes back (issue 15): a real hub process is
 * SIGKILLed with a run page open and restarted on the same port and database. The page says
 * reconnecting, then cut off with how long, marks what it shows as last known, keeps what the
 * operator typed, clears the errors the outage caused once the hub is back, and a page opened
 * during the outage (run and its replay) loads by itself when the hub returns.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import type { AgentProcess } from '../support/processes.ts';
import { createRunAt, operatorToken, removeDir, rest, spawnAgent, waitHealthy, waitRunAt, waitSessionAt } from '../support/processes.ts';
import type { HubProcess } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, screenText, waitFor } from '../support/browser.ts';
import { seriousAxeViolations } from '../support/axe.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SWEEP = { HANDOFF_HEARTBEAT_SECONDS: '1', HANDOFF_HEARTBEAT_GRACE_SECONDS: '30', HANDOFF_SWEEP_INTERVAL_MS: '200' };

describe('dashboard: the hub killed and restarted with the page open (browser, postgres)', function () {
  this.timeout(150_000);
  let hub: HubProcess | null = null;
  let agent: AgentProcess | null = null;
  let browser: Browser | null = null;

  before(async function () {
    this.timeout(60_000);
    execFileSync(process.execPath, [join(ROOT, 'client/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    hub = await startTestHub('postgres', { process: true, env: SWEEP });
    agent = spawnAgent({ hubUrl: hub.url, workerId: 'w-dash-conn' });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await agent?.stop('SIGTERM');
    await hub?.close();
    removeDir(agent?.dataDir);
  });

  async function restartHub(): Promise<void> {
    if (!hub) throw new Error('no hub');
    await hub.restart(); // the same port, data folder and database
    await waitHealthy(hub.url);
  }

  async function killHub(): Promise<void> {
    if (!hub) throw new Error('no hub');
    hub.proc.kill('SIGKILL');
    await hub.exited;
  }

  const connection = (page: Page) => page.locator('[data-testid=connection]');
  const connState = async (page: Page) => (await connection(page).getAttribute('data-state')) ?? '';

  it('says reconnecting / cut off with how long, keeps the draft, clears stale errors and loads what failed once the hub is back', async () => {
    if (!hub || !browser) throw new Error('not started');
    const url = hub.url;
    const live = await createRunAt(url, ['echo before-the-cut; for i in $(seq 1 900); do echo "tick-$i"; sleep 0.1; done'], { liveSession: true });
    const done = await createRunAt(url, ['echo "replayed-after-the-cut-$((40+2))"'], { liveSession: true });
    await waitRunAt(url, done.id, ['succeeded'], 30_000);
    await waitFor('the recording', async () => (await rest(url, 'GET', `/api/task-runs/${done.id}/recording`, operatorToken('viewer'))).status === 200, 20_000);
    await waitSessionAt(url, live.id, ['ready']);

    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${url}/signin#token=${operatorToken('operator')}`);
    await page.waitForURL(`${url}/`);
    await page.goto(`${url}/runs/${live.id}`);
    await waitFor('connected', async () => (await connState(page)) === 'connected');
    await waitFor('output', async () => /tick-\d+/.test(await screenText(page)));
    expect(await page.locator('[data-testid=stale]').count()).to.equal(0);
    expect(await seriousAxeViolations(page)).to.deep.equal([]);

    // --- outage 1: the page says so at once, and an action fails with a reason
    await killHub();
    await waitFor('reconnecting', async () => (await connState(page)) === 'reconnecting', 5000);
    expect(await connection(page).textContent()).to.match(/reconnecting… \(lost 0:0\d ago\)/);
    await page.locator('[data-testid=stale]').waitFor({ timeout: 5000 });
    expect(await page.locator('[data-testid=run-status]').textContent()).to.equal('running');
    await page.fill('[data-testid=message-input]', 'sent while away');
    await page.keyboard.press('Enter');
    await waitFor('the send error', async () => /cannot be reached/.test((await page.locator('.messages-panel .error').textContent()) ?? ''));
    expect(await page.inputValue('[data-testid=message-input]')).to.equal('sent while away');

    await restartHub();
    await waitFor('connected again', async () => (await connState(page)) === 'connected', 30_000);
    expect(await page.locator('.messages-panel .error').textContent()).to.equal('');
    expect(await page.locator('[data-testid=stale]').count()).to.equal(0);
    const seen = Number(/tick-(\d+)/.exec((await screenText(page)).split('\n').reverse().join('\n'))?.[1] ?? 0);
    await waitFor('the output to go on', async () => {
      const ticks = [...(await screenText(page)).matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]));
      return Math.max(...ticks) > seen + 5;
    }, 20_000);
    expect(await page.inputValue('[data-testid=message-input]')).to.equal('sent while away'); // nothing typed is lost

    // --- outage 2: cut off with how long; a page opened meanwhile loads when the hub is back
    await killHub();
    await waitFor('cut off', async () => (await connState(page)) === 'cut_off', 20_000);
    expect(await connection(page).textContent()).to.match(/cut off from the hub for 0:1\d/);
    await page.evaluate((id) => {
      history.pushState(null, '', `/runs/${id}`);
      dispatchEvent(new PopStateEvent('popstate'));
    }, done.id);
    await waitFor('the load error', async () => /cannot be reached[\s\S]*retrying/.test((await page.locator('[data-testid=page-error]').textContent()) ?? ''), 10_000);
    await restartHub();
    await page.locator('[data-testid=replay]').waitFor({ timeout: 30_000 });
    await waitFor('the replay to load', async () => !(await page.locator('button[data-action="replay-play"]').isDisabled()), 30_000);
    expect(await page.locator('[data-testid=page-error]').textContent()).to.equal('');
    await ctx.close();
  });
});
