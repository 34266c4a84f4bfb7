import { DeletePublicAccessBlockCommand, GetPublicAccessBlockCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { bucketId, readByNormalizer } from './resource-ids.js';
import { ControlId, Severity } from '../../findings/finding.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control } from './control.js';
import { scanBuckets } from './s3-scan.js';
import { readBucketTags, tagBucket } from './s3-tags.js';

/** The four settings of a public access block. */
export interface PublicAccessBlockSettings {
  readonly blockPublicAcls: boolean;
  readonly ignorePublicAcls: boolean;
  readonly blockPublicPolicy: boolean;
  readonly restrictPublicBuckets: boolean;
}
/** The bucket's public access block; all four false when the bucket has none (`configured` false). */
export interface PublicAccessBlockState extends PublicAccessBlockSettings {
  /** False when the bucket has no public access block configuration at all (undo then deletes it again). */
  readonly configured: boolean;
}
export type PublicAccessBlockChange = {
  readonly set: PublicAccessBlockSettings;
  /** The settings that were off. */
  readonly turnedOn: readonly (keyof PublicAccessBlockSettings)[];
};

const SETTINGS: readonly (keyof PublicAccessBlockSettings)[] = ['blockPublicAcls', 'ignorePublicAcls', 'blockPublicPolicy', 'restrictPublicBuckets'];
const ALL_ON: PublicAccessBlockSettings = Object.freeze({
  blockPublicAcls: true,
  ignorePublicAcls: true,
  blockPublicPolicy: true,
  restrictPublicBuckets: true,
});
const NONE: PublicAccessBlockState = Object.freeze({
  configured: false,
  blockPublicAcls: false,
  ignorePublicAcls: false,
  blockPublicPolicy: false,
  restrictPublicBuckets: false,
});

/** Compliant = all four settings on. The plan turns on what is off (and sets all four). */
export function planPublicAccessBlock(state: PublicAccessBlockSettings): PublicAccessBlockChange | null {
  const turnedOn = SETTINGS.filter((k) => !state[k]);
  return turnedOn.length === 0 ? null : { set: ALL_ON, turnedOn };
}

/** The bucket's public access block (GetPublicAccessBlock; none = all off, `configured` false). */
export async function readPublicAccessBlock(aws: AwsClients, region: string, bucket: string): Promise<PublicAccessBlockState> {
  return awsCall(`GetPublicAccessBlock on ${bucket}`, async () => {
    try {
      const out = await aws.s3(region).send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
      const c = out.PublicAccessBlockConfiguration ?? {};
      return {
        configured: true,
        blockPublicAcls: c.BlockPublicAcls === true,
        ignorePublicAcls: c.IgnorePublicAcls === true,
        blockPublicPolicy: c.BlockPublicPolicy === true,
        restrictPublicBuckets: c.RestrictPublicBuckets === true,
      };
    } catch (err) {
      if (awsErrorCode(err) === 'NoSuchPublicAccessBlockConfiguration') return NONE;
      throw err;
    }
  });
}

async function putPublicAccessBlock(aws: AwsClients, region: string, bucket: string, s: PublicAccessBlockSettings): Promise<void> {
  await awsCall(`PutPublicAccessBlock on ${bucket}`, () =>
    aws.s3(region).send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: s.blockPublicAcls,
          IgnorePublicAcls: s.ignorePublicAcls,
          BlockPublicPolicy: s.blockPublicPolicy,
          RestrictPublicBuckets: s.restrictPublicBuckets,
        },
      }),
    ),
  );
}

function describeBlock(state: PublicAccessBlockState): string {
  const settings = SETTINGS.map((k) => `${k} ${state[k] ? 'on' : 'OFF'}`).join(', ');
  return state.configured ? settings : `no public access block configured (${settings})`;
}

export const s3BlockPublicAccess: Control<PublicAccessBlockState, PublicAccessBlockChange> = {
  id: ControlId.S3BlockPublicAccess,
  title: 'S3 bucket Block Public Access must be fully on',
  fixable: true,
  catalog: {
    resourceType: 'AwsS3Bucket',
    severity: Severity.High,
    securityHub: ['S3.8'],
    configRules: ['s3-bucket-level-public-access-prohibited'],
    cloudTrail: [{ eventSource: 's3.amazonaws.com', eventNames: ['CreateBucket', 'PutBucketAcl', 'DeleteBucketPublicAccessBlock', 'PutBucketPublicAccessBlock'] }],
    changes: "Turns on the bucket's four Block Public Access settings",
    defaultMode: 'auto',
    undo: 'exact: the settings as they were (none, when the bucket had no configuration)',
    resourceIdHint: 'an S3 bucket name or ARN',
    resourceId: bucketId,
    fromCloudTrail: readByNormalizer,
  },

  async read(aws, finding) {
    const bucket = finding.resource.id;
    const state = await readPublicAccessBlock(aws, finding.region, bucket);
    const tags = await readBucketTags(aws, finding.region, bucket);
    return { state, tags };
  },

  plan: (state) => planPublicAccessBlock(state),

  async apply(aws, finding, change) {
    await putPublicAccessBlock(aws, finding.region, finding.resource.id, change.set);
  },

  check(_before, change, after) {
    return SETTINGS.filter((k) => after[k] !== change.set[k]).map((k) => `${k} is ${after[k]}, expected ${change.set[k]}`);
  },

  /** Restores the previous configuration exactly: deleted again when there was none, else the old four values. */
  async undo(aws, finding, before) {
    const bucket = finding.resource.id;
    if (before.configured) {
      await putPublicAccessBlock(aws, finding.region, bucket, before);
      return;
    }
    await awsCall(`DeletePublicAccessBlock on ${bucket}`, async () => {
      try {
        await aws.s3(finding.region).send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
      } catch (err) {
        if (awsErrorCode(err) === 'NoSuchPublicAccessBlockConfiguration') return; // already gone
        throw err;
      }
    });
  },

  checkUndo(before, _change, after) {
    const problems: string[] = [];
    if (after.configured !== before.configured) {
      problems.push(before.configured ? 'the public access block is gone, expected it configured' : 'a public access block is configured, expected none');
    }
    for (const k of SETTINGS) if (after[k] !== before[k]) problems.push(`${k} is ${after[k]}, expected ${before[k]}`);
    return problems;
  },

  async tag(aws, finding, key, value) {
    await tagBucket(aws, finding.region, finding.resource.id, key, value);
  },

  scanPage(aws, o) {
    return scanBuckets({
      aws,
      o,
      readState: (bucket) => readPublicAccessBlock(aws, o.region, bucket),
      violation: (bucket, state) => {
        const change = planPublicAccessBlock(state);
        return change && { resourceId: bucket, title: `S3 bucket ${bucket}: Block Public Access not fully on (${change.turnedOn.join(', ')} off)`, severity: Severity.High };
      },
    });
  },

  describe: describeBlock,

  summarize(change, finding) {
    return `Turn on Block Public Access (${change.turnedOn.join(', ')}) on bucket ${finding.resource.id}`;
  },
};
