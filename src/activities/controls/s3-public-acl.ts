import { GetBucketAclCommand, PutBucketAclCommand, type Grant, type Type as GranteeType, type Permission } from '@aws-sdk/client-s3';
import { bucketId, readByNormalizer } from './resource-ids.js';
import { ControlId, Severity } from '../../findings/finding.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control } from './control.js';
import { scanBuckets } from './s3-scan.js';
import { readBucketTags, tagBucket } from './s3-tags.js';

export const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
export const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
const PUBLIC_GROUPS: ReadonlySet<string> = new Set([ALL_USERS, AUTHENTICATED_USERS]);

/** One ACL grant: a grantee (canonical user id, group URI or e-mail) and a permission. */
export interface AclGrant {
  /** 'CanonicalUser', 'Group' or 'AmazonCustomerByEmail'. */
  readonly type: string;
  readonly id?: string;
  readonly uri?: string;
  readonly email?: string;
  /** For people only; not part of the grant's identity. */
  readonly displayName?: string;
  readonly permission: string;
}
export interface BucketAclState {
  readonly ownerId: string;
  readonly grants: readonly AclGrant[];
}
export interface RemovePublicGrantsChange {
  readonly ownerId: string;
  /** Exactly the grants to the AllUsers / AuthenticatedUsers groups. */
  readonly remove: readonly AclGrant[];
  /** Every other grant, in order: the ACL after the fix (the canned `private` when only the owner's grant is left). */
  readonly keep: readonly AclGrant[];
}

/** What this control forbids (compliant = no such grant): a grant to everyone, or to every AWS account holder. */
export function isPublicGrant(g: AclGrant): boolean {
  return g.type === 'Group' && g.uri !== undefined && PUBLIC_GROUPS.has(g.uri);
}

/** A grant's identity: grantee and permission (display names excluded). */
export function grantKey(g: AclGrant): string {
  return `${g.type}|${g.id ?? g.uri ?? g.email ?? '?'}|${g.permission}`;
}

export function describeGrant(g: AclGrant): string {
  const who = g.uri ? (g.uri.split('/').pop() ?? g.uri) : g.email ? g.email : `user ${g.displayName ?? g.id ?? '?'}`;
  return `${who} ${g.permission}`;
}

export function planRemovePublicGrants(state: BucketAclState): RemovePublicGrantsChange | null {
  const remove = state.grants.filter(isPublicGrant);
  if (remove.length === 0) return null;
  return { ownerId: state.ownerId, remove, keep: state.grants.filter((g) => !isPublicGrant(g)) };
}

export function checkRemovePublicGrants(change: RemovePublicGrantsChange, after: BucketAclState): string[] {
  const problems = after.grants.filter(isPublicGrant).map((g) => `public grant still present: ${describeGrant(g)}`);
  const afterKeys = new Set(after.grants.map(grantKey));
  for (const g of change.keep) if (!afterKeys.has(grantKey(g))) problems.push(`grant that should have stayed is gone: ${describeGrant(g)}`);
  return problems;
}

/** Problems with `after` as a restoration of `before`: the same grants (as a multiset; order and display names aside). */
export function checkSameGrants(before: BucketAclState, after: BucketAclState): string[] {
  const left = new Map<string, number>();
  for (const g of after.grants) left.set(grantKey(g), (left.get(grantKey(g)) ?? 0) + 1);
  const problems: string[] = [];
  for (const g of before.grants) {
    const n = left.get(grantKey(g)) ?? 0;
    if (n === 0) problems.push(`grant not restored: ${describeGrant(g)}`);
    else left.set(grantKey(g), n - 1);
  }
  for (const g of after.grants) {
    const n = left.get(grantKey(g)) ?? 0;
    if (n > 0) {
      problems.push(`grant not in the recorded state: ${describeGrant(g)}`);
      left.set(grantKey(g), n - 1);
    }
  }
  return problems;
}

export function fromSdkGrant(g: Grant): AclGrant | null {
  const e = g.Grantee;
  if (!e?.Type || !g.Permission) return null;
  return {
    type: e.Type,
    ...(e.ID ? { id: e.ID } : {}),
    ...(e.URI ? { uri: e.URI } : {}),
    ...(e.EmailAddress ? { email: e.EmailAddress } : {}),
    ...(e.DisplayName ? { displayName: e.DisplayName } : {}),
    permission: g.Permission,
  };
}

export function toSdkGrant(g: AclGrant): Grant {
  return {
    Grantee: {
      Type: g.type as GranteeType,
      ...(g.id ? { ID: g.id } : {}),
      ...(g.uri ? { URI: g.uri } : {}),
      ...(g.email ? { EmailAddress: g.email } : {}),
    },
    Permission: g.permission as Permission,
  };
}

export async function readBucketAcl(aws: AwsClients, region: string, bucket: string): Promise<BucketAclState> {
  const out = await awsCall(`GetBucketAcl on ${bucket}`, () => aws.s3(region).send(new GetBucketAclCommand({ Bucket: bucket })));
  return { ownerId: out.Owner?.ID ?? '', grants: (out.Grants ?? []).flatMap((g) => fromSdkGrant(g) ?? []) };
}

async function putBucketAcl(aws: AwsClients, region: string, bucket: string, ownerId: string, grants: readonly AclGrant[]): Promise<void> {
  await awsCall(`PutBucketAcl on ${bucket}`, () =>
    aws.s3(region).send(new PutBucketAclCommand({ Bucket: bucket, AccessControlPolicy: { Owner: { ID: ownerId }, Grants: grants.map(toSdkGrant) } })),
  );
}

export const s3PublicAcl: Control<BucketAclState, RemovePublicGrantsChange> = {
  id: ControlId.S3PublicAcl,
  title: 'S3 bucket ACLs must not grant access to everyone or to all AWS users',
  fixable: true,
  catalog: {
    resourceType: 'AwsS3Bucket',
    severity: Severity.Critical,
    securityHub: ['S3.2', 'S3.3'],
    configRules: ['s3-bucket-public-read-prohibited', 's3-bucket-public-write-prohibited'],
    cloudTrail: [{ eventSource: 's3.amazonaws.com', eventNames: ['CreateBucket', 'PutBucketAcl'] }],
    changes: "Removes the ACL grants to everyone (AllUsers) and to any AWS user (AuthenticatedUsers); the owner's and other grants stay",
    defaultMode: 'auto',
    undo: 'exact: the removed grants are put back',
    resourceIdHint: 'an S3 bucket name or ARN',
    resourceId: bucketId,
    fromCloudTrail: readByNormalizer,
  },

  async read(aws, finding) {
    const bucket = finding.resource.id;
    const state = await readBucketAcl(aws, finding.region, bucket);
    const tags = await readBucketTags(aws, finding.region, bucket);
    return { state, tags };
  },

  plan: (state) => planRemovePublicGrants(state),

  /** Puts the ACL back without exactly the public grants: the owner and every other grant stay. */
  async apply(aws, finding, change) {
    await putBucketAcl(aws, finding.region, finding.resource.id, change.ownerId, change.keep);
  },

  check: (_before, change, after) => checkRemovePublicGrants(change, after),

  /** Puts back the exact previous grants. */
  async undo(aws, finding, before) {
    await putBucketAcl(aws, finding.region, finding.resource.id, before.ownerId, before.grants);
  },

  checkUndo: (before, _change, after) => checkSameGrants(before, after),

  async tag(aws, finding, key, value) {
    await tagBucket(aws, finding.region, finding.resource.id, key, value);
  },

  scanPage(aws, o) {
    return scanBuckets({
      aws,
      o,
      readState: (bucket) => readBucketAcl(aws, o.region, bucket),
      violation: (bucket, state) => {
        const change = planRemovePublicGrants(state);
        return change && { resourceId: bucket, title: `S3 bucket ${bucket}: ACL grants public access (${change.remove.map(describeGrant).join(', ')})`, severity: Severity.Critical };
      },
    });
  },

  describe(state) {
    const open = state.grants.filter(isPublicGrant);
    const rest = state.grants.length - open.length;
    return `${open.length ? `public grants: ${open.map(describeGrant).join(', ')}` : 'no public grants'}; ${rest} other grant${rest === 1 ? '' : 's'}`;
  },

  summarize(change, finding) {
    return `Remove public ACL grants (${change.remove.map(describeGrant).join(', ')}) on bucket ${finding.resource.id}`;
  },
};
