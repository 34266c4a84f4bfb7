import { bucketId, readByNormalizer } from './resource-ids.js';
import {
  DeleteBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  PutBucketEncryptionCommand,
  type EncryptionType,
  type ServerSideEncryption,
  type ServerSideEncryptionRule,
} from '@aws-sdk/client-s3';
import { ControlId, Severity } from '../../findings/finding.js';
import type { ControlSettings } from '../../policy/types.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control } from './control.js';
import { scanBuckets } from './s3-scan.js';
import { readBucketTags, tagBucket } from './s3-tags.js';

/** One rule of a bucket's default encryption configuration. */
export interface EncryptionRule {
  /** 'AES256' (SSE-S3), 'aws:kms' (SSE-KMS), 'aws:kms:dsse' (DSSE-KMS); absent when the rule sets no default. */
  readonly algorithm?: string;
  /** KMS key id, key ARN, alias or alias ARN; absent = the AWS managed key (aws/s3). */
  readonly kmsKeyId?: string;
  readonly bucketKeyEnabled: boolean;
  /** Object encryption types the bucket refuses (e.g. SSE-C), kept as they are by the fix and the undo. */
  readonly blockedEncryptionTypes?: readonly string[];
}
export interface BucketEncryptionState {
  /** False when the bucket has no default encryption configuration (GetBucketEncryption: ServerSideEncryptionConfigurationNotFoundError). */
  readonly configured: boolean;
  readonly rules: readonly EncryptionRule[];
}
export type RequiredEncryption = ControlSettings['encryption'];
export interface SetDefaultEncryptionChange {
  /** The rule the fix puts (replacing the configuration's rules). */
  readonly rule: EncryptionRule;
}

const KMS_ALGORITHMS: ReadonlySet<string> = new Set(['aws:kms', 'aws:kms:dsse']);
/** Buckets must use SSE-S3 when the policy names nothing. */
export const DEFAULT_ENCRYPTION: RequiredEncryption = Object.freeze({ algorithm: 'AES256' });

export function encryptionOf(settings: ControlSettings | undefined): RequiredEncryption {
  return settings?.encryption ?? DEFAULT_ENCRYPTION;
}

/** The rule that sets the default encryption of new objects (S3 allows one). */
export function defaultRule(state: BucketEncryptionState): EncryptionRule | undefined {
  return state.rules.find((r) => r.algorithm !== undefined);
}

/**
 * The one definition of compliant. AES256 required: any default encryption qualifies, since
 * SSE-KMS and DSSE-KMS are at least as strong as SSE-S3 (a bucket already on KMS is never
 * downgraded). aws:kms required: SSE-KMS or DSSE-KMS (DSSE counts as KMS), with the named key
 * when the policy names one (any key otherwise).
 */
export function meetsRequirement(rule: EncryptionRule | undefined, required: RequiredEncryption): boolean {
  const alg = rule?.algorithm;
  if (alg === undefined) return false;
  if (required.algorithm === 'AES256') return alg === 'AES256' || KMS_ALGORITHMS.has(alg);
  if (!KMS_ALGORITHMS.has(alg)) return false;
  return required.kmsKeyId === undefined || (rule?.kmsKeyId !== undefined && sameKmsKey(rule.kmsKeyId, required.kmsKeyId));
}

/** Whether two ways of naming a KMS key name the same key: key id vs key ARN, alias vs alias ARN. */
export function sameKmsKey(a: string, b: string): boolean {
  return kmsKeyName(a) === kmsKeyName(b);
}
function kmsKeyName(k: string): string {
  const name = k.startsWith('arn:') ? k.split(':').slice(5).join(':') : k;
  return name.startsWith('alias/') || name.startsWith('key/') ? name : `key/${name}`;
}

export function planEncryption(state: BucketEncryptionState, required: RequiredEncryption): SetDefaultEncryptionChange | null {
  const current = defaultRule(state);
  if (meetsRequirement(current, required)) return null;
  const kms = required.algorithm === 'aws:kms';
  const blocked = current?.blockedEncryptionTypes ?? state.rules.find((r) => r.blockedEncryptionTypes)?.blockedEncryptionTypes;
  return {
    rule: {
      algorithm: required.algorithm,
      ...(kms && required.kmsKeyId !== undefined ? { kmsKeyId: required.kmsKeyId } : {}),
      bucketKeyEnabled: kms, // S3 Bucket Keys cut KMS request costs; they do not apply to SSE-S3
      ...(blocked ? { blockedEncryptionTypes: blocked } : {}),
    },
  };
}

export function describeEncryptionRule(rule: EncryptionRule | undefined): string {
  if (rule?.algorithm === undefined) return 'none';
  const key = KMS_ALGORITHMS.has(rule.algorithm) ? ` (key ${rule.kmsKeyId ?? 'aws/s3'}${rule.bucketKeyEnabled ? ', bucket key on' : ''})` : '';
  return `${rule.algorithm}${key}`;
}
export function describeRequired(required: RequiredEncryption): string {
  return required.algorithm === 'AES256' ? 'AES256 or stronger' : `aws:kms${required.kmsKeyId ? ` with key ${required.kmsKeyId}` : ''}`;
}

/** Rules compared as values (order of blocked types aside). */
function canonicalRules(s: BucketEncryptionState): string {
  return JSON.stringify(
    s.rules.map((r) => [r.algorithm ?? null, r.kmsKeyId ?? null, r.bucketKeyEnabled, r.blockedEncryptionTypes ? [...r.blockedEncryptionTypes].sort() : null]),
  );
}
export function checkSameEncryption(before: BucketEncryptionState, after: BucketEncryptionState): string[] {
  if (before.configured !== after.configured) {
    return [before.configured ? `default encryption is gone, expected ${describeEncryptionRule(defaultRule(before))}` : `default encryption is ${describeEncryptionRule(defaultRule(after))}, expected none`];
  }
  if (canonicalRules(before) !== canonicalRules(after)) return [`default encryption is ${describeEncryptionRule(defaultRule(after))}, expected ${describeEncryptionRule(defaultRule(before))}`];
  return [];
}

function fromSdkRule(r: ServerSideEncryptionRule): EncryptionRule {
  const d = r.ApplyServerSideEncryptionByDefault;
  const blocked = r.BlockedEncryptionTypes?.EncryptionType;
  return {
    ...(d?.SSEAlgorithm ? { algorithm: d.SSEAlgorithm } : {}),
    ...(d?.KMSMasterKeyID ? { kmsKeyId: d.KMSMasterKeyID } : {}),
    bucketKeyEnabled: r.BucketKeyEnabled === true,
    ...(blocked && blocked.length > 0 ? { blockedEncryptionTypes: [...blocked] } : {}),
  };
}
function toSdkRule(r: EncryptionRule): ServerSideEncryptionRule {
  return {
    ...(r.algorithm
      ? { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: r.algorithm as ServerSideEncryption, ...(r.kmsKeyId ? { KMSMasterKeyID: r.kmsKeyId } : {}) } }
      : {}),
    BucketKeyEnabled: r.bucketKeyEnabled,
    ...(r.blockedEncryptionTypes ? { BlockedEncryptionTypes: { EncryptionType: [...r.blockedEncryptionTypes] as EncryptionType[] } } : {}),
  };
}

export async function readBucketEncryption(aws: AwsClients, region: string, bucket: string): Promise<BucketEncryptionState> {
  return awsCall(`GetBucketEncryption on ${bucket}`, async () => {
    try {
      const out = await aws.s3(region).send(new GetBucketEncryptionCommand({ Bucket: bucket }));
      return { configured: true, rules: (out.ServerSideEncryptionConfiguration?.Rules ?? []).map(fromSdkRule) };
    } catch (err) {
      if (awsErrorCode(err) === 'ServerSideEncryptionConfigurationNotFoundError') return { configured: false, rules: [] };
      throw err;
    }
  });
}

async function putBucketEncryption(aws: AwsClients, region: string, bucket: string, rules: readonly EncryptionRule[]): Promise<void> {
  await awsCall(`PutBucketEncryption on ${bucket}`, () =>
    aws.s3(region).send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: rules.map(toSdkRule) } })),
  );
}

export const s3DefaultEncryption: Control<BucketEncryptionState, SetDefaultEncryptionChange> = {
  id: ControlId.S3DefaultEncryption,
  title: "S3 buckets must encrypt new objects by default as the policy requires",
  fixable: true,
  catalog: {
    resourceType: 'AwsS3Bucket',
    severity: Severity.Medium,
    securityHub: ['S3.17'],
    configRules: ['s3-bucket-server-side-encryption-enabled', 's3-default-encryption-kms'],
    cloudTrail: [{ eventSource: 's3.amazonaws.com', eventNames: ['CreateBucket', 'PutBucketEncryption', 'DeleteBucketEncryption'] }],
    changes: "Sets the bucket's default encryption to what the policy requires (settings.encryption: SSE-S3, or SSE-KMS with a key)",
    defaultMode: 'auto',
    undo: 'exact: the previous default encryption configuration',
    resourceIdHint: 'an S3 bucket name or ARN',
    resourceId: bucketId,
    fromCloudTrail: readByNormalizer,
  },

  async read(aws, finding) {
    const bucket = finding.resource.id;
    const state = await readBucketEncryption(aws, finding.region, bucket);
    const tags = await readBucketTags(aws, finding.region, bucket);
    return { state, tags };
  },

  plan: (state, settings) => planEncryption(state, encryptionOf(settings)),

  async apply(aws, finding, change) {
    await putBucketEncryption(aws, finding.region, finding.resource.id, [change.rule]);
  },

  check(_before, _change, after, settings) {
    const required = encryptionOf(settings);
    const rule = defaultRule(after);
    return meetsRequirement(rule, required) ? [] : [`default encryption is ${describeEncryptionRule(rule)}, expected ${describeRequired(required)}`];
  },

  /** Restores the previous configuration exactly, or deletes it when there was none. */
  async undo(aws, finding, before) {
    const bucket = finding.resource.id;
    if (before.configured) {
      await putBucketEncryption(aws, finding.region, bucket, before.rules);
      return;
    }
    await awsCall(`DeleteBucketEncryption on ${bucket}`, () => aws.s3(finding.region).send(new DeleteBucketEncryptionCommand({ Bucket: bucket })));
  },

  checkUndo: (before, _change, after) => checkSameEncryption(before, after),

  async tag(aws, finding, key, value) {
    await tagBucket(aws, finding.region, finding.resource.id, key, value);
  },

  scanPage(aws, o) {
    const required = encryptionOf(o.settings);
    return scanBuckets({
      aws,
      o,
      readState: (bucket) => readBucketEncryption(aws, o.region, bucket),
      violation: (bucket, state) =>
        planEncryption(state, required) && {
          resourceId: bucket,
          title: `S3 bucket ${bucket}: default encryption is ${describeEncryptionRule(defaultRule(state))}, expected ${describeRequired(required)}`,
          severity: Severity.Medium,
        },
    });
  },

  describe(state) {
    return state.configured ? `default encryption ${describeEncryptionRule(defaultRule(state))}` : 'no default encryption configured';
  },

  summarize(change, finding) {
    return `Set default encryption of bucket ${finding.resource.id} to ${describeEncryptionRule(change.rule)}`;
  },
};
