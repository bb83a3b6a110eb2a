/**
 * Where each step began, in the live terminal (issue 15), in Chromium against a real hub
 * (PostgreSQL), agent and pty: a viewer there from the start gets the marks as the steps begin
 * (`pane:mark`, in order with the output), a viewer who joins later gets them from the agent's
 * screen mirror in the snapshot; on both, a step in the steps panel scrolls the terminal so the
 * step's first line is the top row, and the mark is drawn on that line.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { seriousAxeViolations } from '../support/axe.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, screenText, waitFor } from '../support/browser.ts';
import type { TestAgent } from '../support/testAgent.ts';
import { createRun, startTestAgent, waitForSessionStatus } from '../support/testAgent.ts';
import type { TestHub } from '../support/testHub.ts';
import { startTestHub } from '../support/testHub.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('dashboard: step marks in the live terminal (browser, postgres)', function () {
  this.timeout(120_000);
  let hub: TestHub;
  let agent: TestAgent;
  let browser: Browser;
  let dir: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  let runId: string | null = null;

  before(async function () {
    this.timeout(120_000);
    execFileSync(process.execPath, [join(ROOT, 'client/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    dir = mkdtempSync(join(tmpdir(), 'handoff-marks-'));
    hub = await startTestHub('postgres');
    agent = startTestAgent(hub);
    await agent.ready();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  });

  after(async function () {
    this.timeout(60_000);
    for (const c of contexts.splice(0)) await c.close();
    if (runId) await hub.api('POST', `/api/task-runs/${runId}/cancel`, hub.token('operator'), {});
    await browser?.close();
    await agent?.close();
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log('page errors:', pageErrors.join('\n') || '(none)');
      console.log('agent log tail:', agent.logs.slice(-20).join('\n'));
    }
  });

  async function runPage(id: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${err.name}: ${err.message}`));
    await page.goto(`${hub.url}/signin#token=${hub.token('viewer', 'viewer-marks')}`);
    await page.waitForURL(`${hub.url}/`);
    await page.goto(`${hub.url}/runs/${id}`);
    await page.locator('[data-testid=live-session-card]').waitFor();
    return page;
  }

  /** The terminal's top row once step `index`'s button was clicked: polled until it is `expected`, or the last one seen after 5 s. */
  async function topRowAfterSeek(page: Page, index: number, expected: string): Promise<string> {
    await page.locator(`[data-testid=steps] li[data-index="${index}"] button.step-seek`).click();
    const deadline = Date.now() + 5000;
    for (;;) {
      const top = (await screenText(page)).split('\n')[0]?.trimEnd() ?? '';
      if (top === expected || Date.now() > deadline) return top;
      await page.waitForTimeout(100);
    }
  }

  it('marks where each step began for a viewer there from the start and for one who joins late; a step scrolls the terminal to it', async () => {
    const go = join(dir, 'go');
    const lines = (name: string) => `for i in $(seq 1 60); do echo "${name}-$i"; done`;
    const run = await createRun(hub, [`echo zero-begins; while [ ! -e ${go} ]; do sleep 0.05; done`, lines('one'), `echo two-begins; ${lines('two')}`, "echo three-begins; read -p 'continue? ' x"], { liveSession: true });
    runId = run.id;
    await waitForSessionStatus(hub, run.id, ['ready']);
    const early = await runPage(run.id);
    await waitFor('the first step on screen', async () => (await screenText(early)).includes('zero-begins'));
    writeFileSync(go, '');
    await waitFor('the last step waiting', async () => (await screenText(early)).includes('continue?'), 20_000);
    const late = await runPage(run.id);
    await waitFor('the late joiner\u2019s screen', async () => (await screenText(late)).includes('continue?'));

    for (const [who, page] of [['from the start', early], ['late joiner', late]] as const) {
      expect(await topRowAfterSeek(page, 1, 'one-1'), `${who}: step 2`).to.equal('one-1');
      expect(await page.locator('.term-host[data-pane="task"] .step-mark[data-step="1"]').count(), `${who}: step 2's mark drawn`).to.equal(1);
      expect(await topRowAfterSeek(page, 2, 'two-begins'), `${who}: step 3`).to.equal('two-begins');
      // the last step's line is near the end: the terminal scrolls as far as it goes, the line in view
      await page.locator('[data-testid=steps] li[data-index="3"] button.step-seek').click();
      await waitFor(`${who}: step 4 in view`, async () => (await screenText(page)).split('\n').slice(-3).some((l) => l.trimEnd() === 'three-begins'), 5000);
      expect(await page.locator('.term-host[data-pane="task"] .step-mark[data-step="3"]').count(), `${who}: step 4's mark drawn`).to.equal(1);
      expect(await page.locator('.step-note').textContent(), who).to.equal('Terminal at the start of step 4.');
      expect(await seriousAxeViolations(page), `axe, ${who}`).to.deep.equal([]);
    }
    expect(pageErrors).to.deep.equal([]);
  });
});
