import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients } from '../../src/activities/aws.js';
import { generateEvidenceKeyPem, loadEvidenceKey, verifyRecord } from '../../src/evidence/signing.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, REGION, s3Finding } from '../helpers/fixtures.js';
import { awsConfig, defaultPolicy, startTestWorker, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const key = loadEvidenceKey(generateEvidenceKeyPem());
const archive = unique('evidence-archive').toLowerCase();
let w: TestWorker;

beforeAll(async () => {
  const aws = createAwsClients(awsConfig());
  await aws.s3(REGION).send(new CreateBucketCommand({ Bucket: archive, ObjectLockEnabledForBucket: true }));
  aws.destroy();
  w = await startTestWorker({ evidenceKey: key, evidenceArchive: { bucket: archive, prefix: 'rectify/', retentionDays: 30, region: REGION } });
});
afterAll(() => w?.stop());

describe('evidence archive in S3', () => {
  it('writes each signed record once, under Object Lock retention, identical to the workflow result', async () => {
    const { client, aws, taskQueue } = w;
    const bucket = await makeBucket(aws);
    const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy }).submit(s3Finding(bucket));
    const record: RemediationRecord = await client.workflow.getHandle(r.workflowId, r.runId).result();
    expect(verifyRecord(record, { trustedKeyIds: [key.keyId] })).toMatchObject({ ok: true });

    const listed = await aws.s3(REGION).send(new ListObjectsV2Command({ Bucket: archive, Prefix: 'rectify/evidence/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.includes(encodeURIComponent(r.workflowId)));
    expect(keys).toHaveLength(1);
    expect(keys[0]).toContain(r.runId);
    const obj = await aws.s3(REGION).send(new GetObjectCommand({ Bucket: archive, Key: keys[0]! }));
    const stored = JSON.parse(await obj.Body!.transformToString()) as RemediationRecord;
    expect(stored).toEqual(JSON.parse(JSON.stringify(record)));
    expect(verifyRecord(stored, { trustedKeyIds: [key.keyId] })).toMatchObject({ ok: true });
    expect(obj.ObjectLockMode).toBe('COMPLIANCE');
    expect(Date.parse(String(obj.ObjectLockRetainUntilDate))).toBeGreaterThan(Date.now() + 29 * 86_400_000);
  });
});
