import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotAttributesCommand,
  ListTagsForResourceCommand,
  ModifyDBInstanceCommand,
  ModifyDBSnapshotAttributeCommand,
} from '@aws-sdk/client-rds';
import type { Control, Violation } from '../../src/activities/controls/control.js';
import { rdsInstancePublic, type RdsInstancePublicState } from '../../src/activities/controls/rds-instance-public.js';
import { rdsSnapshotPublic, type RdsSnapshotRestoreState } from '../../src/activities/controls/rds-snapshot-public.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor, REGION } from '../helpers/fixtures.js';
import { testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const PARTNER = '210987654321';
const OTHER_PARTNER = '333344445555';

const snapshotFinding = (id: string, o: Partial<Finding> = {}) =>
  findingFor('rds-snapshot-public' as ControlId, id, { resource: { type: 'AwsRdsDbSnapshot' as ResourceType, id }, ...o });
const instanceFinding = (id: string, o: Partial<Finding> = {}) =>
  findingFor('rds-instance-public' as ControlId, id, { resource: { type: 'AwsRdsDbInstance' as ResourceType, id }, ...o });
const detail = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

async function makeInstance(o: { region?: string; public?: boolean; tags?: Record<string, string> } = {}): Promise<string> {
  const id = unique('db').toLowerCase();
  await aws.rds(o.region ?? REGION).send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: id,
      DBInstanceClass: 'db.t3.micro',
      Engine: 'postgres',
      AllocatedStorage: 20,
      MasterUsername: 'app',
      MasterUserPassword: 'Correct-Horse-Battery-9',
      PubliclyAccessible: o.public ?? false,
      ...(o.tags ? { Tags: Object.entries(o.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
    }),
  );
  return id;
}
async function liveInstance(id: string, region = REGION) {
  const out = await aws.rds(region).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
  return out.DBInstances![0]!;
}
/** A manual snapshot of a new instance, with these values in its restore attribute. */
async function makeSnapshot(o: { region?: string; restore?: string[]; tags?: Record<string, string> } = {}): Promise<string> {
  const region = o.region ?? REGION;
  const db = await makeInstance({ region });
  const id = unique('snap').toLowerCase();
  await aws.rds(region).send(
    new CreateDBSnapshotCommand({ DBInstanceIdentifier: db, DBSnapshotIdentifier: id, ...(o.tags ? { Tags: Object.entries(o.tags).map(([Key, Value]) => ({ Key, Value })) } : {}) }),
  );
  if (o.restore?.length) await aws.rds(region).send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: id, AttributeName: 'restore', ValuesToAdd: o.restore }));
  return id;
}
async function liveRestore(id: string, region = REGION): Promise<string[]> {
  const out = await aws.rds(region).send(new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: id }));
  return (out.DBSnapshotAttributesResult?.DBSnapshotAttributes ?? []).filter((a) => a.AttributeName === 'restore').flatMap((a) => a.AttributeValues ?? []).sort();
}

async function scanAll<St, C>(c: Control<St, C>, region: string, pageSize: number) {
  const violations: Violation[] = [];
  let pages = 0;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const page = await c.scanPage(aws, { account: ACCOUNT, region, settings: S, pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(pageSize);
    expect(page.unreadable).toBeUndefined();
    violations.push(...page.violations);
    scanned += page.scanned;
    pages++;
    pageToken = page.nextPageToken;
  } while (pageToken && pages < 1000);
  return { violations, pages, scanned };
}

describe('RDS snapshot public against moto', () => {
  const control = rdsSnapshotPublic;

  it('public: removes only "all", the fix holds and is safe to repeat, an account added meanwhile is kept, undo adds "all" back', async () => {
    const id = await makeSnapshot({ restore: [PARTNER, 'all'], tags: { team: 'data' } });
    const f = snapshotFinding(id);

    const { state: before, tags } = await control.read(aws, f);
    expect(before).toEqual({ snapshotId: id, arn: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${id}`, snapshotType: 'manual', encrypted: false, restore: [PARTNER, 'all'] });
    expect(tags).toEqual({ team: 'data' });
    expect(control.describe(before)).toBe(`PUBLIC (restorable by every AWS account); shared with 1 account (${PARTNER})`);

    const change = control.plan(before, S)!;
    expect(change).toEqual({ snapshotId: id, remove: ['all'], keep: [PARTNER] });
    expect(control.summarize(change, f)).toBe(`Make DB snapshot ${id} private (remove "all" from its restore attribute); it stays shared with ${PARTNER}`);
    expect(control.check(before, change, before, S)).toEqual([`DB snapshot ${id} is still public (restore attribute has "all")`]);

    await aws.rds(REGION).send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: id, AttributeName: 'restore', ValuesToAdd: [OTHER_PARTNER] }));

    await control.apply(aws, f, change);
    expect(await liveRestore(id)).toEqual([PARTNER, OTHER_PARTNER].sort());
    const { state: after } = await control.read(aws, f);
    expect(control.check(before, change, after, S)).toEqual([]);
    expect(control.plan(after, S)).toBeNull();
    await control.apply(aws, f, change);
    expect(await liveRestore(id)).toEqual([PARTNER, OTHER_PARTNER].sort());

    await control.undo(aws, f, before, change);
    const { state: undone } = await control.read(aws, f);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
    expect(await liveRestore(id)).toEqual([PARTNER, OTHER_PARTNER, 'all'].sort());
    await control.undo(aws, f, before, change);
    expect(await liveRestore(id)).toEqual([PARTNER, OTHER_PARTNER, 'all'].sort());
    expect(control.checkUndo(before, change, after)).toEqual([`"all" not restored to ${id}'s restore attribute`]);
  });

  it('check names an account that lost its permission', () => {
    const before: RdsSnapshotRestoreState = { snapshotId: 's1', arn: '', snapshotType: 'manual', encrypted: false, restore: [PARTNER, 'all'] };
    expect(control.check(before, control.plan(before, S)!, { ...before, restore: [] }, S)).toEqual([`account ${PARTNER} lost its permission to restore s1`]);
  });

  it('private, or shared only with named accounts: compliant', async () => {
    for (const restore of [[], [PARTNER]]) {
      const id = await makeSnapshot({ restore });
      const { state } = await control.read(aws, snapshotFinding(id));
      expect(state.restore).toEqual(restore);
      expect(control.plan(state, S)).toBeNull();
    }
  });

  it('tag writes the exemption tag on the snapshot', async () => {
    const id = await makeSnapshot({ tags: { team: 'data' } });
    await control.tag!(aws, snapshotFinding(id), 'rectify:exempt-until', '2031-01-01');
    const out = await aws.rds(REGION).send(new ListTagsForResourceCommand({ ResourceName: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${id}` }));
    expect(Object.fromEntries((out.TagList ?? []).map((t) => [t.Key, t.Value]))).toEqual({ team: 'data', 'rectify:exempt-until': '2031-01-01' });
  });

  it('a missing snapshot is a non-retryable ResourceNotFound; a finding about another account is refused', async () => {
    const missing = await failureOf(control.read(aws, snapshotFinding('no-such-snapshot-1')));
    expect(missing.type).toBe(ErrorType.ResourceNotFound);
    expect(missing.nonRetryable).toBe(true);
    const id = await makeSnapshot({ restore: ['all'] });
    const other = await failureOf(control.read(aws, snapshotFinding(id, { account: PARTNER })));
    expect(other.type).toBe(ErrorType.AccessDenied);
    expect(other.nonRetryable).toBe(true);
    const apply = await failureOf(control.apply(aws, snapshotFinding(id, { account: PARTNER }), { snapshotId: id, remove: ['all'], keep: [] }));
    expect(apply.type).toBe(ErrorType.AccessDenied);
    expect(await liveRestore(id)).toEqual(['all']);
  });

  it('scan finds exactly the public manual snapshots, across pages', async () => {
    const region = 'eu-north-1';
    const pub = [await makeSnapshot({ region, restore: ['all'] }), await makeSnapshot({ region, restore: [PARTNER, 'all'] }), await makeSnapshot({ region, restore: ['all'] })];
    const priv = [await makeSnapshot({ region }), await makeSnapshot({ region, restore: [PARTNER] })];
    const { violations, pages, scanned } = await scanAll(control, region, 2);
    const mine = new Set([...pub, ...priv]);
    expect(violations.filter((v) => mine.has(v.resourceId)).map((v) => v.resourceId).sort()).toEqual([...pub].sort());
    expect(scanned).toBeGreaterThanOrEqual(mine.size);
    expect(pages).toBeGreaterThan(1);
    for (const v of violations) expect(await liveRestore(v.resourceId, region)).toContain('all');
  });

  it('catalog facts', () => {
    expect(control.catalog).toMatchObject({
      resourceType: 'AwsRdsDbSnapshot',
      severity: 'CRITICAL',
      securityHub: ['RDS.1'],
      configRules: ['rds-snapshots-public-prohibited'],
      cloudTrail: [{ eventSource: 'rds.amazonaws.com', eventNames: ['ModifyDBSnapshotAttribute'] }],
      defaultMode: 'auto',
    });
  });

  it('resourceId takes identifiers and snapshot ARNs (in lower case), not cluster snapshots', () => {
    const c = control.catalog!;
    expect(c.resourceId('orders-db-final')).toBe('orders-db-final');
    expect(c.resourceId('Orders-DB-Final')).toBe('orders-db-final');
    expect(c.resourceId('arn:aws:rds:us-east-1:123456789012:snapshot:orders-db-final')).toBe('orders-db-final');
    expect(c.resourceId('arn:aws:rds:us-east-1:123456789012:snapshot:rds:orders-db-2026-11-23-04-00')).toBe('rds:orders-db-2026-11-23-04-00');
    for (const bad of ['arn:aws:rds:us-east-1:123456789012:cluster-snapshot:orders', 'arn:aws:rds:us-east-1:123456789012:db:orders', '1orders', 'orders-', 'or--ders', 'snap-0a1b2c3d4e5f60718'.replace('snap-', 'snap_'), '']) {
      expect(c.resourceId(bad), bad).toBeUndefined();
    }
  });

  it('fromCloudTrail: "all" added names the snapshot; an account added is ignored', () => {
    const c = control.catalog!;
    expect(c.fromCloudTrail(detail('cloudtrail-rds-modify-db-snapshot-attribute-public'))).toEqual({
      resources: [{ id: 'orders-db-final', title: 'DB snapshot orders-db-final made restorable by every AWS account (ModifyDBSnapshotAttribute)' }],
    });
    expect(c.fromCloudTrail(detail('cloudtrail-rds-modify-db-snapshot-attribute-share-account'))).toEqual({ ignore: 'does not add "all" to orders-db-final\'s restore attribute' });
    const d = detail('cloudtrail-rds-modify-db-snapshot-attribute-public');
    const params = d['requestParameters'] as Record<string, unknown>;
    expect(c.fromCloudTrail({ ...d, requestParameters: { dBSnapshotIdentifier: 'orders-db-final', attributeName: 'restore', valuesToRemove: ['all'] } })).toEqual({
      ignore: "only removes values from orders-db-final's restore attribute",
    });
    expect(c.fromCloudTrail({ ...d, requestParameters: { ...params, attributeName: 'other' } })).toEqual({ ignore: 'changes the other attribute, not restore' });
  });
});

describe('RDS instance public against moto', () => {
  const control = rdsInstancePublic;

  it('public: PubliclyAccessible false, the fix holds and is safe to repeat, a concurrent edit is kept, undo makes it public again', async () => {
    const id = await makeInstance({ public: true, tags: { team: 'orders' } });
    const f = instanceFinding(id);

    const { state: before, tags } = await control.read(aws, f);
    expect(before).toMatchObject({ dbInstanceIdentifier: id, arn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:${id}`, engine: 'postgres', publiclyAccessible: true });
    expect(before.dbiResourceId).toMatch(/^db-[A-Z0-9]+$/);
    expect(tags).toEqual({ team: 'orders' });
    expect(control.describe(before)).toBe(`PUBLICLY ACCESSIBLE; postgres, status ${before.status}`);

    const change = control.plan(before, S)!;
    expect(change).toEqual({ dbInstanceIdentifier: id, publiclyAccessible: false });
    expect(control.summarize(change, f)).toBe(`Make DB instance ${id} not publicly accessible (PubliclyAccessible=false, applied immediately)`);

    // Someone changes the backup retention between the plan and the fix.
    await aws.rds(REGION).send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: id, BackupRetentionPeriod: 9, ApplyImmediately: true }));

    await control.apply(aws, f, change);
    const live = await liveInstance(id);
    expect(live.PubliclyAccessible).toBe(false);
    expect(live.BackupRetentionPeriod).toBe(9);
    const { state: after } = await control.read(aws, f);
    expect(control.check(before, change, after, S)).toEqual([]);
    expect(control.plan(after, S)).toBeNull();
    await control.apply(aws, f, change);
    expect((await liveInstance(id)).PubliclyAccessible).toBe(false);

    await control.undo(aws, f, before, change);
    const { state: undone } = await control.read(aws, f);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
    expect((await liveInstance(id)).PubliclyAccessible).toBe(true);
    expect((await liveInstance(id)).BackupRetentionPeriod).toBe(9);
    await control.undo(aws, f, before, change);
    expect((await liveInstance(id)).PubliclyAccessible).toBe(true);
    expect(control.checkUndo(before, change, after)).toEqual([`DB instance ${id} is not publicly accessible (status ${after.status}), expected publicly accessible`]);
  });

  it('check is honest about a change RDS has not applied yet (PubliclyAccessible stays true while modifying)', () => {
    const s: RdsInstancePublicState = { dbInstanceIdentifier: 'orders-db', dbiResourceId: 'db-ABC', arn: '', engine: 'postgres', status: 'modifying', publiclyAccessible: true };
    const change = control.plan(s, S)!;
    expect(control.check(s, change, s, S)).toEqual(['DB instance orders-db is still publicly accessible (status modifying: the change may still be in progress)']);
    expect(control.check(s, change, { ...s, status: 'available' }, S)).toEqual(['DB instance orders-db is still publicly accessible (status available)']);
    expect(control.check(s, change, { ...s, publiclyAccessible: false }, S)).toEqual([]);
  });

  it('private: compliant', async () => {
    const id = await makeInstance({ public: false });
    const { state } = await control.read(aws, instanceFinding(id));
    expect(state.publiclyAccessible).toBe(false);
    expect(control.plan(state, S)).toBeNull();
  });

  it("AWS Config's resourceId (the DbiResourceId) is resolved to the instance", async () => {
    // moto gives every DB instance the same DbiResourceId: a region with one instance keeps it unique, as in AWS.
    const region = 'ap-southeast-3';
    const id = await makeInstance({ region, public: true });
    const dbi = (await liveInstance(id, region)).DbiResourceId!;
    expect(control.catalog!.resourceId(dbi)).toBe(dbi);
    const f = instanceFinding(dbi, { region });
    const { state } = await control.read(aws, f);
    expect(state).toMatchObject({ dbInstanceIdentifier: id, dbiResourceId: dbi, publiclyAccessible: true });
    const change = control.plan(state, S)!;
    expect(control.summarize(change, f)).toBe(`Make DB instance ${id} (${dbi}) not publicly accessible (PubliclyAccessible=false, applied immediately)`);
    await control.apply(aws, f, change);
    expect((await liveInstance(id, region)).PubliclyAccessible).toBe(false);
    await control.tag!(aws, f, 'rectify:exempt-until', '2031-01-01');
    const tags = await aws.rds(region).send(new ListTagsForResourceCommand({ ResourceName: `arn:aws:rds:${region}:${ACCOUNT}:db:${id}` }));
    expect(tags.TagList).toEqual([{ Key: 'rectify:exempt-until', Value: '2031-01-01' }]);
  });

  it('a missing instance is a non-retryable ResourceNotFound; a finding about another account is refused', async () => {
    for (const missing of ['no-such-db-1', 'db-ZZZZZZZZZZZZZZZZZZZZZZZZZZ']) {
      const f = await failureOf(control.read(aws, instanceFinding(missing)));
      expect(f.type).toBe(ErrorType.ResourceNotFound);
      expect(f.nonRetryable).toBe(true);
    }
    const id = await makeInstance({ public: true });
    const other = await failureOf(control.apply(aws, instanceFinding(id, { account: PARTNER }), { dbInstanceIdentifier: id, publiclyAccessible: false }));
    expect(other.type).toBe(ErrorType.AccessDenied);
    expect(other.message).toContain(`belongs to account ${ACCOUNT}, not ${PARTNER}`);
    expect((await liveInstance(id)).PubliclyAccessible).toBe(true);
  });

  it('scan finds exactly the publicly accessible instances, across pages', async () => {
    const region = 'eu-north-1';
    const pub = [await makeInstance({ region, public: true }), await makeInstance({ region, public: true }), await makeInstance({ region, public: true })];
    const priv = [await makeInstance({ region }), await makeInstance({ region })];
    const { violations, pages, scanned } = await scanAll(control, region, 2);
    const mine = new Set([...pub, ...priv]);
    expect(violations.filter((v) => mine.has(v.resourceId)).map((v) => v.resourceId).sort()).toEqual([...pub].sort());
    expect(scanned).toBeGreaterThanOrEqual(mine.size);
    expect(pages).toBeGreaterThan(1);
    for (const v of violations) expect((await liveInstance(v.resourceId, region)).PubliclyAccessible).toBe(true);
    expect(violations.find((v) => v.resourceId === pub[0])).toEqual({ resourceId: pub[0], title: `DB instance ${pub[0]} (postgres) is publicly accessible`, severity: 'CRITICAL' });
  });

  it('catalog facts', () => {
    expect(control.catalog).toMatchObject({
      resourceType: 'AwsRdsDbInstance',
      severity: 'CRITICAL',
      securityHub: ['RDS.2'],
      configRules: ['rds-instance-public-access-check'],
      cloudTrail: [
        {
          eventSource: 'rds.amazonaws.com',
          eventNames: ['CreateDBInstance', 'ModifyDBInstance', 'RestoreDBInstanceFromDBSnapshot', 'RestoreDBInstanceToPointInTime', 'RestoreDBInstanceFromS3', 'CreateDBInstanceReadReplica'],
        },
      ],
      defaultMode: 'approve',
    });
  });

  it('resourceId takes identifiers and ARNs (in lower case) and DbiResourceIds (as they are)', () => {
    const c = control.catalog!;
    expect(c.resourceId('orders-db')).toBe('orders-db');
    expect(c.resourceId('Orders-DB')).toBe('orders-db');
    expect(c.resourceId('arn:aws:rds:us-east-1:123456789012:db:Orders-DB')).toBe('orders-db');
    expect(c.resourceId('db-ABCDEFGHIJKLMNOPQRSTUVWXYZ')).toBe('db-ABCDEFGHIJKLMNOPQRSTUVWXYZ');
    expect(c.resourceId('db-orders')).toBe('db-orders');
    for (const bad of ['arn:aws:rds:us-east-1:123456789012:snapshot:orders', 'arn:aws:rds:us-east-1:123456789012:cluster:orders', '1orders', 'orders-', 'or--ders', 'a'.repeat(64), 'orders_db', '']) {
      expect(c.resourceId(bad), bad).toBeUndefined();
    }
  });

  it('fromCloudTrail: public creation, modification and restore name the instance; private ones and other changes are ignored', () => {
    const c = control.catalog!;
    expect(c.fromCloudTrail(detail('cloudtrail-rds-create-db-instance-public'))).toEqual({ resources: [{ id: 'orders-db', title: 'DB instance orders-db is publicly accessible (CreateDBInstance)' }] });
    // No PubliclyAccessible in the request: the response says what RDS chose.
    expect(c.fromCloudTrail(detail('cloudtrail-rds-create-db-instance-default-access'))).toEqual({ resources: [{ id: 'reports-db', title: 'DB instance reports-db is publicly accessible (CreateDBInstance)' }] });
    expect(c.fromCloudTrail(detail('cloudtrail-rds-create-db-instance-private'))).toEqual({ ignore: 'CreateDBInstance left billing-db not publicly accessible' });
    // The ModifyDBInstance response still shows the old value: the request decides.
    expect(c.fromCloudTrail(detail('cloudtrail-rds-modify-db-instance-public'))).toEqual({ resources: [{ id: 'orders-db', title: 'DB instance orders-db made publicly accessible (ModifyDBInstance)' }] });
    expect(c.fromCloudTrail(detail('cloudtrail-rds-modify-db-instance-private'))).toEqual({ ignore: 'ModifyDBInstance makes orders-db private' });
    expect(c.fromCloudTrail(detail('cloudtrail-rds-modify-db-instance-backup-window'))).toEqual({ ignore: 'ModifyDBInstance on orders-db does not change PubliclyAccessible' });
    expect(c.fromCloudTrail(detail('cloudtrail-rds-restore-db-instance-from-db-snapshot'))).toEqual({
      resources: [{ id: 'orders-restored', title: 'DB instance orders-restored is publicly accessible (RestoreDBInstanceFromDBSnapshot)' }],
    });
    // Without a response value, an absent request value proves nothing (the default depends on the VPC).
    const d = detail('cloudtrail-rds-create-db-instance-default-access');
    expect(c.fromCloudTrail({ ...d, responseElements: null })).toEqual({ resources: [{ id: 'reports-db', title: 'DB instance reports-db may be publicly accessible (CreateDBInstance)' }] });
    expect(c.fromCloudTrail({ ...d, requestParameters: {}, responseElements: null })).toEqual({ ignore: 'no DB instance identifier in the CreateDBInstance record' });
  });
});
