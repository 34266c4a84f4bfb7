import type { MiddlewareHandler } from 'hono';
import { DEFAULT_SIGNATURE_TOLERANCE_SECONDS, verifySlackSignature } from '../../slack/signature.js';
import { HttpError } from './errors.js';

/** Hono env of routes behind `requireSlackSignature`: the verified raw body, for the route to parse. */
export type SlackEnv = { Variables: { rawBody: string } };

export interface SlackSignatureOptions {
  readonly signingSecret: string;
  /** Clock in epoch milliseconds (like `Date.now`). Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Seconds a request's timestamp may be from now (either way), and so how long an accepted
   * request is remembered to refuse a replay of it. Default 300 (Slack's five minutes).
   */
  readonly replayWindowSeconds?: number;
  /** Accepted requests remembered at most; the oldest is forgotten past this. Default 10,000. */
  readonly maxRemembered?: number;
}

/**
 * Requires a valid Slack request signature (`X-Slack-Signature` over the raw body and
 * `X-Slack-Request-Timestamp`). The body is read as text and verified before anything parses
 * it; the route reads it back with `c.get('rawBody')`. A request whose timestamp and signature
 * were already accepted within the window is a replay and refused. Failures are
 * 401 `invalid_signature` whose message names the reason (never the secret or the expected
 * signature).
 *
 * Put a body-size limit in front of it: it reads the whole body.
 */
export function requireSlackSignature(o: SlackSignatureOptions): MiddlewareHandler<SlackEnv> {
  if (o.signingSecret.length === 0) throw new Error('Slack signing secret must not be empty');
  const now = o.now ?? Date.now;
  const windowSeconds = o.replayWindowSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  if (!(windowSeconds > 0)) throw new Error('replayWindowSeconds must be positive');
  const maxRemembered = o.maxRemembered ?? 10_000;
  /** `<timestamp>:<signature>` of accepted requests -> when (epoch seconds) it can no longer pass verification. */
  const seen = new Map<string, number>();

  const forget = (nowSeconds: number) => {
    for (const [key, expires] of seen) if (expires < nowSeconds) seen.delete(key);
    // Only signed requests get here, so this bound is about memory, not an attacker's reach.
    while (seen.size >= maxRemembered) {
      const oldest = seen.keys().next().value;
      if (oldest === undefined) break;
      seen.delete(oldest);
    }
  };

  return async (c, next) => {
    const rawBody = await c.req.text();
    const timestamp = c.req.header('x-slack-request-timestamp');
    const signature = c.req.header('x-slack-signature');
    const nowSeconds = now() / 1000;
    const result = verifySlackSignature({ signingSecret: o.signingSecret, timestamp, signature, rawBody, nowSeconds, toleranceSeconds: windowSeconds });
    if (!result.ok) throw new HttpError(401, 'invalid_signature', result.reason);

    // Verified, so both headers are present and the timestamp is digits.
    const ts = Number(timestamp!.trim());
    const key = `${ts}:${signature!.trim().toLowerCase()}`;
    forget(nowSeconds);
    if (seen.has(key)) throw new HttpError(401, 'invalid_signature', 'replayed request');
    seen.set(key, ts + windowSeconds);

    c.set('rawBody', rawBody);
    await next();
  };
}
