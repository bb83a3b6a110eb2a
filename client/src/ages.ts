/**
 * Relative times ("12s ago", "in 5m") stay true while a page is open: every element with a
 * `data-age` instant is rewritten once a second, wherever it is on the page (one ticker for all).
 */
import { age } from './format.ts';

export function startAgeTicker(root: HTMLElement): () => void {
  const tick = () => {
    const now = Date.now();
    for (const el of root.querySelectorAll<HTMLElement>('[data-age]')) {
      const text = age(el.dataset.age ?? null, now);
      if (el.textContent !== text) el.textContent = text;
    }
  };
  const timer = setInterval(tick, 1000);
  return () => clearInterval(timer);
}
