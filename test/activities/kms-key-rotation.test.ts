import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  TagResourceCommand,
  UpdateKeyDescriptionCommand,
  type CreateKeyCommandInput,
} from '@aws-sdk/client-kms';
import { randomUUID } from 'node:crypto';
import type { ScanPage, Violation } from '../../src/activities/controls/control.js';
import { kmsKeyId, kmsKeyRotation } from '../../src/activities/controls/kms-key-rotation.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor } from '../helpers/fixtures.js';
import { testAws } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const c = kmsKeyRotation;
const catalog = c.catalog!;

// A region few other test files use; the scan still looks only at this file's keys.
const REGION = 'eu-north-1';
const kms = aws.kms(REGION);
const finding = (keyId: string, region = REGION): Finding =>
  findingFor('kms-key-rotation' as ControlId, keyId, { region, resource: { type: 'AwsKmsKey' as ResourceType, id: keyId } });

async function makeKey(input: CreateKeyCommandInput = {}, region = REGION): Promise<string> {
  const out = await aws.kms(region).send(new CreateKeyCommand({ Description: `rectify test ${randomUUID().slice(0, 8)}`, ...input }));
  return out.KeyMetadata!.KeyId!;
}
const rotation = async (keyId: string) => (await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled;
const tagsOf = async (keyId: string) =>
  Object.fromEntries(((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags ?? []).map((t) => [t.TagKey, t.TagValue]));
const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

async function scanAll(o: { pageSize: number }) {
  const violations: Violation[] = [];
  let pages = 0;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const page: ScanPage = await c.scanPage(aws, { account: ACCOUNT, region: REGION, settings: S, pageSize: o.pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(o.pageSize);
    violations.push(...page.violations);
    scanned += page.scanned;
    pages++;
    pageToken = page.nextPageToken;
  } while (pageToken && pages < 1000);
  return { violations, pages, scanned };
}

describe('KMS key rotation against moto', () => {
  it('rotation off: plans exactly EnableKeyRotation, fix holds, a second apply changes nothing, undo turns it off again', async () => {
    const keyId = await makeKey({ Tags: [{ TagKey: 'team', TagValue: 'payments' }] });
    const { state: before, tags } = await c.read(aws, finding(keyId));
    expect(before).toEqual({
      keyId,
      arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`,
      keyManager: 'CUSTOMER',
      keySpec: 'SYMMETRIC_DEFAULT',
      origin: 'AWS_KMS',
      keyState: 'Enabled',
      rotationEnabled: false,
    });
    expect(tags).toEqual({ team: 'payments' });
    expect(c.describe(before)).toBe('automatic rotation OFF');
    const change = c.plan(before, S);
    expect(change).toEqual({ keyId, enableRotation: true });
    expect(c.summarize(change!, finding(keyId))).toBe(`Turn on automatic rotation (yearly) of KMS key ${keyId} in ${REGION}`);

    await c.apply(aws, finding(keyId), change!);
    expect(await rotation(keyId)).toBe(true);
    const { state: after } = await c.read(aws, finding(keyId));
    expect(c.check(before, change!, after, S)).toEqual([]);
    expect(c.plan(after, S)).toBeNull();
    expect(c.describe(after)).toBe('automatic rotation on');

    await c.apply(aws, finding(keyId), change!);
    expect((await c.read(aws, finding(keyId))).state).toEqual(after);

    await c.undo(aws, finding(keyId), before, change!);
    expect(await rotation(keyId)).toBe(false);
    const { state: undone } = await c.read(aws, finding(keyId));
    expect(undone).toEqual(before);
    expect(c.checkUndo(before, change!, undone)).toEqual([]);
    await c.undo(aws, finding(keyId), before, change!);
    expect(await rotation(keyId)).toBe(false);
    expect(await tagsOf(keyId)).toEqual({ team: 'payments' });
  });

  it('check and checkUndo name what does not hold', async () => {
    const keyId = await makeKey();
    const { state } = await c.read(aws, finding(keyId));
    const change = c.plan(state, S)!;
    expect(c.check(state, change, state, S)).toEqual([`automatic rotation of KMS key ${keyId} is still off`]);
    expect(c.checkUndo(state, change, { ...state, rotationEnabled: true })).toEqual([`automatic rotation of KMS key ${keyId} is on, expected off`]);
  });

  it('rotation already on: compliant', async () => {
    const keyId = await makeKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId }));
    const { state } = await c.read(aws, finding(keyId));
    expect(state.rotationEnabled).toBe(true);
    expect(c.plan(state, S)).toBeNull();
  });

  it('keys that cannot rotate automatically are out of scope, never violations', async () => {
    const cases: [CreateKeyCommandInput, string][] = [
      [{ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }, 'not in scope: a RSA_2048 key (automatic rotation exists only for symmetric encryption keys)'],
      [{ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }, 'not in scope: a HMAC_256 key (automatic rotation exists only for symmetric encryption keys)'],
      [{ Origin: 'EXTERNAL' }, 'not in scope: a key with imported key material (it cannot rotate automatically)'],
    ];
    for (const [input, description] of cases) {
      const keyId = await makeKey(input);
      const { state } = await c.read(aws, finding(keyId));
      expect(c.plan(state, S)).toBeNull();
      expect(state.rotationEnabled).toBeUndefined();
      expect(c.describe(state)).toBe(description);
    }
    const disabled = await makeKey();
    await kms.send(new DisableKeyCommand({ KeyId: disabled }));
    const { state: off } = await c.read(aws, finding(disabled));
    expect(c.plan(off, S)).toBeNull();
    expect(c.describe(off)).toBe('not in scope: a Disabled key (its rotation cannot be changed until it is enabled)');

    // A multi-Region replica: rotation is set on its primary, which is in scope.
    const primary = await makeKey({ MultiRegion: true });
    await kms.send(new ReplicateKeyCommand({ KeyId: primary, ReplicaRegion: 'eu-south-1' }));
    // The primary is read first: moto 5.2.5's ReplicateKey shares one MultiRegionConfiguration between
    // the primary and its replica (a shallow copy), and DescribeKey on the replica marks it REPLICA for both.
    const { state: primaryState } = await c.read(aws, finding(primary));
    expect(primaryState.multiRegionKeyType).toBe('PRIMARY');
    expect(c.plan(primaryState, S)).toEqual({ keyId: primary, enableRotation: true });
    const { state: replica } = await c.read(aws, finding(primary, 'eu-south-1'));
    expect(replica.multiRegionKeyType).toBe('REPLICA');
    expect(c.plan(replica, S)).toBeNull();
    expect(c.describe(replica)).toBe('not in scope: a multi-Region replica key (its rotation is set on the primary key)');
    // AWS managed keys (keyManager AWS) cannot be created in moto: the pure judgement.
    expect(c.plan({ ...primaryState, keyManager: 'AWS', rotationEnabled: false }, S)).toBeNull();
  });

  it('an edit between plan and apply (a tag, the description) is kept', async () => {
    const keyId = await makeKey({ Tags: [{ TagKey: 'team', TagValue: 'payments' }] });
    const { state } = await c.read(aws, finding(keyId));
    const change = c.plan(state, S)!;
    await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'owner', TagValue: 'jane' }] }));
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: keyId, Description: 'edited meanwhile' }));
    await c.apply(aws, finding(keyId), change);
    expect(await rotation(keyId)).toBe(true);
    expect(await tagsOf(keyId)).toEqual({ team: 'payments', owner: 'jane' });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Description).toBe('edited meanwhile');
  });

  it('marking exempt tags the key and keeps its other tags', async () => {
    const keyId = await makeKey({ Tags: [{ TagKey: 'team', TagValue: 'payments' }] });
    await c.tag!(aws, finding(keyId), 'rectify:exempt-until', '2031-01-01');
    expect(await tagsOf(keyId)).toEqual({ team: 'payments', 'rectify:exempt-until': '2031-01-01' });
  });

  it('an unknown key is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(c.read(aws, finding(randomUUID())));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('NotFoundException');
  });

  it('scan pages through the keys and reports exactly the symmetric customer keys without rotation', async () => {
    const violating = [await makeKey(), await makeKey()];
    const rotating = await makeKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: rotating }));
    const asymmetric = await makeKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    const disabled = await makeKey();
    await kms.send(new DisableKeyCommand({ KeyId: disabled }));
    const mine = new Set([...violating, rotating, asymmetric, disabled]);

    const { violations, pages, scanned } = await scanAll({ pageSize: 2 });
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(scanned).toBeGreaterThanOrEqual(5);
    const found = violations.filter((v) => mine.has(v.resourceId));
    expect(found.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(found.every((v) => v.severity === 'MEDIUM' && v.title === `KMS key ${v.resourceId} in ${REGION}: automatic key rotation is off`)).toBe(true);
    // Each key once, however the pages fell.
    expect(new Set(violations.map((v) => v.resourceId)).size).toBe(violations.length);
  });
});

describe('KMS key rotation catalog', () => {
  it('states its sources and what it changes', () => {
    expect(catalog).toMatchObject({
      resourceType: 'AwsKmsKey',
      severity: 'MEDIUM',
      securityHub: ['KMS.4'],
      configRules: ['cmk-backing-key-rotation-enabled'],
      cloudTrail: [{ eventSource: 'kms.amazonaws.com', eventNames: ['CreateKey', 'DisableKeyRotation'] }],
      defaultMode: 'auto',
    });
    expect(catalog.global).toBeUndefined();
  });

  it('resourceId takes key ids and key ARNs, nothing else', () => {
    const id = '1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(catalog.resourceId(id)).toBe(id);
    expect(catalog.resourceId(id.toUpperCase())).toBe(id);
    expect(catalog.resourceId(`arn:aws:kms:us-west-2:${ACCOUNT}:key/${id}`)).toBe(id);
    expect(catalog.resourceId(`arn:aws-cn:kms:cn-north-1:${ACCOUNT}:key/${id}`)).toBe(id);
    expect(catalog.resourceId('mrk-1234abcd12ab34cd56ef1234567890ab')).toBe('mrk-1234abcd12ab34cd56ef1234567890ab');
    expect(catalog.resourceId(`arn:aws:kms:us-west-2:${ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab`)).toBe('mrk-1234abcd12ab34cd56ef1234567890ab');
    for (const bad of ['alias/my-key', `arn:aws:kms:us-west-2:${ACCOUNT}:alias/my-key`, `arn:aws:s3:::${id}`, 'my-key', '', `${id}x`, `arn:aws:kms:us-west-2:${ACCOUNT}:key/not-a-key`]) {
      expect(catalog.resourceId(bad)).toBeUndefined();
    }
    expect(kmsKeyId(`arn:aws:iam::${ACCOUNT}:key/${id}`)).toBeUndefined();
  });

  it('fromCloudTrail: a new symmetric key is checked; an asymmetric one is ignored', () => {
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-kms-create-key'))).toEqual({
      resources: [{ id: '1234abcd-12ab-34cd-56ef-1234567890ab', title: 'KMS key 1234abcd-12ab-34cd-56ef-1234567890ab was created without automatic key rotation' }],
    });
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-kms-create-key-asymmetric'))).toEqual({
      ignore: 'the new key is a RSA_2048 key (automatic rotation exists only for symmetric encryption keys)',
    });
  });

  it('fromCloudTrail: DisableKeyRotation names the key from its ARN', () => {
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-kms-disable-key-rotation'))).toEqual({
      resources: [{ id: '1234abcd-12ab-34cd-56ef-1234567890ab', title: 'Automatic rotation of KMS key 1234abcd-12ab-34cd-56ef-1234567890ab was turned off' }],
    });
    // Only the resources list left: the key is still found.
    const record = fixture('cloudtrail-kms-disable-key-rotation');
    expect(catalog.fromCloudTrail!({ ...record, requestParameters: {} })).toMatchObject({ resources: [{ id: '1234abcd-12ab-34cd-56ef-1234567890ab' }] });
  });

  it('fromCloudTrail: imported key material and replicas are ignored; a record without a key names none', () => {
    const record = fixture('cloudtrail-kms-create-key');
    const meta = (record['responseElements'] as { keyMetadata: Record<string, unknown> }).keyMetadata;
    expect(catalog.fromCloudTrail!({ ...record, responseElements: { keyMetadata: { ...meta, origin: 'EXTERNAL', keyState: 'PendingImport' } } })).toEqual({
      ignore: 'the new key is a key with imported key material (it cannot rotate automatically)',
    });
    expect(
      catalog.fromCloudTrail!({ ...record, responseElements: { keyMetadata: { ...meta, multiRegion: true, multiRegionConfiguration: { multiRegionKeyType: 'REPLICA' } } } }),
    ).toEqual({ ignore: 'the new key is a multi-Region replica key (its rotation is set on the primary key)' });
    expect(catalog.fromCloudTrail!({ ...record, responseElements: null })).toEqual({ resources: [] });
  });
});
