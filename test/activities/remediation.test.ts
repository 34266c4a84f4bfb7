import { afterAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { createRemediationActivities } from '../../src/activities/remediation.js';
import { flattenPermissions, ruleKey } from '../../src/activities/controls/sg-admin-ports.js';
import { ErrorType } from '../../src/errors.js';
import { makeBucket, makeSecurityGroup, REGION, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
import { testAws } from '../helpers/stack.js';

const aws = testAws();
const acts = createRemediationActivities({ aws });
const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> => env.run<A, R, typeof fn>(fn, ...args);

afterAll(() => aws.destroy());

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('S3 Block Public Access against moto', () => {
  it('triage reads a bucket with no block as non-compliant and plans all four settings', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'team-data' });
    const t = await run(acts.triageFinding, s3Finding(bucket));
    expect(t.compliant).toBe(false);
    expect(t.before).toEqual({ blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false });
    expect(t.tags).toEqual({ owner: 'team-data' });
    expect(t.plannedChange?.summary).toContain(bucket);
  });

  it('a partly-on block plans only the missing settings, and the fix turns all four on', async () => {
    const bucket = await makeBucket(aws, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false });
    const t = await run(acts.triageFinding, s3Finding(bucket));
    expect((t.plannedChange?.details as { turnedOn: string[] }).turnedOn).toEqual(['blockPublicPolicy', 'restrictPublicBuckets']);
    const fix = await run(acts.applyFix, s3Finding(bucket));
    expect(fix.applied).toBe(true);
    const live = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(live.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const v = await run(acts.verifyFix, s3Finding(bucket), fix.before, fix.change!);
    expect(v.after).toEqual({ blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true });
  });

  it('applying twice changes nothing the second time', async () => {
    const bucket = await makeBucket(aws);
    expect((await run(acts.applyFix, s3Finding(bucket))).applied).toBe(true);
    const again = await run(acts.applyFix, s3Finding(bucket));
    expect(again.applied).toBe(false);
    expect(again.change).toBeNull();
  });

  it('a compliant bucket triages as compliant', async () => {
    const bucket = await makeBucket(aws, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const t = await run(acts.triageFinding, s3Finding(bucket));
    expect(t.compliant).toBe(true);
    expect(t.plannedChange).toBeNull();
  });

  it('a missing bucket is a non-retryable ResourceNotFound naming the bucket', async () => {
    const f = await failureOf(run(acts.triageFinding, s3Finding('no-such-bucket-rectify-test')));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('no-such-bucket-rectify-test');
    expect(f.message).toContain('NoSuchBucket');
  });

  it('verification of a bucket that does not hold the fix is a retryable NotYetCompliant', async () => {
    const bucket = await makeBucket(aws);
    const t = await run(acts.triageFinding, s3Finding(bucket));
    const f = await failureOf(run(acts.verifyFix, s3Finding(bucket), t.before, t.plannedChange!));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('blockPublicAcls is false');
  });
});

describe('security group admin ports against moto', () => {
  it('revokes exactly the world-open admin rules and leaves every other rule', async () => {
    const groupId = await makeSecurityGroup(aws, [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: 'tcp', FromPort: 3000, ToPort: 3500, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: '192.168.1.0/24' }] },
    ]);
    const f = sgFinding(groupId);
    const t = await run(acts.triageFinding, f);
    expect(t.compliant).toBe(false);
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 tcp/22, ::/0 tcp/22, 0.0.0.0/0 tcp/3000-3500 on ${groupId}`);

    const fix = await run(acts.applyFix, f);
    expect(fix.applied).toBe(true);
    const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    const keys = flattenPermissions(live.SecurityGroups![0]!.IpPermissions ?? []).map(ruleKey).sort();
    expect(keys).toEqual(['tcp|22-22|10.0.0.0/8', 'tcp|443-443|0.0.0.0/0', 'tcp|5432-5432|192.168.1.0/24']);
    await run(acts.verifyFix, f, fix.before, fix.change!);

    const again = await run(acts.applyFix, f);
    expect(again.applied).toBe(false);
  });

  it('all traffic from the internet is revoked', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    const t = await run(acts.triageFinding, sgFinding(groupId));
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 all traffic on ${groupId}`);
    await run(acts.applyFix, sgFinding(groupId));
    expect((await run(acts.triageFinding, sgFinding(groupId))).compliant).toBe(true);
  });

  it('a group with only restricted rules is compliant', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.1.0.0/16' }] }], { environment: 'production' });
    const t = await run(acts.triageFinding, sgFinding(groupId));
    expect(t.compliant).toBe(true);
    expect(t.tags).toEqual({ environment: 'production' });
  });

  it('verification notices a rule that should have stayed but is gone', async () => {
    const groupId = await makeSecurityGroup(aws, [world22]);
    const t = await run(acts.triageFinding, sgFinding(groupId));
    const before = t.before as { ingress: unknown[] };
    const inflated = { ...before, ingress: [...before.ingress, { protocol: 'tcp', fromPort: 80, toPort: 80, cidrIpv4: '10.9.0.0/16' }] };
    await run(acts.applyFix, sgFinding(groupId));
    const f = await failureOf(run(acts.verifyFix, sgFinding(groupId), inflated, t.plannedChange!));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.message).toContain('rule that should have stayed is gone: 10.9.0.0/16 tcp/80');
  });

  it('an unknown group id is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(run(acts.triageFinding, sgFinding('sg-0123456789abcdef0')));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });
});
