import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateSnapshotCommand, CreateVolumeCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand, ModifySnapshotAttributeCommand } from '@aws-sdk/client-ec2';
import type { Control, Violation } from '../../src/activities/controls/control.js';
import { ec2EbsSnapshotPublic, type EbsSnapshotPermissionsState, type MakeSnapshotPrivateChange } from '../../src/activities/controls/ec2-ebs-snapshot-public.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor, REGION } from '../helpers/fixtures.js';
import { testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const control = ec2EbsSnapshotPublic;
const catalog = control.catalog!;
const PARTNER = '210987654321';
const OTHER_PARTNER = '333344445555';

const finding = (snapshotId: string, o: Partial<Finding> = {}) =>
  findingFor('ec2-ebs-snapshot-public' as ControlId, snapshotId, { resource: { type: 'AwsEc2Snapshot' as ResourceType, id: snapshotId }, ...o });
const detail = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

/** A completed snapshot of a new 1 GiB volume, shared with `userIds` and public when asked. */
async function makeSnapshot(o: { region?: string; public?: boolean; userIds?: string[]; tags?: Record<string, string> } = {}): Promise<string> {
  const region = o.region ?? REGION;
  const ec2 = aws.ec2(region);
  const vol = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${region}a`, Size: 1 }));
  const tags = Object.entries(o.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  const snap = await ec2.send(
    new CreateSnapshotCommand({ VolumeId: vol.VolumeId!, Description: unique('test'), ...(tags.length ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }] } : {}) }),
  );
  const id = snap.SnapshotId!;
  if (o.userIds?.length) await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: o.userIds }));
  if (o.public) await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'add', GroupNames: ['all'] }));
  return id;
}
async function livePermissions(id: string, region = REGION) {
  const out = await aws.ec2(region).send(new DescribeSnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission' }));
  const perms = out.CreateVolumePermissions ?? [];
  return { groups: perms.flatMap((p) => (p.Group ? [p.Group] : [])).sort(), userIds: perms.flatMap((p) => (p.UserId ? [p.UserId] : [])).sort() };
}

/** Every page of the control's scan in `region`. */
async function scanAll<S, C>(c: Control<S, C>, region: string, pageSize: number) {
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

describe('EBS snapshot public against moto', () => {
  it('public: removes only the "all" group, the fix holds and is safe to repeat, a share added meanwhile is kept, undo adds "all" back', async () => {
    const id = await makeSnapshot({ public: true, userIds: [PARTNER], tags: { team: 'data' } });
    const f = finding(id);

    const { state: before, tags } = await control.read(aws, f);
    expect(before).toEqual({ snapshotId: id, ownerId: ACCOUNT, encrypted: false, groups: ['all'], userIds: [PARTNER] });
    expect(tags).toEqual({ team: 'data' });
    expect(control.describe(before)).toBe(`PUBLIC (restorable by every AWS account); shared with 1 account (${PARTNER})`);

    const change = control.plan(before, S)!;
    expect(change).toEqual({ snapshotId: id, removeGroups: ['all'], keepUserIds: [PARTNER] });
    expect(control.summarize(change, f)).toBe(`Make EBS snapshot ${id} private (remove create volume permission group all); it stays shared with ${PARTNER}`);
    expect(control.check(before, change, before, S)).toEqual([`snapshot ${id} is still public (createVolumePermission group all)`]);

    // Someone shares it with another account between the plan and the fix.
    await aws.ec2(REGION).send(new ModifySnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [OTHER_PARTNER] }));

    await control.apply(aws, f, change);
    expect(await livePermissions(id)).toEqual({ groups: [], userIds: [PARTNER, OTHER_PARTNER].sort() });
    const { state: after } = await control.read(aws, f);
    expect(control.check(before, change, after, S)).toEqual([]);
    expect(control.plan(after, S)).toBeNull();

    // Again: removing a group that is gone changes nothing.
    await control.apply(aws, f, change);
    expect(await livePermissions(id)).toEqual({ groups: [], userIds: [PARTNER, OTHER_PARTNER].sort() });

    await control.undo(aws, f, before, change);
    const { state: undone } = await control.read(aws, f);
    expect(undone.groups).toEqual(['all']);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
    expect(await livePermissions(id)).toEqual({ groups: ['all'], userIds: [PARTNER, OTHER_PARTNER].sort() });
    await control.undo(aws, f, before, change);
    expect(await livePermissions(id)).toEqual({ groups: ['all'], userIds: [PARTNER, OTHER_PARTNER].sort() });
    expect(control.checkUndo(before, change, after)).toEqual([`group all not restored on ${id}`]);
  });

  it('check names an account that lost its permission', () => {
    const before: EbsSnapshotPermissionsState = { snapshotId: 'snap-0a1b2c3d', ownerId: ACCOUNT, encrypted: false, groups: ['all'], userIds: [PARTNER] };
    const change: MakeSnapshotPrivateChange = { snapshotId: 'snap-0a1b2c3d', removeGroups: ['all'], keepUserIds: [PARTNER] };
    expect(control.check(before, change, { ...before, groups: [], userIds: [] }, S)).toEqual([`account ${PARTNER} lost its create volume permission`]);
  });

  it('private, or shared only with named accounts: compliant', async () => {
    for (const userIds of [[], [PARTNER]]) {
      const id = await makeSnapshot({ userIds });
      const { state } = await control.read(aws, finding(id));
      expect(state.groups).toEqual([]);
      expect(control.plan(state, S)).toBeNull();
    }
  });

  it('tag writes the exemption tag on the snapshot', async () => {
    const id = await makeSnapshot({ tags: { team: 'data' } });
    await control.tag!(aws, finding(id), 'rectify:exempt-until', '2031-01-01');
    const out = await aws.ec2(REGION).send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }));
    expect(Object.fromEntries((out.Snapshots![0]!.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({ team: 'data', 'rectify:exempt-until': '2031-01-01' });
  });

  it('a missing snapshot is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(control.read(aws, finding('snap-0123456789abcdef0')));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });

  it("a finding about another account is refused: the snapshot is not that account's", async () => {
    const id = await makeSnapshot({ public: true });
    const f = await failureOf(control.read(aws, finding(id, { account: PARTNER })));
    expect(f.type).toBe(ErrorType.AccessDenied);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain(`belongs to account ${ACCOUNT}, not ${PARTNER}`);
  });

  it('scan finds exactly the public snapshots, across pages', async () => {
    const region = 'eu-west-3';
    const pub = [await makeSnapshot({ region, public: true }), await makeSnapshot({ region, public: true, userIds: [PARTNER] }), await makeSnapshot({ region, public: true })];
    const priv = [await makeSnapshot({ region }), await makeSnapshot({ region, userIds: [PARTNER] })];
    const { violations, pages, scanned } = await scanAll(control, region, 2);
    const mine = new Set([...pub, ...priv]);
    expect(violations.filter((v) => mine.has(v.resourceId)).map((v) => v.resourceId).sort()).toEqual([...pub].sort());
    expect(scanned).toBeGreaterThanOrEqual(mine.size);
    expect(pages).toBeGreaterThan(1);
    for (const v of violations) expect((await livePermissions(v.resourceId, region)).groups).toEqual(['all']);
    expect(violations[0]).toMatchObject({ severity: 'CRITICAL', title: expect.stringContaining('restorable by every AWS account') });
  });
});

describe('EBS snapshot public catalog', () => {
  it('facts', () => {
    expect(catalog).toMatchObject({
      resourceType: 'AwsEc2Snapshot',
      severity: 'CRITICAL',
      securityHub: ['EC2.1'],
      configRules: ['ebs-snapshot-public-restorable-check'],
      cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['ModifySnapshotAttribute'] }],
      defaultMode: 'auto',
    });
  });

  it('resourceId takes snapshot ids and ARNs, nothing else', () => {
    expect(catalog.resourceId('snap-0a1b2c3d4e5f60718')).toBe('snap-0a1b2c3d4e5f60718');
    expect(catalog.resourceId(' snap-0a1b2c3d ')).toBe('snap-0a1b2c3d');
    expect(catalog.resourceId('SNAP-0A1B2C3D4E5F60718')).toBe('snap-0a1b2c3d4e5f60718');
    expect(catalog.resourceId('arn:aws:ec2:us-east-1::snapshot/snap-0a1b2c3d4e5f60718')).toBe('snap-0a1b2c3d4e5f60718');
    expect(catalog.resourceId('arn:aws:ec2:eu-west-1:123456789012:snapshot/snap-0a1b2c3d4e5f60718')).toBe('snap-0a1b2c3d4e5f60718');
    expect(catalog.resourceId('arn:aws-us-gov:ec2:us-gov-west-1::snapshot/snap-0a1b2c3d')).toBe('snap-0a1b2c3d');
    for (const bad of ['AWS::::Account:123456789012', '123456789012', 'vol-0a1b2c3d4e5f60718', 'snap-xyz', 'snap-0a1b2c3d4e', 'arn:aws:ec2:us-east-1::volume/vol-0a1b2c3d', 'arn:aws:rds:us-east-1:123456789012:snapshot:x', '']) {
      expect(catalog.resourceId(bad), bad).toBeUndefined();
    }
  });

  it('fromCloudTrail: adding the "all" group names the snapshot; sharing with an account or removing is ignored', () => {
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-modify-snapshot-attribute-public'))).toEqual({
      resources: [{ id: 'snap-0a1b2c3d4e5f60718', title: 'EBS snapshot snap-0a1b2c3d4e5f60718 made restorable by every AWS account (ModifySnapshotAttribute)' }],
    });
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-modify-snapshot-attribute-share-account'))).toEqual({
      ignore: 'does not add the "all" group to snap-0a1b2c3d4e5f60718\'s create volume permissions',
    });
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-modify-snapshot-attribute-remove-public'))).toEqual({
      ignore: 'does not add the "all" group to snap-0a1b2c3d4e5f60718\'s create volume permissions',
    });
  });

  it('fromCloudTrail: a record whose permissions cannot be read is checked; a product-codes change is not', () => {
    const d = detail('cloudtrail-ec2-modify-snapshot-attribute-public');
    const params = d['requestParameters'] as Record<string, unknown>;
    expect(catalog.fromCloudTrail({ ...d, requestParameters: { snapshotId: params['snapshotId'] } })).toMatchObject({ resources: [{ id: 'snap-0a1b2c3d4e5f60718' }] });
    expect(catalog.fromCloudTrail({ ...d, requestParameters: { ...params, attributeType: 'PRODUCT_CODES' } })).toEqual({ ignore: 'changes PRODUCT_CODES, not the create volume permissions' });
    expect(catalog.fromCloudTrail({ ...d, requestParameters: { ...params, snapshotId: 'vol-1' } })).toHaveProperty('ignore');
  });
});
