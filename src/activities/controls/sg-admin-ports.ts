import {
  AuthorizeSecurityGroupIngressCommand,
  CreateTagsCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { ControlId, Severity } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import type { ControlSettings } from '../../policy/types.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { Control, Violation } from './control.js';
import { clamp, nextPage } from './scan-util.js';

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
export interface RevokeChange {
  /** Exactly the world-open rules that expose a listed port (or all traffic); nothing else is touched. Kept with their descriptions, for undo. */
  readonly revoke: readonly IngressRule[];
}

/** The ports that must never be reachable from the whole internet when the policy names none (SSH, RDP). */
export const DEFAULT_ADMIN_PORTS: readonly number[] = Object.freeze([22, 3389]);
const WORLD_V4 = '0.0.0.0/0';
const WORLD_V6 = '::/0';

/** The policy's port list (`settings.ports`); the default when the settings carry none (e.g. a workflow started before settings existed). */
export function portsOf(settings: ControlSettings | undefined): readonly number[] {
  return settings?.ports ?? DEFAULT_ADMIN_PORTS;
}

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { '6': 'tcp', '17': 'udp', '1': 'icmp', all: '-1' };
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
  const src = r.cidrIpv4 ?? r.cidrIpv6 ?? r.prefixListId ?? r.sourceGroupId ?? '?';
  return `${r.protocol}|${ports}|${src}`;
}

export function describeRule(r: IngressRule): string {
  const src = r.cidrIpv4 ?? r.cidrIpv6 ?? r.prefixListId ?? r.sourceGroupId ?? '?';
  if (r.protocol === '-1') return `${src} all traffic`;
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

export function planRevoke(state: SecurityGroupState, ports: readonly number[]): RevokeChange | null {
  const revoke = state.ingress.filter((r) => isOffending(r, ports));
  return revoke.length === 0 ? null : { revoke };
}

export function checkRevoke(before: SecurityGroupState, change: RevokeChange, after: SecurityGroupState, ports: readonly number[]): string[] {
  const problems: string[] = [];
  const afterKeys = new Set(after.ingress.map(ruleKey));
  const revoked = new Set(change.revoke.map(ruleKey));
  for (const r of after.ingress) if (isOffending(r, ports)) problems.push(`still open: ${describeRule(r)}`);
  for (const r of before.ingress) {
    if (!revoked.has(ruleKey(r)) && !afterKeys.has(ruleKey(r))) problems.push(`rule that should have stayed is gone: ${describeRule(r)}`);
  }
  return problems;
}

/** Problems with `after` as the undo of `change`: every revoked rule must be back (a rule re-added by someone else counts). */
export function checkRestored(change: RevokeChange, after: SecurityGroupState): string[] {
  const afterKeys = new Set(after.ingress.map(ruleKey));
  return change.revoke.filter((r) => !afterKeys.has(ruleKey(r))).map((r) => `revoked rule not restored: ${describeRule(r)}`);
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

  plan: (state, settings) => planRevoke(state, portsOf(settings)),

  async apply(aws, finding, change) {
    const groupId = finding.resource.id;
    await awsCall(`RevokeSecurityGroupIngress on ${groupId}`, async () => {
      try {
        await aws
          .ec2(finding.region)
          .send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: change.revoke.map((r) => toIpPermission(r)) }));
      } catch (err) {
        // Already revoked (an earlier attempt that timed out after succeeding, or a person): the goal holds.
        if (awsErrorCode(err) === 'InvalidPermission.NotFound') return;
        throw err;
      }
    });
  },

  check: (before, change, after, settings) => checkRevoke(before, change, after, portsOf(settings)),

  /**
   * Re-authorizes exactly the revoked rules, with their descriptions. One call per rule: AWS
   * rejects a whole request when any rule in it already exists, and a rule that already exists
   * (InvalidPermission.Duplicate: a repeat, or a person) counts as restored.
   */
  async undo(aws, finding, _before, change) {
    const groupId = finding.resource.id;
    for (const rule of change.revoke) {
      await awsCall(`AuthorizeSecurityGroupIngress on ${groupId}`, async () => {
        try {
          await aws.ec2(finding.region).send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [toIpPermission(rule, true)] }));
        } catch (err) {
          if (awsErrorCode(err) === 'InvalidPermission.Duplicate') return;
          throw err;
        }
      });
    }
  },

  checkUndo: (_before, change, after) => checkRestored(change, after),

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
    return { violations, scanned: page.items.length, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
  },

  describe: describeGroup,

  summarize(change, finding) {
    return `Revoke ${change.revoke.map(describeRule).join(', ')} on ${finding.resource.id}`;
  },
};

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
