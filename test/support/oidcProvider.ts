/**
 * A real OpenID provider for the tests: `oidc-provider` (a certified OP implementation) on
 * 127.0.0.1, with its development login screens (any login, any password; the login names the
 * account), the device flow on, and a few people with groups. Its own signing keys are generated
 * per instance (jose), RS256 and ES256, so two providers never share keys.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { ClientMetadata } from 'oidc-provider';

export interface Person {
  name: string;
  email?: string;
  groups: string[];
}

/** The people the test provider knows (the development login form takes any of these names as its login). */
export const PEOPLE: Record<string, Person> = {
  alice: { name: 'Alice Admin', email: 'alice@example.test', groups: ['staff', 'ops-admins'] },
  oscar: { name: 'Oscar Operator', email: 'oscar@example.test', groups: ['staff', 'ops'] },
  vic: { name: 'Vic Viewer', groups: ['staff'] },
  rick: { name: 'Rick Refused', groups: ['contractors'] },
};

export const CLIENT_ID = 'handoff-hub';
export const CLIENT_SECRET = 'test-client-secret-0123456789';
/** Another client of the same provider: its tokens are not for handoff (wrong audience). */
export const OTHER_CLIENT_ID = 'some-other-app';
export const OTHER_CLIENT_SECRET = 'other-client-secret-0123456789';

export interface TestProvider {
  issuer: string;
  provider: Provider;
  close(): Promise<void>;
}

export async function startTestProvider(opts: { redirectUris: string[]; port?: number }): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const keys = [
    { ...(await exportJWK(rsa.privateKey)), alg: 'RS256', use: 'sig', kid: 'rs-1' },
    { ...(await exportJWK(ec.privateKey)), alg: 'ES256', use: 'sig', kid: 'es-1' },
  ];
  const grants = ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'];
  const clients: ClientMetadata[] = [
    { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: opts.redirectUris, grant_types: grants, response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', post_logout_redirect_uris: opts.redirectUris.map((u) => new URL('/signin', u).href) },
    { client_id: OTHER_CLIENT_ID, client_secret: OTHER_CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: grants, response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
  ];
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys },
    cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    claims: { openid: ['sub'], profile: ['name', 'groups'], email: ['email'] },
    scopes: ['openid', 'profile', 'email'],
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    // groups in the ID token too (as Keycloak, Okta and Entra ID can be set to do): automation
    // presents the ID token itself (HANDOFF_OIDC_ACCEPT_JWT)
    conformIdTokenClaims: false,
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, DeviceCode: 600 },
    // the ID token's signature algorithm follows the client's metadata (RS256 unless it asks otherwise)
    async findAccount(_ctx, id) {
      const person = PEOPLE[id];
      if (!person) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: person.name, groups: person.groups, ...(person.email ? { email: person.email } : {}) };
        },
      };
    },
  });
  // oidc-provider prints warnings about its development-only features; expected here
  server.on('request', provider.callback());
  return {
    issuer,
    provider,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
