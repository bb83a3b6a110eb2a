/** Turns a zod failure into the API's 422 with the problems listed per field. */
import type { z } from 'zod';
import { invalidPayload, notFound } from '../domain/errors.ts';
import { findUnstorableText } from '../domain/text.ts';
import { runIdParam } from './schemas.ts';

export function parse<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) {
    const bad = findUnstorableText(r.data);
    if (bad !== null) throw invalidPayload(`invalid ${what}: ${bad}: text must not contain NUL characters or lone UTF-16 surrogates`, [{ path: bad, message: 'unstorable text', code: 'invalid_string' }]);
    return r.data;
  }
  const details = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code }));
  const first = details[0];
  throw invalidPayload(`invalid ${what}${first ? `: ${first.path ? `${first.path}: ` : ''}${first.message}` : ''}`, details);
}

/** Run ids are UUIDs; anything else names no run (404, not a database error). */
export function runId(raw: string | string[] | undefined): string {
  const id = Array.isArray(raw) ? raw[0] : raw;
  if (!runIdParam.safeParse(id).success) throw notFound(`task run ${String(id)} not found`);
  return id as string;
}
