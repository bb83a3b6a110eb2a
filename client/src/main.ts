/**
 * The operator dashboard's entry: a small history-API router over three pages — sign-in,
 * the runs list and a run's detail — under a header that names who is signed in.
 */
import { startAgeTicker } from './ages.ts';
import { api } from './api.ts';
import { signInWatch } from './components/signInWatch.ts';
import { h } from './dom.ts';
import { backToSignIn, interceptLinks, navigate, setNavigationHandler } from './nav.ts';
import { notificationButton } from './notifications.ts';
import { currentIdentity, signOut } from './session.ts';
import { runDetailView } from './views/runDetail.ts';
import { runListView } from './views/runList.ts';
import { signInView } from './views/signIn.ts';
import type { View } from './views/view.ts';

const root = document.getElementById('app') as HTMLElement;
let current: View | null = null;
let watch: { el: HTMLElement; destroy(): void } | null = null;

function header(): HTMLElement {
  const me = currentIdentity();
  const out = h('button.link', { type: 'button', 'data-action': 'sign-out' }, 'Sign out');
  out.addEventListener('click', () => {
    // Sign-out ends the session at the hub, not only in this tab: a copy of the token is dead too.
    void api
      .logout()
      .catch(() => undefined)
      .finally(() => {
        signOut();
        navigate('/signin', { notice: 'Signed out.' });
      });
  });
  return h(
    'header.top',
    {},
    h('a.brand', { href: '/', 'data-nav': true }, 'handoff'),
    h('nav', {}, h('a', { href: '/', 'data-nav': true }, 'Runs')),
    me ? h('span.whoami', { 'data-testid': 'whoami', 'data-role': me.role }, notificationButton(), ' ', h('span', { 'data-testid': 'whoami-name', title: me.sub }, me.name ?? me.sub), ' ', h(`span.badge.role-${me.role}`, {}, me.role), ' ', out) : null,
  );
}

function route(): void {
  current?.destroy();
  current = null;
  watch?.destroy();
  watch = null;
  root.replaceChildren();
  const path = location.pathname;
  if (path === '/signin') {
    current = signInView();
  } else {
    const me = currentIdentity();
    if (!me) return backToSignIn('Please sign in.');
    const m = /^\/runs\/([^/]+)\/?$/.exec(path);
    if (m?.[1]) current = runDetailView(me, decodeURIComponent(m[1]));
    else if (path === '/' || path === '/runs' || path === '/runs/') current = runListView(me);
    else current = { el: h('main.page', {}, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/', 'data-nav': true }, 'Back to the runs'))), destroy: () => undefined };
    document.title = m ? `handoff · run ${m[1]?.slice(0, 8)}` : 'handoff · runs';
  }
  const who = currentIdentity();
  if (who && path !== '/signin') watch = signInWatch(who);
  root.append(header(), ...(watch ? [watch.el] : []), current.el);
}

setNavigationHandler(route);
startAgeTicker(root);
window.addEventListener('popstate', route);
interceptLinks(root);
route();
