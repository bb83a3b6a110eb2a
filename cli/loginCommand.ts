/**
 * `handoff login` / `handoff logout`: sign this user in to a hub through its identity provider
 * (the device authorization flow, run by the hub with its own client registration), and keep the
 * hub token in the user's config folder (cli/credentials.ts, 0600); `attach`, `run` and the others
 * use it when HANDOFF_TOKEN is not set. `logout` ends the session at the hub and forgets it.
 */
import { parseArgs } from 'node:util';
import { forgetCredential, storeCredential, storedCredential } from './credentials.ts';
import { hubUrlOf } from './hubClient.ts';
import { UsageError } from './usageError.ts';

interface DeviceStart {
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | null;
  expiresIn: number;
  handle: string;
}

interface SignedIn {
  status: 'signed_in';
  token: string;
  sessionId: string;
  subject: string;
  displayName: string | null;
  role: string;
  expiresAt: string;
}

async function post<T>(url: string, body: unknown, token?: string): Promise<{ status: number; body: T & { error?: { message: string } } }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new Error(`cannot reach the hub at ${new URL(url).origin} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`, { cause: err });
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { error: { message: text.slice(0, 200) } };
  }
  return { status: res.status, body: parsed as T & { error?: { message: string } } };
}

export async function run(argv: string[]): Promise<number> {
  parseArgs({ args: argv, options: {}, strict: true });
  const hubUrl = hubUrlOf();
  const start = await post<DeviceStart>(`${hubUrl}/auth/device`, {});
  if (start.status === 404) throw new UsageError(`${hubUrl} has no identity provider configured (HANDOFF_OIDC_ISSUER): use a development token in HANDOFF_TOKEN instead`);
  if (start.status !== 200) throw new Error(`the hub could not start the sign-in: ${start.status} ${start.body.error?.message ?? ''}`);
  const d = start.body;
  process.stderr.write(
    `To sign in to ${hubUrl}, open\n\n    ${d.verificationUriComplete ?? d.verificationUri}\n\n` +
      (d.verificationUriComplete ? `and check that it shows the code ${d.userCode}.\n` : `and enter the code ${d.userCode}.\n`) +
      `Waiting (up to ${Math.round(d.expiresIn / 60)} minutes)…\n`,
  );
  const deadline = Date.now() + d.expiresIn * 1000;
  while (Date.now() < deadline) {
    // the hub holds each poll until the person is done or ~20 s pass
    const r = await post<SignedIn | { status: 'pending' }>(`${hubUrl}/auth/device/token`, { handle: d.handle });
    if (r.status === 202) continue;
    if (r.status !== 200 || r.body.status !== 'signed_in') {
      process.stderr.write(`handoff login: ${r.status === 403 ? 'refused' : 'failed'}: ${r.body.error?.message ?? `status ${r.status}`}\n`);
      return 1;
    }
    const s = r.body;
    const file = storeCredential(hubUrl, { token: s.token, subject: s.subject, displayName: s.displayName, role: s.role, sessionId: s.sessionId, expiresAt: s.expiresAt });
    process.stderr.write(`Signed in to ${hubUrl} as ${s.displayName ?? s.subject} (${s.role}) until ${new Date(s.expiresAt).toLocaleString()}; saved in ${file}\n`);
    return 0;
  }
  process.stderr.write('handoff login: the code expired before the sign-in was finished; run `handoff login` again\n');
  return 1;
}

/** `handoff logout`: ends the stored session at the hub, then forgets it. */
export async function logout(argv: string[]): Promise<number> {
  parseArgs({ args: argv, options: {}, strict: true });
  const hubUrl = hubUrlOf();
  const stored = storedCredential(hubUrl);
  if (!stored) {
    process.stderr.write(`handoff logout: not signed in to ${hubUrl}\n`);
    return 0;
  }
  const r = await post(`${hubUrl}/auth/logout`, {}, stored.token).catch((err: Error) => ({ status: 0, body: { error: { message: err.message } } }));
  forgetCredential(hubUrl);
  // 401: the session had ended already (an admin, or expiry); either way it is gone
  if (r.status !== 200 && r.status !== 401) process.stderr.write(`handoff logout: the hub did not confirm (${r.status} ${r.body.error?.message ?? ''}); the stored sign-in is removed anyway\n`);
  else process.stderr.write(`Signed out of ${hubUrl}\n`);
  return 0;
}
