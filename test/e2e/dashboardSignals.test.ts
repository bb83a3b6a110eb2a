/**
 * The dashboard says when a run needs a person, and what each step did (issue 15), in Chromium
 * against a real hub (PostgreSQL) and agent: a real step waiting on `read -p 'Password: '` is
 * flagged in the runs list (a phone's card too), on the run page and its Live Session card and in
 * the tab titles, live, and the flag goes when the operator answers; browser notifications are
 * asked for with a button and come once per change, only while the dashboard is not in front; a
 * real three-step run lists each step with its command, start, duration and exit code, live,
 * and a click on a step seeks the recording to where it began. axe-core on every page shown.
 *
 * With HANDOFF_UPDATE_SCREENSHOTS=1 the waiting run's page replaces docs/run-waiting.png.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunStepDto, TaskRunDto } from '../../common/api.ts';
import type { OperatorRole } from '../../common/statuses.ts';
import { seriousAxeViolations } from '../support/axe.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, screenText, waitFor } from '../support/browser.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, getRun, startTestAgent, waitForRunStatus, waitForSessionStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface ShownNotification {
  title: string;
  body: string;
  tag: string;
}

declare global {
  interface Window {
    __shownNotifications?: ShownNotification[];
  }
}

describe('dashboard: runs that need an operator, and their steps (browser, postgres)', function () {
  this.timeout(120_000);
  let hub: TestHub;
  let agent: TestAgent;
  let browser: Browser;
  let shotDir: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const created: string[] = [];

  before(async function () {
    this.timeout(120_000);
    execFileSync(process.execPath, [join(ROOT, 'client/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    hub = await startTestHub('postgres', { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    // the agent flags a terminal read with nothing printed for a second (3 s by default)
    agent = startTestAgent(hub, { env: { HANDOFF_AGENT_INPUT_WAIT_SECONDS: '1', HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    await agent.ready();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    shotDir = process.env.HANDOFF_UPDATE_SCREENSHOTS ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'handoff-shots-'));
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    await agent?.close();
    await hub?.close();
  });

  afterEach(async function () {
    for (const c of contexts.splice(0)) await c.close();
    for (const id of created.splice(0)) await hub.api('POST', `/api/task-runs/${id}/cancel`, hub.token('operator'), {});
    if (this.currentTest?.state === 'failed') {
      console.log('page errors:', pageErrors.join('\n') || '(none)');
      console.log('agent log tail:', agent.logs.slice(-20).join('\n'));
    }
    pageErrors.length = 0;
  });

  async function liveRun(steps: string[]): Promise<TaskRunDto> {
    const run = await createRun(hub, steps, { liveSession: true });
    created.push(run.id);
    return run;
  }

  /**
   * A signed-in tab. Notifications: permitted in the context, and each one shown is also noted
   * in the page (the real Notification is still made). Playwright tells every page it has the
   * focus; `realFocus` turns that off, so a tab put behind another one knows it is behind.
   */
  async function signedIn(role: OperatorRole, opts: { viewport?: { width: number; height: number }; notifications?: boolean; realFocus?: boolean } = {}): Promise<Page> {
    const ctx = await browser.newContext({ viewport: opts.viewport ?? { width: 1600, height: 1000 }, ...(opts.notifications ? { permissions: ['notifications'] } : {}) });
    contexts.push(ctx);
    if (opts.notifications) {
      // a string, not a function: the test's transpiler would add helpers the page does not have
      await ctx.addInitScript(`{
        const Real = window.Notification;
        const shown = (window.__shownNotifications = []);
        window.Notification = class extends Real {
          constructor(title, options) {
            super(title, options);
            shown.push({ title, body: options?.body ?? '', tag: options?.tag ?? '' });
          }
        };
      }`);
    }
    const page = await ctx.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${err.name}: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
    });
    await page.goto(`${hub.url}/signin#token=${hub.token(role, `${role}-signals`)}`);
    await page.waitForURL(`${hub.url}/`);
    await page.locator('[data-testid=whoami]').waitFor();
    if (opts.realFocus) await (await ctx.newCDPSession(page)).send('Emulation.setFocusEmulationEnabled', { enabled: false });
    return page;
  }

  async function openRun(page: Page, id: string): Promise<void> {
    await page.goto(`${hub.url}/runs/${id}`);
    await page.locator('[data-testid=live-session-card]').waitFor();
  }

  const shown = (page: Page) => page.evaluate(() => window.__shownNotifications ?? []);
  const expectAccessible = async (page: Page, what: string) => expect(await seriousAxeViolations(page), `axe on ${what}`).to.deep.equal([]);
  const textOf = async (page: Page, selector: string) => (await page.locator(selector).first().textContent()) ?? '';

  it('flags a run waiting on read -p in the list, a phone card, the run page, its card and the titles, live; notifies once per change while behind', async () => {
    // the runs list, with notifications asked for through the top bar's button
    const list = await signedIn('operator', { notifications: true, realFocus: true });
    const notify = list.locator('button[data-action=notifications]');
    expect(await notify.textContent()).to.equal('Notify me');
    await notify.click();
    await waitFor('notifications on', async () => (await notify.getAttribute('aria-pressed')) === 'true');
    expect(await notify.textContent()).to.equal('Notifications on');

    // the operator goes to another tab: the list is behind
    const elsewhere = await list.context().newPage();
    await elsewhere.goto(`${hub.url}/healthz`);
    await elsewhere.bringToFront();
    expect(await list.evaluate(() => document.hasFocus())).to.equal(false);

    const run = await liveRun([`echo asking; read -r -s -p 'Password: ' pw; echo; echo "got:\${#pw}"; sleep 60`]);
    const row = list.locator(`tr[data-run-id="${run.id}"]`);
    await waitFor('the row to be flagged', async () => ((await row.getAttribute('class')) ?? '').includes('needs-operator'), 20_000);
    expect(await row.locator('.flag').textContent()).to.equal('waiting for input \u2014 needs operator');
    expect(await list.title()).to.equal('(1) need an operator \u00b7 handoff');
    const notes = await waitFor('the notification', async () => {
      const n = await shown(list);
      return n.length ? n : undefined;
    }, 5000);
    expect(notes).to.deep.equal([{ title: `Run ${run.id.slice(0, 8)} needs an operator`, body: `waiting for input: ${run.steps[0]}`, tag: `handoff-run-${run.id}` }]);
    await list.bringToFront();
    await expectAccessible(list, 'the runs list with a run waiting for input');

    // a phone: the run's card carries the flag
    const phone = await signedIn('viewer', { viewport: { width: 390, height: 844 } });
    const card = phone.locator(`tr[data-run-id="${run.id}"]`);
    await card.waitFor();
    expect(await card.evaluate((e) => getComputedStyle(e).display)).to.equal('block');
    expect(await card.locator('.flag').textContent()).to.equal('waiting for input \u2014 needs operator');
    expect((await card.locator('.flag').boundingBox())?.width ?? 999).to.be.at.most(390);
    await expectAccessible(phone, 'the runs list on a phone with a run waiting for input');

    // the run page: the header flag, the card, the tab title, the prompt on the terminal
    const page = await signedIn('operator');
    await openRun(page, run.id);
    await waitFor('the prompt', async () => /Password: /.test(await screenText(page)));
    await waitFor('the page flag', async () => (await textOf(page, '[data-testid=needs-operator]')).includes('waiting for input'));
    expect(await page.title()).to.equal(`(waiting for input) handoff \u00b7 run ${run.id.slice(0, 8)}`);
    expect(await textOf(page, '[data-testid=card-waiting]')).to.match(/^waiting for input the terminal waits for a person since \d+s ago$/);
    await page.screenshot({ path: join(shotDir, 'run-waiting.png') });
    await expectAccessible(page, 'the page of a run waiting for input');

    // the operator answers: every flag goes, live, and the answer is no news
    await page.click('button[data-action="grant-write"]');
    await waitFor('the RW badge', async () => /typing into a live run/.test(await textOf(page, '[data-testid=rw-badge]')));
    await page.locator('.term-host[data-pane="task"] .xterm-screen').click();
    await page.keyboard.type('hunter2');
    await page.keyboard.press('Enter');
    await waitFor('the step to get it', async () => /got:7/.test(await screenText(page)));
    await waitFor('the page flag to go', async () => (await page.locator('[data-testid=needs-operator]').count()) === 0);
    expect(await page.locator('[data-testid=card-waiting]').count()).to.equal(0);
    expect(await page.title()).to.equal(`handoff \u00b7 run ${run.id.slice(0, 8)}`);
    await waitFor('the row flag to go', async () => !((await row.getAttribute('class')) ?? '').includes('needs-operator'));
    await waitFor('the phone card flag to go', async () => (await card.locator('.flag').count()) === 0);
    expect(await list.title()).to.equal('handoff \u00b7 runs');
    const actions = (await hub.api<{ events: Array<{ action: string }> }>('GET', `/api/task-runs/${run.id}/events`, hub.token('viewer'))).body.events.map((e) => e.action);
    expect(actions.filter((a) => a.startsWith('input_'))).to.deep.equal(['input_wanted', 'input_given']);

    // a colleague pauses it while the list is behind: one more notification; in front: none
    await elsewhere.bringToFront();
    await hub.api('POST', `/api/task-runs/${run.id}/control`, hub.token('operator', 'colleague'), { action: 'pause' });
    await waitFor('the paused notification', async () => (await shown(list)).length === 2, 5000);
    expect((await shown(list))[1]?.body).to.equal(`paused: ${run.steps[0]}`);
    await waitFor('the row flagged paused', async () => (await row.locator('.flag').textContent()) === 'paused \u2014 needs operator');
    await list.bringToFront();
    await hub.api('POST', `/api/task-runs/${run.id}/control`, hub.token('operator', 'colleague'), { action: 'takeover' });
    await waitFor('the row flagged taken over', async () => (await row.locator('.flag').textContent()) === 'taken over \u2014 needs operator');
    expect(await shown(list), 'nothing while the list is in front').to.have.length(2);
    await waitFor('the run page title to say taken over', async () => (await page.title()).startsWith('(taken over) handoff'));

    // notifications off: the button says so, and it sticks across a reload
    await notify.click();
    await waitFor('notifications off', async () => (await notify.textContent()) === 'Notify me');
    await list.reload();
    await list.locator(`tr[data-run-id="${run.id}"]`).waitFor();
    expect(await list.locator('button[data-action=notifications]').textContent()).to.equal('Notify me');
    expect(pageErrors).to.deep.equal([]);
  });

  it('lists a real run\u2019s steps with command, start, duration and exit code, live; a step seeks the recording to where it began', async () => {
    const run = await liveRun(['echo alpha-out; sleep 3', 'echo beta-out; sleep 1', 'echo gamma-out; exit 3']);
    await waitForSessionStatus(hub, run.id, ['ready']);
    const page = await signedIn('viewer', { viewport: { width: 1440, height: 900 } });
    await openRun(page, run.id);
    const step = (i: number) => page.locator(`[data-testid=steps] li[data-index="${i}"]`);
    expect(await page.locator('[data-testid=steps] li').count()).to.equal(3);
    expect(await step(2).locator('code').textContent()).to.equal('echo gamma-out; exit 3');

    // live: the first step runs, its length ticks; the last has not begun
    await waitFor('step 1 running', async () => (await step(0).getAttribute('data-state')) === 'running');
    expect(await step(2).locator('[data-testid=step-exit]').textContent()).to.equal('not run');
    const ticking = step(0).locator('[data-testid=step-duration]');
    const first = await ticking.textContent();
    await waitFor('the running step\u2019s length to tick', async () => (await ticking.textContent()) !== first, 3000);
    await expectAccessible(page, 'a running run\u2019s steps');

    // over: each step's exit code, start and length; the recording replaces the terminal
    await waitForRunStatus(hub, run.id, ['failed']);
    await waitFor('the last step\u2019s exit code', async () => (await step(2).locator('[data-testid=step-exit]').textContent()) === 'exit 3');
    expect(await page.locator('[data-testid=steps] [data-testid=step-exit]').allTextContents()).to.deep.equal(['exit 0', 'exit 0', 'exit 3']);
    expect(await step(2).getAttribute('data-state')).to.equal('failed');
    const seconds = (t: string | null) => Number(/^([\d.]+)s$/.exec(t ?? '')?.[1] ?? NaN);
    expect(seconds(await step(0).locator('[data-testid=step-duration]').textContent())).to.be.within(2.9, 6);
    expect(seconds(await step(1).locator('[data-testid=step-duration]').textContent())).to.be.within(0.9, 4);
    const rest = (await hub.api<{ steps: RunStepDto[] }>('GET', `/api/task-runs/${run.id}/steps`, hub.token('viewer'))).body.steps;
    expect(rest.map((s) => s.exitCode)).to.deep.equal([0, 0, 3]);
    expect(await step(1).locator('[data-testid=step-start]').getAttribute('datetime')).to.equal(rest[1]?.startedAt);
    expect((await getRun(hub, run.id)).exitCode).to.equal(3);

    const term = '[data-testid=replay-terminal]';
    await waitFor('the final frame', async () => /gamma-out/.test(await screenText(page, term)), 15_000);
    const seekTo = step(1).locator('button.step-seek');
    await seekTo.waitFor();
    expect(await seekTo.getAttribute('title')).to.equal('show the recording as step 2 began');
    expect(await seekTo.textContent()).to.equal('2echo beta-out; sleep 1');
    await seekTo.click();
    await waitFor('the screen as step 2 began', async () => {
      const t = await screenText(page, term);
      return t.includes('alpha-out') && !t.includes('beta-out') ? true : undefined;
    }, 5000);
    await step(2).locator('button.step-seek').click();
    await waitFor('the screen as step 3 began', async () => {
      const t = await screenText(page, term);
      return t.includes('beta-out') && !t.includes('gamma-out') ? true : undefined;
    }, 5000);
    await step(0).locator('button.step-seek').click();
    await waitFor('the screen as step 1 began', async () => !(await screenText(page, term)).includes('alpha-out'), 5000);
    expect(await textOf(page, '.step-note')).to.equal('Recording at the start of step 1.');
    // the keyboard reaches them too
    await step(2).locator('button.step-seek').focus();
    await page.keyboard.press('Enter');
    await waitFor('step 3 by keyboard', async () => (await screenText(page, term)).includes('beta-out'), 5000);
    await expectAccessible(page, 'a finished run\u2019s steps and recording');
    expect(pageErrors).to.deep.equal([]);
  });
});
