import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatRanges, subtractPorts, type PortRange } from '../../src/activities/controls/port-ranges.js';
import {
  checkRestored,
  checkRevoke,
  DEFAULT_ADMIN_PORTS,
  describeRanges,
  describeRule,
  flattenPermissions,
  isOffending,
  planRevoke,
  reopenedRules,
  ruleKey,
  sgAdminPorts,
  splitRule,
  toIpPermission,
  wideRulesOf,
  type IngressRule,
  type RevokeChange,
  type SecurityGroupState,
} from '../../src/activities/controls/sg-admin-ports.js';
import { findingFor, DEFAULT_SETTINGS } from '../helpers/fixtures.js';
import { ControlId } from '../../src/findings/finding.js';

const group = (ingress: IngressRule[]): SecurityGroupState => ({ groupId: 'sg-0123456789abcdef0', groupName: 'g', ingress });
const tcp = (from: number, to: number, src: Partial<IngressRule>): IngressRule => ({ protocol: 'tcp', fromPort: from, toPort: to, ...src });
const PORTS = DEFAULT_ADMIN_PORTS;
const WORLD = { cidrIpv4: '0.0.0.0/0' };

describe('port range arithmetic', () => {
  /** Ports near the range (inside, at its ends, just outside), so most cases actually cut it. */
  const caseArb = fc
    .record({ from: fc.integer({ min: 0, max: 65535 }), span: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 65535 })) })
    .map(({ from, span }) => ({ from, to: Math.min(65535, from + span) }))
    .chain((range) =>
      fc.tuple(
        fc.constant(range),
        fc.array(fc.oneof(fc.integer({ min: Math.max(0, range.from - 2), max: Math.min(65535, range.to + 2) }), fc.integer({ min: 0, max: 65535 })), { maxLength: 12 }),
      ),
    );

  it('property: the ranges cover exactly the range minus the ports, ascending, without overlap, and as few as possible', () => {
    fc.assert(
      fc.property(caseArb, ([range, ports]) => {
        const out = subtractPorts(range, ports);
        const cut = new Set(ports.filter((p) => range.from <= p && p <= range.to));
        // Inside the range, ascending, none empty, none overlapping or touching: a gap between two holds a listed port.
        let prevTo = range.from - 1;
        for (const r of out) {
          expect(r.from).toBeLessThanOrEqual(r.to);
          expect(r.from).toBeGreaterThan(prevTo);
          if (prevTo >= range.from) expect(r.from).toBeGreaterThan(prevTo + 1);
          expect(r.to).toBeLessThanOrEqual(range.to);
          prevTo = r.to;
        }
        // Exactly the ports of the range that are not listed: none listed inside, every gap listed, sizes add up.
        for (const p of cut) expect(out.some((r) => r.from <= p && p <= r.to)).toBe(false);
        const covered = out.reduce((n, r) => n + r.to - r.from + 1, 0);
        expect(covered).toBe(range.to - range.from + 1 - cut.size);
        const bounds = [range.from - 1, ...out.flatMap((r) => [r.from, r.to]), range.to + 1];
        for (let i = 0; i + 1 < bounds.length; i += 2) {
          for (let p = bounds[i]! + 1; p < bounds[i + 1]!; p++) expect(cut.has(p)).toBe(true);
        }
      }),
    );
  });

  it('property: order and duplicates of the ports do not matter, ports outside the range are ignored', () => {
    fc.assert(
      fc.property(caseArb, ([range, ports]) => {
        const expected = subtractPorts(range, ports);
        expect(subtractPorts(range, [...ports].reverse())).toEqual(expected);
        expect(subtractPorts(range, [...ports, ...ports])).toEqual(expected);
        expect(subtractPorts(range, [...ports, range.from - 1, range.to + 1])).toEqual(expected);
      }),
    );
  });

  it.each<[PortRange, number[], PortRange[]]>([
    [{ from: 0, to: 65535 }, [22, 3389], [{ from: 0, to: 21 }, { from: 23, to: 3388 }, { from: 3390, to: 65535 }]],
    [{ from: 22, to: 22 }, [22, 3389], []],
    [{ from: 20, to: 23 }, [22, 23, 21, 20], []],
    [{ from: 0, to: 1024 }, [0, 1024], [{ from: 1, to: 1023 }]],
    [{ from: 3000, to: 3500 }, [3389], [{ from: 3000, to: 3388 }, { from: 3390, to: 3500 }]],
    [{ from: 80, to: 80 }, [22], [{ from: 80, to: 80 }]],
    [{ from: 21, to: 23 }, [22], [{ from: 21, to: 21 }, { from: 23, to: 23 }]],
  ])('%j minus %j is %j', (range, ports, expected) => {
    expect(subtractPorts(range, ports)).toEqual(expected);
  });

  it('writes ranges for people, a one-port range as the port', () => {
    expect(formatRanges(subtractPorts({ from: 0, to: 65535 }, [22, 3389]))).toBe('0-21, 23-3388, 3390-65535');
    expect(formatRanges([{ from: 21, to: 21 }, { from: 23, to: 30 }])).toBe('21, 23-30');
    expect(formatRanges([])).toBe('');
  });
});

describe('splitting a wide world-open rule', () => {
  it('keeps the source and description on the tcp range without the admin ports', () => {
    const wide = tcp(0, 65535, { ...WORLD, description: 'public' });
    expect(splitRule(wide, PORTS)).toEqual({
      rule: wide,
      reopen: [tcp(0, 21, { ...WORLD, description: 'public' }), tcp(23, 3388, { ...WORLD, description: 'public' }), tcp(3390, 65535, { ...WORLD, description: 'public' })],
    });
  });

  it('splits a udp range that contains a listed port the same way (the control counts it offending)', () => {
    const udp: IngressRule = { protocol: 'udp', fromPort: 3000, toPort: 3500, cidrIpv6: '::/0' };
    expect(isOffending(udp, PORTS)).toBe(true);
    expect(splitRule(udp, PORTS)?.reopen).toEqual([
      { protocol: 'udp', fromPort: 3000, toPort: 3388, cidrIpv6: '::/0' },
      { protocol: 'udp', fromPort: 3390, toPort: 3500, cidrIpv6: '::/0' },
    ]);
  });

  it('leaves nothing to split for a rule of exactly admin ports', () => {
    expect(splitRule(tcp(22, 22, WORLD), PORTS)).toBeNull();
    expect(splitRule(tcp(22, 23, WORLD), [22, 23])).toBeNull();
  });

  it('splits all traffic into tcp and udp without the ports plus all icmp, and says what it cannot keep', () => {
    const all: IngressRule = { protocol: '-1', ...WORLD, description: 'everything' };
    const s = splitRule(all, PORTS)!;
    const d = { ...WORLD, description: 'everything' };
    expect(s.reopen).toEqual([
      tcp(0, 21, d),
      tcp(23, 3388, d),
      tcp(3390, 65535, d),
      { protocol: 'udp', fromPort: 0, toPort: 21, ...d },
      { protocol: 'udp', fromPort: 23, toPort: 3388, ...d },
      { protocol: 'udp', fromPort: 3390, toPort: 65535, ...d },
      { protocol: 'icmp', fromPort: -1, toPort: -1, ...d },
    ]);
    expect(s.notKept).toBe('protocols other than tcp, udp and icmp (such as esp, gre, ah and sctp)');
  });

  it('keeps icmpv6 (not icmp) for all traffic from ::/0', () => {
    const s = splitRule({ protocol: '-1', cidrIpv6: '::/0' }, PORTS)!;
    expect(s.reopen.at(-1)).toEqual({ protocol: 'icmpv6', fromPort: -1, toPort: -1, cidrIpv6: '::/0' });
    expect(s.notKept).toContain('tcp, udp and icmpv6');
  });
});

describe('planning by settings.wideRules', () => {
  const wide = tcp(0, 65535, { ...WORLD, description: 'public' });
  const ssh = tcp(22, 22, { cidrIpv6: '::/0' });
  const web = tcp(443, 443, WORLD);
  const state = group([wide, ssh, web]);

  it('split (the default, also when the settings carry none) revokes every offending rule and re-opens the rest of the wide one', () => {
    const plan = planRevoke(state, PORTS);
    expect(plan?.revoke).toEqual([wide, ssh]);
    expect(plan?.split?.map((s) => s.rule)).toEqual([wide]);
    expect(plan?.approvalNeeded).toBeUndefined();
    expect(wideRulesOf(undefined)).toBe('split');
    expect(wideRulesOf(DEFAULT_SETTINGS)).toBe('split');
    expect(sgAdminPorts.plan(state, DEFAULT_SETTINGS)).toEqual(plan);
    expect(sgAdminPorts.plan(state, { ...DEFAULT_SETTINGS, wideRules: 'split' })).toEqual(plan);
  });

  it('revoke revokes the wide rule whole, as before the setting existed', () => {
    expect(sgAdminPorts.plan(state, { ...DEFAULT_SETTINGS, wideRules: 'revoke' })).toEqual({ revoke: [wide, ssh] });
  });

  it('approve plans the split and says why a person must approve it', () => {
    const plan = sgAdminPorts.plan(state, { ...DEFAULT_SETTINGS, wideRules: 'approve' });
    expect(plan?.split).toEqual(planRevoke(state, PORTS)?.split);
    expect(plan?.approvalNeeded).toBe(
      'a world-open rule (0.0.0.0/0 tcp/0-65535) also serves more than ports 22, 3389: the fix revokes it and re-opens the rest, and wideRules is approve',
    );
  });

  it('approve needs nobody when no rule is wide (a rule of one admin port is just revoked)', () => {
    const plan = sgAdminPorts.plan(group([ssh, web]), { ...DEFAULT_SETTINGS, wideRules: 'approve' });
    expect(plan).toEqual({ revoke: [ssh] });
  });

  it('says what will happen in words an operator understands', () => {
    const f = findingFor(ControlId.SgAdminPortsOpen, 'sg-0123456789abcdef0');
    expect(sgAdminPorts.summarize(planRevoke(state, PORTS)!, f)).toBe(
      'Revoke 0.0.0.0/0 tcp/0-65535, ::/0 tcp/22 on sg-0123456789abcdef0 and re-open tcp 0-21, 23-3388, 3390-65535 to 0.0.0.0/0',
    );
    expect(sgAdminPorts.summarize(planRevoke(group([{ protocol: '-1', cidrIpv6: '::/0' }]), PORTS)!, f)).toBe(
      'Revoke ::/0 all traffic on sg-0123456789abcdef0 and re-open tcp 0-21, 23-3388, 3390-65535, udp 0-21, 23-3388, 3390-65535 and all icmpv6 to ::/0; ' +
        'protocols other than tcp, udp and icmpv6 (such as esp, gre, ah and sctp) stay closed',
    );
    expect(sgAdminPorts.summarize({ revoke: [ssh] }, f)).toBe('Revoke ::/0 tcp/22 on sg-0123456789abcdef0');
  });

  it('describes re-opened rules per protocol', () => {
    expect(describeRanges([tcp(80, 80, WORLD), tcp(443, 443, WORLD)])).toBe('tcp 80, 443');
    expect(describeRule({ protocol: 'icmp', fromPort: -1, toPort: -1, ...WORLD })).toBe('0.0.0.0/0 all icmp');
  });
});

describe('checking a split and its undo', () => {
  const wide = tcp(0, 65535, { ...WORLD, description: 'public' });
  const web = tcp(443, 443, WORLD);
  const before = group([wide, web]);
  const plan = planRevoke(before, PORTS)!;
  const kept = plan.split![0]!.reopen;
  const fixed = group([web, ...kept]);

  it('holds when the wide rule is gone and every kept range is open with its description', () => {
    expect(checkRevoke(before, plan, fixed, PORTS)).toEqual([]);
  });

  it('fails when a kept range is missing', () => {
    expect(checkRevoke(before, plan, group([web, kept[0]!, kept[2]!]), PORTS)).toEqual(['re-opened rule is missing: 0.0.0.0/0 tcp/23-3388']);
  });

  it('fails when a kept range lost its description, unless the group had that rule before', () => {
    const bare = group([web, kept[0]!, { ...kept[1]!, description: 'other' }, kept[2]!]);
    expect(checkRevoke(before, plan, bare, PORTS)).toEqual(['re-opened rule 0.0.0.0/0 tcp/23-3388 has description "other", expected "public"']);
    const hadIt = group([...before.ingress, { ...kept[1]!, description: 'other' }]);
    expect(checkRevoke(hadIt, plan, bare, PORTS)).toEqual([]);
  });

  it('fails when the wide rule is still there', () => {
    expect(checkRevoke(before, plan, group([wide, web, ...kept]), PORTS)).toEqual(['still open: 0.0.0.0/0 tcp/0-65535']);
  });

  it('undo holds only when the wide rule is back and the ranges the fix opened are gone, except ones the group had before', () => {
    expect(checkRestored(plan, before, before)).toEqual([]);
    expect(sgAdminPorts.checkUndo(before, plan, group([wide, web, kept[1]!]))).toEqual(['re-opened rule not revoked again: 0.0.0.0/0 tcp/23-3388']);
    expect(sgAdminPorts.checkUndo(group([...before.ingress, kept[1]!]), plan, group([wide, web, kept[1]!]))).toEqual([]);
    expect(sgAdminPorts.checkUndo(before, plan, group([web]))).toEqual(['revoked rule not restored: 0.0.0.0/0 tcp/0-65535']);
    expect(sgAdminPorts.checkUndo(before, plan, fixed)).toEqual([
      'revoked rule not restored: 0.0.0.0/0 tcp/0-65535',
      ...kept.map((r) => `re-opened rule not revoked again: ${describeRule(r)}`),
    ]);
  });

  it('a change recorded before splitting existed (revoke only) checks and undoes as it did', () => {
    const old: RevokeChange = { revoke: [wide] };
    expect(reopenedRules(old)).toEqual([]);
    expect(checkRevoke(before, old, group([web]), PORTS)).toEqual([]);
    expect(checkRestored(old, before, before)).toEqual([]);
  });

  it('two wide rules that leave the same range open re-open it once, with the first description', () => {
    const a = tcp(0, 22, { ...WORLD, description: 'a' });
    const b = tcp(0, 23, { ...WORLD, description: 'b' });
    const p = planRevoke(group([a, b]), [22, 23])!;
    expect(p.split?.map((s) => s.reopen)).toEqual([[tcp(0, 21, { ...WORLD, description: 'a' })], [tcp(0, 21, { ...WORLD, description: 'b' })]]);
    expect(reopenedRules(p)).toEqual([tcp(0, 21, { ...WORLD, description: 'a' })]);
  });
});

describe('property: split under any port list', () => {
  const ruleArb: fc.Arbitrary<IngressRule> = fc
    .record({
      protocol: fc.constantFrom('tcp', 'udp', '-1', 'icmp'),
      from: fc.integer({ min: 0, max: 65535 }),
      span: fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.constant(65535)),
      src: fc.oneof(
        fc.constantFrom('0.0.0.0/0', '10.0.0.0/8').map((c) => ({ cidrIpv4: c })),
        fc.constantFrom('::/0', '2001:db8::/32').map((c) => ({ cidrIpv6: c })),
      ),
      description: fc.option(fc.constantFrom('web', 'vendor'), { nil: undefined }),
    })
    .map(({ protocol, from, span, src, description }) => ({
      protocol,
      ...(protocol === '-1' ? {} : protocol === 'icmp' ? { fromPort: -1, toPort: -1 } : { fromPort: from, toPort: Math.min(65535, from + span) }),
      ...src,
      ...(description ? { description } : {}),
    }));
  const portsArb = fc.oneof(fc.constant([...PORTS]), fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 8 }));

  /** Whether any rule of `rules` lets `source` reach `protocol` port `port`. */
  const reaches = (rules: readonly IngressRule[], source: string, protocol: string, port: number) =>
    rules.some((r) => (r.cidrIpv4 ?? r.cidrIpv6) === source && (r.protocol === '-1' || (r.protocol === protocol && r.fromPort! <= port && port <= r.toPort!)));

  it('after the fix no listed port is reachable from the world, every other tcp/udp port is reachable exactly as before, the check holds, and undo brings back the exact rules', () => {
    fc.assert(
      fc.property(fc.uniqueArray(ruleArb, { maxLength: 12, selector: ruleKey }), portsArb, (rules, ports) => {
        const before = group(rules);
        const plan = planRevoke(before, ports);
        if (plan === null) return;
        // Applying: authorize what is re-opened (an existing rule stays as it is), then revoke.
        const revoked = new Set(plan.revoke.map(ruleKey));
        const existing = new Set(rules.map(ruleKey));
        const after = group([...rules.filter((r) => !revoked.has(ruleKey(r))), ...reopenedRules(plan).filter((r) => !existing.has(ruleKey(r)))]);
        expect(planRevoke(after, ports)).toBeNull();
        expect(checkRevoke(before, plan, after, ports)).toEqual([]);
        // Reachability, probed at every rule edge and listed port (and their neighbours).
        const probes = new Set<number>([0, 65535]);
        for (const p of [...ports, ...rules.flatMap((r) => (r.fromPort === undefined ? [] : [r.fromPort, r.toPort!]))]) for (const d of [-1, 0, 1]) if (p + d >= 0 && p + d <= 65535) probes.add(p + d);
        for (const source of ['0.0.0.0/0', '::/0', '10.0.0.0/8']) {
          for (const protocol of ['tcp', 'udp']) {
            for (const port of probes) {
              const listed = ports.includes(port) && (source === '0.0.0.0/0' || source === '::/0');
              expect(reaches(after.ingress, source, protocol, port), `${source} ${protocol}/${port}`).toBe(listed ? false : reaches(rules, source, protocol, port));
            }
          }
        }
        // Undo: the revoked rules re-authorized with their descriptions, the rules the fix added revoked.
        const added = new Set(reopenedRules(plan).map(ruleKey).filter((k) => !existing.has(k)));
        const restored = group([...after.ingress.filter((r) => !added.has(ruleKey(r))), ...flattenPermissions(plan.revoke.map((r) => toIpPermission(r, true)))]);
        expect(checkRestored(plan, restored, before)).toEqual([]);
        expect(restored.ingress.map((r) => JSON.stringify(r)).sort()).toEqual(rules.map((r) => JSON.stringify(r)).sort());
      }),
    );
  });
});
