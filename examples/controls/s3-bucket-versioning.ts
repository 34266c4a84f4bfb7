/**
 * A control of one's own, as docs/controls.md walks through it: S3 bucket versioning (Security
 * Hub S3.14, AWS Config rule s3-bucket-versioning-enabled). Registered with
 * CONTROL_MODULES=./examples/controls/s3-bucket-versioning.ts, it is known to the webhook, the
 * scan, the policy, dry-run, the evidence and Slack like a built-in control; test/integration/
 * custom-control.test.ts runs it end to end.
 */
import { GetBucketVersioningCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { awsCall } from '../../src/activities/aws-errors.js';
import type { AwsClients } from '../../src/activities/aws.js';
import type { Control } from '../../src/activities/controls/control.js';
import { bucketId } from '../../src/activities/controls/resource-ids.js';
import { scanBuckets } from '../../src/activities/controls/s3-scan.js';
import { readBucketTags, tagBucket } from '../../src/activities/controls/s3-tags.js';

/** What `read` returns: the versioning status as S3 reports it. */
export interface VersioningState {
  readonly bucket: string;
  /** Unversioned (never enabled), Enabled or Suspended. */
  readonly status: 'Unversioned' | 'Enabled' | 'Suspended';
}
/** The exact change: one bucket's versioning turned on. */
export interface EnableVersioningChange {
  readonly bucket: string;
  readonly enable: true;
}

/** The control's own setting under `settings:` in the policy, with its default. */
export const versioningSettings = z.object({
  /** Also count Suspended (versioning turned on once, then off) as a violation. */
  versioningSuspendedIsViolation: z.boolean().default(true),
});

/** Compliant = Enabled (or Suspended, when the policy allows it). Pure: the same state always plans the same change. */
export function planVersioning(state: VersioningState, settings: unknown): EnableVersioningChange | null {
  const { versioningSuspendedIsViolation } = versioningSettings.parse(settings ?? {});
  if (state.status === 'Enabled' || (state.status === 'Suspended' && !versioningSuspendedIsViolation)) return null;
  return { bucket: state.bucket, enable: true };
}

async function readVersioning(aws: AwsClients, region: string, bucket: string): Promise<VersioningState> {
  const out = await awsCall(`GetBucketVersioning ${bucket}`, () => aws.s3(region).send(new GetBucketVersioningCommand({ Bucket: bucket })));
  return { bucket, status: out.Status === 'Enabled' || out.Status === 'Suspended' ? out.Status : 'Unversioned' };
}

export const s3BucketVersioning: Control<VersioningState, EnableVersioningChange> = {
  id: 's3-bucket-versioning',
  title: 'S3 buckets must keep every version of their objects',
  fixable: true,
  settings: versioningSettings,
  catalog: {
    resourceType: 'AwsS3Bucket',
    severity: 'LOW',
    securityHub: ['S3.14'],
    configRules: ['s3-bucket-versioning-enabled'],
    configResourceType: 'AWS::S3::Bucket',
    cloudTrail: [{ eventSource: 's3.amazonaws.com', eventNames: ['CreateBucket', 'PutBucketVersioning'] }],
    changes: 'Turns on versioning (PutBucketVersioning Status=Enabled); MFA delete is left as it is',
    defaultMode: 'auto',
    undo: 'suspends versioning: S3 cannot take a bucket back to never versioned, and the versions kept meanwhile stay',
    resourceIdHint: 'an S3 bucket name or ARN',
    resourceId: bucketId,
    /** CreateBucket: a new bucket is unversioned. PutBucketVersioning: ignored when it turns versioning on. */
    fromCloudTrail(record) {
      const params = record['requestParameters'] as Record<string, unknown> | undefined;
      const bucket = typeof params?.['bucketName'] === 'string' ? params['bucketName'] : undefined;
      if (bucket === undefined) return { resources: [] };
      const config = params?.['VersioningConfiguration'] as Record<string, unknown> | undefined;
      if (record['eventName'] === 'PutBucketVersioning' && config?.['Status'] === 'Enabled') return { ignore: `versioning of ${bucket} was turned on` };
      return { resources: [{ id: bucket, title: record['eventName'] === 'CreateBucket' ? `S3 bucket ${bucket} was created without versioning` : `Versioning of S3 bucket ${bucket} was suspended` }] };
    },
  },

  async read(aws, finding) {
    const state = await readVersioning(aws, finding.region, finding.resource.id);
    return { state, tags: await readBucketTags(aws, finding.region, state.bucket) };
  },

  plan: planVersioning,

  async apply(aws, finding, change) {
    await awsCall(`PutBucketVersioning ${change.bucket}`, () =>
      aws.s3(finding.region).send(new PutBucketVersioningCommand({ Bucket: change.bucket, VersioningConfiguration: { Status: 'Enabled' } })),
    );
  },

  check: (_before, change, after) => (after.status === 'Enabled' ? [] : [`versioning of ${change.bucket} is ${after.status}`]),

  /** Back as close as S3 allows: Suspended (a bucket never goes back to Unversioned). */
  async undo(aws, finding, before, change) {
    if (before.status === 'Enabled') return;
    await awsCall(`PutBucketVersioning ${change.bucket}`, () =>
      aws.s3(finding.region).send(new PutBucketVersioningCommand({ Bucket: change.bucket, VersioningConfiguration: { Status: 'Suspended' } })),
    );
  },

  checkUndo: (before, change, after) => (after.status === 'Suspended' || after.status === before.status ? [] : [`versioning of ${change.bucket} is ${after.status}, expected Suspended`]),

  tag: (aws, finding, key, value) => tagBucket(aws, finding.region, finding.resource.id, key, value),

  scanPage: (aws, o) =>
    scanBuckets({
      aws,
      o,
      readState: (bucket) => readVersioning(aws, o.region, bucket),
      violation: (bucket, state) => (planVersioning(state, o.settings) ? { resourceId: bucket, title: `S3 bucket ${bucket}: versioning ${state.status}`, severity: 'LOW' } : null),
    }),

  summarize: (change) => `Turn on versioning of S3 bucket ${change.bucket}`,
  describe: (state) => `versioning ${state.status}`,
};

export default s3BucketVersioning;
