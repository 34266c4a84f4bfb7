import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOG_CONTROLS, FIRST_CONTROLS, registeredControls } from '../../src/activities/controls/index.js';
import { catalogMarkdown, catalogRows, catalogText, withCatalog } from '../../src/cli/catalog.js';
import { normalizeEventBridgeEvent } from '../../src/findings/index.js';
import { load } from './normalizers/helpers.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** How Security Hub names a resource of each type (ASFF Resources[].Id). */
const SAMPLE_ARN: Record<string, string> = {
  AwsS3Bucket: 'arn:aws:s3:::acme-reports-2026',
  AwsEc2SecurityGroup: `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/sg-0123456789abcdef0`,
  AwsRdsDbSnapshot: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:orders-db-final`,
  AwsRdsDbInstance: `arn:aws:rds:${REGION}:${ACCOUNT}:db:orders-db`,
  AwsEc2Instance: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`,
  AwsIamUser: `arn:aws:iam::${ACCOUNT}:user/ops/svc-reporting`,
  AwsKmsKey: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
  AwsCloudTrailTrail: `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/management-events`,
  AwsLambdaFunction: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:orders-api`,
  AwsSnsTopic: `arn:aws:sns:${REGION}:${ACCOUNT}:order-events`,
  AwsSqsQueue: `arn:aws:sqs:${REGION}:${ACCOUNT}:order-jobs`,
};

function securityHubEvent(controlId: string, resource: { Type: string; Id: string }) {
  const now = '2026-11-20T10:00:00.000Z';
  const id = `arn:aws:securityhub:${REGION}:${ACCOUNT}:security-control/${controlId}/finding/0f0e0d0c-0b0a-4909-8807-060504030201`;
  return {
    version: '0', id: '1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b', 'detail-type': 'Security Hub Findings - Imported', source: 'aws.securityhub',
    account: ACCOUNT, time: now, region: REGION, resources: [id],
    detail: {
      findings: [{
        SchemaVersion: '2018-10-08', Id: id, ProductArn: `arn:aws:securityhub:${REGION}::product/aws/securityhub`, GeneratorId: `security-control/${controlId}`,
        AwsAccountId: ACCOUNT, Region: REGION, CreatedAt: now, UpdatedAt: now, Severity: { Label: 'HIGH' }, Title: `${controlId} failed`,
        Compliance: { Status: 'FAILED', SecurityControlId: controlId }, Workflow: { Status: 'NEW' }, RecordState: 'ACTIVE', Resources: [{ ...resource, Region: REGION }],
      }],
    },
  };
}

function configEvent(ruleName: string, resourceType: string, resourceId: string) {
  return {
    version: '0', id: '2c3d4e5f-6071-4829-a0b1-c2d3e4f5a6b7', 'detail-type': 'Config Rules Compliance Change', source: 'aws.config',
    account: ACCOUNT, time: '2026-11-20T10:00:00Z', region: REGION, resources: [],
    detail: {
      resourceId, awsRegion: REGION, awsAccountId: ACCOUNT, configRuleName: ruleName, resourceType, messageType: 'ComplianceChangeNotification',
      newEvaluationResult: { complianceType: 'NON_COMPLIANT', resultRecordedTime: '2026-11-20T10:00:00Z' },
    },
  };
}

describe('the catalog', () => {
  it('has the first six and the twelve added since, each with every catalog fact', () => {
    expect(registeredControls().slice(0, 18)).toEqual([...FIRST_CONTROLS, ...CATALOG_CONTROLS]);
    for (const r of catalogRows()) {
      expect(r.title, r.id).not.toBe('');
      expect(r.securityHub.length + r.configRules.length + r.cloudTrail.length, r.id).toBeGreaterThan(0);
      expect(r.changes.length, r.id).toBeGreaterThan(10);
      expect(['auto', 'approve', 'notify']).toContain(r.defaultMode);
      expect(r.undo.length, r.id).toBeGreaterThan(3);
    }
    expect(catalogRows().find((r) => r.id === 'iam-access-key-stale')).toMatchObject({ resourceType: 'AwsIamUser (global)', securityHub: ['IAM.3', 'IAM.8'], settings: ['maxKeyAgeDays', 'maxUnusedDays'], defaultMode: 'approve' });
  });

  it("the README's catalog table is the generated one (run npm run cli -- controls --write-readme when this fails)", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(withCatalog(readme, catalogMarkdown(catalogRows(registeredControls().slice(0, 18))))).toBe(readme);
  });

  it('`cli controls` names every control with its sources, default mode and undo', () => {
    const text = catalogText();
    for (const c of registeredControls()) expect(text).toContain(`${c.id}: ${c.title}`);
    expect(text).toMatch(/kms-key-rotation: .*\n {2}resource {6}AwsKmsKey\n {2}Security Hub {2}KMS\.4\n {2}Config rules {2}cmk-backing-key-rotation-enabled\n {2}CloudTrail {4}kms:CreateKey, kms:DisableKeyRotation/);
  });
});

describe('Security Hub control ids of the catalog map to their control', () => {
  it.each(CATALOG_CONTROLS.flatMap((c) => c.catalog.securityHub.map((sh) => [sh, c.id, c.catalog.resourceType] as const)))('%s -> %s', (sh, id, type) => {
    const event = securityHubEvent(sh, type === 'AwsEc2Snapshot' ? { Type: 'AwsAccount', Id: `AWS::::Account:${ACCOUNT}` } : { Type: type, Id: SAMPLE_ARN[type]! });
    const r = normalizeEventBridgeEvent(event);
    if (type === 'AwsEc2Snapshot') {
      // EC2.1 checks the whole account: a scan of the control in that account and region finds the snapshots.
      expect(r.findings).toEqual([]);
      expect(r.ignored).toEqual([]);
      expect(r.scans).toEqual([
        { control: id, account: ACCOUNT, region: REGION, reason: `control ${sh} reports on the account, not on one AwsEc2Snapshot: a scan of ${id} in ${ACCOUNT} ${REGION} finds and fixes them`, ref: event.detail.findings[0]!.Id },
      ]);
      // Passed or archived: nothing to scan for.
      const passed = structuredClone(event);
      passed.detail.findings[0]!.Compliance.Status = 'PASSED';
      const p = normalizeEventBridgeEvent(passed);
      expect(p.scans).toBeUndefined();
      expect(p.ignored[0]?.reason).toMatch(/reports on the account, not on one AwsEc2Snapshot: passed or archived, nothing to scan for/);
      return;
    }
    const control = CATALOG_CONTROLS.find((c) => c.id === id)!;
    expect(r.ignored).toEqual([]);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({ control: id, source: 'securityhub', resource: { type, id: control.catalog.resourceId(SAMPLE_ARN[type]!) } });
    expect(r.findings[0]!.resource.id).toBeDefined();
  });

  it('a resource Security Hub names in a form the control cannot act on is refused, naming the form expected', () => {
    expect(() => normalizeEventBridgeEvent(securityHubEvent('KMS.4', { Type: 'AwsKmsKey', Id: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/orders` }))).toThrow(/must be a KMS key id or key ARN \(not an alias\)/);
  });
});

describe('AWS Config managed rules of the catalog map to their control, also inside conformance-pack names', () => {
  const sample: Record<string, [string, string]> = {
    's3-bucket-ssl-requests-only': ['AWS::S3::Bucket', 'acme-reports-2026'],
    'vpc-default-security-group-closed': ['AWS::EC2::SecurityGroup', 'sg-0123456789abcdef0'],
    'rds-snapshots-public-prohibited': ['AWS::RDS::DBSnapshot', 'orders-db-final'],
    'rds-instance-public-access-check': ['AWS::RDS::DBInstance', 'orders-db'],
    'ec2-imdsv2-check': ['AWS::EC2::Instance', 'i-0123456789abcdef0'],
    'cmk-backing-key-rotation-enabled': ['AWS::KMS::Key', '1234abcd-12ab-34cd-56ef-1234567890ab'],
    'lambda-function-public-access-prohibited': ['AWS::Lambda::Function', 'orders-api'],
  };
  it.each(Object.entries(sample))('securityhub-%s-a1b2c3', (rule, [type, resourceId]) => {
    const control = CATALOG_CONTROLS.find((c) => c.catalog.configRules.includes(rule))!;
    const r = normalizeEventBridgeEvent(configEvent(`securityhub-${rule}-a1b2c3`, type, resourceId));
    expect(r.findings.map((f) => [f.control, f.resource.id])).toEqual([[control.id, resourceId]]);
  });

  it('a non-compliant evaluation of the account for a rule about snapshots asks for a scan of that account and region', () => {
    const r = normalizeEventBridgeEvent(configEvent('securityhub-ebs-snapshot-public-restorable-check-a1b2c3', 'AWS::::Account', ACCOUNT));
    expect(r.findings).toEqual([]);
    expect(r.ignored).toEqual([]);
    expect(r.scans).toEqual([
      {
        control: 'ec2-ebs-snapshot-public',
        account: ACCOUNT,
        region: REGION,
        reason: `config rule securityhub-ebs-snapshot-public-restorable-check-a1b2c3 reports on the account, not on one AWS::EC2::Snapshot: a scan of ec2-ebs-snapshot-public in ${ACCOUNT} ${REGION} finds and fixes them`,
        ref: `securityhub-ebs-snapshot-public-restorable-check-a1b2c3/${ACCOUNT}`,
      },
    ]);
    const compliant = configEvent('ebs-snapshot-public-restorable-check', 'AWS::::Account', ACCOUNT);
    compliant.detail.newEvaluationResult.complianceType = 'COMPLIANT';
    const c = normalizeEventBridgeEvent(compliant);
    expect(c.scans).toBeUndefined();
    expect(c.ignored[0]?.reason).toMatch(/reports on the account, not on one AWS::EC2::Snapshot: compliant, nothing to scan for/);
    // Another type than the account or the control's is still refused as before.
    expect(normalizeEventBridgeEvent(configEvent('ebs-snapshot-public-restorable-check', 'AWS::EC2::Volume', 'vol-0123')).ignored[0]?.reason).toMatch(
      /is not the one ec2-ebs-snapshot-public acts on \(AWS::EC2::Snapshot\)/,
    );
  });
});

describe('CloudTrail events of the catalog (recorded shapes in test/fixtures/events)', () => {
  const cases: [string, [string, string][]][] = [
    ['cloudtrail-s3-put-bucket-policy-public-read.json', [['s3-bucket-tls-required', 'acme-reports-2026']]],
    ['cloudtrail-s3-delete-bucket-policy.json', [['s3-bucket-tls-required', 'acme-reports-2026']]],
    ['cloudtrail-s3-put-bucket-policy-tls-deny.json', []],
    ['cloudtrail-ec2-authorize-sg-egress-default.json', [['ec2-default-sg-closed', 'sg-0d4e5f60718293a4b']]],
    ['cloudtrail-ec2-modify-snapshot-attribute-public.json', [['ec2-ebs-snapshot-public', 'snap-0a1b2c3d4e5f60718']]],
    ['cloudtrail-ec2-modify-snapshot-attribute-share-account.json', []],
    ['cloudtrail-rds-modify-db-snapshot-attribute-public.json', [['rds-snapshot-public', 'orders-db-final']]],
    ['cloudtrail-rds-create-db-instance-public.json', [['rds-instance-public', 'orders-db']]],
    ['cloudtrail-rds-create-db-instance-private.json', []],
    ['cloudtrail-rds-modify-db-instance-public.json', [['rds-instance-public', 'orders-db']]],
    ['cloudtrail-ec2-run-instances-imdsv1.json', [['ec2-imdsv2-required', 'i-0a1b2c3d4e5f60718'], ['ec2-imdsv2-required', 'i-0a1b2c3d4e5f60719']]],
    ['cloudtrail-ec2-run-instances-imdsv2.json', []],
    ['cloudtrail-ec2-modify-instance-metadata-options-optional.json', [['ec2-imdsv2-required', 'i-0c1d2e3f4a5b60718']]],
    ['cloudtrail-iam-create-access-key.json', [['iam-access-key-stale', 'svc-reporting']]],
    ['cloudtrail-iam-update-access-key-inactive.json', []],
    ['cloudtrail-kms-create-key.json', [['kms-key-rotation', '1234abcd-12ab-34cd-56ef-1234567890ab']]],
    ['cloudtrail-kms-create-key-asymmetric.json', []],
    ['cloudtrail-kms-disable-key-rotation.json', [['kms-key-rotation', '1234abcd-12ab-34cd-56ef-1234567890ab']]],
    ['cloudtrail-cloudtrail-create-trail.json', [['cloudtrail-log-validation', 'arn:aws:cloudtrail:eu-west-1:123456789012:trail/management-events']]],
    ['cloudtrail-cloudtrail-update-trail-validation-on.json', []],
    ['cloudtrail-lambda-add-permission-public.json', [['lambda-public-invoke', 'orders-api']]],
    ['cloudtrail-lambda-add-permission-org.json', []],
    ['cloudtrail-sns-set-topic-attributes-public-policy.json', [['sns-topic-public', 'arn:aws:sns:us-east-1:123456789012:order-events']]],
    ['cloudtrail-sns-set-topic-attributes-display-name.json', []],
    ['cloudtrail-sqs-set-queue-attributes-public-policy.json', [['sqs-queue-public', 'arn:aws:sqs:us-east-2:123456789012:order-jobs']]],
    ['cloudtrail-sqs-create-queue.json', []],
  ];
  it.each(cases)('%s', (file, expected) => {
    const r = normalizeEventBridgeEvent(load(file));
    expect(r.findings.map((f) => [f.control, f.resource.id])).toEqual(expected);
    // What a control ignores, it says why, under its own name.
    if (expected.length === 0) expect(r.ignored.some((i) => /^[a-z0-9-]+: /.test(i.reason))).toBe(true);
    for (const f of r.findings) expect(f.origin['eventId']).toBeDefined();
  });
});

describe('generic findings (Prowler and others) for the catalog', () => {
  it('take a resource as an ARN or an id, in the form the control acts on, and IAM is global', async () => {
    const { normalizeGenericFindings } = await import('../../src/findings/index.js');
    const { workflowIdFor } = await import('../../src/findings/finding.js');
    const base = { id: 'prowler-1', account: ACCOUNT, region: REGION, severity: 'HIGH' };
    const kms = normalizeGenericFindings({ ...base, control: 'kms-key-rotation', resource: { id: SAMPLE_ARN['AwsKmsKey'] } }).findings[0]!;
    expect(kms.resource).toEqual({ type: 'AwsKmsKey', id: '1234abcd-12ab-34cd-56ef-1234567890ab' });
    const { region: _r, ...noRegion } = base;
    const iam = normalizeGenericFindings({ ...noRegion, control: 'iam-access-key-stale', resource: { id: 'svc-reporting' } }).findings[0]!;
    expect(iam.region).toBe('us-east-1');
    expect(workflowIdFor(iam)).toBe(`finding/${ACCOUNT}/global/iam-access-key-stale/svc-reporting`);
    expect(() => normalizeGenericFindings({ ...base, control: 'rds-snapshot-public', resource: { id: 'arn:aws:rds:us-east-1:123456789012:cluster-snapshot:x' } })).toThrow(/resource\.id: must be an RDS DB snapshot/);
  });
});

describe('EventBridge rule patterns (cli controls --eventbridge)', () => {
  /** EventBridge's matching for the pattern forms used here: exact values in lists, nested objects. */
  const matches = (pattern: unknown, event: unknown): boolean => {
    if (Array.isArray(pattern)) return pattern.includes(event);
    if (typeof pattern !== 'object' || pattern === null) return false;
    return Object.entries(pattern).every(([k, p]) => {
      const v = (event as Record<string, unknown> | null)?.[k];
      // A pattern on a field of an array of objects matches when one element does (Security Hub findings).
      return Array.isArray(v) && !Array.isArray(p) ? v.some((x) => matches(p, x)) : matches(p, v);
    });
  };

  it('deliver every recorded event a control acts on, and every mapped Security Hub control', async () => {
    const { eventBridgePatterns } = await import('../../src/cli/catalog.js');
    const patterns = eventBridgePatterns();
    const { readdirSync } = await import('node:fs');
    const fixtures = readdirSync(new URL('../fixtures/events/', import.meta.url)).filter((f) => f.endsWith('.json') && !f.startsWith('generic-'));
    let acted = 0;
    for (const f of fixtures) {
      const event = load(f);
      let r;
      try {
        r = normalizeEventBridgeEvent(event);
      } catch {
        continue;
      }
      if (r.findings.length === 0 && r.scans === undefined) continue;
      acted++;
      expect(patterns.some((p) => matches(p, event)), f).toBe(true);
    }
    expect(acted).toBeGreaterThan(30);
    for (const c of registeredControls()) {
      for (const sh of c.catalog.securityHub) expect(patterns.some((p) => matches(p, securityHubEvent(sh, { Type: c.catalog.resourceType, Id: 'x' }))), sh).toBe(true);
    }
    expect(patterns.some((p) => matches(p, securityHubEvent('Macie.1', { Type: 'AwsS3Bucket', Id: 'x' })))).toBe(false);
  });
});
