import { afterAll, describe, expect, it } from 'vitest';
import { GetBucketAclCommand, GetBucketTaggingCommand, PutBucketAclCommand, PutBucketOwnershipControlsCommand, type Grant } from '@aws-sdk/client-s3';
import { ALL_USERS, AUTHENTICATED_USERS, fromSdkGrant, grantKey, type BucketAclState } from '../../src/activities/controls/s3-public-acl.js';
import { ErrorType } from '../../src/errors.js';
import { ControlId } from '../../src/findings/finding.js';
import { DEFAULT_SETTINGS, findingFor, makeBucket, REGION, type BucketOptions } from '../helpers/fixtures.js';
import { unique } from '../helpers/stack.js';
import { activityHarness, failureOf, scanAll } from './harness.js';

const { aws, acts, run } = activityHarness();
const S = DEFAULT_SETTINGS;
afterAll(() => aws.destroy());

const OTHER_ACCOUNT_USER = 'c0ffee'.padEnd(64, '0');
const finding = (bucket: string, region = REGION) => findingFor(ControlId.S3PublicAcl, bucket, { region });

/** A bucket whose ACL is the owner's full control plus `extra` grants. Ownership controls allow ACLs first, as real S3 requires (moto accepts ACLs either way). */
async function aclBucket(extra: Grant[], tags: Record<string, string> = {}, opts: BucketOptions = {}): Promise<string> {
  const region = opts.region ?? REGION;
  const bucket = await makeBucket(aws, undefined, tags, opts);
  const s3 = aws.s3(region);
  await s3.send(new PutBucketOwnershipControlsCommand({ Bucket: bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] } }));
  const acl = await s3.send(new GetBucketAclCommand({ Bucket: bucket }));
  if (extra.length > 0) await s3.send(new PutBucketAclCommand({ Bucket: bucket, AccessControlPolicy: { Owner: acl.Owner, Grants: [...(acl.Grants ?? []), ...extra] } }));
  return bucket;
}
async function liveGrantKeys(bucket: string, region = REGION): Promise<string[]> {
  const acl = await aws.s3(region).send(new GetBucketAclCommand({ Bucket: bucket }));
  return (acl.Grants ?? []).flatMap((g) => fromSdkGrant(g) ?? []).map(grantKey).sort();
}

const publicRead: Grant = { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' };
const authWrite: Grant = { Grantee: { Type: 'Group', URI: AUTHENTICATED_USERS }, Permission: 'WRITE' };
const partnerRead: Grant = { Grantee: { Type: 'CanonicalUser', ID: OTHER_ACCOUNT_USER }, Permission: 'READ' };

describe('S3 bucket public ACL against moto', () => {
  it('removes only the public grants, keeps the owner and a grant to another account, and undo restores every grant', async () => {
    const bucket = await aclBucket([partnerRead, publicRead, authWrite], { owner: 'web' });
    const original = await liveGrantKeys(bucket);
    expect(original).toHaveLength(4);

    const t = await run(acts.triageFinding, finding(bucket), S);
    expect(t.compliant).toBe(false);
    expect(t.fixable).toBe(true);
    expect(t.tags).toEqual({ owner: 'web' });
    expect(t.plannedChange?.summary).toBe(`Remove public ACL grants (AllUsers READ, AuthenticatedUsers WRITE) on bucket ${bucket}`);
    expect(t.stateSummary).toBe('public grants: AllUsers READ, AuthenticatedUsers WRITE; 2 other grants');

    const fix = await run(acts.applyFix, finding(bucket), S);
    expect(fix.applied).toBe(true);
    const owner = (fix.before as { ownerId: string }).ownerId;
    expect(await liveGrantKeys(bucket)).toEqual([`CanonicalUser|${OTHER_ACCOUNT_USER}|READ`, `CanonicalUser|${owner}|FULL_CONTROL`].sort());
    await run(acts.verifyFix, finding(bucket), fix.before, fix.change!, S);
    expect((await run(acts.applyFix, finding(bucket), S)).applied).toBe(false);

    const undone = await run(acts.undoFix, finding(bucket), fix.before, fix.change!);
    expect((undone.after as BucketAclState).grants.map(grantKey).sort()).toEqual(original);
    expect(await liveGrantKeys(bucket)).toEqual(original);
    await run(acts.undoFix, finding(bucket), fix.before, fix.change!);
    expect(await liveGrantKeys(bucket)).toEqual(original);
  });

  it('a canned public-read bucket ends as the canned private ACL', async () => {
    const bucket = await aclBucket([]);
    await aws.s3(REGION).send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' }));
    const fix = await run(acts.applyFix, finding(bucket), S);
    expect(fix.applied).toBe(true);
    const owner = (fix.before as { ownerId: string }).ownerId;
    expect(await liveGrantKeys(bucket)).toEqual([`CanonicalUser|${owner}|FULL_CONTROL`]);
  });

  it('a private bucket, or one shared only with another account, is compliant', async () => {
    const priv = await aclBucket([]);
    expect((await run(acts.triageFinding, finding(priv), S)).compliant).toBe(true);
    const shared = await aclBucket([partnerRead]);
    const t = await run(acts.triageFinding, finding(shared), S);
    expect(t.compliant).toBe(true);
    expect(t.stateSummary).toBe('no public grants; 2 other grants');
  });

  it('verification names a public grant that is back', async () => {
    const bucket = await aclBucket([publicRead]);
    const fix = await run(acts.applyFix, finding(bucket), S);
    await aws.s3(REGION).send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read' }));
    const f = await failureOf(run(acts.verifyFix, finding(bucket), fix.before, fix.change!, S));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.message).toContain('public grant still present: AllUsers READ');
  });

  it('a missing bucket is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(run(acts.triageFinding, finding('no-such-bucket-rectify-acl'), S));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });

  it('marking exempt merges the tag into the bucket tags', async () => {
    const bucket = await aclBucket([publicRead], { owner: 'web', env: 'prod' });
    expect(await run(acts.markExempt, finding(bucket), 'rectify:exempt-until', '2031-01-01')).toBe(true);
    const live = await aws.s3(REGION).send(new GetBucketTaggingCommand({ Bucket: bucket }));
    expect(Object.fromEntries((live.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ owner: 'web', env: 'prod', 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan pages through the buckets of the region and reports exactly the ones with public grants', async () => {
    const region = 'ap-south-1';
    const opts = { region, prefix: unique('aclscan') };
    const violating = [await aclBucket([publicRead], {}, opts), await aclBucket([partnerRead, authWrite], {}, opts)];
    await aclBucket([], {}, opts);
    await aclBucket([partnerRead], {}, opts);
    const { violations, pages } = await scanAll(aws, ControlId.S3PublicAcl, { region, pageSize: 3 });
    expect(pages).toBeGreaterThanOrEqual(2);
    const mine = violations.filter((v) => v.resourceId.startsWith(opts.prefix));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(mine.find((v) => v.resourceId === violating[1])?.title).toContain('AuthenticatedUsers WRITE');
    expect(mine.every((v) => v.severity === 'CRITICAL')).toBe(true);
  });
});
