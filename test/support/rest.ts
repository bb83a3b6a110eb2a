/**
 * The tests' one REST client: a call against a hub URL (in-process or spawned, they share the
 * test secret), and the run and session reads every suite needs. Waits retry while the hub is
 * unreachable (a hub restarting) but fail at once on an HTTP error, and say what they waited for.
 */
import type { ControlEventDto, LiveSessionDto, TaskRunDto } from '../../common/api.ts';
import type { OperatorRole } from '../../common/statuses.ts';
import { TokenService } from '../../hub/auth/tokens.ts';
import { TEST_JWT_SECRET } from './testSecrets.ts';
import { waitUntil } from './wait.ts';

export interface ApiAnswer<T> {
  status: number;
  body: T;
  text: string;
  contentType: string;
}

const tokens = new TokenService(TEST_JWT_SECRET);
export const operatorToken = (role: OperatorRole = 'operator', sub = `${role}-user`) => tokens.mintOperator(sub, role);
export const workerToken = (workerId: string) => tokens.mintWorker(workerId);

/** A REST call; the body is parsed when it is JSON (else `text` has it). */
export async function rest<T = unknown>(url: string, method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? (body as string | Uint8Array<ArrayBuffer>) : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed as T, text, contentType: res.headers.get('content-type') ?? '' };
}

/** Thrown for an answer that is not the expected one (a wait does not retry it). */
class UnexpectedAnswer extends Error {}

async function expectOk<T>(what: string, answer: Promise<ApiAnswer<T>>, status = 200): Promise<T> {
  const res = await answer;
  if (res.status !== status) throw new UnexpectedAnswer(`${what}: ${res.status} ${res.text}`);
  return res.body;
}

export async function createRunAt(url: string, steps: string[], extra: Record<string, unknown> = {}, token = operatorToken()): Promise<TaskRunDto> {
  return (await expectOk<{ taskRun: TaskRunDto }>('creating a run', rest(url, 'POST', '/api/task-runs', token, { steps, ...extra }), 201)).taskRun;
}

export async function getRunAt(url: string, runId: string, token = operatorToken('viewer')): Promise<TaskRunDto> {
  return (await expectOk<{ taskRun: TaskRunDto }>(`reading run ${runId}`, rest(url, 'GET', `/api/task-runs/${runId}`, token))).taskRun;
}

export async function eventsAt(url: string, runId: string, token = operatorToken('viewer')): Promise<ControlEventDto[]> {
  return (await expectOk<{ events: ControlEventDto[] }>(`reading events of ${runId}`, rest(url, 'GET', `/api/task-runs/${runId}/events`, token))).events;
}

/** Polls `read` until it gives a value; an unreachable hub is retried, any other failure ends the wait. */
function poll<T>(what: string, read: () => Promise<T | undefined>, timeoutMs: number, everyMs: number): Promise<T> {
  return waitUntil(
    what,
    async () => {
      try {
        return await read();
      } catch (err) {
        if (err instanceof UnexpectedAnswer) throw err;
        return undefined; // not reachable (restarting): try again
      }
    },
    timeoutMs,
    everyMs,
  );
}

export function waitRunAt(url: string, runId: string, statuses: string[], timeoutMs = 20_000, token = operatorToken('viewer')): Promise<TaskRunDto> {
  return poll(
    `run ${runId} to be ${statuses.join('|')}`,
    async () => {
      const run = await getRunAt(url, runId, token);
      return statuses.includes(run.status) ? run : undefined;
    },
    timeoutMs,
    50,
  );
}

export function waitSessionAt(url: string, runId: string, statuses: string[], timeoutMs = 20_000): Promise<LiveSessionDto> {
  return poll(
    `run ${runId}'s session to be ${statuses.join('|')}`,
    async () => {
      const res = await rest<{ session: LiveSessionDto }>(url, 'GET', `/api/task-runs/${runId}/live-session`, operatorToken('viewer'));
      // 404 until the run has a session row: keep waiting
      return res.status === 200 && statuses.includes(res.body.session.status) ? res.body.session : undefined;
    },
    timeoutMs,
    25,
  );
}
