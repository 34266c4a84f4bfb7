import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
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

const s3Failed = load('securityhub-s3-8-failed.json');
const sgFailed = load('securityhub-ec2-19-failed.json');
const unmapped = load('securityhub-cloudtrail-2-failed.json');

/** Path into the first ASFF finding of an event. */
const F = ['detail', 'findings', 0] as const;
const S3_ID = 'arn:aws:securityhub:us-east-1:123456789012:security-control/S3.8/finding/5e2a9c1b-7d3f-4e8a-b6c4-2f1e0d9c8b7a';
const SG_ID = 'arn:aws:securityhub:us-east-1:123456789012:security-control/EC2.19/finding/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e';

function asffOf(event: Record<string, unknown>): Record<string, unknown> {
  return ((event['detail'] as Record<string, unknown>)['findings'] as Record<string, unknown>[])[0] as Record<string, unknown>;
}

describe('Security Hub: mapped controls', () => {
  it('S3.8 FAILED -> active s3-block-public-access finding with every field', () => {
    expect(only(s3Failed)).toEqual({
      id: S3_ID,
      source: 'securityhub',
      control: 's3-block-public-access',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
      severity: 'HIGH',
      title: 'S3 general purpose buckets should block public access',
      observedAt: '2026-11-23T11:59:36.771Z',
      state: 'active',
      origin: {
        findingId: S3_ID,
        securityControlId: 'S3.8',
        productArn: 'arn:aws:securityhub:us-east-1::product/aws/securityhub',
        generatorId: 'security-control/S3.8',
      },
    });
  });

  it('EC2.19 FAILED -> active ec2-sg-admin-ports-open finding with every field', () => {
    expect(only(sgFailed)).toEqual({
      id: SG_ID,
      source: 'securityhub',
      control: 'ec2-sg-admin-ports-open',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsEc2SecurityGroup', id: 'sg-0a1b2c3d4e5f60718' },
      severity: 'CRITICAL',
      title: 'Security groups should not allow unrestricted access to ports with high risk',
      observedAt: '2026-11-23T12:29:51.617Z',
      state: 'active',
      origin: {
        findingId: SG_ID,
        securityControlId: 'EC2.19',
        productArn: 'arn:aws:securityhub:us-east-1::product/aws/securityhub',
        generatorId: 'security-control/EC2.19',
      },
    });
  });

  it.each(['EC2.13', 'EC2.14'])('%s -> ec2-sg-admin-ports-open', (controlId) => {
    const f = only(edit(sgFailed, [...F, 'Compliance', 'SecurityControlId'], controlId));
    expect(f.control).toBe('ec2-sg-admin-ports-open');
    expect(f.origin['securityControlId']).toBe(controlId);
  });

  it('falls back to ProductFields.ControlId, then ProductFields.RuleId', () => {
    const noSecurityControl = edit(s3Failed, [...F, 'Compliance', 'SecurityControlId'], REMOVE);
    expect(only(edit(noSecurityControl, [...F, 'ProductFields', 'ControlId'], 'S3.8')).control).toBe('s3-block-public-access');
    expect(only(edit(noSecurityControl, [...F, 'ProductFields', 'RuleId'], 'S3.8')).control).toBe('s3-block-public-access');
  });

  it('takes the group id from Details.AwsEc2SecurityGroup.GroupId when Id is not an ARN', () => {
    const body = edit(sgFailed, [...F, 'Resources', 0, 'Id'], 'bastion');
    expect(only(body).resource.id).toBe('sg-0a1b2c3d4e5f60718');
  });

  it('accepts a bare bucket name as resource Id', () => {
    expect(only(edit(s3Failed, [...F, 'Resources', 0, 'Id'], 'acme-reports-2026')).resource.id).toBe('acme-reports-2026');
  });

  it('picks the resource of the expected type among several', () => {
    const resources = [
      { Type: 'AwsAccount', Id: 'AWS::::Account:123456789012' },
      ...(asffOf(s3Failed)['Resources'] as unknown[]),
    ];
    expect(only(edit(s3Failed, [...F, 'Resources'], resources)).resource.id).toBe('acme-reports-2026');
  });
});

describe('Security Hub: states', () => {
  it('Compliance.Status PASSED -> resolved', () => {
    expect(only(edit(s3Failed, [...F, 'Compliance', 'Status'], 'PASSED')).state).toBe('resolved');
  });

  it('RecordState ARCHIVED -> resolved', () => {
    expect(only(edit(s3Failed, [...F, 'RecordState'], 'ARCHIVED')).state).toBe('resolved');
  });

  it('Workflow.Status SUPPRESSED -> ignored', () => {
    expect(normalizeEventBridgeEvent(edit(s3Failed, [...F, 'Workflow', 'Status'], 'SUPPRESSED'))).toEqual({
      findings: [],
      ignored: [{ reason: 'suppressed in Security Hub', ref: S3_ID }],
    });
  });

  it.each(['WARNING', 'NOT_AVAILABLE'])('Compliance.Status %s -> ignored', (status) => {
    expect(normalizeEventBridgeEvent(edit(s3Failed, [...F, 'Compliance', 'Status'], status)).ignored).toEqual([
      { reason: `compliance status ${status}: the check did not decide`, ref: S3_ID },
    ]);
  });

  it.each(['NOTIFIED', 'NEW', 'RESOLVED'])('Workflow.Status %s with FAILED -> active', (status) => {
    expect(only(edit(s3Failed, [...F, 'Workflow', 'Status'], status)).state).toBe('active');
  });

  it('rejects an unknown Compliance.Status', () => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3Failed, [...F, 'Compliance', 'Status'], 'BROKEN')))).toEqual([
      'findings[0].Compliance.Status: must be one of PASSED, WARNING, FAILED, NOT_AVAILABLE, got "BROKEN"',
    ]);
  });
});

describe('Security Hub: ignored findings', () => {
  it('a control this product does not remediate -> ignored, naming it', () => {
    expect(normalizeEventBridgeEvent(unmapped)).toEqual({
      findings: [],
      ignored: [
        {
          reason: 'control CloudTrail.2 is not remediated',
          ref: 'arn:aws:securityhub:us-east-1:123456789012:security-control/CloudTrail.2/finding/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
        },
      ],
    });
  });

  it('a finding without any control id (e.g. GuardDuty) -> ignored', () => {
    const body = edit(s3Failed, [...F, 'Compliance'], REMOVE);
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe(
      'not a control finding (no Compliance.SecurityControlId or ProductFields.ControlId)',
    );
  });

  it('a batch maps each finding on its own', () => {
    const findings = [asffOf(s3Failed), asffOf(unmapped), asffOf(sgFailed)];
    const result = normalizeEventBridgeEvent(edit(s3Failed, ['detail', 'findings'], findings));
    expect(result.findings.map((f) => f.control)).toEqual(['s3-block-public-access', 'ec2-sg-admin-ports-open']);
    expect(result.ignored.map((i) => i.reason)).toEqual(['control CloudTrail.2 is not remediated']);
  });
});

describe('Security Hub: fallbacks', () => {
  it('region: finding Region, else the resource Region, else the envelope region', () => {
    let body = edit(s3Failed, [...F, 'Region'], REMOVE);
    body = edit(body, [...F, 'Resources', 0, 'Region'], 'eu-west-1');
    expect(only(body).region).toBe('eu-west-1');
    body = edit(body, [...F, 'Resources', 0, 'Region'], REMOVE);
    body = edit(body, ['region'], 'ap-southeast-2');
    expect(only(body).region).toBe('ap-southeast-2');
  });

  it('observedAt: UpdatedAt, else LastObservedAt, else CreatedAt, else the event time', () => {
    let body = edit(s3Failed, [...F, 'UpdatedAt'], REMOVE);
    expect(only(body).observedAt).toBe('2026-11-23T11:59:40.118Z');
    body = edit(body, [...F, 'LastObservedAt'], REMOVE);
    expect(only(body).observedAt).toBe('2026-11-23T11:58:12.402Z');
    body = edit(body, [...F, 'CreatedAt'], REMOVE);
    expect(only(body).observedAt).toBe('2026-11-23T12:00:07.000Z');
  });

  it.each([
    [0, 'INFORMATIONAL'],
    [1, 'LOW'],
    [39, 'LOW'],
    [40, 'MEDIUM'],
    [69, 'MEDIUM'],
    [70, 'HIGH'],
    [89, 'HIGH'],
    [90, 'CRITICAL'],
    [100, 'CRITICAL'],
  ])('severity from Severity.Normalized %d -> %s', (normalized, label) => {
    const body = edit(s3Failed, [...F, 'Severity'], { Normalized: normalized });
    expect(only(body).severity).toBe(label);
  });

  it('a missing Title gets a descriptive default', () => {
    expect(only(edit(s3Failed, [...F, 'Title'], REMOVE)).title).toBe('S3.8 failed for acme-reports-2026');
  });
});

describe('Security Hub: invalid events', () => {
  it.each([
    [[], 'detail.findings: must hold 1 to 100 findings, got 0'],
    ['x', 'detail.findings: must be an array, got a string'],
    [REMOVE, 'detail.findings: is missing'],
  ])('detail.findings = %j', (value, problem) => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3Failed, ['detail', 'findings'], value)))).toEqual([problem]);
  });

  it('rejects more than 100 findings without looking at them', () => {
    const findings = Array.from({ length: 101 }, () => asffOf(s3Failed));
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3Failed, ['detail', 'findings'], findings)))).toEqual([
      'detail.findings: must hold 1 to 100 findings, got 101',
    ]);
  });

  it('accepts exactly 100 findings', () => {
    const findings = Array.from({ length: 100 }, () => asffOf(s3Failed));
    expect(normalizeEventBridgeEvent(edit(s3Failed, ['detail', 'findings'], findings)).findings).toHaveLength(100);
  });

  it('no resource of the expected type -> invalid', () => {
    const body = edit(s3Failed, [...F, 'Resources'], [{ Type: 'AwsAccount', Id: 'AWS::::Account:123456789012' }]);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'findings[0].Resources: no resource of type AwsS3Bucket (control S3.8 acts on AwsS3Bucket)',
    ]);
  });

  it.each([
    [['AwsAccountId'], '12', 'findings[0].AwsAccountId: must be a 12-digit AWS account id, got "12"'],
    [['AwsAccountId'], REMOVE, 'findings[0].AwsAccountId: is missing'],
    [['Id'], REMOVE, 'findings[0].Id: is missing'],
    [['Id'], 'bad\u0000id', 'findings[0].Id: must not contain control characters'],
    [['Region'], 'nowhere', 'findings[0].Region: must be an AWS region such as us-east-1, got "nowhere"'],
    [['Severity', 'Label'], 'SEVERE', 'findings[0].Severity.Label: must be one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, got "SEVERE"'],
    [['Severity'], {}, 'findings[0].Severity: needs Label (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL) or Normalized (0-100)'],
    [['UpdatedAt'], '23/11/2026', 'findings[0].UpdatedAt: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "23/11/2026"'],
    [['Resources'], REMOVE, 'findings[0].Resources: is missing'],
    [['Resources', 0, 'Id'], 'arn:aws:s3:::Bad_Bucket', 'findings[0].Resources[0].Id: is not a valid S3 bucket name'],
  ])('finding field %j = %j', (path, value, problem) => {
    const problems = problemsOf(() => normalizeEventBridgeEvent(edit(s3Failed, [...F, ...path], value)));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
  });

  it('rejects an invalid security group in the resource', () => {
    let body = edit(sgFailed, [...F, 'Resources', 0, 'Id'], 'arn:aws:ec2:us-east-1:123456789012:security-group/sg-XYZ');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'findings[0].Resources[0].Id: must be a security group id (sg- and 8 or 17 hex digits), got "sg-XYZ"',
    ]);
    body = edit(sgFailed, [...F, 'Resources', 0, 'Id'], 'bastion');
    body = edit(body, [...F, 'Resources', 0, 'Details'], REMOVE);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))[0]).toContain('findings[0].Resources[0].Id');
  });

  it('lists the problems of every finding in a batch at once, prefixed findings[i]', () => {
    const good = asffOf(s3Failed);
    const badAccount = { ...asffOf(s3Failed), AwsAccountId: 'x' };
    const badEverything = { ...asffOf(sgFailed), Region: 'r', Severity: { Label: 'NOPE' }, Resources: [] };
    const body = edit(s3Failed, ['detail', 'findings'], [good, badAccount, 'not a finding', badEverything]);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'findings[1].AwsAccountId: must be a 12-digit AWS account id, got "x"',
      'findings[2]: must be an object, got a string',
      'findings[3].Resources: must hold at least one resource',
      'findings[3].Region: must be an AWS region such as us-east-1, got "r"',
      'findings[3].Severity.Label: must be one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, got "NOPE"',
    ]);
  });

  it('rejects a source other than aws.securityhub', () => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3Failed, ['source'], 'aws.s3')))).toEqual([
      'source: "aws.s3" does not match detail-type "Security Hub Findings - Imported"; expected "aws.securityhub"',
    ]);
  });

  it('sanitizes and caps the title', () => {
    const title = `Bucket\u0000 is\u001b[31m public\u202e ${'x'.repeat(2000)}`;
    const f = only(edit(s3Failed, [...F, 'Title'], title));
    expect(f.title.startsWith('Bucket is [31m public x')).toBe(true);
    expect(f.title).toHaveLength(512);
  });
});
