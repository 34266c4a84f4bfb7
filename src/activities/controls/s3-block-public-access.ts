import { GetBucketTaggingCommand, GetPublicAccessBlockCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { ControlId, type Finding } from '../../findings/finding.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control } from './control.js';

/** The bucket's public access block; all false when the bucket has none. */
export interface PublicAccessBlockState {
  readonly blockPublicAcls: boolean;
  readonly ignorePublicAcls: boolean;
  readonly blockPublicPolicy: boolean;
  readonly restrictPublicBuckets: boolean;
}
export type PublicAccessBlockChange = {
  readonly set: PublicAccessBlockState;
  /** The settings that were off. */
  readonly turnedOn: readonly (keyof PublicAccessBlockState)[];
};

const SETTINGS: readonly (keyof PublicAccessBlockState)[] = [
  'blockPublicAcls',
  'ignorePublicAcls',
  'blockPublicPolicy',
  'restrictPublicBuckets',
];
const ALL_ON: PublicAccessBlockState = Object.freeze({
  blockPublicAcls: true,
  ignorePublicAcls: true,
  blockPublicPolicy: true,
  restrictPublicBuckets: true,
});

export function planPublicAccessBlock(state: PublicAccessBlockState): PublicAccessBlockChange | null {
  const turnedOn = SETTINGS.filter((k) => !state[k]);
  return turnedOn.length === 0 ? null : { set: ALL_ON, turnedOn };
}

export const s3BlockPublicAccess: Control<PublicAccessBlockState, PublicAccessBlockChange> = {
  id: ControlId.S3BlockPublicAccess,
  title: 'S3 bucket Block Public Access must be fully on',

  async read(aws: AwsClients, finding: Finding) {
    const bucket = finding.resource.id;
    const s3 = aws.s3(finding.region);
    const state = await awsCall(`GetPublicAccessBlock on ${bucket}`, async () => {
      try {
        const out = await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
        const c = out.PublicAccessBlockConfiguration ?? {};
        return {
          blockPublicAcls: c.BlockPublicAcls === true,
          ignorePublicAcls: c.IgnorePublicAcls === true,
          blockPublicPolicy: c.BlockPublicPolicy === true,
          restrictPublicBuckets: c.RestrictPublicBuckets === true,
        };
      } catch (err) {
        if (awsErrorCode(err) === 'NoSuchPublicAccessBlockConfiguration') {
          return { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false };
        }
        throw err;
      }
    });
    const tags = await readBucketTags(aws, finding.region, bucket);
    return { state, tags };
  },

  plan: planPublicAccessBlock,

  async apply(aws, finding, change) {
    const bucket = finding.resource.id;
    await awsCall(`PutPublicAccessBlock on ${bucket}`, () =>
      aws.s3(finding.region).send(
        new PutPublicAccessBlockCommand({
          Bucket: bucket,
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: change.set.blockPublicAcls,
            IgnorePublicAcls: change.set.ignorePublicAcls,
            BlockPublicPolicy: change.set.blockPublicPolicy,
            RestrictPublicBuckets: change.set.restrictPublicBuckets,
          },
        }),
      ),
    );
  },

  check(_before, change, after) {
    return SETTINGS.filter((k) => after[k] !== change.set[k]).map((k) => `${k} is ${after[k]}, expected ${change.set[k]}`);
  },

  describe(state) {
    return SETTINGS.map((k) => `${k} ${state[k] ? 'on' : 'OFF'}`).join(', ');
  },

  summarize(change, finding) {
    return `Turn on Block Public Access (${change.turnedOn.join(', ')}) on bucket ${finding.resource.id}`;
  },
};

/** Bucket tags as a plain record; a bucket without tags has none. */
export async function readBucketTags(aws: AwsClients, region: string, bucket: string): Promise<Record<string, string>> {
  return awsCall(`GetBucketTagging on ${bucket}`, async () => {
    try {
      const out = await aws.s3(region).send(new GetBucketTaggingCommand({ Bucket: bucket }));
      const tags: Record<string, string> = Object.create(null);
      for (const t of out.TagSet ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
      return { ...tags };
    } catch (err) {
      if (awsErrorCode(err) === 'NoSuchTagSet') return {};
      throw err;
    }
  });
}
