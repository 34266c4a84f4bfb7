import {
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { ControlId, type Finding } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { Control } from './control.js';

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
  /** Exactly the world-open rules that expose an admin port; nothing else is touched. */
  readonly revoke: readonly IngressRule[];
}

/** Ports that must never be reachable from the whole internet. */
export const ADMIN_PORTS: readonly number[] = [22, 3389];
const WORLD_V4 = '0.0.0.0/0';
const WORLD_V6 = '::/0';

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { '6': 'tcp', '17': 'udp', '1': 'icmp', all: '-1' };
export function normalizeProtocol(p: string | undefined): string {
  const v = (p ?? '-1').toLowerCase();
  return PROTOCOL_NAMES[v] ?? v;
}

/** True when the rule lets the whole internet (IPv4 or IPv6) reach SSH, RDP or every port. */
export function isOffending(rule: IngressRule): boolean {
  const world = rule.cidrIpv4 === WORLD_V4 || rule.cidrIpv6 === WORLD_V6;
  if (!world) return false;
  if (rule.protocol === '-1') return true;
  if (rule.protocol !== 'tcp' && rule.protocol !== 'udp') return false;
  const from = rule.fromPort ?? 0;
  const to = rule.toPort ?? 65535;
  return ADMIN_PORTS.some((p) => from <= p && p <= to);
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

/** The IpPermission that names exactly this one rule, for RevokeSecurityGroupIngress. */
export function toIpPermission(r: IngressRule): IpPermission {
  const p: IpPermission = { IpProtocol: r.protocol };
  if (r.protocol !== '-1') {
    p.FromPort = r.fromPort;
    p.ToPort = r.toPort;
  }
  if (r.cidrIpv4) p.IpRanges = [{ CidrIp: r.cidrIpv4 }];
  if (r.cidrIpv6) p.Ipv6Ranges = [{ CidrIpv6: r.cidrIpv6 }];
  if (r.prefixListId) p.PrefixListIds = [{ PrefixListId: r.prefixListId }];
  if (r.sourceGroupId) p.UserIdGroupPairs = [{ GroupId: r.sourceGroupId }];
  return p;
}

export function planRevoke(state: SecurityGroupState): RevokeChange | null {
  const revoke = state.ingress.filter(isOffending);
  return revoke.length === 0 ? null : { revoke };
}

export function checkRevoke(before: SecurityGroupState, change: RevokeChange, after: SecurityGroupState): string[] {
  const problems: string[] = [];
  const afterKeys = new Set(after.ingress.map(ruleKey));
  const revoked = new Set(change.revoke.map(ruleKey));
  for (const r of after.ingress) if (isOffending(r)) problems.push(`still open: ${describeRule(r)}`);
  for (const r of before.ingress) {
    if (!revoked.has(ruleKey(r)) && !afterKeys.has(ruleKey(r))) problems.push(`rule that should have stayed is gone: ${describeRule(r)}`);
  }
  return problems;
}

export const sgAdminPorts: Control<SecurityGroupState, RevokeChange> = {
  id: ControlId.SgAdminPortsOpen,
  title: 'Security groups must not open SSH, RDP or all traffic to the internet',

  async read(aws, finding: Finding) {
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
    return {
      state: stripUndefined({
        groupId,
        groupName: g.GroupName ?? '',
        vpcId: g.VpcId,
        ingress: flattenPermissions(g.IpPermissions ?? []),
      }),
      tags,
    };
  },

  plan: planRevoke,

  async apply(aws, finding, change) {
    const groupId = finding.resource.id;
    await awsCall(`RevokeSecurityGroupIngress on ${groupId}`, async () => {
      try {
        await aws
          .ec2(finding.region)
          .send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: change.revoke.map(toIpPermission) }));
      } catch (err) {
        // Already revoked (an earlier attempt that timed out after succeeding, or a person): the goal holds.
        if (awsErrorCode(err) === 'InvalidPermission.NotFound') return;
        throw err;
      }
    });
  },

  check: checkRevoke,

  describe(state) {
    const open = state.ingress.filter(isOffending).map(describeRule);
    const rest = state.ingress.length - open.length;
    return `${state.groupName || state.groupId}: ${open.length ? `open to the internet: ${open.join(', ')}` : 'no admin port open to the internet'}; ${rest} other ingress rule${rest === 1 ? '' : 's'}`;
  },

  summarize(change, finding) {
    return `Revoke ${change.revoke.map(describeRule).join(', ')} on ${finding.resource.id}`;
  },
};

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
