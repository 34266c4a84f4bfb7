import {
  AddTagsToResourceCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBSnapshotAttributeCommand,
  type DBSnapshot,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { Severity, type ControlId } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control, ControlCatalog } from './control.js';
import { clamp, judgeEach, nextPage, scanPageOf } from './scan-util.js';

/** The value of the `restore` attribute that makes a manual DB snapshot public. */
export const PUBLIC_VALUE = 'all';
const RESTORE = 'restore';

/** A manual DB snapshot's `restore` attribute (DescribeDBSnapshotAttributes). */
export interface RdsSnapshotRestoreState {
  readonly snapshotId: string;
  readonly arn: string;
  readonly snapshotType: string;
  readonly encrypted: boolean;
  /** The `restore` attribute's values: account ids, and 'all' when public; sorted. */
  readonly restore: readonly string[];
}
export interface MakeRdsSnapshotPrivateChange {
  readonly snapshotId: string;
  /** Exactly the values removed from the `restore` attribute: ['all']. */
  readonly remove: readonly string[];
  /** The accounts that keep their permission to restore it. */
  readonly keep: readonly string[];
}

/** What this control forbids (compliant = not so): every AWS account may copy and restore the snapshot. */
export function isPublicRdsSnapshot(state: RdsSnapshotRestoreState): boolean {
  return state.restore.includes(PUBLIC_VALUE);
}

export function planRdsSnapshotPrivate(state: RdsSnapshotRestoreState): MakeRdsSnapshotPrivateChange | null {
  if (!isPublicRdsSnapshot(state)) return null;
  return { snapshotId: state.snapshotId, remove: [PUBLIC_VALUE], keep: state.restore.filter((v) => v !== PUBLIC_VALUE) };
}

/** Problems with `after`: still public, or an account it was shared with lost its permission. */
export function checkRdsSnapshotPrivate(before: RdsSnapshotRestoreState, after: RdsSnapshotRestoreState): string[] {
  const problems = isPublicRdsSnapshot(after) ? [`DB snapshot ${after.snapshotId} is still public (restore attribute has "all")`] : [];
  const now = new Set(after.restore);
  for (const v of before.restore) if (v !== PUBLIC_VALUE && !now.has(v)) problems.push(`account ${v} lost its permission to restore ${after.snapshotId}`);
  return problems;
}

/** 1-255 letters, digits and hyphens, starting with a letter; automated snapshots are "rds:<name>" (they cannot be shared). */
const SNAPSHOT_NAME = /^(?:(?:rds|awsbackup):)?[a-z][a-z0-9-]{0,254}$/;
/** arn:aws:rds:us-east-1:123456789012:snapshot:my-snapshot (cluster snapshots are "cluster-snapshot:", not this control's). */
const SNAPSHOT_ARN = /^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:(.+)$/;

/**
 * The DB snapshot identifier (RDS identifiers are case-insensitive and stored in lower case)
 * from an ARN or a plain identifier.
 */
export function rdsSnapshotIdOf(raw: string): string | undefined {
  const s = raw.trim();
  const id = (SNAPSHOT_ARN.exec(s)?.[1] ?? s).toLowerCase();
  return SNAPSHOT_NAME.test(id) && !id.endsWith('-') && !id.includes('--') ? id : undefined;
}

/** The account in an RDS ARN (arn:aws:rds:<region>:<account>:...). */
export function accountOfArn(arn: string | undefined): string | undefined {
  return arn?.split(':')[4];
}

function tagsOf(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) Object.defineProperty(out, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * The snapshot, when `account` owns it: snapshot identifiers are names within an account, so a
 * finding about another account must never act on a same-named snapshot of this one.
 */
async function describeSnapshot(rds: RDSClient, region: string, account: string, snapshotId: string): Promise<DBSnapshot> {
  const action = `DescribeDBSnapshots on ${snapshotId}`;
  const out = await awsCall(action, () => rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId })));
  const s = out.DBSnapshots?.find((x) => x.DBSnapshotIdentifier?.toLowerCase() === snapshotId.toLowerCase());
  if (!s) throw ApplicationFailure.create({ type: ErrorType.ResourceNotFound, message: `${action} failed: DB snapshot ${snapshotId} not found in ${region}`, nonRetryable: true });
  const owner = accountOfArn(s.DBSnapshotArn);
  if (owner !== account) {
    throw ApplicationFailure.create({ type: ErrorType.AccessDenied, message: `${action}: the snapshot belongs to account ${owner ?? 'unknown'}, not ${account}`, nonRetryable: true });
  }
  return s;
}

async function readRestore(rds: RDSClient, s: DBSnapshot): Promise<RdsSnapshotRestoreState> {
  const snapshotId = s.DBSnapshotIdentifier ?? '';
  const out = await awsCall(`DescribeDBSnapshotAttributes on ${snapshotId}`, () => rds.send(new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: snapshotId })));
  const values = (out.DBSnapshotAttributesResult?.DBSnapshotAttributes ?? []).filter((a) => a.AttributeName === RESTORE).flatMap((a) => a.AttributeValues ?? []);
  return {
    snapshotId,
    arn: s.DBSnapshotArn ?? '',
    snapshotType: s.SnapshotType ?? '',
    encrypted: s.Encrypted === true,
    restore: [...new Set(values)].sort(),
  };
}

/** Adds or removes exactly these values of the `restore` attribute; values not named stay as they are. */
async function modifyRestore(aws: AwsClients, region: string, snapshotId: string, op: 'add' | 'remove', values: readonly string[]): Promise<void> {
  await awsCall(`ModifyDBSnapshotAttribute restore ${op} ${values.join(', ')} on ${snapshotId}`, () =>
    aws.rds(region).send(
      new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: snapshotId, AttributeName: RESTORE, ...(op === 'add' ? { ValuesToAdd: [...values] } : { ValuesToRemove: [...values] }) }),
    ),
  );
}

function describeRestore(state: RdsSnapshotRestoreState): string {
  const accounts = state.restore.filter((v) => v !== PUBLIC_VALUE);
  const shared = accounts.length === 0 ? 'shared with no account' : `shared with ${accounts.length} account${accounts.length === 1 ? '' : 's'} (${accounts.join(', ')})`;
  return `${isPublicRdsSnapshot(state) ? 'PUBLIC (restorable by every AWS account)' : 'private'}; ${shared}`;
}

/**
 * ModifyDBSnapshotAttribute records log `requestParameters.{dBSnapshotIdentifier, attributeName,
 * valuesToAdd, valuesToRemove}` and the resulting `responseElements.dBSnapshotAttributes[]`
 * (Stratus Red Team's rds-share-snapshot detonation logs). Only `restore` with "all" added can make
 * a snapshot public.
 */
function fromModifyDBSnapshotAttribute(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const params = record['requestParameters'];
  if (typeof params !== 'object' || params === null) return { ignore: 'no requestParameters: no DB snapshot named' };
  const p = params as Record<string, unknown>;
  const raw = p['dBSnapshotIdentifier'];
  const id = typeof raw === 'string' ? rdsSnapshotIdOf(raw) : undefined;
  if (!id) return { ignore: 'requestParameters.dBSnapshotIdentifier is not a DB snapshot identifier' };
  if (typeof p['attributeName'] === 'string' && p['attributeName'] !== RESTORE) return { ignore: `changes the ${p['attributeName']} attribute, not restore` };
  const added = p['valuesToAdd'];
  if (Array.isArray(added) && !added.includes(PUBLIC_VALUE)) return { ignore: `does not add "${PUBLIC_VALUE}" to ${id}'s restore attribute` };
  if (added === undefined && p['valuesToRemove'] !== undefined) return { ignore: `only removes values from ${id}'s restore attribute` };
  return { resources: [{ id, title: `DB snapshot ${id} made restorable by every AWS account (ModifyDBSnapshotAttribute)` }] };
}

export const rdsSnapshotPublicCatalog: ControlCatalog = {
  resourceType: 'AwsRdsDbSnapshot',
  severity: Severity.Critical,
  securityHub: ['RDS.1'],
  configRules: ['rds-snapshots-public-prohibited'],
  // DB cluster snapshots (AWS::RDS::DBClusterSnapshot) are another API: their evaluations are not this control's.
  configResourceType: 'AWS::RDS::DBSnapshot',
  cloudTrail: [{ eventSource: 'rds.amazonaws.com', eventNames: ['ModifyDBSnapshotAttribute'] }],
  changes: 'Removes "all" from the DB snapshot\'s restore attribute (ModifyDBSnapshotAttribute ValuesToRemove); the accounts it is shared with keep their permission',
  defaultMode: 'auto',
  undo: 'exact: adds "all" back to the restore attribute',
  resourceIdHint: 'an RDS DB snapshot identifier or ARN (arn:aws:rds:<region>:<account>:snapshot:<name>); DB cluster snapshots are not covered',
  /** DB cluster snapshots (RDS.1 covers them too; ARN ...:cluster-snapshot:...) give undefined: another API, another resource type. */
  resourceId: rdsSnapshotIdOf,
  fromCloudTrail: fromModifyDBSnapshotAttribute,
};

export const rdsSnapshotPublic: Control<RdsSnapshotRestoreState, MakeRdsSnapshotPrivateChange> = {
  id: 'rds-snapshot-public' as ControlId,
  title: 'RDS DB snapshots must not be restorable by every AWS account',
  fixable: true,
  catalog: rdsSnapshotPublicCatalog,

  async read(aws, finding) {
    const rds = aws.rds(finding.region);
    const s = await describeSnapshot(rds, finding.region, finding.account, finding.resource.id);
    return { state: await readRestore(rds, s), tags: tagsOf(s.TagList) };
  },

  plan: (state) => planRdsSnapshotPrivate(state),

  /** Removes exactly the planned values: an account added meanwhile stays. Removing a value that is gone is a no-op. */
  async apply(aws, finding, change) {
    await describeSnapshot(aws.rds(finding.region), finding.region, finding.account, change.snapshotId);
    await modifyRestore(aws, finding.region, change.snapshotId, 'remove', change.remove);
  },

  check: (before, _change, after) => checkRdsSnapshotPrivate(before, after),

  /**
   * Adds back the removed values that are not there now: a value is sent once (moto 5.2.5 appends
   * a value that is already there a second time; AWS keeps the attribute a set).
   */
  async undo(aws, finding, _before, change) {
    const rds = aws.rds(finding.region);
    const now = await readRestore(rds, await describeSnapshot(rds, finding.region, finding.account, change.snapshotId));
    const missing = change.remove.filter((v) => !now.restore.includes(v));
    if (missing.length > 0) await modifyRestore(aws, finding.region, change.snapshotId, 'add', missing);
  },

  checkUndo: (_before, change, after) => change.remove.filter((v) => !after.restore.includes(v)).map((v) => `"${v}" not restored to ${after.snapshotId}'s restore attribute`),

  async tag(aws, finding, key, value) {
    const s = await describeSnapshot(aws.rds(finding.region), finding.region, finding.account, finding.resource.id);
    await awsCall(`AddTagsToResource on ${finding.resource.id}`, () =>
      aws.rds(finding.region).send(new AddTagsToResourceCommand({ ResourceName: s.DBSnapshotArn, Tags: [{ Key: key, Value: value }] })),
    );
  },

  /** The region's manual DB snapshots (only those can be shared), then each one's restore attribute. */
  async scanPage(aws, o) {
    const rds = aws.rds(o.region);
    const page = await nextPage(o.pageToken, o.pageSize, async (marker) => {
      const out = await awsCall(`DescribeDBSnapshots in ${o.region}`, () =>
        rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual', MaxRecords: clamp(o.pageSize, 20, 100), ...(marker ? { Marker: marker } : {}) })),
      );
      return { items: (out.DBSnapshots ?? []).filter((s) => s.DBSnapshotIdentifier && accountOfArn(s.DBSnapshotArn) === o.account), next: out.Marker };
    });
    const byId = new Map(page.items.map((s) => [s.DBSnapshotIdentifier!, s]));
    const judged = await judgeEach(
      [...byId.keys()],
      (id) => readRestore(rds, byId.get(id)!),
      (id, state) => (isPublicRdsSnapshot(state) ? { resourceId: id, title: `DB snapshot ${id} is restorable by every AWS account`, severity: Severity.Critical } : null),
    );
    return scanPageOf(page, judged);
  },

  describe: describeRestore,

  summarize: (change) =>
    `Make DB snapshot ${change.snapshotId} private (remove "${change.remove.join('", "')}" from its restore attribute)${change.keep.length ? `; it stays shared with ${change.keep.join(', ')}` : ''}`,
};
