/**
 * Who an operator token speaks for: its signature, kind and lifetime (tokens.ts), then its operator
 * session (operatorSessions.ts). The one door for operator credentials, REST and sockets alike.
 */
import { decodeJwt } from 'jose';
import type { ExternalJwtVerifier } from './externalJwt.ts';
import type { OperatorSessions } from './operatorSessions.ts';
import type { OperatorClaims, TokenService } from './tokens.ts';
import { HUB_ISSUER, TokenError } from './tokens.ts';

export class OperatorAuth {
  constructor(
    readonly tokens: TokenService,
    readonly sessions: OperatorSessions,
    /** The provider's own JWTs, when HANDOFF_OIDC_ACCEPT_JWT is on. */
    private readonly external: ExternalJwtVerifier | null = null,
  ) {}

  /** The hub's own tokens by its secret; the provider's by its JWKS (only when accepted); nobody else's. */
  private async verify(token: string): Promise<OperatorClaims> {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new TokenError('invalid token');
    }
    if (iss === HUB_ISSUER || !this.external) return this.tokens.verifyOperator(token);
    return this.external.verify(token);
  }

  /** REST: a TokenError for a refused token; a database outage propagates (503). */
  async authenticate(token: string): Promise<OperatorClaims> {
    const claims = await this.verify(token);
    await this.sessions.check(claims, claims.exp);
    return claims;
  }

  /** The viewer handshake: as `authenticate`, but a database outage lets a session not known to have ended in. */
  async authenticateHandshake(token: string): Promise<OperatorClaims> {
    const claims = await this.verify(token);
    await this.sessions.checkOrTrust(claims, claims.exp);
    return claims;
  }
}
