/**
 * Where `handoff login` keeps what it signed in with: $XDG_CONFIG_HOME/handoff/credentials.json
 * (else ~/.config/handoff/…), one entry per hub URL. The folder is 0700 and the file 0600, both
 * set on every write (also when an older file was wider); the file is replaced whole (temp file
 * + rename), so a reader never sees half of it.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface StoredCredential {
  token: string;
  subject: string;
  displayName: string | null;
  role: string;
  sessionId: string;
  expiresAt: string;
}

type Store = Record<string, StoredCredential>;

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.config');
  return join(base, 'handoff');
}

export const credentialsFile = (env: NodeJS.ProcessEnv = process.env) => join(configDir(env), 'credentials.json');

function readStore(env: NodeJS.ProcessEnv): Store {
  try {
    const parsed = JSON.parse(readFileSync(credentialsFile(env), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Store) : {};
  } catch {
    return {};
  }
}

function writeStore(store: Store, env: NodeJS.ProcessEnv): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = credentialsFile(env);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The credential stored for `hubUrl`, or null. */
export function storedCredential(hubUrl: string, env: NodeJS.ProcessEnv = process.env): StoredCredential | null {
  const c = readStore(env)[hubUrl];
  return c && typeof c.token === 'string' ? c : null;
}

export function storeCredential(hubUrl: string, c: StoredCredential, env: NodeJS.ProcessEnv = process.env): string {
  const store = readStore(env);
  store[hubUrl] = c;
  writeStore(store, env);
  return credentialsFile(env);
}

export function forgetCredential(hubUrl: string, env: NodeJS.ProcessEnv = process.env): void {
  const store = readStore(env);
  if (!(hubUrl in store)) return;
  delete store[hubUrl];
  if (Object.keys(store).length) writeStore(store, env);
  else rmSync(credentialsFile(env), { force: true });
}
