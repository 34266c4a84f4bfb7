import { afterAll, describe, expect, it } from 'vitest';
import { AuthorizeSecurityGroupIngressCommand, DescribeSecurityGroupsCommand, RevokeSecurityGroupIngressCommand, type IpPermission } from '@aws-sdk/client-ec2';
import { flattenPermissions, isOffending, sgAdminPorts, toIpPermission, type IngressRule, type RevokeChange } from '../../src/activities/controls/sg-admin-ports.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlSettings } from '../../src/policy/types.js';
import { DEFAULT_SETTINGS, makeSecurityGroup, REGION, sgFinding } from '../helpers/fixtures.js';
import { activityHarness, failureOf } from './harness.js';

const { aws, acts, run } = activityHarness();
const S = DEFAULT_SETTINGS;
const withWide = (wideRules: NonNullable<ControlSettings['wideRules']>): ControlSettings => ({ ...S, wideRules });

afterAll(() => aws.destroy());

async function liveRules(groupId: string): Promise<IngressRule[]> {
  const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return flattenPermissions(live.SecurityGroups![0]!.IpPermissions ?? []);
}
const sorted = <T extends object>(rules: readonly T[]) => rules.map((r) => JSON.stringify(r)).sort();

/** Whether any rule lets `source` reach `protocol`/`port` (all traffic counts). */
function reaches(rules: readonly IngressRule[], source: string, protocol: string, port: number): boolean {
  return rules.some((r) => (r.cidrIpv4 ?? r.cidrIpv6) === source && (r.protocol === '-1' || (r.protocol === protocol && r.fromPort! <= port && port <= r.toPort!)));
}

const WIDE_TCP: IpPermission = { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'public service' }] };
const WEB: IpPermission[] = [
  { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'http' }] },
  { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'https' }] },
];
const kept = (from: number, to: number, protocol = 'tcp', src: Partial<IngressRule> = { cidrIpv4: '0.0.0.0/0' }, description = 'public service'): IngressRule => ({
  protocol,
  fromPort: from,
  toPort: to,
  ...src,
  description,
});

describe('security group wide rules against moto', () => {
  it('split (the default): tcp 0-65535 loses 22 and 3389 only; 80, 443 and the other ranges stay open with the description; undo restores the rule exactly', async () => {
    const groupId = await makeSecurityGroup(aws, [WIDE_TCP, ...WEB]);
    const f = sgFinding(groupId);
    const original = await liveRules(groupId);

    const t = await run(acts.triageFinding, f, S);
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 tcp/0-65535 on ${groupId} and re-open tcp 0-21, 23-3388, 3390-65535 to 0.0.0.0/0`);
    expect(t.approvalNeeded).toBeUndefined();

    const fix = await run(acts.applyFix, f, S);
    expect(fix.applied).toBe(true);
    const after = await liveRules(groupId);
    for (const port of [22, 3389]) expect(reaches(after, '0.0.0.0/0', 'tcp', port), `tcp/${port}`).toBe(false);
    for (const port of [0, 21, 23, 80, 443, 3388, 3390, 8080, 65535]) expect(reaches(after, '0.0.0.0/0', 'tcp', port), `tcp/${port}`).toBe(true);
    expect(sorted(after)).toEqual(sorted([...original.filter((r) => r.fromPort !== 0), kept(0, 21), kept(23, 3388), kept(3390, 65535)]));
    expect(after.some((r) => isOffending(r, S.ports))).toBe(false);
    await run(acts.verifyFix, f, fix.before, fix.change!, S);

    // Nothing left to do, nothing changed.
    expect((await run(acts.applyFix, f, S)).applied).toBe(false);

    const undone = await run(acts.undoFix, f, fix.before, fix.change!);
    expect(sorted((undone.after as { ingress: IngressRule[] }).ingress)).toEqual(sorted(original));
    expect(sorted(await liveRules(groupId))).toEqual(sorted(original));
    // Again: the rule exists (Duplicate) and the split rules are gone (NotFound): both count as done.
    await run(acts.undoFix, f, fix.before, fix.change!);
    expect(sorted(await liveRules(groupId))).toEqual(sorted(original));
  });

  it('split of all traffic: tcp and udp without the admin ports plus icmp (icmpv6 from ::/0), and the details say what is not kept', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'anything' }], Ipv6Ranges: [{ CidrIpv6: '::/0', Description: 'anything v6' }] }]);
    const f = sgFinding(groupId);
    const original = await liveRules(groupId);
    expect(original).toEqual([
      { protocol: '-1', cidrIpv4: '0.0.0.0/0', description: 'anything' },
      { protocol: '-1', cidrIpv6: '::/0', description: 'anything v6' },
    ]);

    const fix = await run(acts.applyFix, f, S);
    const details = fix.change!.details as RevokeChange;
    expect(details.split?.map((s) => s.notKept)).toEqual([
      'protocols other than tcp, udp and icmp (such as esp, gre, ah and sctp)',
      'protocols other than tcp, udp and icmpv6 (such as esp, gre, ah and sctp)',
    ]);
    expect(fix.change!.summary).toContain('protocols other than tcp, udp and icmp (such as esp, gre, ah and sctp) stay closed');

    const v4 = { cidrIpv4: '0.0.0.0/0' };
    const v6 = { cidrIpv6: '::/0' };
    const expected = [
      ...[[0, 21], [23, 3388], [3390, 65535]].flatMap(([a, b]) => [
        kept(a!, b!, 'tcp', v4, 'anything'),
        kept(a!, b!, 'udp', v4, 'anything'),
        kept(a!, b!, 'tcp', v6, 'anything v6'),
        kept(a!, b!, 'udp', v6, 'anything v6'),
      ]),
      kept(-1, -1, 'icmp', v4, 'anything'),
      kept(-1, -1, 'icmpv6', v6, 'anything v6'),
    ];
    expect(sorted(await liveRules(groupId))).toEqual(sorted(expected));
    await run(acts.verifyFix, f, fix.before, fix.change!, S);

    await run(acts.undoFix, f, fix.before, fix.change!);
    expect(sorted(await liveRules(groupId))).toEqual(sorted(original));
  });

  it('split of a udp range that contains a listed port', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: 'udp', FromPort: 3000, ToPort: 3500, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'game' }] }]);
    const f = sgFinding(groupId);
    const fix = await run(acts.applyFix, f, S);
    expect(sorted(await liveRules(groupId))).toEqual(sorted([kept(3000, 3388, 'udp', { cidrIpv4: '0.0.0.0/0' }, 'game'), kept(3390, 3500, 'udp', { cidrIpv4: '0.0.0.0/0' }, 'game')]));
    await run(acts.verifyFix, f, fix.before, fix.change!, S);
  });

  it('revoke: the wide rule is revoked whole, as before', async () => {
    const groupId = await makeSecurityGroup(aws, [WIDE_TCP, ...WEB]);
    const f = sgFinding(groupId);
    const t = await run(acts.triageFinding, f, withWide('revoke'));
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 tcp/0-65535 on ${groupId}`);
    const fix = await run(acts.applyFix, f, withWide('revoke'));
    expect(sorted(await liveRules(groupId))).toEqual(sorted(flattenPermissions(WEB)));
    await run(acts.verifyFix, f, fix.before, fix.change!, withWide('revoke'));
  });

  it('approve: triage plans the split and says a person must approve it; a rule of one admin port needs nobody', async () => {
    const groupId = await makeSecurityGroup(aws, [WIDE_TCP, ...WEB]);
    const t = await run(acts.triageFinding, sgFinding(groupId), withWide('approve'));
    expect(t.approvalNeeded).toBe(
      'a world-open rule (0.0.0.0/0 tcp/0-65535) also serves more than ports 22, 3389: the fix revokes it and re-opens the rest, and wideRules is approve',
    );
    expect(t.plannedChange?.summary).toBe(`Revoke 0.0.0.0/0 tcp/0-65535 on ${groupId} and re-open tcp 0-21, 23-3388, 3390-65535 to 0.0.0.0/0`);
    // Triage changes nothing.
    expect(sorted(await liveRules(groupId))).toEqual(sorted(flattenPermissions([WIDE_TCP, ...WEB])));

    const ssh = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    const plain = await run(acts.triageFinding, sgFinding(ssh), withWide('approve'));
    expect(plain.compliant).toBe(false);
    expect(plain.approvalNeeded).toBeUndefined();
    expect('approvalNeeded' in plain).toBe(false);
  });

  it('verification fails while a kept range is missing, and names it', async () => {
    const groupId = await makeSecurityGroup(aws, [WIDE_TCP, ...WEB]);
    const f = sgFinding(groupId);
    const fix = await run(acts.applyFix, f, S);
    await aws.ec2(REGION).send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [toIpPermission(kept(23, 3388))] }));
    const failure = await failureOf(run(acts.verifyFix, f, fix.before, fix.change!, S));
    expect(failure.type).toBe(ErrorType.NotYetCompliant);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toContain('re-opened rule is missing: 0.0.0.0/0 tcp/23-3388');
  });

  it('a retry after a partial apply (some kept ranges already open) neither fails nor duplicates, and applying a change twice is a no-op', async () => {
    const groupId = await makeSecurityGroup(aws, [WIDE_TCP, ...WEB]);
    const f = sgFinding(groupId);
    const planned = (await run(acts.triageFinding, f, S)).plannedChange!;
    // What an attempt that timed out after its first call would have left: one kept range open, the wide rule still there.
    await aws.ec2(REGION).send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [toIpPermission(kept(23, 3388), true)] }));

    const fix = await run(acts.applyFix, f, S);
    expect(fix.applied).toBe(true);
    expect(fix.change?.details).toEqual(planned.details);
    const expected = sorted([...flattenPermissions(WEB), kept(0, 21), kept(23, 3388), kept(3390, 65535)]);
    expect(sorted(await liveRules(groupId))).toEqual(expected);
    await run(acts.verifyFix, f, fix.before, fix.change!, S);

    await sgAdminPorts.apply(aws, f, fix.change!.details as RevokeChange);
    expect(sorted(await liveRules(groupId))).toEqual(expected);
  });

  it('undo leaves a kept range the group already had before the fix', async () => {
    const groupId = await makeSecurityGroup(aws, [WIDE_TCP, { IpProtocol: 'tcp', FromPort: 0, ToPort: 21, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'ftp and below' }] }]);
    const f = sgFinding(groupId);
    const original = await liveRules(groupId);
    const fix = await run(acts.applyFix, f, S);
    // 0-21 was there: authorizing it again was a duplicate, and it keeps its own description.
    expect(await liveRules(groupId)).toContainEqual(kept(0, 21, 'tcp', { cidrIpv4: '0.0.0.0/0' }, 'ftp and below'));
    await run(acts.verifyFix, f, fix.before, fix.change!, S);
    await run(acts.undoFix, f, fix.before, fix.change!);
    expect(sorted(await liveRules(groupId))).toEqual(sorted(original));
  });
});
