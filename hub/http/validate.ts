/** Path parameters, adapted to the commands (their schemas: domain/commands.ts). */
import { notFound } from '../domain/errors.ts';
import { runIdParam } from '../domain/commands.ts';

/** Run ids are UUIDs; anything else names no run (404, not a database error). */
export function runId(raw: string | string[] | undefined): string {
  const id = Array.isArray(raw) ? raw[0] : raw;
  if (!runIdParam.safeParse(id).success) throw notFound(`task run ${String(id)} not found`);
  return id as string;
}
