import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { isWorldOpenCidr } from '../../../src/findings/cloudtrail.js';
import type { Finding } from '../../../src/findings/finding.js';
import { normalizeEventBridgeEvent } from '../../../src/findings/index.js';

// ---- helpers (kept local: each test file stands alone) ---------------------------------
type Path = readonly (string | number)[];
const REMOVE = Symbol('remove');

function load(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../fixtures/events/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

/** A deep copy of `base` with the value at `path` replaced (or removed with REMOVE). */
function edit(base: unknown, path: Path, value: unknown): Record<string, unknown> {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvalidInputError) return e.problems;
    throw e;
  }
  throw new Error('expected an InvalidInputError');
}

function only(body: unknown): Finding {
  const result = normalizeEventBridgeEvent(body);
  expect(result.ignored).toEqual([]);
  expect(result.findings).toHaveLength(1);
  return result.findings[0] as Finding;
}
// ----------------------------------------------------------------------------------------

const createBucket = load('cloudtrail-s3-create-bucket.json');
const putBucketAcl = load('cloudtrail-s3-put-bucket-acl.json');
const deletePab = load('cloudtrail-s3-delete-bucket-public-access-block.json');
const putPabPartial = load('cloudtrail-s3-put-bucket-public-access-block-partial.json');
const putPabFull = load('cloudtrail-s3-put-bucket-public-access-block-full.json');
const accessDenied = load('cloudtrail-s3-create-bucket-access-denied.json');
const putVersioning = load('cloudtrail-s3-put-bucket-versioning.json');
const sgWorldOpen = load('cloudtrail-ec2-authorize-sg-ingress-world-open.json');
const sgPrivate = load('cloudtrail-ec2-authorize-sg-ingress-private.json');
const sgFlatCidr = load('cloudtrail-ec2-authorize-sg-ingress-flat-cidr.json');

const BUCKET = { type: 'AwsS3Bucket', id: 'acme-reports-2026' } as const;

describe('CloudTrail: S3', () => {
  it('CreateBucket -> s3-block-public-access finding with every field', () => {
    expect(only(createBucket)).toEqual({
      id: '0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60',
      source: 'cloudtrail',
      control: 's3-block-public-access',
      account: '123456789012',
      region: 'us-east-1',
      resource: BUCKET,
      severity: 'HIGH',
      title: 'S3 bucket acme-reports-2026 was created; its public access block must be verified',
      observedAt: '2026-11-23T10:00:01.000Z',
      state: 'active',
      origin: {
        eventName: 'CreateBucket',
        eventSource: 's3.amazonaws.com',
        eventId: '0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60',
        actor: 'arn:aws:sts::123456789012:assumed-role/Developer/jane',
      },
    });
  });

  it('PutBucketAcl -> finding', () => {
    const f = only(putBucketAcl);
    expect(f).toMatchObject({
      id: '1e7a3b5c-9d2f-4c6e-8a1b-3d5f7e9a2c4b',
      control: 's3-block-public-access',
      resource: BUCKET,
      title: 'The ACL of S3 bucket acme-reports-2026 was changed',
      observedAt: '2026-11-23T10:05:10.000Z',
      state: 'active',
    });
    expect(f.origin).toEqual({
      eventName: 'PutBucketAcl',
      eventSource: 's3.amazonaws.com',
      eventId: '1e7a3b5c-9d2f-4c6e-8a1b-3d5f7e9a2c4b',
      actor: 'arn:aws:iam::123456789012:user/ops-bot',
    });
  });

  it('DeleteBucketPublicAccessBlock -> finding', () => {
    expect(only(deletePab)).toMatchObject({
      id: '3f5a7c9e-1b3d-4f6a-8c0e-2a4c6e8a0b2d',
      control: 's3-block-public-access',
      resource: BUCKET,
      title: 'The public access block of S3 bucket acme-reports-2026 was deleted',
    });
  });

  it('PutBucketPublicAccessBlock with some settings off -> finding', () => {
    expect(only(putPabPartial)).toMatchObject({
      id: '43258a7e-eef1-44ef-9aff-1e5b4cfd825d',
      control: 's3-block-public-access',
      resource: BUCKET,
      title: 'The public access block of S3 bucket acme-reports-2026 was set without all four settings on',
    });
  });

  it('PutBucketPublicAccessBlock with all four settings on -> ignored (our own remediation looks like this)', () => {
    expect(normalizeEventBridgeEvent(putPabFull)).toEqual({
      findings: [],
      ignored: [{ reason: 'public access block fully on', ref: '6c8e0a2c-4e6a-4c8e-a0c2-4e6a8c0e2a4c' }],
    });
  });

  it('is lenient on the casing of the configuration keys and on "true" strings', () => {
    const body = edit(putPabFull, ['detail', 'requestParameters', 'PublicAccessBlockConfiguration'], REMOVE);
    const lenient = edit(body, ['detail', 'requestParameters', 'publicAccessBlockConfiguration'], {
      blockPublicAcls: 'true',
      ignorePublicAcls: true,
      blockPublicPolicy: 'TRUE',
      restrictPublicBuckets: true,
    });
    expect(normalizeEventBridgeEvent(lenient).ignored[0]?.reason).toBe('public access block fully on');
  });

  it.each([
    ['one setting missing', { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true }],
    ['one setting false', { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: false }],
    ['a number instead of a boolean', { BlockPublicAcls: 1, IgnorePublicAcls: 1, BlockPublicPolicy: 1, RestrictPublicBuckets: 1 }],
    ['not an object', 'all on'],
  ])('PutBucketPublicAccessBlock with %s -> finding', (_name, config) => {
    const body = edit(putPabFull, ['detail', 'requestParameters', 'PublicAccessBlockConfiguration'], config);
    expect(only(body).control).toBe('s3-block-public-access');
  });

  it('PutBucketPublicAccessBlock without a configuration -> finding (triage reads the bucket)', () => {
    const body = edit(putPabFull, ['detail', 'requestParameters', 'PublicAccessBlockConfiguration'], REMOVE);
    expect(only(body).resource).toEqual(BUCKET);
  });

  it('a failed call (errorCode) -> ignored, even with an invalid bucket name', () => {
    expect(normalizeEventBridgeEvent(accessDenied)).toEqual({
      findings: [],
      ignored: [{ reason: 'the call failed (AccessDenied); nothing changed', ref: '8e0a2c4e-6a8c-4e0a-8c4e-6a8c0e2a4c6e' }],
    });
    const badName = edit(accessDenied, ['detail', 'requestParameters', 'bucketName'], 'Invalid_Name');
    expect(normalizeEventBridgeEvent(badName).ignored).toHaveLength(1);
  });

  it('other S3 events -> ignored', () => {
    expect(normalizeEventBridgeEvent(putVersioning)).toEqual({
      findings: [],
      ignored: [{ reason: 'event PutBucketVersioning is not remediated', ref: '9f1b3d5f-7b9d-4f1b-9d5f-7b9d1f3b5d7f' }],
    });
  });

  it('other services -> ignored', () => {
    let body = edit(putVersioning, ['source'], 'aws.iam');
    body = edit(body, ['detail', 'eventSource'], 'iam.amazonaws.com');
    body = edit(body, ['detail', 'eventName'], 'CreateUser');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe('event CreateUser is not remediated');
  });

  it('takes the bucket from detail.resources when requestParameters lacks it', () => {
    const body = edit(putBucketAcl, ['detail', 'requestParameters', 'bucketName'], REMOVE);
    expect(only(body).resource).toEqual(BUCKET);
  });

  it('rejects an event naming no bucket', () => {
    const body = edit(createBucket, ['detail', 'requestParameters', 'bucketName'], REMOVE);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual(['detail.requestParameters.bucketName: is missing']);
  });

  it.each([
    ['My_Bucket', 'may contain only lowercase letters, digits, dots and hyphens'],
    ['ab', 'must be 3 to 63 characters long'],
    ['a'.repeat(64), 'must be 3 to 63 characters long'],
    ['-bucket', 'must begin and end with a letter or digit'],
    ['my..bucket', 'must not contain two adjacent dots'],
    ['192.168.5.4', 'must not be formatted as an IP address'],
    ['xn--bucket', 'must not start with the reserved prefix xn--'],
    ['bucket-s3alias', 'must not end with the reserved suffix -s3alias'],
  ])('rejects bucket name %j', (name, reason) => {
    const body = edit(createBucket, ['detail', 'requestParameters', 'bucketName'], name);
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('detail.requestParameters.bucketName: is not a valid S3 bucket name');
    expect(problems[0]).toContain(reason);
  });

  it('uses the envelope account and region when the record lacks them', () => {
    let body = edit(createBucket, ['detail', 'recipientAccountId'], REMOVE);
    body = edit(body, ['detail', 'awsRegion'], REMOVE);
    body = edit(body, ['account'], '210987654321');
    body = edit(body, ['region'], 'eu-central-1');
    expect(only(body)).toMatchObject({ account: '210987654321', region: 'eu-central-1' });
  });

  it('prefers recipientAccountId and awsRegion over the envelope', () => {
    let body = edit(createBucket, ['detail', 'recipientAccountId'], '210987654321');
    body = edit(body, ['detail', 'awsRegion'], 'us-gov-west-1');
    expect(only(body)).toMatchObject({ account: '210987654321', region: 'us-gov-west-1' });
  });

  it('omits the actor when userIdentity has no arn', () => {
    const body = edit(createBucket, ['detail', 'userIdentity'], { type: 'AWSService', invokedBy: 'cloudformation.amazonaws.com' });
    expect(only(body).origin).not.toHaveProperty('actor');
  });

  it('rejects a source that does not agree with eventSource', () => {
    const body = edit(createBucket, ['source'], 'aws.ec2');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'source: "aws.ec2" does not match detail.eventSource "s3.amazonaws.com"; expected "aws.s3"',
    ]);
  });

  it('lists every problem of the record at once', () => {
    let body = edit(createBucket, ['detail', 'eventID'], REMOVE);
    body = edit(body, ['detail', 'eventTime'], 1700000000);
    body = edit(body, ['detail', 'recipientAccountId'], '12');
    body = edit(body, ['detail', 'awsRegion'], 'moon');
    body = edit(body, ['detail', 'eventName'], ['CreateBucket']);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'detail.eventID: is missing',
      'detail.eventName: must be a string, got an array',
      'detail.eventTime: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got 1700000000',
      'detail.recipientAccountId: must be a 12-digit AWS account id, got "12"',
      'detail.awsRegion: must be an AWS region such as us-east-1, got "moon"',
    ]);
  });
});

describe('CloudTrail: EC2 AuthorizeSecurityGroupIngress', () => {
  const SG = { type: 'AwsEc2SecurityGroup', id: 'sg-0a1b2c3d4e5f60718' } as const;

  it('a world-open rule -> ec2-sg-admin-ports-open finding with every field', () => {
    expect(only(sgWorldOpen)).toEqual({
      id: 'ed2b58c7-5b71-49d8-912d-66b695f0e2a7',
      source: 'cloudtrail',
      control: 'ec2-sg-admin-ports-open',
      account: '123456789012',
      region: 'us-east-1',
      resource: SG,
      severity: 'HIGH',
      title: 'Security group sg-0a1b2c3d4e5f60718 was opened to the internet (0.0.0.0/0 or ::/0)',
      observedAt: '2026-11-23T11:00:01.000Z',
      state: 'active',
      origin: {
        eventName: 'AuthorizeSecurityGroupIngress',
        eventSource: 'ec2.amazonaws.com',
        eventId: 'ed2b58c7-5b71-49d8-912d-66b695f0e2a7',
        actor: 'arn:aws:sts::123456789012:assumed-role/Developer/jane',
      },
    });
  });

  it('no world-open range -> ignored', () => {
    expect(normalizeEventBridgeEvent(sgPrivate)).toEqual({
      findings: [],
      ignored: [{ reason: 'no world-open range in the request', ref: '83292173-2287-4fd0-8887-8087936027f9' }],
    });
  });

  it('the older flat form with a /0 on any address -> finding', () => {
    expect(only(sgFlatCidr)).toMatchObject({
      id: '9fd68588-ecbf-4528-a345-199fa6bb0821',
      resource: { type: 'AwsEc2SecurityGroup', id: 'sg-003dc7f1f1c686164' },
    });
  });

  it('the older flat form with a private range -> ignored', () => {
    let body = edit(sgFlatCidr, ['detail', 'requestParameters', 'cidrIp'], '10.0.0.0/8');
    body = edit(body, ['detail', 'responseElements'], { _return: true });
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe('no world-open range in the request');
  });

  it('an IPv6 ::/0 range -> finding', () => {
    const body = edit(sgPrivate, ['detail', 'requestParameters', 'ipPermissions', 'items', 1, 'ipv6Ranges'], {
      items: [{ cidrIpv6: '::/0' }],
    });
    expect(only(body).resource).toEqual({ type: 'AwsEc2SecurityGroup', id: 'sg-0123456789abcdef0' });
  });

  it('a world-open range reported only in the response -> finding', () => {
    const body = edit(sgPrivate, ['detail', 'responseElements', 'securityGroupRuleSet', 'items', 0, 'cidrIpv4'], '0.0.0.0/0');
    expect(normalizeEventBridgeEvent(body).findings).toHaveLength(1);
  });

  it('a prefix list source -> finding (the list may hold 0.0.0.0/0)', () => {
    const body = edit(sgPrivate, ['detail', 'requestParameters', 'ipPermissions', 'items', 0, 'prefixListIds'], {
      items: [{ prefixListId: 'pl-0123456789abcdef0' }],
    });
    expect(normalizeEventBridgeEvent(body).findings).toHaveLength(1);
  });

  it.each([
    ['a string', 'garbage'],
    ['an empty object', {}],
    ['items that are not objects', { items: [1, 2] }],
  ])('ipPermissions that cannot be read (%s) -> finding (triage reads the live group)', (_name, permissions) => {
    let body = edit(sgPrivate, ['detail', 'requestParameters', 'ipPermissions'], permissions);
    body = edit(body, ['detail', 'responseElements'], null);
    expect(only(body).title).toBe(
      'An ingress rule was added to security group sg-0123456789abcdef0; it must be checked for world-open admin ports',
    );
  });

  it('accepts ipPermissions as a bare array', () => {
    let body = edit(sgPrivate, ['detail', 'requestParameters', 'ipPermissions'], [
      { ipProtocol: 'tcp', fromPort: 22, toPort: 22, ipRanges: [{ cidrIp: '0.0.0.0/0' }] },
    ]);
    body = edit(body, ['detail', 'responseElements'], null);
    expect(normalizeEventBridgeEvent(body).findings).toHaveLength(1);
  });

  it('takes the group id from the response when the request lacks it', () => {
    const body = edit(sgWorldOpen, ['detail', 'requestParameters', 'groupId'], REMOVE);
    expect(only(body).resource).toEqual(SG);
  });

  it('no group id anywhere -> ignored with a reason', () => {
    let body = edit(sgWorldOpen, ['detail', 'requestParameters', 'groupId'], REMOVE);
    body = edit(body, ['detail', 'requestParameters', 'groupName'], 'default');
    body = edit(body, ['detail', 'responseElements'], { _return: true });
    expect(normalizeEventBridgeEvent(body).ignored).toEqual([
      {
        reason: 'no security group id in the request or the response (a request by group name?)',
        ref: 'ed2b58c7-5b71-49d8-912d-66b695f0e2a7',
      },
    ]);
  });

  it.each(['sg-123', 'sg-0A1B2C3D4E5F60718', 'i-0123456789abcdef0', 'sg-0123456789abcdef0123'])('rejects group id %j', (groupId) => {
    const body = edit(sgWorldOpen, ['detail', 'requestParameters', 'groupId'], groupId);
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems).toEqual([
      `detail.requestParameters.groupId: must be a security group id (sg- and 8 or 17 hex digits), got "${groupId}"`,
    ]);
  });

  it('rejects an EC2 event whose source is not aws.ec2', () => {
    const body = edit(sgWorldOpen, ['source'], 'aws.s3');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'source: "aws.s3" does not match detail.eventSource "ec2.amazonaws.com"; expected "aws.ec2"',
    ]);
  });

  it('scans at most 1000 ipPermissions items: a longer private list is not trusted as private', () => {
    const items = Array.from({ length: 50_000 }, () => ({ ipRanges: { items: [{ cidrIp: '10.0.0.0/8' }] } }));
    let body = edit(sgPrivate, ['detail', 'requestParameters', 'ipPermissions'], { items });
    body = edit(body, ['detail', 'responseElements'], null);
    const started = Date.now();
    expect(normalizeEventBridgeEvent(body).findings).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('other EC2 events -> ignored', () => {
    const body = edit(sgWorldOpen, ['detail', 'eventName'], 'RevokeSecurityGroupIngress');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe('event RevokeSecurityGroupIngress is not remediated');
  });
});

describe('isWorldOpenCidr', () => {
  it.each(['0.0.0.0/0', '::/0', ' 0.0.0.0/0 ', '203.0.113.254/0', '10.0.0.0/00', '2001:db8::/0'])('%j is world-open', (cidr) => {
    expect(isWorldOpenCidr(cidr)).toBe(true);
  });
  it.each(['10.0.0.0/8', '0.0.0.0/1', '::/1', '0.0.0.0', '/0', '0.0.0.0/0/0', 'garbage', ''])('%j is not', (cidr) => {
    expect(isWorldOpenCidr(cidr)).toBe(false);
  });
});
