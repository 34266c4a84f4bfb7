import { describe, expect, it } from 'vitest';
import { isWorldOpenCidr } from '../../../src/findings/cloudtrail.js';
import { normalizeEventBridgeEvent } from '../../../src/findings/index.js';
import { REMOVE, byControl, edit, load, only, problemsOf } from './helpers.js';

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

/** The finding of one control among those an event yields. */
function findingFor(body: unknown, control: string) {
  const f = normalizeEventBridgeEvent(body).findings.find((x) => x.control === control);
  if (f === undefined) throw new Error(`no ${control} finding`);
  return f;
}

describe('CloudTrail: S3', () => {
  it('CreateBucket -> s3-block-public-access finding with every field', () => {
    expect(byControl(createBucket)['s3-block-public-access']).toEqual({
      id: '0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60#s3-block-public-access',
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

  it('PutBucketAcl -> s3-block-public-access finding', () => {
    const f = byControl(putBucketAcl)['s3-block-public-access'];
    expect(f).toMatchObject({
      id: '1e7a3b5c-9d2f-4c6e-8a1b-3d5f7e9a2c4b#s3-block-public-access',
      control: 's3-block-public-access',
      resource: BUCKET,
      title: 'The ACL of S3 bucket acme-reports-2026 was changed',
      observedAt: '2026-11-23T10:05:10.000Z',
      state: 'active',
    });
    expect(f?.origin).toEqual({
      eventName: 'PutBucketAcl',
      eventSource: 's3.amazonaws.com',
      eventId: '1e7a3b5c-9d2f-4c6e-8a1b-3d5f7e9a2c4b',
      actor: 'arn:aws:iam::123456789012:user/ops-bot',
    });
  });

  it('DeleteBucketPublicAccessBlock -> finding', () => {
    expect(only(deletePab)).toMatchObject({
      id: '3f5a7c9e-1b3d-4f6a-8c0e-2a4c6e8a0b2d#s3-block-public-access',
      control: 's3-block-public-access',
      resource: BUCKET,
      title: 'The public access block of S3 bucket acme-reports-2026 was deleted',
    });
  });

  it('PutBucketPublicAccessBlock with some settings off -> finding', () => {
    expect(only(putPabPartial)).toMatchObject({
      id: '43258a7e-eef1-44ef-9aff-1e5b4cfd825d#s3-block-public-access',
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
    expect(normalizeEventBridgeEvent(body).findings.map((f) => f.resource)).toEqual([BUCKET, BUCKET]);
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
    expect(only(deletePabWith(body))).toMatchObject({ account: '210987654321', region: 'eu-central-1' });
  });

  it('prefers recipientAccountId and awsRegion over the envelope', () => {
    let body = edit(createBucket, ['detail', 'recipientAccountId'], '210987654321');
    body = edit(body, ['detail', 'awsRegion'], 'us-gov-west-1');
    expect(only(deletePabWith(body))).toMatchObject({ account: '210987654321', region: 'us-gov-west-1' });
  });

  it('omits the actor when userIdentity has no arn', () => {
    const body = edit(deletePab, ['detail', 'userIdentity'], { type: 'AWSService', invokedBy: 'cloudformation.amazonaws.com' });
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

/** `body` as a DeleteBucketPublicAccessBlock call (one finding), keeping its account and region fields. */
function deletePabWith(body: Record<string, unknown>): Record<string, unknown> {
  return edit(body, ['detail', 'eventName'], 'DeleteBucketPublicAccessBlock');
}

describe('CloudTrail: one finding per control', () => {
  it('CreateBucket -> public access block and default encryption, with distinct ids and the same origin', () => {
    const found = byControl(createBucket);
    // And S3.5: a new bucket has no policy, so nothing denies plain-HTTP requests yet.
    expect(Object.keys(found).sort()).toEqual(['s3-block-public-access', 's3-bucket-tls-required', 's3-default-encryption']);
    expect(found['s3-default-encryption']).toEqual({
      id: '0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60#s3-default-encryption',
      source: 'cloudtrail',
      control: 's3-default-encryption',
      account: '123456789012',
      region: 'us-east-1',
      resource: BUCKET,
      severity: 'MEDIUM',
      title: 'S3 bucket acme-reports-2026 was created; its default encryption must be verified',
      observedAt: '2026-11-23T10:00:01.000Z',
      state: 'active',
      origin: found['s3-block-public-access']?.origin,
    });
    expect(found['s3-block-public-access']?.origin['eventId']).toBe('0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60');
  });

  it('every CloudTrail finding id is the event id and the control', () => {
    for (const body of [createBucket, putBucketAcl, deletePab, putPabPartial, sgWorldOpen]) {
      for (const f of normalizeEventBridgeEvent(body).findings) {
        expect(f.id).toBe(`${f.origin['eventId']}#${f.control}`);
      }
    }
  });
});

describe('CloudTrail: S3 ACLs (s3-bucket-public-acl)', () => {
  const createPublic = load('cloudtrail-s3-create-bucket-public-read.json');
  const bodyAllUsers = load('cloudtrail-s3-put-bucket-acl-body-all-users.json');
  const ownerOnly = load('cloudtrail-s3-put-bucket-acl-owner-only.json');
  const PARAMS = ['detail', 'requestParameters'] as const;
  const GRANTS = [...PARAMS, 'AccessControlPolicy', 'AccessControlList', 'Grant'] as const;
  const ALL_USERS = { 'xsi:type': 'Group', URI: 'http://acs.amazonaws.com/groups/global/AllUsers' };
  const AUTHENTICATED = { 'xsi:type': 'Group', URI: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers' };
  const LOG_DELIVERY = { 'xsi:type': 'Group', URI: 'http://acs.amazonaws.com/groups/s3/LogDelivery' };

  it('PutBucketAcl with x-amz-acl public-read -> s3-bucket-public-acl finding with every field', () => {
    expect(byControl(putBucketAcl)['s3-bucket-public-acl']).toEqual({
      id: '1e7a3b5c-9d2f-4c6e-8a1b-3d5f7e9a2c4b#s3-bucket-public-acl',
      source: 'cloudtrail',
      control: 's3-bucket-public-acl',
      account: '123456789012',
      region: 'us-east-1',
      resource: BUCKET,
      severity: 'CRITICAL',
      title: 'The ACL of S3 bucket acme-reports-2026 was changed to grant access to everyone or to any AWS user',
      observedAt: '2026-11-23T10:05:10.000Z',
      state: 'active',
      origin: {
        eventName: 'PutBucketAcl',
        eventSource: 's3.amazonaws.com',
        eventId: '1e7a3b5c-9d2f-4c6e-8a1b-3d5f7e9a2c4b',
        actor: 'arn:aws:iam::123456789012:user/ops-bot',
      },
    });
  });

  it('PutBucketAcl with an AccessControlPolicy granting AllUsers -> both controls', () => {
    const found = byControl(bodyAllUsers);
    expect(Object.keys(found).sort()).toEqual(['s3-block-public-access', 's3-bucket-public-acl']);
    expect(found['s3-bucket-public-acl']?.id).toBe('5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b#s3-bucket-public-acl');
  });

  it('PutBucketAcl granting only the owner -> public access block finding, the ACL control ignored', () => {
    const found = byControl(ownerOnly, [
      {
        reason: 'the new ACL grants nothing to AllUsers or AuthenticatedUsers',
        ref: '8e0a2c4e-1b3d-4f5a-9c7e-0b2d4f6a8c0e#s3-bucket-public-acl',
      },
    ]);
    expect(Object.keys(found)).toEqual(['s3-block-public-access']);
  });

  it.each([
    ['a single AuthenticatedUsers grant', { Grantee: AUTHENTICATED, Permission: 'READ' }],
    ['AllUsers among others', [{ Grantee: { ID: 'abc' }, Permission: 'FULL_CONTROL' }, { Grantee: ALL_USERS, Permission: 'WRITE' }]],
    ['AllUsers with READ_ACP only', [{ Grantee: ALL_USERS, Permission: 'READ_ACP' }]],
    ['an https URI in lower case', [{ Grantee: { uri: 'https://acs.amazonaws.com/groups/global/allusers' }, Permission: 'READ' }]],
  ])('an AccessControlPolicy with %s is public', (_name, grants) => {
    expect(findingFor(edit(ownerOnly, [...GRANTS], grants), 's3-bucket-public-acl').title).toContain('to grant access to everyone');
  });

  it.each([
    ['grants to canonical users and e-mail addresses', [{ Grantee: { ID: 'abc' } }, { Grantee: { EmailAddress: 'a@example.com' } }]],
    ['a grant to the LogDelivery group', [{ Grantee: LOG_DELIVERY, Permission: 'WRITE' }]],
    ['no grant at all', []],
  ])('an AccessControlPolicy with %s is not public', (_name, grants) => {
    expect(normalizeEventBridgeEvent(edit(ownerOnly, [...GRANTS], grants)).ignored).toHaveLength(1);
  });

  it.each([
    ['a grantee that is not an object', [{ Grantee: 'AllUsers' }]],
    ['a grantee naming nobody', [{ Grantee: { 'xsi:type': 'Group' } }]],
    ['no Grant key', REMOVE],
    ['more grants than are scanned', Array.from({ length: 1001 }, () => ({ Grantee: { ID: 'abc' } }))],
  ])('an AccessControlPolicy with %s cannot be read -> finding to check', (_name, grants) => {
    expect(findingFor(edit(ownerOnly, [...GRANTS], grants), 's3-bucket-public-acl').title).toBe(
      'The ACL of S3 bucket acme-reports-2026 was changed; it must be checked for public grants',
    );
  });

  it.each([['private'], ['bucket-owner-full-control'], ['log-delivery-write'], ['PRIVATE']])('x-amz-acl %s -> not public', (acl) => {
    const body = edit(putBucketAcl, [...PARAMS, 'x-amz-acl'], [acl]);
    expect(normalizeEventBridgeEvent(body).ignored.map((i) => i.reason)).toEqual([
      'the new ACL grants nothing to AllUsers or AuthenticatedUsers',
    ]);
  });

  it.each([['public-read-write'], ['authenticated-read'], ['public-read']])('x-amz-acl %s (array or string) -> public', (acl) => {
    expect(findingFor(edit(putBucketAcl, [...PARAMS, 'x-amz-acl'], [acl]), 's3-bucket-public-acl').severity).toBe('CRITICAL');
    expect(findingFor(edit(putBucketAcl, [...PARAMS, 'x-amz-acl'], acl), 's3-bucket-public-acl').severity).toBe('CRITICAL');
  });

  it.each([
    ['x-amz-grant-read', ['uri="http://acs.amazonaws.com/groups/global/AllUsers"']],
    ['x-amz-grant-write-acp', ['id="abc", uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"']],
    ['X-Amz-Grant-Full-Control', 'uri=http://acs.amazonaws.com/groups/global/AllUsers'],
  ])('grant header %s to a public group -> public', (header, value) => {
    let body = edit(putBucketAcl, [...PARAMS, 'x-amz-acl'], REMOVE);
    body = edit(body, [...PARAMS, header], value);
    expect(findingFor(body, 's3-bucket-public-acl').title).toContain('to grant access to everyone');
  });

  it('grant headers naming only accounts -> not public', () => {
    let body = edit(putBucketAcl, [...PARAMS, 'x-amz-acl'], REMOVE);
    body = edit(body, [...PARAMS, 'x-amz-grant-read'], ['id="abc"', 'emailAddress="a@example.com"']);
    expect(normalizeEventBridgeEvent(body).ignored).toHaveLength(1);
  });

  it.each([
    ['no ACL information at all', (b: unknown) => edit(b, [...PARAMS, 'x-amz-acl'], REMOVE)],
    ['an unknown canned ACL', (b: unknown) => edit(b, [...PARAMS, 'x-amz-acl'], ['world-readable'])],
    ['a canned ACL that is not a string', (b: unknown) => edit(b, [...PARAMS, 'x-amz-acl'], [7])],
    ['a private canned ACL and an unreadable grant header', (b: unknown) => edit(edit(b, [...PARAMS, 'x-amz-acl'], ['private']), [...PARAMS, 'x-amz-grant-read'], { uri: 'x' })],
  ])('PutBucketAcl with %s -> finding to check (the control reads the bucket)', (_name, change) => {
    expect(findingFor(change(putBucketAcl), 's3-bucket-public-acl').title).toBe(
      'The ACL of S3 bucket acme-reports-2026 was changed; it must be checked for public grants',
    );
  });

  it('CreateBucket with a public canned ACL -> the ACL control too', () => {
    const found = byControl(createPublic);
    expect(Object.keys(found).sort()).toEqual(['s3-block-public-access', 's3-bucket-public-acl', 's3-bucket-tls-required', 's3-default-encryption']);
    expect(found['s3-bucket-public-acl']).toMatchObject({
      id: 'a1c3e5a7-4b6d-4e8f-a0b2-c4d6e8f0a2b4#s3-bucket-public-acl',
      resource: { type: 'AwsS3Bucket', id: 'acme-public-site' },
      title: 'S3 bucket acme-public-site was created with a public ACL',
    });
  });

  it('CreateBucket with a public grant header -> the ACL control too', () => {
    let body = edit(createPublic, [...PARAMS, 'x-amz-acl'], REMOVE);
    body = edit(body, [...PARAMS, 'x-amz-grant-read'], ['uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"']);
    expect(Object.keys(byControl(body))).toContain('s3-bucket-public-acl');
  });

  it.each([
    ['private', ['private']],
    ['unreadable', { a: 1 }],
  ])('CreateBucket with a %s canned ACL -> no ACL finding and nothing ignored', (_name, acl) => {
    const found = byControl(edit(createPublic, [...PARAMS, 'x-amz-acl'], acl));
    // And S3.5: a new bucket has no policy, so nothing denies plain-HTTP requests yet.
    expect(Object.keys(found).sort()).toEqual(['s3-block-public-access', 's3-bucket-tls-required', 's3-default-encryption']);
  });

  it('CreateBucket does not read an AccessControlPolicy (CreateBucket takes ACLs as headers only)', () => {
    const body = edit(createBucket, [...PARAMS, 'AccessControlPolicy'], { AccessControlList: { Grant: { Grantee: ALL_USERS } } });
    expect(Object.keys(byControl(body))).not.toContain('s3-bucket-public-acl');
  });

  it('a failed PutBucketAcl -> ignored as a whole', () => {
    const body = edit(bodyAllUsers, ['detail', 'errorCode'], 'AccessControlListNotSupported');
    expect(normalizeEventBridgeEvent(body)).toEqual({
      findings: [],
      ignored: [
        { reason: 'the call failed (AccessControlListNotSupported); nothing changed', ref: '5c7e9a1b-3d5f-4a7c-9e1b-3d5f7a9c1e3b' },
      ],
    });
  });
});

describe('CloudTrail: S3 default encryption', () => {
  const putEncryption = load('cloudtrail-s3-put-bucket-encryption.json');
  const deleteEncryption = load('cloudtrail-s3-delete-bucket-encryption.json');

  it('PutBucketEncryption -> s3-default-encryption finding with every field (the policy decides what is enough)', () => {
    expect(only(putEncryption)).toEqual({
      id: 'b2d4f6a8-5c7e-4f9a-b1c3-d5e7f9a1b3c5#s3-default-encryption',
      source: 'cloudtrail',
      control: 's3-default-encryption',
      account: '123456789012',
      region: 'us-east-1',
      resource: BUCKET,
      severity: 'MEDIUM',
      title: 'The default encryption of S3 bucket acme-reports-2026 was changed; it must be checked against the policy',
      observedAt: '2026-11-23T10:30:10.000Z',
      state: 'active',
      origin: {
        eventName: 'PutBucketEncryption',
        eventSource: 's3.amazonaws.com',
        eventId: 'b2d4f6a8-5c7e-4f9a-b1c3-d5e7f9a1b3c5',
        actor: 'arn:aws:sts::123456789012:assumed-role/Developer/jane',
      },
    });
  });

  it('PutBucketEncryption with SSE-KMS -> finding all the same', () => {
    const body = edit(
      putEncryption,
      ['detail', 'requestParameters', 'ServerSideEncryptionConfiguration', 'Rule', 'ApplyServerSideEncryptionByDefault'],
      { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
    );
    expect(only(body).control).toBe('s3-default-encryption');
  });

  it('DeleteBucketEncryption -> s3-default-encryption finding', () => {
    expect(only(deleteEncryption)).toMatchObject({
      id: 'c3e5a7c9-6d8f-4a0b-c2d4-e6f8a0b2c4d6#s3-default-encryption',
      control: 's3-default-encryption',
      resource: BUCKET,
      title: 'The default encryption configuration of S3 bucket acme-reports-2026 was deleted (the bucket is back to SSE-S3)',
    });
  });

  it('rejects an invalid bucket name', () => {
    const body = edit(deleteEncryption, ['detail', 'requestParameters', 'bucketName'], 'Acme_Reports');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))[0]).toContain('detail.requestParameters.bucketName: is not a valid S3 bucket name');
  });
});

describe('CloudTrail: EBS encryption by default', () => {
  const disableEbs = load('cloudtrail-ec2-disable-ebs-encryption-by-default.json');

  it('DisableEbsEncryptionByDefault -> ec2-ebs-default-encryption finding on the account, in the event region', () => {
    expect(only(disableEbs)).toEqual({
      id: 'd4f6a8b0-7e9a-4b1c-d3e5-f7a9b1c3d5e7#ec2-ebs-default-encryption',
      source: 'cloudtrail',
      control: 'ec2-ebs-default-encryption',
      account: '123456789012',
      region: 'eu-central-1',
      resource: { type: 'AwsAccount', id: '123456789012' },
      severity: 'MEDIUM',
      title: 'EBS encryption by default was disabled for account 123456789012 in eu-central-1',
      observedAt: '2026-11-23T11:10:04.000Z',
      state: 'active',
      origin: {
        eventName: 'DisableEbsEncryptionByDefault',
        eventSource: 'ec2.amazonaws.com',
        eventId: 'd4f6a8b0-7e9a-4b1c-d3e5-f7a9b1c3d5e7',
        actor: 'arn:aws:sts::123456789012:assumed-role/Developer/jane',
      },
    });
  });

  it('the account is the recipient account, else the envelope account', () => {
    expect(only(edit(disableEbs, ['detail', 'recipientAccountId'], '210987654321')).resource).toEqual({
      type: 'AwsAccount',
      id: '210987654321',
    });
    let body = edit(disableEbs, ['detail', 'recipientAccountId'], REMOVE);
    body = edit(body, ['account'], '345678901234');
    expect(only(body)).toMatchObject({ account: '345678901234', resource: { id: '345678901234' } });
  });

  it('a DryRun call (Client.DryRunOperation) -> ignored', () => {
    const body = edit(disableEbs, ['detail', 'errorCode'], 'Client.DryRunOperation');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe('the call failed (Client.DryRunOperation); nothing changed');
  });

  it('EnableEbsEncryptionByDefault (what the fix does) -> ignored', () => {
    const body = edit(disableEbs, ['detail', 'eventName'], 'EnableEbsEncryptionByDefault');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe('event EnableEbsEncryptionByDefault is not remediated');
  });

  it('rejects a source other than aws.ec2', () => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(disableEbs, ['source'], 'aws.iam')))).toEqual([
      'source: "aws.iam" does not match detail.eventSource "ec2.amazonaws.com"; expected "aws.ec2"',
    ]);
  });
});

describe('CloudTrail: IAM user console MFA', () => {
  const createLoginProfile = load('cloudtrail-iam-create-login-profile.json');
  const deactivateMfa = load('cloudtrail-iam-deactivate-mfa-device.json');
  const deleteVirtualMfa = load('cloudtrail-iam-delete-virtual-mfa-device.json');
  const USER = { type: 'AwsIamUser', id: 'jane.doe@example.com' } as const;

  it('CreateLoginProfile -> iam-user-console-mfa finding with every field (us-east-1, where IAM events arrive)', () => {
    expect(only(createLoginProfile)).toEqual({
      id: 'e5a7b9c1-8f0b-4c2d-e4f6-a8b0c2d4e6f8#iam-user-console-mfa',
      source: 'cloudtrail',
      control: 'iam-user-console-mfa',
      account: '123456789012',
      region: 'us-east-1',
      resource: USER,
      severity: 'MEDIUM',
      title: 'IAM user jane.doe@example.com was given a console password; MFA must be verified',
      observedAt: '2026-11-23T12:00:01.000Z',
      state: 'active',
      origin: {
        eventName: 'CreateLoginProfile',
        eventSource: 'iam.amazonaws.com',
        eventId: 'e5a7b9c1-8f0b-4c2d-e4f6-a8b0c2d4e6f8',
        actor: 'arn:aws:sts::123456789012:assumed-role/Developer/jane',
      },
    });
  });

  it('CreateLoginProfile without userName (it defaults to the caller) -> the user named in the response', () => {
    const body = edit(createLoginProfile, ['detail', 'requestParameters', 'userName'], REMOVE);
    expect(only(body).resource).toEqual(USER);
  });

  it('CreateLoginProfile naming no user anywhere (a root password from an AssumeRoot session) -> ignored', () => {
    let body = edit(createLoginProfile, ['detail', 'requestParameters', 'userName'], REMOVE);
    body = edit(body, ['detail', 'responseElements'], null);
    expect(normalizeEventBridgeEvent(body).ignored).toEqual([
      {
        reason: 'CreateLoginProfile names no IAM user (a root user password, set from an AssumeRoot session?)',
        ref: 'e5a7b9c1-8f0b-4c2d-e4f6-a8b0c2d4e6f8',
      },
    ]);
  });

  it('DeactivateMFADevice -> iam-user-console-mfa finding', () => {
    expect(only(deactivateMfa)).toMatchObject({
      id: 'f6b8c0d2-9a1c-4d3e-f5a7-b9c1d3e5f7a9#iam-user-console-mfa',
      control: 'iam-user-console-mfa',
      region: 'us-east-1',
      resource: USER,
      title: 'An MFA device of IAM user jane.doe@example.com was deactivated',
    });
  });

  it('DeactivateMFADevice does not read the user from the response', () => {
    let body = edit(deactivateMfa, ['detail', 'requestParameters', 'userName'], REMOVE);
    body = edit(body, ['detail', 'responseElements'], { loginProfile: { userName: 'jane' } });
    expect(normalizeEventBridgeEvent(body).findings).toEqual([]);
  });

  it('DeleteVirtualMFADevice names only the device -> ignored with the reason', () => {
    expect(normalizeEventBridgeEvent(deleteVirtualMfa)).toEqual({
      findings: [],
      ignored: [
        {
          reason:
            'DeleteVirtualMFADevice names only the device, not its user; an assigned device must first be deactivated (DeactivateMFADevice, which names the user)',
          ref: 'a7c9d1e3-0b2d-4e4f-a6b8-c0d2e4f6a8b0',
        },
      ],
    });
  });

  it.each(['jane doe', 'x'.repeat(65), 'jane/doe', 'jane#1', ''])('rejects user name %j', (name) => {
    const body = edit(deactivateMfa, ['detail', 'requestParameters', 'userName'], name);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      `detail.requestParameters.userName: must be an IAM user name (1 to 64 letters, digits and _+=,.@-), got ${JSON.stringify(name.slice(0, 64))}`,
    ]);
  });

  it('rejects a user name that is not a string, naming the response path when read there', () => {
    let body = edit(createLoginProfile, ['detail', 'requestParameters', 'userName'], REMOVE);
    body = edit(body, ['detail', 'responseElements', 'loginProfile', 'userName'], 42);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'detail.responseElements.loginProfile.userName: must be an IAM user name (1 to 64 letters, digits and _+=,.@-), got 42',
    ]);
  });

  it('accepts a 64-character user name', () => {
    const name = `${'a'.repeat(60)}+=,.`;
    expect(only(edit(deactivateMfa, ['detail', 'requestParameters', 'userName'], name)).resource.id).toBe(name);
  });

  it('rejects an IAM event whose source is not aws.iam', () => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(createLoginProfile, ['source'], 'aws.s3')))).toEqual([
      'source: "aws.s3" does not match detail.eventSource "iam.amazonaws.com"; expected "aws.iam"',
    ]);
  });

  it.each(['UpdateLoginProfile', 'EnableMFADevice', 'CreateUser'])('other IAM events (%s) -> ignored', (eventName) => {
    const body = edit(createLoginProfile, ['detail', 'eventName'], eventName);
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe(`event ${eventName} is not remediated`);
  });
});

describe('CloudTrail: EC2 AuthorizeSecurityGroupIngress', () => {
  const SG = { type: 'AwsEc2SecurityGroup', id: 'sg-0a1b2c3d4e5f60718' } as const;

  it('a world-open rule -> ec2-sg-admin-ports-open finding with every field', () => {
    expect(only(sgWorldOpen)).toEqual({
      id: 'ed2b58c7-5b71-49d8-912d-66b695f0e2a7#ec2-sg-admin-ports-open',
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

  it('no world-open range -> ignored (and by EC2.2: a group named by id only)', () => {
    const r = normalizeEventBridgeEvent(sgPrivate);
    expect(r.findings).toEqual([]);
    expect(r.ignored).toEqual([
      { reason: 'no world-open range in the request', ref: '83292173-2287-4fd0-8887-8087936027f9' },
      { reason: expect.stringMatching(/^ec2-default-sg-closed: names sg-[0-9a-f]+ by id only, which does not say it is a VPC default group/), ref: '83292173-2287-4fd0-8887-8087936027f9' },
    ]);
  });

  it('the older flat form with a /0 on any address -> finding', () => {
    expect(only(sgFlatCidr)).toMatchObject({
      id: '9fd68588-ecbf-4528-a345-199fa6bb0821#ec2-sg-admin-ports-open',
      resource: { type: 'AwsEc2SecurityGroup', id: 'sg-003dc7f1f1c686164' },
    });
  });

  it('the older flat form with a private range -> ignored', () => {
    let body = edit(sgFlatCidr, ['detail', 'requestParameters', 'cidrIp'], '10.0.0.0/8');
    body = edit(body, ['detail', 'responseElements'], { _return: true });
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe('no world-open range in the request');
  });

  it.each([[443], [8080], [65535]])('a world-open range on port %d -> finding all the same (the policy decides which ports count)', (port) => {
    let body = edit(sgWorldOpen, ['detail', 'requestParameters', 'ipPermissions', 'items', 0, 'fromPort'], port);
    body = edit(body, ['detail', 'requestParameters', 'ipPermissions', 'items', 0, 'toPort'], port);
    expect(only(body).control).toBe('ec2-sg-admin-ports-open');
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
      { reason: expect.stringMatching(/^ec2-default-sg-closed: /), ref: 'ed2b58c7-5b71-49d8-912d-66b695f0e2a7' },
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
