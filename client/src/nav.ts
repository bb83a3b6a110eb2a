/** Client-side navigation (history API) and a one-shot notice for the next page (e.g. why we are back at sign-in). */

let onNavigate: (() => void) | null = null;
let pendingNotice: string | null = null;

export function setNavigationHandler(fn: () => void): void {
  onNavigate = fn;
}

export function navigate(path: string, opts: { replace?: boolean; notice?: string } = {}): void {
  if (opts.notice) pendingNotice = opts.notice;
  if (opts.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  onNavigate?.();
}

/** The notice left by the last navigate(), once. */
export function takeNotice(): string | null {
  const n = pendingNotice;
  pendingNotice = null;
  return n;
}

/** Sends the user back to sign-in, saying why, and remembers where they were. */
export function backToSignIn(reason: string): void {
  const here = location.pathname + location.search;
  const next = here.startsWith('/signin') ? '' : `?next=${encodeURIComponent(here)}`;
  navigate(`/signin${next}`, { replace: true, notice: reason });
}

/** Follows same-origin <a data-nav> clicks without a page load. */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (ev) => {
    const a = (ev.target as Element | null)?.closest?.('a[data-nav]');
    if (!(a instanceof HTMLAnchorElement)) return;
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
}
