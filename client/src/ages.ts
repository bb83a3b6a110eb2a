/**
 * Relative times ("12s ago", "in 5m") stay true while a page is open: every element with a
 * `data-age` instant is rewritten once a second, wherever it is on the page (one ticker for all);
 * so is every `data-elapsed` one, as the time since it (a running step's length).
 */
import { age, duration } from './format.ts';

export function startAgeTicker(root: HTMLElement): () => void {
  const tick = () => {
    const now = Date.now();
    for (const el of root.querySelectorAll<HTMLElement>('[data-age]')) {
      const text = age(el.dataset.age ?? null, now);
      if (el.textContent !== text) el.textContent = text;
    }
    for (const el of root.querySelectorAll<HTMLElement>('[data-elapsed]')) {
      const text = duration(now - Date.parse(el.dataset.elapsed ?? ''));
      if (el.textContent !== text) el.textContent = text;
    }
  };
  const timer = setInterval(tick, 1000);
  return () => clearInterval(timer);
}
