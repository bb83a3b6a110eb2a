/**
 * The operator dashboard in a real browser (Debian's Chromium driven by playwright-core)
 * against a real hub (PostgreSQL) and a real agent: sign-in by link, the runs list live, the
 * live terminal (late join, RO typing that never reaches the run, an RW grant that does, its
 * countdown and its end by revoke and by expiry), pause / message / resume in the timeline,
 * what a viewer may not do, and the replay of a finished run; and issue 15: the terminal's
 * keyboard (copy / paste, Tab order, Esc Esc), sign-in expiry, a phone and the light theme,
 * takeover in one step, the replay's seek / markers / idle limit / wide output, and the smaller
 * items. axe-core runs on every page shown: no serious or critical violation.
 *
 * Screenshots (run page in RO and in RW, runs list, replay, a phone) go to a temporary folder;
 * with HANDOFF_UPDATE_SCREENSHOTS=1 they replace docs/run-detail-ro.png, docs/run-detail-rw.png,
 * docs/runs-list.png, docs/run-replay.png and docs/run-phone.png (run-failed.png stays out of docs).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ControlEventDto, GrantWriteResult, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { OperatorRole, TaskRunStatus } from '../../common/statuses.ts';
import { TASK_PANE } from '../../common/protocol.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { startAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/agentConfig.ts';
import { seriousAxeViolations } from '../support/axe.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/browser.ts';
import { TestViewer } from '../support/viewerClient.ts';
import { sleep, waitFor, waitUntil } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));



describe('operator dashboard (browser, postgres)', function () {
  this.timeout(120_000);

  let hub: TestHub;
  let agent: RunningAgent;
  let agentDir: string;
  let shotDir: string;
  let browser: Browser;
  const agentLogs: string[] = [];
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const created: string[] = [];

  before(async function () {
    this.timeout(180_000);
    // The hub serves client/dist only if it exists when it starts: build first (< 1 s).
    execFileSync(process.execPath, [join(ROOT, 'client/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    hub = await startTestHub('postgres', { env: { HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4' } });
    agentDir = mkdtempSync(join(tmpdir(), 'handoff-dash-agent-'));
    shotDir = process.env.HANDOFF_UPDATE_SCREENSHOTS ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'handoff-shots-'));
    agent = startAgent(
      loadAgentConfig({
        HANDOFF_HUB_URL: hub.url,
        HANDOFF_WORKER_TOKEN: hub.workerToken('w1'),
        HANDOFF_DATA_DIR: agentDir,
        HANDOFF_HEARTBEAT_SECONDS: '1',
        HANDOFF_LIVE_SESSION_MAX_CONCURRENT_PER_WORKER: '4',
      }),
      (m) => agentLogs.push(m),
    );
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    await agent?.close({ cancelRuns: true });
    await hub?.close();
    if (agentDir) rmSync(agentDir, { recursive: true, force: true });
  });

  afterEach(async function () {
    for (const c of contexts.splice(0)) await c.close();
    // free the agent's slots whatever the test left running
    for (const id of created.splice(0)) await hub.api('POST', `/api/task-runs/${id}/cancel`, hub.token('operator'), {});
    if (this.currentTest?.state === 'failed') {
      console.log('page errors:', pageErrors.join('\n') || '(none)');
      console.log('agent log tail:', agentLogs.slice(-20).join('\n'));
    }
    pageErrors.length = 0;
  });

  // ---- helpers -------------------------------------------------------------------------------

  async function createRun(steps: string[]): Promise<TaskRunDto> {
    const res = await hub.api<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', hub.token('operator'), { steps, liveSession: true });
    expect(res.status, res.text).to.equal(201);
    created.push(res.body.taskRun.id);
    return res.body.taskRun;
  }

  async function getRun(id: string): Promise<TaskRunDto> {
    return (await hub.api<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${id}`, hub.token('viewer'))).body.taskRun;
  }

  async function waitRun(id: string, statuses: TaskRunStatus[]): Promise<TaskRunDto> {
    return waitFor(`run ${id} ${statuses.join('|')}`, async () => {
      const r = await getRun(id);
      return statuses.includes(r.status) ? r : undefined;
    }, 30_000);
  }

  async function waitSessionReady(id: string): Promise<LiveSessionDto> {
    return waitFor(`session of ${id} ready`, async () => {
      const r = await hub.api<{ session: LiveSessionDto }>('GET', `/api/task-runs/${id}/live-session`, hub.token('viewer'));
      return r.status === 200 && r.body.session.status === 'ready' ? r.body.session : undefined;
    });
  }

  async function events(id: string): Promise<ControlEventDto[]> {
    return (await hub.api<{ events: ControlEventDto[] }>('GET', `/api/task-runs/${id}/events`, hub.token('viewer'))).body.events;
  }

  /** A fresh tab signed in through the one-time link, as `handoff dev` prints it. */
  async function signedIn(role: OperatorRole, sub = `${role}-user`, opts: { viewport?: { width: number; height: number }; clipboard?: boolean; colorScheme?: 'light' | 'dark'; tokenTtlSeconds?: number } = {}): Promise<Page> {
    const ctx = await browser.newContext({
      viewport: opts.viewport ?? { width: 1600, height: 1000 },
      ...(opts.clipboard ? { permissions: ['clipboard-read', 'clipboard-write'] } : {}),
      ...(opts.colorScheme ? { colorScheme: opts.colorScheme } : {}),
    });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${err.name}: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
    });
    const token = opts.tokenTtlSeconds ? hub.hub.ctx.tokens.mintOperator(sub, role, opts.tokenTtlSeconds) : hub.token(role, sub);
    await page.goto(`${hub.url}/signin#token=${token}`);
    await page.waitForURL(`${hub.url}/`);
    await page.locator('[data-testid=whoami]').waitFor();
    return page;
  }

  async function openRun(page: Page, id: string): Promise<void> {
    await page.goto(`${hub.url}/runs/${id}`);
    await page.locator('[data-testid=live-session-card]').waitFor();
  }

  /** What the pane's xterm shows (its rendered rows). */
  async function screenText(page: Page, selector = '.term-host[data-pane="task"]'): Promise<string> {
    const rows = page.locator(`${selector} .xterm-rows`);
    if (!(await rows.count())) return '';
    return (await rows.innerText()).replace(/\u00a0/g, ' ');
  }

  async function waitScreen(page: Page, pattern: RegExp, selector?: string, timeoutMs = 15_000): Promise<string> {
    return waitFor(`the terminal to show ${pattern}`, async () => {
      const t = await screenText(page, selector);
      return pattern.test(t) ? t : undefined;
    }, timeoutMs);
  }

  const badge = (page: Page) => page.locator('[data-testid=rw-badge]');

  async function badgeSecondsLeft(page: Page): Promise<number> {
    const text = (await badge(page).textContent()) ?? '';
    const m = /(\d+):(\d\d) left/.exec(text);
    if (!m) throw new Error(`no countdown in "${text}"`);
    return Number(m[1]) * 60 + Number(m[2]);
  }

  async function typeInto(page: Page, text: string, pane = 'task'): Promise<void> {
    await page.locator(`.term-host[data-pane="${pane}"] .xterm-screen`).click();
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
  }

  /** Zero serious or critical axe-core violations on the page as it is now. */
  async function expectAccessible(page: Page, what: string): Promise<void> {
    expect(await seriousAxeViolations(page), `axe on ${what}`).to.deep.equal([]);
  }

  /** The data-testid (or tag) of the focused element, and whether it is inside the terminal. */
  async function focused(page: Page): Promise<{ id: string; inTerminal: boolean }> {
    return page.evaluate(() => {
      const a = document.activeElement as HTMLElement | null;
      return { id: a?.dataset.testid ?? a?.dataset.action ?? a?.tagName.toLowerCase() ?? '', inTerminal: !!a?.closest('.terminal-panel') };
    });
  }

  /** Presses Tab until `target` has focus (at most `max` times); returns the stops on the way. */
  async function tabTo(page: Page, target: string, max = 15): Promise<string[]> {
    const stops: string[] = [];
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      const f = await focused(page);
      stops.push(f.id);
      if (f.id === target) return stops;
    }
    throw new Error(`Tab never reached ${target}: ${stops.join(' → ')}`);
  }

  /** Drags the mouse over the first rows of the pane's terminal (a selection, as an operator makes one). */
  async function selectFirstRows(page: Page, rows = 1, pane = 'task'): Promise<void> {
    const screen = page.locator(`.term-host[data-pane="${pane}"] .xterm-screen`);
    const box = await screen.boundingBox();
    if (!box) throw new Error('no terminal on screen');
    const rowHeight = await page.locator(`.term-host[data-pane="${pane}"] .xterm-rows > div`).first().evaluate((e) => e.getBoundingClientRect().height);
    await page.mouse.move(box.x + 2, box.y + rowHeight / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y + rowHeight * (rows - 0.5), { steps: 8 });
    await page.mouse.move(box.x + box.width - 4, box.y + rowHeight * (rows - 0.5), { steps: 4 });
    await page.mouse.up();
  }

  async function timelineActions(page: Page): Promise<string[]> {
    return page.locator('[data-testid=timeline] li').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.action ?? ''));
  }

  // ---- tests ---------------------------------------------------------------------------------

  it('signs in through the one-time link, strips the token from the address, and lists runs live', async () => {
    const long = await createRun(['echo list-run; sleep 30']);
    const page = await signedIn('operator');
    expect(page.url()).to.equal(`${hub.url}/`);
    expect(await page.evaluate(() => location.hash)).to.equal('');
    expect(await page.evaluate(() => sessionStorage.getItem('handoff.token'))).to.be.a('string').that.has.length.greaterThan(20);
    await page.locator(`tr[data-run-id="${long.id}"]`).waitFor();

    // a run created elsewhere appears, and its status moves, without a reload
    const quick = await createRun(['echo quick']);
    const quickRow = page.locator(`tr[data-run-id="${quick.id}"]`);
    await quickRow.waitFor({ timeout: 10_000 });
    await waitFor('the quick run to show succeeded', async () => (await quickRow.locator('[data-testid=run-status]').textContent()) === 'succeeded');
    await waitFor('the quick run to show session ended', async () => (await quickRow.locator('[data-testid=session-status]').textContent()) === 'ended');
    const longRow = page.locator(`tr[data-run-id="${long.id}"]`);
    await waitFor('the long run to show running', async () => (await longRow.locator('[data-testid=run-status]').textContent()) === 'running');
    expect(await longRow.locator('td').nth(3).textContent()).to.equal('w1');

    // paused elsewhere → highlighted as needing an operator, live; the keyboard focus stays on
    // the run the operator is on, and rows that did not change are left as they are
    expect((await longRow.getAttribute('class')) ?? '').to.not.include('needs-operator');
    await longRow.locator('a').focus();
    await quickRow.evaluate((e) => e.setAttribute('data-seen-before', ''));
    await hub.api('POST', `/api/task-runs/${long.id}/control`, hub.token('operator'), { action: 'pause' });
    await waitFor('the paused run to be highlighted', async () => ((await longRow.getAttribute('class')) ?? '').includes('needs-operator'));
    expect(await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-run-id') ?? null), 'focus after a live update').to.equal(long.id);
    expect(await quickRow.getAttribute('data-seen-before'), 'the unchanged row is the same element').to.equal('');
    expect(await longRow.textContent()).to.include('needs operator');
    await waitFor('the tab title to count it', async () => (await page.title()).startsWith('(1) need an operator'));
    await page.screenshot({ path: join(shotDir, 'runs-list.png') });
    await expectAccessible(page, 'the runs list');

    // filter by status
    await page.selectOption('[data-testid=status-filter]', 'succeeded');
    await waitFor('only succeeded runs', async () => (await page.locator(`tr[data-run-id="${long.id}"]`).count()) === 0);
    expect(await quickRow.count()).to.equal(1);
    expect(page.url()).to.equal(`${hub.url}/?status=succeeded`);

    // an operator creates a run from the form (one step per line) and lands on its page
    await page.selectOption('[data-testid=status-filter]', '');
    await page.locator('details.create-run summary').click();
    await expectAccessible(page, 'the new-run form');
    await page.fill('[data-testid=new-run-steps]', 'echo from-the-form\necho second-step');
    await page.click('button[data-action="create-run"]');
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const formRunId = page.url().split('/').pop() as string;
    created.push(formRunId);
    expect((await getRun(formRunId)).steps).to.deep.equal(['echo from-the-form', 'echo second-step']);
  });

  it('sends a refused or unreadable token back to sign-in with a clear message', async () => {
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${hub.url}/signin#token=not-a-token`);
    await waitFor('the sign-in error', async () => /not a token/.test((await page.locator('[data-testid=signin-error]').textContent()) ?? ''));
    expect(await page.evaluate(() => location.hash)).to.equal('');

    // a well-formed operator token the hub does not accept (wrong signature)
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const forged = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'mallory', role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })}.c2lnbmF0dXJl`;
    await page.evaluate((t) => sessionStorage.setItem('handoff.token', t), forged);
    await page.goto(`${hub.url}/`);
    await page.waitForURL(/\/signin/);
    await waitFor('the refusal to be explained', async () => /refused/i.test((await page.locator('[data-testid=signin-error]').textContent()) ?? ''));
    expect(await page.evaluate(() => sessionStorage.getItem('handoff.token'))).to.equal(null);
  });

  it('shows the live terminal, keeps RO typing out of the run, and types into it under a grant', async () => {
    const run = await createRun([
      'echo "hello from $((6*7))"; sleep 1.5; echo ready-1; read -t 4 l; echo "got:[$l]"',
      'echo ready-2; read -t 60 l; echo "got:[$l]"',
      'echo ready-3; read -t 5 l; echo "got3:[$l]"; sleep 60',
    ]);
    await waitSessionReady(run.id);
    await hub.api('POST', `/api/task-runs/${run.id}/operator-messages`, hub.token('operator', 'alice'), { message: 'tests fail on the fixture path: please check' });
    // join late: once the run printed its first line (a socket viewer sees it), the page gets it from the snapshot
    const early = await TestViewer.connect(hub.url, hub.token('viewer'));
    try {
      await early.join(run.id);
      await waitUntil('a socket viewer to see the first line of the run', async () => {
        const p = early.panes.get(TASK_PANE);
        return p?.stream.synced && (await p.screenLines()).join('\n').includes('hello from 42') ? true : undefined;
      }, 10_000, 50);
    } finally {
      early.close();
    }
    const page = await signedIn('operator');
    await openRun(page, run.id);
    await waitScreen(page, /hello from 42/);
    expect(await badge(page).textContent()).to.equal('read-only');
    expect(await page.locator('[data-testid=session-status]').textContent()).to.equal('ready');
    expect(await page.locator('[data-testid=attach-ro]').textContent()).to.equal(`handoff attach ${run.id}`);
    expect(await page.locator('[data-testid=web-ro]').textContent()).to.equal(`${hub.url}/runs/${run.id}`);
    expect(await page.locator('[data-testid=live-session-card] a[href]').count(), 'no link from the card to its own page').to.equal(0);
    await page.locator('[data-testid=messages] li').filter({ hasText: 'fixture path' }).waitFor();

    // RO: keystrokes never reach the run
    await waitScreen(page, /ready-1/);
    await typeInto(page, 'fix');
    await waitFor('the RO hint', async () => /read-only/.test((await page.locator('.term-notice').textContent()) ?? ''));
    await waitScreen(page, /got:\[\]/);
    expect(await screenText(page)).to.not.include('got:[fix]');
    await page.screenshot({ path: join(shotDir, 'run-detail-ro.png') });

    // grant write (default 15 min) → RW badge with a countdown that runs
    expect(await page.locator('[data-testid=ttl]').inputValue()).to.equal('15');
    await page.click('button[data-action="grant-write"]');
    await waitFor('the RW badge', async () => /you are typing into a live run — 1[45]:\d\d left/.test((await badge(page).textContent()) ?? ''));
    const rwCommand = (await page.locator('[data-testid=attach-rw]').textContent()) ?? '';
    // the command holds no grant (never on a command line): `--rw` asks for its own with the terminal's token
    expect(rwCommand).to.equal(`handoff attach ${run.id} --rw`);
    expect(rwCommand, 'no grant in the command').to.not.match(/eyJ[\w-]+\./);
    const first = await badgeSecondsLeft(page);
    const second = await waitFor('the countdown to run', async () => {
      const left = await badgeSecondsLeft(page);
      return left < first ? left : undefined;
    }, 5000);
    expect(first - second).to.be.within(1, 4);

    await waitScreen(page, /ready-2/);
    await typeInto(page, 'fix');
    await waitScreen(page, /got:\[fix\]/);
    await waitScreen(page, /ready-3/);
    await page.screenshot({ path: join(shotDir, 'run-detail-rw.png') });

    // revoke write (as the hub's RW downgrade does): the page drops to RO by itself
    const revoke = await hub.api('POST', `/api/task-runs/${run.id}/live-session/revoke-write`, hub.token('operator'), {});
    expect(revoke.status).to.equal(200);
    await waitFor('the page to fall back to RO', async () => (await badge(page).textContent()) === 'read-only', 5000);
    expect(await page.locator('[data-testid=rw-line]').textContent()).to.match(/Read-only \(write revoked\)/);
    await typeInto(page, 'late');
    await waitFor('the RO hint', async () => /read-only/.test((await page.locator('.term-notice').textContent()) ?? ''));
    expect(await screenText(page), 'step 3 still reads when the keys are refused').to.not.include('got3:[');
    await waitScreen(page, /got3:\[\]/, undefined, 15_000);
    expect(await screenText(page)).to.not.include('got3:[late]');

    const actions = await timelineActions(page);
    for (const a of ['create_session', 'session_ready', 'send_message', 'grant_rw', 'rw_attach', 'revoke_rw', 'rw_detach']) expect(actions, a).to.include(a);
  });

  it('copies a selection with Ctrl+C in write mode without interrupting the run, and Tab / Esc Esc leave the terminal', async () => {
    const run = await createRun(['echo copy-source-line; read -t 60 l; echo "after:[$l]"; read -t 60 m; echo "pasted:[$m]"; sleep 60']);
    await waitSessionReady(run.id);
    const page = await signedIn('operator', 'operator-user', { clipboard: true, colorScheme: 'dark' });
    await openRun(page, run.id);
    await waitScreen(page, /copy-source-line/);
    await expectAccessible(page, 'the run page (read-only)');

    // read-only: the terminal takes no key meant for the page — Tab walks on to the messages, Send, the timeline
    await page.locator('.term-host[data-pane="task"] .xterm-screen').click();
    expect((await focused(page)).inTerminal).to.equal(true);
    expect(await page.locator('[data-testid=term-keys]').textContent()).to.match(/Tab leaves/);
    const stops = await tabTo(page, 'message-input');
    expect(stops).to.include('messages-scroll');
    await page.keyboard.press('Tab');
    expect((await focused(page)).id).to.equal('send');
    await tabTo(page, 'timeline-scroll', 4);
    await page.keyboard.press('Shift+Tab');
    expect((await focused(page)).id).to.equal('send');

    // read-only Ctrl+C copies the selection too
    await selectFirstRows(page);
    await page.keyboard.press('Control+c');
    expect(await page.evaluate(() => navigator.clipboard.readText())).to.include('copy-source-line');

    // write mode: select with the mouse, Ctrl+C copies and sends nothing (no ^C: the read is not killed)
    await page.click('button[data-action="grant-write"]');
    await waitFor('the RW badge', async () => /typing into a live run/.test((await badge(page).textContent()) ?? ''));
    await page.evaluate(() => navigator.clipboard.writeText('-'));
    await selectFirstRows(page);
    await page.keyboard.press('Control+c');
    await waitFor('the selection on the clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())).includes('copy-source-line'));
    await page.keyboard.type('alive');
    await page.keyboard.press('Enter');
    await waitScreen(page, /after:\[alive\]/);
    expect((await getRun(run.id)).status).to.equal('running');

    // Ctrl+Shift+C copies; Ctrl+Shift+V pastes into the run
    await page.evaluate(() => navigator.clipboard.writeText('-'));
    await selectFirstRows(page);
    await page.keyboard.press('Control+Shift+C');
    await waitFor('Ctrl+Shift+C to copy', async () => (await page.evaluate(() => navigator.clipboard.readText())).includes('copy-source-line'));
    await page.evaluate(() => navigator.clipboard.writeText('from-the-clipboard'));
    await page.keyboard.press('Control+Shift+V');
    await waitScreen(page, /from-the-clipboard/); // the tty's echo: the paste is in
    await page.keyboard.press('Enter');
    await waitScreen(page, /pasted:\[from-the-clipboard\]/);

    // write mode keeps Tab for the program; Escape twice (shown on the page) leaves the terminal
    expect(await page.locator('[data-testid=term-keys]').textContent()).to.match(/Esc Esc leaves the terminal/);
    await page.locator('.term-host[data-pane="task"] .xterm-screen').click();
    await page.keyboard.press('Tab');
    expect((await focused(page)).inTerminal).to.equal(true);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    expect((await focused(page)).inTerminal).to.equal(false);
    await tabTo(page, 'message-input');

    // the whole output as text
    const download = page.waitForEvent('download');
    await page.click('button[data-action="download-output"]');
    const file = await download;
    expect(file.suggestedFilename()).to.match(/^run-[0-9a-f]{8}-task\.txt$/);
    await page.click('button[data-action="copy-output"]');
    await waitFor('copy all', async () => /copy-source-line[\s\S]*after:\[alive\]/.test(await page.evaluate(() => navigator.clipboard.readText())));
    await expectAccessible(page, 'the run page (read-write)');
  });

  it('warns before the sign-in expires, then says why it signed out, and keeps what was being typed', async () => {
    const run = await createRun(['echo expiry-run; sleep 60']);
    const page = await signedIn('operator', 'erin', { tokenTtlSeconds: 9 });
    await openRun(page, run.id);
    const warning = page.locator('[data-testid=signin-warning]');
    await waitFor('the expiry warning', async () => /expires in 0:0\d/.test((await warning.textContent()) ?? '') && (await warning.isVisible()));
    await expectAccessible(page, 'the run page with the expiry warning');
    await page.fill('[data-testid=message-input]', 'half-typed note for the agent');
    await page.waitForURL(/\/signin\?next=/, { timeout: 15_000 });
    expect(await page.locator('[data-testid=signin-error]').textContent()).to.match(/Signed out: your sign-in token expired at \d\d:\d\d:\d\d/);
    await expectAccessible(page, 'the sign-in page');
    // signing in again goes back to the run, with the draft in place
    await page.goto(`${page.url()}#token=${hub.token('operator', 'erin')}`);
    await page.waitForURL(`${hub.url}/runs/${run.id}`);
    await page.locator('[data-testid=message-input]').waitFor();
    expect(await page.inputValue('[data-testid=message-input]')).to.equal('half-typed note for the agent');
    expect(await page.locator('[data-testid=signin-warning]').isVisible()).to.equal(false);
  });

  it('fits a phone: runs as cards, a readable terminal that scrolls sideways, font size and focus mode; readable at 1440; light theme', async () => {
    const run = await createRun([`echo "LEFT-EDGE$(printf '%60s' '')RIGHT-EDGE"; sleep 60`]);
    await waitSessionReady(run.id);
    const phone = await signedIn('operator', 'phone-user', { viewport: { width: 390, height: 844 } });
    const card = phone.locator(`tr[data-run-id="${run.id}"]`);
    await card.waitFor();
    expect(await phone.evaluate(() => document.documentElement.scrollWidth), 'runs list page width').to.be.at.most(390);
    expect(await card.evaluate((e) => getComputedStyle(e).display)).to.equal('block');
    expect((await card.boundingBox())?.width).to.be.at.most(390);
    await expectAccessible(phone, 'the runs list on a phone');

    await openRun(phone, run.id);
    await waitScreen(phone, /RIGHT-EDGE/);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth), 'run page width').to.be.at.most(390);
    const rows = phone.locator('.term-host[data-pane="task"] .xterm-rows');
    const fontPx = async (p: Page) => parseFloat(await p.locator('.term-host[data-pane="task"] .xterm-rows').evaluate((e) => getComputedStyle(e).fontSize));
    expect(await fontPx(phone)).to.be.at.least(12);
    // the right side of the 80-column pty is off screen, and the operator can scroll to it
    const edgeRight = () =>
      rows.evaluate((root) => {
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const i = (n.textContent ?? '').indexOf('RIGHT-EDGE');
          if (i < 0) continue;
          const r = document.createRange();
          r.setStart(n, i);
          r.setEnd(n, i + 'RIGHT-EDGE'.length);
          return r.getBoundingClientRect().right;
        }
        return -1;
      });
    expect(await edgeRight()).to.be.greaterThan(390);
    await phone.locator('.term-host[data-pane="task"]').evaluate((e) => e.scrollIntoView({ block: 'center' }));
    await phone.screenshot({ path: join(shotDir, 'run-phone.png') });
    const host = await phone.locator('.term-host[data-pane="task"]').boundingBox();
    if (!host) throw new Error('no terminal host');
    await phone.mouse.move(host.x + host.width / 2, host.y + 40);
    await phone.mouse.wheel(1000, 0);
    await waitFor('the right edge to come into view', async () => {
      const r = await edgeRight();
      return r > 0 && r <= 390;
    }, 5000);
    await expectAccessible(phone, 'the run page on a phone');

    // font size control, remembered
    await phone.click('button[data-action="font-larger"]');
    await waitFor('a larger font', async () => (await fontPx(phone)) === 14);
    expect(await phone.locator('[data-testid=font-size]').textContent()).to.equal('14px');
    await phone.click('button[data-action="font-smaller"]');
    await waitFor('the font back', async () => (await fontPx(phone)) === 13);

    // focus mode: the terminal alone on the screen
    await phone.click('button[data-action="focus-mode"]');
    const panel = await phone.locator('.terminal-panel').boundingBox();
    expect(panel).to.deep.include({ x: 0, y: 0, width: 390, height: 844 });
    await phone.click('button[data-action="focus-mode"]');
    expect(await phone.locator('.terminal-panel.focus-mode').count()).to.equal(0);

    // a desktop window: read-only text at a readable size
    const wide = await signedIn('viewer', 'wide-viewer', { viewport: { width: 1440, height: 900 } });
    await openRun(wide, run.id);
    await waitScreen(wide, /RIGHT-EDGE/);
    expect(await fontPx(wide)).to.be.at.least(12);

    // light theme when the system asks for it, terminal included
    const light = await signedIn('viewer', 'light-viewer', { colorScheme: 'light' });
    await openRun(light, run.id);
    await waitScreen(light, /RIGHT-EDGE/);
    expect(await light.evaluate(() => getComputedStyle(document.body).backgroundColor)).to.equal('rgb(246, 248, 250)');
    expect(await light.locator('.term-host[data-pane="task"] .xterm-viewport').evaluate((e) => getComputedStyle(e).backgroundColor)).to.equal('rgb(255, 255, 255)');
    await expectAccessible(light, 'the run page in the light theme');
    await light.goto(`${hub.url}/`);
    await light.locator(`tr[data-run-id="${run.id}"]`).waitFor();
    await expectAccessible(light, 'the runs list in the light theme');
  });

  it('counts search matches, keeps its placeholder whole, ages tick, the first timeline row shows, failures look failed, errors are not cut', async () => {
    // the step fails when the test is done with the live page (a gate file in /tmp, which the
    // step sees, unlike the agent's data folder; at most 15 s)
    const failGate = join(tmpdir(), `handoff-dash-fail-gate-${process.pid}-${Date.now()}`);
    const run = await createRun([`echo findme-a; echo findme-b; echo other; w=0; while [ ! -e ${failGate} ] && [ $w -lt 300 ]; do sleep 0.05; w=$((w+1)); done; exit 3`]);
    await waitSessionReady(run.id);
    const page = await signedIn('operator', 'operator-user', { viewport: { width: 1440, height: 900 } });
    await openRun(page, run.id);
    await waitScreen(page, /other/);

    // search: a count, or "no results"
    const search = page.locator('[data-testid=term-search]');
    const placeholderFits = await search.evaluate((el) => {
      const input = el as HTMLInputElement;
      const cs = getComputedStyle(input);
      const ctx = document.createElement('canvas').getContext('2d');
      if (!ctx) return false;
      ctx.font = `${cs.fontSize} ${cs.fontFamily}`;
      return ctx.measureText(input.placeholder).width <= input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    });
    expect(placeholderFits, 'the search placeholder is not cut').to.equal(true);
    await search.fill('findme');
    await search.press('Enter');
    await waitFor('a match count', async () => /^[12] of 2$/.test((await page.locator('[data-testid=search-count]').textContent()) ?? ''), 5000);
    await search.fill('not-in-the-output');
    await search.press('Enter');
    await waitFor('no results', async () => (await page.locator('[data-testid=search-count]').textContent()) === 'no results', 5000);

    // relative times move on by themselves
    const created = page.locator('[data-testid=age-created]');
    const before = await created.textContent();
    await waitFor('the age to tick', async () => (await created.textContent()) !== before, 5000);

    // the first timeline row is wholly in view in its scroll box
    const first = page.locator('[data-testid=timeline] li').first();
    await first.waitFor();
    const inView = await first.evaluate((li) => {
      const box = (li.closest('.scroll') as HTMLElement).getBoundingClientRect();
      const r = li.getBoundingClientRect();
      return r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5;
    });
    expect(inView, 'first timeline row fully visible').to.equal(true);

    // a session error is shown whole, not cut mid-word
    const longError = 'the live session failed: tmux could not attach to the pane because the server socket vanished while the step was still running';
    const report = await hub.api('POST', `/api/task-runs/${run.id}/live-session/report`, hub.workerToken('w1'), { workerId: 'w1', attempt: run.attempt, status: 'error', errorMessage: longError });
    expect(report.status, report.text).to.equal(200);
    const errDd = page.locator('[data-testid=live-session-card] dd.error-text');
    await waitFor('the session error', async () => (await errDd.textContent()) === longError);
    const cut = await errDd.evaluate((dd) => {
      const card = (dd.closest('[data-testid=live-session-card]') as HTMLElement).getBoundingClientRect();
      const r = dd.getBoundingClientRect();
      return dd.scrollWidth > dd.clientWidth + 1 || r.right > card.right + 0.5;
    });
    expect(cut, 'the error is wrapped inside the card').to.equal(false);

    // the run fails: run_completed is shown as a failure
    writeFileSync(failGate, '');
    await waitRun(run.id, ['failed']);
    rmSync(failGate, { force: true });
    const completed = page.locator('[data-testid=timeline] li[data-action="run_completed"] .action');
    await completed.waitFor({ timeout: 15_000 });
    expect(await completed.getAttribute('class')).to.include('a-run_completed-failed');
    if (!process.env.HANDOFF_UPDATE_SCREENSHOTS) await page.screenshot({ path: join(shotDir, 'run-failed.png'), fullPage: true });
    await expectAccessible(page, 'a failed run');
  });

  it('drops to read-only by itself when a short grant expires', async () => {
    const run = await createRun(['echo short-ready; read -t 40 l; echo "short:[$l]"']);
    const session = await waitSessionReady(run.id);
    const page = await signedIn('operator');
    await openRun(page, run.id);
    await waitScreen(page, /short-ready/);
    // the API's minimum grant is a minute: mint a 4-second one with the hub's own key
    const { token } = hub.hub.ctx.tokens.mintGrant({ runId: run.id, sessionId: session.id, grantee: 'operator-user', generation: session.rwGeneration, expiresAt: Date.now() + 4000 });
    const t0 = Date.now();
    await page.evaluate((t) => (window as unknown as { __handoffUseGrant?: (grant: string) => void }).__handoffUseGrant?.(t), token);
    await waitFor('the RW badge', async () => /you are typing into a live run — 0:0[1-4] left/.test((await badge(page).textContent()) ?? ''));
    await waitFor('the grant to end on the page', async () => (await badge(page).textContent()) === 'read-only', 8000, 50);
    expect(Date.now() - t0).to.be.greaterThan(2000);
    // the hub downgraded the socket too: what is typed now never arrives
    await typeInto(page, 'after');
    await waitFor('the RO hint', async () => /read-only/.test((await page.locator('.term-notice').textContent()) ?? ''));
    await sleep(300); // negative wait: the keystrokes refused above never show up in the run
    expect(await screenText(page)).to.not.include('short:[after]');
    const detach = await waitFor('rw_detach', async () => (await events(run.id)).find((e) => e.action === 'rw_detach'));
    expect(detach.metadata['reason']).to.equal('grant expired');
  });

  it('a #grant= link (grant-write\'s webRw): the page writes with it and strips it from the address; another operator\'s page does not', async () => {
    const run = await createRun(['echo link-ready; read -t 40 l; echo "link:[$l]"']);
    await waitSessionReady(run.id);
    const g = await hub.api<GrantWriteResult>('POST', `/api/task-runs/${run.id}/live-session/grant-write`, hub.token('operator', 'operator-user'), { ttlMinutes: 5 });
    expect(g.status, g.text).to.equal(200);
    const link = g.body.webRw ?? '';
    expect(new URL(link).hash, 'the grant rides in the fragment').to.equal(`#grant=${g.body.grantToken}`);
    expect(new URL(link).search).to.not.include(g.body.grantToken.split('.')[2] as string);

    // another operator who gets the link watches read-only, told why
    const other = await signedIn('operator', 'oscar');
    await other.goto(link);
    await waitScreen(other, /link-ready/);
    await waitFor('the refusal', async () => /issued to another operator/.test((await other.locator('.term-notice').textContent()) ?? ''));
    expect(await badge(other).textContent()).to.equal('read-only');
    expect(other.url(), 'the grant left the address').to.equal(`${hub.url}/runs/${run.id}`);

    // the grantee: write, and the grant is gone from the address and this history entry
    const page = await signedIn('operator', 'operator-user');
    await page.goto(link);
    await waitScreen(page, /link-ready/);
    await waitFor('the RW badge', async () => /you are typing into a live run/.test((await badge(page).textContent()) ?? ''));
    expect(page.url()).to.equal(`${hub.url}/runs/${run.id}`);
    expect(await page.evaluate(() => location.hash)).to.equal('');
    await typeInto(page, 'via-link');
    await waitScreen(page, /link:\[via-link\]/);
  });

  it('puts pause, messages and resume in the timeline and the terminal, and keeps them on reload', async () => {
    const page = await signedIn('operator', 'olivia');
    const run = await createRun(['echo step-one; sleep 3', 'echo step-two; sleep 60']);
    await openRun(page, run.id);
    await waitScreen(page, /step-one/);

    await page.click('button[data-action="pause"]');
    await waitScreen(page, /== PAUSED FOR OPERATOR ==/);
    await page.locator('[data-testid=needs-operator]').waitFor();
    await page.locator('[data-testid=timeline] li[data-action="pause"]').filter({ hasText: 'olivia' }).waitFor();
    expect(await page.title()).to.match(/^\(paused\) handoff · run [0-9a-f]{8}$/);
    expect(await page.locator('button[data-action="pause"]').isVisible()).to.equal(false);
    // step one ends under the pause: unpaused, step two would start right away
    await waitFor('step one to finish', async () => (await events(run.id)).some((e) => e.action === 'step_finished' && e.metadata['index'] === 0), 10_000);
    await sleep(500); // negative wait: step two must not start while paused
    expect(await screenText(page)).to.not.include('step-two'); // held before the next step
    expect((await events(run.id)).filter((e) => e.action === 'step_started').map((e) => e.metadata['index']), 'step two did not start').to.deep.equal([0]);

    await page.fill('[data-testid=message-input]', 'looking at it now');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=messages] li').filter({ hasText: 'looking at it now' }).waitFor();
    await page.locator('[data-testid=timeline] li[data-action="send_message"]').filter({ hasText: 'looking at it now' }).waitFor();

    // a failure shows the hub's own message
    await page.fill('[data-testid=message-input]', 'x'.repeat(5000));
    await page.keyboard.press('Enter');
    await waitFor('the size error', async () => /the limit is 4096/.test((await page.locator('.messages-panel .error').textContent()) ?? ''));

    await page.fill('input.summary', 'checked the fixture, carry on');
    await page.click('button[data-action="resume"]');
    await waitScreen(page, /step-two/);
    const resume = page.locator('[data-testid=timeline] li[data-action="resume"]');
    await resume.waitFor();
    expect(await resume.textContent()).to.include('summary=checked the fixture, carry on');
    expect(await page.locator('[data-testid=needs-operator]').count()).to.equal(0);

    // every event shows actor, time and metadata
    const pauseItem = page.locator('[data-testid=timeline] li[data-action="pause"]');
    expect(await pauseItem.locator('time').getAttribute('datetime')).to.match(/^\d{4}-\d\d-\d\dT/);
    expect(await pauseItem.locator('.kv').allTextContents()).to.include('mode=soft');

    // reload: the screen comes back from the snapshot, past messages from the events
    await page.reload();
    await waitScreen(page, /step-two/);
    expect(await screenText(page)).to.include('step-one');
    await page.locator('[data-testid=messages] li').filter({ hasText: 'looking at it now' }).waitFor();
    const actions = await timelineActions(page);
    expect(actions.filter((a) => ['pause', 'send_message', 'resume'].includes(a))).to.deep.equal(['pause', 'send_message', 'resume']);
  });

  it('takes over in one step: asks for the grant length, gives write, keeps the task pane in front; resume returns to it', async () => {
    const page = await signedIn('operator');
    const run = await createRun(['echo take-me; read -t 90 l; echo "task-got:[$l]"; sleep 60']);
    await openRun(page, run.id);
    await waitScreen(page, /take-me/);
    expect(await page.locator('.pane-tab').count()).to.equal(1);
    await page.click('button[data-action="takeover"]');
    const ask = page.locator('[data-testid=takeover-ask]');
    await ask.waitFor();
    await expectAccessible(page, 'the takeover question');
    await page.selectOption('[data-testid=takeover-ttl]', '5');
    await page.click('button[data-action="takeover-confirm"]');
    await waitFor('the RW badge', async () => /typing into a live run — [45]:\d\d left/.test((await badge(page).textContent()) ?? ''));
    expect(await page.locator('[data-testid=needs-operator]').textContent()).to.include('taken over');
    expect(await page.locator('button[data-action="takeover"]').isVisible()).to.equal(false);
    expect(await page.locator('button[data-action="resume"]').isVisible()).to.equal(true);
    await page.locator('.pane-tab[data-pane="operator"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('.terminal-panel').getAttribute('data-active-pane')).to.equal('task');
    // the task pane has the focus: the operator types at once
    await waitFor('the task terminal to have focus', async () => page.evaluate(() => !!document.activeElement?.closest('.term-host[data-pane="task"]')), 5000);
    await page.keyboard.type('fixed');
    await page.keyboard.press('Enter');
    await waitScreen(page, /task-got:\[fixed\]/);

    // the operator shell is one tab away
    await page.click('.pane-tab[data-pane="operator"]');
    const op = '.term-host[data-pane="operator"]';
    await typeInto(page, 'echo "op-$((2+3))"', 'operator');
    await waitScreen(page, /^op-5$/m, op);
    await page.locator('[data-testid=timeline] li[data-action="takeover"]').waitFor();

    // resume brings the task pane back to the front
    await page.click('button[data-action="resume"]');
    await waitFor('the task pane in front', async () => (await page.locator('.terminal-panel').getAttribute('data-active-pane')) === 'task', 10_000);
    expect(await screenText(page)).to.include('take-me');

    // "hard" is asked for each pause, never left ticked
    await page.locator('[data-testid=controls] label.check input').check();
    await page.click('button[data-action="pause"]');
    await page.locator('button[data-action="resume"]').waitFor();
    expect(await page.locator('[data-testid=controls] label.check input').isChecked()).to.equal(false);
  });

  it('shows controls by role: none to a viewer, revoke session only to an admin', async () => {
    const run = await createRun(['echo watch-me; sleep 60']);
    await waitSessionReady(run.id);

    const viewer = await signedIn('viewer');
    expect(await viewer.locator('details.create-run').count()).to.equal(0);
    await openRun(viewer, run.id);
    await waitScreen(viewer, /watch-me/);
    expect(await viewer.locator('[data-testid=controls]').count()).to.equal(0);
    expect(await viewer.locator('[data-testid=live-session-card] button:not(.copy)').count()).to.equal(0);
    expect(await viewer.locator('[data-testid=message-input]').count()).to.equal(0);
    expect(await viewer.locator('[data-testid=live-session-card]').textContent()).to.include('watching only');
    expect(await viewer.locator('[data-testid=attach-ro]').count()).to.equal(1);
    await expectAccessible(viewer, 'the run page of a viewer');

    const operator = await signedIn('operator');
    await openRun(operator, run.id);
    for (const a of ['grant-write', 'pause', 'takeover', 'cancel-run']) expect(await operator.locator(`button[data-action="${a}"]`).isVisible(), a).to.equal(true);
    expect(await operator.locator('button[data-action="revoke-session"]').count()).to.equal(0);

    const admin = await signedIn('admin');
    await openRun(admin, run.id);
    const revoke = admin.locator('button[data-action="revoke-session"]');
    expect(await revoke.isVisible()).to.equal(true);
    await revoke.click(); // arms
    expect(await revoke.textContent()).to.equal('Really revoke?');
    await revoke.click();
    await waitFor('the session to show revoked', async () => (await admin.locator('[data-testid=session-status]').textContent()) === 'revoked');
    // the viewer's page follows live
    await waitFor('the viewer to see revoked', async () => (await viewer.locator('[data-testid=session-status]').textContent()) === 'revoked');
  });

  it('replays the recording of a finished run', async () => {
    const run = await createRun(['echo "replay-marker-$((1+1))"; sleep 0.4; echo replay-done']);
    await waitRun(run.id, ['succeeded']);
    await waitFor('the recording upload', async () => (await hub.api('GET', `/api/task-runs/${run.id}/recording`, hub.token('viewer'))).status === 200);
    const page = await signedIn('viewer');
    await openRun(page, run.id);
    const replay = page.locator('[data-testid=replay]');
    await replay.waitFor();
    expect(await page.locator('.terminal-panel').count()).to.equal(0);
    await waitFor('the player to be ready', async () => !(await page.locator('button[data-action="replay-play"]').isDisabled()));
    await page.click('button[data-speed="4"]');
    expect(await page.locator('button[data-speed="4"]').getAttribute('aria-pressed')).to.equal('true');
    await page.click('button[data-action="replay-play"]');
    await waitScreen(page, /replay-marker-2[\s\S]*replay-done/, '[data-testid=replay-terminal]', 10_000);
    await waitFor('playback to finish', async () => (await page.locator('button[data-action="replay-play"]').textContent()) === 'Play');
    await page.screenshot({ path: join(shotDir, 'run-replay.png') });
    // restart clears the screen and plays again
    await page.click('button[data-action="replay-restart"]');
    await waitFor('restart to clear the screen', async () => !(await screenText(page, '[data-testid=replay-terminal]')).includes('replay-done'), 3000);
    await page.click('button[data-action="replay-end"]');
    await waitScreen(page, /replay-done/, '[data-testid=replay-terminal]', 5000);
    expect(pageErrors).to.deep.equal([]);
  });

  it('opens a replay on its final frame, seeks, jumps to step markers, limits idle time, and scrolls or fits wide output', async () => {
    const run = await createRun(['echo cast-placeholder']);
    await waitRun(run.id, ['succeeded']);
    await waitFor('the agent\u2019s upload', async () => (await hub.api('GET', `/api/task-runs/${run.id}/recording`, hub.token('viewer'))).status === 200);
    // a 120-column recording with step markers and a 30 s silence, uploaded as the owning worker does
    const wide = `${'W'.repeat(100)}END-OF-WIDE`;
    const lines = [
      JSON.stringify({ version: 2, width: 120, height: 8, timestamp: Math.floor(Date.now() / 1000) }),
      JSON.stringify([0.1, 'm', 'step 1: build']),
      JSON.stringify([0.2, 'o', 'building the thing\r\n']),
      JSON.stringify([1.0, 'o', 'build done\r\n']),
      JSON.stringify([31.0, 'm', 'step 2: test']),
      JSON.stringify([31.1, 'o', 'testing now\r\n']),
      JSON.stringify([32.0, 'o', `${wide}\r\n`]),
      JSON.stringify([33.0, 'o', 'final-frame-text\r\n']),
    ];
    const put = await fetch(`${hub.url}/api/task-runs/${run.id}/recording?attempt=${run.attempt}`, { method: 'PUT', headers: { authorization: `Bearer ${hub.workerToken('w1')}`, 'content-type': 'application/x-asciicast' }, body: `${lines.join('\n')}\n` });
    expect(put.status, await put.text()).to.equal(200);

    const page = await signedIn('viewer', 'replay-viewer', { viewport: { width: 1440, height: 900 } });
    await openRun(page, run.id);
    const term = '[data-testid=replay-terminal]';
    // the final frame, before anything is clicked
    await waitScreen(page, /final-frame-text/, term, 10_000);
    expect(await screenText(page, term)).to.include('building the thing');
    // idle limit 2 s by default: 33 s recorded play in about 5 s; "as recorded" restores the silence
    expect(await page.locator('[data-testid=replay-time]').textContent()).to.equal('0:05 / 0:05');
    await page.selectOption('[data-testid=replay-idle]', '0');
    await waitFor('the full length', async () => (await page.locator('[data-testid=replay-time]').textContent()) === '0:33 / 0:33');
    await page.selectOption('[data-testid=replay-idle]', '2');

    // step markers jump to where each step began
    const markers = page.locator('[data-testid=replay-markers] button');
    expect(await markers.allTextContents()).to.deep.equal(['step 1: build', 'step 2: test']);
    await markers.nth(1).click();
    await waitFor('step 2 without its end', async () => {
      const t = await screenText(page, term);
      return t.includes('build done') && !t.includes('testing now') ? true : undefined;
    }, 5000);
    await markers.nth(0).click();
    await waitFor('back at step 1', async () => !(await screenText(page, term)).includes('build done'), 5000);

    // the slider seeks: a click near its end shows the last lines again
    const seek = page.locator('[data-testid=replay-seek]');
    const box = await seek.boundingBox();
    if (!box) throw new Error('no slider');
    await page.mouse.click(box.x + box.width - 2, box.y + box.height / 2);
    await waitScreen(page, /final-frame-text/, term, 5000);
    await page.mouse.click(box.x + box.width * 0.05, box.y + box.height / 2);
    await waitFor('an early frame', async () => !(await screenText(page, term)).includes('final-frame-text'), 5000);
    await page.click('button[data-action="replay-end"]');
    await waitScreen(page, /END-OF-WIDE/, term, 5000);

    // wide output: the panel scrolls sideways; Fit width shows all 120 columns
    const host = page.locator(term);
    const overflow = () => host.evaluate((e) => e.scrollWidth - e.clientWidth);
    expect(await overflow()).to.be.greaterThan(0);
    await page.click('button[data-action="replay-fit"]');
    await waitFor('every column in view', async () => (await overflow()) <= 0, 5000);
    await expectAccessible(page, 'the replay');

    // speeds up to 8x
    await page.click('button[data-speed="8"]');
    expect(await page.locator('button[data-speed="8"]').getAttribute('aria-pressed')).to.equal('true');
    expect(pageErrors).to.deep.equal([]);
  });
});
