import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients } from '../../src/activities/aws.js';
import { generateEvidenceKeyPem, loadEvidenceKey, verifyRecord } from '../../src/evidence/signing.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { recordObservation, type RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, REGION, s3Finding } from '../helpers/fixtures.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { awsConfig, defaultPolicy, stackAddresses, startTestWorker, unique, type TestWorker } from '../helpers/stack.js';

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

  it('observations delivered while the record is being signed never break a signature: the result and every archived record verify', async () => {
    const proxy = await startFaultProxy(stackAddresses().motoEndpoint);
    const aws = createAwsClients({ ...awsConfig(), endpointUrl: proxy.endpoint });
    const slow = await startTestWorker({ aws, evidenceKey: key, evidenceArchive: { bucket: archive, prefix: 'rectify/', retentionDays: 30, region: REGION } });
    try {
      const bucket = await makeBucket(aws);
      // The archive write (inside the signing activity) takes 3 s: redeliveries arrive meanwhile.
      proxy.delays.push({ match: (r) => r.method === 'PUT' && r.url.startsWith(`/${archive}/`), ms: 3000, times: 1 });
      const finding = s3Finding(bucket);
      const r = await createSubmitter(slow.client, { taskQueue: slow.taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy }).submit(finding);
      const handle = slow.client.workflow.getHandle(r.workflowId, r.runId);
      for (let i = 0; i < 200 && proxy.held() === 0; i++) await new Promise((ok) => setTimeout(ok, 25));
      expect(proxy.held()).toBe(1);
      const now = new Date().toISOString();
      for (let i = 0; i < 5; i++) await handle.signal(recordObservation, { findingId: `${finding.id}-again-${i}`, source: finding.source, state: 'active', observedAt: now, receivedAt: now });
      const record: RemediationRecord = await handle.result();
      expect(verifyRecord(record, { trustedKeyIds: [key.keyId] })).toMatchObject({ ok: true });
      const history = await handle.fetchHistory();
      expect(history.events!.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'recordObservation')).toHaveLength(5);
      // The run closed again with the redeliveries in its record; the record signed first is kept beside it.
      const listed = await aws.s3(REGION).send(new ListObjectsV2Command({ Bucket: archive, Prefix: 'rectify/evidence/' }));
      const objectKeys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.includes(encodeURIComponent(r.workflowId)));
      expect(objectKeys.length).toBeGreaterThanOrEqual(1);
      const stored = await Promise.all(
        objectKeys.map(async (k) => JSON.parse(await (await aws.s3(REGION).send(new GetObjectCommand({ Bucket: archive, Key: k }))).Body!.transformToString()) as RemediationRecord),
      );
      for (const rec of stored) expect(verifyRecord(rec, { trustedKeyIds: [key.keyId] })).toMatchObject({ ok: true });
      expect(stored).toContainEqual(JSON.parse(JSON.stringify(record)));
    } finally {
      await slow.stop();
      aws.destroy();
      await proxy.close();
    }
  });
});
