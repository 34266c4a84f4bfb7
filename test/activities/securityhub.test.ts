import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { createSecurityHubActivities, cutNote, NOTE_LIMITS } from '../../src/activities/securityhub.js';
import { ErrorType } from '../../src/errors.js';
import { startSecurityHubStandIn, type SecurityHubStandIn } from '../helpers/securityhub-standin.js';

const REGION = 'us-east-1';
const PRODUCT_ARN = `arn:aws:securityhub:${REGION}::product/aws/securityhub`;
const findingId = (n: string) => `arn:aws:securityhub:${REGION}:123456789012:security-control/S3.8/finding/${n}`;

let standIn: SecurityHubStandIn;
const clients = new Map<string, SecurityHubClient>();
const acts = createSecurityHubActivities({
  client(region) {
    let c = clients.get(region);
    if (!c) {
      c = new SecurityHubClient({ endpoint: standIn.url, region, credentials: { accessKeyId: 'AKIDRECTIFYTEST', secretAccessKey: 'secret' }, maxAttempts: 1 });
      clients.set(region, c);
    }
    return c;
  },
});
const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
type Update = typeof acts.updateSecurityHubFinding;
const update = (...args: Parameters<Update>): ReturnType<Update> => env.run<Parameters<Update>, Awaited<ReturnType<Update>>, Update>(acts.updateSecurityHubFinding, ...args);

beforeAll(async () => {
  standIn = await startSecurityHubStandIn();
});
afterAll(async () => {
  for (const c of clients.values()) c.destroy();
  await standIn.close();
});

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const target = (id: string) => ({ findingId: id, productArn: PRODUCT_ARN, region: REGION });

describe('updateSecurityHubFinding against a BatchUpdateFindings stand-in', () => {
  it('RESOLVED with a note: one signed PATCH /findings/batchupdate naming the finding, and the finding is updated', async () => {
    const id = findingId('resolved-1');
    standIn.addFinding(id, PRODUCT_ARN);
    const before = standIn.requests.length;
    const out = await update(target(id), { status: 'RESOLVED', note: 'rectify turned on Block Public Access for my-bucket; verified.', updatedBy: 'rectify' });
    expect(out).toEqual({ updated: true });

    const reqs = standIn.requests.slice(before);
    expect(reqs).toHaveLength(1);
    const r = reqs[0]!;
    expect(r.method).toBe('PATCH');
    expect(r.path).toBe('/findings/batchupdate');
    expect(r.contentType).toMatch(/^application\/json/);
    expect(r.signed).toBe(true);
    expect(r.body).toEqual({
      FindingIdentifiers: [{ Id: id, ProductArn: PRODUCT_ARN }],
      Workflow: { Status: 'RESOLVED' },
      Note: { Text: 'rectify turned on Block Public Access for my-bucket; verified.', UpdatedBy: 'rectify' },
    });
    const stored = standIn.finding(id, PRODUCT_ARN);
    expect(stored?.Workflow).toEqual({ Status: 'RESOLVED' });
    expect(stored?.Note).toMatchObject({ Text: 'rectify turned on Block Public Access for my-bucket; verified.', UpdatedBy: 'rectify' });
  });

  it('NOTIFIED and SUPPRESSED set those workflow statuses', async () => {
    const id = findingId('notified-1');
    standIn.addFinding(id, PRODUCT_ARN);
    expect(await update(target(id), { status: 'NOTIFIED', note: 'Owner team-iam was asked to enable MFA.', updatedBy: 'rectify' })).toEqual({ updated: true });
    expect(standIn.finding(id, PRODUCT_ARN)?.Workflow.Status).toBe('NOTIFIED');
    expect(await update(target(id), { status: 'SUPPRESSED', note: 'Rejected by U0APPROVER: accepted risk.', updatedBy: 'rectify (rejected by ana)' })).toEqual({ updated: true });
    const stored = standIn.finding(id, PRODUCT_ARN);
    expect(stored?.Workflow.Status).toBe('SUPPRESSED');
    expect(stored?.Note).toMatchObject({ Text: 'Rejected by U0APPROVER: accepted risk.', UpdatedBy: 'rectify (rejected by ana)' });
  });

  it('a finding Security Hub does not know is updated:false with the ErrorCode and ErrorMessage, not a failure', async () => {
    const out = await update(target(findingId('gone')), { status: 'RESOLVED', note: 'fixed', updatedBy: 'rectify' });
    expect(out.updated).toBe(false);
    expect(out.reason).toBe('FindingNotFound: Finding Not Found');
  });

  it('the same Id under another ProductArn is a different finding', async () => {
    const id = findingId('product-scoped');
    standIn.addFinding(id, PRODUCT_ARN);
    const out = await update({ ...target(id), productArn: `arn:aws:securityhub:${REGION}::product/aws/guardduty` }, { status: 'RESOLVED', note: 'fixed', updatedBy: 'rectify' });
    expect(out).toMatchObject({ updated: false, reason: expect.stringContaining('FindingNotFound') });
    expect(standIn.finding(id, PRODUCT_ARN)?.Workflow.Status).toBe('NEW');
  });

  it('AccessDeniedException (403) is a non-retryable AccessDenied failure', async () => {
    const id = findingId('denied');
    standIn.addFinding(id, PRODUCT_ARN);
    standIn.failNext('AccessDeniedException');
    const f = await failureOf(update(target(id), { status: 'RESOLVED', note: 'fixed', updatedBy: 'rectify' }));
    expect(f.type).toBe(ErrorType.AccessDenied);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('BatchUpdateFindings RESOLVED on');
    expect(f.message).toContain('AccessDeniedException');
    expect(f.message).toContain('securityhub:BatchUpdateFindings');
    expect(standIn.finding(id, PRODUCT_ARN)?.Workflow.Status).toBe('NEW');
  });

  it('TooManyRequestsException (429) is a retryable Throttled failure, and the retry then succeeds', async () => {
    const id = findingId('throttled');
    standIn.addFinding(id, PRODUCT_ARN);
    standIn.failNext('TooManyRequestsException');
    const before = standIn.requests.length;
    const f = await failureOf(update(target(id), { status: 'RESOLVED', note: 'fixed', updatedBy: 'rectify' }));
    expect(f.type).toBe(ErrorType.Throttled);
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('TooManyRequestsException');
    // maxAttempts 1: the SDK did not retry on its own; retrying is Temporal's job.
    expect(standIn.requests.length - before).toBe(1);
    expect(await update(target(id), { status: 'RESOLVED', note: 'fixed', updatedBy: 'rectify' })).toEqual({ updated: true });
  });

  it('LimitExceededException (429, the modeled throttle) is Throttled too', async () => {
    standIn.failNext('LimitExceededException');
    const f = await failureOf(update(target(findingId('limit')), { status: 'RESOLVED', note: 'fixed', updatedBy: 'rectify' }));
    expect(f.type).toBe(ErrorType.Throttled);
    expect(f.nonRetryable).toBe(false);
  });

  it('a note longer than 512 characters is cut to 512 with an ellipsis, and the service accepts it', async () => {
    const id = findingId('long-note');
    standIn.addFinding(id, PRODUCT_ARN);
    const long = 'x'.repeat(600);
    const by = 'b'.repeat(700);
    expect(await update(target(id), { status: 'RESOLVED', note: long, updatedBy: by })).toEqual({ updated: true });
    const note = standIn.finding(id, PRODUCT_ARN)!.Note!;
    expect(note.Text).toHaveLength(NOTE_LIMITS.text);
    expect(note.Text.endsWith('…')).toBe(true);
    expect(note.Text.startsWith('x'.repeat(511))).toBe(true);
    expect(note.UpdatedBy).toHaveLength(NOTE_LIMITS.updatedBy);
  });

  it('a note of exactly 512 characters is sent unchanged; a blank note or updatedBy gets a default', async () => {
    const id = findingId('exact-note');
    standIn.addFinding(id, PRODUCT_ARN);
    const exact = 'y'.repeat(512);
    await update(target(id), { status: 'NOTIFIED', note: exact, updatedBy: 'rectify' });
    expect(standIn.finding(id, PRODUCT_ARN)!.Note!.Text).toBe(exact);
    await update(target(id), { status: 'RESOLVED', note: '   ', updatedBy: '' });
    expect(standIn.finding(id, PRODUCT_ARN)!.Note).toMatchObject({ Text: 'Workflow status set to RESOLVED by rectify', UpdatedBy: 'rectify' });
  });

  it('the stand-in refuses a note over 512 characters, as the service does (so truncation is what makes it pass)', async () => {
    const res = await fetch(`${standIn.url}/findings/batchupdate`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ FindingIdentifiers: [{ Id: 'a', ProductArn: PRODUCT_ARN }], Note: { Text: 'z'.repeat(513), UpdatedBy: 'rectify' } }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('InvalidInputException');
  });

  it('a bad target or status fails non-retryably before calling AWS', async () => {
    const before = standIn.requests.length;
    const f = await failureOf(update({ findingId: '', productArn: PRODUCT_ARN, region: REGION }, { status: 'RESOLVED', note: 'n', updatedBy: 'rectify' }));
    expect(f.nonRetryable).toBe(true);
    const g = await failureOf(update(target(findingId('x')), { status: 'NEW' as never, note: 'n', updatedBy: 'rectify' }));
    expect(g.nonRetryable).toBe(true);
    expect(standIn.requests.length).toBe(before);
  });
});

describe('cutNote', () => {
  it('never splits a surrogate pair and never exceeds the limit', () => {
    const s = 'a'.repeat(510) + '😀😀😀';
    const out = cutNote(s, 512);
    expect(out.length).toBeLessThanOrEqual(512);
    expect(out).toBe('a'.repeat(510) + '…');
    expect(cutNote('short', 512)).toBe('short');
  });
});
