import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { controlForConfigRule } from '../../../src/findings/config-rules.js';
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
  ])('%j -> %s', (name, control) => {
    expect(controlForConfigRule(name)).toBe(control);
  });

  it.each(['unrestricted-ssh', 'restricted-sshd', 'restricted_ssh', 'restrictedssh', 's3-bucket-public-read-prohibited', ''])(
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
