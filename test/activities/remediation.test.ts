import { afterAll, describe, expect, it } from 'vitest';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetBucketTaggingCommand, GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { flattenPermissions, ruleKey } from '../../src/activities/controls/sg-admin-ports.js';
import { ErrorType } from '../../src/errors.js';
import { ControlId } from '../../src/findings/finding.js';
import { DEFAULT_SETTINGS, makeBucket, makeSecurityGroup, REGION, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
import { unique } from '../helpers/stack.js';
import { activityHarness, failureOf, scanAll } from './harness.js';

const { aws, acts, run } = activityHarness();
const S = DEFAULT_SETTINGS;

afterAll(() => aws.destroy());

const ALL_ON = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

async function liveBlock(bucket: string, region = REGION) {
  return aws
    .s3(region)
    .send(new GetPublicAccessBlockCommand({ Bucket: bucket }))
    .then(
      (o) => o.PublicAccessBlockConfiguration,
      (e: { name?: string }) => e.name,
    );
}

describe('S3 Block Public Access against moto', () => {
  it('triage reads a bucket with no block as non-compliant and plans all four settings', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'team-data' });
    const t = await run(acts.triageFinding, s3Finding(bucket), S);
    expect(t.compliant).toBe(false);
    expect(t.fixable).toBe(true);
    expect(t.before).toEqual({ configured: false, blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false });
    expect(t.tags).toEqual({ owner: 'team-data' });
    expect(t.plannedChange?.summary).toContain(bucket);
    expect(t.stateSummary).toContain('no public access block configured');
  });

  it('a partly-on block plans only the missing settings, and the fix turns all four on', async () => {
    const bucket = await makeBucket(aws, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false });
    const t = await run(acts.triageFinding, s3Finding(bucket), S);
    expect((t.plannedChange?.details as { turnedOn: string[] }).turnedOn).toEqual(['blockPublicPolicy', 'restrictPublicBuckets']);
    const fix = await run(acts.applyFix, s3Finding(bucket), S);
    expect(fix.applied).toBe(true);
    expect(await liveBlock(bucket)).toEqual(ALL_ON);
    const v = await run(acts.verifyFix, s3Finding(bucket), fix.before, fix.change!, S);
    expect(v.after).toEqual({ configured: true, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true });
  });

  it('undo of a partly-on block restores exactly the partial block, and is safe to repeat', async () => {
    const partial = { BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: true, RestrictPublicBuckets: false };
    const bucket = await makeBucket(aws, partial);
    const fix = await run(acts.applyFix, s3Finding(bucket), S);
    expect(await liveBlock(bucket)).toEqual(ALL_ON);
    const undone = await run(acts.undoFix, s3Finding(bucket), fix.before, fix.change!);
    expect(undone.after).toEqual(fix.before);
    expect(await liveBlock(bucket)).toEqual(partial);
    await run(acts.undoFix, s3Finding(bucket), fix.before, fix.change!);
    expect(await liveBlock(bucket)).toEqual(partial);
  });

  it('undo of a bucket that had no block at all deletes the block again', async () => {
    const bucket = await makeBucket(aws);
    const fix = await run(acts.applyFix, s3Finding(bucket), S);
    expect(await liveBlock(bucket)).toEqual(ALL_ON);
    const undone = await run(acts.undoFix, s3Finding(bucket), fix.before, fix.change!);
    expect(undone.after).toEqual({ configured: false, blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false });
    expect(await liveBlock(bucket)).toBe('NoSuchPublicAccessBlockConfiguration');
    await run(acts.undoFix, s3Finding(bucket), fix.before, fix.change!);
    expect(await liveBlock(bucket)).toBe('NoSuchPublicAccessBlockConfiguration');
  });

  it('undo of a block that exists with all four off puts that block back (it does not delete it)', async () => {
    const allOff = { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false };
    const bucket = await makeBucket(aws, allOff);
    const fix = await run(acts.applyFix, s3Finding(bucket), S);
    expect(fix.before).toEqual({ configured: true, blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false });
    await run(acts.undoFix, s3Finding(bucket), fix.before, fix.change!);
    expect(await liveBlock(bucket)).toEqual(allOff);
  });

  it('applying twice changes nothing the second time', async () => {
    const bucket = await makeBucket(aws);
    expect((await run(acts.applyFix, s3Finding(bucket), S)).applied).toBe(true);
    const again = await run(acts.applyFix, s3Finding(bucket), S);
    expect(again.applied).toBe(false);
    expect(again.change).toBeNull();
  });

  it('a compliant bucket triages as compliant', async () => {
    const bucket = await makeBucket(aws, ALL_ON);
    const t = await run(acts.triageFinding, s3Finding(bucket), S);
    expect(t.compliant).toBe(true);
    expect(t.plannedChange).toBeNull();
  });

  it('a missing bucket is a non-retryable ResourceNotFound naming the bucket', async () => {
    const f = await failureOf(run(acts.triageFinding, s3Finding('no-such-bucket-rectify-test'), S));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('no-such-bucket-rectify-test');
    expect(f.message).toContain('NoSuchBucket');
  });

  it('verification of a bucket that does not hold the fix is a retryable NotYetCompliant', async () => {
    const bucket = await makeBucket(aws);
    const t = await run(acts.triageFinding, s3Finding(bucket), S);
    const f = await failureOf(run(acts.verifyFix, s3Finding(bucket), t.before, t.plannedChange!, S));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('blockPublicAcls is false');
  });

  it('marking exempt merges the tag into the bucket tags and keeps every other tag', async () => {
    const bucket = await makeBucket(aws, undefined, { owner: 'team-data', 'cost-center': '42' });
    expect(await run(acts.markExempt, s3Finding(bucket), 'rectify:exempt-until', '2031-01-01T00:00:00.000Z')).toBe(true);
    const live = await aws.s3(REGION).send(new GetBucketTaggingCommand({ Bucket: bucket }));
    expect(Object.fromEntries((live.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ owner: 'team-data', 'cost-center': '42', 'rectify:exempt-until': '2031-01-01T00:00:00.000Z' });
    // A bucket with no tags at all, and a second write of the same key (overwrites its value only).
    const bare = await makeBucket(aws);
    await run(acts.markExempt, s3Finding(bare), 'rectify:exempt-until', 'permanent');
    await run(acts.markExempt, s3Finding(bare), 'rectify:exempt-until', '2032-01-01');
    expect((await run(acts.triageFinding, s3Finding(bare), S)).tags).toEqual({ 'rectify:exempt-until': '2032-01-01' });
  });

  it('scan pages through the buckets of the region and reports exactly the violating ones', async () => {
    const region = 'eu-west-3';
    const prefix = unique('bpascan');
    const opts = { region, prefix };
    const violating = [
      await makeBucket(aws, undefined, {}, opts),
      await makeBucket(aws, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: false }, {}, opts),
      await makeBucket(aws, { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false }, {}, opts),
    ];
    await makeBucket(aws, ALL_ON, {}, opts);
    await makeBucket(aws, ALL_ON, {}, opts);
    const elsewhere = await makeBucket(aws, undefined, {}, { prefix }); // us-east-1: not in this region's scan

    const { violations, pages, scanned } = await scanAll(aws, ControlId.S3BlockPublicAccess, { region, pageSize: 2 });
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(scanned).toBeGreaterThanOrEqual(5);
    const mine = violations.filter((v) => v.resourceId.startsWith(prefix));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(mine.map((v) => v.resourceId)).not.toContain(elsewhere);
    expect(mine.every((v) => v.severity === 'HIGH' && v.title.includes(v.resourceId))).toBe(true);
  });
});

async function liveRules(groupId: string, region = REGION) {
  const live = await aws.ec2(region).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return flattenPermissions(live.SecurityGroups![0]!.IpPermissions ?? []);
}
const sortRules = <T extends object>(rules: T[]) => [...rules].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe('security group admin ports against moto', () => {
  it('revokes exactly the world-open admin rules and leaves every other rule', async () => {
    const groupId = await makeSecurityGroup(aws, [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: 'tcp', FromPort: 3000, ToPort: 3500, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: '192.168.1.0/24' }] },
    ]);
    const f = sgFinding(groupId);
    const t = await run(acts.triageFinding, f, S);
    expect(t.compliant).toBe(false);
    // 3000-3500 contains 3389: it is revoked and the rest of it re-opened (settings.wideRules split, the default).
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 tcp/22, ::/0 tcp/22, 0.0.0.0/0 tcp/3000-3500 on ${groupId} and re-open tcp 3000-3388, 3390-3500 to 0.0.0.0/0`);

    const fix = await run(acts.applyFix, f, S);
    expect(fix.applied).toBe(true);
    const keys = (await liveRules(groupId)).map(ruleKey).sort();
    expect(keys).toEqual(['tcp|22-22|10.0.0.0/8', 'tcp|3000-3388|0.0.0.0/0', 'tcp|3390-3500|0.0.0.0/0', 'tcp|443-443|0.0.0.0/0', 'tcp|5432-5432|192.168.1.0/24']);
    await run(acts.verifyFix, f, fix.before, fix.change!, S);

    const again = await run(acts.applyFix, f, S);
    expect(again.applied).toBe(false);
  });

  it('offending and legitimate sources on the same port, IPv6 ::/0 and a range containing 22: fix revokes only the offending ones, undo restores them with their descriptions', async () => {
    const groupId = await makeSecurityGroup(aws, [
      {
        IpProtocol: 'tcp',
        FromPort: 22,
        ToPort: 22,
        IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'temporary vendor access' }, { CidrIp: '10.0.0.0/8', Description: 'VPN' }],
        Ipv6Ranges: [{ CidrIpv6: '::/0', Description: 'v6 anywhere' }],
      },
      { IpProtocol: 'tcp', FromPort: 0, ToPort: 1024, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'low ports' }] },
      { IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    ]);
    const f = sgFinding(groupId);
    const original = await liveRules(groupId);
    const fix = await run(acts.applyFix, f, S);
    expect((fix.change!.details as { revoke: unknown[] }).revoke).toEqual([
      { protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0', description: 'temporary vendor access' },
      { protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv6: '::/0', description: 'v6 anywhere' },
      { protocol: 'tcp', fromPort: 0, toPort: 1024, cidrIpv4: '0.0.0.0/0', description: 'low ports' },
    ]);
    expect(sortRules(await liveRules(groupId))).toEqual(
      sortRules([
        { protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '10.0.0.0/8', description: 'VPN' },
        { protocol: 'udp', fromPort: 53, toPort: 53, cidrIpv4: '0.0.0.0/0' },
        // The rest of 0-1024 (settings.wideRules split, the default), with its description.
        { protocol: 'tcp', fromPort: 0, toPort: 21, cidrIpv4: '0.0.0.0/0', description: 'low ports' },
        { protocol: 'tcp', fromPort: 23, toPort: 1024, cidrIpv4: '0.0.0.0/0', description: 'low ports' },
      ]),
    );
    await run(acts.verifyFix, f, fix.before, fix.change!, S);

    const undone = await run(acts.undoFix, f, fix.before, fix.change!);
    expect(sortRules((undone.after as { ingress: object[] }).ingress)).toEqual(sortRules(original));
    expect(sortRules(await liveRules(groupId))).toEqual(sortRules(original));
    // Again: every rule already exists (InvalidPermission.Duplicate), which counts as restored.
    await run(acts.undoFix, f, fix.before, fix.change!);
    expect(sortRules(await liveRules(groupId))).toEqual(sortRules(original));
  });

  it("the policy's port list decides: 3306 from the internet offends only when listed (EC2.19-style)", async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    const f = sgFinding(groupId);
    expect((await run(acts.triageFinding, f, S)).compliant).toBe(true);
    const mysql = { ...S, ports: [22, 3389, 3306] };
    const t = await run(acts.triageFinding, f, mysql);
    expect(t.compliant).toBe(false);
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 tcp/3306 on ${groupId}`);
    const fix = await run(acts.applyFix, f, mysql);
    await run(acts.verifyFix, f, fix.before, fix.change!, mysql);
    expect(await liveRules(groupId)).toEqual([]);
    await run(acts.undoFix, f, fix.before, fix.change!);
    expect(await liveRules(groupId)).toEqual([{ protocol: 'tcp', fromPort: 3306, toPort: 3306, cidrIpv4: '0.0.0.0/0' }]);
  });

  it('all traffic from the internet is revoked (whole with settings.wideRules revoke)', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    const whole = { ...S, wideRules: 'revoke' as const };
    const t = await run(acts.triageFinding, sgFinding(groupId), whole);
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 all traffic on ${groupId}`);
    await run(acts.applyFix, sgFinding(groupId), whole);
    expect(await liveRules(groupId)).toEqual([]);
    expect((await run(acts.triageFinding, sgFinding(groupId), S)).compliant).toBe(true);
  });

  it('all traffic from the internet offends even with an empty port list', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] }, world22]);
    const t = await run(acts.triageFinding, sgFinding(groupId), { ...S, ports: [], wideRules: 'revoke' });
    expect(t.plannedChange?.summary).toBe(`Revoke ::/0 all traffic on ${groupId}`);
  });

  it('a group with only restricted rules is compliant', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.1.0.0/16' }] }], { environment: 'production' });
    const t = await run(acts.triageFinding, sgFinding(groupId), S);
    expect(t.compliant).toBe(true);
    expect(t.tags).toEqual({ environment: 'production' });
  });

  it('verification notices a rule that should have stayed but is gone', async () => {
    const groupId = await makeSecurityGroup(aws, [world22]);
    const t = await run(acts.triageFinding, sgFinding(groupId), S);
    const before = t.before as { ingress: unknown[] };
    const inflated = { ...before, ingress: [...before.ingress, { protocol: 'tcp', fromPort: 80, toPort: 80, cidrIpv4: '10.9.0.0/16' }] };
    await run(acts.applyFix, sgFinding(groupId), S);
    const f = await failureOf(run(acts.verifyFix, sgFinding(groupId), inflated, t.plannedChange!, S));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.message).toContain('rule that should have stayed is gone: 10.9.0.0/16 tcp/80');
  });

  it('an unknown group id is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(run(acts.triageFinding, sgFinding('sg-0123456789abcdef0'), S));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });

  it('marking exempt tags the group (CreateTags) and keeps its other tags', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { team: 'platform' });
    expect(await run(acts.markExempt, sgFinding(groupId), 'rectify:exempt-until', '2031-01-01')).toBe(true);
    expect((await run(acts.triageFinding, sgFinding(groupId), S)).tags).toEqual({ team: 'platform', 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan pages through the groups of the region and reports exactly the violating ones under the policy ports', async () => {
    const region = 'eu-north-1';
    const o = { region };
    const ssh = await makeSecurityGroup(aws, [world22], {}, o);
    const range = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 20, ToPort: 30, Ipv6Ranges: [{ CidrIpv6: '::/0' }] }], {}, o);
    const mysql = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }], {}, o);
    const web = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }], {}, o);
    const internal = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }], {}, o);
    const mine = new Set([ssh, range, mysql, web, internal]);

    const plain = await scanAll(aws, ControlId.SgAdminPortsOpen, { region, pageSize: 2 });
    expect(plain.pages).toBeGreaterThanOrEqual(3);
    expect(plain.violations.filter((v) => mine.has(v.resourceId)).map((v) => v.resourceId).sort()).toEqual([ssh, range].sort());

    const withMysql = await scanAll(aws, ControlId.SgAdminPortsOpen, { region, pageSize: 2, settings: { ...S, ports: [22, 3389, 3306] } });
    const found = withMysql.violations.filter((v) => mine.has(v.resourceId));
    expect(found.map((v) => v.resourceId).sort()).toEqual([ssh, range, mysql].sort());
    expect(found.find((v) => v.resourceId === mysql)?.title).toContain('0.0.0.0/0 tcp/3306');
  });
});
