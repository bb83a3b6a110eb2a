/**
 * Headers on every HTTP response (API, dashboard shell, static files): the dashboard's CSP lives
 * here, as a header, because a <meta> CSP cannot say `frame-ancestors` (clickjacking).
 */
import type { NextFunction, Request, Response } from 'express';

/** What the dashboard needs: its own bundle, inline styles (xterm), data: fonts and images, its socket. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}
