import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackSignature } from '../../../src/slack/signature.js';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = 1_700_000_000;
const BODY = 'payload=%7B%22type%22%3A%22block_actions%22%7D';

const verify = (o: { secret?: string; timestamp?: string | undefined; signature?: string | undefined; body?: string; now?: number; tolerance?: number }) =>
  verifySlackSignature({
    signingSecret: o.secret ?? SECRET,
    timestamp: 'timestamp' in o ? o.timestamp : String(NOW),
    signature: 'signature' in o ? o.signature : signSlackRequest(SECRET, NOW, o.body ?? BODY),
    rawBody: o.body ?? BODY,
    nowSeconds: o.now ?? NOW,
    ...(o.tolerance !== undefined ? { toleranceSeconds: o.tolerance } : {}),
  });

const reasonOf = (r: ReturnType<typeof verifySlackSignature>) => (r.ok ? undefined : r.reason);

describe('signSlackRequest', () => {
  it('is v0= and the hex HMAC-SHA256 of "v0:<timestamp>:<body>" with the signing secret', () => {
    const expected = createHmac('sha256', SECRET).update(`v0:${NOW}:${BODY}`).digest('hex');
    expect(signSlackRequest(SECRET, NOW, BODY)).toBe(`v0=${expected}`);
    expect(signSlackRequest(SECRET, NOW, BODY)).toMatch(/^v0=[0-9a-f]{64}$/);
  });

  it("matches Slack's documented example", () => {
    // The worked example in Slack's "Verifying requests from Slack" guide.
    const secret = '8f742231b10e8888abcd99yyyzzz85a5';
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signSlackRequest(secret, 1531420618, body)).toBe('v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
  });
});

describe('verifySlackSignature', () => {
  it('accepts a valid signature', () => {
    expect(verify({})).toEqual({ ok: true });
  });

  it('accepts uppercase hex and surrounding whitespace in headers', () => {
    const sig = signSlackRequest(SECRET, NOW, BODY);
    expect(verify({ signature: ` v0=${sig.slice(3).toUpperCase()} `, timestamp: ` ${NOW} ` })).toEqual({ ok: true });
  });

  it('refuses a forged signature', () => {
    expect(reasonOf(verify({ signature: `v0=${'0'.repeat(64)}` }))).toBe('signature does not match');
  });

  it('refuses a signature made with another secret', () => {
    expect(reasonOf(verify({ signature: signSlackRequest('another-secret', NOW, BODY) }))).toBe('signature does not match');
    expect(reasonOf(verify({ secret: 'another-secret' }))).toBe('signature does not match');
  });

  it('refuses a tampered body', () => {
    expect(reasonOf(verify({ signature: signSlackRequest(SECRET, NOW, BODY), body: BODY + 'x' }))).toBe('signature does not match');
  });

  it('refuses a signature over another timestamp', () => {
    expect(reasonOf(verify({ signature: signSlackRequest(SECRET, NOW - 1, BODY) }))).toBe('signature does not match');
  });

  it('refuses stale requests (more than 5 minutes old) and accepts the edge', () => {
    const at = (ts: number) => verify({ timestamp: String(ts), signature: signSlackRequest(SECRET, ts, BODY) });
    expect(at(NOW - 300)).toEqual({ ok: true });
    expect(reasonOf(at(NOW - 301))).toMatch(/more than 300 seconds old/);
    expect(reasonOf(at(NOW - 86_400))).toMatch(/old/);
  });

  it('refuses requests from too far in the future', () => {
    const at = (ts: number) => verify({ timestamp: String(ts), signature: signSlackRequest(SECRET, ts, BODY) });
    expect(at(NOW + 300)).toEqual({ ok: true });
    expect(reasonOf(at(NOW + 301))).toMatch(/in the future/);
  });

  it('honours a custom tolerance', () => {
    const ts = NOW - 61;
    expect(reasonOf(verify({ timestamp: String(ts), signature: signSlackRequest(SECRET, ts, BODY), tolerance: 60 }))).toMatch(/more than 60 seconds old/);
  });

  it('names missing headers', () => {
    expect(reasonOf(verify({ timestamp: undefined }))).toBe('missing X-Slack-Request-Timestamp header');
    expect(reasonOf(verify({ signature: undefined }))).toBe('missing X-Slack-Signature header');
    expect(reasonOf(verify({ signature: '' }))).toBe('missing X-Slack-Signature header');
    expect(reasonOf(verify({ timestamp: undefined, signature: undefined }))).toMatch(/missing X-Slack-Request-Timestamp and X-Slack-Signature/);
  });

  it('refuses non-numeric or odd timestamps', () => {
    for (const ts of ['abc', '1.7e9', '-1700000000', '1700000000.5', '0x6553F100', '1700000000abc', '9'.repeat(13), 'Infinity', 'NaN']) {
      expect(reasonOf(verify({ timestamp: ts })), ts).toMatch(/not a whole number of seconds/);
    }
  });

  it('refuses malformed signatures', () => {
    const good = signSlackRequest(SECRET, NOW, BODY);
    for (const sig of [good.slice(3), `v1=${good.slice(3)}`, good.slice(0, -1), `${good}00`, `v0=${'g'.repeat(64)}`, 'v0=']) {
      expect(reasonOf(verify({ signature: sig })), sig).toMatch(/not a v0 signature/);
    }
  });

  it('never puts the secret or the expected signature in a reason', () => {
    const expected = signSlackRequest(SECRET, NOW, BODY);
    const cases = [
      verify({ signature: `v0=${'1'.repeat(64)}` }),
      verify({ signature: 'garbage' }),
      verify({ timestamp: 'x' }),
      verify({ timestamp: String(NOW - 1000), signature: expected }),
      verify({ secret: 'other' }),
    ];
    for (const r of cases) {
      expect(r.ok).toBe(false);
      const reason = reasonOf(r)!;
      expect(reason).not.toContain(SECRET);
      expect(reason).not.toContain(expected.slice(3));
      expect(reason).not.toContain(signSlackRequest('other', NOW, BODY).slice(3));
    }
  });

  it('property: any change to the body makes a valid signature fail', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), (body, other) => {
        fc.pre(body !== other);
        const signature = signSlackRequest(SECRET, NOW, body);
        expect(verifySlackSignature({ signingSecret: SECRET, timestamp: String(NOW), signature, rawBody: body, nowSeconds: NOW })).toEqual({ ok: true });
        expect(verifySlackSignature({ signingSecret: SECRET, timestamp: String(NOW), signature, rawBody: other, nowSeconds: NOW }).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('property: a one-character mutation anywhere in the body fails', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.nat(), fc.string({ minLength: 1, maxLength: 2 }), (body, at, insert) => {
        const i = at % body.length;
        const mutated = body.slice(0, i) + insert + body.slice(i + 1);
        fc.pre(mutated !== body);
        const signature = signSlackRequest(SECRET, NOW, body);
        expect(verifySlackSignature({ signingSecret: SECRET, timestamp: String(NOW), signature, rawBody: mutated, nowSeconds: NOW }).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
