import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { CreateBucketCommand, GetBucketVersioningCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { Ajv } from 'ajv';
import { getControl, loadControlModules, registeredControlIds, registeredControls } from '../../src/activities/controls/index.js';
import { catalogRows } from '../../src/cli/catalog.js';
import { normalizeEventBridgeEvent } from '../../src/findings/index.js';
import { parsePolicy } from '../../src/policy/load.js';
import { policyJsonSchema } from '../../src/policy/schema.js';
import type { Policy } from '../../src/policy/types.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { scanAccount, type ScanResult } from '../../src/workflows/scan-account.js';
import { activityHarness } from '../activities/harness.js';
import { problemsOf } from '../unit/normalizers/helpers.js';
import { ACCOUNT } from '../helpers/fixtures.js';
import { startTestWorker, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * The sample control of docs/controls.md (examples/controls/s3-bucket-versioning.ts), loaded as
 * CONTROL_MODULES loads it, goes through every part of the product with no change to workflow
 * code: the catalog, the policy (its own setting checked), a Security Hub event and a Config
 * evaluation through the normalizers, the remediation workflow (fix, dry-run, evidence), undo,
 * and the scan.
 */

const REGION = 'sa-east-1';
const ID = 's3-bucket-versioning';
let w: TestWorker;

const policyText = (mode: string, extra = '') => `version: 1
defaults:
  undo: { window: 0s }
controls:
  ${ID}:
    mode: ${mode}
${extra}`;
let autoPolicy: Policy;

async function bucket(): Promise<string> {
  const name = unique('versioning').toLowerCase();
  await w.aws.s3(REGION).send(new CreateBucketCommand({ Bucket: name, CreateBucketConfiguration: { LocationConstraint: REGION } }));
  return name;
}
const status = async (name: string) => (await w.aws.s3(REGION).send(new GetBucketVersioningCommand({ Bucket: name }))).Status;

/** A Security Hub "Findings - Imported" event for S3.14, as EventBridge delivers it. */
function securityHubEvent(name: string) {
  const now = new Date().toISOString();
  return {
    version: '0',
    id: unique('evt'),
    'detail-type': 'Security Hub Findings - Imported',
    source: 'aws.securityhub',
    account: ACCOUNT,
    time: now,
    region: REGION,
    resources: [`arn:aws:securityhub:${REGION}:${ACCOUNT}:security-control/S3.14/finding/${name}`],
    detail: {
      findings: [
        {
          SchemaVersion: '2018-10-08',
          Id: `arn:aws:securityhub:${REGION}:${ACCOUNT}:security-control/S3.14/finding/${name}`,
          ProductArn: `arn:aws:securityhub:${REGION}::product/aws/securityhub`,
          GeneratorId: 'security-control/S3.14',
          AwsAccountId: ACCOUNT,
          Region: REGION,
          Types: ['Software and Configuration Checks/AWS Security Best Practices'],
          CreatedAt: now,
          UpdatedAt: now,
          Severity: { Label: 'LOW', Normalized: 1 },
          Title: 'S3 general purpose buckets should have versioning enabled',
          Compliance: { Status: 'FAILED', SecurityControlId: 'S3.14' },
          Workflow: { Status: 'NEW' },
          RecordState: 'ACTIVE',
          Resources: [{ Type: 'AwsS3Bucket', Id: `arn:aws:s3:::${name}`, Partition: 'aws', Region: REGION }],
        },
      ],
    },
  };
}

beforeAll(async () => {
  const loaded = await loadControlModules(['./examples/controls/s3-bucket-versioning.ts']);
  expect(loaded.map((c) => c.id)).toEqual([ID]);
  autoPolicy = parsePolicy(policyText('auto'));
  w = await startTestWorker({ policy: autoPolicy });
});
afterAll(async () => {
  await w?.stop();
});

describe('a control of your own, registered from a module', () => {
  it('is in the registry and the catalog, loading the module again registers nothing twice', async () => {
    expect(registeredControlIds()).toContain(ID);
    expect(catalogRows().find((r) => r.id === ID)).toMatchObject({ securityHub: ['S3.14'], configRules: ['s3-bucket-versioning-enabled'], defaultMode: 'auto', settings: ['versioningSuspendedIsViolation'] });
    expect(await loadControlModules(['./examples/controls/s3-bucket-versioning.ts'])).toEqual([]);
    await expect(loadControlModules(['./examples/controls/no-such-control.ts'])).rejects.toThrow(/CONTROL_MODULES: \.\/examples\/controls\/no-such-control\.ts could not be loaded/);
  });

  it('has its own setting checked by the policy loader, with its path', () => {
    expect(parsePolicy(policyText('auto', '    settings: { versioningSuspendedIsViolation: false }')).controls[ID]!.settings['versioningSuspendedIsViolation']).toBe(false);
    expect(problemsOf(() => parsePolicy(policyText('auto', '    settings: { versioningSuspendedIsViolation: "no" }')))).toEqual([
      `controls.${ID}.settings.versioningSuspendedIsViolation: Invalid input: expected boolean, received string`,
    ]);
    // A policy that does not name it still covers it, at its catalog default.
    expect(parsePolicy('version: 1\n').controls[ID]!.mode).toBe('auto');
  });

  it('is in the JSON Schema editors check policy files with, its setting and its default too', () => {
    const schema = policyJsonSchema(registeredControls());
    const check = new Ajv({ strict: false }).compile(schema);
    expect(check({ version: 1, controls: { [ID]: { mode: 'approve', settings: { versioningSuspendedIsViolation: false } } } })).toBe(true);
    expect(check({ version: 1, controls: { [ID]: { settings: { versioningSuspendedIsViolation: 'no' } } } })).toBe(false);
    expect(check({ version: 1, controls: { [ID]: { settings: { versioningSuspendedIsViolatio: true } } } })).toBe(false);
    expect(JSON.stringify(schema)).toMatch(/"versioningSuspendedIsViolation":\{"type":"boolean","default":true/);
  });

  it('maps its Security Hub control and its Config rule to findings', async () => {
    const [f] = normalizeEventBridgeEvent(securityHubEvent('some-bucket-1')).findings;
    expect(f).toMatchObject({ control: ID, resource: { type: 'AwsS3Bucket', id: 'some-bucket-1' }, severity: 'LOW', region: REGION });
    const config = normalizeEventBridgeEvent({
      version: '0',
      id: unique('evt'),
      'detail-type': 'Config Rules Compliance Change',
      source: 'aws.config',
      account: ACCOUNT,
      time: new Date().toISOString(),
      region: REGION,
      resources: [],
      detail: {
        resourceId: 'some-bucket-2',
        awsRegion: REGION,
        awsAccountId: ACCOUNT,
        configRuleName: 'securityhub-s3-bucket-versioning-enabled-3f2a1c',
        resourceType: 'AWS::S3::Bucket',
        messageType: 'ComplianceChangeNotification',
        newEvaluationResult: { complianceType: 'NON_COMPLIANT', resultRecordedTime: new Date().toISOString() },
      },
    });
    expect(config.findings.map((x) => [x.control, x.resource.id])).toEqual([[ID, 'some-bucket-2']]);
  });

  it('is fixed by the remediation workflow from a Security Hub event, with the change in the evidence', async () => {
    const name = await bucket();
    const [finding] = normalizeEventBridgeEvent(securityHubEvent(name)).findings;
    const r = await createSubmitter(w.client, { taskQueue: w.taskQueue, verifyDeadlineMs: 20_000, policy: autoPolicy }).submit(finding!);
    const record: RemediationRecord = await w.client.workflow.getHandle(r.workflowId).result();
    expect(record.outcome).toBe('remediated');
    expect(record.change?.summary).toBe(`Turn on versioning of S3 bucket ${name}`);
    expect(record.signature).toBeDefined();
    expect(await status(name)).toBe('Enabled');
  }, 60_000);

  it('in dry-run records the change it would make and changes nothing', async () => {
    const name = await bucket();
    const policy = parsePolicy(policyText('dry-run'));
    const [finding] = normalizeEventBridgeEvent(securityHubEvent(name)).findings;
    const r = await createSubmitter(w.client, { taskQueue: w.taskQueue, verifyDeadlineMs: 20_000, policy }).submit(finding!);
    const record: RemediationRecord = await w.client.workflow.getHandle(r.workflowId).result();
    expect(record.outcome).toBe('dry-run');
    expect(JSON.stringify(record)).toContain(`Turn on versioning of S3 bucket ${name}`);
    expect(await status(name)).toBeUndefined();
  }, 60_000);

  it('is undone as far as S3 allows (Suspended), and says so', async () => {
    const { acts, run } = activityHarness();
    const name = await bucket();
    const finding = { id: unique('f'), source: 'generic' as const, control: ID, account: ACCOUNT, region: REGION, resource: { type: 'AwsS3Bucket', id: name }, severity: 'LOW' as const, title: 't', observedAt: new Date().toISOString(), state: 'active' as const, origin: {} };
    const settings = autoPolicy.controls[ID]!.settings;
    const fix = await run(acts.applyFix, finding, settings);
    expect(fix.applied).toBe(true);
    const undone = await run(acts.undoFix, finding, fix.before, fix.change!);
    expect(undone.after).toEqual({ bucket: name, status: 'Suspended' });
    expect(getControl(ID)!.catalog.undo).toMatch(/cannot take a bucket back to never versioned/);
  }, 60_000);

  it('is scanned with no list given: the scan asks the worker for its controls', async () => {
    const violating = await bucket();
    const fine = await bucket();
    await w.aws.s3(REGION).send(new PutBucketVersioningCommand({ Bucket: fine, VersioningConfiguration: { Status: 'Enabled' } }));
    const result: ScanResult = await w.client.workflow.execute(scanAccount, { taskQueue: w.taskQueue, workflowId: unique('scan-custom'), args: [{ regions: [REGION], account: ACCOUNT }] });
    expect(result.violations).toBeGreaterThanOrEqual(1);
    // The scan started the remediation of the violating bucket, which the auto policy fixed.
    for (let i = 0; i < 100 && (await status(violating)) !== 'Enabled'; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await status(violating)).toBe('Enabled');
  }, 120_000);
});
