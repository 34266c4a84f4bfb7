import { securityGroupId, readByNormalizer } from './resource-ids.js';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateTagsCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { ControlId, Severity } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { WideRules, type ControlSettings } from '../../policy/types.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { Control, Violation } from './control.js';
import { formatRanges, MAX_PORT, MIN_PORT, subtractPorts, type PortRange } from './port-ranges.js';
import { clamp, nextPage, scanPageOf } from './scan-util.js';

/** One ingress rule with a single source, as flattened from DescribeSecurityGroups. */
export interface IngressRule {
  /** 'tcp', 'udp', 'icmp', '-1' (all traffic) or another protocol number. */
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly cidrIpv4?: string;
  readonly cidrIpv6?: string;
  readonly prefixListId?: string;
  readonly sourceGroupId?: string;
  readonly description?: string;
}
export interface SecurityGroupState {
  readonly groupId: string;
  readonly groupName: string;
  readonly vpcId?: string;
  readonly ingress: readonly IngressRule[];
}
/** A wide world-open rule replaced by what it allowed minus the listed ports (settings.wideRules split or approve). */
export interface SplitRule {
  /** The wide rule (also in `revoke`). */
  readonly rule: IngressRule;
  /** Authorized before the wide rule is revoked: its source and description on the ranges it keeps. */
  readonly reopen: readonly IngressRule[];
  /** What the wide rule allowed that is neither a listed port nor re-opened, in words (all traffic: the protocols other than tcp, udp and icmp). */
  readonly notKept?: string;
}
export interface RevokeChange {
  /** Exactly the world-open rules that expose a listed port (or all traffic); nothing else is touched. Kept with their descriptions, for undo. */
  readonly revoke: readonly IngressRule[];
  /** The revoked rules whose other ports stay open, each with the rules that keep them; absent when every rule is revoked whole (wideRules: revoke, or changes recorded before splitting existed). */
  readonly split?: readonly SplitRule[];
  /** wideRules approve: why a person must approve this change, in words (triage reports it as `Triage.approvalNeeded`). */
  readonly approvalNeeded?: string;
}

/** The ports that must never be reachable from the whole internet when the policy names none (SSH, RDP). */
export const DEFAULT_ADMIN_PORTS: readonly number[] = Object.freeze([22, 3389]);
const WORLD_V4 = '0.0.0.0/0';
const WORLD_V6 = '::/0';

/** The policy's port list (`settings.ports`); the default when the settings carry none (e.g. a workflow started before settings existed). */
export function portsOf(settings: ControlSettings | undefined): readonly number[] {
  return settings?.ports ?? DEFAULT_ADMIN_PORTS;
}

/** The policy's `settings.wideRules`; split when the settings carry none (a snapshot taken before the setting existed). */
export function wideRulesOf(settings: ControlSettings | undefined): WideRules {
  return settings?.wideRules ?? WideRules.Split;
}

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6', all: '-1' };
export function normalizeProtocol(p: string | undefined): string {
  const v = (p ?? '-1').toLowerCase();
  return PROTOCOL_NAMES[v] ?? v;
}

/** The rule's source is the whole internet (IPv4 0.0.0.0/0 or IPv6 ::/0). */
export function isWorldOpen(rule: IngressRule): boolean {
  return rule.cidrIpv4 === WORLD_V4 || rule.cidrIpv6 === WORLD_V6;
}

/**
 * What this control forbids (its one definition of "compliant" is: no rule is offending): a rule
 * letting the whole internet reach all traffic, or a tcp/udp port range containing any of `ports`.
 */
export function isOffending(rule: IngressRule, ports: readonly number[]): boolean {
  if (!isWorldOpen(rule)) return false;
  if (rule.protocol === '-1') return true;
  if (rule.protocol !== 'tcp' && rule.protocol !== 'udp') return false;
  const from = rule.fromPort ?? 0;
  const to = rule.toPort ?? 65535;
  return ports.some((p) => from <= p && p <= to);
}

/** A stable identity of a rule (description excluded: it is not part of what AWS matches on). */
export function ruleKey(r: IngressRule): string {
  const ports = r.protocol === '-1' ? '' : `${r.fromPort ?? ''}-${r.toPort ?? ''}`;
  return `${r.protocol}|${ports}|${sourceOf(r)}`;
}

/** Where the rule lets traffic in from: its CIDR, prefix list or security group. */
export function sourceOf(r: IngressRule): string {
  return r.cidrIpv4 ?? r.cidrIpv6 ?? r.prefixListId ?? r.sourceGroupId ?? '?';
}

export function describeRule(r: IngressRule): string {
  const src = sourceOf(r);
  if (r.protocol === '-1') return `${src} all traffic`;
  if (!isPortProtocol(r.protocol) && r.fromPort === -1) return `${src} all ${r.protocol}`;
  const ports = r.fromPort === r.toPort ? `${r.fromPort}` : `${r.fromPort}-${r.toPort}`;
  return `${src} ${r.protocol}/${ports}`;
}

/** Flattens EC2's IpPermissions (several sources per permission) into one rule per source. */
export function flattenPermissions(perms: readonly IpPermission[]): IngressRule[] {
  const out: IngressRule[] = [];
  for (const p of perms) {
    const protocol = normalizeProtocol(p.IpProtocol);
    const ports = protocol === '-1' ? {} : { fromPort: p.FromPort, toPort: p.ToPort };
    const base = { protocol, ...ports };
    const withDesc = (d: string | undefined) => (d ? { description: d } : {});
    for (const r of p.IpRanges ?? []) if (r.CidrIp) out.push({ ...base, cidrIpv4: r.CidrIp, ...withDesc(r.Description) });
    for (const r of p.Ipv6Ranges ?? []) if (r.CidrIpv6) out.push({ ...base, cidrIpv6: r.CidrIpv6, ...withDesc(r.Description) });
    for (const r of p.PrefixListIds ?? []) if (r.PrefixListId) out.push({ ...base, prefixListId: r.PrefixListId, ...withDesc(r.Description) });
    for (const r of p.UserIdGroupPairs ?? []) if (r.GroupId) out.push({ ...base, sourceGroupId: r.GroupId, ...withDesc(r.Description) });
  }
  return out.map(stripUndefined);
}

/**
 * The IpPermission that names exactly this one rule: without its description for
 * RevokeSecurityGroupIngress (AWS matches without it), with it for AuthorizeSecurityGroupIngress (undo).
 */
export function toIpPermission(r: IngressRule, withDescription = false): IpPermission {
  const p: IpPermission = { IpProtocol: r.protocol };
  if (r.protocol !== '-1') {
    p.FromPort = r.fromPort;
    p.ToPort = r.toPort;
  }
  const d = withDescription && r.description ? { Description: r.description } : {};
  if (r.cidrIpv4) p.IpRanges = [{ CidrIp: r.cidrIpv4, ...d }];
  if (r.cidrIpv6) p.Ipv6Ranges = [{ CidrIpv6: r.cidrIpv6, ...d }];
  if (r.prefixListId) p.PrefixListIds = [{ PrefixListId: r.prefixListId, ...d }];
  if (r.sourceGroupId) p.UserIdGroupPairs = [{ GroupId: r.sourceGroupId, ...d }];
  return p;
}

/** Protocols whose rules carry a TCP/UDP port range (the ones `settings.ports` is about). */
function isPortProtocol(protocol: string): boolean {
  return protocol === 'tcp' || protocol === 'udp';
}

const ALL_PORTS: PortRange = { from: MIN_PORT, to: MAX_PORT };

/** The rule's port range; a tcp/udp rule without one (not something AWS returns) counts as all ports, as in `isOffending`. */
function portRangeOf(r: IngressRule): PortRange {
  return { from: r.fromPort ?? MIN_PORT, to: r.toPort ?? MAX_PORT };
}

/**
 * What stays open when `rule` (offending under `ports`) is split: the same source and description
 * on its port range minus `ports`, per protocol. All traffic keeps tcp and udp without the ports,
 * plus all of icmp (icmpv6 for an IPv6 source); every other protocol it allowed (esp, gre, ...)
 * cannot be re-opened without opening it whole, so it stays closed and `notKept` says so. Null
 * when nothing remains (a rule for exactly the listed ports, e.g. tcp 22-22): the rule is revoked.
 */
export function splitRule(rule: IngressRule, ports: readonly number[]): SplitRule | null {
  const { protocol: _p, fromPort: _f, toPort: _t, ...sourceAndDescription } = rule;
  const onRanges = (protocol: string, ranges: readonly PortRange[]): IngressRule[] =>
    ranges.map((r) => ({ protocol, fromPort: r.from, toPort: r.to, ...sourceAndDescription }));
  if (rule.protocol === '-1') {
    const icmp = rule.cidrIpv6 !== undefined ? 'icmpv6' : 'icmp';
    const rest = subtractPorts(ALL_PORTS, ports);
    return {
      rule,
      reopen: [...onRanges('tcp', rest), ...onRanges('udp', rest), { protocol: icmp, fromPort: -1, toPort: -1, ...sourceAndDescription }],
      notKept: `protocols other than tcp, udp and ${icmp} (such as esp, gre, ah and sctp)`,
    };
  }
  if (!isPortProtocol(rule.protocol)) return null;
  const reopen = onRanges(rule.protocol, subtractPorts(portRangeOf(rule), ports));
  return reopen.length === 0 ? null : { rule, reopen };
}

/**
 * The change that closes `ports` (and all traffic) to the internet: revoke every offending rule.
 * With `wideRules` split or approve, a wide rule is replaced by what it allowed minus the ports
 * (see `splitRule`), so a public service on the rule's other ports stays reachable; approve also
 * says why a person must agree first.
 */
export function planRevoke(state: SecurityGroupState, ports: readonly number[], wideRules: WideRules = WideRules.Split): RevokeChange | null {
  const revoke = state.ingress.filter((r) => isOffending(r, ports));
  if (revoke.length === 0) return null;
  if (wideRules === WideRules.Revoke) return { revoke };
  const split = revoke.map((r) => splitRule(r, ports)).filter((s): s is SplitRule => s !== null);
  if (split.length === 0) return { revoke };
  return wideRules === WideRules.Approve ? { revoke, split, approvalNeeded: approvalReason(split, ports) } : { revoke, split };
}

/** Why a split needs a person (wideRules: approve), naming the wide rules and the ports they lose. */
export function approvalReason(split: readonly SplitRule[], ports: readonly number[]): string {
  const rules = split.map((s) => describeRule(s.rule)).join(', ');
  const one = split.length === 1;
  return (
    `${one ? 'a world-open rule' : 'world-open rules'} (${rules}) ${one ? 'also serves' : 'also serve'} more than ports ${[...ports].sort((a, b) => a - b).join(', ')}: ` +
    `the fix revokes ${one ? 'it' : 'them'} and re-opens the rest, and wideRules is approve`
  );
}

/** Every rule the change authorizes, once (two wide rules can leave the same range open: the first one's description is the one kept). */
export function reopenedRules(change: RevokeChange): IngressRule[] {
  const seen = new Map<string, IngressRule>();
  for (const s of change.split ?? []) for (const r of s.reopen) if (!seen.has(ruleKey(r))) seen.set(ruleKey(r), r);
  return [...seen.values()];
}

/**
 * Problems with `after` as the result of `change`: an offending rule still there, a rule that was
 * not to be touched gone, or a re-opened rule missing or without its description (a rule the group
 * already had before is only required to still be there, as it was).
 */
export function checkRevoke(before: SecurityGroupState, change: RevokeChange, after: SecurityGroupState, ports: readonly number[]): string[] {
  const problems: string[] = [];
  const afterRules = new Map(after.ingress.map((r) => [ruleKey(r), r]));
  const beforeKeys = new Set(before.ingress.map(ruleKey));
  const revoked = new Set(change.revoke.map(ruleKey));
  for (const r of after.ingress) if (isOffending(r, ports)) problems.push(`still open: ${describeRule(r)}`);
  for (const r of before.ingress) {
    if (!revoked.has(ruleKey(r)) && !afterRules.has(ruleKey(r))) problems.push(`rule that should have stayed is gone: ${describeRule(r)}`);
  }
  for (const r of reopenedRules(change)) {
    const live = afterRules.get(ruleKey(r));
    if (!live) problems.push(`re-opened rule is missing: ${describeRule(r)}`);
    else if (!beforeKeys.has(ruleKey(r)) && (live.description ?? '') !== (r.description ?? '')) {
      problems.push(`re-opened rule ${describeRule(r)} has description ${JSON.stringify(live.description ?? '')}, expected ${JSON.stringify(r.description ?? '')}`);
    }
  }
  return problems;
}

/**
 * Problems with `after` as the undo of `change`: every revoked rule must be back (a rule re-added
 * by someone else counts), and every rule the change re-opened must be gone again, except those
 * the group already had in `before`.
 */
export function checkRestored(change: RevokeChange, after: SecurityGroupState, before?: SecurityGroupState): string[] {
  const afterKeys = new Set(after.ingress.map(ruleKey));
  const beforeKeys = new Set((before?.ingress ?? []).map(ruleKey));
  const notBack = change.revoke.filter((r) => !afterKeys.has(ruleKey(r))).map((r) => `revoked rule not restored: ${describeRule(r)}`);
  const stillThere = reopenedRules(change)
    .filter((r) => !beforeKeys.has(ruleKey(r)) && afterKeys.has(ruleKey(r)))
    .map((r) => `re-opened rule not revoked again: ${describeRule(r)}`);
  return [...notBack, ...stillThere];
}

/** Rules of one source for people, per protocol: "tcp 0-21, 23-3388, udp 0-21 and all icmp". */
export function describeRanges(rules: readonly IngressRule[]): string {
  const byProtocol = new Map<string, IngressRule[]>();
  for (const r of rules) byProtocol.set(r.protocol, [...(byProtocol.get(r.protocol) ?? []), r]);
  const parts = [...byProtocol].map(([protocol, rs]) =>
    isPortProtocol(protocol) || rs.some((r) => r.fromPort !== -1)
      ? `${protocol} ${formatRanges(rs.map(portRangeOf))}`
      : `all ${protocol}`,
  );
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** "Revoke 0.0.0.0/0 tcp/0-65535 on sg-1 and re-open tcp 0-21, 23-3388, 3390-65535 to 0.0.0.0/0". */
export function summarizeRevoke(change: RevokeChange, groupId: string): string {
  const head = `Revoke ${change.revoke.map(describeRule).join(', ')} on ${groupId}`;
  const split = change.split ?? [];
  if (split.length === 0) return head;
  const reopen = split.map((s) => `${describeRanges(s.reopen)} to ${sourceOf(s.rule)}${s.notKept ? `; ${s.notKept} stay closed` : ''}`);
  return `${head} and re-open ${reopen.join('; ')}`;
}

/**
 * Authorizes `rules` (with their descriptions), each counted done when it already exists. One
 * request for all; when AWS rejects it as a duplicate (a repeat after a partial attempt, or a
 * person), one request per rule, since AWS rejects a whole request for one existing rule.
 */
async function authorizeAll(ec2: EC2Client, groupId: string, rules: readonly IngressRule[]): Promise<void> {
  await eachIdempotent(rules, 'InvalidPermission.Duplicate', `AuthorizeSecurityGroupIngress on ${groupId}`, (rs) =>
    ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: rs.map((r) => toIpPermission(r, true)) })),
  );
}

/** Revokes `rules`, each counted done when it is already gone; per rule when a request for all of them names one that is gone. */
async function revokeAll(ec2: EC2Client, groupId: string, rules: readonly IngressRule[]): Promise<void> {
  // Already revoked (an earlier attempt that timed out after succeeding, or a person): the goal holds.
  await eachIdempotent(rules, 'InvalidPermission.NotFound', `RevokeSecurityGroupIngress on ${groupId}`, (rs) =>
    ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: rs.map((r) => toIpPermission(r)) })),
  );
}

/**
 * Sends `rules` in one request; when AWS answers `doneCode` (some rule already in the wanted
 * state, which fails the whole request), sends them one by one, each `doneCode` counting as done.
 */
async function eachIdempotent(rules: readonly IngressRule[], doneCode: string, action: string, call: (rs: readonly IngressRule[]) => Promise<unknown>): Promise<void> {
  const send = (rs: readonly IngressRule[]) =>
    awsCall(action, async () => {
      try {
        await call(rs);
        return true;
      } catch (err) {
        if (awsErrorCode(err) === doneCode) return false;
        throw err;
      }
    });
  if (rules.length === 0 || (await send(rules)) || rules.length === 1) return;
  for (const r of rules) await send([r]);
}

/** The state of a group as DescribeSecurityGroups returned it. */
export function groupState(g: SecurityGroup): SecurityGroupState {
  return stripUndefined({
    groupId: g.GroupId ?? '',
    groupName: g.GroupName ?? '',
    vpcId: g.VpcId,
    ingress: flattenPermissions(g.IpPermissions ?? []),
  });
}

export function describeGroup(state: SecurityGroupState): string {
  const open = state.ingress.filter(isWorldOpen).map(describeRule);
  const rest = state.ingress.length - open.length;
  return `${state.groupName || state.groupId}: ${open.length ? `open to the internet: ${open.join(', ')}` : 'nothing open to the internet'}; ${rest} other ingress rule${rest === 1 ? '' : 's'}`;
}

export const sgAdminPorts: Control<SecurityGroupState, RevokeChange> = {
  id: ControlId.SgAdminPortsOpen,
  title: "Security groups must not open the policy's admin ports or all traffic to the internet",
  fixable: true,
  catalog: {
    resourceType: 'AwsEc2SecurityGroup',
    severity: Severity.High,
    securityHub: ['EC2.13', 'EC2.14', 'EC2.18', 'EC2.19', 'EC2.53', 'EC2.54'],
    configRules: ['restricted-ssh', 'restricted-common-ports', 'vpc-sg-port-restriction-check', 'vpc-sg-open-only-to-authorized-ports'],
    cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['AuthorizeSecurityGroupIngress'] }],
    changes: 'Revokes the ingress rules that open the policy\'s admin ports (settings.ports) to 0.0.0.0/0 or ::/0; a wider rule is split around them (settings.wideRules)',
    defaultMode: 'auto',
    undo: 'exact: the revoked rules are authorized again, descriptions kept',
    resourceIdHint: 'a security group id (sg-...) or ARN',
    resourceId: securityGroupId,
    fromCloudTrail: readByNormalizer,
  },

  async read(aws, finding) {
    const groupId = finding.resource.id;
    const out = await awsCall(`DescribeSecurityGroups on ${groupId}`, () =>
      aws.ec2(finding.region).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] })),
    );
    const g = out.SecurityGroups?.find((x) => x.GroupId === groupId);
    if (!g) {
      throw ApplicationFailure.create({
        type: ErrorType.ResourceNotFound,
        message: `DescribeSecurityGroups on ${groupId} failed: security group ${groupId} not found in ${finding.region}`,
        nonRetryable: true,
      });
    }
    const tags: Record<string, string> = {};
    for (const t of g.Tags ?? []) if (t.Key !== undefined) Object.defineProperty(tags, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
    return { state: groupState(g), tags };
  },

  plan: (state, settings) => planRevoke(state, portsOf(settings), wideRulesOf(settings)),

  /**
   * Opens the kept ranges first, then revokes: the service on them is never cut off, and a failure
   * in between leaves the wide rule as it was (still a finding) rather than the service closed. A
   * retry re-plans from the group as it is: the kept ranges already there count as done.
   */
  async apply(aws, finding, change) {
    const ec2 = aws.ec2(finding.region);
    await authorizeAll(ec2, finding.resource.id, reopenedRules(change));
    await revokeAll(ec2, finding.resource.id, change.revoke);
  },

  check: (before, change, after, settings) => checkRevoke(before, change, after, portsOf(settings)),

  /**
   * Re-authorizes exactly the revoked rules, with their descriptions (a rule that already exists,
   * InvalidPermission.Duplicate: a repeat, or a person, counts as restored), then revokes the
   * rules the split opened that the group did not have before. In that order, what the wide rule
   * allowed is never closed in between.
   */
  async undo(aws, finding, before, change) {
    const ec2 = aws.ec2(finding.region);
    await authorizeAll(ec2, finding.resource.id, change.revoke);
    const had = new Set(before.ingress.map(ruleKey));
    await revokeAll(ec2, finding.resource.id, reopenedRules(change).filter((r) => !had.has(ruleKey(r))));
  },

  checkUndo: (before, change, after) => checkRestored(change, after, before),

  async tag(aws, finding, key, value) {
    const groupId = finding.resource.id;
    await awsCall(`CreateTags on ${groupId}`, () => aws.ec2(finding.region).send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: key, Value: value }] })));
  },

  async scanPage(aws, o) {
    const ports = portsOf(o.settings);
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`DescribeSecurityGroups in ${o.region}`, () =>
        aws.ec2(o.region).send(new DescribeSecurityGroupsCommand({ MaxResults: clamp(o.pageSize, 5, 1000), ...(token ? { NextToken: token } : {}) })),
      );
      return { items: out.SecurityGroups ?? [], next: out.NextToken };
    });
    const violations: Violation[] = [];
    for (const g of page.items) {
      const state = groupState(g);
      const change = planRevoke(state, ports);
      if (change) {
        violations.push({
          resourceId: state.groupId,
          title: `Security group ${state.groupName ? `${state.groupName} (${state.groupId})` : state.groupId} opens ${change.revoke.map(describeRule).join(', ')} to the internet`,
          severity: Severity.High,
        });
      }
    }
    return scanPageOf(page, { violations });
  },

  describe: describeGroup,

  summarize: (change, finding) => summarizeRevoke(change, finding.resource.id),
};

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
