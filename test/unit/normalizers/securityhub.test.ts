import { describe, expect, it } from 'vitest';
import { securityHubHolder } from '../../../src/findings/finding.js';
import { normalizeEventBridgeEvent } from '../../../src/findings/index.js';
import { REMOVE, edit, load, only, problemsOf } from './helpers.js';

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
        securityHubAccount: '123456789012',
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
        securityHubAccount: '123456789012',
      },
    });
  });

  it('records which account\'s Security Hub sent the finding: write-back goes there only when it is the finding\'s own', () => {
    const own = only(s3Failed);
    expect(own.origin['securityHubAccount']).toBe('123456789012');
    expect(securityHubHolder(own)).toBe('123456789012');
    // Aggregated: the administrator's bus sent a member's finding; the hub writes back with its own credentials.
    const aggregated = only(edit(s3Failed, ['account'], '210987654321'));
    expect(aggregated.account).toBe('123456789012');
    expect(aggregated.origin['securityHubAccount']).toBe('210987654321');
    expect(securityHubHolder(aggregated)).toBeUndefined();
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

describe('Security Hub: S3 ACL and default encryption controls', () => {
  const s3_2 = load('securityhub-s3-2-failed.json');
  const s3_17 = load('securityhub-s3-17-failed.json');
  const S3_2_ID = 'arn:aws:securityhub:us-east-1:123456789012:security-control/S3.2/finding/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

  it('S3.2 FAILED -> active s3-bucket-public-acl finding with every field', () => {
    expect(only(s3_2)).toEqual({
      id: S3_2_ID,
      source: 'securityhub',
      control: 's3-bucket-public-acl',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
      severity: 'CRITICAL',
      title: 'S3 general purpose buckets should block public read access',
      observedAt: '2026-11-23T10:08:44.502Z',
      state: 'active',
      origin: {
        findingId: S3_2_ID,
        securityControlId: 'S3.2',
        productArn: 'arn:aws:securityhub:us-east-1::product/aws/securityhub',
        generatorId: 'security-control/S3.2',
        securityHubAccount: '123456789012',
      },
    });
  });

  it('S3.3 (public write) -> s3-bucket-public-acl as well', () => {
    expect(only(edit(s3_2, [...F, 'Compliance', 'SecurityControlId'], 'S3.3')).control).toBe('s3-bucket-public-acl');
  });

  it('S3.2 PASSED -> resolved', () => {
    expect(only(edit(s3_2, [...F, 'Compliance', 'Status'], 'PASSED')).state).toBe('resolved');
  });

  it('S3.17 FAILED (bucket on SSE-S3) -> s3-default-encryption', () => {
    expect(only(s3_17)).toMatchObject({
      control: 's3-default-encryption',
      resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
      severity: 'MEDIUM',
      state: 'active',
      origin: { securityControlId: 'S3.17' },
    });
  });

  it('S3.4, no longer in the controls reference, is not mapped', () => {
    expect(normalizeEventBridgeEvent(edit(s3_17, [...F, 'Compliance', 'SecurityControlId'], 'S3.4')).ignored[0]?.reason).toBe(
      'control S3.4 is not remediated',
    );
  });
});

describe('Security Hub: security group controls', () => {
  it.each(['EC2.18', 'EC2.53', 'EC2.54'])('%s -> ec2-sg-admin-ports-open', (controlId) => {
    expect(only(edit(sgFailed, [...F, 'Compliance', 'SecurityControlId'], controlId)).control).toBe('ec2-sg-admin-ports-open');
  });
});

describe('Security Hub: EBS encryption by default (EC2.7, AwsAccount)', () => {
  const ec2_7 = load('securityhub-ec2-7-failed.json');
  const EC2_7_ID =
    'arn:aws:securityhub:eu-central-1:123456789012:subscription/cis-aws-foundations-benchmark/v/3.0.0/2.2.1/finding/38a89798-6819-4fae-861f-9cca8034602c';

  it('a CIS finding for EC2.7 (ProductFields.ControlId 2.2.1) -> ec2-ebs-default-encryption with every field', () => {
    expect(only(ec2_7)).toEqual({
      id: EC2_7_ID,
      source: 'securityhub',
      control: 'ec2-ebs-default-encryption',
      account: '123456789012',
      region: 'eu-central-1',
      resource: { type: 'AwsAccount', id: '123456789012' },
      severity: 'MEDIUM',
      title: '2.2.1 EBS default encryption should be enabled',
      observedAt: '2026-11-23T11:19:46.165Z',
      state: 'active',
      origin: {
        findingId: EC2_7_ID,
        securityControlId: 'EC2.7',
        productArn: 'arn:aws:securityhub:eu-central-1::product/aws/securityhub',
        generatorId: 'cis-aws-foundations-benchmark/v/3.0.0/2.2.1',
        securityHubAccount: '123456789012',
      },
    });
  });

  it('accepts a bare account id as resource Id', () => {
    expect(only(edit(ec2_7, [...F, 'Resources', 0, 'Id'], '123456789012')).resource.id).toBe('123456789012');
  });

  it('EC2.7 PASSED -> resolved; ARCHIVED -> resolved', () => {
    expect(only(edit(ec2_7, [...F, 'Compliance', 'Status'], 'PASSED')).state).toBe('resolved');
    expect(only(edit(ec2_7, [...F, 'RecordState'], 'ARCHIVED')).state).toBe('resolved');
  });

  it.each([
    ['AWS::::Account:210987654321', 'findings[0].Resources[0].Id: must be the finding\'s own account 123456789012, got "210987654321"'],
    ['AWS::::Account:12', 'findings[0].Resources[0].Id: must be a 12-digit AWS account id, got "12"'],
    ['arn:aws:iam::123456789012:root', 'findings[0].Resources[0].Id: must be a 12-digit AWS account id, got "arn:aws:iam::123456789012:root"'],
  ])('rejects account resource Id %j', (id, problem) => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(ec2_7, [...F, 'Resources', 0, 'Id'], id)))).toEqual([problem]);
  });

  it('requires a resource of type AwsAccount', () => {
    const body = edit(ec2_7, [...F, 'Resources', 0, 'Type'], 'AwsEc2Volume');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'findings[0].Resources: no resource of type AwsAccount (control EC2.7 acts on AwsAccount)',
    ]);
  });
});

describe('Security Hub: IAM user console MFA (IAM.5, IAM.19)', () => {
  const iam5 = load('securityhub-iam-5-failed.json');
  const IAM5_ID = 'arn:aws:securityhub:us-east-1:123456789012:security-control/IAM.5/finding/3d4e5f6a-7b8c-4d9e-0f1a-2b3c4d5e6f7a';

  it('IAM.5 FAILED -> iam-user-console-mfa finding with every field; the user name from the ARN, path dropped', () => {
    expect(only(iam5)).toEqual({
      id: IAM5_ID,
      source: 'securityhub',
      control: 'iam-user-console-mfa',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsIamUser', id: 'jane.doe@example.com' },
      severity: 'MEDIUM',
      title: 'MFA should be enabled for all IAM users that have a console password',
      observedAt: '2026-11-23T12:40:02.311Z',
      state: 'active',
      origin: {
        findingId: IAM5_ID,
        securityControlId: 'IAM.5',
        productArn: 'arn:aws:securityhub:us-east-1::product/aws/securityhub',
        generatorId: 'security-control/IAM.5',
        securityHubAccount: '123456789012',
      },
    });
  });

  it('IAM.19 -> iam-user-console-mfa (the control checks for a console password)', () => {
    expect(only(edit(iam5, [...F, 'Compliance', 'SecurityControlId'], 'IAM.19')).control).toBe('iam-user-console-mfa');
  });

  it('IAM.5 PASSED -> resolved', () => {
    expect(only(edit(iam5, [...F, 'Compliance', 'Status'], 'PASSED')).state).toBe('resolved');
  });

  it.each([
    ['arn:aws:iam::123456789012:user/jane', 'jane'],
    ['arn:aws-us-gov:iam::123456789012:user/a/b/c/jane', 'jane'],
    ['jane', 'jane'],
  ])('resource Id %j -> user %j', (id, user) => {
    let body = edit(iam5, [...F, 'Resources', 0, 'Id'], id);
    body = edit(body, [...F, 'Resources', 0, 'Details'], REMOVE);
    expect(only(body).resource.id).toBe(user);
  });

  it('takes Details.AwsIamUser.UserName when Id is not a user ARN', () => {
    const body = edit(iam5, [...F, 'Resources', 0, 'Id'], 'AIDACKCEVSQ6C2EXAMPLE/not a name');
    expect(only(body).resource.id).toBe('jane.doe@example.com');
  });

  it.each([
    [['Resources', 0, 'Id'], 'arn:aws:iam::123456789012:user/division/jane doe', 'findings[0].Resources[0].Id'],
    [['Resources', 0, 'Details', 'AwsIamUser', 'UserName'], 'x'.repeat(65), 'findings[0].Resources[0].Details.AwsIamUser.UserName'],
  ])('rejects an invalid user name at %j', (path, value, where) => {
    let body = edit(iam5, [...F, ...path], value);
    if (where.endsWith('UserName')) body = edit(body, [...F, 'Resources', 0, 'Id'], 'not/an/arn');
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${where}: must be an IAM user name`);
  });

  it('a role ARN is not a user', () => {
    let body = edit(iam5, [...F, 'Resources', 0, 'Id'], 'arn:aws:iam::123456789012:role/admin');
    body = edit(body, [...F, 'Resources', 0, 'Details'], REMOVE);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))[0]).toContain('findings[0].Resources[0].Id: must be an IAM user name');
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

  it('Workflow.Status RESOLVED -> ignored (Security Hub sets it back to NEW on the next failed evaluation)', () => {
    expect(normalizeEventBridgeEvent(edit(s3Failed, [...F, 'Workflow', 'Status'], 'RESOLVED'))).toEqual({
      findings: [],
      ignored: [{ reason: 'workflow status RESOLVED in Security Hub (a new failed evaluation resets it to NEW)', ref: S3_ID }],
    });
  });

  it('the event of our own write-back is ignored; a new evaluation after it, or a note of someone else, is acted on', () => {
    const updatedAt = String(asffOf(s3Failed)['UpdatedAt']);
    const later = new Date(Date.parse(updatedAt) + 60_000).toISOString();
    const earlier = new Date(Date.parse(updatedAt) - 60_000).toISOString();
    const noted = (by: string, at: string) => edit(edit(s3Failed, [...F, 'Workflow', 'Status'], 'NOTIFIED'), [...F, 'Note'], { Text: 'rectify: waiting for approval', UpdatedBy: by, UpdatedAt: at });
    expect(normalizeEventBridgeEvent(noted('rectify', later))).toEqual({ findings: [], ignored: [{ reason: "the event of rectify's own write-back: not evaluated again since", ref: S3_ID }] });
    expect(normalizeEventBridgeEvent(noted('rectify', updatedAt)).ignored).toHaveLength(1);
    // Evaluated again (UpdatedAt moved past our note): still failing, so act.
    expect(only(noted('rectify', earlier)).state).toBe('active');
    expect(only(noted('alice', later)).state).toBe('active');
    expect(only(edit(noted('rectify', later), [...F, 'UpdatedAt'], new Date(Date.parse(later) + 1000).toISOString())).state).toBe('active');
  });

  it.each(['NOTIFIED', 'NEW'])('Workflow.Status %s with FAILED -> active', (status) => {
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
