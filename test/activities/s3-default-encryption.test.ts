import { afterAll, describe, expect, it } from 'vitest';
import { GetBucketEncryptionCommand, GetBucketTaggingCommand, PutBucketEncryptionCommand, type ServerSideEncryptionRule } from '@aws-sdk/client-s3';
import { ErrorType } from '../../src/errors.js';
import { ControlId } from '../../src/findings/finding.js';
import type { ControlSettings } from '../../src/policy/types.js';
import { DEFAULT_SETTINGS, findingFor, makeBucket, REGION, type BucketOptions } from '../helpers/fixtures.js';
import { unique } from '../helpers/stack.js';
import { activityHarness, failureOf, scanAll } from './harness.js';

const { aws, acts, run } = activityHarness();
afterAll(() => aws.destroy());

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = `arn:aws:kms:${REGION}:123456789012:key/${KEY_ID}`;
const OTHER_KEY_ARN = `arn:aws:kms:${REGION}:123456789012:key/99999999-0000-0000-0000-000000000000`;
const SSE_S3: ControlSettings = DEFAULT_SETTINGS;
const KMS_WITH_KEY: ControlSettings = { ...DEFAULT_SETTINGS, encryption: { algorithm: 'aws:kms', kmsKeyId: KEY_ARN } };
const finding = (bucket: string, region = REGION) => findingFor(ControlId.S3DefaultEncryption, bucket, { region });

async function encryptedBucket(rule: ServerSideEncryptionRule | undefined, tags: Record<string, string> = {}, opts: BucketOptions = {}): Promise<string> {
  const bucket = await makeBucket(aws, undefined, tags, opts);
  if (rule) await aws.s3(opts.region ?? REGION).send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [rule] } }));
  return bucket;
}
async function liveRules(bucket: string): Promise<ServerSideEncryptionRule[] | string> {
  return aws
    .s3(REGION)
    .send(new GetBucketEncryptionCommand({ Bucket: bucket }))
    .then(
      (o) => o.ServerSideEncryptionConfiguration?.Rules ?? [],
      (e: { name?: string }) => e.name ?? 'error',
    );
}
const aes256: ServerSideEncryptionRule = { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false };
const kms = (key?: string, alg: 'aws:kms' | 'aws:kms:dsse' = 'aws:kms'): ServerSideEncryptionRule => ({
  ApplyServerSideEncryptionByDefault: { SSEAlgorithm: alg, ...(key ? { KMSMasterKeyID: key } : {}) },
  BucketKeyEnabled: true,
});

describe('S3 default encryption against moto', () => {
  it('a fresh moto bucket has no default encryption (unlike AWS, where new buckets get SSE-S3)', async () => {
    const bucket = await makeBucket(aws);
    expect(await liveRules(bucket)).toBe('ServerSideEncryptionConfigurationNotFoundError');
  });

  it('no encryption under an SSE-S3 policy: fix sets AES256, undo deletes the configuration again', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'data' });
    const t = await run(acts.triageFinding, finding(bucket), SSE_S3);
    expect(t.compliant).toBe(false);
    expect(t.before).toEqual({ configured: false, rules: [] });
    expect(t.tags).toEqual({ owner: 'data' });
    expect(t.stateSummary).toBe('no default encryption configured');
    expect(t.plannedChange?.summary).toBe(`Set default encryption of bucket ${bucket} to AES256`);

    const fix = await run(acts.applyFix, finding(bucket), SSE_S3);
    expect(await liveRules(bucket)).toEqual([aes256]);
    const v = await run(acts.verifyFix, finding(bucket), fix.before, fix.change!, SSE_S3);
    expect(v.after).toEqual({ configured: true, rules: [{ algorithm: 'AES256', bucketKeyEnabled: false }] });
    expect((await run(acts.applyFix, finding(bucket), SSE_S3)).applied).toBe(false);

    const undone = await run(acts.undoFix, finding(bucket), fix.before, fix.change!);
    expect(undone.after).toEqual({ configured: false, rules: [] });
    expect(await liveRules(bucket)).toBe('ServerSideEncryptionConfigurationNotFoundError');
    await run(acts.undoFix, finding(bucket), fix.before, fix.change!);
    expect(await liveRules(bucket)).toBe('ServerSideEncryptionConfigurationNotFoundError');
  });

  it('SSE-KMS and DSSE-KMS satisfy an SSE-S3 policy (stronger, never downgraded)', async () => {
    for (const rule of [kms(OTHER_KEY_ARN), kms(undefined, 'aws:kms:dsse'), aes256]) {
      const bucket = await encryptedBucket(rule);
      expect((await run(acts.triageFinding, finding(bucket), SSE_S3)).compliant).toBe(true);
    }
  });

  it('AES256 under a KMS-with-key policy: fix sets that key with a bucket key, undo restores AES256 exactly', async () => {
    const bucket = await encryptedBucket(aes256);
    const t = await run(acts.triageFinding, finding(bucket), KMS_WITH_KEY);
    expect(t.compliant).toBe(false);
    expect(t.stateSummary).toBe('default encryption AES256');
    expect(t.plannedChange?.summary).toBe(`Set default encryption of bucket ${bucket} to aws:kms (key ${KEY_ARN}, bucket key on)`);

    const fix = await run(acts.applyFix, finding(bucket), KMS_WITH_KEY);
    expect(await liveRules(bucket)).toEqual([kms(KEY_ARN)]);
    await run(acts.verifyFix, finding(bucket), fix.before, fix.change!, KMS_WITH_KEY);
    // The same check under the SSE-S3 policy also passes; under a policy naming another key it does not.
    const f = await failureOf(run(acts.verifyFix, finding(bucket), fix.before, fix.change!, { ...KMS_WITH_KEY, encryption: { algorithm: 'aws:kms', kmsKeyId: OTHER_KEY_ARN } }));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.message).toContain(`expected aws:kms with key ${OTHER_KEY_ARN}`);

    await run(acts.undoFix, finding(bucket), fix.before, fix.change!);
    expect(await liveRules(bucket)).toEqual([aes256]);
  });

  it('KMS with another key is fixed to the named key; the same key named by id or by ARN is compliant; DSSE with the key counts', async () => {
    const other = await encryptedBucket(kms(OTHER_KEY_ARN));
    const t = await run(acts.triageFinding, finding(other), KMS_WITH_KEY);
    expect(t.compliant).toBe(false);
    const fix = await run(acts.applyFix, finding(other), KMS_WITH_KEY);
    expect(await liveRules(other)).toEqual([kms(KEY_ARN)]);
    await run(acts.undoFix, finding(other), fix.before, fix.change!);
    expect(await liveRules(other)).toEqual([kms(OTHER_KEY_ARN)]);

    const byId = await encryptedBucket(kms(KEY_ID));
    expect((await run(acts.triageFinding, finding(byId), KMS_WITH_KEY)).compliant).toBe(true);
    const dsse = await encryptedBucket(kms(KEY_ARN, 'aws:kms:dsse'));
    expect((await run(acts.triageFinding, finding(dsse), KMS_WITH_KEY)).compliant).toBe(true);
    const anyKms = await encryptedBucket(kms());
    expect((await run(acts.triageFinding, finding(anyKms), { ...KMS_WITH_KEY, encryption: { algorithm: 'aws:kms' } })).compliant).toBe(true);
    expect((await run(acts.triageFinding, finding(anyKms), KMS_WITH_KEY)).compliant).toBe(false);
  });

  it('a missing bucket is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(run(acts.triageFinding, finding('no-such-bucket-rectify-enc'), SSE_S3));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
  });

  it('marking exempt merges the tag into the bucket tags', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'data' });
    expect(await run(acts.markExempt, finding(bucket), 'rectify:exempt-until', 'permanent')).toBe(true);
    const live = await aws.s3(REGION).send(new GetBucketTaggingCommand({ Bucket: bucket }));
    expect(Object.fromEntries((live.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ owner: 'data', 'rectify:exempt-until': 'permanent' });
  });

  it('scan pages through the buckets of the region and judges them by the policy', async () => {
    const region = 'ap-southeast-1';
    const opts = { region, prefix: unique('encscan') };
    const none = await encryptedBucket(undefined, {}, opts);
    const sse = await encryptedBucket(aes256, {}, opts);
    const rightKey = await encryptedBucket(kms(KEY_ARN), {}, opts);
    const wrongKey = await encryptedBucket(kms(OTHER_KEY_ARN), {}, opts);
    const mine = (vs: { resourceId: string }[]) => vs.filter((v) => v.resourceId.startsWith(opts.prefix)).map((v) => v.resourceId).sort();

    const plain = await scanAll(aws, ControlId.S3DefaultEncryption, { region, pageSize: 1, settings: SSE_S3 });
    expect(plain.pages).toBeGreaterThanOrEqual(4);
    expect(mine(plain.violations)).toEqual([none]);
    const withKey = await scanAll(aws, ControlId.S3DefaultEncryption, { region, pageSize: 3, settings: KMS_WITH_KEY });
    expect(mine(withKey.violations)).toEqual([none, sse, wrongKey].sort());
    expect(mine(withKey.violations)).not.toContain(rightKey);
  });
});
