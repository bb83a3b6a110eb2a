/**
 * The JWT secret and the encryption key. Production must configure both (config.ts refuses to
 * start otherwise); development generates them once and keeps them in the data folder.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HubConfig } from './config.ts';
import { decodeKey } from './config.ts';
import { PRIVATE_FILE_MODE, ensurePrivateDir } from './privateFiles.ts';

export interface HubSecrets {
  jwtSecret: string;
  encryptionKey: Buffer;
}

interface StoredSecrets {
  jwtSecret: string;
  encryptionKey: string;
}

/** Returns the secrets and whether any were generated just now (so the caller can say so once). */
export function resolveSecrets(config: Pick<HubConfig, 'jwtSecret' | 'encryptionKey' | 'dataDir'>): HubSecrets & { generated: boolean } {
  if (config.jwtSecret && config.encryptionKey) {
    return { jwtSecret: config.jwtSecret, encryptionKey: config.encryptionKey, generated: false };
  }
  const file = join(config.dataDir, 'secrets.json');
  // Private to the hub's user, also when an older version left the folder or the file readable.
  ensurePrivateDir(config.dataDir);
  let stored: StoredSecrets | undefined;
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as StoredSecrets;
  } catch {
    stored = undefined;
  }
  if (stored) chmodSync(file, PRIVATE_FILE_MODE);
  let generated = false;
  if (!stored || typeof stored.jwtSecret !== 'string' || !decodeKey(stored.encryptionKey ?? '')) {
    stored = { jwtSecret: randomBytes(32).toString('base64url'), encryptionKey: randomBytes(32).toString('hex') };
    writeFileSync(file, JSON.stringify(stored, null, 2), { mode: PRIVATE_FILE_MODE });
    chmodSync(file, PRIVATE_FILE_MODE); // writeFileSync's mode applies only to a new file
    generated = true;
  }
  return {
    jwtSecret: config.jwtSecret ?? stored.jwtSecret,
    encryptionKey: config.encryptionKey ?? (decodeKey(stored.encryptionKey) as Buffer),
    generated,
  };
}
