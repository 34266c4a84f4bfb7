/**
 * The Slack stand-in, driven by the real @slack/web-api WebClient over HTTP: if these pass,
 * code using WebClient sees the stand-in as it would see Slack.
 */
import { ErrorCode, LogLevel, WebClient, WebClientEvent, type WebAPIPlatformError, type WebAPIRateLimitedError } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalRequestMessage, decidedMessage, type ApprovalView } from '../../../src/slack/blocks.js';
import { startSlackStandIn, type SlackStandIn } from '../../helpers/slack-standin.js';

const TOKEN = 'xoxb-test-token';
const CHANNEL = 'C0APPROVE';

const VIEW: ApprovalView = {
  workflowId: 'finding/123456789012/us-east-1/s3-block-public-access/my-bucket',
  runId: 'run-1',
  title: 'Bucket is public',
  control: 's3-block-public-access',
  resourceId: 'my-bucket',
  account: '123456789012',
  region: 'us-east-1',
  severity: 'CRITICAL',
  currentState: 'BlockPublicAcls=false',
  proposedChange: 'PutPublicAccessBlock all=true',
  reasons: ['production account'],
  approvers: ['U0APPROVER'],
};

let slack: SlackStandIn;
let client: WebClient;

beforeAll(async () => {
  slack = await startSlackStandIn({ token: TOKEN, usergroups: { S0SECOPS: ['U0ONE', 'U0TWO'] } });
  client = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
});
afterAll(async () => {
  await slack.close();
});

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; data?: { error?: string }; retryAfter?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to fail');
}

describe('Slack stand-in with a real WebClient', () => {
  it('answers auth.test', async () => {
    const r = await client.auth.test();
    expect(r.ok).toBe(true);
    expect(r.user_id).toMatch(/^U/);
    expect(slack.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/$/);
  });

  it('posts a message with blocks, records the decoded call and returns channel and ts', async () => {
    const msg = approvalRequestMessage(VIEW);
    const r = await client.chat.postMessage({ channel: CHANNEL, text: msg.text, blocks: msg.blocks as never });
    expect(r.ok).toBe(true);
    expect(r.channel).toBe(CHANNEL);
    expect(r.ts).toMatch(/^1700000000\.\d{6}$/);
    expect(r.message?.text).toBe(msg.text);

    const call = slack.calls.at(-1)!;
    expect(call.method).toBe('chat.postMessage');
    expect(call.args).toMatchObject({ channel: CHANNEL, text: msg.text });
    expect(call.args.blocks).toEqual(msg.blocks); // form-encoded JSON string, parsed back
    expect(call.args).not.toHaveProperty('token');
    expect(slack.messages(CHANNEL).at(-1)).toEqual({ ts: r.ts, text: msg.text, blocks: msg.blocks });
  });

  it('assigns increasing ts values and keeps thread replies', async () => {
    const a = await client.chat.postMessage({ channel: 'C0THREAD', text: 'parent' });
    const b = await client.chat.postMessage({ channel: 'C0THREAD', text: 'reply', thread_ts: a.ts! });
    expect(Number(b.ts)).toBeGreaterThan(Number(a.ts));
    expect(slack.messages('C0THREAD')).toEqual([
      { ts: a.ts, text: 'parent' },
      { ts: b.ts, text: 'reply', thread_ts: a.ts },
    ]);
  });

  it('updates a message in place', async () => {
    const posted = await client.chat.postMessage({ channel: 'C0UPDATE', ...approvalRequestMessage(VIEW), blocks: approvalRequestMessage(VIEW).blocks as never });
    const decided = decidedMessage(VIEW, { decision: 'approve', by: { id: 'U0APPROVER', name: 'ana' }, at: '2023-11-14T22:20:00Z' });
    const r = await client.chat.update({ channel: 'C0UPDATE', ts: posted.ts!, text: decided.text, blocks: decided.blocks as never });
    expect(r).toMatchObject({ ok: true, channel: 'C0UPDATE', ts: posted.ts, text: decided.text });
    const messages = slack.messages('C0UPDATE');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toEqual({ ts: posted.ts, text: decided.text, blocks: decided.blocks });
  });

  it('answers message_not_found for an unknown ts', async () => {
    const err = await rejection(client.chat.update({ channel: CHANNEL, ts: '1.000000', text: 'x' }));
    expect(err.code).toBe(ErrorCode.PlatformError);
    expect((err as WebAPIPlatformError).data.error).toBe('message_not_found');
    expect(slack.calls.at(-1)).toMatchObject({ method: 'chat.update', error: 'message_not_found' });
  });

  it('posts an ephemeral message (not stored in the channel)', async () => {
    const before = slack.messages(CHANNEL).length;
    const r = await client.chat.postEphemeral({ channel: CHANNEL, user: 'U0SOMEONE', text: 'You may not approve this.' });
    expect(r.ok).toBe(true);
    expect(r.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(slack.messages(CHANNEL)).toHaveLength(before);
    expect(slack.calls.at(-1)).toMatchObject({ method: 'chat.postEphemeral', args: { channel: CHANNEL, user: 'U0SOMEONE' } });
  });

  it('lists user group members', async () => {
    const r = await client.usergroups.users.list({ usergroup: 'S0SECOPS' });
    expect(r.users).toEqual(['U0ONE', 'U0TWO']);
    const err = await rejection(client.usergroups.users.list({ usergroup: 'S0NOPE' }));
    expect((err as WebAPIPlatformError).data.error).toBe('no_such_subteam');
  });

  it('refuses a wrong token with invalid_auth', async () => {
    const wrong = new WebClient('xoxb-wrong', { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const err = await rejection(wrong.chat.postMessage({ channel: CHANNEL, text: 'hi' }));
    expect(err.code).toBe(ErrorCode.PlatformError);
    expect((err as WebAPIPlatformError).data.error).toBe('invalid_auth');
    const none = new WebClient(undefined, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    expect(((await rejection(none.auth.test())) as WebAPIPlatformError).data.error).toBe('not_authed');
  });

  it('injects error codes for the next N calls of a method', async () => {
    slack.failNext('chat.postMessage', 2, 'channel_not_found');
    for (let i = 0; i < 2; i++) expect(((await rejection(client.chat.postMessage({ channel: CHANNEL, text: 'x' }))) as WebAPIPlatformError).data.error).toBe('channel_not_found');
    expect((await client.chat.postMessage({ channel: CHANNEL, text: 'x' })).ok).toBe(true);
  });

  it('answers 429 + Retry-After: 1, which WebClient surfaces as a rate-limit error', async () => {
    const rejecting = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
    slack.failNext('chat.update', 1, 'ratelimited');
    const err = await rejection(rejecting.chat.update({ channel: CHANNEL, ts: '1.0', text: 'x' }));
    expect(err.code).toBe(ErrorCode.RateLimitedError);
    expect((err as WebAPIRateLimitedError).retryAfter).toBe(1);
    expect(slack.calls.at(-1)).toMatchObject({ method: 'chat.update', error: 'ratelimited' });
  });

  it('with default settings WebClient waits Retry-After, then fails when out of retries, or succeeds on retry', async () => {
    const limited: number[] = [];
    client.on(WebClientEvent.RATE_LIMITED, (sec: number) => limited.push(sec));
    slack.failNext('chat.postMessage', 1, 'ratelimited');
    const started = Date.now();
    const err = await rejection(client.chat.postMessage({ channel: CHANNEL, text: 'x' }));
    expect(err.message).toMatch(/rate limit/i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(limited).toEqual([1]);

    const retrying = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 1, minTimeout: 0, maxTimeout: 0 }, logLevel: LogLevel.ERROR });
    slack.failNext('chat.postMessage', 1, 'ratelimited');
    const calls = slack.calls.length;
    const r = await retrying.chat.postMessage({ channel: 'C0RETRY', text: 'after the limit' });
    expect(r.ok).toBe(true);
    expect(slack.calls.slice(calls).map((c) => c.error ?? 'ok')).toEqual(['ratelimited', 'ok']);
    expect(slack.messages('C0RETRY')).toHaveLength(1);
  });

  it('accepts JSON bodies too', async () => {
    const res = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: 'C0JSON', text: 'json', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }] }),
    });
    const body = (await res.json()) as { ok: boolean; ts: string };
    expect(body.ok).toBe(true);
    expect(slack.messages('C0JSON')).toEqual([{ ts: body.ts, text: 'json', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }] }]);
  });
});
