/** Chromium for the dashboard's browser tests: launch flags, probing waits, what a terminal shows. */
import type { Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

// the browser suites wait as every suite does (wait.ts)
export { waitFor } from './wait.ts';

/** What an xterm under `selector` shows (its rendered rows). */
export async function screenText(page: Page, selector = '.term-host[data-pane="task"]'): Promise<string> {
  const rows = page.locator(`${selector} .xterm-rows`);
  if (!(await rows.count())) return '';
  return (await rows.innerText()).replace(/\u00a0/g, ' ');
}
