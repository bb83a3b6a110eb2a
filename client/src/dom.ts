/** A tiny element builder and a few DOM helpers (no framework). */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** h('button.primary', { onclick, disabled: true }, 'Save') — class names after dots. */
export function h<K extends keyof HTMLElementTagNameMap>(spec: K | `${K}.${string}`, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const [tag, ...classes] = spec.split('.') as [K, ...string[]];
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = [el.className, String(v)].filter(Boolean).join(' ');
    else if (k === 'value' && 'value' in el) (el as unknown as { value: string }).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Copies text to the clipboard (falls back to a hidden textarea where the API is refused). */
export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    const ta = h('textarea', { readonly: true, style: 'position:fixed;left:-9999px;top:0' });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
}

/** A button that runs `action`, disabled while it is in flight; failures go to `onError`. */
export function actionButton(label: string, action: () => Promise<unknown>, onError: (err: unknown) => void, cls = ''): HTMLButtonElement {
  const b = h('button', { type: 'button', class: cls || null, 'data-action': label.toLowerCase().replace(/\s+/g, '-') }, label);
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
    try {
      await action();
    } catch (err) {
      onError(err);
    } finally {
      b.disabled = false;
      b.removeAttribute('aria-busy');
    }
  });
  return b;
}

/** Like actionButton, but the first click only arms it ("Really …?"); a second click within 4 s runs it. */
export function confirmButton(label: string, confirmLabel: string, action: () => Promise<unknown>, onError: (err: unknown) => void, cls = ''): HTMLButtonElement {
  let armed: ReturnType<typeof setTimeout> | null = null;
  const b = actionButton(
    label,
    async () => {
      if (!armed) {
        b.textContent = confirmLabel;
        b.classList.add('armed');
        armed = setTimeout(disarm, 4000);
        return;
      }
      disarm();
      await action();
    },
    onError,
    cls,
  );
  const disarm = () => {
    if (armed) clearTimeout(armed);
    armed = null;
    b.textContent = label;
    b.classList.remove('armed');
  };
  return b;
}
