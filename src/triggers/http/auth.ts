import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HttpError } from './errors.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Requires the shared webhook token as `Authorization: Bearer <token>` or `x-api-key: <token>`
 * (what EventBridge API destinations send with API-key or bearer auth). Compared in constant
 * time over digests, so neither content nor length leaks. Missing or wrong -> 401.
 */
export function requireToken(token: string): MiddlewareHandler {
  if (token.length < 16) throw new Error('webhook token must be at least 16 characters');
  const expected = digest(token);
  return async (c, next) => {
    const auth = c.req.header('authorization');
    const presented = auth?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? c.req.header('x-api-key')?.trim();
    const challenge = { 'WWW-Authenticate': 'Bearer realm="rectify"' };
    if (!presented) throw new HttpError(401, 'unauthenticated', 'missing credentials: send Authorization: Bearer <token> or x-api-key', [], challenge);
    if (!timingSafeEqual(digest(presented), expected)) throw new HttpError(401, 'unauthenticated', 'invalid credentials', [], challenge);
    await next();
  };
}
