/**
 * Tokens the identity provider issued itself (HANDOFF_OIDC_ACCEPT_JWT), for automation that signs
 * in at the provider and calls the hub directly: JWTs signed RS256 or ES256 with a key from the
 * provider's JWKS (`jose`, keys fetched from the discovered jwks_uri and cached), whose issuer is
 * the configured one and whose audience is handoff's (HANDOFF_OIDC_AUDIENCE, default the client id).
 * The groups claim maps to a role as at sign-in. Each token gets an operator session of its own
 * (its id derived from issuer and `jti`, or subject and `iat`), registered on first use, so an admin
 * can list and end it like any other.
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { OidcConfig } from '../config.ts';
import type { OidcSignIn } from './oidcSignIn.ts';
import { groupsOf, roleFor } from './oidcSignIn.ts';
import type { OperatorClaims } from './tokens.ts';
import { TokenError } from './tokens.ts';

/** A stable UUID-shaped id for one external token. */
function sessionIdOf(p: JWTPayload): string {
  const h = createHash('sha256').update(`${p.iss}\n${p.jti ?? `${p.sub}\n${p.iat}`}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class ExternalJwtVerifier {
  private jwks: ReturnType<typeof createRemoteJWKSet> | null = null;

  constructor(
    private readonly config: OidcConfig,
    private readonly oidc: OidcSignIn,
    private readonly maxLifetimeSeconds: number,
  ) {}

  private async keys(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (!this.jwks) {
      const uri = (await this.oidc.configuration()).serverMetadata().jwks_uri;
      if (!uri) throw new TokenError('the identity provider publishes no JWKS');
      this.jwks = createRemoteJWKSet(new URL(uri));
    }
    return this.jwks;
  }

  async verify(token: string): Promise<OperatorClaims> {
    // Refused before any key is looked at: a token of another issuer never costs a JWKS fetch.
    const claimed = decodeJwt(token).iss;
    if (claimed !== this.config.issuer) throw new TokenError(`token refused: its "iss" claim is not accepted here (${String(claimed).slice(0, 200)})`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keys(), {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new TokenError('token expired');
      if (err instanceof errors.JWTClaimValidationFailed) throw new TokenError(`token refused: its "${err.claim}" claim is not accepted here`);
      if (err instanceof errors.JOSEError) throw new TokenError('invalid token');
      throw err;
    }
    const exp = payload.exp as number;
    if (exp - (payload.iat as number) > this.maxLifetimeSeconds) throw new TokenError('token lifetime exceeds the maximum');
    const role = roleFor(groupsOf(payload[this.config.groupsClaim]), this.config.roleMap);
    if (!role) throw new TokenError(`token refused: ${payload.sub} is in none of the groups handoff admits`);
    const name = [payload['name'], payload['preferred_username'], payload['email']].find((v): v is string => typeof v === 'string' && v.length > 0) ?? null;
    return { kind: 'operator', sub: payload.sub as string, role, sid: sessionIdOf(payload), idp: this.config.issuer, name, exp, external: true };
  }
}
