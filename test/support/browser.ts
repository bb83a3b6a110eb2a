/** Chromium for the dashboard's browser tests: launch flags, probing waits, what a terminal shows. */
import type { Page } from 'playwright-core';
import { sleep } from './wait.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Polls `probe` until it returns a value (not undefined / false); a probe that throws is tried again. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** What an xterm under `selector` shows (its rendered rows). */
export async function screenText(page: Page, selector = '.term-host[data-pane="task"]'): Promise<string> {
  const rows = page.locator(`${selector} .xterm-rows`);
  if (!(await rows.count())) return '';
  return (await rows.innerText()).replace(/\u00a0/g, ' ');
}
