/**
 * The sign-in's lifetime on every page (issue 15): a warning from EXPIRY_WARNING_MS before the
 * token expires, with the time left; at expiry the tab signs out and the sign-in page says why
 * (drafts are kept: drafts.ts), instead of the next action failing and being lost.
 */
import { h } from '../dom.ts';
import { countdown } from '../format.ts';
import { backToSignIn } from '../nav.ts';
import type { Identity } from '../session.ts';
import { EXPIRY_WARNING_MS, expiredReason, signOut } from '../session.ts';

export function signInWatch(me: Identity): { el: HTMLElement; destroy(): void } {
  const el = h('div.signin-warning', { 'data-testid': 'signin-warning', role: 'status', 'aria-live': 'polite', hidden: true });
  const exp = me.expiresAt;
  if (exp === null) return { el, destroy: () => undefined };
  const tick = () => {
    const left = exp - Date.now();
    if (left <= 0) {
      clearInterval(timer);
      signOut();
      backToSignIn(expiredReason(exp));
      return;
    }
    el.hidden = left > EXPIRY_WARNING_MS;
    el.textContent = `Your sign-in expires in ${countdown(left)}. Save what you are typing (it is kept in this tab) and sign in again with a fresh token.`;
  };
  const timer = setInterval(tick, 1000); // declared before the first tick() reads it
  tick();
  return { el, destroy: () => clearInterval(timer) };
}
