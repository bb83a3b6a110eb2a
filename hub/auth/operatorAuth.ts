/**
 * Who an operator token speaks for: its signature, kind and lifetime (tokens.ts), then its operator
 * session (operatorSessions.ts). The one door for operator credentials, REST and sockets alike.
 */
import type { OperatorClaims, TokenService } from './tokens.ts';
import type { OperatorSessions } from './operatorSessions.ts';

export class OperatorAuth {
  constructor(
    readonly tokens: TokenService,
    readonly sessions: OperatorSessions,
  ) {}

  /** REST: a TokenError for a refused token; a database outage propagates (503). */
  async authenticate(token: string): Promise<OperatorClaims> {
    const claims = this.tokens.verifyOperator(token);
    await this.sessions.check(claims, claims.exp);
    return claims;
  }

  /** The viewer handshake: as `authenticate`, but a database outage lets a session not known to have ended in. */
  async authenticateHandshake(token: string): Promise<OperatorClaims> {
    const claims = this.tokens.verifyOperator(token);
    await this.sessions.checkOrTrust(claims, claims.exp);
    return claims;
  }
}
