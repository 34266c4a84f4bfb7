import { DeleteBucketPolicyCommand, GetBucketPolicyCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { type ControlId, Severity } from '../../findings/finding.js';
import { getOwn, getPath, isBucketName, isObject } from '../../findings/validate.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control } from './control.js';
import {
  asList,
  containsStatement,
  describeStatement,
  isEveryone,
  parsePolicy,
  partitionOf,
  removeStatements,
  sameDocument,
  serializePolicy,
  statementsOf,
  tryParsePolicy,
  withStatements,
  type PolicyDocument,
  type PolicyStatement,
} from './policy-statements.js';
import { scanBuckets } from './s3-scan.js';
import { readBucketTags, tagBucket } from './s3-tags.js';

/**
 * s3-bucket-tls-required: the bucket policy must deny requests that do not use TLS (Security Hub
 * S3.5 "S3 general purpose buckets should require requests to use SSL", AWS Config managed rule
 * s3-bucket-ssl-requests-only, which is NON_COMPLIANT "if any S3 bucket has policies allowing
 * HTTP requests").
 *
 * Compliant = the policy holds a statement that denies every S3 action to everyone on the bucket
 * and all its objects whenever aws:SecureTransport is false. That is the statement Security Hub's
 * remediation for S3.5 and the AWS Knowledge Center article "What S3 bucket policy should I use to
 * comply with the AWS Config rule s3-bucket-ssl-requests-only?" give: Effect Deny, Principal "*",
 * Action "s3:*", Resource [bucket ARN, bucket ARN/*], Condition {"Bool": {"aws:SecureTransport":
 * "false"}}; the article adds that a policy allowing HTTPS without an explicit Deny for HTTP does
 * not comply. Forms that mean exactly the same are accepted (`isTlsDenyStatement`): Principal
 * {"AWS": "*"} or a list holding "*"; Action "*" or a list holding "s3:*" (action names are
 * case-insensitive); Resource "*" or wildcard ARNs that cover the bucket and every key; the
 * condition value false as a string, a boolean or a list of them; the key in any case (condition
 * keys are case-insensitive). Anything narrower is not: NotPrincipal, NotAction, NotResource, a
 * further condition (it would narrow the Deny), BoolIfExists or other operators. The fix then adds
 * the documented statement beside it.
 */

export interface BucketPolicyState {
  readonly bucket: string;
  /** The partition of the bucket's ARN ('aws', 'aws-cn', 'aws-us-gov'), from its region. */
  readonly partition: string;
  /** The bucket policy as GetBucketPolicy returned it; absent when the bucket has none (NoSuchBucketPolicy). */
  readonly policy?: string;
}
export interface AddTlsStatementChange {
  /** The statement the fix adds (`tlsStatement`). */
  readonly add: PolicyStatement;
  /** The bucket had no policy: the fix creates one holding only `add`, and undo deletes it again. */
  readonly createsPolicy: boolean;
}

export const TLS_STATEMENT_SID = 'RectifyDenyInsecureTransport';

export function bucketArn(bucket: string, partition = 'aws'): string {
  return `arn:${partition}:s3:::${bucket}`;
}

/** The statement the fix adds: deny every S3 action to everyone on the bucket and its objects without TLS. */
export function tlsStatement(bucket: string, partition = 'aws'): PolicyStatement {
  const arn = bucketArn(bucket, partition);
  return {
    Sid: TLS_STATEMENT_SID,
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: [arn, `${arn}/*`],
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
}

/** An IAM ARN pattern (`*` any run of characters, `?` one character) as a regular expression. */
function globRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
}

/** `pattern` matches every object ARN of the bucket: it ends with `*` and what comes before matches a prefix of `arn:<p>:s3:::<bucket>/`. */
function coversAllObjects(pattern: string, bucket: string, partition: string): boolean {
  if (!pattern.endsWith('*')) return false;
  const head = globRegExp(pattern.slice(0, -1));
  const prefix = `${bucketArn(bucket, partition)}/`;
  for (let k = 0; k <= prefix.length; k++) if (head.test(prefix.slice(0, k))) return true;
  return false;
}

/** The statement denies every S3 action to everyone on the bucket and all its objects when aws:SecureTransport is false (see the module comment). */
export function isTlsDenyStatement(s: PolicyStatement, bucket: string, partition = 'aws'): boolean {
  const effect = getOwn(s, 'Effect');
  if (typeof effect !== 'string' || effect.toLowerCase() !== 'deny') return false;
  if (getOwn(s, 'NotPrincipal') !== undefined || getOwn(s, 'NotAction') !== undefined || getOwn(s, 'NotResource') !== undefined) return false;
  if (!isEveryone(getOwn(s, 'Principal'))) return false;
  const actions = asList(getOwn(s, 'Action')).filter((a): a is string => typeof a === 'string').map((a) => a.toLowerCase());
  if (!actions.includes('s3:*') && !actions.includes('*')) return false;
  const resources = asList(getOwn(s, 'Resource')).filter((r): r is string => typeof r === 'string');
  if (!resources.some((r) => globRegExp(r).test(bucketArn(bucket, partition)))) return false;
  if (!resources.some((r) => coversAllObjects(r, bucket, partition))) return false;
  return isInsecureTransportCondition(getOwn(s, 'Condition'));
}

/** Exactly `{"Bool": {"aws:SecureTransport": false}}` (the value as "false", false, or a list of them). */
function isInsecureTransportCondition(condition: unknown): boolean {
  if (!isObject(condition)) return false;
  const operators = Object.keys(condition);
  if (operators.length !== 1 || operators[0] !== 'Bool') return false;
  const block = condition['Bool'];
  if (!isObject(block)) return false;
  const keys = Object.keys(block);
  if (keys.length !== 1 || keys[0]?.toLowerCase() !== 'aws:securetransport') return false;
  const values = asList(block[keys[0]]);
  return values.length > 0 && values.every((v) => v === false || (typeof v === 'string' && v.toLowerCase() === 'false'));
}

export function deniesInsecureTransport(doc: PolicyDocument | undefined, bucket: string, partition = 'aws'): boolean {
  return statementsOf(doc).some((s) => isTlsDenyStatement(s, bucket, partition));
}

export function planTls(state: BucketPolicyState): AddTlsStatementChange | null {
  if (deniesInsecureTransport(parsePolicy(state.policy), state.bucket, state.partition)) return null;
  return { add: tlsStatement(state.bucket, state.partition), createsPolicy: state.policy === undefined };
}

/** Problems with `after` as the result of the fix: no TLS Deny, or a statement of the policy before gone. */
export function checkTls(before: BucketPolicyState, after: BucketPolicyState): string[] {
  const doc = parsePolicy(after.policy);
  const problems = deniesInsecureTransport(doc, after.bucket, after.partition) ? [] : ['the bucket policy does not deny requests without TLS (aws:SecureTransport false)'];
  const now = statementsOf(doc);
  for (const s of statementsOf(parsePolicy(before.policy))) if (!containsStatement(now, s)) problems.push(`statement that should have stayed is gone: ${describeStatement(s)}`);
  return problems;
}

/** Problems with `after` as the undo of the fix: the added statement still there, or a statement of the policy before gone. */
export function checkTlsUndone(before: BucketPolicyState, change: AddTlsStatementChange, after: BucketPolicyState): string[] {
  const now = statementsOf(parsePolicy(after.policy));
  const had = statementsOf(parsePolicy(before.policy));
  const problems: string[] = [];
  if (!containsStatement(had, change.add) && containsStatement(now, change.add)) problems.push(`the statement the fix added (${TLS_STATEMENT_SID}) is still in the bucket policy`);
  for (const s of had) if (!containsStatement(now, s)) problems.push(`statement of the original policy is missing: ${describeStatement(s)}`);
  return problems;
}

/**
 * What undo writes, given the policy now: the exact previous policy (or none) when the policy is
 * still what the fix left; otherwise the added statement taken out by content, every other
 * statement kept as it is now (the policy deleted when nothing would be left). Nothing when the
 * statement is not there.
 */
export function undoTls(before: BucketPolicyState, change: AddTlsStatementChange, current: string | undefined): { put: string } | { delete: true } | null {
  const now = parsePolicy(current);
  if (now === undefined) return null;
  const fixed = withStatements(parsePolicy(before.policy), [...statementsOf(parsePolicy(before.policy)), change.add]);
  if (sameDocument(now, fixed)) return before.policy === undefined ? { delete: true } : { put: before.policy };
  const { kept, removed } = removeStatements(statementsOf(now), [change.add]);
  if (removed.length === 0 || containsStatement(statementsOf(parsePolicy(before.policy)), change.add)) return null;
  return kept.length === 0 ? { delete: true } : { put: serializePolicy(withStatements(now, kept)) };
}

export async function readBucketPolicy(aws: AwsClients, region: string, bucket: string): Promise<string | undefined> {
  return awsCall(`GetBucketPolicy on ${bucket}`, async () => {
    try {
      const out = await aws.s3(region).send(new GetBucketPolicyCommand({ Bucket: bucket }));
      return out.Policy === undefined || out.Policy === '' ? undefined : out.Policy;
    } catch (err) {
      if (awsErrorCode(err) === 'NoSuchBucketPolicy') return undefined;
      throw err;
    }
  });
}

async function readState(aws: AwsClients, region: string, bucket: string): Promise<BucketPolicyState> {
  const policy = await readBucketPolicy(aws, region, bucket);
  return { bucket, partition: partitionOf(region), ...(policy !== undefined ? { policy } : {}) };
}

async function putBucketPolicy(aws: AwsClients, region: string, bucket: string, policy: string): Promise<void> {
  await awsCall(`PutBucketPolicy on ${bucket}`, () => aws.s3(region).send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy })));
}

async function deleteBucketPolicy(aws: AwsClients, region: string, bucket: string): Promise<void> {
  await awsCall(`DeleteBucketPolicy on ${bucket}`, () => aws.s3(region).send(new DeleteBucketPolicyCommand({ Bucket: bucket })));
}

/** A bucket name, or a bucket ARN (`arn:<partition>:s3:::name`, no object key). */
export function tlsBucketId(raw: string): string | undefined {
  const name = /^arn:aws[a-z-]*:s3:::([^/]*)$/.exec(raw)?.[1] ?? raw;
  return isBucketName(name) ? name : undefined;
}

type CloudTrailAnswer = { readonly resources: readonly { readonly id: string; readonly title: string }[] } | { readonly ignore: string };

/**
 * The bucket a PutBucketPolicy, DeleteBucketPolicy or CreateBucket record names
 * (`requestParameters.bucketName`). A PutBucketPolicy whose new policy
 * (`requestParameters.bucketPolicy`, logged as the parsed document) already denies requests
 * without TLS is ignored; a new bucket has no policy, and a deleted policy none either.
 */
export function tlsFromCloudTrail(record: Readonly<Record<string, unknown>>): CloudTrailAnswer {
  const event = getOwn(record, 'eventName');
  const bucket = getPath(record, 'requestParameters', 'bucketName');
  if (typeof bucket !== 'string' || !isBucketName(bucket)) return { resources: [] };
  const region = getOwn(record, 'awsRegion');
  const partition = partitionOf(typeof region === 'string' ? region : '');
  switch (event) {
    case 'PutBucketPolicy': {
      const raw = getPath(record, 'requestParameters', 'bucketPolicy');
      const doc = isObject(raw) ? raw : tryParsePolicy(raw);
      if (doc !== undefined && deniesInsecureTransport(doc, bucket, partition)) return { ignore: `the new policy of bucket ${bucket} denies requests without TLS` };
      return { resources: [{ id: bucket, title: `Bucket policy of ${bucket} replaced: it may allow requests without TLS` }] };
    }
    case 'DeleteBucketPolicy':
      return { resources: [{ id: bucket, title: `Bucket policy of ${bucket} deleted: requests without TLS are no longer denied` }] };
    case 'CreateBucket':
      return { resources: [{ id: bucket, title: `New bucket ${bucket} has no policy denying requests without TLS` }] };
    default:
      return { ignore: `event ${typeof event === 'string' ? event.slice(0, 64) : '?'} does not change a bucket policy` };
  }
}

export function describeTls(state: BucketPolicyState): string {
  if (state.policy === undefined) return 'no bucket policy: requests without TLS are allowed';
  const doc = parsePolicy(state.policy);
  const n = statementsOf(doc).length;
  return `bucket policy with ${n} statement${n === 1 ? '' : 's'}; ${deniesInsecureTransport(doc, state.bucket, state.partition) ? 'denies' : 'does NOT deny'} requests without TLS`;
}

export const s3BucketTlsRequired: Control<BucketPolicyState, AddTlsStatementChange> = {
  id: 's3-bucket-tls-required' as ControlId,
  title: 'S3 bucket policies must deny requests that do not use TLS',
  fixable: true,
  catalog: {
    resourceType: 'AwsS3Bucket',
    severity: Severity.Medium,
    securityHub: ['S3.5'],
    configRules: ['s3-bucket-ssl-requests-only'],
    cloudTrail: [{ eventSource: 's3.amazonaws.com', eventNames: ['PutBucketPolicy', 'DeleteBucketPolicy', 'CreateBucket'] }],
    changes: `Adds a Deny statement (Sid ${TLS_STATEMENT_SID}) for every S3 action on the bucket and its objects when aws:SecureTransport is false; every other statement is kept, and a bucket without a policy gets one with just that statement`,
    defaultMode: 'auto',
    undo: 'exact: the added statement is taken out again (the policy is deleted when the bucket had none); statements added since are kept',
    resourceIdHint: 'an S3 bucket name or ARN (arn:aws:s3:::name)',
    resourceId: tlsBucketId,
    fromCloudTrail: tlsFromCloudTrail,
  },

  async read(aws, finding) {
    const bucket = finding.resource.id;
    const state = await readState(aws, finding.region, bucket);
    const tags = await readBucketTags(aws, finding.region, bucket);
    return { state, tags };
  },

  plan: (state) => planTls(state),

  /**
   * Re-reads the policy and adds the statement to it as it is now (every statement someone added
   * since the plan stays). Nothing when the statement is already there or the policy already
   * denies requests without TLS (a repeat, or a person fixed it).
   */
  async apply(aws, finding, change) {
    const bucket = finding.resource.id;
    const current = await readState(aws, finding.region, bucket);
    const doc = parsePolicy(current.policy);
    if (containsStatement(statementsOf(doc), change.add) || deniesInsecureTransport(doc, bucket, current.partition)) return;
    await putBucketPolicy(aws, finding.region, bucket, serializePolicy(withStatements(doc, [...statementsOf(doc), change.add])));
  },

  check: (before, _change, after) => checkTls(before, after),

  async undo(aws, finding, before, change) {
    const bucket = finding.resource.id;
    const current = await readBucketPolicy(aws, finding.region, bucket);
    const write = undoTls(before, change, current);
    if (write === null) return;
    if ('delete' in write) await deleteBucketPolicy(aws, finding.region, bucket);
    else await putBucketPolicy(aws, finding.region, bucket, write.put);
  },

  checkUndo: (before, change, after) => checkTlsUndone(before, change, after),

  async tag(aws, finding, key, value) {
    await tagBucket(aws, finding.region, finding.resource.id, key, value);
  },

  scanPage(aws, o) {
    return scanBuckets({
      aws,
      o,
      readState: (bucket) => readState(aws, o.region, bucket),
      violation: (bucket, state) =>
        planTls(state) && {
          resourceId: bucket,
          title: `S3 bucket ${bucket}: ${state.policy === undefined ? 'no bucket policy, so requests without TLS are allowed' : 'the bucket policy does not deny requests without TLS'}`,
          severity: Severity.Medium,
        },
    });
  },

  describe: describeTls,

  summarize(change, finding) {
    return `Add a Deny statement for requests without TLS (aws:SecureTransport false) to ${change.createsPolicy ? 'a new' : 'the'} bucket policy of ${finding.resource.id}`;
  },
};
