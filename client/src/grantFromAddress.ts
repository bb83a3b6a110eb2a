/**
 * An RW grant handed over in the page's address (grant-write's `webRw`: `/runs/ID#grant=TOKEN`).
 * It rides in the fragment, which the browser never sends (no server or proxy log, no Referer);
 * it is taken out of the address and the history entry at once, before anything else runs, so
 * that it is not bookmarked, shared or left in the tab's history. The hub accepts it only from
 * its grantee (architecture §7a).
 */
export function takeGrantFromAddress(): string | null {
  const params = new URLSearchParams(location.hash.slice(1));
  const grant = params.get('grant');
  if (grant === null) return null;
  params.delete('grant');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return grant.trim() || null;
}
