import type { Context, Env, Hono, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from '../log.js';
import { HttpError } from '../triggers/http/errors.js';
import { codecAuth, SESSION_COOKIE, type OidcOptions } from './auth.js';
import { PayloadDecryptionError } from './encryption.js';

/**
 * The codec server: the Temporal Web UI and the `temporal` CLI send the payloads of a history here
 * to be shown decrypted (and, for a workflow started or signaled from the UI, encrypted), so that
 * the keys stay with this product and never reach Temporal, the UI server or a browser.
 *
 * The protocol (Temporal's "codec server" contract): `POST <endpoint>/encode` and
 * `POST <endpoint>/decode` with `{"payloads": [...]}`, each payload in proto3 JSON (every metadata
 * value and `data` base64), answered the same way; a body that is not that, or a payload that does
 * not decode, is a 400. The UI sends `X-Namespace` (the keys are this deployment's, whatever the
 * namespace: it is only named in logs) and, for its `passAccessToken` / `includeCredentials`
 * settings, `Authorization` and cookies; so the browser's preflight is answered for the configured
 * UI origins with those headers allowed.
 *
 * Served under `/codec`. Who may call it (src/codec/auth.ts): the holder of its own token
 * (`CODEC_SERVER_TOKEN`: the `temporal` CLI's `--codec-auth 'Bearer <token>'`); a browser signed
 * in at `/codec/login` (a session cookie, which the Web UI sends with its "include cross-origin
 * credentials" setting); and, when an OIDC issuer is configured, the operator's own access token,
 * which the Web UI forwards with its "pass the user access token" setting. Whoever passes reads
 * every history. The preflight carries no credentials (browsers never send them), so it is
 * answered before they are checked.
 */

export interface CodecServerOptions {
  readonly codec: PayloadCodec;
  readonly token: string;
  /** Origins (scheme://host:port) of the Web UI allowed to call from a browser. */
  readonly corsOrigins: readonly string[];
  /** How long a browser session from `/codec/login` lasts. */
  readonly sessionTtlMs: number;
  /** Operators' own OIDC access tokens, as the Web UI forwards them; absent: not accepted. */
  readonly oidc?: OidcOptions;
  /** The app's body limit (413 as for every other route). */
  readonly limit: MiddlewareHandler;
  readonly logger: Logger;
}

/** Where the routes live; the UI's codec endpoint is `<trigger server>/codec`. */
export const CODEC_PATH = '/codec';

/** Proto3 JSON of a Payload: metadata values and data in base64. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
/** What the Web UI sends: Authorization (and Authorization-Extras, its ID token) with its passAccessToken setting. */
const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization, Authorization-Extras';

/** Adds the codec routes to `app`: with options, the codec server; without, a 404 naming what is missing. */
export function serveCodec<E extends Env>(app: Hono<E>, o: CodecServerOptions | undefined): void {
  if (!o) {
    app.all(`${CODEC_PATH}/*`, () => {
      throw new HttpError(404, 'codec_server_not_configured', 'the codec server is not configured (CODEC_SERVER_TOKEN is unset)');
    });
    return;
  }
  const origins = new Set(o.corsOrigins);
  const corsHeaders = (origin: string): Record<string, string> => ({
    'Access-Control-Allow-Origin': origin,
    // Only ever with one named origin (never "*"): the UI's includeCredentials setting, for a
    // cookie-authenticating proxy in front, needs it; the token is checked all the same.
    'Access-Control-Allow-Credentials': 'true',
  });

  app.use(`${CODEC_PATH}/*`, async (c, next) => {
    const origin = c.req.header('origin');
    const allowed = origin !== undefined && origins.has(origin);
    if (c.req.method === 'OPTIONS') {
      if (origin !== undefined && !allowed) {
        throw new HttpError(403, 'origin_not_allowed', `origin ${JSON.stringify(origin.slice(0, 200))} may not call the codec server; add it to CODEC_SERVER_CORS_ORIGINS`, [], { Vary: 'Origin' });
      }
      return c.body(null, 204, {
        ...(allowed ? corsHeaders(origin) : {}),
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '600',
        Allow: 'POST, OPTIONS',
        Vary: 'Origin',
      });
    }
    await next();
    // On every answer, errors included, so that the UI can read why.
    if (allowed) for (const [k, v] of Object.entries(corsHeaders(origin))) c.res.headers.set(k, v);
    c.res.headers.append('Vary', 'Origin');
  });

  const auth = codecAuth({ token: o.token, corsOrigins: o.corsOrigins, sessionTtlMs: o.sessionTtlMs, ...(o.oidc ? { oidc: o.oidc } : {}), logger: o.logger });
  serveLogin(app, o, auth);
  const route = (op: 'encode' | 'decode') => async (c: Context) => {
    const payloads = payloadsFromJson(await readJson(c));
    const namespace = c.req.header('x-namespace');
    let out: Payload[];
    try {
      out = op === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
    } catch (err) {
      // Decryption errors name a key id at most, never a key: safe to return.
      const message = err instanceof PayloadDecryptionError ? err.message : `the payloads could not be ${op}d`;
      o.logger.warn(`codec server: ${op} failed`, { namespace, payloads: payloads.length, error: message });
      throw new HttpError(400, `${op}_failed`, message);
    }
    // Encoding is the UI writing (a signal or start from the browser): worth a line at info.
    o.logger[op === 'encode' ? 'info' : 'debug'](`codec server: ${op}d`, { namespace, payloads: payloads.length, by: auth.principalOf(c) });
    return c.json({ payloads: out.map(payloadToJson) }, 200);
  };
  app.post(`${CODEC_PATH}/encode`, auth.middleware, o.limit, route('encode'));
  app.post(`${CODEC_PATH}/decode`, auth.middleware, o.limit, route('decode'));
}

/**
 * `GET /codec/login`: a form for the codec token; `POST /codec/login`: the token (form or JSON)
 * for a session cookie; `POST /codec/logout`: the cookie cleared. The cookie is HttpOnly (no
 * script reads it), Secure and SameSite=None (the Web UI is another origin, often another site),
 * and has no Path attribute, so the browser scopes it to the directory it signed in at: `/codec`,
 * or whatever prefix a proxy in front shows.
 */
function serveLogin<E extends Env>(app: Hono<E>, o: CodecServerOptions, auth: ReturnType<typeof codecAuth>): void {
  const page = (c: Context, status: 200 | 401 | 400, body: string) =>
    c.html(loginPage(body, insecureOrigin(c)), status, {
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    });
  const form = (message = '') =>
    `${message}<form method="post"><label>Codec server token <input type="password" name="token" autocomplete="current-password" autofocus required></label> <button type="submit">Sign in</button></form>`;

  app.get(`${CODEC_PATH}/login`, (c) => {
    const signedIn = auth.sessionOf(getCookie(c, SESSION_COOKIE)) !== undefined;
    return page(c, 200, signedIn ? `<p id="status">Signed in: the Web UI can decode payloads here.</p>${logoutForm}` : form());
  });
  app.post(`${CODEC_PATH}/login`, o.limit, async (c) => {
    const type = c.req.header('content-type') ?? '';
    let token: unknown;
    if (/^application\/x-www-form-urlencoded\b|^multipart\/form-data\b/i.test(type)) token = (await c.req.parseBody())['token'];
    else if (/^application\/json\b/i.test(type)) token = ((await c.req.json().catch(() => ({}))) as { token?: unknown }).token;
    else throw new HttpError(415, 'unsupported_media_type', 'send the token as a form field or JSON {"token": "..."}');
    if (typeof token !== 'string' || token.trim() === '') return page(c, 400, form('<p id="status" class="error">Enter the codec server token.</p>'));
    if (!auth.isToken(token.trim())) {
      o.logger.warn('codec server: sign-in refused (wrong token)');
      return page(c, 401, form('<p id="status" class="error">That is not the codec server token.</p>'));
    }
    const s = auth.newSession();
    o.logger.info('codec server: signed in', { session: s.id.slice(0, 8), until: s.expires.toISOString() });
    c.header('Set-Cookie', `${SESSION_COOKIE}=${s.value}; Expires=${s.expires.toUTCString()}; Max-Age=${Math.floor(o.sessionTtlMs / 1000)}; HttpOnly; Secure; SameSite=None`);
    return page(c, 200, `<p id="status">Signed in until ${s.expires.toISOString()}. The Temporal Web UI can now decode payloads through this codec server, with its codec setting "Include cross-origin credentials" on.</p>${logoutForm}`);
  });
  app.post(`${CODEC_PATH}/logout`, (c) => {
    c.header('Set-Cookie', `${SESSION_COOKIE}=; Max-Age=0; HttpOnly; Secure; SameSite=None`);
    return page(c, 200, `<p id="status">Signed out.</p>${form()}`);
  });
}

const logoutForm = '<form method="post" action="logout"><button type="submit">Sign out</button></form>';

/** Browsers keep a Secure cookie only over https, or from localhost. */
function insecureOrigin(c: Context): boolean {
  const url = new URL(c.req.url);
  const proto = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() ?? url.protocol.replace(/:$/, '');
  return proto !== 'https' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function loginPage(body: string, insecure: boolean): string {
  const warning = insecure ? '<p class="error">This page was served over plain http: browsers keep the session cookie only over https (or on localhost). Put the codec server behind TLS.</p>' : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rectify codec server</title><style>body{font:16px system-ui,sans-serif;max-width:40em;margin:3em auto}.error{color:#b00}input{width:20em}</style></head><body><h1>rectify codec server</h1><p>Signing in lets the Temporal Web UI in this browser show the decrypted payloads of remediation histories.</p>${warning}${body}</body></html>`;
}

/** `{"payloads": [...]}` in proto3 JSON to Payloads; every problem named at once (400). */
export function payloadsFromJson(body: unknown): Payload[] {
  const problems: string[] = [];
  const list = (body as { payloads?: unknown } | null)?.payloads;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray(list)) {
    throw new HttpError(400, 'invalid_payloads', 'expected {"payloads": [...]} (proto3 JSON payloads)');
  }
  const payloads = list.map((p, i): Payload => {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      problems.push(`payloads[${i}] is not an object`);
      return {};
    }
    const { metadata, data } = p as { metadata?: unknown; data?: unknown };
    // No prototype: a "__proto__" key is one more metadata entry, nothing else.
    const out: Payload = { metadata: Object.create(null) as Record<string, Uint8Array> };
    if (metadata !== undefined && metadata !== null) {
      if (typeof metadata !== 'object' || Array.isArray(metadata)) problems.push(`payloads[${i}].metadata is not an object`);
      else {
        for (const [k, v] of Object.entries(metadata)) {
          if (typeof v !== 'string' || !BASE64.test(v)) problems.push(`payloads[${i}].metadata.${k} is not a base64 string`);
          else out.metadata![k] = Buffer.from(v, 'base64');
        }
      }
    }
    if (data !== undefined && data !== null) {
      if (typeof data !== 'string' || !BASE64.test(data)) problems.push(`payloads[${i}].data is not a base64 string`);
      else out.data = Buffer.from(data, 'base64');
    }
    return out;
  });
  if (problems.length > 0) throw new HttpError(400, 'invalid_payloads', 'the payloads are not proto3 JSON payloads', problems.slice(0, 20));
  return payloads;
}

/** A Payload in proto3 JSON (default values left out, as proto3 JSON does). */
export function payloadToJson(p: Payload): JsonPayload {
  const metadata = Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return {
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(p.data && p.data.length > 0 ? { data: Buffer.from(p.data).toString('base64') } : {}),
  };
}

async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', `content-type must be application/json, got "${type}"`);
  }
  try {
    return JSON.parse(await c.req.text()) as unknown;
  } catch {
    throw new HttpError(400, 'invalid_json', 'request body is not valid JSON; expected {"payloads": [...]}');
  }
}
