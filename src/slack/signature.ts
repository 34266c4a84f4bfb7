/**
 * Slack request signing (https://docs.slack.dev/authentication/verifying-requests-from-slack):
 * Slack sends `X-Slack-Request-Timestamp: <unix seconds>` and
 * `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`.
 * A request is authentic when the signature matches and the timestamp is within five
 * minutes of now (older ones may be replays).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SLACK_SIGNATURE_VERSION = 'v0';
/** Slack's recommended freshness window: five minutes. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

const SIGNATURE_FORMAT = /^v0=([0-9a-fA-F]{64})$/;
/** Unix seconds, digits only (no sign, exponent, fraction or padding tricks), at most 12 digits. */
const TIMESTAMP_FORMAT = /^[0-9]{1,12}$/;

function hmacHex(signingSecret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', signingSecret).update(`${SLACK_SIGNATURE_VERSION}:${timestamp}:${rawBody}`, 'utf8').digest('hex');
}

/** The `X-Slack-Signature` value Slack would send for this body at this time: `v0=<hex>`. */
export function signSlackRequest(signingSecret: string, timestamp: number, rawBody: string): string {
  return `${SLACK_SIGNATURE_VERSION}=${hmacHex(signingSecret, String(timestamp), rawBody)}`;
}

export interface VerifySlackSignatureOptions {
  readonly signingSecret: string;
  /** The `X-Slack-Request-Timestamp` header as received. */
  readonly timestamp: string | undefined;
  /** The `X-Slack-Signature` header as received. */
  readonly signature: string | undefined;
  /** The request body exactly as received, before any parsing. */
  readonly rawBody: string;
  readonly nowSeconds: number;
  /** How far the timestamp may be from now, either way. Default 300. */
  readonly toleranceSeconds?: number;
}

export type SlackSignatureResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks a request's Slack signature. Reasons are safe to return to the caller: they never
 * contain the signing secret or the expected signature.
 */
export function verifySlackSignature(o: VerifySlackSignatureOptions): SlackSignatureResult {
  const tolerance = o.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  const timestamp = o.timestamp?.trim();
  const signature = o.signature?.trim();
  if (!timestamp && !signature) return { ok: false, reason: 'missing X-Slack-Request-Timestamp and X-Slack-Signature headers' };
  if (!timestamp) return { ok: false, reason: 'missing X-Slack-Request-Timestamp header' };
  if (!signature) return { ok: false, reason: 'missing X-Slack-Signature header' };
  if (!TIMESTAMP_FORMAT.test(timestamp)) return { ok: false, reason: 'X-Slack-Request-Timestamp is not a whole number of seconds' };
  const age = o.nowSeconds - Number(timestamp);
  if (age > tolerance) return { ok: false, reason: `request timestamp is more than ${tolerance} seconds old` };
  if (-age > tolerance) return { ok: false, reason: `request timestamp is more than ${tolerance} seconds in the future` };
  const presented = SIGNATURE_FORMAT.exec(signature)?.[1];
  if (!presented) return { ok: false, reason: 'X-Slack-Signature is not a v0 signature (expected v0=<64 hex digits>)' };
  // Both sides are 32-byte digests, so timingSafeEqual compares equal lengths and leaks nothing.
  const expected = Buffer.from(hmacHex(o.signingSecret, timestamp, o.rawBody), 'hex');
  const given = Buffer.from(presented, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature does not match' };
  return { ok: true };
}
