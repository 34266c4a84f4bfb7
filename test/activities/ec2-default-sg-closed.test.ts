import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupEgressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { ec2DefaultSgClosed, flattenRules, type CloseDefaultGroupChange, type SgRule } from '../../src/activities/controls/ec2-default-sg-closed.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId } from '../../src/findings/finding.js';
import { DEFAULT_SETTINGS, findingFor, makeSecurityGroup, world22 } from '../helpers/fixtures.js';
import { testAws } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());

const C = ec2DefaultSgClosed;
const S = DEFAULT_SETTINGS;
// A region no other test file uses: the scan lists every default group of the region.
const REGION = 'ap-south-2';
const ec2 = aws.ec2(REGION);
const finding = (groupId: string, region = REGION) =>
  findingFor('ec2-default-sg-closed' as ControlId, groupId, { region, resource: { type: 'AwsEc2SecurityGroup', id: groupId } });
const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

/** A new VPC's default group (moto gives it the usual all-traffic egress rule), with `ingress` and `egress` added. */
async function defaultGroup(ingress: IpPermission[] = [], egress: IpPermission[] = []): Promise<string> {
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'group-name', Values: ['default'] }] }));
  const groupId = out.SecurityGroups![0]!.GroupId!;
  if (ingress.length) await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: ingress }));
  if (egress.length) await ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: egress }));
  return groupId;
}

/** The group's rules as DescribeSecurityGroups lists them (no rule ids), sorted. */
async function liveRules(groupId: string, region = REGION): Promise<string[]> {
  const g = (await aws.ec2(region).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }))).SecurityGroups![0]!;
  return [...flattenRules(g.IpPermissions ?? [], false, g.OwnerId), ...flattenRules(g.IpPermissionsEgress ?? [], true, g.OwnerId)].map((r) => JSON.stringify(r)).sort();
}
const withoutIds = (rules: readonly SgRule[]) => rules.map(({ ruleId: _id, ...r }) => JSON.stringify(r)).sort();

const ALL_OUT: IpPermission = { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] };

describe('ec2-default-sg-closed against moto', () => {
  it('revokes every rule of a default group, in and out; applying again changes nothing; undo restores every rule with its description', async () => {
    const groupId = await defaultGroup(
      [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'https' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] }],
      [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: '10.1.0.0/16', Description: 'db' }] }],
    );
    // What AWS gives every default group: its members may reach each other.
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: groupId, Description: 'members talk' }] }] }));
    const original = await liveRules(groupId);
    expect(original).toHaveLength(5);

    const { state: before, tags } = await C.read(aws, finding(groupId));
    expect(tags).toEqual({});
    expect(before.isDefault).toBe(true);
    expect(before.rules.every((r) => r.ruleId?.startsWith('sgr-'))).toBe(true);
    expect(withoutIds(before.rules)).toEqual(original);
    expect(before.rules).toContainEqual(expect.objectContaining({ egress: false, protocol: '-1', peerGroupId: groupId, description: 'members talk' }));

    const change = C.plan(before, S)!;
    expect(change.groupId).toBe(groupId);
    expect(change.revoke).toEqual(before.rules);
    expect(C.summarize(change, finding(groupId))).toMatch(new RegExp(`^Revoke every rule of default security group ${groupId} \\(3 inbound, 2 outbound\\): `));
    expect(C.summarize(change, finding(groupId))).toContain(`in from ${groupId} all traffic`);
    expect(C.summarize(change, finding(groupId))).toContain('out to 10.1.0.0/16 tcp/5432');
    expect(C.describe(before)).toContain('default group with 3 inbound and 2 outbound rules');

    await C.apply(aws, finding(groupId), change);
    expect(await liveRules(groupId)).toEqual([]);
    const { state: after } = await C.read(aws, finding(groupId));
    expect(C.check(before, change, after, S)).toEqual([]);
    expect(C.plan(after, S)).toBeNull();
    expect(C.describe(after)).toContain('closed (no rules)');

    // A repeat (an activity retry after the change went through) finds nothing to revoke.
    await C.apply(aws, finding(groupId), change);
    expect(await liveRules(groupId)).toEqual([]);

    await C.undo(aws, finding(groupId), before, change);
    expect(await liveRules(groupId)).toEqual(original);
    const { state: undone } = await C.read(aws, finding(groupId));
    expect(C.checkUndo(before, change, undone)).toEqual([]);
    // Again: every rule exists (InvalidPermission.Duplicate), which counts as restored.
    await C.undo(aws, finding(groupId), before, change);
    expect(await liveRules(groupId)).toEqual(original);
  });

  it('a group that is not a default group, and a closed default group, are compliant', async () => {
    const other = await makeSecurityGroup(aws, [world22], {}, { region: REGION });
    const { state } = await C.read(aws, finding(other));
    expect(state.isDefault).toBe(false);
    expect(C.plan(state, S)).toBeNull();
    expect(C.describe(state)).toContain('not a VPC default group');

    const closed = await defaultGroup();
    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: closed, IpPermissions: [ALL_OUT] }));
    const { state: empty } = await C.read(aws, finding(closed));
    expect(empty.isDefault).toBe(true);
    expect(C.plan(empty, S)).toBeNull();
  });

  it('a rule added between plan and apply is kept (and check reports it); a planned rule already gone counts as done', async () => {
    const groupId = await defaultGroup([{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }]);
    const { state: before } = await C.read(aws, finding(groupId));
    const change = C.plan(before, S)!;
    expect(change.revoke).toHaveLength(2);

    // Meanwhile a person revokes the egress rule and opens another port.
    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [ALL_OUT] }));
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, IpRanges: [{ CidrIp: '10.2.0.0/16', Description: 'new' }] }] }));

    await C.apply(aws, finding(groupId), change);
    expect(await liveRules(groupId)).toEqual([JSON.stringify({ egress: false, protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrIpv4: '10.2.0.0/16', description: 'new' })]);
    const { state: after } = await C.read(aws, finding(groupId));
    expect(C.check(before, change, after, S)).toEqual(['still allows in from 10.2.0.0/16 tcp/8080']);
  });

  it('undo reports a revoked rule that is not back', () => {
    const rule: SgRule = { egress: true, protocol: '-1', cidrIpv4: '0.0.0.0/0' };
    const change: CloseDefaultGroupChange = { groupId: 'sg-0123456789abcdef0', revoke: [rule] };
    const state = { groupId: 'sg-0123456789abcdef0', groupName: 'default', isDefault: true, rules: [] };
    expect(C.checkUndo(state, change, state)).toEqual(['revoked rule not restored: out to 0.0.0.0/0 all traffic']);
  });

  it('tags the group', async () => {
    const groupId = await defaultGroup();
    await C.tag!(aws, finding(groupId), 'rectify:exempt-until', '2031-01-01');
    expect((await C.read(aws, finding(groupId))).tags).toEqual({ 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan lists exactly the default groups with rules, over several pages', async () => {
    const open1 = await defaultGroup();
    const open2 = await defaultGroup([{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }]);
    const closed = await defaultGroup();
    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: closed, IpPermissions: [ALL_OUT] }));
    const notDefault = await makeSecurityGroup(aws, [world22], {}, { region: REGION });

    const found: string[] = [];
    let pages = 0;
    let scanned = 0;
    let pageToken: string | undefined;
    do {
      const page = await C.scanPage(aws, { account: '123456789012', region: REGION, settings: S, pageSize: 2, ...(pageToken ? { pageToken } : {}) });
      expect(page.scanned).toBeLessThanOrEqual(2);
      found.push(...page.violations.map((v) => v.resourceId));
      for (const v of page.violations) expect(v.severity).toBe('HIGH');
      scanned += page.scanned;
      pages++;
      pageToken = page.nextPageToken;
    } while (pageToken && pages < 1000);
    expect(pages).toBeGreaterThan(1);
    expect(scanned).toBeGreaterThanOrEqual(3);
    expect(found).toEqual(expect.arrayContaining([open1, open2]));
    expect(found).not.toContain(closed);
    expect(found).not.toContain(notDefault);
    // Every group it reports is a default group with a rule.
    for (const id of found) {
      const { state } = await C.read(aws, finding(id));
      expect(state.isDefault && state.rules.length > 0).toBe(true);
    }
  });

  it('a missing group is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(C.read(aws, finding('sg-0123456789abcdef0')));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });
});

describe('ec2-default-sg-closed catalog', () => {
  const cat = C.catalog!;

  it('maps EC2.2 and vpc-default-security-group-closed, after rules authorized in or out', () => {
    expect(cat.securityHub).toEqual(['EC2.2']);
    expect(cat.configRules).toEqual(['vpc-default-security-group-closed']);
    expect(cat.severity).toBe('HIGH');
    expect(cat.defaultMode).toBe('approve');
    expect(cat.resourceType).toBe('AwsEc2SecurityGroup');
    expect(cat.cloudTrail).toEqual([{ eventSource: 'ec2.amazonaws.com', eventNames: ['AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress'] }]);
  });

  it('fromCloudTrail names the group of an outbound rule or of one named "default"; an inbound rule by id alone, or another name, is ignored', () => {
    expect(cat.fromCloudTrail!(fixture('cloudtrail-ec2-authorize-sg-egress-default'))).toEqual({
      resources: [{ id: 'sg-0d4e5f60718293a4b', title: 'Security group sg-0d4e5f60718293a4b: outbound rule authorized; a VPC default group must allow no traffic' }],
    });
    // Every ingress event starts the admin-ports control already; a group id alone does not say "default".
    expect(cat.fromCloudTrail!(fixture('cloudtrail-ec2-authorize-sg-ingress-world-open'))).toEqual({
      ignore: 'names sg-0a1b2c3d4e5f60718 by id only, which does not say it is a VPC default group: Config (vpc-default-security-group-closed), Security Hub EC2.2 and the scan report one',
    });
    // groupName "default" (the default VPC's group): the id comes from the response's rule set.
    expect(cat.fromCloudTrail!(fixture('cloudtrail-ec2-authorize-sg-ingress-default-by-name'))).toEqual({
      resources: [{ id: 'sg-0f1e2d3c4b5a69788', title: 'Security group sg-0f1e2d3c4b5a69788: inbound rule authorized; a VPC default group must allow no traffic' }],
    });
    expect(cat.fromCloudTrail!(fixture('cloudtrail-ec2-authorize-sg-ingress-by-name-no-id'))).toEqual({
      ignore: 'names security group "web-servers", not a VPC default group (those are named "default")',
    });
    expect(cat.fromCloudTrail!({ eventName: 'AuthorizeSecurityGroupIngress', requestParameters: { groupName: 'default' }, responseElements: { _return: true } })).toEqual({
      ignore: "names the default VPC's default group by name only, without its id; the scan reports it",
    });
    expect(cat.fromCloudTrail!({ eventName: 'AuthorizeSecurityGroupIngress', requestParameters: null })).toEqual({ ignore: 'the record names no security group' });
  });

  it('resourceId takes a group id or an ARN', () => {
    expect(cat.resourceId('sg-0a1b2c3d4e5f60718')).toBe('sg-0a1b2c3d4e5f60718');
    expect(cat.resourceId('arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0a1b2c3d')).toBe('sg-0a1b2c3d');
    expect(cat.resourceId('default')).toBeUndefined();
    expect(cat.resourceId('arn:aws:s3:::bucket')).toBeUndefined();
    expect(cat.resourceId('sg-xyz')).toBeUndefined();
  });
});
