import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkRevoke,
  describeRule,
  flattenPermissions,
  isOffending,
  planRevoke,
  ruleKey,
  toIpPermission,
  type IngressRule,
  type SecurityGroupState,
} from '../../src/activities/controls/sg-admin-ports.js';
import { planPublicAccessBlock, s3BlockPublicAccess } from '../../src/activities/controls/s3-block-public-access.js';

const group = (ingress: IngressRule[]): SecurityGroupState => ({ groupId: 'sg-0123456789abcdef0', groupName: 'g', ingress });
const tcp = (from: number, to: number, src: Partial<IngressRule>): IngressRule => ({ protocol: 'tcp', fromPort: from, toPort: to, ...src });

describe('security group admin ports: what is offending', () => {
  it.each<[string, IngressRule, boolean]>([
    ['ssh from anywhere', tcp(22, 22, { cidrIpv4: '0.0.0.0/0' }), true],
    ['ssh from anywhere over IPv6', tcp(22, 22, { cidrIpv6: '::/0' }), true],
    ['rdp from anywhere', tcp(3389, 3389, { cidrIpv4: '0.0.0.0/0' }), true],
    ['rdp over udp from anywhere', { protocol: 'udp', fromPort: 3389, toPort: 3389, cidrIpv4: '0.0.0.0/0' }, true],
    ['a range that includes 22', tcp(0, 1024, { cidrIpv4: '0.0.0.0/0' }), true],
    ['a range that ends at 22', tcp(20, 22, { cidrIpv4: '0.0.0.0/0' }), true],
    ['a range that starts after 22', tcp(23, 3388, { cidrIpv4: '0.0.0.0/0' }), false],
    ['all traffic from anywhere', { protocol: '-1', cidrIpv4: '0.0.0.0/0' }, true],
    ['all traffic from anywhere over IPv6', { protocol: '-1', cidrIpv6: '::/0' }, true],
    ['ssh from a private range', tcp(22, 22, { cidrIpv4: '10.0.0.0/8' }), false],
    ['ssh from a /1 (not the whole internet)', tcp(22, 22, { cidrIpv4: '0.0.0.0/1' }), false],
    ['https from anywhere', tcp(443, 443, { cidrIpv4: '0.0.0.0/0' }), false],
    ['ssh from another group', tcp(22, 22, { sourceGroupId: 'sg-0aaaaaaaaaaaaaaaa' }), false],
    ['ssh from a prefix list', tcp(22, 22, { prefixListId: 'pl-12345678' }), false],
    ['icmp from anywhere', { protocol: 'icmp', fromPort: -1, toPort: -1, cidrIpv4: '0.0.0.0/0' }, false],
  ])('%s -> %s', (_name, rule, expected) => {
    expect(isOffending(rule)).toBe(expected);
  });
});

describe('security group admin ports: plan and check', () => {
  const legit = tcp(22, 22, { cidrIpv4: '10.0.0.0/8', description: 'VPN' });
  const bad = tcp(22, 22, { cidrIpv4: '0.0.0.0/0' });
  const web = tcp(443, 443, { cidrIpv4: '0.0.0.0/0' });

  it('plans exactly the offending sources, keeping a legitimate source on the same port', () => {
    const plan = planRevoke(group([legit, bad, web]));
    expect(plan?.revoke).toEqual([bad]);
  });

  it('plans nothing for a compliant group', () => {
    expect(planRevoke(group([legit, web]))).toBeNull();
  });

  it('accepts an after-state with the offending rule gone and the rest intact', () => {
    expect(checkRevoke(group([legit, bad, web]), { revoke: [bad] }, group([legit, web]))).toEqual([]);
  });

  it('reports an offending rule that is still there', () => {
    expect(checkRevoke(group([bad]), { revoke: [bad] }, group([bad]))).toEqual(['still open: 0.0.0.0/0 tcp/22']);
  });

  it('reports a rule that should have stayed but is gone', () => {
    expect(checkRevoke(group([legit, bad]), { revoke: [bad] }, group([]))).toEqual(['rule that should have stayed is gone: 10.0.0.0/8 tcp/22']);
  });

  it('ignores descriptions when matching rules', () => {
    expect(ruleKey(legit)).toBe(ruleKey({ ...legit, description: 'changed' }));
  });

  it('describes rules for people', () => {
    expect(describeRule(bad)).toBe('0.0.0.0/0 tcp/22');
    expect(describeRule(tcp(0, 65535, { cidrIpv6: '::/0' }))).toBe('::/0 tcp/0-65535');
    expect(describeRule({ protocol: '-1', cidrIpv4: '0.0.0.0/0' })).toBe('0.0.0.0/0 all traffic');
  });

  it('flattens EC2 permissions to one rule per source and back to a revoke of exactly that source', () => {
    const rules = flattenPermissions([
      { IpProtocol: '6', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8', Description: 'VPN' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
      { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-0bbbbbbbbbbbbbbbb' }] },
    ]);
    expect(rules).toEqual([
      { protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' },
      { protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '10.0.0.0/8', description: 'VPN' },
      { protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv6: '::/0' },
      { protocol: '-1', sourceGroupId: 'sg-0bbbbbbbbbbbbbbbb' },
    ]);
    expect(toIpPermission(rules[2]!)).toEqual({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, Ipv6Ranges: [{ CidrIpv6: '::/0' }] });
    expect(toIpPermission({ protocol: '-1', cidrIpv4: '0.0.0.0/0' })).toEqual({ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] });
  });

  const ruleArb: fc.Arbitrary<IngressRule> = fc
    .record({
      protocol: fc.constantFrom('tcp', 'udp', '-1', 'icmp'),
      from: fc.integer({ min: 0, max: 65535 }),
      span: fc.integer({ min: 0, max: 4000 }),
      src: fc.oneof(
        fc.constantFrom('0.0.0.0/0', '10.0.0.0/8', '192.168.0.0/16').map((c) => ({ cidrIpv4: c })),
        fc.constantFrom('::/0', '2001:db8::/32').map((c) => ({ cidrIpv6: c })),
      ),
    })
    .map(({ protocol, from, span, src }) => (protocol === '-1' ? { protocol, ...src } : { protocol, fromPort: from, toPort: Math.min(65535, from + span), ...src }));

  it('property: applying the plan leaves a compliant group that passes the check and keeps every other rule', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 30 }), (rules) => {
        const before = group(rules);
        const plan = planRevoke(before);
        if (plan === null) {
          expect(rules.some(isOffending)).toBe(false);
          return;
        }
        const revoked = new Set(plan.revoke.map(ruleKey));
        const after = group(rules.filter((r) => !revoked.has(ruleKey(r))));
        expect(planRevoke(after)).toBeNull();
        expect(checkRevoke(before, plan, after)).toEqual([]);
        expect(after.ingress.length + plan.revoke.length).toBe(rules.length);
      }),
    );
  });
});

describe('S3 Block Public Access: plan and check', () => {
  const off = { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false };
  const on = { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true };

  it('turns on only what is off, but sets all four', () => {
    const plan = planPublicAccessBlock({ ...on, ignorePublicAcls: false });
    expect(plan).toEqual({ set: on, turnedOn: ['ignorePublicAcls'] });
  });

  it('plans nothing when all four are on', () => {
    expect(planPublicAccessBlock(on)).toBeNull();
  });

  it('checks every setting and names the ones that did not hold', () => {
    const plan = planPublicAccessBlock(off)!;
    expect(s3BlockPublicAccess.check(off, plan, on)).toEqual([]);
    expect(s3BlockPublicAccess.check(off, plan, { ...on, restrictPublicBuckets: false })).toEqual(['restrictPublicBuckets is false, expected true']);
  });

  it('property: every partial state plans exactly its false settings', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (a, b, c, d) => {
        const state = { blockPublicAcls: a, ignorePublicAcls: b, blockPublicPolicy: c, restrictPublicBuckets: d };
        const plan = planPublicAccessBlock(state);
        const off = Object.entries(state).filter(([, v]) => !v).map(([k]) => k);
        if (off.length === 0) expect(plan).toBeNull();
        else expect(plan?.turnedOn).toEqual(off);
      }),
    );
  });
});
