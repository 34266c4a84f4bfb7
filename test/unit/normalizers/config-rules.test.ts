import { describe, expect, it } from 'vitest';
import { controlForConfigRule } from '../../../src/findings/config-rules.js';
import { normalizeEventBridgeEvent } from '../../../src/findings/index.js';
import { REMOVE, edit, load, only, problemsOf } from './helpers.js';

const s3NonCompliant = load('config-s3-bucket-level-public-access-noncompliant.json');
const sshCompliant = load('config-securityhub-restricted-ssh-compliant.json');
const unmappedRule = load('config-unmapped-rule.json');
const QUALIFIER = ['detail', 'newEvaluationResult', 'evaluationResultIdentifier', 'evaluationResultQualifier'] as const;

describe('Config: mapped rules', () => {
  it('s3-bucket-level-public-access-prohibited NON_COMPLIANT -> active finding with every field', () => {
    expect(only(s3NonCompliant)).toEqual({
      id: 's3-bucket-level-public-access-prohibited/acme-reports-2026',
      source: 'config',
      control: 's3-block-public-access',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
      severity: 'HIGH',
      title: 'AWS Config rule s3-bucket-level-public-access-prohibited found acme-reports-2026 NON_COMPLIANT',
      observedAt: '2026-11-23T13:03:46.945Z',
      state: 'active',
      origin: {
        configRuleName: 's3-bucket-level-public-access-prohibited',
        configRuleArn: 'arn:aws:config:us-east-1:123456789012:config-rule/config-rule-dx9jfb',
      },
    });
  });

  it('securityhub-restricted-ssh-<suffix> COMPLIANT -> resolved security group finding', () => {
    expect(only(sshCompliant)).toEqual({
      id: 'securityhub-restricted-ssh-a1b2c3d4/sg-0a1b2c3d4e5f60718',
      source: 'config',
      control: 'ec2-sg-admin-ports-open',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsEc2SecurityGroup', id: 'sg-0a1b2c3d4e5f60718' },
      severity: 'HIGH',
      title: 'AWS Config rule securityhub-restricted-ssh-a1b2c3d4 found sg-0a1b2c3d4e5f60718 COMPLIANT',
      observedAt: '2026-11-23T13:13:49.210Z',
      state: 'resolved',
      origin: {
        configRuleName: 'securityhub-restricted-ssh-a1b2c3d4',
        configRuleArn:
          'arn:aws:config:us-east-1:123456789012:config-rule/aws-service-rule/securityhub.amazonaws.com/config-rule-lcprsx',
      },
    });
  });

  it('restricted-common-ports as Security Hub names it -> ec2-sg-admin-ports-open', () => {
    const body = edit(sshCompliant, ['detail', 'configRuleName'], 'securityhub-vpc-sg-restricted-common-ports-3d4e5f6a');
    expect(only(body).control).toBe('ec2-sg-admin-ports-open');
  });

  it('takes resourceId and resourceType from the evaluation qualifier when the detail lacks them', () => {
    let body = edit(s3NonCompliant, ['detail', 'resourceId'], REMOVE);
    body = edit(body, ['detail', 'resourceType'], REMOVE);
    expect(only(body).resource).toEqual({ type: 'AwsS3Bucket', id: 'acme-reports-2026' });
  });

  it('uses the event time when resultRecordedTime is missing', () => {
    const body = edit(s3NonCompliant, ['detail', 'newEvaluationResult', 'resultRecordedTime'], REMOVE);
    expect(only(body).observedAt).toBe('2026-11-23T13:03:47.000Z');
  });

  it('accepts configRuleArn spelled in camel case and omits it when absent', () => {
    let body = edit(s3NonCompliant, ['detail', 'configRuleARN'], REMOVE);
    expect(only(body).origin).toEqual({ configRuleName: 's3-bucket-level-public-access-prohibited' });
    body = edit(body, ['detail', 'configRuleArn'], 'arn:aws:config:us-east-1:123456789012:config-rule/config-rule-x');
    expect(only(body).origin['configRuleArn']).toBe('arn:aws:config:us-east-1:123456789012:config-rule/config-rule-x');
  });
});

describe('Config: S3 ACL and encryption rules', () => {
  const publicRead = load('config-securityhub-s3-bucket-public-read-prohibited-noncompliant.json');

  it('securityhub-s3-bucket-public-read-prohibited-<suffix> NON_COMPLIANT -> s3-bucket-public-acl with every field', () => {
    expect(only(publicRead)).toEqual({
      id: 'securityhub-s3-bucket-public-read-prohibited-5b6c7d8e/acme-reports-2026',
      source: 'config',
      control: 's3-bucket-public-acl',
      account: '123456789012',
      region: 'us-east-1',
      resource: { type: 'AwsS3Bucket', id: 'acme-reports-2026' },
      severity: 'CRITICAL',
      title: 'AWS Config rule securityhub-s3-bucket-public-read-prohibited-5b6c7d8e found acme-reports-2026 NON_COMPLIANT',
      observedAt: '2026-11-23T10:08:40.118Z',
      state: 'active',
      origin: {
        configRuleName: 'securityhub-s3-bucket-public-read-prohibited-5b6c7d8e',
        configRuleArn:
          'arn:aws:config:us-east-1:123456789012:config-rule/aws-service-rule/securityhub.amazonaws.com/config-rule-q7r2kd',
      },
    });
  });

  it.each([
    ['s3-bucket-public-write-prohibited', 's3-bucket-public-acl', 'CRITICAL'],
    ['s3-bucket-server-side-encryption-enabled', 's3-default-encryption', 'MEDIUM'],
    ['securityhub-s3-default-encryption-kms-6c7d8e9f', 's3-default-encryption', 'MEDIUM'],
  ])('%s -> %s (%s)', (rule, control, severity) => {
    expect(only(edit(publicRead, ['detail', 'configRuleName'], rule))).toMatchObject({ control, severity });
  });

  it('COMPLIANT -> resolved', () => {
    expect(only(edit(publicRead, ['detail', 'newEvaluationResult', 'complianceType'], 'COMPLIANT')).state).toBe('resolved');
  });

  it('s3-default-encryption-kms evaluating a KMS key -> ignored (the control acts on buckets)', () => {
    let body = edit(publicRead, ['detail', 'configRuleName'], 's3-default-encryption-kms');
    body = edit(body, ['detail', 'resourceType'], 'AWS::KMS::Key');
    body = edit(body, ['detail', 'resourceId'], '1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe(
      'resource type AWS::KMS::Key is not the one s3-default-encryption acts on (AWS::S3::Bucket)',
    );
  });
});

describe('Config: security group rules', () => {
  it.each(['vpc-sg-open-only-to-authorized-ports', 'securityhub-vpc-sg-port-restriction-check-1a2b3c4d'])('%s -> ec2-sg-admin-ports-open', (rule) => {
    expect(only(edit(sshCompliant, ['detail', 'configRuleName'], rule)).control).toBe('ec2-sg-admin-ports-open');
  });
});

describe('Config: EBS encryption by default (AWS::::Account)', () => {
  const ebs = load('config-ec2-ebs-encryption-by-default-noncompliant.json');

  it('ec2-ebs-encryption-by-default NON_COMPLIANT -> ec2-ebs-default-encryption on the account, with every field', () => {
    expect(only(ebs)).toEqual({
      id: 'ec2-ebs-encryption-by-default/123456789012',
      source: 'config',
      control: 'ec2-ebs-default-encryption',
      account: '123456789012',
      region: 'eu-central-1',
      resource: { type: 'AwsAccount', id: '123456789012' },
      severity: 'MEDIUM',
      title: 'AWS Config rule ec2-ebs-encryption-by-default found 123456789012 NON_COMPLIANT',
      observedAt: '2026-11-23T11:24:10.337Z',
      state: 'active',
      origin: {
        configRuleName: 'ec2-ebs-encryption-by-default',
        configRuleArn: 'arn:aws:config:eu-central-1:123456789012:config-rule/config-rule-m3xq8v',
      },
    });
  });

  it('COMPLIANT -> resolved', () => {
    expect(only(edit(ebs, ['detail', 'newEvaluationResult', 'complianceType'], 'COMPLIANT')).state).toBe('resolved');
  });

  it.each([
    ['210987654321', 'detail.resourceId: must be the finding\'s own account 123456789012, got "210987654321"'],
    ['AWS::::Account:123456789012', 'detail.resourceId: must be a 12-digit AWS account id, got "AWS::::Account:123456789012"'],
  ])('rejects account resource id %j', (id, problem) => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(ebs, ['detail', 'resourceId'], id)))).toEqual([problem]);
  });
});

describe('Config: IAM user rules (resource ids are unique ids, not names)', () => {
  const iamUser = load('config-iam-user-mfa-enabled-noncompliant.json');
  const REASON =
    'AWS Config names IAM users by their unique id (AIDA...), not by user name, and the event carries no name; the user reaches rectify through Security Hub or CloudTrail';

  it.each(['NON_COMPLIANT', 'COMPLIANT'])('iam-user-mfa-enabled %s -> ignored with the reason', (complianceType) => {
    const body = edit(iamUser, ['detail', 'newEvaluationResult', 'complianceType'], complianceType);
    expect(normalizeEventBridgeEvent(body)).toEqual({
      findings: [],
      ignored: [{ reason: REASON, ref: 'iam-user-mfa-enabled/AIDACKCEVSQ6C2EXAMPLE' }],
    });
  });

  it('securityhub-mfa-enabled-for-iam-console-access-<suffix> -> ignored the same way', () => {
    const body = edit(iamUser, ['detail', 'configRuleName'], 'securityhub-mfa-enabled-for-iam-console-access-7d8e9f0a');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe(REASON);
  });

  it('still rejects a malformed event', () => {
    const body = edit(iamUser, ['detail', 'awsAccountId'], 'x');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual(['detail.awsAccountId: must be a 12-digit AWS account id, got "x"']);
  });
});

describe('Config: ignored events', () => {
  it('a rule built on no remediated managed rule -> ignored', () => {
    expect(normalizeEventBridgeEvent(unmappedRule)).toEqual({
      findings: [],
      ignored: [
        {
          reason: 'config rule volumes-prod-tags is not mapped to a remediated control',
          ref: 'volumes-prod-tags/vol-0f0b1ec8ced432a26',
        },
      ],
    });
  });

  it.each(['NOT_APPLICABLE', 'INSUFFICIENT_DATA'])('%s -> ignored', (complianceType) => {
    const body = edit(s3NonCompliant, ['detail', 'newEvaluationResult', 'complianceType'], complianceType);
    expect(normalizeEventBridgeEvent(body).ignored).toEqual([
      {
        reason: `compliance type ${complianceType}: the rule did not decide`,
        ref: 's3-bucket-level-public-access-prohibited/acme-reports-2026',
      },
    ]);
  });

  it('a resource type other than the control acts on -> ignored', () => {
    const body = edit(s3NonCompliant, ['detail', 'resourceType'], 'AWS::S3::AccessPoint');
    expect(normalizeEventBridgeEvent(body).ignored[0]?.reason).toBe(
      'resource type AWS::S3::AccessPoint is not the one s3-block-public-access acts on (AWS::S3::Bucket)',
    );
  });
});

describe('controlForConfigRule', () => {
  it.each([
    ['s3-bucket-level-public-access-prohibited', 's3-block-public-access'],
    ['securityhub-s3-bucket-level-public-access-prohibited-7c1e2f3a', 's3-block-public-access'],
    ['restricted-ssh', 'ec2-sg-admin-ports-open'],
    ['prod-restricted-ssh', 'ec2-sg-admin-ports-open'],
    ['restricted-ssh-conformance-pack-6cruwvtg2', 'ec2-sg-admin-ports-open'],
    ['RESTRICTED-SSH', 'ec2-sg-admin-ports-open'],
    ['restricted-common-ports', 'ec2-sg-admin-ports-open'],
    ['unrestricted-ssh-restricted-ssh', 'ec2-sg-admin-ports-open'],
    ['s3-bucket-public-read-prohibited', 's3-bucket-public-acl'],
    ['s3-bucket-public-write-prohibited-conformance-pack-x1', 's3-bucket-public-acl'],
    ['s3-bucket-server-side-encryption-enabled', 's3-default-encryption'],
    ['securityhub-s3-default-encryption-kms-6c7d8e9f', 's3-default-encryption'],
    ['vpc-sg-open-only-to-authorized-ports', 'ec2-sg-admin-ports-open'],
    ['vpc-sg-port-restriction-check', 'ec2-sg-admin-ports-open'],
    ['securityhub-ec2-ebs-encryption-by-default-2843ed9e', 'ec2-ebs-default-encryption'],
    ['mfa-enabled-for-iam-console-access', 'iam-user-console-mfa'],
    ['iam-user-mfa-enabled', 'iam-user-console-mfa'],
  ])('%j -> %s', (name, control) => {
    expect(controlForConfigRule(name)).toBe(control);
  });

  it.each(['unrestricted-ssh', 'restricted-sshd', 'restricted_ssh', 'restrictedssh', 's3-bucket-public-access-prohibited', 's3-default-encryption', 'root-account-mfa-enabled', ''])(
    '%j -> none',
    (name) => {
      expect(controlForConfigRule(name)).toBeUndefined();
    },
  );
});

describe('Config: invalid events', () => {
  it('lists every problem at once', () => {
    let body = edit(s3NonCompliant, ['detail', 'configRuleName'], REMOVE);
    body = edit(body, ['detail', 'awsAccountId'], '0123');
    body = edit(body, ['detail', 'awsRegion'], 'EU');
    body = edit(body, ['detail', 'newEvaluationResult', 'complianceType'], 'MAYBE');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'detail.configRuleName: is missing',
      'detail.awsAccountId: must be a 12-digit AWS account id, got "0123"',
      'detail.awsRegion: must be an AWS region such as us-east-1, got "EU"',
      'detail.newEvaluationResult.complianceType: must be one of COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA, got "MAYBE"',
    ]);
  });

  it('requires a resource id somewhere', () => {
    let body = edit(s3NonCompliant, ['detail', 'resourceId'], REMOVE);
    body = edit(body, [...QUALIFIER, 'resourceId'], REMOVE);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual(['detail.resourceId: is missing']);
  });

  it('rejects an invalid bucket name or group id for a mapped rule', () => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3NonCompliant, ['detail', 'resourceId'], 'Not A Bucket')))[0]).toContain(
      'detail.resourceId: is not a valid S3 bucket name',
    );
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(sshCompliant, ['detail', 'resourceId'], 'sg-nothex!')))).toEqual([
      'detail.resourceId: must be a security group id (sg- and 8 or 17 hex digits), got "sg-nothex!"',
    ]);
  });

  it('rejects an invalid resultRecordedTime', () => {
    const body = edit(s3NonCompliant, ['detail', 'newEvaluationResult', 'resultRecordedTime'], '2026-02-30T00:00:00Z');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'detail.newEvaluationResult.resultRecordedTime: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "2026-02-30T00:00:00Z"',
    ]);
  });

  it('rejects a messageType other than ComplianceChangeNotification', () => {
    const body = edit(s3NonCompliant, ['detail', 'messageType'], 'ConfigurationItemChangeNotification');
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'detail.messageType: must be "ComplianceChangeNotification", got "ConfigurationItemChangeNotification"',
    ]);
  });

  it('rejects a source other than aws.config', () => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3NonCompliant, ['source'], 'aws.s3')))).toEqual([
      'source: "aws.s3" does not match detail-type "Config Rules Compliance Change"; expected "aws.config"',
    ]);
  });

  it('rejects a rule name longer than Config allows', () => {
    const body = edit(s3NonCompliant, ['detail', 'configRuleName'], `restricted-ssh-${'x'.repeat(200)}`);
    expect(problemsOf(() => normalizeEventBridgeEvent(body))).toEqual([
      'detail.configRuleName: must be at most 128 characters, got 215',
    ]);
  });
});
