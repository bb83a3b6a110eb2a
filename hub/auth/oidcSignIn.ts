/**
 * OpenID Connect sign-in (architecture §7) through `openid-client` (a certified relying party):
 * the dashboard's authorization code flow with PKCE, state and nonce, and the CLI's device
 * authorization flow, both run by the hub with its own client registration. The provider's groups
 * map to a role (HANDOFF_OIDC_ROLE_MAP); a person in no mapped group is refused. A sign-in opens an
 * operator session (operatorSessions.ts) and hands back a hub token naming it.
 *
 * Nothing is kept in the hub's memory between the steps of a flow: the login's state, nonce and
 * PKCE verifier travel in a sealed (AES-256-GCM) HttpOnly cookie, the device code in a sealed
 * handle the CLI sends back, so any hub of a deployment can finish a flow another began.
 */
import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { OperatorRole } from '../../common/statuses.ts';
import { roleAtLeast } from '../../common/policy.ts';
import type { OidcConfig } from '../config.ts';
import type { OperatorSessions, SessionSource } from './operatorSessions.ts';
import type { SealedBox } from './sealedBox.ts';
import type { TokenService } from './tokens.ts';

/** A sign-in the provider vouched for, but that handoff refuses: no mapped group. */
export class SignInRefused extends Error {
  override name = 'SignInRefused';
  constructor(
    message: string,
    readonly subject: string,
    readonly groups: string[],
  ) {
    super(message);
  }
}

export interface SignedIn {
  token: string;
  sessionId: string;
  subject: string;
  displayName: string | null;
  role: OperatorRole;
  expiresAt: string;
}

/** What the login cookie carries between /auth/login and /auth/callback. */
interface LoginState {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
  redirectUri: string;
  /** ms since epoch */
  until: number;
}

const LOGIN_STATE_MS = 10 * 60_000;

/** The groups a claim value names: an array of strings, or one string of space / comma separated names. */
export function groupsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  return [];
}

/** The highest role any of the groups maps to; null when none is mapped. */
export function roleFor(groups: string[], roleMap: OidcConfig['roleMap']): OperatorRole | null {
  let best: OperatorRole | null = null;
  for (const [group, role] of roleMap) {
    if (groups.includes(group) && (best === null || !roleAtLeast(best, role))) best = role;
  }
  return best;
}

export class OidcSignIn {
  private discovered: Promise<client.Configuration> | null = null;

  constructor(
    readonly config: OidcConfig,
    private readonly sessions: OperatorSessions,
    private readonly tokens: TokenService,
    private readonly box: SealedBox,
    private readonly sessionSeconds: number,
    private readonly log: Logger,
  ) {}

  /** The provider's metadata, discovered once (again after a failure). */
  configuration(): Promise<client.Configuration> {
    if (!this.discovered) {
      const issuer = new URL(this.config.issuer);
      // Plain http only for a provider on this machine (development, tests).
      const loopback = issuer.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
      const auth = this.config.clientSecret ? client.ClientSecretBasic(this.config.clientSecret) : client.None();
      this.discovered = client.discovery(issuer, this.config.clientId, undefined, auth, loopback ? { execute: [client.allowInsecureRequests] } : undefined);
      this.discovered.catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message, issuer: this.config.issuer }, 'OpenID provider discovery failed');
        this.discovered = null;
      });
    }
    return this.discovered;
  }

  /** Where to send the browser, and the sealed state for the login cookie. */
  async beginLogin(redirectUri: string, next: string): Promise<{ url: string; cookie: string }> {
    const cfg = await this.configuration();
    const verifier = client.randomPKCECodeVerifier();
    const st: LoginState = { state: client.randomState(), nonce: client.randomNonce(), verifier, next, redirectUri, until: Date.now() + LOGIN_STATE_MS };
    const url = client.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUri,
      scope: this.config.scopes,
      response_type: 'code',
      state: st.state,
      nonce: st.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, cookie: this.box.seal(JSON.stringify(st)) };
  }

  /** Finishes the code flow (state, nonce and PKCE checked by openid-client); the page to go to next. */
  async finishLogin(currentUrl: URL, cookie: string | undefined): Promise<SignedIn & { next: string }> {
    const st = this.openLoginState(cookie);
    const cfg = await this.configuration();
    // the provider answers to the redirect URI it was given, whatever Host this request came in on
    const callback = new URL(st.redirectUri);
    callback.search = currentUrl.search;
    const tokens = await client.authorizationCodeGrant(cfg, callback, { pkceCodeVerifier: st.verifier, expectedState: st.state, expectedNonce: st.nonce, idTokenExpected: true });
    const signedIn = await this.signIn(cfg, tokens, 'oidc');
    return { ...signedIn, next: st.next };
  }

  private openLoginState(cookie: string | undefined): LoginState {
    if (!cookie) throw new SignInError('the sign-in cookie is missing: start again from the sign-in page (cookies must be allowed for this site)');
    let st: LoginState;
    try {
      st = JSON.parse(this.box.open(cookie)) as LoginState;
    } catch {
      throw new SignInError('the sign-in cookie is not valid: start again from the sign-in page');
    }
    if (typeof st.until !== 'number' || st.until < Date.now()) throw new SignInError('the sign-in took too long: start again from the sign-in page');
    return st;
  }

  /** The device authorization flow for `handoff login`: what the person opens, and a sealed handle to poll with. */
  async beginDevice(): Promise<{ userCode: string; verificationUri: string; verificationUriComplete: string | null; expiresIn: number; interval: number; handle: string }> {
    const cfg = await this.configuration();
    const d = await client.initiateDeviceAuthorization(cfg, { scope: this.config.scopes });
    const handle = this.box.seal(JSON.stringify({ d, until: Date.now() + d.expires_in * 1000 }));
    return { userCode: d.user_code, verificationUri: d.verification_uri, verificationUriComplete: d.verification_uri_complete ?? null, expiresIn: d.expires_in, interval: d.interval ?? 5, handle };
  }

  /**
   * One long poll of a device flow: waits (up to `waitMs`) for the person to finish at the provider.
   * null while they have not; the signed-in session when they have.
   */
  async pollDevice(handle: string, waitMs: number): Promise<SignedIn | null> {
    let d: client.DeviceAuthorizationResponse;
    try {
      const opened = JSON.parse(this.box.open(handle)) as { d: client.DeviceAuthorizationResponse; until: number };
      if (opened.until < Date.now()) throw new SignInError('the device sign-in expired: run `handoff login` again');
      d = opened.d;
    } catch (err) {
      if (err instanceof SignInError) throw err;
      throw new SignInError('not a device sign-in handle');
    }
    const cfg = await this.configuration();
    try {
      const tokens = await client.pollDeviceAuthorizationGrant(cfg, d, undefined, { signal: AbortSignal.timeout(waitMs) });
      return await this.signIn(cfg, tokens, 'cli');
    } catch (err) {
      const name = (err as { name?: string; cause?: { name?: string } }).name;
      const causeName = (err as { cause?: { name?: string } }).cause?.name;
      if (name === 'TimeoutError' || name === 'AbortError' || causeName === 'TimeoutError' || causeName === 'AbortError') return null;
      if (err instanceof client.ResponseBodyError && (err.error === 'access_denied' || err.error === 'expired_token')) throw new SignInError(`the provider refused the sign-in: ${err.error_description ?? err.error}`);
      throw err;
    }
  }

  /** Maps the person's groups to a role and opens their operator session. */
  private async signIn(cfg: client.Configuration, tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, source: SessionSource): Promise<SignedIn> {
    const idClaims = tokens.claims();
    if (!idClaims) throw new SignInError('the provider sent no ID token');
    let claims: Record<string, unknown> = { ...idClaims };
    // Many providers put groups (and names) only in userinfo, not in the ID token.
    if (!(this.config.groupsClaim in claims) && cfg.serverMetadata().userinfo_endpoint) {
      claims = { ...(await client.fetchUserInfo(cfg, tokens.access_token, idClaims.sub)), ...claims };
    }
    const subject = idClaims.sub;
    const groups = groupsOf(claims[this.config.groupsClaim]);
    const role = roleFor(groups, this.config.roleMap);
    const displayName = [claims['name'], claims['preferred_username'], claims['email']].find((v): v is string => typeof v === 'string' && v.length > 0) ?? null;
    if (!role) {
      this.log.info({ subject, issuer: this.config.issuer, groups }, 'sign-in refused: no mapped group');
      throw new SignInRefused(`${displayName ?? subject} is signed in at ${this.config.issuer}, but is in none of the groups handoff admits (${this.config.roleMap.map(([g]) => g).join(', ')}).`, subject, groups);
    }
    const session = await this.sessions.open({ subject, issuer: this.config.issuer, displayName, role, source, ttlSeconds: this.sessionSeconds });
    const token = this.tokens.mintOperator(subject, role, this.sessionSeconds, { sid: session.id, idp: this.config.issuer, name: displayName });
    this.log.info({ subject, issuer: this.config.issuer, role, session: session.id, source }, 'signed in');
    return { token, sessionId: session.id, subject, displayName, role, expiresAt: session.expiresAt };
  }

  /** The provider's end-session address (RP-initiated logout), when it has one. */
  async endSessionUrl(postLogoutRedirectUri: string | undefined): Promise<string | null> {
    try {
      const cfg = await this.configuration();
      if (!cfg.serverMetadata().end_session_endpoint) return null;
      return client.buildEndSessionUrl(cfg, { client_id: this.config.clientId, ...(postLogoutRedirectUri ? { post_logout_redirect_uri: postLogoutRedirectUri } : {}) }).href;
    } catch {
      return null;
    }
  }
}

/** A sign-in that cannot go on (bad or stale state, provider refusal): the person starts again. */
export class SignInError extends Error {
  override name = 'SignInError';
}
