import { AddTagsToResourceCommand, DescribeDBInstancesCommand, ModifyDBInstanceCommand, type DBInstance, type RDSClient } from '@aws-sdk/client-rds';
import { ApplicationFailure } from '@temporalio/common';
import { Severity, type ControlId } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control, ControlCatalog, Violation } from './control.js';
import { accountOfArn } from './rds-snapshot-public.js';
import { clamp, nextPage, scanPageOf } from './scan-util.js';

/** A DB instance's public accessibility (DescribeDBInstances). */
export interface RdsInstancePublicState {
  readonly dbInstanceIdentifier: string;
  /** The region-unique, immutable id AWS Config names the instance by ("db-" + 26 upper-case letters and digits). */
  readonly dbiResourceId: string;
  readonly arn: string;
  readonly engine: string;
  /** DBInstanceStatus: available, modifying, stopped... */
  readonly status: string;
  readonly publiclyAccessible: boolean;
}
export interface MakeRdsInstancePrivateChange {
  readonly dbInstanceIdentifier: string;
  /** The one setting changed, applied immediately (ApplyImmediately: true). */
  readonly publiclyAccessible: false;
}

export function planRdsInstancePrivate(state: RdsInstancePublicState): MakeRdsInstancePrivateChange | null {
  return state.publiclyAccessible ? { dbInstanceIdentifier: state.dbInstanceIdentifier, publiclyAccessible: false } : null;
}

/**
 * Problems with `after`. RDS applies PubliclyAccessible asynchronously: DescribeDBInstances keeps
 * answering true, with the instance "modifying", until the endpoint's DNS name resolves to the
 * private address (PendingModifiedValues has no field for it). Until then the fix does not hold.
 */
export function checkRdsInstancePrivate(after: RdsInstancePublicState): string[] {
  if (!after.publiclyAccessible) return [];
  const pending = after.status === 'modifying' ? ' (status modifying: the change may still be in progress)' : ` (status ${after.status || 'unknown'})`;
  return [`DB instance ${after.dbInstanceIdentifier} is still publicly accessible${pending}`];
}

/** "db-" and 26 upper-case letters and digits: identifiers are stored in lower case, so the case tells them apart. */
const DBI_RESOURCE_ID = /^db-[A-Z0-9]{16,32}$/;
/** 1-63 letters, digits and hyphens, starting with a letter, no trailing or double hyphen. */
const INSTANCE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
/** arn:aws:rds:us-east-1:123456789012:db:my-db */
const INSTANCE_ARN = /^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:db:([A-Za-z0-9-]+)$/;

export function isDbiResourceId(id: string): boolean {
  return DBI_RESOURCE_ID.test(id);
}

/**
 * The DB instance identifier (in lower case, as RDS stores it) from an ARN or a name; or, from AWS
 * Config (whose resourceId for AWS::RDS::DBInstance is the DbiResourceId), the DbiResourceId as it
 * is: `read` resolves it to the instance.
 */
export function rdsInstanceIdOf(raw: string): string | undefined {
  const s = raw.trim();
  if (isDbiResourceId(s)) return s;
  const id = (INSTANCE_ARN.exec(s)?.[1] ?? s).toLowerCase();
  return INSTANCE_NAME.test(id) && !id.endsWith('-') && !id.includes('--') ? id : undefined;
}

function tagsOf(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) Object.defineProperty(out, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
  return out;
}

export function instanceState(i: DBInstance): RdsInstancePublicState {
  return {
    dbInstanceIdentifier: i.DBInstanceIdentifier ?? '',
    dbiResourceId: i.DbiResourceId ?? '',
    arn: i.DBInstanceArn ?? '',
    engine: i.Engine ?? '',
    status: i.DBInstanceStatus ?? '',
    publiclyAccessible: i.PubliclyAccessible === true,
  };
}

/**
 * The instance a finding names, by identifier or by DbiResourceId, when `account` owns it
 * (identifiers are names within an account: a finding about another account must not act on a
 * same-named instance of this one).
 */
async function describeInstance(rds: RDSClient, region: string, account: string, id: string): Promise<DBInstance> {
  const byDbi = isDbiResourceId(id);
  const action = `DescribeDBInstances on ${id}`;
  const out = await awsCall(action, () =>
    rds.send(new DescribeDBInstancesCommand(byDbi ? { Filters: [{ Name: 'dbi-resource-id', Values: [id] }] } : { DBInstanceIdentifier: id })),
  );
  const found = (out.DBInstances ?? []).filter((i) => (byDbi ? i.DbiResourceId === id : i.DBInstanceIdentifier?.toLowerCase() === id.toLowerCase()));
  if (found.length === 0) {
    throw ApplicationFailure.create({ type: ErrorType.ResourceNotFound, message: `${action} failed: DB instance ${id} not found in ${region}`, nonRetryable: true });
  }
  if (found.length > 1) {
    // Not something AWS does (a DbiResourceId is unique in its region); moto gives every instance the same one.
    throw ApplicationFailure.create({
      type: ErrorType.InvalidAwsRequest,
      message: `${action}: ${found.length} DB instances answer to DbiResourceId ${id} (${found.map((i) => i.DBInstanceIdentifier).join(', ')})`,
      nonRetryable: true,
    });
  }
  const i = found[0]!;
  const owner = accountOfArn(i.DBInstanceArn);
  if (owner !== account) {
    throw ApplicationFailure.create({ type: ErrorType.AccessDenied, message: `${action}: the DB instance belongs to account ${owner ?? 'unknown'}, not ${account}`, nonRetryable: true });
  }
  return i;
}

/** Sets PubliclyAccessible, applied now rather than in the next maintenance window; nothing else is sent. */
async function setPubliclyAccessible(aws: AwsClients, region: string, dbInstanceIdentifier: string, value: boolean): Promise<void> {
  await awsCall(`ModifyDBInstance PubliclyAccessible=${value} on ${dbInstanceIdentifier}`, () =>
    aws.rds(region).send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: dbInstanceIdentifier, PubliclyAccessible: value, ApplyImmediately: true })),
  );
}

const INSTANCE_EVENTS = ['CreateDBInstance', 'ModifyDBInstance', 'RestoreDBInstanceFromDBSnapshot', 'RestoreDBInstanceToPointInTime', 'RestoreDBInstanceFromS3', 'CreateDBInstanceReadReplica'];

function boolOf(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  return undefined;
}

/**
 * RDS records log `requestParameters` and the resulting DBInstance in `responseElements` with
 * lower-camel names (dBInstanceIdentifier, publiclyAccessible, dbiResourceId, dBInstanceArn).
 * - ModifyDBInstance: the response still shows the setting before the change (it is applied
 *   asynchronously), so the request decides: publiclyAccessible true is a finding; false, or not
 *   sent (the setting is not touched), is ignored.
 * - CreateDBInstance, the restores and CreateDBInstanceReadReplica: the response's
 *   publiclyAccessible is the instance's setting (the default depends on the subnet group and the
 *   VPC, so an absent request value proves nothing); without one, the request's false is trusted.
 */
function fromInstanceEvent(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
  const req = obj(record['requestParameters']);
  const res = obj(record['responseElements']);
  const event = typeof record['eventName'] === 'string' ? record['eventName'] : 'the call';
  const rawId = [res['dBInstanceIdentifier'], req['dBInstanceIdentifier'], req['targetDBInstanceIdentifier']].find((v): v is string => typeof v === 'string');
  const id = rawId === undefined ? undefined : rdsInstanceIdOf(rawId);
  if (!id || isDbiResourceId(id)) return { ignore: `no DB instance identifier in the ${event} record` };
  const requested = boolOf(req['publiclyAccessible']);
  if (event === 'ModifyDBInstance') {
    if (requested === undefined) return { ignore: `ModifyDBInstance on ${id} does not change PubliclyAccessible` };
    if (!requested) return { ignore: `ModifyDBInstance makes ${id} private` };
    return { resources: [{ id, title: `DB instance ${id} made publicly accessible (ModifyDBInstance)` }] };
  }
  const result = boolOf(res['publiclyAccessible']) ?? requested;
  if (result === false) return { ignore: `${event} left ${id} not publicly accessible` };
  return { resources: [{ id, title: `DB instance ${id} ${result ? 'is' : 'may be'} publicly accessible (${event})` }] };
}

export const rdsInstancePublicCatalog: ControlCatalog = {
  resourceType: 'AwsRdsDbInstance',
  severity: Severity.Critical,
  securityHub: ['RDS.2'],
  configRules: ['rds-instance-public-access-check'],
  configResourceType: 'AWS::RDS::DBInstance',
  cloudTrail: [{ eventSource: 'rds.amazonaws.com', eventNames: INSTANCE_EVENTS }],
  changes: 'Sets PubliclyAccessible to false, applied immediately (ModifyDBInstance): the endpoint resolves to the private address; nothing else is changed',
  defaultMode: 'approve',
  undo: 'sets PubliclyAccessible back to true, applied immediately; the endpoint resolves to a public address again, which may not be the address it had before',
  resourceIdHint: 'an RDS DB instance identifier, its ARN (arn:aws:rds:<region>:<account>:db:<name>) or its DbiResourceId (db-...)',
  resourceId: rdsInstanceIdOf,
  fromCloudTrail: fromInstanceEvent,
};

export const rdsInstancePublic: Control<RdsInstancePublicState, MakeRdsInstancePrivateChange> = {
  id: 'rds-instance-public' as ControlId,
  title: 'RDS DB instances must not be publicly accessible',
  fixable: true,
  catalog: rdsInstancePublicCatalog,

  async read(aws, finding) {
    const i = await describeInstance(aws.rds(finding.region), finding.region, finding.account, finding.resource.id);
    return { state: instanceState(i), tags: tagsOf(i.TagList) };
  },

  plan: (state) => planRdsInstancePrivate(state),

  /**
   * Re-reads the instance (a DbiResourceId finding is resolved to the instance's current
   * identifier) and sends only PubliclyAccessible=false: every other setting, pending or not, is
   * left as it is. Sending it again while it applies is a no-op for RDS.
   */
  async apply(aws, finding) {
    const i = await describeInstance(aws.rds(finding.region), finding.region, finding.account, finding.resource.id);
    await setPubliclyAccessible(aws, finding.region, i.DBInstanceIdentifier ?? '', false);
  },

  check: (_before, _change, after) => checkRdsInstancePrivate(after),

  async undo(aws, finding, before) {
    if (!before.publiclyAccessible) return;
    const i = await describeInstance(aws.rds(finding.region), finding.region, finding.account, finding.resource.id);
    await setPubliclyAccessible(aws, finding.region, i.DBInstanceIdentifier ?? '', true);
  },

  checkUndo: (before, _change, after) =>
    after.publiclyAccessible === before.publiclyAccessible
      ? []
      : [`DB instance ${after.dbInstanceIdentifier} is ${after.publiclyAccessible ? '' : 'not '}publicly accessible (status ${after.status || 'unknown'}), expected ${before.publiclyAccessible ? '' : 'not '}publicly accessible`],

  async tag(aws, finding, key, value) {
    const i = await describeInstance(aws.rds(finding.region), finding.region, finding.account, finding.resource.id);
    await awsCall(`AddTagsToResource on ${i.DBInstanceIdentifier ?? finding.resource.id}`, () =>
      aws.rds(finding.region).send(new AddTagsToResourceCommand({ ResourceName: i.DBInstanceArn, Tags: [{ Key: key, Value: value }] })),
    );
  },

  /** DescribeDBInstances says all: one call per page, no per-instance reads. */
  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async (marker) => {
      const out = await awsCall(`DescribeDBInstances in ${o.region}`, () =>
        aws.rds(o.region).send(new DescribeDBInstancesCommand({ MaxRecords: clamp(o.pageSize, 20, 100), ...(marker ? { Marker: marker } : {}) })),
      );
      return { items: (out.DBInstances ?? []).filter((i) => i.DBInstanceIdentifier && accountOfArn(i.DBInstanceArn) === o.account), next: out.Marker };
    });
    const violations: Violation[] = page.items
      .map(instanceState)
      .filter((s) => s.publiclyAccessible)
      .map((s) => ({ resourceId: s.dbInstanceIdentifier, title: `DB instance ${s.dbInstanceIdentifier} (${s.engine || 'unknown engine'}) is publicly accessible`, severity: Severity.Critical }));
    return scanPageOf(page, { violations });
  },

  describe: (state) => `${state.publiclyAccessible ? 'PUBLICLY ACCESSIBLE' : 'not publicly accessible'}; ${state.engine || 'unknown engine'}, status ${state.status || 'unknown'}`,

  summarize: (change, finding) =>
    `Make DB instance ${change.dbInstanceIdentifier}${finding.resource.id !== change.dbInstanceIdentifier ? ` (${finding.resource.id})` : ''} not publicly accessible (PubliclyAccessible=false, applied immediately)`,
};
