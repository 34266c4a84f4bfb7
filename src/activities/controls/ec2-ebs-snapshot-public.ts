import {
  CreateTagsCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  ModifySnapshotAttributeCommand,
  type EC2Client,
  type Snapshot as SdkSnapshot,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { Severity, type ControlId } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control, ControlCatalog } from './control.js';
import { clamp, judgeEach, nextPage, scanPageOf } from './scan-util.js';

/** The create volume permission group that makes a snapshot public: every AWS account may restore it. */
export const PUBLIC_GROUP = 'all';

/** An EBS snapshot's create volume permissions (DescribeSnapshotAttribute createVolumePermission). */
export interface EbsSnapshotPermissionsState {
  readonly snapshotId: string;
  readonly ownerId: string;
  readonly encrypted: boolean;
  /** Groups with create volume permission: only 'all' exists (public). */
  readonly groups: readonly string[];
  /** Accounts the snapshot is shared with, sorted. Never touched by the fix. */
  readonly userIds: readonly string[];
}
export interface MakeSnapshotPrivateChange {
  readonly snapshotId: string;
  /** Exactly the groups removed from createVolumePermission: ['all']. */
  readonly removeGroups: readonly string[];
  /** The accounts it stays shared with (for people and for the check). */
  readonly keepUserIds: readonly string[];
}

/** What this control forbids (compliant = not so): the snapshot is restorable by every AWS account. */
export function isPublicSnapshot(state: EbsSnapshotPermissionsState): boolean {
  return state.groups.includes(PUBLIC_GROUP);
}

export function planMakePrivate(state: EbsSnapshotPermissionsState): MakeSnapshotPrivateChange | null {
  if (!isPublicSnapshot(state)) return null;
  return { snapshotId: state.snapshotId, removeGroups: [PUBLIC_GROUP], keepUserIds: state.userIds };
}

/** Problems with `after`: still public, or an account the snapshot was shared with lost its permission. */
export function checkPrivate(before: EbsSnapshotPermissionsState, after: EbsSnapshotPermissionsState): string[] {
  const problems = isPublicSnapshot(after) ? [`snapshot ${after.snapshotId} is still public (createVolumePermission group all)`] : [];
  const now = new Set(after.userIds);
  for (const id of before.userIds) if (!now.has(id)) problems.push(`account ${id} lost its create volume permission`);
  return problems;
}

const SNAPSHOT_ID = /^snap-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** arn:aws:ec2:us-east-1::snapshot/snap-0abc (the account field is empty in the IAM form; some sources fill it). */
const SNAPSHOT_ARN = /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:(?:\d{12})?:snapshot\/(snap-[0-9a-fA-F]+)$/;

export function snapshotIdOf(raw: string): string | undefined {
  const s = raw.trim();
  const id = (SNAPSHOT_ARN.exec(s)?.[1] ?? s).toLowerCase();
  return SNAPSHOT_ID.test(id) ? id : undefined;
}

function tagsOf(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) Object.defineProperty(out, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
  return out;
}

function notFound(action: string, snapshotId: string, region: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.ResourceNotFound, message: `${action} failed: EBS snapshot ${snapshotId} not found in ${region}`, nonRetryable: true });
}

async function describeSnapshot(ec2: EC2Client, snapshotId: string, region: string): Promise<SdkSnapshot> {
  const action = `DescribeSnapshots on ${snapshotId}`;
  const out = await awsCall(action, () => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })));
  const s = out.Snapshots?.find((x) => x.SnapshotId === snapshotId);
  if (!s) throw notFound(action, snapshotId, region);
  return s;
}

/**
 * The snapshot and its permissions, when `account` owns it. A public snapshot of another account
 * is visible to everyone (DescribeSnapshots lists it): it is refused, never planned on.
 */
async function readSnapshot(aws: AwsClients, region: string, account: string, snapshotId: string): Promise<{ state: EbsSnapshotPermissionsState; tags: Record<string, string> }> {
  const ec2 = aws.ec2(region);
  const s = await describeSnapshot(ec2, snapshotId, region);
  if (s.OwnerId !== account) {
    throw ApplicationFailure.create({
      type: ErrorType.AccessDenied,
      message: `DescribeSnapshots on ${snapshotId}: the snapshot belongs to account ${s.OwnerId ?? 'unknown'}, not ${account}`,
      nonRetryable: true,
    });
  }
  return { state: await readPermissions(ec2, s), tags: tagsOf(s.Tags) };
}

async function readPermissions(ec2: EC2Client, s: SdkSnapshot): Promise<EbsSnapshotPermissionsState> {
  const snapshotId = s.SnapshotId ?? '';
  const out = await awsCall(`DescribeSnapshotAttribute createVolumePermission on ${snapshotId}`, () =>
    ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' })),
  );
  const perms = out.CreateVolumePermissions ?? [];
  return {
    snapshotId,
    ownerId: s.OwnerId ?? '',
    encrypted: s.Encrypted === true,
    groups: [...new Set(perms.flatMap((p) => (p.Group ? [p.Group] : [])))].sort(),
    userIds: [...new Set(perms.flatMap((p) => (p.UserId ? [p.UserId] : [])))].sort(),
  };
}

/** Adds or removes exactly these groups; the account permissions are not named, so they stay as they are. */
async function modifyGroups(aws: AwsClients, region: string, snapshotId: string, operation: 'add' | 'remove', groups: readonly string[]): Promise<void> {
  await awsCall(`ModifySnapshotAttribute createVolumePermission ${operation} group ${groups.join(', ')} on ${snapshotId}`, () =>
    aws.ec2(region).send(new ModifySnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType: operation, GroupNames: [...groups] })),
  );
}

function describePermissions(state: EbsSnapshotPermissionsState): string {
  const shared = state.userIds.length === 0 ? 'shared with no account' : `shared with ${state.userIds.length} account${state.userIds.length === 1 ? '' : 's'} (${state.userIds.join(', ')})`;
  return `${isPublicSnapshot(state) ? 'PUBLIC (restorable by every AWS account)' : 'private'}; ${shared}`;
}

/** The requestParameters.createVolumePermission.{add,remove}.items[] of a ModifySnapshotAttribute record. */
function permissionItems(params: Record<string, unknown>, op: 'add' | 'remove'): Record<string, unknown>[] | undefined {
  const perm = params['createVolumePermission'];
  if (typeof perm !== 'object' || perm === null) return undefined;
  const side = (perm as Record<string, unknown>)[op];
  if (typeof side !== 'object' || side === null) return [];
  const items = (side as Record<string, unknown>)['items'];
  return Array.isArray(items) ? items.filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null) : [];
}

/**
 * ModifySnapshotAttribute records (Amazon EC2 API Reference; CloudTrail logs the request as
 * `requestParameters.{snapshotId, attributeType: "CREATE_VOLUME_PERMISSION", createVolumePermission:
 * {add|remove: {items: [{group: "all"} | {userId: "..."}]}}}`): only a request adding the `all`
 * group can make the snapshot public. One that only removes permissions, or only shares with named
 * accounts, is ignored; a record whose permissions cannot be read is checked.
 */
function fromModifySnapshotAttribute(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const params = record['requestParameters'];
  if (typeof params !== 'object' || params === null) return { ignore: 'no requestParameters: no snapshot named' };
  const p = params as Record<string, unknown>;
  const id = typeof p['snapshotId'] === 'string' ? snapshotIdOf(p['snapshotId']) : undefined;
  if (!id) return { ignore: 'requestParameters.snapshotId is not an EBS snapshot id' };
  const attribute = p['attributeType'];
  if (typeof attribute === 'string' && attribute.toUpperCase() !== 'CREATE_VOLUME_PERMISSION') return { ignore: `changes ${attribute}, not the create volume permissions` };
  const added = permissionItems(p, 'add');
  if (added !== undefined && !added.some((i) => i['group'] === PUBLIC_GROUP)) {
    return { ignore: `does not add the "${PUBLIC_GROUP}" group to ${id}'s create volume permissions` };
  }
  return { resources: [{ id, title: `EBS snapshot ${id} made restorable by every AWS account (ModifySnapshotAttribute)` }] };
}

export const ec2EbsSnapshotPublicCatalog: ControlCatalog = {
  // ASFF has no EBS snapshot type (Security Hub's EC2.1 reports on AWS::::Account; Prowler uses "Other").
  resourceType: 'AwsEc2Snapshot',
  severity: Severity.Critical,
  securityHub: ['EC2.1'],
  configRules: ['ebs-snapshot-public-restorable-check'],
  // The rule evaluates the account (AWS::::Account): a non-compliant evaluation starts a scan of the account and region.
  configResourceType: 'AWS::EC2::Snapshot',
  cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['ModifySnapshotAttribute'] }],
  changes: 'Removes the "all" group from the snapshot\'s create volume permissions (ModifySnapshotAttribute remove); the accounts it is shared with keep their permission',
  defaultMode: 'auto',
  undo: 'exact: adds the "all" group back (fails while EBS snapshot block public access is on in the region)',
  resourceIdHint: 'an EBS snapshot id (snap-...) or its ARN (arn:aws:ec2:<region>::snapshot/snap-...)',
  /**
   * Security Hub EC2.1 and the ebs-snapshot-public-restorable-check rule are periodic checks of
   * the account (AWS::::Account, "AWS::::Account:<id>"): they name no snapshot, so they give
   * undefined here; the scan they start finds the snapshots.
   */
  resourceId: snapshotIdOf,
  fromCloudTrail: fromModifySnapshotAttribute,
};

export const ec2EbsSnapshotPublic: Control<EbsSnapshotPermissionsState, MakeSnapshotPrivateChange> = {
  id: 'ec2-ebs-snapshot-public' as ControlId,
  title: 'EBS snapshots must not be restorable by every AWS account',
  fixable: true,
  catalog: ec2EbsSnapshotPublicCatalog,

  read: (aws, finding) => readSnapshot(aws, finding.region, finding.account, finding.resource.id),

  plan: (state) => planMakePrivate(state),

  /** Removes exactly the planned groups: nothing else is named, so a share added meanwhile stays. Removing a group that is gone is a no-op. */
  async apply(aws, finding, change) {
    await modifyGroups(aws, finding.region, change.snapshotId, 'remove', change.removeGroups);
  },

  check: (before, _change, after) => checkPrivate(before, after),

  /** Adds the removed groups back (adding one that is there is a no-op). */
  async undo(aws, finding, _before, change) {
    await modifyGroups(aws, finding.region, change.snapshotId, 'add', change.removeGroups);
  },

  checkUndo: (_before, change, after) => change.removeGroups.filter((g) => !after.groups.includes(g)).map((g) => `group ${g} not restored on ${after.snapshotId}`),

  async tag(aws, finding, key, value) {
    const id = finding.resource.id;
    await awsCall(`CreateTags on ${id}`, () => aws.ec2(finding.region).send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: key, Value: value }] })));
  },

  /**
   * The account's public snapshots: DescribeSnapshots with OwnerIds self and RestorableByUserIds
   * all (the public ones; moto ignores both, and the owner is checked here too), then each
   * snapshot's permissions, which decide.
   */
  async scanPage(aws, o) {
    const ec2 = aws.ec2(o.region);
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`DescribeSnapshots in ${o.region}`, () =>
        ec2.send(
          new DescribeSnapshotsCommand({ OwnerIds: ['self'], RestorableByUserIds: [PUBLIC_GROUP], MaxResults: clamp(o.pageSize, 5, 1000), ...(token ? { NextToken: token } : {}) }),
        ),
      );
      return { items: (out.Snapshots ?? []).filter((s) => s.SnapshotId && s.OwnerId === o.account), next: out.NextToken };
    });
    const byId = new Map(page.items.map((s) => [s.SnapshotId!, s]));
    const judged = await judgeEach(
      [...byId.keys()],
      (id) => readPermissions(ec2, byId.get(id)!),
      (id, state) => (isPublicSnapshot(state) ? { resourceId: id, title: `EBS snapshot ${id} is restorable by every AWS account`, severity: Severity.Critical } : null),
    );
    return scanPageOf(page, judged);
  },

  describe: describePermissions,

  summarize: (change) =>
    `Make EBS snapshot ${change.snapshotId} private (remove create volume permission group ${change.removeGroups.join(', ')})${change.keepUserIds.length ? `; it stays shared with ${change.keepUserIds.join(', ')}` : ''}`,
};
