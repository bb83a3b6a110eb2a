/** REST calls of the CLI clients (`attach`, `run`): bearer token, JSON in and out, the hub's errors as messages. */
import type { ApiErrorBody, GrantWriteResult, LiveSessionDto, TaskRunDto } from '../common/api.ts';
import { storedCredential } from './credentials.ts';
import { UsageError } from './usageError.ts';

export const DEFAULT_HUB_URL = 'http://127.0.0.1:8080';

export interface ClientEnv {
  hubUrl: string;
  token: string;
}

/** HANDOFF_HUB_URL (default http://127.0.0.1:8080) of the CLI clients (architecture §8). */
export function hubUrlOf(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.HANDOFF_HUB_URL?.trim() || DEFAULT_HUB_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`HANDOFF_HUB_URL: expected the hub URL, e.g. ${DEFAULT_HUB_URL} (got "${raw}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`HANDOFF_HUB_URL: expected an http(s) URL (got "${raw}")`);
  return raw.replace(/\/+$/, '');
}

/**
 * The hub and the token of the CLI clients: HANDOFF_TOKEN when set, else what `handoff login`
 * stored for this hub (cli/credentials.ts).
 */
export function clientEnv(env: NodeJS.ProcessEnv = process.env): ClientEnv {
  const hubUrl = hubUrlOf(env);
  const given = env.HANDOFF_TOKEN?.trim();
  if (given) return { hubUrl, token: given };
  const stored = storedCredential(hubUrl, env);
  if (!stored) {
    throw new UsageError(`not signed in to ${hubUrl}: run \`handoff login\` (or export HANDOFF_TOKEN, e.g. a development token from \`handoff token --role operator --sub NAME\`)`);
  }
  if (Date.parse(stored.expiresAt) <= Date.now()) throw new UsageError(`your sign-in to ${hubUrl} expired at ${stored.expiresAt}: run \`handoff login\` again`);
  return { hubUrl, token: stored.token };
}

/** A refused call: `message` is the hub's own message, prefixed with the status. */
export class HubError extends Error {
  override name = 'HubError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class HubClient {
  constructor(private readonly env: ClientEnv) {}

  get hubUrl(): string {
    return this.env.hubUrl;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return JSON.parse((await this.requestText(method, path, body)) || 'null') as T;
  }

  /** The answer's text (for non-JSON answers such as the recording); refusals as HubError. */
  async requestText(method: string, path: string, body?: unknown): Promise<string> {
    let res: Response;
    try {
      res = await fetch(`${this.env.hubUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.env.token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new HubError(0, 'unreachable', `cannot reach the hub at ${this.env.hubUrl} (${cause})`);
    }
    const text = await res.text();
    if (!res.ok) {
      let e: ApiErrorBody['error'] | undefined;
      try {
        e = (JSON.parse(text) as ApiErrorBody).error;
      } catch {
        e = undefined;
      }
      throw new HubError(res.status, e?.code ?? 'http_error', `${res.status} ${e?.message ?? (text.slice(0, 200) || res.statusText)}`);
    }
    return text;
  }

  async createRun(steps: string[], opts: { cwd?: string } = {}): Promise<TaskRunDto> {
    return (await this.request<{ taskRun: TaskRunDto }>('POST', '/api/task-runs', { steps, liveSession: true, ...opts })).taskRun;
  }

  async getRun(id: string): Promise<TaskRunDto> {
    return (await this.request<{ taskRun: TaskRunDto }>('GET', `/api/task-runs/${encodeURIComponent(id)}`)).taskRun;
  }

  async getSession(id: string): Promise<LiveSessionDto> {
    return (await this.request<{ session: LiveSessionDto }>('GET', `/api/task-runs/${encodeURIComponent(id)}/live-session`)).session;
  }

  /** The run's output as recorded (asciicast v2 output events, concatenated). */
  async recordedOutput(id: string): Promise<string> {
    const cast = await this.requestText('GET', `/api/task-runs/${encodeURIComponent(id)}/recording`);
    let out = '';
    for (const line of cast.split('\n').slice(1)) {
      if (!line.trim()) continue;
      try {
        const ev = JSON.parse(line) as unknown[];
        if (ev[1] === 'o' && typeof ev[2] === 'string') out += ev[2];
      } catch {
        // not an event line
      }
    }
    return out;
  }

  async grantWrite(id: string, ttlMinutes?: number): Promise<GrantWriteResult> {
    return this.request<GrantWriteResult>('POST', `/api/task-runs/${encodeURIComponent(id)}/live-session/grant-write`, ttlMinutes ? { ttlMinutes } : {});
  }
}
