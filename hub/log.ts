/** Structured JSON logs (pino). Secrets and RW attach data are redacted wherever they appear. */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export const REDACTED_PATHS = [
  'token',
  'grantToken',
  'attachRw',
  'webRw',
  'attachRwEncrypted',
  'webRwEncrypted',
  'secret',
  'jwtSecret',
  'encryptionKey',
  'authorization',
  'req.headers.authorization',
  'headers.authorization',
  '*.token',
  '*.grantToken',
  '*.attachRw',
  '*.webRw',
  '*.attachRwEncrypted',
  '*.webRwEncrypted',
  '*.authorization',
  'body.attachRw',
  'body.webRw',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'handoff' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
