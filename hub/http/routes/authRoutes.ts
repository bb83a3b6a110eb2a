/**
 * /auth/…: signing in and out (architecture §7). With HANDOFF_OIDC_ISSUER the dashboard signs in
 * through the organisation's OpenID provider (/auth/login → provider → /auth/callback) and the CLI
 * through the device flow (/auth/device); without it only the development sign-in exists (a token
 * minted with the hub's secret). /auth/logout ends the caller's own operator session either way.
 *
 * After /auth/callback the browser holds a hub token (naming its server-side operator session) in
 * the tab's sessionStorage, handed over in the address fragment of /signin — not a cookie. The
 * whole API and the socket handshake take bearer tokens, so no request ever carries an ambient
 * credential and there is nothing to forge across sites (no CSRF surface); the fragment never
 * reaches a server, a log or a Referer, and the page removes it at once. The token dies with its
 * session: sign-out and an admin's end refuse it on every hub at once.
 */
import type { Express, Request, Response } from 'express';
import express from 'express';
import type { Logger } from 'pino';
import type { OperatorAuth } from '../../auth/operatorAuth.ts';
import type { OidcSignIn } from '../../auth/oidcSignIn.ts';
import { SignInError, SignInRefused } from '../../auth/oidcSignIn.ts';
import { ApiError, invalidPayload } from '../../domain/errors.ts';
import { requireOperator } from '../authMiddleware.ts';
import { deviceTokenBody, parse } from '../../domain/commands.ts';

const LOGIN_COOKIE = 'handoff_login';
/** How long one /auth/device/token call waits for the person before answering "pending" (unless it asks for less). */
const DEVICE_LONG_POLL_MS = 20_000;

export interface AuthRouteDeps {
  auth: OperatorAuth;
  oidc: OidcSignIn | null;
  publicUrl: string | undefined;
  log: Logger;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A small self-contained page (the hub's CSP allows inline styles, no scripts). */
function page(res: Response, status: number, title: string, message: string, link: { href: string; text: string } | null = { href: '/signin', text: 'Back to the sign-in page' }): void {
  res
    .status(status)
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} · handoff</title>` +
        `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1b1f24}h1{font-size:1.4rem}a{color:#0b5cad}</style></head>` +
        `<body><main><h1 data-testid="auth-title">${escapeHtml(title)}</h1><p data-testid="auth-message">${escapeHtml(message)}</p>${link ? `<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : ''}</main></body></html>`,
    );
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** Only same-site paths (an open redirect would hand the token's page to anyone). */
function safeNext(raw: unknown): string {
  return typeof raw === 'string' && raw.startsWith('/') && !raw.startsWith('//') && !raw.startsWith('/\\') && !raw.startsWith('/signin') && raw.length < 2000 ? raw : '/';
}

export function authRoutes(app: Express, deps: AuthRouteDeps): void {
  const { auth, oidc, log } = deps;
  const base = (req: Request) => (deps.publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`).replace(/\/+$/, '');

  app.get('/auth/methods', (_req, res) => void res.json({ oidc: oidc !== null, ...(oidc ? { issuer: oidc.config.issuer } : {}), development: oidc === null }));

  app.post('/auth/logout', requireOperator(auth, 'runs.read'), async (req, res) => {
    const me = req.operator!;
    await auth.sessions.end({ id: me.sid }, 'self');
    log.info({ subject: me.sub, issuer: me.idp, session: me.sid }, 'signed out');
    const endSessionUrl = oidc && me.idp === oidc.config.issuer ? await oidc.endSessionUrl(`${base(req)}/signin`) : null;
    res.json({ ended: true, endSessionUrl });
  });

  if (!oidc) return;

  app.get('/auth/login', async (req, res) => {
    const redirectUri = oidc.config.redirectUrl ?? `${base(req)}/auth/callback`;
    let begun: { url: string; cookie: string };
    try {
      begun = await oidc.beginLogin(redirectUri, safeNext(req.query.next));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'sign-in could not start');
      return void page(res, 503, 'Sign-in is unavailable', `The identity provider (${oidc.config.issuer}) cannot be reached right now. Try again in a moment.`);
    }
    const secure = redirectUri.startsWith('https:') ? '; Secure' : '';
    // Lax: the provider's redirect back is a top-level GET navigation, which Lax lets through.
    res.setHeader('Set-Cookie', `${LOGIN_COOKIE}=${encodeURIComponent(begun.cookie)}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=600${secure}`);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, begun.url);
  });

  app.get('/auth/callback', async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Set-Cookie', `${LOGIN_COOKIE}=; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0`);
    const providerError = req.query.error;
    if (typeof providerError === 'string') {
      const description = typeof req.query.error_description === 'string' ? req.query.error_description : providerError;
      return void page(res, providerError === 'access_denied' ? 403 : 400, 'Sign-in was not completed', `The identity provider said: ${description.slice(0, 500)}`);
    }
    try {
      const url = new URL(req.originalUrl, base(req));
      const done = await oidc.finishLogin(url, cookie(req, LOGIN_COOKIE));
      res.redirect(303, `/signin?next=${encodeURIComponent(done.next)}#token=${encodeURIComponent(done.token)}`);
    } catch (err) {
      if (err instanceof SignInRefused) {
        return void page(res, 403, 'No access to handoff', `${err.message} Ask an administrator to add you to one of those groups.`, { href: '/auth/login', text: 'Sign in as someone else' });
      }
      if (err instanceof SignInError) return void page(res, 400, 'Sign-in failed', err.message);
      log.warn({ err: (err as Error).message, code: (err as { code?: string }).code }, 'sign-in failed');
      page(res, 400, 'Sign-in failed', 'The answer from the identity provider could not be verified. Start again from the sign-in page.');
    }
  });

  app.post('/auth/device', async (_req, res) => {
    try {
      res.json(await oidc.beginDevice());
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'device sign-in could not start');
      throw new ApiError(503, 'unavailable', `the identity provider (${oidc.config.issuer}) cannot start a device sign-in: ${(err as Error).message}`);
    }
  });

  app.post('/auth/device/token', express.json({ limit: '16kb' }), async (req, res) => {
    const body = parse(deviceTokenBody, req.body);
    try {
      const done = await oidc.pollDevice(body.handle, body.waitSeconds ? body.waitSeconds * 1000 : DEVICE_LONG_POLL_MS);
      if (!done) return void res.status(202).json({ status: 'pending' });
      res.json({ status: 'signed_in', ...done });
    } catch (err) {
      if (err instanceof SignInRefused) throw new ApiError(403, 'forbidden', err.message);
      if (err instanceof SignInError) throw invalidPayload(err.message);
      throw err;
    }
  });
}
