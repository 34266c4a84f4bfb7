import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { loadConfig } from '../../src/config.js';
import { authorizeIngressEvent, deleteBucketPublicAccessBlockEvent, securityHubS3_8Event } from '../../src/cli/demo-events.js';
import { silentLogger } from '../../src/log.js';
import { startTriggerServer, type TriggerServer } from '../../src/triggers/server.js';
import type { SubmitResult } from '../../src/triggers/submit.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, makeSecurityGroup, REGION, world22 } from '../helpers/fixtures.js';
import { startSecurityHubStandIn, type SecurityHubStandIn } from '../helpers/securityhub-standin.js';
import { defaultPolicy, stackAddresses, startTestWorker, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('WARN') });

const TOKEN = unique('token-for-the-full-stack-test');
let server: TriggerServer;
let w: TestWorker;
let client: Client;
let aws: AwsClients;
let securityHub: SecurityHubStandIn;

beforeAll(async () => {
  const { temporalAddress, motoEndpoint } = stackAddresses();
  const config = loadConfig({ TEMPORAL_ADDRESS: temporalAddress, AWS_ENDPOINT_URL: motoEndpoint, PORT: '0', WEBHOOK_TOKEN: TOKEN, TEMPORAL_TASK_QUEUE: unique('full-stack'), VERIFY_DEADLINE_SECONDS: '20' });
  securityHub = await startSecurityHubStandIn();
  aws = createAwsClients(config.aws, { securityHubEndpoint: securityHub.url });
  w = await startTestWorker({ taskQueue: config.temporal.taskQueue, aws });
  client = w.client;
  server = await startTriggerServer(config, client, silentLogger, defaultPolicy);
});

afterAll(async () => {
  await server?.close();
  await w?.stop();
  aws?.destroy();
  await securityHub?.close();
});

async function postEvent(event: unknown): Promise<{ status: number; body: { findings: SubmitResult[]; ignored: unknown[] } }> {
  const res = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(event) });
  return { status: res.status, body: (await res.json()) as { findings: SubmitResult[]; ignored: unknown[] } };
}

describe('full stack over HTTP: webhook -> Temporal -> moto', () => {
  it('a CloudTrail AuthorizeSecurityGroupIngress event ends with the group fixed and the workflow completed', async () => {
    const groupId = await makeSecurityGroup(aws, [world22, { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    const { status, body } = await postEvent(authorizeIngressEvent(groupId, REGION, 22, '0.0.0.0/0'));
    expect(status).toBe(202);
    // One workflow: EC2.2 leaves a group named by id to Config, Security Hub and the scan.
    expect(body.findings).toHaveLength(1);
    const r = body.findings[0]!;
    expect(r.status).toBe('started');
    const record: RemediationRecord = await client.workflow.getHandle(r.workflowId, r.runId).result();
    expect(record.outcome).toBe('remediated');
    expect(record.source).toBe('cloudtrail');
    const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    const open = live.SecurityGroups![0]!.IpPermissions!.map((p) => `${p.FromPort}:${p.IpRanges?.map((x) => x.CidrIp).join(',')}`);
    expect(open).toEqual(['80:0.0.0.0/0']);
    expect((await client.workflow.getHandle(r.workflowId).describe()).status.name).toBe('COMPLETED');
  });

  it('a Security Hub S3.8 finding fixes the bucket and is RESOLVED in Security Hub; neither the fix\'s own CloudTrail event nor the event the write-back causes starts anything', async () => {
    const bucket = await makeBucket(aws);
    const event = securityHubS3_8Event(bucket, REGION);
    const asff = (event.detail['findings'] as { Id: string; ProductArn: string }[])[0]!;
    securityHub.addFinding(asff.Id, asff.ProductArn);
    const { body } = await postEvent(event);
    const r = body.findings[0]!;
    const record: RemediationRecord = await client.workflow.getHandle(r.workflowId, r.runId).result();
    expect(record.outcome).toBe('remediated');
    expect(record.securityHub).toEqual({ status: 'RESOLVED', updated: true });
    const written = securityHub.finding(asff.Id, asff.ProductArn)!;
    expect(written.Workflow.Status).toBe('RESOLVED');
    expect(written.Note?.Text).toContain(`Turn on Block Public Access`);
    expect(written.Note?.UpdatedBy).toBe('rectify');
    expect(securityHub.requests.every((q) => q.signed)).toBe(true);
    const live = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(live.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });

    // The write-back causes a "Findings - Imported" event of its own: the same finding, still
    // FAILED until the next evaluation, now RESOLVED with our note. It starts nothing.
    const caused = structuredClone(event);
    const causedAsff = (caused.detail['findings'] as Record<string, unknown>[])[0]!;
    causedAsff['Workflow'] = { Status: written.Workflow.Status };
    causedAsff['Note'] = { ...written.Note };
    const started = (await client.workflow.count(`WorkflowId = "${r.workflowId}"`)).count;
    const loop = await postEvent(caused);
    expect(loop.status).toBe(202);
    expect(loop.body.findings).toEqual([]);
    expect(loop.body.ignored).toEqual([{ reason: 'workflow status RESOLVED in Security Hub (a new failed evaluation resets it to NEW)', ref: asff.Id }]);
    // Even where Security Hub shows it otherwise (e.g. NOTIFIED while waiting), our own note marks the echo.
    causedAsff['Workflow'] = { Status: 'NOTIFIED' };
    const echoNotified = await postEvent(caused);
    expect(echoNotified.body.findings).toEqual([]);
    expect(echoNotified.body.ignored).toEqual([{ reason: "the event of rectify's own write-back: not evaluated again since", ref: asff.Id }]);
    expect((await client.workflow.count(`WorkflowId = "${r.workflowId}"`)).count).toBe(started);
    expect(securityHub.requests.filter((q) => q.status === 200)).toHaveLength(1);

    // What CloudTrail reports for our own PutPublicAccessBlock call.
    const own = deleteBucketPublicAccessBlockEvent(bucket, REGION);
    own.detail['eventName'] = 'PutBucketPublicAccessBlock';
    own.detail['requestParameters'] = {
      bucketName: bucket,
      PublicAccessBlockConfiguration: { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/', BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
      publicAccessBlock: '',
    };
    const echo = await postEvent(own);
    expect(echo.status).toBe(202);
    expect(echo.body.findings).toEqual([]);
    expect(echo.body.ignored).toHaveLength(1);
  });

  it('the same event delivered twice while the fix runs joins one workflow and fixes once', async () => {
    const bucket = await makeBucket(aws);
    const event = deleteBucketPublicAccessBlockEvent(bucket, REGION);
    const [a, b] = await Promise.all([postEvent(event), postEvent(event)]);
    const statuses = [a.body.findings[0]!.status, b.body.findings[0]!.status].sort();
    const ids = new Set([a.body.findings[0]!.workflowId, b.body.findings[0]!.workflowId]);
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    // Either both landed in one run (started + joined), or the first closed before the second
    // arrived and the second run found nothing to fix. Never two fixes.
    const runs: RemediationRecord[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = "${id}"` })) runs.push(await client.workflow.getHandle(wf.workflowId, wf.runId).result());
    if (statuses[0] === 'joined') expect(statuses).toEqual(['joined', 'started']);
    const applied = runs.filter((r) => r.change?.applied === true);
    expect(applied.length).toBeLessThanOrEqual(1);
    const first: RemediationRecord = await client.workflow.getHandle(a.body.findings[0]!.workflowId, a.body.findings[0]!.runId).result();
    expect(['remediated', 'already-compliant']).toContain(first.outcome);
  });
});
