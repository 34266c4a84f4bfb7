import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { signSlackRequest } from '../../../src/slack/signature.js';
import { errorMapper } from '../../../src/triggers/http/errors.js';
import { requireSlackSignature, type SlackEnv } from '../../../src/triggers/http/slack-auth.js';

const SECRET = 'test-signing-secret-0123456789';
const T0 = 1_700_000_000;

function makeApp(o: { clock: { now: number }; replayWindowSeconds?: number; maxRemembered?: number }) {
  const app = new Hono<SlackEnv>();
  app.onError(errorMapper(silentLogger));
  let handled = 0;
  app.post(
    '/slack/interactions',
    requireSlackSignature({
      signingSecret: SECRET,
      now: () => o.clock.now * 1000,
      ...(o.replayWindowSeconds !== undefined ? { replayWindowSeconds: o.replayWindowSeconds } : {}),
      ...(o.maxRemembered !== undefined ? { maxRemembered: o.maxRemembered } : {}),
    }),
    (c) => {
      handled++;
      return c.json({ rawBody: c.get('rawBody') });
    },
  );
  return { app, handled: () => handled };
}

function post(app: Hono<SlackEnv>, body: string, headers: Record<string, string>) {
  return app.request('/slack/interactions', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
}

const signed = (body: string, ts: number, secret = SECRET) => ({ 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signSlackRequest(secret, ts, body) });

async function errorOf(res: Response) {
  const json = (await res.json()) as { error: { code: string; message: string } };
  return json.error;
}

describe('requireSlackSignature', () => {
  const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

  it('passes a signed request and gives the route the raw body', async () => {
    const { app, handled } = makeApp({ clock: { now: T0 } });
    const res = await post(app, body, signed(body, T0));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ rawBody: body });
    expect(handled()).toBe(1);
  });

  it('keeps the body byte-exact (encoded characters, unicode)', async () => {
    const { app } = makeApp({ clock: { now: T0 } });
    const odd = 'payload=%7B%22a%22%3A%22%C3%A9%E2%9C%93+%26%22%7D&x=%2B';
    const res = await post(app, odd, signed(odd, T0));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { rawBody: string }).rawBody).toBe(odd);
  });

  it('401s without headers, before the route runs', async () => {
    const { app, handled } = makeApp({ clock: { now: T0 } });
    const res = await post(app, body, {});
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toEqual({ code: 'invalid_signature', message: 'missing X-Slack-Request-Timestamp and X-Slack-Signature headers' });
    expect(handled()).toBe(0);
  });

  it('401s a forged, wrong-secret, tampered, stale or future request', async () => {
    const { app, handled } = makeApp({ clock: { now: T0 } });
    const cases: [string, Record<string, string>, RegExp][] = [
      [body, { 'x-slack-request-timestamp': String(T0), 'x-slack-signature': `v0=${'a'.repeat(64)}` }, /does not match/],
      [body, signed(body, T0, 'wrong-secret'), /does not match/],
      [body + '&extra=1', signed(body, T0), /does not match/],
      [body, signed(body, T0 - 301), /old/],
      [body, signed(body, T0 + 301), /future/],
      [body, { 'x-slack-request-timestamp': 'soon', 'x-slack-signature': signSlackRequest(SECRET, T0, body) }, /whole number/],
      [body, { 'x-slack-request-timestamp': String(T0) }, /missing X-Slack-Signature/],
    ];
    for (const [b, headers, message] of cases) {
      const res = await post(app, b, headers);
      expect(res.status).toBe(401);
      const error = await errorOf(res);
      expect(error.code).toBe('invalid_signature');
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(SECRET);
    }
    expect(handled()).toBe(0);
  });

  it('refuses a replay of an accepted request within the window', async () => {
    const clock = { now: T0 };
    const { app, handled } = makeApp({ clock });
    const headers = signed(body, T0);
    expect((await post(app, body, headers)).status).toBe(200);
    clock.now = T0 + 10;
    const replay = await post(app, body, headers);
    expect(replay.status).toBe(401);
    expect(await errorOf(replay)).toEqual({ code: 'invalid_signature', message: 'replayed request' });
    // Same request with the signature in uppercase hex is still the same request.
    const upper = { ...headers, 'x-slack-signature': `v0=${headers['x-slack-signature'].slice(3).toUpperCase()}` };
    expect((await post(app, body, upper)).status).toBe(401);
    expect(handled()).toBe(1);
  });

  it('accepts the same body again when Slack signs it anew (another timestamp)', async () => {
    const clock = { now: T0 };
    const { app, handled } = makeApp({ clock });
    expect((await post(app, body, signed(body, T0))).status).toBe(200);
    clock.now = T0 + 1;
    expect((await post(app, body, signed(body, T0 + 1))).status).toBe(200);
    expect(handled()).toBe(2);
  });

  it('once the window has passed, a replay is refused as stale (entries are forgotten safely)', async () => {
    const clock = { now: T0 };
    const { app } = makeApp({ clock, replayWindowSeconds: 60 });
    const headers = signed(body, T0);
    expect((await post(app, body, headers)).status).toBe(200);
    clock.now = T0 + 61;
    // The entry has expired and is evicted, but the request itself is now too old.
    const res = await post(app, body, headers);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).message).toMatch(/more than 60 seconds old/);
  });

  it('keeps the remembered set bounded', async () => {
    const clock = { now: T0 };
    const { app, handled } = makeApp({ clock, maxRemembered: 3 });
    for (let i = 0; i < 10; i++) {
      const b = `${body}&n=${i}`;
      expect((await post(app, b, signed(b, T0))).status).toBe(200);
    }
    expect(handled()).toBe(10);
    // The most recent one is still remembered.
    const last = `${body}&n=9`;
    expect((await post(app, last, signed(last, T0))).status).toBe(401);
  });

  it('rejects an empty signing secret at construction', () => {
    expect(() => requireSlackSignature({ signingSecret: '' })).toThrow(/must not be empty/);
  });
});
