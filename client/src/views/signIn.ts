/**
 * Sign-in. With an identity provider configured (GET /auth/methods says so) the page offers
 * "Sign in with your organisation" (/auth/login); the hub sends the browser back to
 * `/signin#token=…` after the provider's sign-in. Without one, this is the development sign-in:
 * paste a token, or open the one-time link `handoff dev` prints. Either way the hash is stripped
 * from the address at once, the token is checked with the hub, then kept in sessionStorage for
 * this tab only.
 */
import { api, ApiError } from '../api.ts';
import { h } from '../dom.ts';
import { errorText } from '../format.ts';
import { navigate, takeNotice } from '../nav.ts';
import { parseToken, signIn } from '../session.ts';
import type { View } from './view.ts';

function nextPath(): string {
  const next = new URLSearchParams(location.search).get('next');
  // only same-site paths
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') ? next : '/';
}

export function signInView(): View {
  const notice = takeNotice();
  const error = h('div.error', { role: 'alert', 'data-testid': 'signin-error' }, notice ?? '');
  const input = h('textarea.token', { rows: 4, placeholder: 'eyJhbGciOi…', 'aria-label': 'operator token', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'token-input' });
  const submit = h('button.primary', { type: 'submit' }, 'Sign in');
  const tokenHelp = h('p.muted', { 'data-testid': 'dev-signin' }, 'Development sign-in: paste an operator token (', h('code', {}, 'handoff token --role operator --sub you'), '), or open the sign-in link that ', h('code', {}, 'handoff dev'), ' prints. This is for development; a deployment signs in through its identity provider. The token stays in this tab only.');
  const providerBox = h('div.provider-signin', { hidden: true });
  const form = h('form.signin', {}, h('h1', {}, 'Sign in to handoff'), providerBox, tokenHelp, input, submit, error);
  void fetch('/auth/methods')
    .then((r) => (r.ok ? (r.json() as Promise<{ oidc: boolean; issuer?: string }>) : null))
    .then((m) => {
      if (!m?.oidc) return;
      const login = h('a.button.primary', { href: `/auth/login?next=${encodeURIComponent(nextPath())}`, 'data-testid': 'oidc-signin' }, 'Sign in with your organisation');
      providerBox.replaceChildren(login, h('p.muted', {}, `Through ${m.issuer ?? 'your identity provider'}. Or, for automation and development, paste a token below.`));
      providerBox.hidden = false;
      tokenHelp.textContent = 'Sign in with a token (development and automation): paste an operator token.';
    })
    .catch(() => undefined);

  const attempt = async (raw: string) => {
    error.textContent = '';
    try {
      parseToken(raw);
    } catch (err) {
      error.textContent = errorText(err);
      return;
    }
    submit.disabled = true;
    try {
      await api.verifyToken(raw.trim());
      signIn(raw);
      navigate(nextPath(), { replace: true });
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? `The hub refused this token: ${err.message}` : errorText(err);
    } finally {
      submit.disabled = false;
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void attempt(input.value);
  });

  // the one-time link: read the token from the fragment, then remove it from the address bar and history
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m?.[1]) {
    const token = decodeURIComponent(m[1]);
    history.replaceState(null, '', location.pathname + location.search);
    input.value = token;
    void attempt(token);
  }
  return { el: h('main.page.signin-page', {}, form), destroy: () => undefined };
}
