import { GetBucketTaggingCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';

/** Bucket tags as a plain record; a bucket without tags has none. Shared by every S3 control. */
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

/**
 * Sets one tag on a bucket, keeping every other tag: PutBucketTagging replaces the whole set, so
 * the current set is read first and the tag merged into it.
 */
export async function tagBucket(aws: AwsClients, region: string, bucket: string, key: string, value: string): Promise<void> {
  const tags = new Map(Object.entries(await readBucketTags(aws, region, bucket)));
  tags.set(key, value);
  await awsCall(`PutBucketTagging on ${bucket}`, () =>
    aws.s3(region).send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [...tags].map(([Key, Value]) => ({ Key, Value })) } })),
  );
}
