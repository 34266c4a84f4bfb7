import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, ListAccessKeysCommand, ListUserTagsCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { ScanPage, Violation } from '../../src/activities/controls/control.js';
import {
  checkDeactivated,
  checkReactivated,
  iamAccessKeyStale,
  iamAccessKeyStaleSettings,
  type IamAccessKeysState,
} from '../../src/activities/controls/iam-access-key-stale.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import type { ControlSettings } from '../../src/policy/types.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor } from '../helpers/fixtures.js';
import { awsConfig, testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const iam = aws.iam();
const c = iamAccessKeyStale;
const catalog = c.catalog!;
const DAY = 86_400_000;

/** The policy's settings with this control's thresholds (the other controls' settings are there too, as in a real policy). */
const settings = (s: { maxKeyAgeDays?: number; maxUnusedDays?: number } = {}) => ({ ...DEFAULT_SETTINGS, ...s }) as ControlSettings;
const S = settings();
const finding = (userName: string, account = ACCOUNT): Finding =>
  findingFor('iam-access-key-stale' as ControlId, userName, { account, resource: { type: 'AwsIamUser' as ResourceType, id: userName } });
/** The state as read, judged `ms` later: moto creates keys now, and the age of a key is judged at the state's readAt. */
const later = (state: IamAccessKeysState, ms: number): IamAccessKeysState => ({ ...state, readAt: new Date(Date.parse(state.readAt) + ms).toISOString() });
const at = (state: IamAccessKeysState, iso: string, ms: number): IamAccessKeysState => ({ ...state, readAt: new Date(Date.parse(iso) + ms).toISOString() });

async function makeUser(o: { prefix?: string; tags?: Record<string, string> } = {}): Promise<string> {
  const userName = unique(o.prefix ?? 'keyuser');
  await iam.send(new CreateUserCommand({ UserName: userName, ...(o.tags ? { Tags: Object.entries(o.tags).map(([Key, Value]) => ({ Key, Value })) } : {}) }));
  return userName;
}
async function makeKey(userName: string, status: 'Active' | 'Inactive' = 'Active') {
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
  if (status === 'Inactive') await iam.send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: key.AccessKeyId!, Status: 'Inactive' }));
  return { id: key.AccessKeyId!, secret: key.SecretAccessKey! };
}
/** Signs one real request with the key: moto records it as the key's last use, as IAM does. */
async function useKey(key: { id: string; secret: string }) {
  const sts = new STSClient({ region: 'us-east-1', endpoint: awsConfig().endpointUrl!, credentials: { accessKeyId: key.id, secretAccessKey: key.secret } });
  try {
    await sts.send(new GetCallerIdentityCommand({}));
  } finally {
    sts.destroy();
  }
}
const statuses = async (userName: string) =>
  Object.fromEntries(((await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? []).map((k) => [k.AccessKeyId, k.Status]));
const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

async function scanAll(s: ControlSettings, pageSize: number) {
  const violations: Violation[] = [];
  let pages = 0;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const page: ScanPage = await c.scanPage(aws, { account: ACCOUNT, region: 'us-east-1', settings: s, pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(pageSize);
    violations.push(...page.violations);
    scanned += page.scanned;
    pages++;
    pageToken = page.nextPageToken;
  } while (pageToken && pages < 10_000);
  return { violations, pages, scanned };
}

describe('IAM access keys too old or unused, against moto', () => {
  it('new keys are compliant; judged 100 days on, exactly the active key is deactivated (never deleted), the fix holds, a second apply changes nothing, undo activates it again', async () => {
    const user = await makeUser({ tags: { team: 'payments' } });
    const active = await makeKey(user);
    const inactive = await makeKey(user, 'Inactive');
    const { state: read, tags } = await c.read(aws, finding(user));
    expect(tags).toEqual({ team: 'payments' });
    expect(read.userName).toBe(user);
    expect(Math.abs(Date.parse(read.readAt) - Date.now())).toBeLessThan(60_000);
    expect(read.keys.map((k) => [k.accessKeyId, k.status, k.lastUsedAt])).toEqual(
      [
        [active.id, 'Active', undefined],
        [inactive.id, 'Inactive', undefined],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    for (const k of read.keys) expect(Math.abs(Date.parse(k.createdAt) - Date.parse(read.readAt))).toBeLessThan(60_000);
    expect(c.plan(read, S)).toBeNull();

    const before = later(read, 100 * DAY);
    const createdAt = read.keys.find((k) => k.accessKeyId === active.id)!.createdAt;
    const change = c.plan(before, S);
    expect(change).toEqual({ userName: user, deactivate: [{ accessKeyId: active.id, createdAt }] });
    expect(c.summarize(change!, finding(user))).toBe(`Deactivate (not delete) access key ${active.id} (created ${createdAt.slice(0, 10)}, never used) of IAM user ${user}`);
    expect(c.describe(before)).toContain(`${active.id} active, 100 days old, never used`);

    await c.apply(aws, finding(user), change!);
    expect(await statuses(user)).toEqual({ [active.id]: 'Inactive', [inactive.id]: 'Inactive' });
    const { state: after } = await c.read(aws, finding(user));
    expect(c.check(before, change!, after, S)).toEqual([]);
    expect(c.plan(later(after, 100 * DAY), S)).toBeNull();

    await c.apply(aws, finding(user), change!);
    expect(await statuses(user)).toEqual({ [active.id]: 'Inactive', [inactive.id]: 'Inactive' });

    await c.undo(aws, finding(user), before, change!);
    expect(await statuses(user)).toEqual({ [active.id]: 'Active', [inactive.id]: 'Inactive' });
    const { state: undone } = await c.read(aws, finding(user));
    expect(undone.keys).toEqual(read.keys);
    expect(c.checkUndo(before, change!, undone)).toEqual([]);
    await c.undo(aws, finding(user), before, change!);
    expect(await statuses(user)).toEqual({ [active.id]: 'Active', [inactive.id]: 'Inactive' });
  });

  it('the thresholds: age counts from creation, disuse from the last use (or creation when never used), both at the time of the read', async () => {
    const user = await makeUser();
    const used = await makeKey(user);
    const unused = await makeKey(user);
    await sleep(2100);
    await useKey(used);
    const { state } = await c.read(aws, finding(user));
    const u = state.keys.find((k) => k.accessKeyId === used.id)!;
    const n = state.keys.find((k) => k.accessKeyId === unused.id)!;
    expect(u.lastUsedAt).toBeDefined();
    expect(n.lastUsedAt).toBeUndefined();
    expect(Date.parse(u.lastUsedAt!) - Date.parse(n.createdAt)).toBeGreaterThanOrEqual(1000);
    const ids = (s: IamAccessKeysState, t: { maxKeyAgeDays?: number; maxUnusedDays?: number }) => c.plan(s, settings(t))?.deactivate.map((d) => d.accessKeyId) ?? [];

    // Unused for more than a day: the never-used key is, the key used a day minus a millisecond ago is not.
    expect(ids(at(state, u.lastUsedAt!, DAY - 1), { maxKeyAgeDays: 365, maxUnusedDays: 1 })).toEqual([unused.id]);
    expect(ids(at(state, u.lastUsedAt!, DAY + 1), { maxKeyAgeDays: 365, maxUnusedDays: 1 }).sort()).toEqual([used.id, unused.id].sort());
    // Older than a day: use does not matter.
    expect(ids(at(state, u.createdAt, DAY), { maxKeyAgeDays: 1, maxUnusedDays: 365 }).filter((id) => id === used.id)).toEqual([]);
    expect(ids(at(state, u.createdAt, DAY + 1), { maxKeyAgeDays: 1, maxUnusedDays: 365 })).toContain(used.id);
    // Defaults: 90 days each.
    expect(ids(later(state, 89 * DAY), {})).toEqual([]);
    expect(ids(later(state, 91 * DAY), {}).sort()).toEqual([used.id, unused.id].sort());
    // 0: no active key is allowed.
    expect(ids(state, { maxKeyAgeDays: 0 }).sort()).toEqual([used.id, unused.id].sort());
  });

  it('an edit between plan and apply (another key activated, a new key) is kept: only the planned keys are touched', async () => {
    const user = await makeUser();
    const stale = await makeKey(user);
    const other = await makeKey(user, 'Inactive');
    const { state } = await c.read(aws, finding(user));
    const change = c.plan(later(state, 100 * DAY), S)!;
    expect(change.deactivate.map((d) => d.accessKeyId)).toEqual([stale.id]);
    await iam.send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: other.id, Status: 'Active' }));
    await c.apply(aws, finding(user), change);
    expect(await statuses(user)).toEqual({ [stale.id]: 'Inactive', [other.id]: 'Active' });
    const { state: after } = await c.read(aws, finding(user));
    expect(c.check(later(state, 100 * DAY), change, after, S)).toEqual([]);
  });

  it('check and checkUndo name what does not hold; a key deleted since cannot be activated again', async () => {
    const user = await makeUser();
    const a = await makeKey(user);
    const b = await makeKey(user);
    const { state } = await c.read(aws, finding(user));
    const change = { userName: user, deactivate: [{ accessKeyId: a.id, createdAt: state.keys[0]!.createdAt }] };
    expect(c.check(state, change, state, S)).toEqual([`access key ${a.id} of IAM user ${user} is still active`]);
    const overreach = { ...state, keys: state.keys.map((k) => ({ ...k, status: 'Inactive' })) };
    expect(checkDeactivated(state, change, overreach)).toEqual([`access key ${b.id} was not part of the fix but is now inactive`]);

    await c.apply(aws, finding(user), change);
    await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: a.id }));
    const { state: gone } = await c.read(aws, finding(user));
    expect(c.check(state, change, gone, S)).toEqual([]);
    await c.undo(aws, finding(user), state, change);
    const { state: undone } = await c.read(aws, finding(user));
    expect(c.checkUndo(state, change, undone)).toEqual([`access key ${a.id} of IAM user ${user} was deleted since: it cannot be activated again`]);
    expect(checkReactivated(change, overreach)).toEqual([`access key ${a.id} of IAM user ${user} is still inactive`]);
    expect(await statuses(user)).toEqual({ [b.id]: 'Active' });
  });

  it('no keys: compliant, nothing to describe', async () => {
    const user = await makeUser();
    const { state } = await c.read(aws, finding(user));
    expect(state.keys).toEqual([]);
    expect(c.plan(later(state, 1000 * DAY), S)).toBeNull();
    expect(c.describe(state)).toBe('no access keys');
  });

  it('marking exempt tags the user and keeps its other tags', async () => {
    const user = await makeUser({ tags: { team: 'payments' } });
    await c.tag!(aws, finding(user), 'rectify:exempt-until', '2031-01-01');
    const tags = await iam.send(new ListUserTagsCommand({ UserName: user }));
    expect(Object.fromEntries((tags.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({ team: 'payments', 'rectify:exempt-until': '2031-01-01' });
  });

  it('an unknown user is a non-retryable ResourceNotFound (IAM NoSuchEntity)', async () => {
    const f = await failureOf(c.read(aws, finding(unique('no-such-user'))));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('NoSuchEntity');
  });

  it('a finding about another account is a non-retryable AccessDenied and changes nothing in this one', async () => {
    const user = await makeUser();
    const key = await makeKey(user);
    const f = await failureOf(c.apply(aws, finding(user, '210987654321'), { userName: user, deactivate: [{ accessKeyId: key.id, createdAt: new Date().toISOString() }] }));
    expect(f.type).toBe(ErrorType.AccessDenied);
    expect(f.nonRetryable).toBe(true);
    expect(await statuses(user)).toEqual({ [key.id]: 'Active' });
  });

  it('scan pages through the users and reports exactly those with a stale active key', async () => {
    const prefix = unique('keyscan');
    const one = await makeUser({ prefix });
    const oneKey = await makeKey(one);
    const two = await makeUser({ prefix });
    await makeKey(two);
    await makeKey(two, 'Inactive');
    const inactiveOnly = await makeUser({ prefix });
    await makeKey(inactiveOnly, 'Inactive');
    await makeUser({ prefix });

    // maxKeyAgeDays 0 (no active key allowed): the active keys moto just created are all too old.
    const strict = await scanAll(settings({ maxKeyAgeDays: 0 }), 2);
    expect(strict.pages).toBeGreaterThanOrEqual(3);
    expect(strict.scanned).toBeGreaterThanOrEqual(4);
    const mine = strict.violations.filter((v) => v.resourceId.startsWith(prefix));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([one, two].sort());
    expect(mine.find((v) => v.resourceId === one)).toEqual({ resourceId: one, title: `IAM user ${one}: active access key ${oneKey.id} 0 days old (limit 0)`, severity: 'MEDIUM' });
    expect(new Set(strict.violations.map((v) => v.resourceId)).size).toBe(strict.violations.length);

    // The default 90 days: new keys are fine.
    const lenient = await scanAll(S, 3);
    expect(lenient.violations.filter((v) => v.resourceId.startsWith(prefix))).toEqual([]);
  });
});

describe('IAM access key catalog and settings', () => {
  it('states its sources and what it changes', () => {
    expect(catalog).toMatchObject({
      resourceType: 'AwsIamUser',
      global: true,
      severity: 'MEDIUM',
      securityHub: ['IAM.3', 'IAM.8'],
      configRules: ['access-keys-rotated', 'iam-user-unused-credentials-check'],
      cloudTrail: [{ eventSource: 'iam.amazonaws.com', eventNames: ['CreateAccessKey', 'UpdateAccessKey'] }],
      defaultMode: 'approve',
    });
  });

  it('settings: 90 days each by default, integers from 0 to 3650, other controls\u2019 settings stripped', () => {
    expect(iamAccessKeyStaleSettings.parse(DEFAULT_SETTINGS)).toEqual({ maxKeyAgeDays: 90, maxUnusedDays: 90 });
    expect(iamAccessKeyStaleSettings.parse({ maxKeyAgeDays: 30, ports: [22] })).toEqual({ maxKeyAgeDays: 30, maxUnusedDays: 90 });
    for (const bad of [{ maxKeyAgeDays: -1 }, { maxUnusedDays: 1.5 }, { maxKeyAgeDays: 3651 }, { maxUnusedDays: '90' }]) {
      expect(iamAccessKeyStaleSettings.safeParse(bad).success).toBe(false);
    }
  });

  it('resourceId takes user names and user ARNs', () => {
    expect(catalog.resourceId('jane.doe@example.com')).toBe('jane.doe@example.com');
    expect(catalog.resourceId(`arn:aws:iam::${ACCOUNT}:user/jane`)).toBe('jane');
    expect(catalog.resourceId(`arn:aws:iam::${ACCOUNT}:user/division/team/jane`)).toBe('jane');
    for (const bad of ['', 'a'.repeat(65), 'jane doe', `arn:aws:iam::${ACCOUNT}:role/jane`, `arn:aws:s3:::jane`]) expect(catalog.resourceId(bad)).toBeUndefined();
  });

  it('fromCloudTrail: a new key has the user checked', () => {
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-iam-create-access-key'))).toEqual({
      resources: [{ id: 'svc-reporting', title: "IAM user svc-reporting got a new access key AKIAEXAMPLENEWKEY001; the user's other keys must be checked for age and use" }],
    });
  });

  it('fromCloudTrail: a key activated again is checked, a key deactivated is ignored', () => {
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-iam-update-access-key-active'))).toEqual({
      resources: [{ id: 'svc-reporting', title: 'Access key AKIAEXAMPLEOLDKEY002 of IAM user svc-reporting was activated' }],
    });
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-iam-update-access-key-inactive'))).toEqual({ ignore: 'an access key was deactivated (an inactive key never violates)' });
  });

  it("fromCloudTrail: without a userName the key is the caller's own; the root user's keys are not an IAM user's", () => {
    const own = fixture('cloudtrail-iam-update-access-key-own');
    expect(catalog.fromCloudTrail!(own)).toEqual({ resources: [{ id: 'Alice', title: 'Access key AKIAEXAMPLEOLDKEY003 of IAM user Alice was activated' }] });
    expect(catalog.fromCloudTrail!({ ...own, userIdentity: { type: 'Root', arn: `arn:aws:iam::${ACCOUNT}:root`, accountId: ACCOUNT } })).toEqual({
      ignore: "the root user's own access key (not an IAM user's)",
    });
  });
});
