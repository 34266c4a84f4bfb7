import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { codecAuth, SESSION_COOKIE } from '../../src/codec/auth.js';
import { resolveCodecServer } from '../../src/codec/config.js';
import { resolvePayloadEncryption } from '../../src/codec/encryption.js';
import { payloadToJson, type JsonPayload } from '../../src/codec/http.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { createApp } from '../../src/triggers/http/app.js';

/**
 * Who may read decrypted histories through the codec server: the codec token (temporal CLI), a
 * browser session from /codec/login (the Web UI's "include cross-origin credentials"), and an
 * operator's OIDC access token (the Web UI's "pass the user access token"), each refused when
 * bent. The identity provider is a real HTTP server publishing a discovery document and JWKS.
 */

const CODEC_TOKEN = 'codec-token-for-the-ui-and-cli-0001';
const WEBHOOK_TOKEN = 'a-webhook-token-of-32-characters';
const UI = 'http://localhost:8233';
const AUDIENCE = 'temporal-ui';
const { encryption } = resolvePayloadEncryption({ PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` });
const SECRET = { bucket: 'payroll-exports-7731' };
let encrypted: JsonPayload[];

const logLines: string[] = [];
function app(env: Record<string, string> = {}) {
  const { codecServer, problems } = resolveCodecServer({ PAYLOAD_ENCRYPTION_KEYS: 'set', CODEC_SERVER_TOKEN: CODEC_TOKEN, CODEC_SERVER_CORS_ORIGINS: UI, ...env }, WEBHOOK_TOKEN);
  expect(problems).toEqual([]);
  return createApp({
    submitter: { submit: () => Promise.reject(new Error('unused')), requestScan: () => Promise.reject(new Error('unused')) },
    webhookToken: WEBHOOK_TOKEN,
    bodyLimitBytes: 1 << 20,
    logger: createLogger('test', 'debug', (l) => logLines.push(l)),
    temporalHealthy: async () => true,
    codec: { codec: encryption!.codec, ...codecServer!, ...(codecServer!.oidc ? { oidc: { ...codecServer!.oidc, refetchCooldownMs: 0 } } : {}) },
  });
}
type App = ReturnType<typeof app>;

/** What the Web UI sends to decode: X-Namespace, JSON, and with its settings a bearer or cookies. */
async function decode(a: App, headers: Record<string, string>) {
  const res = await a.request('/codec/decode', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    body: JSON.stringify({ payloads: encrypted }),
  });
  const body = await res.text();
  const message = res.status === 200 ? '' : ((JSON.parse(body) as { error?: { message?: string } }).error?.message ?? '');
  return { status: res.status, body, message, secretShown: body.includes(Buffer.from(JSON.stringify(SECRET)).toString('base64')) };
}

async function signIn(a: App, token: string, type: 'form' | 'json' = 'form') {
  return a.request('/codec/login', {
    method: 'POST',
    headers: { 'content-type': type === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: type === 'form' ? new URLSearchParams({ token }).toString() : JSON.stringify({ token }),
  });
}
const cookieOf = (res: Response) => res.headers.get('set-cookie')?.match(new RegExp(`^${SESSION_COOKIE}=([^;]*)`))?.[1];

beforeAll(async () => {
  encrypted = (await encryption!.codec.encode([defaultPayloadConverter.toPayload(SECRET) as Payload])).map(payloadToJson);
});

describe('a browser session for the Web UI (/codec/login, "include cross-origin credentials")', () => {
  const a = app();

  it('serves a sign-in form that cannot be framed or cached', async () => {
    const res = await a.request('/codec/login');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toMatch(/<form method="post">/);
    expect(html).toMatch(/type="password" name="token"/);
  });

  it('refuses a wrong token with no cookie, and an empty one', async () => {
    const wrong = await signIn(a, 'not-the-codec-token-at-all');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).not.toContain('not-the-codec-token-at-all');
    const webhook = await signIn(a, WEBHOOK_TOKEN);
    expect(webhook.status).toBe(401);
    const empty = await signIn(a, '');
    expect(empty.status).toBe(400);
    expect(empty.headers.get('set-cookie')).toBeNull();
    const text = await a.request('/codec/login', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: CODEC_TOKEN });
    expect(text.status).toBe(415);
  });

  it('gives an HttpOnly, Secure, SameSite=None cookie scoped by the browser to the codec path, holding no secret', async () => {
    for (const type of ['form', 'json'] as const) {
      const res = await signIn(a, CODEC_TOKEN, type);
      expect(res.status).toBe(200);
      const header = res.headers.get('set-cookie')!;
      const attrs = header.split(/;\s*/).slice(1).map((x) => x.toLowerCase());
      expect(attrs).toEqual(expect.arrayContaining(['httponly', 'secure', 'samesite=none', 'max-age=28800']));
      // No Path: the browser takes the directory it signed in at (/codec, or a proxy's prefix).
      expect(attrs.some((x) => x.startsWith('path='))).toBe(false);
      expect(header).not.toContain(CODEC_TOKEN);
      expect(await res.text()).toContain('Signed in until');
    }
  });

  it('decodes with the cookie from the listed UI origin only', async () => {
    const cookie = `${SESSION_COOKIE}=${cookieOf(await signIn(a, CODEC_TOKEN))}`;
    const ok = await decode(a, { cookie, origin: UI });
    expect(ok.status).toBe(200);
    expect(ok.secretShown).toBe(true);
    // A cookie is sent by the browser whoever asks: from another site, or with no Origin, it is no credential.
    for (const headers of [{ cookie, origin: 'https://evil.example.com' }, { cookie }] as Record<string, string>[]) {
      const res = await decode(a, headers);
      expect(res.status).toBe(401);
      expect(res.secretShown).toBe(false);
      expect(res.message).toMatch(/listed Web UI origin/);
    }
  });

  it('refuses a tampered, a re-dated, an expired and a cleared cookie', async () => {
    const value = cookieOf(await signIn(a, CODEC_TOKEN))!;
    const [v, exp, id, sig] = value.split('.') as [string, string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const expired = codecAuth({ token: CODEC_TOKEN, corsOrigins: [UI], sessionTtlMs: 8 * 3_600_000, logger: silentLogger, now: () => Date.now() - 9 * 3_600_000 }).newSession().value;
    for (const bad of [`${v}.${exp}.${flip(id)}.${sig}`, `${v}.${Number(exp) + 86_400}.${id}.${sig}`, `${v}.${exp}.${id}.${flip(sig)}`, expired, '']) {
      const res = await decode(a, { cookie: `${SESSION_COOKIE}=${bad}`, origin: UI });
      expect(res.status, bad).toBe(401);
      expect(res.secretShown).toBe(false);
    }
    const out = await a.request('/codec/logout', { method: 'POST', headers: { cookie: `${SESSION_COOKIE}=${value}` } });
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=; Max-Age=0`));
  });

  it('holds on every replica with the same token, and ends on all of them when the token changes', async () => {
    const cookie = `${SESSION_COOKIE}=${cookieOf(await signIn(a, CODEC_TOKEN))}`;
    expect((await decode(app(), { cookie, origin: UI })).status).toBe(200);
    const rotated = app({ CODEC_SERVER_TOKEN: 'a-new-codec-token-after-rotation' });
    expect((await decode(rotated, { cookie, origin: UI })).status).toBe(401);
  });

  it('lasts CODEC_SERVER_SESSION_HOURS', async () => {
    const res = await signIn(app({ CODEC_SERVER_SESSION_HOURS: '1' }), CODEC_TOKEN);
    expect(res.headers.get('set-cookie')).toContain('Max-Age=3600');
  });
});

/** A real identity provider as far as the codec server can tell: discovery and JWKS over HTTP. */
class IdentityProvider {
  server!: Server;
  issuer!: string;
  published: JWK[] = [];
  jwksFetches = 0;
  async start() {
    this.server = createServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: this.issuer, jwks_uri: `${this.issuer}/keys` }));
      } else if (req.url === '/keys') {
        this.jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.published }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async key(alg: 'RS256' | 'ES256', kid: string, publish = true) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    if (publish) this.published.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    return { privateKey, alg, kid };
  }
}

const sign = (k: { privateKey: CryptoKey; alg: string; kid: string }, claims: Record<string, unknown>, o: { iss: string; aud?: string; exp?: string | number | null; sub?: string }) => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'JWT' }).setIssuer(o.iss).setSubject(o.sub ?? 'alice@example.com').setIssuedAt();
  if (o.aud !== undefined) jwt = jwt.setAudience(o.aud);
  if (o.exp !== null) jwt = jwt.setExpirationTime(o.exp ?? '5m');
  return jwt.sign(k.privateKey);
};

describe("an operator's OIDC access token (the Web UI's \"pass the user access token\")", () => {
  const idp = new IdentityProvider();
  let a: App;
  let rsa: Awaited<ReturnType<IdentityProvider['key']>>;
  let ec: Awaited<ReturnType<IdentityProvider['key']>>;
  const bearer = (t: string) => ({ authorization: `Bearer ${t}`, origin: UI });
  const good = (k = rsa, claims: Record<string, unknown> = {}) => sign(k, claims, { iss: idp.issuer, aud: AUDIENCE });

  beforeAll(async () => {
    await idp.start();
    rsa = await idp.key('RS256', 'rsa-1');
    ec = await idp.key('ES256', 'ec-1');
    a = app({ CODEC_SERVER_OIDC_ISSUER: idp.issuer, CODEC_SERVER_OIDC_AUDIENCE: AUDIENCE });
  });
  afterAll(() => new Promise<void>((r) => idp.server.close(() => r())));

  it('decodes for a valid token, RSA or EC, sent as the UI sends it (with its ID token in Authorization-Extras)', async () => {
    for (const k of [rsa, ec]) {
      const res = await decode(a, { ...bearer(await good(k)), 'authorization-extras': 'an-id-token' });
      expect(res.status, k.alg).toBe(200);
      expect(res.secretShown).toBe(true);
    }
    // The keys were found through discovery and fetched once for both.
    expect(idp.jwksFetches).toBe(1);
  });

  it('refuses an expired token, another audience, another issuer, an unpublished key, no expiry, an unsigned and an HMAC token', async () => {
    const unpublished = await idp.key('RS256', 'rsa-1', false);
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    const body = Buffer.from(JSON.stringify({ iss: idp.issuer, aud: AUDIENCE, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
    const hmac = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(idp.issuer).setAudience(AUDIENCE).setExpirationTime('5m').sign(new TextEncoder().encode(CODEC_TOKEN));
    const cases: [string, string, RegExp][] = [
      ['expired', await sign(rsa, {}, { iss: idp.issuer, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) - 600 }), /expired/],
      ['another audience', await sign(rsa, {}, { iss: idp.issuer, aud: 'some-other-app' }), /claim "aud"/],
      ['another issuer', await sign(rsa, {}, { iss: 'https://login.evil.example.com', aud: AUDIENCE }), /claim "iss"/],
      ['an unpublished key under a published key id', await sign(unpublished, {}, { iss: idp.issuer, aud: AUDIENCE }), /signature does not verify/],
      ['no expiry', await sign(rsa, {}, { iss: idp.issuer, aud: AUDIENCE, exp: null }), /claim "exp"/],
      ['unsigned (alg none)', `${header({ alg: 'none', typ: 'JWT' })}.${body}.`, /not allowed|not a valid JWT/],
      ['HMAC-signed (alg confusion)', hmac, /algorithm not allowed/],
    ];
    for (const [name, jwt, why] of cases) {
      const res = await decode(a, bearer(jwt));
      expect(res.status, name).toBe(401);
      expect(res.secretShown, name).toBe(false);
      expect(res.message, name).toMatch(why);
      expect(res.body, name).not.toContain(jwt.slice(0, 40));
    }
  });

  it('accepts a key the provider publishes later (rotation), fetching the keys again for its id', async () => {
    const before = idp.jwksFetches;
    const next = await idp.key('ES256', 'ec-2');
    expect((await decode(a, bearer(await good(next)))).status).toBe(200);
    expect(idp.jwksFetches).toBe(before + 1);
  });

  it('limits who by CODEC_SERVER_OIDC_ALLOW: 403 for a valid token matching none', async () => {
    const limited = app({ CODEC_SERVER_OIDC_ISSUER: idp.issuer, CODEC_SERVER_OIDC_AUDIENCE: AUDIENCE, CODEC_SERVER_OIDC_ALLOW: 'groups=temporal-operators,email=oncall@example.com' });
    const dev = await decode(limited, bearer(await good(rsa, { groups: ['developers'] })));
    expect(dev.status).toBe(403);
    expect(dev.secretShown).toBe(false);
    expect((await decode(limited, bearer(await good(rsa, { groups: ['developers', 'temporal-operators'] })))).status).toBe(200);
    expect((await decode(limited, bearer(await good(rsa, { email: 'oncall@example.com' })))).status).toBe(200);
  });

  it('still takes the codec token (temporal CLI), and a session cookie when the UI sends "Bearer undefined" beside it', async () => {
    expect((await decode(a, bearer(CODEC_TOKEN))).status).toBe(200);
    const cookie = `${SESSION_COOKIE}=${cookieOf(await signIn(a, CODEC_TOKEN))}`;
    expect((await decode(a, { ...bearer('undefined'), cookie })).status).toBe(200);
    expect((await decode(a, bearer('not-a-jwt-and-not-the-token'))).status).toBe(401);
  });

  it('answers 503 when the provider cannot be reached, not 401', async () => {
    const down = app({ CODEC_SERVER_OIDC_ISSUER: 'http://127.0.0.1:9', CODEC_SERVER_OIDC_AUDIENCE: AUDIENCE });
    const res = await decode(down, bearer(await good()));
    expect(res.status).toBe(503);
    expect(res.body).toMatch(/oidc_keys_unavailable/);
  });

  it('never logs a token, a cookie or a JWT', async () => {
    const jwt = await good();
    await decode(a, bearer(jwt));
    const all = logLines.join('\n');
    expect(all).toContain('codec server: decoded');
    expect(all).toContain('"kind":"oidc","subject":"alice@example.com"');
    expect(all).not.toContain(CODEC_TOKEN);
    expect(all).not.toContain(jwt.split('.')[2]);
    expect(all).not.toMatch(new RegExp(`${SESSION_COOKIE}=`));
  });
});

describe('codec server settings', () => {
  const problems = (env: Record<string, string>) => resolveCodecServer({ PAYLOAD_ENCRYPTION_KEYS: 'set', CODEC_SERVER_TOKEN: CODEC_TOKEN, ...env }, WEBHOOK_TOKEN).problems;
  it('names every problem at once', () => {
    expect(problems({ CODEC_SERVER_OIDC_ISSUER: 'http://login.example.com', CODEC_SERVER_OIDC_ALLOW: 'groups', CODEC_SERVER_SESSION_HOURS: '0' })).toEqual([
      'CODEC_SERVER_SESSION_HOURS must be an integer from 1 to 168, got "0"',
      'CODEC_SERVER_OIDC_ALLOW: "groups" is not claim=value, e.g. groups=temporal-operators',
      'CODEC_SERVER_OIDC_ISSUER must be an https URL (http only on localhost), got "http://login.example.com"',
      'CODEC_SERVER_OIDC_AUDIENCE is required with CODEC_SERVER_OIDC_ISSUER: a token issued for another application must not open the codec server',
    ]);
    expect(problems({ CODEC_SERVER_OIDC_AUDIENCE: 'x' })).toEqual(['CODEC_SERVER_OIDC_AUDIENCE is set but CODEC_SERVER_OIDC_ISSUER is not']);
    expect(problems({ CODEC_SERVER_OIDC_ISSUER: 'https://login.example.com', CODEC_SERVER_OIDC_AUDIENCE: 'ui' })).toEqual([]);
  });
});
