import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type Client, type Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, type Worker, type WorkflowBundleWithSourceMap, type NativeConnection } from '@temporalio/worker';
import { DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { bundleWorkflows, createWorker } from '../../src/worker/create-worker.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { workflowIdFor, type Finding } from '../../src/findings/finding.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { RemediationStatus, SearchAttr } from '../../src/workflows/search-attributes.js';
import { ACCOUNT, makeBucket, makeSecurityGroup, REGION, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
import { awsConfig, defaultPolicy, temporalClient, unique, workerConnection } from '../helpers/stack.js';
import { activitiesIn, attemptsOf, summariesIn } from '../helpers/history.js';

Runtime.install({ logger: new DefaultLogger('WARN') });

let bundle: WorkflowBundleWithSourceMap;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let aws: AwsClients;
const taskQueue = unique('wf');
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  bundle = await bundleWorkflows();
  ({ client, connection } = await temporalClient());
  nativeConnection = await workerConnection();
  aws = createAwsClients(awsConfig());
  worker = await createWorker({ connection: nativeConnection, client, policy: defaultPolicy, namespace: 'default', taskQueue, aws, workflowBundle: bundle });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await connection?.close();
  aws?.destroy();
});

function submitter(queue = taskQueue, verifyDeadlineMs = 20_000) {
  return createSubmitter(client, { taskQueue: queue, verifyDeadlineMs, policy: defaultPolicy });
}

async function remediate(finding: Finding, queue = taskQueue, verifyDeadlineMs?: number) {
  const r = await submitter(queue, verifyDeadlineMs).submit(finding);
  expect(r.status).toBe('started');
  return client.workflow.getHandle(r.workflowId, r.runId);
}

async function failureRecord(p: Promise<unknown>): Promise<{ failure: ApplicationFailure; record: RemediationRecord }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect(failure.type).toBe('RemediationFailed');
  return { failure, record: failure.details?.[0] as RemediationRecord };
}

describe('remediateFinding on the dev server against moto', () => {
  it('fixes a bucket without Block Public Access, verifies it, and records evidence and search attributes', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'data-team' });
    const finding = s3Finding(bucket);
    const handle = await remediate(finding);
    const record: RemediationRecord = await handle.result();

    expect(record.outcome).toBe('remediated');
    expect(record.workflowId).toBe(workflowIdFor(finding));
    expect(record.change?.applied).toBe(true);
    expect(record.change?.summary).toContain(bucket);
    expect(record.before).toEqual({ configured: false, blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false });
    expect(record.after).toEqual({ configured: true, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true });
    expect(record.tags).toEqual({ owner: 'data-team' });
    expect(record.decidedBy).toEqual({ id: 'policy', name: 'policy (automatic)', via: 'policy' });
    expect(record.timeToRemediateMs).toBe(Date.parse(record.timestamps.verified!) - Date.parse(record.timestamps.detected));
    const { verifyRecord } = await import('../../src/evidence/signing.js');
    expect(verifyRecord(record)).toMatchObject({ ok: true });
    expect(verifyRecord({ ...record, outcome: 'already-compliant' }).ok).toBe(false);
    const t = record.timestamps;
    for (const k of ['detected', 'received', 'triaged', 'fixed', 'verified', 'closed'] as const) expect(Date.parse(t[k]!)).not.toBeNaN();
    expect(Date.parse(t.fixed!)).toBeLessThanOrEqual(Date.parse(t.verified!));

    const live = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(live.PublicAccessBlockConfiguration?.RestrictPublicBuckets).toBe(true);

    const desc = await handle.describe();
    expect(desc.typedSearchAttributes.get(SearchAttr.Status)).toBe(RemediationStatus.Remediated);
    expect(desc.typedSearchAttributes.get(SearchAttr.Resource)).toBe(bucket);
    expect(desc.typedSearchAttributes.get(SearchAttr.Control)).toBe(finding.control);
    // Visibility is eventually consistent: poll the query an operator would type.
    const query = `RemediationStatus = "Remediated" AND FindingResource = "${bucket}"`;
    let found = 0;
    for (let i = 0; i < 50 && found === 0; i++) {
      found = 0;
      for await (const _ of client.workflow.list({ query })) found++;
      if (found === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toBe(1);
  });

  it('revokes only the world-open SSH rule of a security group and verifies the other rules stayed', async () => {
    const groupId = await makeSecurityGroup(aws, [world22, { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }, { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    const handle = await remediate(sgFinding(groupId));
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('remediated');
    expect(record.change?.summary).toBe(`Revoke 0.0.0.0/0 tcp/22 on ${groupId}`);
    // The Temporal UI timeline reads as a story: the fix activity is summarized as the change.
    const summaries = summariesIn(await handle.fetchHistory());
    expect(summaries).toContain(`Revoke 0.0.0.0/0 tcp/22 on ${groupId}`);
    expect(summaries).toContain(`Verify: Revoke 0.0.0.0/0 tcp/22 on ${groupId}`);
    const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    const perms = live.SecurityGroups![0]!.IpPermissions!;
    const cidrs = perms.flatMap((p) => (p.IpRanges ?? []).map((r) => `${p.FromPort}:${r.CidrIp}`)).sort();
    expect(cidrs).toEqual(['22:10.0.0.0/8', '443:0.0.0.0/0']);
  });

  it('closes an already-compliant resource without changing anything', async () => {
    const bucket = await makeBucket(aws, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const handle = await remediate(s3Finding(bucket));
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('already-compliant');
    expect(record.change).toBeUndefined();
    expect((await handle.describe()).typedSearchAttributes.get(SearchAttr.Status)).toBe(RemediationStatus.AlreadyCompliant);
    expect(activitiesIn(await handle.fetchHistory())).toEqual(['triageFinding', 'signEvidence']);
  });

  it('fails with the AWS reason, without retrying, when the resource does not exist', async () => {
    const handle = await remediate(s3Finding('rectify-missing-bucket'));
    const { failure, record } = await failureRecord(handle.result());
    expect(failure.message).toMatch(/^ResourceNotFound: GetPublicAccessBlock on rectify-missing-bucket failed: NoSuchBucket/);
    expect(record.outcome).toBe('failed');
    expect(record.reason).toBe(failure.message);
    expect((await handle.describe()).typedSearchAttributes.get(SearchAttr.Status)).toBe(RemediationStatus.Failed);
    expect(attemptsOf(await handle.fetchHistory(), 'triageFinding')).toBe(1);
    // The failure record is signed too.
    const { verifyRecord } = await import('../../src/evidence/signing.js');
    expect(verifyRecord(record)).toMatchObject({ ok: true });
  });

  it('fails verification, with the reason, when the fix does not hold', async () => {
    // A competing writer (drift from another tool) removes the block right after each fix.
    const queue = unique('drift');
    const driftAws = createAwsClients(awsConfig());
    // On the account's clients: the ones the activities use for a finding of ACCOUNT.
    driftAws.forAccount(ACCOUNT).s3(REGION).middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'PutPublicAccessBlockCommand') {
          const bucket = (args.input as { Bucket: string }).Bucket;
          await aws.s3(REGION).send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
        }
        return out;
      },
      { step: 'initialize', name: 'competingWriter' },
    );
    const w = await createWorker({ connection: nativeConnection, client, policy: defaultPolicy, namespace: 'default', taskQueue: queue, aws: driftAws, workflowBundle: bundle });
    const bucket = await makeBucket(aws);
    const started = Date.now();
    const { failure, record } = await w.runUntil(async () => failureRecord((await remediate(s3Finding(bucket), queue, 3000)).result()));
    driftAws.destroy();
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(failure.message).toContain(`NotYetCompliant: ${bucket} does not hold the fix`);
    expect(failure.message).toContain('blockPublicAcls is false, expected true');
    expect(record.change?.applied).toBe(true);
    expect(record.timestamps.fixed).toBeDefined();
    expect(record.timestamps.verified).toBeUndefined();
  });

  it('joins a second delivery of the same finding into the running workflow and fixes once', async () => {
    const queue = unique('dup');
    const bucket = await makeBucket(aws);
    const first = s3Finding(bucket, { id: 'event-1' });
    const second = s3Finding(bucket, { id: 'event-2', source: 'securityhub' });
    const s = submitter(queue);
    // No worker polls `queue` yet, so the first run is certainly still open when the second arrives.
    const a = await s.submit(first);
    const b = await s.submit(second);
    expect(a.status).toBe('started');
    expect(b.status).toBe('joined');
    expect(b.workflowId).toBe(a.workflowId);
    expect(b.runId).toBe(a.runId);

    const w = await createWorker({ connection: nativeConnection, client, policy: defaultPolicy, namespace: 'default', taskQueue: queue, aws, workflowBundle: bundle });
    const record: RemediationRecord = await w.runUntil(client.workflow.getHandle(a.workflowId, a.runId).result());
    expect(record.outcome).toBe('remediated');
    expect(record.observations.map((o) => o.findingId)).toEqual(['event-2']);
    const history = await client.workflow.getHandle(a.workflowId, a.runId).fetchHistory();
    expect(activitiesIn(history).filter((a) => a === 'applyFix')).toHaveLength(1);
  });
});
