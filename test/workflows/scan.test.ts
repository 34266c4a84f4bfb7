import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, DescribeSecurityGroupsCommand, GetEbsEncryptionByDefaultCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { ControlId } from '../../src/findings/finding.js';
import { applyScanSchedule, scanScheduleCommand } from '../../src/triggers/schedule.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import type { ScanResult } from '../../src/workflows/scan-account.js';
import { awsConfig, defaultPolicy, startTestWorker, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

/** A region no other test uses, so the scan sees only what this file creates. */
const REGION = 'eu-west-3';
const GROUPS = 2000;
const BUCKETS = 120;

let w: TestWorker;
let client: Client;
let aws: AwsClients;
let taskQueue: string;
const violatingGroups: string[] = [];
const violatingBuckets: string[] = [];
let prodGroup = '';

/**
 * `fn`, tried up to six times with backoff. Setup only: moto in server mode now and then answers
 * a burst of concurrent writes with an HTML 500 page (more often on a busy machine).
 */
async function withRetry<R>(fn: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 6) throw err;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

/** `p`, or `fallback()` when it fails with the AWS error `code` (a retried create that had landed). */
const unless = <R>(code: string, p: Promise<R>, fallback: () => Promise<R> | R): Promise<R> =>
  p.catch((err: unknown) => ((err as { name?: string }).name === code ? fallback() : Promise.reject(err)));

beforeAll(async () => {
  aws = createAwsClients(awsConfig(REGION));
  w = await startTestWorker({ aws });
  ({ client, taskQueue } = w);

  const ec2 = aws.ec2(REGION);
  const s3 = aws.s3(REGION);
  const vpc = (await withRetry(() => ec2.send(new CreateVpcCommand({ CidrBlock: '10.50.0.0/16' })))).Vpc!.VpcId!;
  const prefix = unique('scan-sg');
  await pool([...Array(GROUPS).keys()], 8, async (i) => {
    const violating = i % 400 === 7; // 5 of 2000
    const production = i === 407;
    const GroupName = `${prefix}-${i}`;
    const id = await withRetry(() =>
      unless(
        'InvalidGroup.Duplicate',
        ec2
          .send(
            new CreateSecurityGroupCommand({
              GroupName,
              Description: 'scan test',
              VpcId: vpc,
              ...(production ? { TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'environment', Value: 'production' }] }] } : {}),
            }),
          )
          .then((o) => o.GroupId!),
        async () => (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [GroupName] }] }))).SecurityGroups![0]!.GroupId!,
      ),
    );
    if (violating) {
      await withRetry(() =>
        unless('InvalidPermission.Duplicate', ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), () => undefined),
      );
      if (production) prodGroup = id;
      else violatingGroups.push(id);
    }
  });
  const bucketPrefix = unique('scan-b').toLowerCase();
  await pool([...Array(BUCKETS).keys()], 8, async (i) => {
    const bucket = `${bucketPrefix}-${i}`;
    await withRetry(() => unless('BucketAlreadyOwnedByYou', s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } })), () => undefined));
    if (i % 40 === 3) {
      await withRetry(() => s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket })));
      violatingBuckets.push(bucket);
    } else {
      await withRetry(() => s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } })));
    }
  });
}, 300_000);

afterAll(async () => {
  await w?.stop();
  aws?.destroy();
});

describe('scheduled scan over thousands of resources', () => {
  it('pages through every resource, continues as new, and starts or joins one remediation per violation', async () => {
    // A production group is already waiting for approval (from an event) when the scan finds it again.
    const { createSubmitter } = await import('../../src/triggers/submit.js');
    const { sgFinding } = await import('../helpers/fixtures.js');
    const pending = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy }).submit(sgFinding(prodGroup, { region: REGION }));
    const pendingHandle = client.workflow.getHandle(pending.workflowId, pending.runId);
    for (let i = 0; i < 100 && (await pendingHandle.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((r) => setTimeout(r, 100));

    const handle = await client.workflow.start('scanAccount', {
      taskQueue,
      workflowId: unique('scan-run'),
      args: [{ regions: [REGION], controls: [ControlId.SgAdminPortsOpen, ControlId.S3BlockPublicAccess, ControlId.EbsDefaultEncryption], pageSize: 100, pagesPerRun: 4, batchSize: 3 }],
    });
    const result: ScanResult = await handle.result();
    const ebsOff = !(await aws.ec2(REGION).send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault;

    expect(result.account).toBe('123456789012');
    expect(result.scanned).toBeGreaterThanOrEqual(GROUPS + BUCKETS);
    expect(result.runs).toBeGreaterThan(5); // 2000 groups / 100 per page / 4 pages per run
    const expectedViolations = violatingGroups.length + 1 + violatingBuckets.length;
    expect(result.violations).toBeGreaterThanOrEqual(expectedViolations);
    expect(result.joined).toBeGreaterThanOrEqual(1); // the production group's workflow
    expect(result.started + result.joined).toBe(result.violations);

    // Each run's history stays small.
    const history = await client.workflow.getHandle(handle.workflowId).fetchHistory();
    expect(history.events!.length).toBeLessThan(200);

    // Every violation ends fixed (the production one is still waiting for a person, as the policy says).
    const ids = [...violatingGroups.map((g) => `finding/123456789012/${REGION}/ec2-sg-admin-ports-open/${g}`), ...violatingBuckets.map((b) => `finding/123456789012/${REGION}/s3-block-public-access/${b}`)];
    const records = (await Promise.all(ids.map((id) => client.workflow.getHandle(id).result()))) as RemediationRecord[];
    expect(records.map((r) => r.outcome)).toEqual(ids.map(() => 'remediated'));
    expect(records.every((r) => r.source === 'scan')).toBe(true);
    for (const g of violatingGroups) {
      const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [g] }));
      expect(live.SecurityGroups![0]!.IpPermissions ?? []).toEqual([]);
    }
    for (const b of violatingBuckets) {
      const live = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: b }));
      expect(live.PublicAccessBlockConfiguration?.BlockPublicAcls).toBe(true);
    }
    if (ebsOff) expect(result.violations).toBeGreaterThanOrEqual(expectedViolations);
    expect((await pendingHandle.query(getStatus)).status).toBe('AwaitingApproval');
    expect((await pendingHandle.query(getStatus)).observations).toBeGreaterThanOrEqual(1);
    await pendingHandle.terminate('test over');
  }, 300_000);

  it('creating the schedule twice leaves one schedule, updated; trigger, pause and unpause work', async () => {
    const scheduleId = unique('scan-schedule');
    const o = { taskQueue, intervalMs: 6 * 3600_000, catchupWindowMs: 3600_000, regions: [REGION], controls: [ControlId.EbsDefaultEncryption], scheduleId };
    expect(await applyScanSchedule(client, o)).toBe('created');
    expect(await applyScanSchedule(client, { ...o, intervalMs: 3 * 3600_000 })).toBe('updated');
    const handle = client.schedule.getHandle(scheduleId);
    const d = await handle.describe();
    expect(d.spec.intervals?.[0]?.every).toBe(3 * 3600_000);
    expect(d.policies.overlap).toBe('SKIP');
    expect(d.policies.catchupWindow).toBe(3600_000);
    let count = 0;
    for await (const s of client.schedule.list()) if (s.scheduleId === scheduleId) count++;
    expect(count).toBe(1);

    await scanScheduleCommand(client, 'trigger', scheduleId);
    let ran = 0;
    for (let i = 0; i < 100 && ran === 0; i++) {
      ran = (await handle.describe()).info.recentActions.length;
      if (ran === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ran).toBe(1);
    const recent = (await handle.describe()).info.recentActions[0]!;
    const scan: ScanResult = await client.workflow.getHandle(recent.action.workflow.workflowId, recent.action.workflow.firstExecutionRunId).result();
    expect(scan.pages).toBeGreaterThanOrEqual(1);

    await scanScheduleCommand(client, 'pause', scheduleId);
    expect((await handle.describe()).state.paused).toBe(true);
    expect(await applyScanSchedule(client, o)).toBe('updated');
    expect((await handle.describe()).state.paused).toBe(true); // re-applying keeps it paused
    await scanScheduleCommand(client, 'unpause', scheduleId);
    expect((await handle.describe()).state.paused).toBe(false);
    await scanScheduleCommand(client, 'delete', scheduleId);
    await expect(scanScheduleCommand(client, 'describe', scheduleId)).rejects.toThrow(/no schedule/);
  });
});
