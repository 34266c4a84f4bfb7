import { describe, expect, it } from 'vitest';
import { registeredControlIds } from '../../../src/activities/controls/index.js';
import { CONTROL_IDS } from '../../../src/findings/finding.js';
import { normalizeGenericFindings } from '../../../src/findings/index.js';
import { REMOVE, edit, load, problemsOf } from './helpers.js';

const single = load('generic-prowler-s3.json');
const batch = load('generic-batch.json');
const newControls = load('generic-new-controls.json');
/** The supported controls as the unknown-control problem lists them: every control, in order. */
const SUPPORTED = registeredControlIds().join(', ');
const NOW = new Date('2026-11-23T15:00:00.000Z');
const now = (): Date => NOW;

describe('generic: one finding', () => {
  it('maps the documented example, ignoring unknown fields', () => {
    expect(normalizeGenericFindings(single, { now })).toEqual({
      findings: [
        {
          id: 'prowler-s3-1234',
          source: 'generic',
          control: 's3-block-public-access',
          account: '123456789012',
          region: 'us-east-1',
          resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
          severity: 'HIGH',
          title: 'S3 Bucket acme-reports-2026 has Public Access Block disabled',
          observedAt: '2026-11-23T10:00:00.000Z',
          state: 'active',
          origin: { scanner: 'prowler' },
        },
      ],
      ignored: [],
    });
  });

  it('defaults observedAt to now, status to active, title to a description, origin to empty', () => {
    let body = edit(single, ['observedAt'], REMOVE);
    body = edit(body, ['status'], REMOVE);
    body = edit(body, ['title'], REMOVE);
    body = edit(body, ['scanner'], REMOVE);
    expect(normalizeGenericFindings(body, { now }).findings[0]).toMatchObject({
      observedAt: '2026-11-23T15:00:00.000Z',
      state: 'active',
      title: 's3-block-public-access on acme-reports-2026',
      origin: {},
    });
  });

  it('uses the real clock by default', () => {
    const before = Date.now();
    const f = normalizeGenericFindings(edit(single, ['observedAt'], REMOVE)).findings[0];
    expect(Date.parse(f?.observedAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
  });

  it('status resolved -> resolved', () => {
    expect(normalizeGenericFindings(edit(single, ['status'], 'resolved')).findings[0]?.state).toBe('resolved');
  });

  it('accepts a resource.type that agrees with the control', () => {
    expect(normalizeGenericFindings(edit(single, ['resource', 'type'], 'AwsS3Bucket')).findings).toHaveLength(1);
  });

  it('accepts lowercase severities as Prowler writes them', () => {
    expect(normalizeGenericFindings(edit(single, ['severity'], 'critical')).findings[0]?.severity).toBe('CRITICAL');
  });

  it('sanitizes the title and the scanner', () => {
    let body = edit(single, ['title'], `line one\nline\ttwo\u0007 ${'y'.repeat(1000)}`);
    body = edit(body, ['scanner'], 'prow\u0000ler');
    const f = normalizeGenericFindings(body).findings[0];
    expect(f?.title.startsWith('line one line two y')).toBe(true);
    expect(f?.title).toHaveLength(512);
    expect(f?.origin).toEqual({ scanner: 'prow ler' });
  });
});

describe('generic: batches', () => {
  it('maps every finding in { findings: [...] }', () => {
    const { findings, ignored } = normalizeGenericFindings(batch, { now });
    expect(ignored).toEqual([]);
    expect(findings).toEqual([
      {
        id: 'prowler-s3-1234',
        source: 'generic',
        control: 's3-block-public-access',
        account: '123456789012',
        region: 'us-east-1',
        resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
        severity: 'HIGH',
        title: 's3-block-public-access on acme-reports-2026',
        observedAt: '2026-11-23T15:00:00.000Z',
        state: 'active',
        origin: { scanner: 'prowler' },
      },
      {
        id: 'prowler-ec2-5678',
        source: 'generic',
        control: 'ec2-sg-admin-ports-open',
        account: '123456789012',
        region: 'eu-central-1',
        resource: { type: 'AwsEc2SecurityGroup', id: 'sg-0123456789abcdef0' },
        severity: 'CRITICAL',
        title: 'Security group sg-0123456789abcdef0 allows 0.0.0.0/0 to port 22',
        observedAt: '2026-11-23T08:30:00.123Z',
        state: 'active',
        origin: { scanner: 'prowler' },
      },
      {
        id: 'prowler-ec2-9999',
        source: 'generic',
        control: 'ec2-sg-admin-ports-open',
        account: '123456789012',
        region: 'us-gov-west-1',
        resource: { type: 'AwsEc2SecurityGroup', id: 'sg-0fedcba9' },
        severity: 'MEDIUM',
        title: 'ec2-sg-admin-ports-open on sg-0fedcba9',
        observedAt: '2026-11-23T15:00:00.000Z',
        state: 'resolved',
        origin: {},
      },
    ]);
  });

  it('accepts exactly 100 findings', () => {
    const findings = Array.from({ length: 100 }, (_, i) => ({ ...single, id: `f-${i}` }));
    expect(normalizeGenericFindings({ findings }).findings).toHaveLength(100);
  });

  it.each([
    [[], 'findings: must hold 1 to 100 findings, got 0'],
    [Array.from({ length: 101 }, () => single), 'findings: must hold 1 to 100 findings, got 101'],
    [{ a: 1 }, 'findings: must be an array, got an object'],
    [null, 'findings: must be an array, got null'],
  ])('rejects findings = %#', (findings, problem) => {
    expect(problemsOf(() => normalizeGenericFindings({ findings }))).toEqual([problem]);
  });

  it('lists every problem of every finding at once, prefixed findings[i].', () => {
    const findings = [
      { ...single, control: 'iam-root-mfa' },
      single,
      { ...single, id: '', account: '1', region: 'x', resource: { id: 'Sg_1' }, severity: 'URGENT' },
      42,
      { ...single, status: 'open', observedAt: 'now', title: 5, scanner: ['p'] },
    ];
    expect(problemsOf(() => normalizeGenericFindings({ findings }))).toEqual([
      `findings[0].control "iam-root-mfa" is not supported; supported: ${SUPPORTED}`,
      'findings[2].id: must not be empty',
      'findings[2].account: must be a 12-digit AWS account id, got "1"',
      'findings[2].region: must be an AWS region such as us-east-1, got "x"',
      'findings[2].resource.id: is not a valid S3 bucket name (may contain only lowercase letters, digits, dots and hyphens), got "Sg_1"',
      'findings[2].severity: must be one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, got "URGENT"',
      'findings[3]: must be an object, got a number',
      'findings[4].title: must be a string, got a number',
      'findings[4].observedAt: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "now"',
      'findings[4].status: must be "active" or "resolved", got "open"',
      'findings[4].scanner: must be a string, got an array',
    ]);
  });
});

describe('generic: invalid input', () => {
  it.each([
    ['null', null],
    ['an array', [single]],
    ['a string', 'finding'],
    ['a number', 1],
  ])('rejects a body that is %s', (type, body) => {
    expect(problemsOf(() => normalizeGenericFindings(body))).toEqual([
      `body: must be a finding object or {"findings": [...]}, got ${type}`,
    ]);
  });

  it('names an unknown control and lists every supported one', () => {
    const problems = problemsOf(() => normalizeGenericFindings(edit(single, ['control'], 'x')));
    expect(problems).toEqual([
      'control "x" is not supported; supported: s3-block-public-access, s3-bucket-public-acl, s3-default-encryption, ec2-sg-admin-ports-open, ec2-ebs-default-encryption, iam-user-console-mfa, s3-bucket-tls-required, ec2-default-sg-closed, ec2-ebs-snapshot-public, rds-snapshot-public, rds-instance-public, ec2-imdsv2-required, iam-access-key-stale, kms-key-rotation, cloudtrail-log-validation, lambda-public-invoke, sns-topic-public, sqs-queue-public',
    ]);
    expect(problems[0]).toBe(`control "x" is not supported; supported: ${SUPPORTED}`);
  });

  it('throws InvalidInputError with a readable message', () => {
    expect(() => normalizeGenericFindings(edit(single, ['control'], 'x'))).toThrow(
      `generic finding: control "x" is not supported; supported: ${SUPPORTED}`,
    );
  });

  it.each([
    ['id', REMOVE, 'id: is missing'],
    ['id', 'x'.repeat(257), 'id: must be at most 256 characters, got 257'],
    ['id', 7, 'id: must be a string, got a number'],
    ['control', REMOVE, 'control: is missing'],
    ['account', REMOVE, 'account: is missing'],
    ['account', '12345678901a', 'account: must be a 12-digit AWS account id, got "12345678901a"'],
    ['region', 'us_east_1', 'region: must be an AWS region such as us-east-1, got "us_east_1"'],
    ['resource', REMOVE, 'resource: is missing'],
    ['resource', 'acme-reports-2026', 'resource: must be an object, got a string'],
    ['severity', REMOVE, 'severity: is missing'],
    ['observedAt', '2026-11-23', 'observedAt: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "2026-11-23"'],
  ])('%s = %j', (field, value, problem) => {
    expect(problemsOf(() => normalizeGenericFindings(edit(single, [field], value)))).toEqual([problem]);
  });

  it('accepts an id of exactly 256 characters', () => {
    expect(normalizeGenericFindings(edit(single, ['id'], 'x'.repeat(256))).findings[0]?.id).toHaveLength(256);
  });

  it('rejects a resource.type that disagrees with the control', () => {
    expect(problemsOf(() => normalizeGenericFindings(edit(single, ['resource', 'type'], 'AwsEc2SecurityGroup')))).toEqual([
      'resource.type: must be "AwsS3Bucket" for control s3-block-public-access, got "AwsEc2SecurityGroup"',
    ]);
  });

  it('validates the resource id per resource type', () => {
    const sg = edit(single, ['control'], 'ec2-sg-admin-ports-open');
    expect(problemsOf(() => normalizeGenericFindings(sg))).toEqual([
      'resource.id: must be a security group id (sg- and 8 or 17 hex digits), got "acme-reports-2026"',
    ]);
    expect(problemsOf(() => normalizeGenericFindings(edit(single, ['resource', 'id'], 'Acme_Reports')))[0]).toContain(
      'resource.id: is not a valid S3 bucket name',
    );
  });

  it('with an unknown control still checks a resource of a known type', () => {
    let body = edit(single, ['control'], 'x');
    body = edit(body, ['resource'], { type: 'AwsEc2SecurityGroup', id: 'nope' });
    expect(problemsOf(() => normalizeGenericFindings(body))).toEqual([
      `control "x" is not supported; supported: ${SUPPORTED}`,
      'resource.id: must be a security group id (sg- and 8 or 17 hex digits), got "nope"',
    ]);
  });

  it('with an unknown control checks a resource.type given for the new resource types too', () => {
    let body = edit(single, ['control'], 'x');
    body = edit(body, ['resource'], { type: 'AwsIamUser', id: 'jane doe' });
    expect(problemsOf(() => normalizeGenericFindings(body))[1]).toBe(
      'resource.id: must be an IAM user name (1 to 64 letters, digits and _+=,.@-), got "jane doe"',
    );
  });
});

describe('generic: every control', () => {
  it('maps a batch of the newer controls, each resource id checked for its type', () => {
    expect(normalizeGenericFindings(newControls, { now })).toEqual({
      findings: [
        {
          id: 'prowler-s3-acl-0001',
          source: 'generic',
          control: 's3-bucket-public-acl',
          account: '123456789012',
          region: 'us-east-1',
          resource: { type: 'AwsS3Bucket', id: 'acme-public-site' },
          severity: 'CRITICAL',
          title: 'S3 Bucket acme-public-site has a public ACL (AllUsers READ)',
          observedAt: '2026-11-23T10:21:00.000Z',
          state: 'active',
          origin: { scanner: 'prowler' },
        },
        {
          id: 'prowler-s3-sse-0002',
          source: 'generic',
          control: 's3-default-encryption',
          account: '123456789012',
          region: 'us-east-1',
          resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
          severity: 'MEDIUM',
          title: 's3-default-encryption on acme-reports-2026',
          observedAt: '2026-11-23T10:33:00.000Z',
          state: 'active',
          origin: { scanner: 'prowler' },
        },
        {
          id: 'prowler-ebs-0003',
          source: 'generic',
          control: 'ec2-ebs-default-encryption',
          account: '123456789012',
          region: 'eu-central-1',
          resource: { type: 'AwsAccount', id: '123456789012' },
          severity: 'MEDIUM',
          title: 'ec2-ebs-default-encryption on 123456789012',
          observedAt: '2026-11-23T11:25:00.000Z',
          state: 'active',
          origin: { scanner: 'prowler' },
        },
        {
          id: 'prowler-iam-0004',
          source: 'generic',
          control: 'iam-user-console-mfa',
          account: '123456789012',
          region: 'us-east-1',
          resource: { type: 'AwsIamUser', id: 'jane.doe@example.com' },
          severity: 'MEDIUM',
          title: 'iam-user-console-mfa on jane.doe@example.com',
          observedAt: '2026-11-23T12:42:00.000Z',
          state: 'active',
          origin: { scanner: 'prowler' },
        },
      ],
      ignored: [],
    });
  });

  const finding = (i: number): Record<string, unknown> =>
    ((newControls['findings'] as Record<string, unknown>[])[i] as Record<string, unknown>);
  const ebs = finding(2);
  const iam = finding(3);

  /** A valid finding of each control, from the fixtures. */
  const validOf: Readonly<Record<string, Record<string, unknown>>> = {
    's3-block-public-access': single,
    's3-bucket-public-acl': finding(0),
    's3-default-encryption': finding(1),
    'ec2-sg-admin-ports-open': (batch['findings'] as Record<string, unknown>[])[1] as Record<string, unknown>,
    'ec2-ebs-default-encryption': ebs,
    'iam-user-console-mfa': iam,
  };

  it.each(CONTROL_IDS.map((c) => [c]))('accepts status resolved for %s', (control) => {
    const item = { ...validOf[control], status: 'resolved' };
    expect(normalizeGenericFindings(item).findings[0]).toMatchObject({ control, state: 'resolved' });
  });

  it.each([
    ['a different account', '210987654321', 'resource.id: must be the finding\'s own account 123456789012, got "210987654321"'],
    ['an ARN', 'arn:aws:iam::123456789012:root', 'resource.id: must be a 12-digit AWS account id, got "arn:aws:iam::123456789012:root"'],
    ['a number', 123456789012, 'resource.id: must be a 12-digit AWS account id, got 123456789012'],
  ])('ec2-ebs-default-encryption: rejects %s as resource.id', (_name, id, problem) => {
    expect(problemsOf(() => normalizeGenericFindings(edit(ebs, ['resource', 'id'], id)))).toEqual([problem]);
  });

  it('ec2-ebs-default-encryption with an invalid account reports the account once and still checks the resource id', () => {
    let body = edit(ebs, ['account'], 'x');
    body = edit(body, ['resource', 'id'], 'y');
    expect(problemsOf(() => normalizeGenericFindings(body))).toEqual([
      'account: must be a 12-digit AWS account id, got "x"',
      'resource.id: must be a 12-digit AWS account id, got "y"',
    ]);
  });

  it.each([
    ['an ARN', 'arn:aws:iam::123456789012:user/jane'],
    ['a name with a space', 'jane doe'],
    ['65 characters', 'x'.repeat(65)],
    ['an empty name', ''],
  ])('iam-user-console-mfa: rejects %s as resource.id', (_name, id) => {
    expect(problemsOf(() => normalizeGenericFindings(edit(iam, ['resource', 'id'], id)))).toEqual([
      `resource.id: must be an IAM user name (1 to 64 letters, digits and _+=,.@-), got ${JSON.stringify(id.slice(0, 64))}`,
    ]);
  });

  it('iam-user-console-mfa: region defaults to us-east-1 when absent or null, and is checked when given', () => {
    expect(normalizeGenericFindings(edit(iam, ['region'], null)).findings[0]?.region).toBe('us-east-1');
    expect(normalizeGenericFindings(edit(iam, ['region'], 'eu-west-1')).findings[0]?.region).toBe('eu-west-1');
    expect(problemsOf(() => normalizeGenericFindings(edit(iam, ['region'], 'global')))).toEqual([
      'region: must be an AWS region such as us-east-1, got "global"',
    ]);
  });

  it('other controls still require a region', () => {
    expect(problemsOf(() => normalizeGenericFindings(edit(ebs, ['region'], REMOVE)))).toEqual(['region: is missing']);
  });

  it.each([
    ['iam-user-console-mfa', 'AwsIamUser', 'AwsAccount'],
    ['ec2-ebs-default-encryption', 'AwsAccount', 'AwsS3Bucket'],
  ])('%s: rejects a resource.type other than %s', (control, expected, given) => {
    const body = control === 'iam-user-console-mfa' ? iam : ebs;
    expect(problemsOf(() => normalizeGenericFindings(edit(body, ['resource', 'type'], given)))).toEqual([
      `resource.type: must be "${expected}" for control ${control}, got "${given}"`,
    ]);
  });
});
