import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ApplicationFailure } from '@temporalio/common';
import {
  checkRestored,
  checkRevoke,
  DEFAULT_ADMIN_PORTS,
  describeGroup,
  describeRule,
  flattenPermissions,
  isOffending,
  planRevoke,
  portsOf,
  ruleKey,
  sgAdminPorts,
  toIpPermission,
  type IngressRule,
  type SecurityGroupState,
} from '../../src/activities/controls/sg-admin-ports.js';
import { planPublicAccessBlock, s3BlockPublicAccess, type PublicAccessBlockState } from '../../src/activities/controls/s3-block-public-access.js';
import {
  ALL_USERS,
  AUTHENTICATED_USERS,
  checkRemovePublicGrants,
  checkSameGrants,
  describeGrant,
  fromSdkGrant,
  grantKey,
  isPublicGrant,
  planRemovePublicGrants,
  s3PublicAcl,
  toSdkGrant,
  type AclGrant,
  type BucketAclState,
} from '../../src/activities/controls/s3-public-acl.js';
import {
  checkSameEncryption,
  describeEncryptionRule,
  meetsRequirement,
  planEncryption,
  s3DefaultEncryption,
  sameKmsKey,
  type BucketEncryptionState,
  type EncryptionRule,
  type RequiredEncryption,
} from '../../src/activities/controls/s3-default-encryption.js';
import { ebsDefaultEncryption, planEbsEncryption } from '../../src/activities/controls/ebs-default-encryption.js';
import { iamUserMfa, isMfaCompliant, planMfa } from '../../src/activities/controls/iam-user-mfa.js';
import { decodePageToken, encodePageToken, mapLimit, nextPage, type ListPage } from '../../src/activities/controls/scan-util.js';
import {
  ControlRegistrationError,
  getControl,
  registerControl,
  registeredControlIds,
  registeredControls,
  registrationProblems,
  requireControl,
  type AnyControl,
} from '../../src/activities/controls/index.js';
import type { ControlCatalog } from '../../src/activities/controls/control.js';
import { CONTROL_IDS, NOTIFY_ONLY_CONTROLS } from '../../src/findings/finding.js';
import { ErrorType } from '../../src/errors.js';
import { DEFAULT_SETTINGS, findingFor } from '../helpers/fixtures.js';

const group = (ingress: IngressRule[]): SecurityGroupState => ({ groupId: 'sg-0123456789abcdef0', groupName: 'g', ingress });
const tcp = (from: number, to: number, src: Partial<IngressRule>): IngressRule => ({ protocol: 'tcp', fromPort: from, toPort: to, ...src });
const PORTS = DEFAULT_ADMIN_PORTS;

describe('the control registry', () => {
  /** The controls registered since the first six, in registration order (src/activities/controls/index.ts). */
  const NEW_CONTROLS = [
    's3-bucket-tls-required',
    'ec2-default-sg-closed',
    'ec2-ebs-snapshot-public',
    'rds-snapshot-public',
    'rds-instance-public',
    'ec2-imdsv2-required',
    'iam-access-key-stale',
    'kms-key-rotation',
    'cloudtrail-log-validation',
    'lambda-public-invoke',
    'sns-topic-public',
    'sqs-queue-public',
  ];

  it('has one control per control id, each under its own id, not fixable exactly for the notify-only controls', () => {
    const ids = registeredControlIds();
    // The first six, exactly CONTROL_IDS in order, then the catalog added since.
    expect(ids.slice(0, CONTROL_IDS.length)).toEqual(CONTROL_IDS);
    expect(ids).toEqual([...CONTROL_IDS, ...NEW_CONTROLS]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(registeredControls().map((c) => c.id)).toEqual(ids);
    for (const id of ids) {
      expect(requireControl(id).id, id).toBe(id);
      expect(getControl(id), id).toBe(requireControl(id));
      expect(requireControl(id).fixable, id).toBe(!NOTIFY_ONLY_CONTROLS.includes(id));
    }
    // Among all of them, only iam-user-console-mfa cannot fix.
    expect(NOTIFY_ONLY_CONTROLS).toEqual(['iam-user-console-mfa']);
    expect(registeredControls().filter((c) => !c.fixable).map((c) => c.id)).toEqual(['iam-user-console-mfa']);
    expect(() => requireControl('nope')).toThrow(/^unknown control "nope" \(known: s3-block-public-access, /);
  });

  it('each registered control passes its own registration checks (nothing to refuse beside itself)', () => {
    for (const c of registeredControls()) expect(registrationProblems(c), c.id).toEqual([]);
  });

  describe('refusing a control', () => {
    const kms = requireControl('kms-key-rotation');
    /** A control that could be registered: a copy of kms-key-rotation under a new id, with no Security Hub ids or Config rules. */
    const throwaway = (o: { id?: unknown; fixable?: boolean; catalog?: Partial<ControlCatalog> | undefined } = {}): AnyControl =>
      ({
        ...kms,
        id: 'id' in o ? o.id : 'test-throwaway-control',
        fixable: o.fixable ?? true,
        catalog: 'catalog' in o && o.catalog === undefined ? undefined : { ...kms.catalog, securityHub: [], configRules: [], ...o.catalog },
      }) as AnyControl;
    const before = registeredControlIds();

    it('accepts the throwaway control as it is (so each refusal below is for the one thing changed)', () => {
      expect(registrationProblems(throwaway())).toEqual([]);
      expect(getControl('test-throwaway-control')).toBeUndefined();
    });

    it.each([
      ['another control with the same id', { id: 's3-block-public-access' }, ['control "s3-block-public-access": another control has this id']],
      ['a Security Hub id already mapped to another control', { catalog: { securityHub: ['S3.8'] } }, ['control "test-throwaway-control": Security Hub control S3.8 already maps to s3-block-public-access']],
      ['a Security Hub id of a new control', { catalog: { securityHub: ['RDS.2'] } }, ['control "test-throwaway-control": Security Hub control RDS.2 already maps to rds-instance-public']],
      ['a Config rule already mapped to another control', { catalog: { configRules: ['s3-bucket-ssl-requests-only'] } }, ['control "test-throwaway-control": Config rule s3-bucket-ssl-requests-only already maps to s3-bucket-tls-required']],
      ['a Config rule already mapped, in capitals', { catalog: { configRules: ['ACCESS-KEYS-ROTATED'] } }, ['control "test-throwaway-control": Config rule ACCESS-KEYS-ROTATED already maps to iam-access-key-stale']],
      ['no catalog', { catalog: undefined }, ['control "test-throwaway-control": catalog is missing (its sources, what it changes, default mode, undo)']],
      ['an id with capitals and underscores', { id: 'Bad_Id' }, ['control "Bad_Id": id must be 3-63 lower-case letters, digits and \'-\', starting with a letter']],
      ['an id too short', { id: 'ab' }, ['control "ab": id must be 3-63 lower-case letters, digits and \'-\', starting with a letter']],
      ['an id starting with a digit', { id: '1-control' }, ['control "1-control": id must be 3-63 lower-case letters, digits and \'-\', starting with a letter']],
      ['an id that is not a string', { id: 42 }, ["the control: id must be 3-63 lower-case letters, digits and '-', starting with a letter"]],
      ['fixable false with defaultMode auto', { fixable: false, catalog: { defaultMode: 'auto' } }, ['control "test-throwaway-control": a control that cannot fix (fixable false) must default to notify']],
      ['fixable false with defaultMode approve', { fixable: false, catalog: { defaultMode: 'approve' } }, ['control "test-throwaway-control": a control that cannot fix (fixable false) must default to notify']],
      ['a defaultMode that is not a default mode', { catalog: { defaultMode: 'off' as 'notify' } }, ['control "test-throwaway-control": catalog.defaultMode must be auto, approve or notify']],
    ] as const)('refuses %s, naming the problem, and registerControl throws without registering it', (_what, o, problems) => {
      const c = throwaway(o as Parameters<typeof throwaway>[0]);
      expect(registrationProblems(c)).toEqual(problems);
      let error: unknown;
      try {
        registerControl(c);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ControlRegistrationError);
      expect((error as ControlRegistrationError).problems).toEqual(problems);
      expect((error as Error).message).toBe(`control not registered: ${problems.join('; ')}`);
      expect(registeredControlIds()).toEqual(before);
      // A refused control under an existing id leaves that id's control in place.
      if (typeof c.id === 'string' && before.includes(c.id)) expect(getControl(c.id)).not.toBe(c);
    });

    it('accepts a control that cannot fix when it defaults to notify', () => {
      expect(registrationProblems(throwaway({ fixable: false, catalog: { defaultMode: 'notify' } }))).toEqual([]);
    });

    it('names every problem at once', () => {
      expect(registrationProblems(throwaway({ id: 'X', fixable: false, catalog: { securityHub: ['EC2.2'], configRules: ['ec2-imdsv2-check'] } }))).toEqual([
        'control "X": id must be 3-63 lower-case letters, digits and \'-\', starting with a letter',
        'control "X": a control that cannot fix (fixable false) must default to notify',
        'control "X": Security Hub control EC2.2 already maps to ec2-default-sg-closed',
        'control "X": Config rule ec2-imdsv2-check already maps to ec2-imdsv2-required',
      ]);
    });

    it('registers a built-in control again as a no-op check (the same object under its own id is no duplicate)', () => {
      expect(registrationProblems(requireControl('s3-block-public-access'))).toEqual([]);
      expect(registeredControlIds()).toEqual(before);
    });
  });
});

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
    ['mysql from anywhere (not in the default list)', tcp(3306, 3306, { cidrIpv4: '0.0.0.0/0' }), false],
  ])('%s -> %s', (_name, rule, expected) => {
    expect(isOffending(rule, PORTS)).toBe(expected);
  });

  it("follows the policy's port list (EC2.19-style lists, and an empty list)", () => {
    const mysql = tcp(3306, 3306, { cidrIpv4: '0.0.0.0/0' });
    expect(isOffending(mysql, [22, 3389, 3306])).toBe(true);
    expect(isOffending(tcp(3300, 3310, { cidrIpv6: '::/0' }), [3306])).toBe(true);
    expect(isOffending(tcp(22, 22, { cidrIpv4: '0.0.0.0/0' }), [3306])).toBe(false);
    expect(isOffending(tcp(0, 65535, { cidrIpv4: '0.0.0.0/0' }), [])).toBe(false);
    expect(isOffending({ protocol: '-1', cidrIpv4: '0.0.0.0/0' }, [])).toBe(true);
  });

  it('reads the ports from the settings, the default list when the settings carry none', () => {
    expect(portsOf({ ...DEFAULT_SETTINGS, ports: [3306] })).toEqual([3306]);
    expect(portsOf(undefined)).toEqual([22, 3389]);
    const state = group([tcp(3306, 3306, { cidrIpv4: '0.0.0.0/0' })]);
    expect(sgAdminPorts.plan(state, DEFAULT_SETTINGS)).toBeNull();
    expect(sgAdminPorts.plan(state, { ...DEFAULT_SETTINGS, ports: [3306] })?.revoke).toEqual(state.ingress);
  });
});

describe('security group admin ports: plan and check', () => {
  const legit = tcp(22, 22, { cidrIpv4: '10.0.0.0/8', description: 'VPN' });
  const bad = tcp(22, 22, { cidrIpv4: '0.0.0.0/0' });
  const web = tcp(443, 443, { cidrIpv4: '0.0.0.0/0' });

  it('plans exactly the offending sources, keeping a legitimate source on the same port', () => {
    const plan = planRevoke(group([legit, bad, web]), PORTS);
    expect(plan?.revoke).toEqual([bad]);
  });

  it('plans nothing for a compliant group', () => {
    expect(planRevoke(group([legit, web]), PORTS)).toBeNull();
  });

  it('accepts an after-state with the offending rule gone and the rest intact', () => {
    expect(checkRevoke(group([legit, bad, web]), { revoke: [bad] }, group([legit, web]), PORTS)).toEqual([]);
  });

  it('reports an offending rule that is still there', () => {
    expect(checkRevoke(group([bad]), { revoke: [bad] }, group([bad]), PORTS)).toEqual(['still open: 0.0.0.0/0 tcp/22']);
  });

  it('reports a rule that should have stayed but is gone', () => {
    expect(checkRevoke(group([legit, bad]), { revoke: [bad] }, group([]), PORTS)).toEqual(['rule that should have stayed is gone: 10.0.0.0/8 tcp/22']);
  });

  it('checks the after-state with the settings it is given', () => {
    const mysql = tcp(3306, 3306, { cidrIpv4: '0.0.0.0/0' });
    expect(sgAdminPorts.check(group([bad, mysql]), { revoke: [bad] }, group([mysql]), DEFAULT_SETTINGS)).toEqual([]);
    expect(sgAdminPorts.check(group([bad, mysql]), { revoke: [bad] }, group([mysql]), { ...DEFAULT_SETTINGS, ports: [22, 3306] })).toEqual(['still open: 0.0.0.0/0 tcp/3306']);
  });

  it('undo holds when every revoked rule is back (descriptions aside), and names the ones that are not', () => {
    const bad6 = tcp(22, 22, { cidrIpv6: '::/0', description: 'v6' });
    const change = { revoke: [bad, bad6] };
    expect(checkRestored(change, group([legit, bad, { ...bad6, description: 'changed' }]))).toEqual([]);
    expect(sgAdminPorts.checkUndo(group([legit, bad, bad6]), change, group([legit, bad]))).toEqual(['revoked rule not restored: ::/0 tcp/22']);
  });

  it('ignores descriptions when matching rules', () => {
    expect(ruleKey(legit)).toBe(ruleKey({ ...legit, description: 'changed' }));
  });

  it('describes rules and groups for people', () => {
    expect(describeRule(bad)).toBe('0.0.0.0/0 tcp/22');
    expect(describeRule(tcp(0, 65535, { cidrIpv6: '::/0' }))).toBe('::/0 tcp/0-65535');
    expect(describeRule({ protocol: '-1', cidrIpv4: '0.0.0.0/0' })).toBe('0.0.0.0/0 all traffic');
    expect(describeGroup(group([legit, bad, web]))).toBe('g: open to the internet: 0.0.0.0/0 tcp/22, 0.0.0.0/0 tcp/443; 1 other ingress rule');
    expect(describeGroup(group([legit]))).toBe('g: nothing open to the internet; 1 other ingress rule');
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

  it('re-authorizes a rule with its description (undo), revokes it without', () => {
    expect(toIpPermission(legit, true)).toEqual({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'VPN' }] });
    expect(toIpPermission(legit)).toEqual({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] });
    expect(flattenPermissions([toIpPermission(legit, true)])).toEqual([legit]);
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
      description: fc.option(fc.constantFrom('vpn', 'temp', 'vendor'), { nil: undefined }),
    })
    .map(({ protocol, from, span, src, description }) => ({
      protocol,
      ...(protocol === '-1' ? {} : { fromPort: from, toPort: Math.min(65535, from + span) }),
      ...src,
      ...(description ? { description } : {}),
    }));
  const portsArb = fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { maxLength: 8 });

  it('property: for any port list, the plan (wideRules: revoke) revokes exactly the world-open rules that reach a listed port (or all traffic); applying it passes the check, keeps every other rule, and undo restores them', () => {
    fc.assert(
      // A group holds each rule (protocol, ports, source) at most once.
      fc.property(fc.uniqueArray(ruleArb, { maxLength: 30, selector: ruleKey }), fc.oneof(fc.constant([...PORTS]), portsArb), (rules, ports) => {
        const before = group(rules);
        const plan = planRevoke(before, ports, 'revoke');
        const expected = rules.filter((r) => {
          const world = r.cidrIpv4 === '0.0.0.0/0' || r.cidrIpv6 === '::/0';
          if (!world) return false;
          if (r.protocol === '-1') return true;
          return (r.protocol === 'tcp' || r.protocol === 'udp') && ports.some((p) => r.fromPort! <= p && p <= r.toPort!);
        });
        if (plan === null) {
          expect(expected).toEqual([]);
          return;
        }
        expect(plan.revoke).toEqual(expected);
        const revoked = new Set(plan.revoke.map(ruleKey));
        const after = group(rules.filter((r) => !revoked.has(ruleKey(r))));
        expect(planRevoke(after, ports)).toBeNull();
        expect(checkRevoke(before, plan, after, ports)).toEqual([]);
        expect(after.ingress.length + plan.revoke.length).toBe(rules.length);
        // Undo: the revoked rules re-authorized with their descriptions bring back the before-state.
        expect(checkRestored(plan, after)).toHaveLength(plan.revoke.length);
        const restored = group([...after.ingress, ...flattenPermissions(plan.revoke.map((r) => toIpPermission(r, true)))]);
        expect(checkRestored(plan, restored)).toEqual([]);
        expect(restored.ingress.map((r) => JSON.stringify(r)).sort()).toEqual(rules.map((r) => JSON.stringify(r)).sort());
      }),
    );
  });
});

describe('S3 Block Public Access: plan and check', () => {
  const off: PublicAccessBlockState = { configured: true, blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false };
  const none: PublicAccessBlockState = { ...off, configured: false };
  const on: PublicAccessBlockState = { configured: true, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true };
  const allFour = { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true };

  it('turns on only what is off, but sets all four', () => {
    const plan = planPublicAccessBlock({ ...on, ignorePublicAcls: false });
    expect(plan).toEqual({ set: allFour, turnedOn: ['ignorePublicAcls'] });
  });

  it('plans nothing when all four are on', () => {
    expect(planPublicAccessBlock(on)).toBeNull();
  });

  it('plans all four for a bucket with no block at all', () => {
    expect(s3BlockPublicAccess.plan(none, DEFAULT_SETTINGS)?.turnedOn).toEqual(['blockPublicAcls', 'ignorePublicAcls', 'blockPublicPolicy', 'restrictPublicBuckets']);
  });

  it('checks every setting and names the ones that did not hold', () => {
    const plan = planPublicAccessBlock(off)!;
    expect(s3BlockPublicAccess.check(off, plan, on, DEFAULT_SETTINGS)).toEqual([]);
    expect(s3BlockPublicAccess.check(off, plan, { ...on, restrictPublicBuckets: false }, DEFAULT_SETTINGS)).toEqual(['restrictPublicBuckets is false, expected true']);
  });

  it('undo must bring back the exact previous block: none stays none, a partial block its exact values', () => {
    const partial = { ...off, blockPublicAcls: true };
    const plan = planPublicAccessBlock(partial)!;
    expect(s3BlockPublicAccess.checkUndo(partial, plan, partial)).toEqual([]);
    expect(s3BlockPublicAccess.checkUndo(partial, plan, on)).toEqual([
      'ignorePublicAcls is true, expected false',
      'blockPublicPolicy is true, expected false',
      'restrictPublicBuckets is true, expected false',
    ]);
    expect(s3BlockPublicAccess.checkUndo(none, plan, none)).toEqual([]);
    expect(s3BlockPublicAccess.checkUndo(none, plan, off)).toEqual(['a public access block is configured, expected none']);
    expect(s3BlockPublicAccess.checkUndo(off, plan, none)).toEqual(['the public access block is gone, expected it configured']);
  });

  it('describes the block for people', () => {
    expect(s3BlockPublicAccess.describe({ ...on, ignorePublicAcls: false })).toBe('blockPublicAcls on, ignorePublicAcls OFF, blockPublicPolicy on, restrictPublicBuckets on');
    expect(s3BlockPublicAccess.describe(none)).toBe(
      'no public access block configured (blockPublicAcls OFF, ignorePublicAcls OFF, blockPublicPolicy OFF, restrictPublicBuckets OFF)',
    );
  });

  it('property: every partial state plans exactly its false settings, and restoring it passes checkUndo', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (a, b, c, d, configured) => {
        const settings = { blockPublicAcls: a, ignorePublicAcls: b, blockPublicPolicy: c, restrictPublicBuckets: d };
        const state = { ...settings, configured: configured || a || b || c || d };
        const plan = planPublicAccessBlock(state);
        const off = Object.entries(settings).filter(([, v]) => !v).map(([k]) => k);
        if (off.length === 0) {
          expect(plan).toBeNull();
          return;
        }
        expect(plan?.turnedOn).toEqual(off);
        expect(s3BlockPublicAccess.check(state, plan!, on, DEFAULT_SETTINGS)).toEqual([]);
        expect(s3BlockPublicAccess.checkUndo(state, plan!, state)).toEqual([]);
        expect(s3BlockPublicAccess.checkUndo(state, plan!, on)).not.toEqual([]);
      }),
    );
  });
});

const OWNER = 'f'.repeat(64);
const ownerFull: AclGrant = { type: 'CanonicalUser', id: OWNER, displayName: 'me', permission: 'FULL_CONTROL' };
const partnerRead: AclGrant = { type: 'CanonicalUser', id: 'a'.repeat(64), permission: 'READ' };
const allRead: AclGrant = { type: 'Group', uri: ALL_USERS, permission: 'READ' };
const authWrite: AclGrant = { type: 'Group', uri: AUTHENTICATED_USERS, permission: 'WRITE' };
const logDelivery: AclGrant = { type: 'Group', uri: 'http://acs.amazonaws.com/groups/s3/LogDelivery', permission: 'WRITE' };
const acl = (...grants: AclGrant[]): BucketAclState => ({ ownerId: OWNER, grants });

describe('S3 public ACL: plan and check', () => {
  it('only the AllUsers and AuthenticatedUsers groups are public', () => {
    expect([ownerFull, partnerRead, allRead, authWrite, logDelivery].map(isPublicGrant)).toEqual([false, false, true, true, false]);
    expect(isPublicGrant({ type: 'CanonicalUser', id: ALL_USERS, permission: 'READ' })).toBe(false);
  });

  it('drops exactly the public grants and keeps the owner and every other grant, in order', () => {
    expect(planRemovePublicGrants(acl(ownerFull, allRead, partnerRead, authWrite, logDelivery))).toEqual({
      ownerId: OWNER,
      remove: [allRead, authWrite],
      keep: [ownerFull, partnerRead, logDelivery],
    });
    expect(planRemovePublicGrants(acl(ownerFull, partnerRead))).toBeNull();
    expect(s3PublicAcl.plan(acl(ownerFull, allRead), DEFAULT_SETTINGS)?.keep).toEqual([ownerFull]); // = the canned "private"
  });

  it('check names a public grant still there and a kept grant that is gone', () => {
    const change = planRemovePublicGrants(acl(ownerFull, partnerRead, allRead))!;
    expect(checkRemovePublicGrants(change, acl(ownerFull, partnerRead))).toEqual([]);
    expect(s3PublicAcl.check(acl(), change, acl(ownerFull, allRead), DEFAULT_SETTINGS)).toEqual([
      'public grant still present: AllUsers READ',
      `grant that should have stayed is gone: user ${'a'.repeat(64)} READ`,
    ]);
  });

  it('undo holds when the grants are the same multiset (order and display names aside)', () => {
    const before = acl(ownerFull, partnerRead, allRead, authWrite);
    expect(checkSameGrants(before, acl(authWrite, { ...ownerFull, displayName: 'other' }, allRead, partnerRead))).toEqual([]);
    expect(checkSameGrants(before, acl(ownerFull, partnerRead))).toEqual(['grant not restored: AllUsers READ', 'grant not restored: AuthenticatedUsers WRITE']);
    expect(checkSameGrants(acl(ownerFull), acl(ownerFull, ownerFull))).toEqual(['grant not in the recorded state: user me FULL_CONTROL']);
  });

  it('converts grants to and from the SDK shape without display names on the way out', () => {
    expect(toSdkGrant(ownerFull)).toEqual({ Grantee: { Type: 'CanonicalUser', ID: OWNER }, Permission: 'FULL_CONTROL' });
    expect(fromSdkGrant(toSdkGrant(allRead))).toEqual(allRead);
    expect(fromSdkGrant({ Grantee: { Type: 'AmazonCustomerByEmail', EmailAddress: 'a@example.com' }, Permission: 'READ_ACP' })).toEqual({
      type: 'AmazonCustomerByEmail',
      email: 'a@example.com',
      permission: 'READ_ACP',
    });
    expect(fromSdkGrant({ Permission: 'READ' })).toBeNull();
    expect(grantKey(ownerFull)).toBe(grantKey({ ...ownerFull, displayName: undefined }));
  });

  it('describes grants and states for people', () => {
    expect(describeGrant(allRead)).toBe('AllUsers READ');
    expect(describeGrant(ownerFull)).toBe('user me FULL_CONTROL');
    expect(s3PublicAcl.describe(acl(ownerFull, allRead))).toBe('public grants: AllUsers READ; 1 other grant');
    expect(s3PublicAcl.summarize(planRemovePublicGrants(acl(ownerFull, allRead, authWrite))!, findingFor('s3-bucket-public-acl', 'b1'))).toBe(
      'Remove public ACL grants (AllUsers READ, AuthenticatedUsers WRITE) on bucket b1',
    );
  });

  const grantArb: fc.Arbitrary<AclGrant> = fc.oneof(
    fc.constantFrom(ownerFull, partnerRead, logDelivery),
    fc.record({ type: fc.constant('Group'), uri: fc.constantFrom(ALL_USERS, AUTHENTICATED_USERS), permission: fc.constantFrom('READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL') }),
  );

  it('property: keep and remove partition the grants; the kept ACL is compliant, passes the check, and the before-state in any order passes checkUndo', () => {
    fc.assert(
      fc.property(fc.array(grantArb, { maxLength: 12 }), fc.integer(), (grants, seed) => {
        const before = acl(...grants);
        const plan = planRemovePublicGrants(before);
        if (plan === null) {
          expect(grants.some(isPublicGrant)).toBe(false);
          return;
        }
        expect(plan.remove.every(isPublicGrant)).toBe(true);
        expect(plan.keep.some(isPublicGrant)).toBe(false);
        expect(plan.keep.length + plan.remove.length).toBe(grants.length);
        const after = acl(...plan.keep);
        expect(planRemovePublicGrants(after)).toBeNull();
        expect(checkRemovePublicGrants(plan, after)).toEqual([]);
        const shuffled = [...grants].sort((x, y) => ((grantKey(x).length * 31 + seed) % 7) - ((grantKey(y).length * 31 + seed) % 7));
        expect(checkSameGrants(before, acl(...shuffled))).toEqual([]);
        expect(checkSameGrants(before, after)).toHaveLength(plan.remove.length);
      }),
    );
  });
});

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = `arn:aws:kms:us-east-1:123456789012:key/${KEY}`;
const rule = (algorithm: string | undefined, kmsKeyId?: string, extra: Partial<EncryptionRule> = {}): EncryptionRule => ({
  ...(algorithm ? { algorithm } : {}),
  ...(kmsKeyId ? { kmsKeyId } : {}),
  bucketKeyEnabled: false,
  ...extra,
});
const enc = (...rules: EncryptionRule[]): BucketEncryptionState => ({ configured: true, rules });
const NO_ENC: BucketEncryptionState = { configured: false, rules: [] };
const AES: RequiredEncryption = { algorithm: 'AES256' };
const KMS_ANY: RequiredEncryption = { algorithm: 'aws:kms' };
const KMS_KEY: RequiredEncryption = { algorithm: 'aws:kms', kmsKeyId: KEY_ARN };

describe('S3 default encryption: what is compliant', () => {
  it.each<[string, EncryptionRule | undefined, RequiredEncryption, boolean]>([
    ['none under SSE-S3', undefined, AES, false],
    ['AES256 under SSE-S3', rule('AES256'), AES, true],
    ['KMS under SSE-S3 (stronger)', rule('aws:kms', 'other'), AES, true],
    ['DSSE-KMS under SSE-S3 (stronger)', rule('aws:kms:dsse'), AES, true],
    ['AES256 under KMS', rule('AES256'), KMS_ANY, false],
    ['KMS with the AWS managed key under KMS (any key)', rule('aws:kms'), KMS_ANY, true],
    ['DSSE-KMS under KMS (counts as KMS)', rule('aws:kms:dsse'), KMS_ANY, true],
    ['KMS with the named key (ARN) under KMS-with-key', rule('aws:kms', KEY_ARN), KMS_KEY, true],
    ['KMS with the named key (bare id) under KMS-with-key', rule('aws:kms', KEY), KMS_KEY, true],
    ['DSSE-KMS with the named key under KMS-with-key', rule('aws:kms:dsse', KEY), KMS_KEY, true],
    ['KMS with the AWS managed key under KMS-with-key', rule('aws:kms'), KMS_KEY, false],
    ['KMS with another key under KMS-with-key', rule('aws:kms', 'arn:aws:kms:us-east-1:123456789012:key/other'), KMS_KEY, false],
    ['AES256 under KMS-with-key', rule('AES256'), KMS_KEY, false],
  ])('%s -> %s', (_name, r, required, expected) => {
    expect(meetsRequirement(r, required)).toBe(expected);
  });

  it('matches KMS keys named by id, key ARN, alias or alias ARN', () => {
    expect(sameKmsKey(KEY, KEY_ARN)).toBe(true);
    expect(sameKmsKey(`key/${KEY}`, KEY)).toBe(true);
    expect(sameKmsKey('alias/data', 'arn:aws:kms:us-east-1:123456789012:alias/data')).toBe(true);
    expect(sameKmsKey('alias/data', 'alias/logs')).toBe(false);
    expect(sameKmsKey(KEY, 'alias/data')).toBe(false); // an alias is not resolved: the fix then names the key itself
  });
});

describe('S3 default encryption: plan and check', () => {
  it('plans the required rule: AES256 without a bucket key, KMS with the named key and a bucket key', () => {
    expect(planEncryption(NO_ENC, AES)).toEqual({ rule: { algorithm: 'AES256', bucketKeyEnabled: false } });
    expect(planEncryption(enc(rule('AES256')), KMS_KEY)).toEqual({ rule: { algorithm: 'aws:kms', kmsKeyId: KEY_ARN, bucketKeyEnabled: true } });
    expect(planEncryption(enc(rule('AES256')), KMS_ANY)).toEqual({ rule: { algorithm: 'aws:kms', bucketKeyEnabled: true } });
    expect(planEncryption(enc(rule('aws:kms', KEY)), KMS_KEY)).toBeNull();
    expect(s3DefaultEncryption.plan(enc(rule('aws:kms')), DEFAULT_SETTINGS)).toBeNull();
  });

  it('keeps the blocked encryption types of the rule it replaces', () => {
    const blocked = rule('AES256', undefined, { blockedEncryptionTypes: ['SSE-C'] });
    expect(planEncryption(enc(blocked), KMS_KEY)?.rule.blockedEncryptionTypes).toEqual(['SSE-C']);
  });

  it('check judges the after-state by the settings', () => {
    const change = planEncryption(NO_ENC, KMS_KEY)!;
    const kmsSettings = { ...DEFAULT_SETTINGS, encryption: KMS_KEY };
    expect(s3DefaultEncryption.check(NO_ENC, change, enc(rule('aws:kms', KEY_ARN, { bucketKeyEnabled: true })), kmsSettings)).toEqual([]);
    expect(s3DefaultEncryption.check(NO_ENC, change, enc(rule('AES256')), kmsSettings)).toEqual([`default encryption is AES256, expected aws:kms with key ${KEY_ARN}`]);
    expect(s3DefaultEncryption.check(NO_ENC, change, NO_ENC, DEFAULT_SETTINGS)).toEqual(['default encryption is none, expected AES256 or stronger']);
  });

  it('undo holds only for the exact previous configuration', () => {
    const before = enc(rule('aws:kms', 'other', { bucketKeyEnabled: true, blockedEncryptionTypes: ['SSE-C', 'NONE'] }));
    const change = planEncryption(before, KMS_KEY)!;
    expect(s3DefaultEncryption.checkUndo(before, change, enc(rule('aws:kms', 'other', { bucketKeyEnabled: true, blockedEncryptionTypes: ['NONE', 'SSE-C'] })))).toEqual([]);
    expect(checkSameEncryption(before, enc(rule('aws:kms', 'other')))).toEqual(['default encryption is aws:kms (key other), expected aws:kms (key other, bucket key on)']);
    expect(checkSameEncryption(NO_ENC, NO_ENC)).toEqual([]);
    expect(checkSameEncryption(NO_ENC, enc(rule('AES256')))).toEqual(['default encryption is AES256, expected none']);
    expect(checkSameEncryption(enc(rule('AES256')), NO_ENC)).toEqual(['default encryption is gone, expected AES256']);
  });

  it('describes for people', () => {
    expect(s3DefaultEncryption.describe(NO_ENC)).toBe('no default encryption configured');
    expect(s3DefaultEncryption.describe(enc(rule('aws:kms', undefined, { bucketKeyEnabled: true })))).toBe('default encryption aws:kms (key aws/s3, bucket key on)');
    expect(describeEncryptionRule(rule('AES256'))).toBe('AES256');
    expect(s3DefaultEncryption.summarize(planEncryption(NO_ENC, AES)!, findingFor('s3-default-encryption', 'b2'))).toBe('Set default encryption of bucket b2 to AES256');
  });

  const ruleArb: fc.Arbitrary<EncryptionRule> = fc
    .record({
      algorithm: fc.option(fc.constantFrom('AES256', 'aws:kms', 'aws:kms:dsse'), { nil: undefined }),
      kmsKeyId: fc.option(fc.constantFrom(KEY, KEY_ARN, 'other-key', 'alias/data'), { nil: undefined }),
      bucketKeyEnabled: fc.boolean(),
      blocked: fc.option(fc.constantFrom(['SSE-C'], ['NONE']), { nil: undefined }),
    })
    .map(({ algorithm, kmsKeyId, bucketKeyEnabled, blocked }) => ({
      ...(algorithm ? { algorithm } : {}),
      ...(algorithm && algorithm !== 'AES256' && kmsKeyId ? { kmsKeyId } : {}),
      bucketKeyEnabled,
      ...(blocked ? { blockedEncryptionTypes: blocked } : {}),
    }));
  const requiredArb: fc.Arbitrary<RequiredEncryption> = fc.constantFrom(AES, KMS_ANY, KMS_KEY, { algorithm: 'aws:kms', kmsKeyId: 'alias/data' } as const);

  it('property: a bucket is planned for exactly when it does not meet the policy, and the planned rule always does', () => {
    fc.assert(
      fc.property(fc.option(ruleArb, { nil: undefined }), requiredArb, (r, required) => {
        const state = r ? enc(r) : NO_ENC;
        const plan = planEncryption(state, required);
        expect(plan === null).toBe(meetsRequirement(r, required));
        if (plan) {
          const after = enc(plan.rule);
          expect(planEncryption(after, required)).toBeNull();
          expect(s3DefaultEncryption.check(state, plan, after, { ...DEFAULT_SETTINGS, encryption: required })).toEqual([]);
          expect(plan.rule.bucketKeyEnabled).toBe(required.algorithm === 'aws:kms');
          expect(checkSameEncryption(state, state)).toEqual([]);
        }
      }),
    );
  });
});

describe('EBS encryption by default: plan and check', () => {
  it('plans turning it on only when off; check and checkUndo compare the flag', () => {
    expect(planEbsEncryption({ enabled: true })).toBeNull();
    const change = planEbsEncryption({ enabled: false })!;
    expect(change).toEqual({ enable: true });
    expect(ebsDefaultEncryption.check({ enabled: false }, change, { enabled: true }, DEFAULT_SETTINGS)).toEqual([]);
    expect(ebsDefaultEncryption.check({ enabled: false }, change, { enabled: false }, DEFAULT_SETTINGS)).toEqual(['EBS encryption by default is still off']);
    expect(ebsDefaultEncryption.checkUndo({ enabled: false }, change, { enabled: false })).toEqual([]);
    expect(ebsDefaultEncryption.checkUndo({ enabled: false }, change, { enabled: true })).toEqual(['EBS encryption by default is on, expected off']);
    expect(ebsDefaultEncryption.describe({ enabled: false })).toBe('EBS encryption by default OFF');
    expect(ebsDefaultEncryption.tag).toBeUndefined();
    expect(ebsDefaultEncryption.summarize(change, findingFor('ec2-ebs-default-encryption', '123456789012', { region: 'eu-west-1' }))).toBe(
      'Turn on EBS encryption by default in eu-west-1 (account 123456789012)',
    );
  });
});

describe('IAM user console MFA: plan and check', () => {
  it('property: compliant exactly when there is no console access or at least one MFA device', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: 8 }), (consoleAccess, mfaDevices) => {
        const state = { userName: 'alice', consoleAccess, mfaDevices };
        expect(isMfaCompliant(state)).toBe(!consoleAccess || mfaDevices > 0);
        expect(planMfa(state) === null).toBe(isMfaCompliant(state));
        expect(iamUserMfa.check(state, { userName: 'alice', action: 'enable-mfa', message: '' }, state, DEFAULT_SETTINGS)).toEqual(
          isMfaCompliant(state) ? [] : ['IAM user alice still has console access without MFA'],
        );
      }),
    );
  });

  it('the plan tells the owner what to do, and is the summary', () => {
    const plan = planMfa({ userName: 'alice', consoleAccess: true, mfaDevices: 0 })!;
    expect(plan).toEqual({ userName: 'alice', action: 'enable-mfa', message: 'Enable MFA for IAM user alice (console access without MFA)' });
    expect(iamUserMfa.summarize(plan, findingFor('iam-user-console-mfa', 'alice'))).toBe(plan.message);
    expect(iamUserMfa.describe({ userName: 'alice', consoleAccess: false, mfaDevices: 2 })).toBe('console access off, 2 MFA devices');
    expect(iamUserMfa.fixable).toBe(false);
  });

  it('apply and undo reject with a non-retryable UnsupportedControl without calling AWS', async () => {
    const f = findingFor('iam-user-console-mfa', 'alice');
    const plan = planMfa({ userName: 'alice', consoleAccess: true, mfaDevices: 0 })!;
    const noAws = {} as Parameters<typeof iamUserMfa.apply>[0];
    for (const p of [iamUserMfa.apply(noAws, f, plan), iamUserMfa.undo(noAws, f, { userName: 'alice', consoleAccess: true, mfaDevices: 0 }, plan)]) {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe(ErrorType.UnsupportedControl);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      expect((err as ApplicationFailure).message).toContain('no automatic fix: notify only');
    }
  });
});

describe('scan paging', () => {
  it('page tokens round-trip and a malformed one is a non-retryable failure', () => {
    expect(decodePageToken(encodePageToken({ t: 'aws-token/with:odd=chars', s: 4 }))).toEqual({ t: 'aws-token/with:odd=chars', s: 4 });
    expect(decodePageToken(undefined)).toEqual({});
    for (const bad of ['not base64 json', encodePageToken({ s: -1 }), Buffer.from('{"t":5}').toString('base64url')]) {
      let err: unknown;
      try {
        decodePageToken(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
    }
  });

  /** A list API over `items`: honours the limit (AWS) or ignores it (moto's DescribeSecurityGroups / ListUsers). */
  const api = (items: number[], apiPage: number, honoursLimit: boolean) => async (token: string | undefined): Promise<ListPage<number>> => {
    if (!honoursLimit) return { items };
    const start = token ? Number(token) : 0;
    const next = start + apiPage < items.length ? String(start + apiPage) : undefined;
    return { items: items.slice(start, start + apiPage), next };
  };

  it('property: paging yields every item exactly once, in order, never more than pageSize per page', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 15 }), fc.boolean(), async (n, pageSize, apiPage, honours) => {
        const items = Array.from({ length: n }, (_, i) => i);
        const list = api(items, apiPage, honours);
        const seen: number[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await nextPage(token, pageSize, list);
          expect(page.items.length).toBeLessThanOrEqual(pageSize);
          seen.push(...page.items);
          token = page.nextPageToken;
          pages++;
          expect(pages).toBeLessThan(200);
        } while (token);
        expect(seen).toEqual(items);
      }),
    );
  });

  it('rejects a page size that is not a positive integer', async () => {
    await expect(nextPage(undefined, 0, async () => ({ items: [1] }))).rejects.toBeInstanceOf(ApplicationFailure);
  });

  it('mapLimit keeps the order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6, 7, 8, 9], 3, async (x) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, x));
      running--;
      return x * 2;
    });
    expect(out).toEqual([10, 2, 8, 4, 6, 0, 12, 14, 16, 18]);
    expect(peak).toBeLessThanOrEqual(3);
    expect(await mapLimit([], 8, async (x: number) => x)).toEqual([]);
  });
});
