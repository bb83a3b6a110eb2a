/**
 * Browser notifications when a run starts needing an operator (waiting for input, paused, taken
 * over: operatorNeeds.ts), on request only: the top bar's button asks the browser's permission
 * and the choice is kept for this browser (localStorage). Once per change: a run is remembered
 * with what it needed when last seen, so the same state seen again (a reload, a reconnect, another
 * status update) says nothing; a run first seen already needing someone (the page just opened)
 * is not news either. Nothing is shown while this tab is in front: the page itself says it.
 */
import type { TaskRunDto } from '../../common/api.ts';
import { h } from './dom.ts';
import { navigate } from './nav.ts';
import type { OperatorNeed } from './operatorNeeds.ts';
import { operatorNeeds } from './operatorNeeds.ts';
import { shortId } from './format.ts';

const PREF_KEY = 'handoff.notifications';

const supported = () => typeof window.Notification === 'function';
const wanted = () => localStorage.getItem(PREF_KEY) === 'on';
const inFront = () => document.visibilityState === 'visible' && document.hasFocus();

/** What each run needed when last seen (for the whole tab: it outlives the page that saw it). */
const lastSeen = new Map<string, OperatorNeed[]>();

/** Every run the tab learns about goes through here (the list's and the run page's updates). */
export function observeRun(run: TaskRunDto): void {
  const needs = operatorNeeds(run);
  const before = lastSeen.get(run.id);
  lastSeen.set(run.id, needs);
  if (!before) return;
  const fresh = needs.filter((n) => !before.includes(n));
  if (fresh.length && wanted() && supported() && Notification.permission === 'granted' && !inFront()) notify(run, needs);
}

function notify(run: TaskRunDto, needs: OperatorNeed[]): void {
  const step = run.steps.length === 1 ? run.steps[0] : undefined;
  const n = new Notification(`Run ${shortId(run.id)} needs an operator`, {
    body: `${needs.join(', ')}${step ? `: ${step.slice(0, 120)}` : ''}`,
    // one notification per run on screen: a newer one replaces it
    tag: `handoff-run-${run.id}`,
  });
  n.addEventListener('click', () => {
    window.focus();
    navigate(`/runs/${run.id}`);
    n.close();
  });
}

/**
 * The top bar's switch: "Notify me" asks the browser (a click is needed for its prompt), then
 * toggles; a refusal is shown, with where to change it. Hidden where the browser has none.
 */
export function notificationButton(): HTMLElement {
  const b = h('button.link.notify', { type: 'button', 'data-action': 'notifications' });
  const render = () => {
    b.hidden = !supported();
    if (b.hidden) return;
    const perm = Notification.permission;
    const on = perm === 'granted' && wanted();
    b.setAttribute('aria-pressed', String(on));
    b.disabled = perm === 'denied';
    b.textContent = perm === 'denied' ? 'Notifications blocked' : on ? 'Notifications on' : 'Notify me';
    b.title =
      perm === 'denied'
        ? 'the browser refuses notifications for this site: allow them in its site settings'
        : on
          ? 'a notification when a run starts needing an operator; click to stop'
          : 'get a notification when a run starts needing an operator (waiting for input, paused, taken over)';
  };
  b.addEventListener('click', async () => {
    if (Notification.permission === 'granted' && wanted()) localStorage.setItem(PREF_KEY, 'off');
    else if ((await Notification.requestPermission()) === 'granted') localStorage.setItem(PREF_KEY, 'on');
    render();
  });
  render();
  return b;
}
