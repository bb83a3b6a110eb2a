/**
 * The hub's REST API (architecture §4) with the tab's token. A failure is an ApiError carrying the
 * hub's own message; a 401 also signs the tab out and goes back to sign-in saying why.
 */
import type { ApiErrorBody, ControlEventDto, GrantWriteResult, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { TaskRunStatus } from '../../common/statuses.ts';
import { retryDelay } from '../../common/viewerLink.ts';
import { backToSignIn } from './nav.ts';
import { currentIdentity, refusedReason, signOut } from './session.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function request<T>(method: string, path: string, body?: unknown, opts: { raw?: boolean; token?: string } = {}): Promise<T> {
  const token = opts.token ?? currentIdentity()?.token;
  if (!token) {
    backToSignIn('Please sign in.');
    throw new ApiError(401, 'unauthorized', 'not signed in');
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'the hub cannot be reached (network error)');
  }
  if (!res.ok) {
    let code = 'http_error';
    let message = `${res.status} ${res.statusText}`;
    try {
      const b = (await res.json()) as ApiErrorBody;
      if (b?.error?.message) ({ code, message } = b.error);
    } catch {
      // not JSON: keep the status line
    }
    if (res.status === 401 && !opts.token) {
      const reason = refusedReason(message);
      signOut();
      backToSignIn(reason);
    }
    throw new ApiError(res.status, code, message);
  }
  if (opts.raw) return (await res.text()) as T;
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

const run = (id: string) => `/api/task-runs/${encodeURIComponent(id)}`;

export const api = {
  /** Checks a token before it is stored (no redirect on 401). */
  /** Ends this tab's operator session at the hub (its token is refused everywhere from now on). */
  logout: () => request<{ ended: true; endSessionUrl: string | null }>('POST', '/auth/logout', undefined, { token: currentIdentity()?.token ?? '' }),
  verifyToken: (token: string) => request<{ taskRuns: TaskRunDto[] }>('GET', '/api/task-runs?limit=1', undefined, { token }),
  listRuns: (status?: TaskRunStatus, limit = 100) =>
    request<{ taskRuns: TaskRunDto[] }>('GET', `/api/task-runs?limit=${limit}${status ? `&status=${status}` : ''}`).then((r) => r.taskRuns),
  createRun: (steps: string[], liveSession: boolean) => request<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', { steps, liveSession }).then((r) => r.taskRun),
  getRun: (id: string) => request<{ taskRun: TaskRunDto }>('GET', run(id)).then((r) => r.taskRun),
  cancel: (id: string) => request<{ taskRun: TaskRunDto }>('POST', `${run(id)}/cancel`, {}).then((r) => r.taskRun),
  events: (id: string, after = 0) => request<{ events: ControlEventDto[] }>('GET', `${run(id)}/events${after ? `?after=${after}` : ''}`).then((r) => r.events),
  recording: (id: string) => request<string>('GET', `${run(id)}/recording`, undefined, { raw: true }),
  control: (id: string, action: 'pause' | 'resume' | 'takeover', extra: { summary?: string; mode?: 'soft' | 'hard' } = {}) =>
    request<{ taskRun: TaskRunDto }>('POST', `${run(id)}/control`, { action, ...extra }).then((r) => r.taskRun),
  message: (id: string, message: string) => request<{ event: ControlEventDto }>('POST', `${run(id)}/operator-messages`, { message }).then((r) => r.event),
  enableSession: (id: string) => request<{ session: LiveSessionDto }>('POST', `${run(id)}/live-session`).then((r) => r.session),
  grantWrite: (id: string, ttlMinutes: number) => request<GrantWriteResult>('POST', `${run(id)}/live-session/grant-write`, { ttlMinutes }),
  revokeWrite: (id: string) => request<{ session: LiveSessionDto }>('POST', `${run(id)}/live-session/revoke-write`, {}).then((r) => r.session),
  revokeSession: (id: string, reason?: string) =>
    request<{ session: LiveSessionDto }>('POST', `${run(id)}/live-session/revoke`, reason ? { reason } : {}).then((r) => r.session),
};

/** Bound of retryOnNetwork: about five minutes at the viewer links' pace (at most 5 s apart). */
const NETWORK_RETRIES = 70;

/**
 * Calls `fn` until it gets past a network error (the hub away, as after a restart), at the
 * viewer links' retry pace; any other failure, or `alive()` turning false, ends it.
 */
export async function retryOnNetwork<T>(fn: () => Promise<T>, alive: () => boolean, onRetry: (err: ApiError, attempt: number) => void = () => undefined): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 0) || attempt >= NETWORK_RETRIES || !alive()) throw err;
      onRetry(err, attempt);
      await new Promise((r) => setTimeout(r, retryDelay(attempt)));
      if (!alive()) throw err;
    }
  }
}
