import type { Context, Env, Hono, MiddlewareHandler } from 'hono';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from '../log.js';
import { requireToken } from '../triggers/http/auth.js';
import { HttpError } from '../triggers/http/errors.js';
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
 * Served under `/codec` with a bearer token of its own (`CODEC_SERVER_TOKEN`, compared in constant
 * time like the webhook token): whoever holds it reads every history. The `temporal` CLI sends it
 * (`--codec-auth 'Bearer <token>'`); the Web UI sends no header of its choosing, so in front of a
 * browser an authenticating proxy adds it. The preflight carries no credentials (browsers never
 * send them), so it is answered before the token is checked.
 */

export interface CodecServerOptions {
  readonly codec: PayloadCodec;
  readonly token: string;
  /** Origins (scheme://host:port) of the Web UI allowed to call from a browser. */
  readonly corsOrigins: readonly string[];
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

  const auth = requireToken(o.token);
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
    return c.json({ payloads: out.map(payloadToJson) }, 200);
  };
  app.post(`${CODEC_PATH}/encode`, auth, o.limit, route('encode'));
  app.post(`${CODEC_PATH}/decode`, auth, o.limit, route('decode'));
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
