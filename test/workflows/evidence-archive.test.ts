import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients } from '../../src/activities/aws.js';
import { generateEvidenceKeyPem, loadEvidenceKey, verifyRecord } from '../../src/evidence/signing.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus, recordObservation, retryStalled, type RemediationRecord } from '../../src/workflows/messages.js';
import { RemediationStatus, SearchAttr } from '../../src/workflows/search-attributes.js';
import { parsePolicy } from '../../src/policy/load.js';
import { WebClient } from '@slack/web-api';
import { startSlackStandIn } from '../helpers/slack-standin.js';
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

  it('signing that keeps failing is never silent: status Stalled with the reason, one message to a person, and the run closes signed once the cause is fixed', async () => {
    const missing = unique('evidence-missing').toLowerCase();
    const slackApi = await startSlackStandIn({ token: 'xoxb-stall-test' });
    const slack = new WebClient('xoxb-stall-test', { slackApiUrl: slackApi.apiUrl, retryConfig: { retries: 0 } });
    const policy = parsePolicy(
      `version: 1
defaults:
  undo: { window: 0 }
  channel: CFIXES
  escalation: { remindAfter: 0, escalateAfter: 0, escalateTo: { channel: CONCALL01, users: [UONCALL1] }, timeoutAfter: 1h, timeoutAction: reject }
`,
      'stall',
    );
    const stalled = await startTestWorker({ policy, slack, evidenceKey: key, evidenceArchive: { bucket: missing, prefix: 'rectify/', retentionDays: 30, region: REGION } });
    try {
      const bucket = await makeBucket(stalled.aws);
      const r = await createSubmitter(stalled.client, { taskQueue: stalled.taskQueue, verifyDeadlineMs: 20_000, policy }).submit(s3Finding(bucket));
      const handle = stalled.client.workflow.getHandle(r.workflowId, r.runId);
      let status = await handle.query(getStatus);
      for (let i = 0; i < 150 && !status.stalled; i++) {
        await new Promise((ok) => setTimeout(ok, 200));
        status = await handle.query(getStatus);
      }
      expect(status.stalled).toMatchObject({ step: 'signing the evidence', rounds: 1 });
      expect(status.stalled!.reason).toMatch(/^ResourceNotFound: archiving the evidence of /);
      expect((await handle.describe()).typedSearchAttributes.get(SearchAttr.Status)).toBe(RemediationStatus.Stalled);
      for (let i = 0; i < 50 && slackApi.messages('CONCALL01').length === 0; i++) await new Promise((ok) => setTimeout(ok, 100));
      const told = slackApi.messages('CONCALL01');
      expect(told).toHaveLength(1);
      expect(told[0]!.text).toContain('<@UONCALL1>');
      expect(told[0]!.text).toContain('signing the evidence keeps failing');
      expect(told[0]!.text).toContain(r.workflowId);

      // The cause is fixed (the archive bucket exists now); an operator asks for the retry at once.
      await stalled.aws.s3(REGION).send(new CreateBucketCommand({ Bucket: missing, ObjectLockEnabledForBucket: true }));
      await handle.signal(retryStalled);
      const record: RemediationRecord = await handle.result();
      expect(record.outcome).toBe('remediated');
      expect(verifyRecord(record, { trustedKeyIds: [key.keyId] })).toMatchObject({ ok: true });
      expect((await handle.describe()).typedSearchAttributes.get(SearchAttr.Status)).toBe(RemediationStatus.Remediated);
      expect(slackApi.messages('CONCALL01')).toHaveLength(1); // told once
    } finally {
      await stalled.stop();
      await slackApi.close();
    }
  });
});
