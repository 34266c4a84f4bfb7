import {
  GetAccessKeyLastUsedCommand,
  GetUserCommand,
  ListAccessKeysCommand,
  ListUsersCommand,
  TagUserCommand,
  UpdateAccessKeyCommand,
  type AccessKeyMetadata,
} from '@aws-sdk/client-iam';
import { z } from 'zod';
import { Severity, type ControlId } from '../../findings/finding.js';
import { getOwn, getPath } from '../../findings/validate.js';
import type { ControlSettings } from '../../policy/types.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import { assertAccount } from './account.js';
import type { Control, ControlCatalog, Violation } from './control.js';
import { iamUserName } from './resource-ids.js';
import { clamp, judgeEach, nextPage, scanPageOf } from './scan-util.js';

/**
 * IAM.3 (access-keys-rotated: active keys older than maxAccessKeyAge, 90 days) and IAM.8
 * (iam-user-unused-credentials-check: passwords or active keys unused for maxCredentialUsageAge,
 * 90 days), for access keys: an active key violates when it is older than `maxKeyAgeDays`, or when
 * it was last used (never used: created) more than `maxUnusedDays` ago. The fix deactivates exactly
 * those keys (UpdateAccessKey Status=Inactive), never deletes them, so undo can activate them again.
 * Console passwords, also covered by IAM.8, are not touched.
 *
 * Ages are judged at the time the keys were read (`readAt`, recorded by the read), so `plan` stays
 * pure: the same state always yields the same change.
 */

/** The policy's thresholds for this control (defaults: Security Hub's 90 days). 0 allows no active key at all. */
export const iamAccessKeyStaleSettings = z.object({
  maxKeyAgeDays: z.number().int().min(0).max(3650).default(90),
  maxUnusedDays: z.number().int().min(0).max(3650).default(90),
});
export type IamAccessKeyStaleSettings = z.infer<typeof iamAccessKeyStaleSettings>;

export function accessKeySettings(settings: ControlSettings | undefined): IamAccessKeyStaleSettings {
  return iamAccessKeyStaleSettings.parse(settings ?? {});
}

export interface AccessKeyFacts {
  readonly accessKeyId: string;
  /** Active or Inactive. */
  readonly status: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601; absent when the key was never used (GetAccessKeyLastUsed gives no LastUsedDate). */
  readonly lastUsedAt?: string;
}
export interface IamAccessKeysState {
  readonly userName: string;
  /** When the keys were read (ISO 8601): the time ages are judged at. */
  readonly readAt: string;
  readonly keys: readonly AccessKeyFacts[];
}
/** The keys to deactivate, with the facts that made them stale (no durations: the change must not depend on when it is planned). */
export interface DeactivateAccessKeysChange {
  readonly userName: string;
  readonly deactivate: readonly { readonly accessKeyId: string; readonly createdAt: string; readonly lastUsedAt?: string }[];
}

const DAY_MS = 86_400_000;

/** Why `key` is stale at `now` under `s` (empty: it is not), in words. */
export function staleReasons(key: AccessKeyFacts, now: number, s: IamAccessKeyStaleSettings): string[] {
  if (key.status !== 'Active') return [];
  const reasons: string[] = [];
  const age = now - Date.parse(key.createdAt);
  if (age > s.maxKeyAgeDays * DAY_MS) reasons.push(`${days(age)} old (limit ${s.maxKeyAgeDays})`);
  const idle = now - Date.parse(key.lastUsedAt ?? key.createdAt);
  if (idle > s.maxUnusedDays * DAY_MS) reasons.push(`${key.lastUsedAt ? `unused for ${days(idle)}` : `never used (created ${days(idle)} ago)`} (limit ${s.maxUnusedDays})`);
  return reasons;
}

function days(ms: number): string {
  const d = Math.floor(ms / DAY_MS);
  return `${d} day${d === 1 ? '' : 's'}`;
}

export function planDeactivate(state: IamAccessKeysState, s: IamAccessKeyStaleSettings): DeactivateAccessKeysChange | null {
  const now = Date.parse(state.readAt);
  const deactivate = state.keys
    .filter((k) => staleReasons(k, now, s).length > 0)
    .map((k) => ({ accessKeyId: k.accessKeyId, createdAt: k.createdAt, ...(k.lastUsedAt ? { lastUsedAt: k.lastUsedAt } : {}) }))
    .sort((a, b) => a.accessKeyId.localeCompare(b.accessKeyId));
  return deactivate.length === 0 ? null : { userName: state.userName, deactivate };
}

/** Problems with `after` as the result of `change`: a planned key still active, or a key the fix was not to touch made inactive. */
export function checkDeactivated(before: IamAccessKeysState, change: DeactivateAccessKeysChange, after: IamAccessKeysState): string[] {
  const planned = new Set(change.deactivate.map((d) => d.accessKeyId));
  const now = new Map(after.keys.map((k) => [k.accessKeyId, k]));
  const problems: string[] = [];
  // A planned key deleted since is no risk any more: only one still active is a problem.
  for (const id of planned) if (now.get(id)?.status === 'Active') problems.push(`access key ${id} of IAM user ${change.userName} is still active`);
  for (const k of before.keys) {
    if (k.status === 'Active' && !planned.has(k.accessKeyId) && now.has(k.accessKeyId) && now.get(k.accessKeyId)?.status !== 'Active') {
      problems.push(`access key ${k.accessKeyId} was not part of the fix but is now inactive`);
    }
  }
  return problems;
}

/** Problems with `after` as the undo of `change`: every deactivated key must be active again; a key deleted since cannot be. */
export function checkReactivated(change: DeactivateAccessKeysChange, after: IamAccessKeysState): string[] {
  const now = new Map(after.keys.map((k) => [k.accessKeyId, k]));
  return change.deactivate.flatMap((d) => {
    const k = now.get(d.accessKeyId);
    if (!k) return [`access key ${d.accessKeyId} of IAM user ${change.userName} was deleted since: it cannot be activated again`];
    return k.status === 'Active' ? [] : [`access key ${d.accessKeyId} of IAM user ${change.userName} is still inactive`];
  });
}

const isNoSuchEntity = (err: unknown) => {
  const code = awsErrorCode(err);
  return code === 'NoSuchEntity' || code === 'NoSuchEntityException';
};

async function listKeys(aws: AwsClients, userName: string): Promise<AccessKeyMetadata[]> {
  const keys: AccessKeyMetadata[] = [];
  let marker: string | undefined;
  do {
    const out = await awsCall(`ListAccessKeys for ${userName}`, () => aws.iam().send(new ListAccessKeysCommand({ UserName: userName, ...(marker ? { Marker: marker } : {}) })));
    keys.push(...(out.AccessKeyMetadata ?? []));
    marker = out.IsTruncated ? out.Marker : undefined;
  } while (marker);
  return keys;
}

/** The user's access keys with their creation and last use, and the time they were read. */
export async function readAccessKeys(aws: AwsClients, userName: string): Promise<IamAccessKeysState> {
  const listed = await listKeys(aws, userName);
  const keys = await Promise.all(
    listed.map(async (k): Promise<AccessKeyFacts | null> => {
      const id = k.AccessKeyId ?? '';
      const lastUsed = await awsCall(`GetAccessKeyLastUsed ${id}`, async () => {
        try {
          return await aws.iam().send(new GetAccessKeyLastUsedCommand({ AccessKeyId: id }));
        } catch (err) {
          if (isNoSuchEntity(err)) return null; // deleted since it was listed
          throw err;
        }
      });
      if (lastUsed === null || !k.AccessKeyId) return null;
      const used = lastUsed.AccessKeyLastUsed?.LastUsedDate;
      return {
        accessKeyId: k.AccessKeyId,
        status: k.Status ?? '',
        // IAM always gives CreateDate; were it missing, the key is taken as new (never deactivated for its age).
        createdAt: (k.CreateDate ?? new Date()).toISOString(),
        ...(used ? { lastUsedAt: used.toISOString() } : {}),
      };
    }),
  );
  return {
    userName,
    readAt: new Date().toISOString(),
    keys: keys.filter((k): k is AccessKeyFacts => k !== null).sort((a, b) => a.accessKeyId.localeCompare(b.accessKeyId)),
  };
}

/** Sets the status of exactly `ids` (those still there and not already at `status`); safe to repeat. */
async function setStatus(aws: AwsClients, userName: string, ids: readonly string[], status: 'Active' | 'Inactive'): Promise<void> {
  const current = await listKeys(aws, userName);
  for (const id of ids) {
    const k = current.find((c) => c.AccessKeyId === id);
    if (!k || k.Status === status) continue; // deleted since, or already so
    await awsCall(`UpdateAccessKey ${id} of ${userName} to ${status}`, () =>
      aws.iam().send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: id, Status: status })),
    );
  }
}

function describeKey(k: AccessKeyFacts, now: number): string {
  const age = days(now - Date.parse(k.createdAt));
  const used = k.lastUsedAt ? `last used ${days(now - Date.parse(k.lastUsedAt))} ago` : 'never used';
  return `${k.accessKeyId} ${k.status.toLowerCase()}, ${age} old, ${used}`;
}

/** An IAM user name from a CloudTrail record: requestParameters.userName, else the calling IAM user (a key of one's own). */
function userOfRecord(record: Readonly<Record<string, unknown>>): string | undefined {
  const candidates = [getPath(record, 'responseElements', 'accessKey', 'userName'), getPath(record, 'requestParameters', 'userName')];
  if (getPath(record, 'userIdentity', 'type') === 'IAMUser') candidates.push(getPath(record, 'userIdentity', 'userName'));
  for (const c of candidates) {
    const name = typeof c === 'string' ? iamUserName(c) : undefined;
    if (name !== undefined) return name;
  }
  return undefined;
}

/**
 * CreateAccessKey logs `requestParameters.userName` and `responseElements.accessKey.{userName,
 * accessKeyId, status, createDate}`; UpdateAccessKey logs `requestParameters.{userName,
 * accessKeyId, status}` and no response (IAM User Guide, "Logging IAM and AWS STS API calls with
 * AWS CloudTrail"). Both may omit userName: the call then acts on the caller's own keys (IAM API
 * Reference: "If you do not specify a user name, IAM determines the user name implicitly based on
 * the AWS access key ID signing the request"), the user in userIdentity, or the root user's keys.
 * A new key is neither old nor unused; the user is checked because its older keys usually are.
 */
function fromCloudTrail(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const eventName = getOwn(record, 'eventName');
  if (eventName !== 'CreateAccessKey' && eventName !== 'UpdateAccessKey') return { ignore: `event ${String(eventName)} is not one this control reads` };
  const keyId = getPath(record, 'responseElements', 'accessKey', 'accessKeyId') ?? getPath(record, 'requestParameters', 'accessKeyId');
  const key = typeof keyId === 'string' && /^[A-Z0-9]{16,128}$/.test(keyId) ? ` ${keyId}` : '';
  if (eventName === 'UpdateAccessKey') {
    const status = getPath(record, 'requestParameters', 'status');
    if (status === 'Inactive') return { ignore: 'an access key was deactivated (an inactive key never violates)' };
  }
  const userName = userOfRecord(record);
  if (userName === undefined) {
    return getPath(record, 'userIdentity', 'type') === 'Root' ? { ignore: "the root user's own access key (not an IAM user's)" } : { resources: [] };
  }
  return {
    resources: [
      {
        id: userName,
        title:
          eventName === 'CreateAccessKey'
            ? `IAM user ${userName} got a new access key${key}; the user's other keys must be checked for age and use`
            : `Access key${key} of IAM user ${userName} was activated`,
      },
    ],
  };
}

export const iamAccessKeyStaleCatalog: ControlCatalog = {
  resourceType: 'AwsIamUser',
  global: true,
  severity: Severity.Medium,
  securityHub: ['IAM.3', 'IAM.8'],
  configRules: ['access-keys-rotated', 'iam-user-unused-credentials-check'],
  cloudTrail: [{ eventSource: 'iam.amazonaws.com', eventNames: ['CreateAccessKey', 'UpdateAccessKey'] }],
  changes:
    "Deactivates (UpdateAccessKey Status=Inactive, never deletes) exactly the user's active access keys older than maxKeyAgeDays or unused for more than maxUnusedDays (never used: since created); other keys and the console password are not touched",
  defaultMode: 'approve',
  undo: 'exact: the deactivated keys are made active again; a key deleted since cannot be brought back',
  resourceIdHint: 'an IAM user name or ARN',
  resourceId: iamUserName,
  fromCloudTrail,
};

export const iamAccessKeyStale: Control<IamAccessKeysState, DeactivateAccessKeysChange> = {
  id: 'iam-access-key-stale' as ControlId,
  title: 'IAM users must not keep access keys active that are too old or unused',
  fixable: true,
  catalog: iamAccessKeyStaleCatalog,
  settings: iamAccessKeyStaleSettings,
  // When it was read changes every time; the keys and their use are what identify the state.
  digestState: ({ readAt: _readAt, ...keys }) => keys,

  async read(aws, finding) {
    const userName = finding.resource.id;
    await assertAccount(aws, finding.region, finding.account, `GetUser ${userName}`);
    // GetUser first: NoSuchEntity here means the user is gone (ResourceNotFound: 404).
    const out = await awsCall(`GetUser ${userName}`, () => aws.iam().send(new GetUserCommand({ UserName: userName })));
    const tags: Record<string, string> = {};
    for (const t of out.User?.Tags ?? []) if (t.Key !== undefined) Object.defineProperty(tags, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
    return { state: await readAccessKeys(aws, userName), tags };
  },

  plan: (state, settings) => planDeactivate(state, accessKeySettings(settings)),

  /** Deactivates the planned keys that are still there and active; every other key stays as it is now. */
  async apply(aws, finding, change) {
    await assertAccount(aws, finding.region, finding.account, `UpdateAccessKey for ${change.userName}`);
    await setStatus(aws, change.userName, change.deactivate.map((d) => d.accessKeyId), 'Inactive');
  },

  check: (before, change, after) => checkDeactivated(before, change, after),

  /** Activates again exactly the keys the fix deactivated (those still there). */
  async undo(aws, finding, _before, change) {
    await assertAccount(aws, finding.region, finding.account, `UpdateAccessKey for ${change.userName}`);
    await setStatus(aws, change.userName, change.deactivate.map((d) => d.accessKeyId), 'Active');
  },

  checkUndo: (_before, change, after) => checkReactivated(change, after),

  async tag(aws, finding, key, value) {
    const userName = finding.resource.id;
    await assertAccount(aws, finding.region, finding.account, `TagUser ${userName}`);
    await awsCall(`TagUser ${userName}`, () => aws.iam().send(new TagUserCommand({ UserName: userName, Tags: [{ Key: key, Value: value }] })));
  },

  /** IAM is global: the region only names where the scan runs. ListUsers page, then each user's keys and their last use. */
  async scanPage(aws, o) {
    const s = accessKeySettings(o.settings);
    const page = await nextPage(o.pageToken, o.pageSize, async (marker) => {
      const out = await awsCall('ListUsers', () => aws.iam().send(new ListUsersCommand({ MaxItems: clamp(o.pageSize, 1, 1000), ...(marker ? { Marker: marker } : {}) })));
      return { items: (out.Users ?? []).flatMap((u) => (u.UserName ? [u.UserName] : [])), next: out.IsTruncated ? out.Marker : undefined };
    });
    const judged = await judgeEach(
      page.items,
      (userName) => readAccessKeys(aws, userName),
      (userName, state): Violation | null => {
        const now = Date.parse(state.readAt);
        const stale = state.keys.flatMap((k) => {
          const why = staleReasons(k, now, s);
          return why.length ? [`${k.accessKeyId} ${why.join(', ')}`] : [];
        });
        return stale.length ? { resourceId: userName, title: `IAM user ${userName}: active access key${stale.length === 1 ? '' : 's'} ${stale.join('; ')}`, severity: Severity.Medium } : null;
      },
    );
    return scanPageOf(page, judged);
  },

  describe(state) {
    if (state.keys.length === 0) return 'no access keys';
    const now = Date.parse(state.readAt);
    return state.keys.map((k) => describeKey(k, now)).join('; ');
  },

  summarize(change) {
    const keys = change.deactivate.map((d) => `${d.accessKeyId} (created ${d.createdAt.slice(0, 10)}, ${d.lastUsedAt ? `last used ${d.lastUsedAt.slice(0, 10)}` : 'never used'})`);
    return `Deactivate (not delete) access key${keys.length === 1 ? '' : 's'} ${keys.join(', ')} of IAM user ${change.userName}`;
  },
};
