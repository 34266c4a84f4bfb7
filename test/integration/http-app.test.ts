import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/triggers/http/app.js';
import { scanRequestWorkflowId, type SubmitResult, type Submitter } from '../../src/triggers/submit.js';
import type { ScanRequest } from '../../src/findings/validate.js';
import { workflowIdFor, type Finding } from '../../src/findings/finding.js';
import { silentLogger } from '../../src/log.js';

const TOKEN = 'a-webhook-token-of-32-characters';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8');

/** Records what the routes hand to Temporal; the Temporal side is covered by the workflow and full-stack tests. */
function recordingSubmitter(fail = false) {
  const submitted: Finding[] = [];
  const scans: ScanRequest[] = [];
  const submitter: Submitter = {
    async submit(f): Promise<SubmitResult> {
      if (fail) throw new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:7233');
      submitted.push(f);
      return { findingId: f.id, workflowId: workflowIdFor(f), runId: 'run-1', status: 'started' };
    },
    async requestScan(r) {
      if (fail) throw new Error('14 UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:7233');
      scans.push(r);
      return { control: r.control, account: r.account, region: r.region, workflowId: scanRequestWorkflowId(r), status: 'started' };
    },
  };
  return { submitted, scans, submitter };
}

function app(o: { fail?: boolean; healthy?: boolean; bodyLimitBytes?: number } = {}) {
  const rec = recordingSubmitter(o.fail);
  const a = createApp({ submitter: rec.submitter, webhookToken: TOKEN, bodyLimitBytes: o.bodyLimitBytes ?? 256 * 1024, logger: silentLogger, temporalHealthy: async () => o.healthy ?? true });
  return { ...rec, app: a };
}

const post = (a: ReturnType<typeof app>['app'], path: string, body: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
  a.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

describe('trigger HTTP API (in-process)', () => {
  it('accepts a CloudTrail event and answers 202 with the workflow it started', async () => {
    const { app: a, submitted } = app();
    const res = await post(a, '/v1/events', fixture('cloudtrail-s3-delete-bucket-public-access-block'));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; findings: SubmitResult[] };
    expect(body.accepted).toBe(1);
    expect(body.findings[0]!.workflowId).toBe('finding/123456789012/us-east-1/s3-block-public-access/acme-reports-2026');
    expect(submitted[0]!.source).toBe('cloudtrail');
  });

  it('starts a scan of the account and region for a finding on the whole account (Security Hub EC2.1), and answers 503 when it cannot', async () => {
    const { app: a, submitted, scans } = app();
    const res = await post(a, '/v1/events', fixture('securityhub-ec2-1-failed'));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; scans: { workflowId: string; status: string }[]; ignored: unknown[] };
    expect(submitted).toHaveLength(0);
    expect(scans).toMatchObject([{ control: 'ec2-ebs-snapshot-public', account: '123456789012', region: 'eu-central-1' }]);
    expect(body).toMatchObject({ accepted: 0, ignored: [], scans: [{ workflowId: 'scan-request/123456789012/eu-central-1/ec2-ebs-snapshot-public', status: 'started' }] });
    const down = app({ fail: true });
    const failed = await post(down.app, '/v1/events', fixture('securityhub-ec2-1-failed'));
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('5');
  });

  it('accepts the token as x-api-key (EventBridge API destination API-key auth)', async () => {
    const { app: a } = app();
    const res = await post(a, '/v1/events', fixture('securityhub-s3-8-failed'), { 'x-api-key': TOKEN });
    expect(res.status).toBe(202);
  });

  it.each([
    ['missing', {}],
    ['wrong bearer', { authorization: 'Bearer not-the-token-at-all-but-long' }],
    ['wrong api key', { 'x-api-key': `${TOKEN}x` }],
    ['basic scheme', { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
  ])('refuses %s credentials with 401 and starts nothing', async (_name, headers) => {
    const { app: a, submitted } = app();
    const res = await post(a, '/v1/events', fixture('cloudtrail-s3-create-bucket'), headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    expect(submitted).toHaveLength(0);
    expect(JSON.stringify(await res.json())).not.toContain(TOKEN);
  });

  it('names the problem for a body that is not JSON', async () => {
    const { app: a, submitted } = app();
    const res = await post(a, '/v1/events', '{"detail-type": ');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    expect(submitted).toHaveLength(0);
  });

  it('refuses a non-JSON content type with 415', async () => {
    const { app: a } = app();
    const res = await a.request('/v1/events', { method: 'POST', body: 'x=1', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
  });

  it('answers 422 naming an unknown detail-type and starts nothing', async () => {
    const { app: a, submitted } = app();
    const event = { ...JSON.parse(fixture('cloudtrail-s3-create-bucket')), 'detail-type': 'EC2 Instance State-change Notification', source: 'aws.ec2' };
    const res = await post(a, '/v1/events', JSON.stringify(event));
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { problems: string[] } };
    expect(body.error.problems.join(' ')).toContain('EC2 Instance State-change Notification');
    expect(submitted).toHaveLength(0);
  });

  it('answers 422 listing every problem of a generic finding, including an unsupported control', async () => {
    const { app: a, submitted } = app();
    const res = await post(a, '/v1/findings', JSON.stringify({ id: 'x', control: 'iam-root-mfa', account: '12', region: 'mars-1', resource: { id: 'b' } }));
    expect(res.status).toBe(422);
    const problems = ((await res.json()) as { error: { problems: string[] } }).error.problems.join('\n');
    expect(problems).toContain('iam-root-mfa');
    expect(problems).toContain('account');
    expect(problems).toContain('region');
    expect(submitted).toHaveLength(0);
  });

  it('acknowledges a valid event it does not act on as ignored, not an error', async () => {
    const { app: a, submitted } = app();
    const res = await post(a, '/v1/events', fixture('cloudtrail-s3-put-bucket-public-access-block-full'));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; ignored: { reason: string }[] };
    expect(body.accepted).toBe(0);
    expect(body.ignored[0]!.reason).toMatch(/public access block/i);
    expect(submitted).toHaveLength(0);
  });

  it('refuses a body over the limit with 413', async () => {
    const { app: a } = app({ bodyLimitBytes: 2048 });
    const res = await post(a, '/v1/findings', JSON.stringify({ pad: 'x'.repeat(4096) }));
    expect(res.status).toBe(413);
  });

  it('answers 503 with Retry-After when Temporal cannot be reached, leaking no internals', async () => {
    const { app: a } = app({ fail: true });
    const res = await post(a, '/v1/events', fixture('cloudtrail-s3-create-bucket'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.text()).not.toContain('ECONNREFUSED');
  });

  it('reports Temporal reachability on /healthz without authentication', async () => {
    expect((await app({ healthy: true }).app.request('/healthz')).status).toBe(200);
    const down = await app({ healthy: false }).app.request('/healthz');
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'degraded', temporal: 'unreachable' });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await app().app.request('/v2/whatever');
    expect(res.status).toBe(404);
  });
});
