import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GetBucketPolicyCommand, GetBucketTaggingCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import type { Control, Violation } from '../../src/activities/controls/control.js';
import {
  deniesInsecureTransport,
  isTlsDenyStatement,
  s3BucketTlsRequired as control,
  tlsStatement,
  type AddTlsStatementChange,
  type BucketPolicyState,
} from '../../src/activities/controls/s3-bucket-tls-required.js';
import { parsePolicy, statementsOf, type PolicyStatement } from '../../src/activities/controls/policy-statements.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor, makeBucket, REGION } from '../helpers/fixtures.js';
import { testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const ID = 's3-bucket-tls-required' as ControlId;
const finding = (bucket: string, region = REGION): Finding => findingFor(ID, bucket, { region, resource: { type: 'AwsS3Bucket' as ResourceType, id: bucket } });

const livePolicy = async (bucket: string, region = REGION): Promise<string | undefined> =>
  aws
    .s3(region)
    .send(new GetBucketPolicyCommand({ Bucket: bucket }))
    .then((o) => o.Policy)
    .catch((e: { name?: string }) => {
      if (e.name === 'NoSuchBucketPolicy') return undefined;
      throw e;
    });
const putPolicy = (bucket: string, statements: PolicyStatement[], extra: Record<string, unknown> = {}, region = REGION) =>
  aws.s3(region).send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Version: '2012-10-17', ...extra, Statement: statements }) }));
const arn = (bucket: string) => `arn:aws:s3:::${bucket}`;
const partnerRead = (bucket: string): PolicyStatement => ({
  Sid: 'PartnerRead',
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::210987654321:root' },
  Action: ['s3:GetObject', 's3:ListBucket'],
  Resource: [arn(bucket), `${arn(bucket)}/*`],
});
/** The statement AWS documents for S3.5 (Security Hub remediation, Knowledge Center s3-bucket-policy-for-config-rule). */
const documented = (bucket: string): PolicyStatement => ({
  Sid: 'AllowSSLRequestsOnly',
  Action: 's3:*',
  Effect: 'Deny',
  Resource: [arn(bucket), `${arn(bucket)}/*`],
  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  Principal: '*',
});

/** read -> plan -> apply -> re-read + check -> apply again (no-op) -> undo -> checkUndo, as the workflow runs them. */
async function fixAndUndo(c: Control<BucketPolicyState, AddTlsStatementChange>, f: Finding) {
  const before = (await c.read(aws, f)).state;
  const change = c.plan(before, S);
  expect(change).not.toBeNull();
  await c.apply(aws, f, change!);
  const after = (await c.read(aws, f)).state;
  expect(c.check(before, change!, after, S)).toEqual([]);
  await c.apply(aws, f, change!);
  expect((await c.read(aws, f)).state).toEqual(after);
  return { before, change: change!, after };
}

describe('s3-bucket-tls-required against moto', () => {
  it('a bucket without a policy gets one with just the TLS Deny; undo deletes it again', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'data' }, { prefix: 'tls' });
    const f = finding(bucket);
    const read = await control.read(aws, f);
    expect(read.tags).toEqual({ owner: 'data' });
    expect(read.state).toEqual({ bucket, partition: 'aws' });
    expect(control.describe(read.state)).toBe('no bucket policy: requests without TLS are allowed');

    const { change, after } = await fixAndUndo(control, f);
    expect(change).toEqual({ add: tlsStatement(bucket), createsPolicy: true });
    expect(control.summarize(change, f)).toBe(`Add a Deny statement for requests without TLS (aws:SecureTransport false) to a new bucket policy of ${bucket}`);
    expect(statementsOf(parsePolicy(after.policy))).toEqual([
      {
        Sid: 'RectifyDenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [arn(bucket), `${arn(bucket)}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
    expect(control.describe(after)).toBe('bucket policy with 1 statement; denies requests without TLS');
    expect(control.plan(after, S)).toBeNull();

    await control.undo(aws, f, read.state, change);
    expect(await livePolicy(bucket)).toBeUndefined();
    const undone = (await control.read(aws, f)).state;
    expect(control.checkUndo(read.state, change, undone)).toEqual([]);
    await control.undo(aws, f, read.state, change);
    expect(await livePolicy(bucket)).toBeUndefined();
  });

  it('a bucket with a policy keeps every statement and its Id; undo restores the exact policy', async () => {
    const bucket = await makeBucket(aws, undefined, {}, { prefix: 'tls' });
    const publicRead: PolicyStatement = { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `${arn(bucket)}/*` };
    await putPolicy(bucket, [partnerRead(bucket), publicRead], { Id: 'Policy-1' });
    const original = await livePolicy(bucket);
    const f = finding(bucket);

    const { before, change, after } = await fixAndUndo(control, f);
    expect(change.createsPolicy).toBe(false);
    const doc = parsePolicy(after.policy);
    expect(doc?.['Id']).toBe('Policy-1');
    expect(statementsOf(doc)).toEqual([partnerRead(bucket), publicRead, tlsStatement(bucket)]);

    await control.undo(aws, f, before, change);
    expect(await livePolicy(bucket)).toBe(original);
    expect(control.checkUndo(before, change, (await control.read(aws, f)).state)).toEqual([]);
  });

  it('a statement added between plan and apply is kept, and undo then takes out only the added Deny', async () => {
    const bucket = await makeBucket(aws, undefined, {}, { prefix: 'tls' });
    await putPolicy(bucket, [partnerRead(bucket)]);
    const f = finding(bucket);
    const before = (await control.read(aws, f)).state;
    const change = control.plan(before, S)!;

    const logging: PolicyStatement = { Sid: 'LogDelivery', Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject', Resource: `${arn(bucket)}/logs/*` };
    await putPolicy(bucket, [partnerRead(bucket), logging]);
    await control.apply(aws, f, change);
    const after = (await control.read(aws, f)).state;
    expect(statementsOf(parsePolicy(after.policy))).toEqual([partnerRead(bucket), logging, tlsStatement(bucket)]);
    expect(control.check(before, change, after, S)).toEqual([]);

    await control.undo(aws, f, before, change);
    const undone = (await control.read(aws, f)).state;
    expect(statementsOf(parsePolicy(undone.policy))).toEqual([partnerRead(bucket), logging]);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
  });

  it('a bucket whose policy already denies requests without TLS is compliant, in the documented form and in equivalent ones', async () => {
    const bucket = await makeBucket(aws, undefined, {}, { prefix: 'tls' });
    await putPolicy(bucket, [partnerRead(bucket), documented(bucket)]);
    const state = (await control.read(aws, finding(bucket))).state;
    expect(control.plan(state, S)).toBeNull();
    expect(control.describe(state)).toBe('bucket policy with 2 statements; denies requests without TLS');

    await putPolicy(bucket, [{ Effect: 'Deny', Principal: { AWS: '*' }, Action: ['s3:GetObject', 'S3:*'], Resource: '*', Condition: { Bool: { 'aws:securetransport': false } } }]);
    expect(control.plan((await control.read(aws, finding(bucket))).state, S)).toBeNull();
  });

  it('verification names what is missing when the Deny is gone again', async () => {
    const bucket = await makeBucket(aws, undefined, {}, { prefix: 'tls' });
    await putPolicy(bucket, [partnerRead(bucket)]);
    const f = finding(bucket);
    const before = (await control.read(aws, f)).state;
    const change = control.plan(before, S)!;
    await control.apply(aws, f, change);
    await putPolicy(bucket, [documented(bucket)]);
    const after = (await control.read(aws, f)).state;
    expect(control.check(before, change, after, S)).toEqual(['statement that should have stayed is gone: "PartnerRead" Allow arn:aws:iam::210987654321:root s3:GetObject, s3:ListBucket']);
    await putPolicy(bucket, [partnerRead(bucket)]);
    expect(control.check(before, change, (await control.read(aws, f)).state, S)).toEqual(['the bucket policy does not deny requests without TLS (aws:SecureTransport false)']);
  });

  it('a missing bucket is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(control.read(aws, finding(unique('no-such-bucket-tls'))));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });

  it('marking exempt merges the tag into the bucket tags', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'data' }, { prefix: 'tls' });
    await control.tag!(aws, finding(bucket), 'rectify:exempt-until', '2031-01-01');
    const live = await aws.s3(REGION).send(new GetBucketTaggingCommand({ Bucket: bucket }));
    expect(Object.fromEntries((live.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ owner: 'data', 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan pages through the buckets of the region and reports exactly those without a TLS Deny', async () => {
    const region = 'eu-north-1';
    const opts = { region, prefix: unique('tlsscan') };
    const none = await makeBucket(aws, undefined, {}, opts);
    const partial = await makeBucket(aws, undefined, {}, opts);
    await putPolicy(partial, [partnerRead(partial)], {}, region);
    const objectsOnly = await makeBucket(aws, undefined, {}, opts);
    await putPolicy(objectsOnly, [{ ...documented(objectsOnly), Resource: `${arn(objectsOnly)}/*` }], {}, region);
    for (let i = 0; i < 2; i++) {
      const ok = await makeBucket(aws, undefined, {}, opts);
      await putPolicy(ok, [documented(ok)], {}, region);
    }
    const violations: Violation[] = [];
    let pages = 0;
    let pageToken: string | undefined;
    do {
      const page = await control.scanPage(aws, { account: ACCOUNT, region, settings: S, pageSize: 2, ...(pageToken ? { pageToken } : {}) });
      expect(page.scanned).toBeLessThanOrEqual(2);
      violations.push(...page.violations);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken && pages < 1000);
    expect(pages).toBeGreaterThanOrEqual(3);
    const mine = violations.filter((v) => v.resourceId.startsWith(opts.prefix));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([none, partial, objectsOnly].sort());
    expect(mine.find((v) => v.resourceId === none)?.title).toBe(`S3 bucket ${none}: no bucket policy, so requests without TLS are allowed`);
    expect(mine.find((v) => v.resourceId === partial)?.title).toBe(`S3 bucket ${partial}: the bucket policy does not deny requests without TLS`);
    expect(mine.every((v) => v.severity === 'MEDIUM')).toBe(true);
  });
});

describe('s3-bucket-tls-required: what counts as a TLS Deny', () => {
  const B = 'acme-data';
  it.each<[string, PolicyStatement]>([
    ['the documented statement', documented(B)],
    ['Principal {"AWS": "*"}', { ...documented(B), Principal: { AWS: '*' } }],
    ['Principal {"AWS": ["*"]}', { ...documented(B), Principal: { AWS: ['*'] } }],
    ['Action "*"', { ...documented(B), Action: '*' }],
    ['Action in a list, upper case', { ...documented(B), Action: ['S3:*'] }],
    ['Resource "*"', { ...documented(B), Resource: '*' }],
    ['Resource arn:aws:s3:::acme-data*', { ...documented(B), Resource: `${arn(B)}*` }],
    ['Resource arn:aws:s3:::*', { ...documented(B), Resource: ['arn:aws:s3:::*'] }],
    ['the value as a boolean', { ...documented(B), Condition: { Bool: { 'aws:SecureTransport': false } } }],
    ['the value in a list', { ...documented(B), Condition: { Bool: { 'aws:SecureTransport': ['false'] } } }],
    ['the key in lower case', { ...documented(B), Condition: { Bool: { 'aws:securetransport': 'false' } } }],
  ])('accepted: %s', (_what, s) => {
    expect(isTlsDenyStatement(s, B)).toBe(true);
  });

  it.each<[string, PolicyStatement]>([
    ['an Allow', { ...documented(B), Effect: 'Allow' }],
    ['a Deny for one account only', { ...documented(B), Principal: { AWS: 'arn:aws:iam::111122223333:root' } }],
    ['NotPrincipal', { ...documented(B), Principal: undefined, NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' } }],
    ['some actions only', { ...documented(B), Action: ['s3:GetObject', 's3:PutObject'] }],
    ['NotAction', { ...documented(B), Action: undefined, NotAction: 's3:GetObject' }],
    ['the objects only', { ...documented(B), Resource: `${arn(B)}/*` }],
    ['the bucket only', { ...documented(B), Resource: arn(B) }],
    ['a prefix of the objects only', { ...documented(B), Resource: [arn(B), `${arn(B)}/private/*`] }],
    ['another bucket', { ...documented(B), Resource: ['arn:aws:s3:::other', 'arn:aws:s3:::other/*'] }],
    ['aws:SecureTransport true', { ...documented(B), Condition: { Bool: { 'aws:SecureTransport': 'true' } } }],
    ['a further condition', { ...documented(B), Condition: { Bool: { 'aws:SecureTransport': 'false' }, IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } }],
    ['BoolIfExists', { ...documented(B), Condition: { BoolIfExists: { 'aws:SecureTransport': 'false' } } }],
    ['a TLS version condition', { ...documented(B), Condition: { NumericLessThan: { 's3:TlsVersion': '1.2' } } }],
    ['no condition', { ...documented(B), Condition: undefined }],
  ])('not accepted: %s', (_what, s) => {
    expect(isTlsDenyStatement(JSON.parse(JSON.stringify(s)) as PolicyStatement, B)).toBe(false);
  });

  it('the partition of the bucket ARN follows the region', () => {
    const cn = { ...documented(B), Resource: ['arn:aws-cn:s3:::acme-data', 'arn:aws-cn:s3:::acme-data/*'] };
    expect(isTlsDenyStatement(cn, B, 'aws-cn')).toBe(true);
    expect(isTlsDenyStatement(cn, B)).toBe(false);
    expect(deniesInsecureTransport(parsePolicy(JSON.stringify({ Statement: documented(B) })), B)).toBe(true);
  });
});

describe('s3-bucket-tls-required catalog', () => {
  const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;
  const fromCloudTrail = control.catalog!.fromCloudTrail!;

  it('facts', () => {
    const c = control.catalog!;
    expect(c.securityHub).toEqual(['S3.5']);
    expect(c.configRules).toEqual(['s3-bucket-ssl-requests-only']);
    expect(c.cloudTrail).toEqual([{ eventSource: 's3.amazonaws.com', eventNames: ['PutBucketPolicy', 'DeleteBucketPolicy', 'CreateBucket'] }]);
    expect(c.defaultMode).toBe('auto');
    expect(c.severity).toBe('MEDIUM');
    expect(c.resourceType).toBe('AwsS3Bucket');
  });

  it('CloudTrail: a new policy without a TLS Deny, a deleted policy and a new bucket name the bucket; a policy with one is ignored', () => {
    expect(fromCloudTrail(fixture('cloudtrail-s3-put-bucket-policy-public-read'))).toEqual({
      resources: [{ id: 'acme-reports-2026', title: 'Bucket policy of acme-reports-2026 replaced: it may allow requests without TLS' }],
    });
    expect(fromCloudTrail(fixture('cloudtrail-s3-put-bucket-policy-tls-deny'))).toEqual({ ignore: 'the new policy of bucket acme-reports-2026 denies requests without TLS' });
    expect(fromCloudTrail(fixture('cloudtrail-s3-delete-bucket-policy'))).toEqual({
      resources: [{ id: 'acme-reports-2026', title: 'Bucket policy of acme-reports-2026 deleted: requests without TLS are no longer denied' }],
    });
    expect(fromCloudTrail(fixture('cloudtrail-s3-create-bucket'))).toEqual({
      resources: [{ id: 'acme-reports-2026', title: 'New bucket acme-reports-2026 has no policy denying requests without TLS' }],
    });
  });

  it('CloudTrail: a policy logged as a JSON string is read too; a record without a valid bucket names nothing', () => {
    const d = fixture('cloudtrail-s3-put-bucket-policy-tls-deny');
    const params = d['requestParameters'] as Record<string, unknown>;
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, bucketPolicy: JSON.stringify(params['bucketPolicy']) } })).toHaveProperty('ignore');
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, bucketName: 'Not_A_Bucket' } })).toEqual({ resources: [] });
    expect(fromCloudTrail({ ...d, eventName: 'PutBucketAcl' })).toHaveProperty('ignore');
  });

  it('resourceId: bucket names and bucket ARNs; object ARNs and garbage are not buckets', () => {
    const id = control.catalog!.resourceId;
    expect(id('acme-reports-2026')).toBe('acme-reports-2026');
    expect(id('arn:aws:s3:::acme-reports-2026')).toBe('acme-reports-2026');
    expect(id('arn:aws-cn:s3:::acme-reports-2026')).toBe('acme-reports-2026');
    expect(id('arn:aws:s3:::acme-reports-2026/key.txt')).toBeUndefined();
    expect(id('arn:aws:sns:us-east-1:123456789012:topic')).toBeUndefined();
    expect(id('Bad_Bucket')).toBeUndefined();
    expect(id('')).toBeUndefined();
  });
});
