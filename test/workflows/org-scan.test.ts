import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { CreateAccountCommand, CreateOrganizationCommand } from '@aws-sdk/client-organizations';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { createAwsClients, roleSessionName, type AwsClients } from '../../src/activities/aws.js';
import { loadConfig } from '../../src/config.js';
import { applyScanSchedule } from '../../src/triggers/schedule.js';
import { ControlId, ResourceType, workflowIdFor } from '../../src/findings/finding.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import type { OrgScanResult } from '../../src/workflows/scan-organization.js';
import { ACCOUNT, makeBucket, makeSecurityGroup } from '../helpers/fixtures.js';
import { startTestWorker, unique, type TestWorker } from '../helpers/stack.js';
import { createMemberRole, startTrustFront, type TrustFront } from '../helpers/sts-trust.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const HUB = ACCOUNT; // the organization's management account, where the hub runs (no member role there)
const REGIONS = ['us-east-1', 'eu-west-1'] as const;
const EXTERNAL_ID = 'org-scan-ext-5d1c';
const creds = { accessKeyId: 'emulator', secretAccessKey: 'emulator' };

let front: TrustFront;
let setup: AwsClients;
let hub: AwsClients;
let w: TestWorker;
let memberA = '';
let memberB = '';
const fixture = { publicInA: '', deniedInA: '', publicInBWest: '', openGroupInB: '' };

beforeAll(async () => {
  const moto = inject('motoEndpoint');
  front = await startTrustFront(moto, HUB);
  setup = createAwsClients({ region: 'us-east-1', endpointUrl: moto, emulatorCredentials: creds, memberRole: { arnTemplate: 'arn:aws:iam::{account}:role/test-setup' } });
  // The organization: the hub's account manages it; two member accounts join.
  const org = setup.organizations();
  await org.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
  const made = await Promise.all(
    ['a', 'b'].map((n) => org.send(new CreateAccountCommand({ AccountName: `member-${n}`, Email: `member-${n}@example.com` })).then((o) => o.CreateAccountStatus!.AccountId!)),
  );
  [memberA, memberB] = made as [string, string];
  // The member role in both members (as the StackSet deploys it); none in the management account.
  for (const account of [memberA, memberB]) {
    await createMemberRole(setup, account, HUB, EXTERNAL_ID);
  }
  const a = setup.forAccount(memberA);
  const b = setup.forAccount(memberB);
  fixture.publicInA = await makeBucket(a, undefined, {}, { prefix: 'org-a' });
  fixture.deniedInA = await makeBucket(a, undefined, {}, { prefix: 'org-denied' });
  fixture.publicInBWest = await makeBucket(b, undefined, {}, { prefix: 'org-b', region: 'eu-west-1' });
  fixture.openGroupInB = await makeSecurityGroup(b, [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
  front.denyBucket(fixture.deniedInA);

  hub = createAwsClients(
    { region: 'us-east-1', endpointUrl: front.endpoint, emulatorCredentials: creds, memberRole: { arnTemplate: 'arn:aws:iam::{account}:role/rectify-remediator', externalId: EXTERNAL_ID } },
    { roleSessionName: roleSessionName('org-scan') },
  );
  w = await startTestWorker({ aws: hub });
}, 120_000);

afterAll(async () => {
  await w?.stop();
  hub?.destroy();
  setup?.destroy();
  await front?.close();
});

describe('organization scan', () => {
  it('scans every account and region as its own child, fixes what it finds in each member, and lists what it could not read', async () => {
    // B has not enabled eu-west-1 for EC2: its scans of security groups there are refused.
    front.disableRegion(memberB, 'eu-west-1');
    const assumedBefore = front.assumeRoleCalls.length;
    const handle = await w.client.workflow.start('scanOrganization', {
      taskQueue: w.taskQueue,
      workflowId: unique('org-scan'),
      args: [{ accounts: 'organization', regions: [...REGIONS], controls: [ControlId.S3BlockPublicAccess, ControlId.SgAdminPortsOpen], concurrency: 3 }],
    });
    const result: OrgScanResult = await handle.result();

    expect(result.accounts).toEqual([memberA, memberB, HUB].sort());
    expect(result.scans).toHaveLength(6);
    const scanOf = (account: string, region: string) => result.scans.find((s) => s.account === account && s.region === region)!;

    // The management account has no member role: both of its scans failed, saying why; nothing else stopped.
    for (const region of REGIONS) {
      const s = scanOf(HUB, region);
      expect(s.status).toBe('failed');
      expect(s.reason).toContain(`cannot act in account ${HUB}`);
      expect(s.reason).toContain(`arn:aws:iam::${HUB}:role/rectify-remediator`);
    }
    // A: one bucket fixed, one unreadable (listed with the reason), the scan went on.
    const aEast = scanOf(memberA, 'us-east-1');
    expect(aEast.status).toBe('scanned');
    expect(aEast.violations).toBeGreaterThanOrEqual(1);
    expect(aEast.problems).toContainEqual(expect.objectContaining({ control: ControlId.S3BlockPublicAccess, region: 'us-east-1', resourceId: fixture.deniedInA, reason: expect.stringContaining('AccessDenied') }));
    // B in eu-west-1: security groups refused (region not enabled), buckets still scanned and fixed.
    const bWest = scanOf(memberB, 'eu-west-1');
    expect(bWest.status).toBe('scanned');
    expect(bWest.problems).toContainEqual(expect.objectContaining({ control: ControlId.SgAdminPortsOpen, region: 'eu-west-1', reason: expect.stringContaining('AuthFailure') }));
    expect(bWest.problems.some((p) => p.control === ControlId.S3BlockPublicAccess)).toBe(false);
    expect(scanOf(memberB, 'us-east-1').status).toBe('scanned');
    expect(result.totals.failed).toBe(2);
    expect(result.totals.unreadable).toBeGreaterThanOrEqual(2);

    // Each finding's remediation has the id the webhook path gives the same finding, and fixed it in its own account.
    const fixes = [
      { account: memberA, region: 'us-east-1', control: ControlId.S3BlockPublicAccess, resource: { type: ResourceType.S3Bucket, id: fixture.publicInA } },
      { account: memberB, region: 'eu-west-1', control: ControlId.S3BlockPublicAccess, resource: { type: ResourceType.S3Bucket, id: fixture.publicInBWest } },
      { account: memberB, region: 'us-east-1', control: ControlId.SgAdminPortsOpen, resource: { type: ResourceType.SecurityGroup, id: fixture.openGroupInB } },
    ];
    for (const f of fixes) {
      const record: RemediationRecord = await w.client.workflow.getHandle(workflowIdFor(f)).result();
      expect(record).toMatchObject({ outcome: 'remediated', account: f.account, source: 'scan' });
    }
    expect((await setup.forAccount(memberA).s3('us-east-1').send(new GetPublicAccessBlockCommand({ Bucket: fixture.publicInA }))).PublicAccessBlockConfiguration?.BlockPublicAcls).toBe(true);
    expect((await setup.forAccount(memberB).s3('eu-west-1').send(new GetPublicAccessBlockCommand({ Bucket: fixture.publicInBWest }))).PublicAccessBlockConfiguration?.BlockPublicAcls).toBe(true);
    const group = await setup.forAccount(memberB).ec2('us-east-1').send(new DescribeSecurityGroupsCommand({ GroupIds: [fixture.openGroupInB] }));
    expect(group.SecurityGroups?.[0]?.IpPermissions ?? []).toEqual([]);
    // No request on the denied bucket got through.
    expect(front.s3Requests.filter((r) => r.bucket === fixture.deniedInA)).toEqual([]);

    // One session per member account for the whole scan and its fixes (plus the refused attempts in the management account).
    const calls = front.assumeRoleCalls.slice(assumedBefore);
    expect(calls.filter((c) => c.granted).map((c) => c.roleArn).sort()).toEqual([memberA, memberB].sort().map((id) => `arn:aws:iam::${id}:role/rectify-remediator`));
    expect(calls.every((c) => c.sessionName === 'rectify-org-scan')).toBe(true);
  });

  it('SCAN_ACCOUNTS puts the organization scan on the schedule', async () => {
    const scheduleId = unique('org-schedule');
    const config = loadConfig({ SCAN_ACCOUNTS: 'organization', SCAN_REGIONS: 'us-east-1,eu-west-1' });
    await applyScanSchedule(w.client, { taskQueue: w.taskQueue, intervalMs: 3_600_000, catchupWindowMs: 60_000, regions: config.scan.regions, accounts: config.scan.accounts!, scheduleId });
    try {
      const d = await w.client.schedule.getHandle(scheduleId).describe();
      expect(d.action.type).toBe('startWorkflow');
      if (d.action.type !== 'startWorkflow') return;
      expect(d.action.workflowType).toBe('scanOrganization');
      expect(d.action.args).toEqual([{ accounts: 'organization', regions: ['us-east-1', 'eu-west-1'] }]);
    } finally {
      await w.client.schedule.getHandle(scheduleId).delete();
    }
    expect(loadConfig({ SCAN_ACCOUNTS: `${memberA}, ${memberB},${memberA}` }).scan.accounts).toEqual([memberA, memberB]);
    expect(loadConfig({}).scan.accounts).toBeUndefined();
    expect(() => loadConfig({ SCAN_ACCOUNTS: 'prod' })).toThrow(/SCAN_ACCOUNTS: "prod" is not an account id/);
  });
});
