import {
  DescribeKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  TagResourceCommand,
} from '@aws-sdk/client-kms';
import { Severity, type ControlId } from '../../findings/finding.js';
import { getOwn, getPath, isObject } from '../../findings/validate.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control, ControlCatalog, Violation } from './control.js';
import { arnResource } from './resource-ids.js';
import { clamp, judgeEach, nextPage, scanPageOf } from './scan-util.js';

/**
 * KMS.4 / cmk-backing-key-rotation-enabled: automatic rotation of a KMS key's material.
 *
 * Only customer managed, symmetric encryption keys with key material AWS KMS generated
 * (origin AWS_KMS), enabled, and not multi-Region replicas can have automatic rotation turned on
 * (KMS API Reference, EnableKeyRotation: "Automatic key rotation is supported only on symmetric
 * encryption KMS keys. You cannot enable automatic rotation of asymmetric KMS keys, HMAC KMS
 * keys, KMS keys with imported key material, or KMS keys in a custom key store. To enable or
 * disable automatic rotation of a set of related multi-Region keys, set the property on the
 * primary key." and "You cannot enable or disable automatic rotation of AWS managed KMS keys";
 * the AWS Config rule's page says the same of what it evaluates). A disabled key or one pending
 * deletion cannot have its rotation changed (GetKeyRotationStatus: "while the KMS key is disabled,
 * KMS does not rotate the key material"; "While a KMS key is pending deletion, its key rotation
 * status is false"). Every other key is out of scope: never a violation.
 */

/** One KMS key as DescribeKey and GetKeyRotationStatus show it (resource id = the key id). */
export interface KmsKeyRotationState {
  readonly keyId: string;
  readonly arn: string;
  /** CUSTOMER or AWS. */
  readonly keyManager: string;
  /** SYMMETRIC_DEFAULT, RSA_2048, HMAC_256, ... */
  readonly keySpec: string;
  /** AWS_KMS, EXTERNAL (imported material), AWS_CLOUDHSM or EXTERNAL_KEY_STORE (custom key stores). */
  readonly origin: string;
  /** Enabled, Disabled, PendingDeletion, PendingImport, ... */
  readonly keyState: string;
  /** PRIMARY or REPLICA for a multi-Region key. */
  readonly multiRegionKeyType?: string;
  /** Whether automatic rotation is on; only read for keys in scope (see `outOfScope`). */
  readonly rotationEnabled?: boolean;
  readonly rotationPeriodInDays?: number;
}
export interface EnableKeyRotationChange {
  readonly keyId: string;
  /** EnableKeyRotation without a period: AWS KMS's default, 365 days. */
  readonly enableRotation: true;
}

/** Why automatic rotation cannot be turned on for this key (so it is no violation), or undefined when it can. */
export function outOfScope(s: Pick<KmsKeyRotationState, 'keyManager' | 'keySpec' | 'origin' | 'keyState' | 'multiRegionKeyType'>): string | undefined {
  if (s.keyManager !== 'CUSTOMER') return 'an AWS managed key (AWS KMS rotates it every year; its rotation cannot be changed)';
  if (s.keySpec !== 'SYMMETRIC_DEFAULT') return `a ${s.keySpec} key (automatic rotation exists only for symmetric encryption keys)`;
  if (s.origin !== 'AWS_KMS') {
    return s.origin === 'EXTERNAL' ? 'a key with imported key material (it cannot rotate automatically)' : `a key in a custom key store (${s.origin}; it cannot rotate automatically)`;
  }
  if (s.multiRegionKeyType === 'REPLICA') return "a multi-Region replica key (its rotation is set on the primary key)";
  if (s.keyState !== 'Enabled') return `a ${s.keyState} key (its rotation cannot be changed until it is enabled)`;
  return undefined;
}

/** Compliant = out of scope, or automatic rotation on. */
export function planKeyRotation(state: KmsKeyRotationState): EnableKeyRotationChange | null {
  if (outOfScope(state) !== undefined || state.rotationEnabled === true) return null;
  return { keyId: state.keyId, enableRotation: true };
}

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|mrk-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/**
 * A KMS key id from a key id or a key ARN (`arn:aws:kms:<region>:<account>:key/<id>`, Security
 * Hub's Resources[].Id; Config's resourceId is the key id). Key ids are UUIDs; multi-Region key ids
 * start with mrk- (KMS Developer Guide, "Key identifiers (KeyId)"). Aliases are not keys: undefined.
 */
export function kmsKeyId(raw: string): string | undefined {
  const res = arnResource(raw, 'kms');
  const id = (res === undefined ? raw : /^key\/(.+)$/.exec(res)?.[1])?.toLowerCase();
  return id !== undefined && KEY_ID.test(id) ? id : undefined;
}

/** The key's metadata and, for keys in scope, its rotation status. */
export async function readKeyRotation(aws: AwsClients, region: string, keyId: string): Promise<KmsKeyRotationState> {
  const kms = aws.kms(region);
  const out = await awsCall(`DescribeKey ${keyId}`, () => kms.send(new DescribeKeyCommand({ KeyId: keyId })));
  const m = out.KeyMetadata;
  const base = {
    keyId: m?.KeyId ?? keyId,
    arn: m?.Arn ?? '',
    keyManager: m?.KeyManager ?? '',
    keySpec: m?.KeySpec ?? m?.CustomerMasterKeySpec ?? '',
    origin: m?.Origin ?? '',
    keyState: m?.KeyState ?? '',
    ...(m?.MultiRegionConfiguration?.MultiRegionKeyType ? { multiRegionKeyType: m.MultiRegionConfiguration.MultiRegionKeyType } : {}),
  };
  if (outOfScope(base) !== undefined) return base;
  const rotation = await awsCall(`GetKeyRotationStatus ${keyId}`, () => kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId })));
  return {
    ...base,
    rotationEnabled: rotation.KeyRotationEnabled === true,
    ...(rotation.RotationPeriodInDays !== undefined ? { rotationPeriodInDays: rotation.RotationPeriodInDays } : {}),
  };
}

async function readKeyTags(aws: AwsClients, region: string, keyId: string): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let marker: string | undefined;
  do {
    const out = await awsCall(`ListResourceTags ${keyId}`, () =>
      aws.kms(region).send(new ListResourceTagsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) })),
    );
    for (const t of out.Tags ?? []) {
      if (t.TagKey !== undefined) Object.defineProperty(tags, t.TagKey, { value: t.TagValue ?? '', enumerable: true, writable: true, configurable: true });
    }
    marker = out.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return tags;
}

/** The key a CloudTrail record names: requestParameters.keyId (an id or ARN), else the record's AWS::KMS::Key resource. */
function keyOfRecord(record: Readonly<Record<string, unknown>>): string | undefined {
  const fromParams = getPath(record, 'requestParameters', 'keyId');
  if (typeof fromParams === 'string') {
    const id = kmsKeyId(fromParams);
    if (id !== undefined) return id;
  }
  const resources = getOwn(record, 'resources');
  if (!Array.isArray(resources)) return undefined;
  for (const r of resources.slice(0, 20)) {
    const arn = getOwn(r, 'ARN');
    const id = typeof arn === 'string' ? kmsKeyId(arn) : undefined;
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * CreateKey logs `responseElements.keyMetadata` with keyId, arn, keySpec (and the older
 * customerMasterKeySpec), origin, keyManager and keyState; a CreateKey logged for a ReplicateKey
 * request carries the replica's metadata. DisableKeyRotation logs `requestParameters.keyId` (a key
 * id or ARN) and the key's ARN in `resources[]` (KMS Developer Guide, "Logging AWS KMS API calls
 * with AWS CloudTrail": CreateKey, DisableKeyRotation examples). A new key starts with rotation off.
 */
function fromCloudTrail(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const eventName = getOwn(record, 'eventName');
  if (eventName === 'CreateKey') {
    const meta = getPath(record, 'responseElements', 'keyMetadata');
    if (!isObject(meta)) return { resources: [] };
    const str = (k: string) => {
      const v = getOwn(meta, k);
      return typeof v === 'string' ? v : undefined;
    };
    const rawId = str('keyId') ?? str('arn');
    const keyId = rawId === undefined ? undefined : kmsKeyId(rawId);
    if (keyId === undefined) return { resources: [] };
    const why = outOfScope({
      keyManager: str('keyManager') ?? 'CUSTOMER',
      keySpec: str('keySpec') ?? str('customerMasterKeySpec') ?? 'SYMMETRIC_DEFAULT',
      origin: str('origin') ?? 'AWS_KMS',
      // PendingImport and the like are covered by origin; a new AWS_KMS key is enabled.
      keyState: 'Enabled',
      ...(typeof getPath(meta, 'multiRegionConfiguration', 'multiRegionKeyType') === 'string'
        ? { multiRegionKeyType: getPath(meta, 'multiRegionConfiguration', 'multiRegionKeyType') as string }
        : {}),
    });
    if (why !== undefined) return { ignore: `the new key is ${why}` };
    return { resources: [{ id: keyId, title: `KMS key ${keyId} was created without automatic key rotation` }] };
  }
  if (eventName === 'DisableKeyRotation') {
    const keyId = keyOfRecord(record);
    return keyId === undefined ? { resources: [] } : { resources: [{ id: keyId, title: `Automatic rotation of KMS key ${keyId} was turned off` }] };
  }
  return { ignore: `event ${String(eventName)} is not one this control reads` };
}

export const kmsKeyRotationCatalog: ControlCatalog = {
  resourceType: 'AwsKmsKey',
  severity: Severity.Medium,
  securityHub: ['KMS.4'],
  configRules: ['cmk-backing-key-rotation-enabled'],
  cloudTrail: [{ eventSource: 'kms.amazonaws.com', eventNames: ['CreateKey', 'DisableKeyRotation'] }],
  changes:
    'Turns on automatic rotation of the key material (EnableKeyRotation, AWS KMS default period of 365 days); keys that cannot rotate automatically (AWS managed, asymmetric, HMAC, imported material, custom key stores, replicas, disabled) are left alone',
  defaultMode: 'auto',
  undo: 'exact: automatic rotation is turned off again (DisableKeyRotation); the first rotation comes a rotation period (365 days) after it was turned on, so an undo before then finds no new key material',
  resourceIdHint: 'a KMS key id or key ARN (not an alias)',
  resourceId: kmsKeyId,
  fromCloudTrail,
};

export const kmsKeyRotation: Control<KmsKeyRotationState, EnableKeyRotationChange> = {
  id: 'kms-key-rotation' as ControlId,
  title: 'Customer managed KMS keys must rotate their key material automatically',
  fixable: true,
  catalog: kmsKeyRotationCatalog,

  async read(aws, finding) {
    const keyId = finding.resource.id;
    const state = await readKeyRotation(aws, finding.region, keyId);
    // AWS managed keys cannot be tagged (and are out of scope): no tags read for them.
    const tags = state.keyManager === 'CUSTOMER' ? await readKeyTags(aws, finding.region, keyId) : {};
    return { state, tags };
  },

  plan: (state) => planKeyRotation(state),

  /** Turns rotation on unless it is on by now: EnableKeyRotation on a key already rotating would reset a custom period to the default. */
  async apply(aws, finding, change) {
    const now = await readKeyRotation(aws, finding.region, change.keyId);
    if (planKeyRotation(now) === null) return;
    await awsCall(`EnableKeyRotation ${change.keyId}`, () => aws.kms(finding.region).send(new EnableKeyRotationCommand({ KeyId: change.keyId })));
  },

  check: (_before, change, after) => (after.rotationEnabled === true ? [] : [`automatic rotation of KMS key ${change.keyId} is still off`]),

  /** Turns rotation off again (a change exists only when it was off before). */
  async undo(aws, finding, before, change) {
    if (before.rotationEnabled === true) return;
    await awsCall(`DisableKeyRotation ${change.keyId}`, () => aws.kms(finding.region).send(new DisableKeyRotationCommand({ KeyId: change.keyId })));
  },

  checkUndo: (before, change, after) =>
    (after.rotationEnabled === true) === (before.rotationEnabled === true)
      ? []
      : [`automatic rotation of KMS key ${change.keyId} is ${after.rotationEnabled ? 'on' : 'off'}, expected ${before.rotationEnabled ? 'on' : 'off'}`],

  async tag(aws, finding, key, value) {
    const keyId = finding.resource.id;
    await awsCall(`TagResource ${keyId}`, () => aws.kms(finding.region).send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: key, TagValue: value }] })));
  },

  /** ListKeys page, then each key's metadata and (in scope) rotation status. */
  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async (marker) => {
      const out = await awsCall(`ListKeys in ${o.region}`, () =>
        aws.kms(o.region).send(new ListKeysCommand({ Limit: clamp(o.pageSize, 1, 1000), ...(marker ? { Marker: marker } : {}) })),
      );
      return { items: (out.Keys ?? []).flatMap((k) => (k.KeyId ? [k.KeyId] : [])), next: out.Truncated ? out.NextMarker : undefined };
    });
    const judged = await judgeEach(
      page.items,
      (keyId) => readKeyRotation(aws, o.region, keyId),
      (keyId, state): Violation | null =>
        planKeyRotation(state) ? { resourceId: keyId, title: `KMS key ${keyId} in ${o.region}: automatic key rotation is off`, severity: Severity.Medium } : null,
    );
    return scanPageOf(page, judged);
  },

  describe(state) {
    const why = outOfScope(state);
    if (why !== undefined) return `not in scope: ${why}`;
    return state.rotationEnabled ? `automatic rotation on${state.rotationPeriodInDays ? ` (every ${state.rotationPeriodInDays} days)` : ''}` : 'automatic rotation OFF';
  },

  summarize(change, finding) {
    return `Turn on automatic rotation (yearly) of KMS key ${change.keyId} in ${finding.region}`;
  },
};
