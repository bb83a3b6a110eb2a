/**
 * The dashboard's viewer links (common/viewerLink.ts, architecture §5): on the page's own origin,
 * authenticated with the tab's token. A handshake the hub refuses (bad or expired token) signs
 * the tab out and says why.
 */
import type { Ack } from '../../common/protocol.ts';
import type { ViewerLinkOptions } from '../../common/viewerLink.ts';
import { ViewerLink } from '../../common/viewerLink.ts';
import { backToSignIn } from './nav.ts';
import { refusedReason, signOut } from './session.ts';

export function openLink(token: string, opts: Omit<ViewerLinkOptions, 'url' | 'token'> = {}): ViewerLink {
  const link = new ViewerLink({ url: '', token, ...opts });
  link.on('state', (st) => {
    if (st.kind !== 'refused') return;
    link.close();
    const why = st.reason.replace(/^unauthorized:\s*/, '');
    // the hub drops a connection when its token expires: say it as the page's own expiry does
    const reason = /expired/.test(why) ? refusedReason(why) : `The hub refused your token for live updates (${why}). Please sign in again.`;
    signOut();
    backToSignIn(reason);
  });
  return link;
}

/** Unwraps a protocol acknowledgement: the data, or an Error with the hub's message. */
export function unwrap<T>(ack: Ack<T>): T {
  if (ack.ok) return ack.data;
  throw new Error(ack.error.message);
}
