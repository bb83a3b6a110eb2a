/**
 * What the operator is typing (a message, a resume summary) survives a reload, a sign-out by an
 * expired token and the sign-in that follows: kept in this tab's sessionStorage while typed,
 * dropped once sent.
 */
const PREFIX = 'handoff.draft.';

export function keepDraft(field: HTMLInputElement | HTMLTextAreaElement, key: string): void {
  const saved = sessionStorage.getItem(PREFIX + key);
  if (saved && !field.value) field.value = saved;
  field.addEventListener('input', () => {
    if (field.value) sessionStorage.setItem(PREFIX + key, field.value);
    else sessionStorage.removeItem(PREFIX + key);
  });
}

export function dropDraft(key: string): void {
  sessionStorage.removeItem(PREFIX + key);
}
