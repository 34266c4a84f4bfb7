import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateTagsCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
  type SecurityGroupRule,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { Severity, type ControlId } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { Control, ControlCatalog, Violation } from './control.js';
import { securityGroupId } from './resource-ids.js';
import { clamp, nextPage, scanPageOf } from './scan-util.js';
import { normalizeProtocol } from './sg-admin-ports.js';

/**
 * EC2.2: a VPC's default security group must allow no traffic at all, in or out (AWS Security
 * Hub controls reference, "[EC2.2] VPC default security groups should not allow inbound or
 * outbound traffic"; AWS Config managed rule vpc-default-security-group-closed: "NON_COMPLIANT if
 * the default security group has one or more inbound or outbound traffic rules"). A group is a
 * VPC's default group when it is named "default": that name is reserved for it (CreateSecurityGroup
 * refuses it). Any other group is compliant for this control.
 */

/** One rule of the group, in or out, with a single peer (as DescribeSecurityGroups lists them, flattened). */
export interface SgRule {
  readonly egress: boolean;
  /** sgr-...: how the rule is revoked when DescribeSecurityGroupRules named it; absent otherwise (revoked by content). */
  readonly ruleId?: string;
  /** 'tcp', 'udp', 'icmp', '-1' (all traffic) or another protocol number. */
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly cidrIpv4?: string;
  readonly cidrIpv6?: string;
  readonly prefixListId?: string;
  /** The security group the rule lets traffic come from (in) or go to (out). */
  readonly peerGroupId?: string;
  /** That group's account, when it is another account's. */
  readonly peerGroupOwner?: string;
  readonly description?: string;
}
export interface DefaultGroupState {
  readonly groupId: string;
  readonly groupName: string;
  readonly vpcId?: string;
  /** Named "default": the VPC's default group. */
  readonly isDefault: boolean;
  readonly rules: readonly SgRule[];
}
export interface CloseDefaultGroupChange {
  readonly groupId: string;
  /** Every rule the default group had, in and out, as read (ids and descriptions kept, for undo). */
  readonly revoke: readonly SgRule[];
}

/** Compliant = not a default group, or a default group without any rule. */
export function planCloseDefaultGroup(state: DefaultGroupState): CloseDefaultGroupChange | null {
  if (!state.isDefault || state.rules.length === 0) return null;
  return { groupId: state.groupId, revoke: state.rules };
}

/** Where the rule lets traffic come from or go to. */
export function peerOf(r: SgRule): string {
  const group = r.peerGroupId === undefined ? undefined : r.peerGroupOwner ? `${r.peerGroupOwner}/${r.peerGroupId}` : r.peerGroupId;
  return r.cidrIpv4 ?? r.cidrIpv6 ?? r.prefixListId ?? group ?? '?';
}

/** A rule's identity: direction, protocol, ports and peer (not its id: a re-authorized rule gets a new one; not its description). */
export function sgRuleKey(r: SgRule): string {
  const ports = r.protocol === '-1' ? '' : `${r.fromPort ?? ''}-${r.toPort ?? ''}`;
  return `${r.egress ? 'out' : 'in'}|${r.protocol}|${ports}|${peerOf(r)}`;
}

export function describeSgRule(r: SgRule): string {
  const where = `${r.egress ? 'out to' : 'in from'} ${peerOf(r)}`;
  if (r.protocol === '-1') return `${where} all traffic`;
  if (r.fromPort === undefined || r.fromPort === -1) return `${where} all ${r.protocol}`;
  return `${where} ${r.protocol}/${r.fromPort === r.toPort ? r.fromPort : `${r.fromPort}-${r.toPort}`}`;
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Flattens EC2's IpPermissions (several peers per permission) into one rule per peer. */
export function flattenRules(perms: readonly IpPermission[], egress: boolean, ownerId: string | undefined): SgRule[] {
  const out: SgRule[] = [];
  for (const p of perms) {
    const protocol = normalizeProtocol(p.IpProtocol);
    const base = { egress, protocol, ...(protocol === '-1' ? {} : { fromPort: p.FromPort, toPort: p.ToPort }) };
    const desc = (d: string | undefined) => (d ? { description: d } : {});
    for (const r of p.IpRanges ?? []) if (r.CidrIp) out.push({ ...base, cidrIpv4: r.CidrIp, ...desc(r.Description) });
    for (const r of p.Ipv6Ranges ?? []) if (r.CidrIpv6) out.push({ ...base, cidrIpv6: r.CidrIpv6, ...desc(r.Description) });
    for (const r of p.PrefixListIds ?? []) if (r.PrefixListId) out.push({ ...base, prefixListId: r.PrefixListId, ...desc(r.Description) });
    for (const r of p.UserIdGroupPairs ?? []) {
      if (!r.GroupId) continue;
      const owner = r.UserId && r.UserId !== ownerId ? { peerGroupOwner: r.UserId } : {};
      out.push({ ...base, peerGroupId: r.GroupId, ...owner, ...desc(r.Description) });
    }
  }
  return out.map(withoutUndefined);
}

/** The key of a rule as DescribeSecurityGroupRules lists it (the same shape as `sgRuleKey`). */
function listedRuleKey(r: SecurityGroupRule, ownerId: string | undefined): string {
  const ref = r.ReferencedGroupInfo;
  return sgRuleKey(
    withoutUndefined({
      egress: r.IsEgress === true,
      protocol: normalizeProtocol(r.IpProtocol),
      fromPort: r.FromPort,
      toPort: r.ToPort,
      cidrIpv4: r.CidrIpv4,
      cidrIpv6: r.CidrIpv6,
      prefixListId: r.PrefixListId,
      peerGroupId: ref?.GroupId,
      peerGroupOwner: ref?.UserId && ref.UserId !== ownerId ? ref.UserId : undefined,
    }),
  );
}

/**
 * The group's state: its rules as DescribeSecurityGroups lists them (with their descriptions),
 * each with the id DescribeSecurityGroupRules gives the rule of the same content, when it does.
 */
export function groupState(g: SecurityGroup, listed: readonly SecurityGroupRule[] = []): DefaultGroupState {
  const ids = new Map<string, string>();
  for (const r of listed) if (r.SecurityGroupRuleId && !ids.has(listedRuleKey(r, g.OwnerId))) ids.set(listedRuleKey(r, g.OwnerId), r.SecurityGroupRuleId);
  const rules = [...flattenRules(g.IpPermissions ?? [], false, g.OwnerId), ...flattenRules(g.IpPermissionsEgress ?? [], true, g.OwnerId)];
  return withoutUndefined({
    groupId: g.GroupId ?? '',
    groupName: g.GroupName ?? '',
    vpcId: g.VpcId,
    isDefault: g.GroupName === 'default',
    rules: rules.map((r) => {
      const ruleId = ids.get(sgRuleKey(r));
      return ruleId ? { ...r, ruleId } : r;
    }),
  });
}

/** The IpPermission naming exactly this one rule: with its description to authorize it (undo), without to revoke it by content. */
export function toIpPermission(r: SgRule, withDescription: boolean): IpPermission {
  const p: IpPermission = { IpProtocol: r.protocol };
  if (r.protocol !== '-1') {
    p.FromPort = r.fromPort;
    p.ToPort = r.toPort;
  }
  const d = withDescription && r.description ? { Description: r.description } : {};
  if (r.cidrIpv4) p.IpRanges = [{ CidrIp: r.cidrIpv4, ...d }];
  if (r.cidrIpv6) p.Ipv6Ranges = [{ CidrIpv6: r.cidrIpv6, ...d }];
  if (r.prefixListId) p.PrefixListIds = [{ PrefixListId: r.prefixListId, ...d }];
  if (r.peerGroupId) p.UserIdGroupPairs = [{ GroupId: r.peerGroupId, ...(r.peerGroupOwner ? { UserId: r.peerGroupOwner } : {}), ...d }];
  return p;
}

function notFound(groupId: string, region: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.ResourceNotFound,
    message: `DescribeSecurityGroups on ${groupId} failed: security group ${groupId} not found in ${region}`,
    nonRetryable: true,
  });
}

async function describeGroup(ec2: EC2Client, groupId: string, region: string): Promise<SecurityGroup> {
  const out = await awsCall(`DescribeSecurityGroups on ${groupId}`, () => ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] })));
  const g = out.SecurityGroups?.find((x) => x.GroupId === groupId);
  if (!g) throw notFound(groupId, region);
  return g;
}

/** Every rule of the group with its id (DescribeSecurityGroupRules, all pages). */
async function listRules(ec2: EC2Client, groupId: string): Promise<SecurityGroupRule[]> {
  const rules: SecurityGroupRule[] = [];
  let token: string | undefined;
  do {
    const out = await awsCall(`DescribeSecurityGroupRules on ${groupId}`, () =>
      ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }], MaxResults: 1000, ...(token ? { NextToken: token } : {}) })),
    );
    rules.push(...(out.SecurityGroupRules ?? []));
    token = out.NextToken;
  } while (token);
  return rules;
}

async function readGroup(ec2: EC2Client, groupId: string, region: string): Promise<{ state: DefaultGroupState; group: SecurityGroup }> {
  const group = await describeGroup(ec2, groupId, region);
  // Only a default group's rules are acted on: another group needs no rule ids.
  const listed = group.GroupName === 'default' ? await listRules(ec2, groupId) : [];
  return { state: groupState(group, listed), group };
}

/** A rule already gone, named by its id or by its content. */
const GONE = new Set(['InvalidPermission.NotFound', 'InvalidSecurityGroupRuleId.NotFound']);

/**
 * Sends `rules` in one request; when AWS answers with one of `doneCodes` (some rule already in the
 * wanted state, which fails the whole request), sends them one by one, each such answer counting
 * as done (a repeat after a partial attempt, or a person's change).
 */
async function eachIdempotent(rules: readonly SgRule[], doneCodes: ReadonlySet<string>, action: string, call: (rs: readonly SgRule[]) => Promise<unknown>): Promise<void> {
  const send = (rs: readonly SgRule[]) =>
    awsCall(action, async () => {
      try {
        await call(rs);
        return true;
      } catch (err) {
        const code = awsErrorCode(err);
        if (code !== undefined && doneCodes.has(code)) return false;
        throw err;
      }
    });
  if (rules.length === 0 || (await send(rules)) || rules.length === 1) return;
  for (const r of rules) await send([r]);
}

/** Revokes `rules` of one direction: by rule id when they have one, else by content. */
async function revokeRules(ec2: EC2Client, groupId: string, egress: boolean, rules: readonly SgRule[]): Promise<void> {
  const byId = rules.filter((r) => r.ruleId !== undefined);
  const byContent = rules.filter((r) => r.ruleId === undefined);
  const op = egress ? 'RevokeSecurityGroupEgress' : 'RevokeSecurityGroupIngress';
  const revoke = (input: { SecurityGroupRuleIds?: string[]; IpPermissions?: IpPermission[] }) =>
    egress ? ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: groupId, ...input })) : ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, ...input }));
  await eachIdempotent(byId, GONE, `${op} on ${groupId}`, (rs) => revoke({ SecurityGroupRuleIds: rs.map((r) => r.ruleId!) }));
  await eachIdempotent(byContent, GONE, `${op} on ${groupId}`, (rs) => revoke({ IpPermissions: rs.map((r) => toIpPermission(r, false)) }));
}

/** Authorizes `rules` of one direction with their descriptions; a rule that already exists counts as done. */
async function authorizeRules(ec2: EC2Client, groupId: string, egress: boolean, rules: readonly SgRule[]): Promise<void> {
  const op = egress ? 'AuthorizeSecurityGroupEgress' : 'AuthorizeSecurityGroupIngress';
  await eachIdempotent(rules, new Set(['InvalidPermission.Duplicate']), `${op} on ${groupId}`, (rs) => {
    const input = { GroupId: groupId, IpPermissions: rs.map((r) => toIpPermission(r, true)) };
    return egress ? ec2.send(new AuthorizeSecurityGroupEgressCommand(input)) : ec2.send(new AuthorizeSecurityGroupIngressCommand(input));
  });
}

/** Problems with `after`: any rule left (the default group must be empty). */
export function checkClosed(before: DefaultGroupState, after: DefaultGroupState): string[] {
  if (!after.isDefault) return before.isDefault ? [`${after.groupId} is no longer named "default"`] : [];
  return after.rules.map((r) => `still allows ${describeSgRule(r)}`);
}

/** Every revoked rule must be back (by content: a re-authorized rule has a new id; one a person re-added counts). */
export function checkReopened(change: CloseDefaultGroupChange, after: DefaultGroupState): string[] {
  const live = new Set(after.rules.map(sgRuleKey));
  return change.revoke.filter((r) => !live.has(sgRuleKey(r))).map((r) => `revoked rule not restored: ${describeSgRule(r)}`);
}

export function describeDefaultGroup(state: DefaultGroupState): string {
  const name = `${state.groupName || state.groupId}${state.vpcId ? ` (${state.vpcId})` : ''}`;
  if (!state.isDefault) return `${name}: not a VPC default group`;
  const inbound = state.rules.filter((r) => !r.egress).length;
  const outbound = state.rules.length - inbound;
  if (state.rules.length === 0) return `${name}: default group, closed (no rules)`;
  return `${name}: default group with ${inbound} inbound and ${outbound} outbound rule${outbound === 1 ? '' : 's'}: ${state.rules.map(describeSgRule).join(', ')}`;
}

/**
 * What CloudTrail's AuthorizeSecurityGroupIngress / AuthorizeSecurityGroupEgress records name: the
 * group id (`requestParameters.groupId`; newer records also list each new rule's group in
 * `responseElements.securityGroupRuleSet.items[].groupId`). A call naming the group by name only
 * (`requestParameters.groupName`, accepted for default-VPC groups) carries the id in the response.
 * A record that names the group "default", or adds an outbound rule, names a group to check (the
 * control reads it; a group not named "default" is compliant); an inbound rule added by group id
 * alone is left to Config, Security Hub and the scan (below). Pure.
 */
export function groupsFromCloudTrail(record: Readonly<Record<string, unknown>>): { readonly resources: readonly { readonly id: string; readonly title: string }[] } | { readonly ignore: string } {
  const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
  const req = obj(record['requestParameters']);
  const res = obj(record['responseElements']);
  const direction = record['eventName'] === 'AuthorizeSecurityGroupEgress' ? 'outbound' : 'inbound';
  const ids = new Set<string>();
  const add = (v: unknown) => {
    const id = typeof v === 'string' ? securityGroupId(v) : undefined;
    if (id) ids.add(id);
  };
  add(req?.['groupId']);
  const items = obj(res?.['securityGroupRuleSet'])?.['items'];
  if (Array.isArray(items)) for (const i of items) add(obj(i)?.['groupId']);
  const name = req?.['groupName'];
  const byId = name === undefined || name === null;
  // An ingress rule added by group id says nothing of whether the group is a VPC's default one,
  // and every such call already starts the admin-ports control's check: reading every group again
  // for EC2.2 would double the workflows of every ingress event. Config's change-triggered
  // vpc-default-security-group-closed, Security Hub EC2.2 and the scan report those. Egress is
  // read by no other control: every egress event is checked.
  if (ids.size > 0 && (name === 'default' || (byId && direction === 'outbound'))) {
    return { resources: [...ids].map((id) => ({ id, title: `Security group ${id}: ${direction} rule authorized; a VPC default group must allow no traffic` })) };
  }
  if (ids.size > 0 && byId) return { ignore: `names ${[...ids].join(', ')} by id only, which does not say it is a VPC default group: Config (vpc-default-security-group-closed), Security Hub EC2.2 and the scan report one` };
  if (typeof name === 'string' && name !== 'default') return { ignore: `names security group "${name.slice(0, 255)}", not a VPC default group (those are named "default")` };
  if (name === 'default') return { ignore: 'names the default VPC\'s default group by name only, without its id; the scan reports it' };
  return { ignore: 'the record names no security group' };
}

export const ec2DefaultSgClosedCatalog: ControlCatalog = {
  resourceType: 'AwsEc2SecurityGroup',
  severity: Severity.High,
  securityHub: ['EC2.2'],
  configRules: ['vpc-default-security-group-closed'],
  cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress'] }],
  changes: "Revokes every inbound and outbound rule of a VPC's default security group (by rule id, exactly the rules read); other groups are never touched",
  defaultMode: 'approve',
  undo: 'exact: every revoked rule is authorized again with its description (AWS gives the re-created rules new rule ids)',
  resourceIdHint: 'a security group id (sg-...) or ARN',
  resourceId: securityGroupId,
  fromCloudTrail: groupsFromCloudTrail,
};

export const ec2DefaultSgClosed: Control<DefaultGroupState, CloseDefaultGroupChange> = {
  id: 'ec2-default-sg-closed' as ControlId,
  title: 'VPC default security groups must allow no inbound or outbound traffic',
  fixable: true,
  catalog: ec2DefaultSgClosedCatalog,

  async read(aws, finding) {
    const { state, group } = await readGroup(aws.ec2(finding.region), finding.resource.id, finding.region);
    const tags: Record<string, string> = {};
    for (const t of group.Tags ?? []) if (t.Key !== undefined) Object.defineProperty(tags, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
    return { state, tags };
  },

  plan: (state) => planCloseDefaultGroup(state),

  /**
   * Re-reads the group's rules and revokes exactly the planned ones still there as planned: by
   * rule id, unless the rule under that id now says something else (ModifySecurityGroupRules
   * keeps the id), which is left alone. A rule added since the plan is not touched (check then
   * reports it). Rules already gone count as done.
   */
  async apply(aws, finding, change) {
    const ec2 = aws.ec2(finding.region);
    const { state } = await readGroup(ec2, change.groupId, finding.region);
    const liveById = new Map(state.rules.flatMap((r) => (r.ruleId ? [[r.ruleId, r] as const] : [])));
    const liveKeys = new Set(state.rules.map(sgRuleKey));
    const still = change.revoke.flatMap((planned): SgRule[] => {
      if (planned.ruleId === undefined) return liveKeys.has(sgRuleKey(planned)) ? [planned] : [];
      const live = liveById.get(planned.ruleId);
      return live && sgRuleKey(live) === sgRuleKey(planned) ? [planned] : [];
    });
    await revokeRules(ec2, change.groupId, false, still.filter((r) => !r.egress));
    await revokeRules(ec2, change.groupId, true, still.filter((r) => r.egress));
  },

  check: (before, _change, after) => checkClosed(before, after),

  /** Authorizes every revoked rule again, with its description; a rule that exists already (a repeat, or a person) counts as restored. */
  async undo(aws, finding, _before, change) {
    const ec2 = aws.ec2(finding.region);
    await authorizeRules(ec2, change.groupId, false, change.revoke.filter((r) => !r.egress));
    await authorizeRules(ec2, change.groupId, true, change.revoke.filter((r) => r.egress));
  },

  checkUndo: (_before, change, after) => checkReopened(change, after),

  async tag(aws, finding, key, value) {
    const groupId = finding.resource.id;
    await awsCall(`CreateTags on ${groupId}`, () => aws.ec2(finding.region).send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: key, Value: value }] })));
  },

  /** The region's default groups (DescribeSecurityGroups, group-name=default) that have any rule. */
  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`DescribeSecurityGroups in ${o.region}`, () =>
        aws.ec2(o.region).send(
          new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['default'] }], MaxResults: clamp(o.pageSize, 5, 1000), ...(token ? { NextToken: token } : {}) }),
        ),
      );
      return { items: out.SecurityGroups ?? [], next: out.NextToken };
    });
    const violations: Violation[] = [];
    for (const g of page.items) {
      const state = groupState(g);
      if (planCloseDefaultGroup(state) === null) continue;
      const inbound = state.rules.filter((r) => !r.egress).length;
      violations.push({
        resourceId: state.groupId,
        title: `Default security group ${state.groupId}${state.vpcId ? ` of ${state.vpcId}` : ''} allows traffic: ${inbound} inbound and ${state.rules.length - inbound} outbound rules`,
        severity: Severity.High,
      });
    }
    return scanPageOf(page, { violations });
  },

  describe: describeDefaultGroup,

  summarize(change, finding) {
    const inbound = change.revoke.filter((r) => !r.egress).length;
    return `Revoke every rule of default security group ${finding.resource.id} (${inbound} inbound, ${change.revoke.length - inbound} outbound): ${change.revoke.map(describeSgRule).join(', ')}`;
  },
};
