/** Who did something: recorded on every control event (architecture §3). */
import type { OperatorRole } from '../../common/statuses.ts';

export type Actor =
  | OperatorActor
  | { kind: 'worker'; workerId: string }
  | { kind: 'system'; reason?: string };

/** An operator, as the audit keeps them: the provider's subject, issuer and display name. */
export interface OperatorActor {
  kind: 'operator';
  sub: string;
  role: OperatorRole;
  /** The identity provider's issuer (DEV_ISSUER for development tokens). */
  issuer?: string;
  name?: string | null;
  /** The operator session the action was taken in. */
  sid?: string;
}

/** The actor of a verified operator token. */
export function operatorActor(c: { sub: string; role: OperatorRole; idp: string; name: string | null; sid: string }): OperatorActor {
  return { kind: 'operator', sub: c.sub, role: c.role, issuer: c.idp, name: c.name, sid: c.sid };
}

export const systemActor = (reason?: string): Actor => (reason ? { kind: 'system', reason } : { kind: 'system' });

/** actorUserId column: the operator's subject; null for system and worker actions. */
export function actorUserId(actor: Actor): string | null {
  return actor.kind === 'operator' ? actor.sub : null;
}

export function actorMetadata(actor: Actor): Record<string, unknown> {
  if (actor.kind === 'worker') return { workerId: actor.workerId };
  if (actor.kind === 'operator') {
    return { role: actor.role, ...(actor.issuer ? { issuer: actor.issuer } : {}), ...(actor.name ? { name: actor.name } : {}), ...(actor.sid ? { sid: actor.sid } : {}) };
  }
  return actor.reason ? { system: actor.reason } : {};
}
