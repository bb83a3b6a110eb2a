/**
 * Text PostgreSQL cannot store: a NUL character (refused in text and jsonb) or a lone UTF-16
 * surrogate (refused in jsonb as an escape). Bad input of this kind is a 422, never a 500.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

/** The path of the first string (key or value) in `value` that cannot be stored, or null. */
export function findUnstorableText(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path || '(value)';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findUnstorableText(value[i], path ? `${path}.${i}` : String(i));
      if (p !== null) return p;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = path ? `${path}.${k}` : k;
      if (!isStorableText(k)) return p;
      const q = findUnstorableText(v, p);
      if (q !== null) return q;
    }
  }
  return null;
}

/** Replaces what cannot be stored with U+FFFD (for free text the hub keeps anyway, e.g. a reason). */
export function storableText(s: string): string {
  return s.replace(UNSTORABLE_ALL, '\ufffd');
}
