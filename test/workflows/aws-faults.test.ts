import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type Client, type Connection, type WorkflowHandle } from '@temporalio/client';
import { type ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, type NativeConnection, type Worker } from '@temporalio/worker';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { bundleWorkflows, createWorker } from '../../src/worker/create-worker.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import type { Finding } from '../../src/findings/finding.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, makeSecurityGroup, REGION, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
import { s3Call, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { awsConfig, defaultPolicy, temporalClient, unique, workerConnection } from '../helpers/stack.js';
import { attemptsOf } from '../helpers/history.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

let proxy: FaultProxy;
let client: Client;
let connection: Connection;
let native: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let direct: AwsClients;
let viaProxy: AwsClients;
const taskQueue = unique('faults');

beforeAll(async () => {
  direct = createAwsClients(awsConfig());
  proxy = await startFaultProxy(awsConfig().endpointUrl!);
  viaProxy = createAwsClients({ ...awsConfig(), endpointUrl: proxy.endpoint });
  ({ client, connection } = await temporalClient());
  native = await workerConnection();
  worker = await createWorker({ connection: native, client, policy: defaultPolicy, namespace: 'default', taskQueue, aws: viaProxy, workflowBundle: await bundleWorkflows() });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await native?.close();
  await connection?.close();
  await proxy?.close();
  direct?.destroy();
  viaProxy?.destroy();
});

async function remediate(finding: Finding): Promise<WorkflowHandle> {
  const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy }).submit(finding);
  return client.workflow.getHandle(r.workflowId, r.runId);
}

async function failureOf(handle: WorkflowHandle): Promise<{ message: string; record: RemediationRecord }> {
  const err = await handle.result().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  return { message: cause.message, record: cause.details?.[0] as RemediationRecord };
}

describe('AWS faults, injected as real AWS error responses in front of moto', () => {
  it('throttling is retried and the fix still lands once', async () => {
    const bucket = await makeBucket(direct);
    proxy.faults.push({ match: s3Call('GET', bucket, 'publicAccessBlock'), status: 503, code: 'SlowDown', message: 'Please reduce your request rate.', protocol: 's3', times: 1 });
    const handle = await remediate(s3Finding(bucket));
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('remediated');
    expect(attemptsOf(await handle.fetchHistory(), 'triageFinding')).toBe(2);
    expect(proxy.forwarded.filter((l) => l.startsWith(`PUT /${bucket}/?publicAccessBlock`))).toHaveLength(1);
  });

  it('AccessDenied on the fix fails the workflow at once with the AWS reason and changes nothing', async () => {
    const bucket = await makeBucket(direct);
    proxy.faults.push({ match: s3Call('PUT', bucket, 'publicAccessBlock'), status: 403, code: 'AccessDenied', message: 'Access Denied', protocol: 's3', times: 100 });
    const handle = await remediate(s3Finding(bucket));
    const { message, record } = await failureOf(handle);
    expect(message).toBe(`AccessDenied: PutPublicAccessBlock on ${bucket} failed: AccessDenied: Access Denied`);
    expect(record.outcome).toBe('failed');
    expect(record.before).toBeDefined();
    expect(attemptsOf(await handle.fetchHistory(), 'applyFix')).toBe(1);
    const live = await direct.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket })).catch((e: Error) => e);
    expect(live).toBeInstanceOf(Error); // still no block at all
  });

  it('UnauthorizedOperation on a security group revoke fails at once and leaves the group as it was', async () => {
    const groupId = await makeSecurityGroup(direct, [world22]);
    proxy.faults.push({ match: (r) => r.body.includes('Action=RevokeSecurityGroupIngress') && r.body.includes(groupId), status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.', protocol: 'ec2', times: 100 });
    const { message } = await failureOf(await remediate(sgFinding(groupId)));
    expect(message).toContain(`AccessDenied: RevokeSecurityGroupIngress on ${groupId} failed: UnauthorizedOperation`);
    const live = await direct.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    expect(live.SecurityGroups![0]!.IpPermissions![0]!.IpRanges![0]!.CidrIp).toBe('0.0.0.0/0');
  });

  it('a fix whose response is lost after it reached AWS is retried, found done, and never applied twice', async () => {
    const bucket = await makeBucket(direct);
    proxy.faults.push({ match: s3Call('PUT', bucket, 'publicAccessBlock'), status: 500, code: 'InternalError', message: 'We encountered an internal error.', protocol: 's3', times: 1, afterForward: true });
    const handle = await remediate(s3Finding(bucket));
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('remediated');
    expect(attemptsOf(await handle.fetchHistory(), 'applyFix')).toBe(2);
    expect(proxy.forwarded.filter((l) => l.startsWith(`PUT /${bucket}/?publicAccessBlock`))).toHaveLength(1);
    // Attempt 1 sent the change and lost the answer: the record says this workflow applied it.
    expect(record.change?.applied).toBe(true);
    expect(record.change?.note).toBe('applied by attempt 1, whose answer was lost; found in place at attempt 2');
    expect(record.before).toMatchObject({ configured: false });
    expect(record.after).toEqual({ configured: true, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true });
  });
});
