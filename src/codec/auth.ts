import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from '../log.js';
import { HttpError } from '../triggers/http/errors.js';

/**
 * Who may call the codec server, in the three ways its callers can prove it:
 *
 * - **the codec token** (`CODEC_SERVER_TOKEN`) as `Authorization: Bearer`: the `temporal` CLI
 *   (`--codec-auth 'Bearer <token>'`) and scripts;
 * - **a session cookie**, for the Temporal Web UI with its codec setting "include cross-origin
 *   credentials" (`TEMPORAL_CODEC_INCLUDE_CREDENTIALS`): an operator signs in once at
 *   `<codec endpoint>/login` with the codec token; the browser then holds an HttpOnly, Secure,
 *   SameSite=None cookie that the UI's `fetch(..., {credentials: 'include'})` carries. The cookie is
 *   an expiry and a random id under an HMAC keyed from the token: every replica with the same
 *   token accepts it with no shared store, and changing the token ends every session. It counts
 *   only on a request whose `Origin` is a listed UI origin, so another site cannot ride on it;
 * - **the operator's own OIDC access token**, for a Web UI with sign-in and its codec setting "pass
 *   the user access token" (`TEMPORAL_CODEC_PASS_ACCESS_TOKEN`, which the UI honours only for an
 *   https endpoint): a JWT checked against the issuer's published keys (JWKS, found through its
 *   discovery document unless named), issuer, audience and expiry, optionally limited to some
 *   claim values (`CODEC_SERVER_OIDC_ALLOW`, e.g. `groups=temporal-operators`).
 *
 * None of the secrets (token, cookie, JWT) is ever logged or echoed: a refusal says which kind of
 * credential failed and why, not what it was.
 */

export interface OidcOptions {
  /** The `iss` every token must carry, e.g. https://login.example.com/realms/ops. */
  readonly issuer: string;
  /** The `aud` every token must carry (the UI's client id or the API audience of its access tokens). */
  readonly audience: string;
  /** Where the signing keys are; default: `jwks_uri` of the issuer's discovery document. */
  readonly jwksUrl?: string;
  /** Claims of which one must match (a string equal, or an array containing it); empty: any valid token. */
  readonly allow: readonly { readonly claim: string; readonly value: string }[];
  /** Least time between two fetches of the keys for a key id not seen (default 30 s). */
  readonly refetchCooldownMs?: number;
}

export interface CodecAuthOptions {
  readonly token: string;
  /** Origins of the Web UI; a session cookie counts only on a request from one of them. */
  readonly corsOrigins: readonly string[];
  readonly sessionTtlMs: number;
  readonly oidc?: OidcOptions;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Who a request is, as logged. Never a secret: a session id prefix, an OIDC subject. */
export type CodecPrincipal = { readonly kind: 'token' } | { readonly kind: 'session'; readonly session: string } | { readonly kind: 'oidc'; readonly subject: string };

export const SESSION_COOKIE = 'rectify_codec_session';
const SESSION_VERSION = 'v1';
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="rectify-codec"' };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const b64url = (b: Buffer) => b.toString('base64url');

export interface CodecAuth {
  /** Checks the request (401 / 403 / 503 when the OIDC keys cannot be had). */
  readonly middleware: MiddlewareHandler;
  /** True when `presented` is the codec token (constant time). */
  readonly isToken: (presented: string) => boolean;
  /** Who the middleware found the request to be. */
  readonly principalOf: (c: Context) => CodecPrincipal | undefined;
  /** A new session cookie value and when it ends. */
  readonly newSession: () => { value: string; expires: Date; id: string };
  /** The session id of a valid, unexpired cookie value; undefined otherwise. */
  readonly sessionOf: (value: string | undefined) => string | undefined;
}

export function codecAuth(o: CodecAuthOptions): CodecAuth {
  const now = o.now ?? Date.now;
  const expected = digest(o.token);
  // A key of its own for sessions, derived from the token: the token itself never signs anything.
  const sessionKey = createHmac('sha256', o.token).update('rectify codec session key v1').digest();
  const mac = (body: string) => createHmac('sha256', sessionKey).update(body).digest();
  const origins = new Set(o.corsOrigins);
  const verifyJwt = o.oidc ? oidcVerifier(o.oidc) : undefined;
  const principals = new WeakMap<Context, CodecPrincipal>();

  const isToken = (presented: string) => timingSafeEqual(digest(presented), expected);

  const newSession = () => {
    const expires = new Date(now() + o.sessionTtlMs);
    const id = b64url(randomBytes(16));
    const body = `${SESSION_VERSION}.${Math.floor(expires.getTime() / 1000)}.${id}`;
    return { value: `${body}.${b64url(mac(body))}`, expires, id };
  };

  const sessionOf = (value: string | undefined): string | undefined => {
    const m = value?.match(/^(v1\.(\d{1,12})\.([A-Za-z0-9_-]{22}))\.([A-Za-z0-9_-]{43})$/);
    if (!m) return undefined;
    const [, body, exp, id, sig] = m as unknown as [string, string, string, string, string];
    if (!timingSafeEqual(Buffer.from(sig, 'base64url'), mac(body))) return undefined;
    return Number(exp) * 1000 > now() ? id : undefined;
  };

  const middleware: MiddlewareHandler = async (c, next) => {
    const failures: string[] = [];
    const principal = (await fromBearer(c, failures)) ?? fromSession(c, failures);
    if (!principal) {
      const none = failures.length === 0;
      throw new HttpError(
        401,
        'unauthenticated',
        none
          ? `missing credentials: send Authorization: Bearer <codec token>${o.oidc ? ' or <OIDC access token>' : ''}, or sign in at ${c.req.path.replace(/\/[^/]*$/, '')}/login for a session cookie`
          : `invalid credentials: ${failures.join('; ')}`,
        [],
        CHALLENGE,
      );
    }
    principals.set(c, principal);
    await next();
  };

  async function fromBearer(c: Context, failures: string[]): Promise<CodecPrincipal | undefined> {
    const auth = c.req.header('authorization');
    const presented = auth?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? c.req.header('x-api-key')?.trim();
    // The UI sends "Bearer undefined" when told to pass a token it does not have: no credential.
    if (!presented || presented === 'undefined' || presented === 'null') return undefined;
    if (isToken(presented)) return { kind: 'token' };
    if (verifyJwt && JWT_SHAPE.test(presented)) {
      const claims = await verifyJwt(presented);
      if (claims.ok) {
        if (!allowed(o.oidc!.allow, claims.payload)) {
          o.logger.warn('codec server: OIDC subject not allowed', { subject: claims.payload.sub });
          throw new HttpError(403, 'not_allowed', `the access token of "${String(claims.payload.sub ?? '?').slice(0, 200)}" is valid but matches none of CODEC_SERVER_OIDC_ALLOW`);
        }
        return { kind: 'oidc', subject: String(claims.payload.sub ?? '?') };
      }
      if (claims.unavailable) throw new HttpError(503, 'oidc_keys_unavailable', `the OIDC signing keys could not be fetched (${claims.reason}); retry later`, [], { 'Retry-After': '5' });
      failures.push(`the access token was refused (${claims.reason})`);
      return undefined;
    }
    failures.push(o.oidc ? 'the bearer token is neither the codec token nor a JWT' : 'the bearer token is not the codec token');
    return undefined;
  }

  function fromSession(c: Context, failures: string[]): CodecPrincipal | undefined {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie === undefined) return undefined;
    const origin = c.req.header('origin');
    // A cookie is sent by the browser whoever asks: it counts only from a listed UI origin.
    if (origin === undefined || !origins.has(origin)) {
      failures.push('a session cookie counts only on a request from a listed Web UI origin (CODEC_SERVER_CORS_ORIGINS)');
      return undefined;
    }
    const session = sessionOf(cookie);
    if (session === undefined) {
      failures.push('the session has expired or is not valid: sign in again');
      return undefined;
    }
    return { kind: 'session', session: session.slice(0, 8) };
  }

  return { middleware, principalOf: (c) => principals.get(c), isToken, newSession, sessionOf };
}

function allowed(rules: OidcOptions['allow'], payload: JWTPayload): boolean {
  if (rules.length === 0) return true;
  return rules.some(({ claim, value }) => {
    const v = (payload as Record<string, unknown>)[claim];
    return Array.isArray(v) ? v.includes(value) : typeof v === 'string' ? v === value : typeof v === 'boolean' || typeof v === 'number' ? String(v) === value : false;
  });
}

type Verdict = { ok: true; payload: JWTPayload } | { ok: false; unavailable: boolean; reason: string };

/** Verifies a JWT against the issuer's keys; the keys are fetched once, and again for a key id not seen (rotation). */
function oidcVerifier(oidc: OidcOptions): (jwt: string) => Promise<Verdict> {
  let keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const jwks = () => {
    keys ??= (async () => createRemoteJWKSet(new URL(oidc.jwksUrl ?? (await discoverJwksUri(oidc.issuer))), { timeoutDuration: 5000, cooldownDuration: oidc.refetchCooldownMs ?? 30_000 }))();
    // A failed discovery is tried again on the next request.
    keys.catch(() => (keys = undefined));
    return keys;
  };
  return async (jwt) => {
    try {
      const { payload } = await jwtVerify(jwt, await jwks(), {
        issuer: oidc.issuer,
        audience: oidc.audience,
        algorithms: ASYMMETRIC,
        requiredClaims: ['exp'],
        clockTolerance: 60,
      });
      return { ok: true, payload };
    } catch (err) {
      return { ok: false, ...explain(err) };
    }
  };
}

function explain(err: unknown): { unavailable: boolean; reason: string } {
  if (err instanceof joseErrors.JWTExpired) return { unavailable: false, reason: 'expired' };
  if (err instanceof joseErrors.JWTClaimValidationFailed) return { unavailable: false, reason: `claim "${err.claim}" ${err.reason === 'check_failed' ? 'does not match' : err.reason.replace(/_/g, ' ')}` };
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return { unavailable: false, reason: 'signature does not verify' };
  if (err instanceof joseErrors.JWKSNoMatchingKey) return { unavailable: false, reason: 'signed by a key the issuer does not publish' };
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return { unavailable: false, reason: 'algorithm not allowed (asymmetric signatures only)' };
  if (err instanceof joseErrors.JWKSTimeout) return { unavailable: true, reason: 'timed out' };
  if (err instanceof joseErrors.JWKSInvalid || err instanceof DiscoveryError) return { unavailable: true, reason: (err as Error).message };
  if (err instanceof joseErrors.JOSEError) return { unavailable: false, reason: `not a valid JWT (${err.code})` };
  // fetch failures (connection refused, DNS...): the keys could not be had.
  return { unavailable: true, reason: (err as Error)?.message?.slice(0, 200) ?? 'unknown error' };
}

class DiscoveryError extends Error {}

async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'error' }).catch((e: Error) => {
    throw new DiscoveryError(`discovery at ${url} failed: ${e.message}`);
  });
  if (!res.ok) throw new DiscoveryError(`discovery at ${url} answered ${res.status}`);
  const doc = (await res.json().catch(() => ({}))) as { issuer?: unknown; jwks_uri?: unknown };
  // OpenID Connect Discovery 1.0 §4.3: the document must name the same issuer.
  if (doc.issuer !== issuer) throw new DiscoveryError(`discovery at ${url} names issuer ${JSON.stringify(doc.issuer)}, not ${issuer}`);
  if (typeof doc.jwks_uri !== 'string') throw new DiscoveryError(`discovery at ${url} has no jwks_uri`);
  return doc.jwks_uri;
}
