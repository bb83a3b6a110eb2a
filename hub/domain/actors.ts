/** Who did something: recorded on every control event (architecture §3). */
import type { OperatorRole } from '../../common/statuses.ts';

export type Actor =
  | { kind: 'operator'; sub: string; role: OperatorRole }
  | { kind: 'worker'; workerId: string }
  | { kind: 'system'; reason?: string };

export const systemActor = (reason?: string): Actor => (reason ? { kind: 'system', reason } : { kind: 'system' });

/** actorUserId column: the operator's subject; null for system and worker actions. */
export function actorUserId(actor: Actor): string | null {
  return actor.kind === 'operator' ? actor.sub : null;
}

export function actorMetadata(actor: Actor): Record<string, unknown> {
  if (actor.kind === 'worker') return { workerId: actor.workerId };
  if (actor.kind === 'operator') return { role: actor.role };
  return actor.reason ? { system: actor.reason } : {};
}
