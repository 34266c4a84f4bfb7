/**
 * 'AWS API Call via CloudTrail' events: one CloudTrail record in `detail`. The envelope source
 * is the calling service ("aws.s3", "aws.ec2", "aws.iam").
 *
 * One event may concern several controls (CreateBucket: public access block, default
 * encryption and, with a public canned ACL, the ACL control), so an event yields one Finding per
 * control, with the id `${eventID}#${control}`; `origin.eventId` keeps the plain event id.
 * Findings here are prompts to check: the control reads the live resource before acting, and
 * the policy decides what is required (ports, encryption type). Requests that provably change
 * nothing the control cares about are ignored.
 *
 * Event names are the API operation names, as CloudTrail logs them (Amazon S3 User Guide,
 * "Amazon S3 CloudTrail events"; Amazon EC2 API Reference; IAM User Guide, "Logging IAM and AWS
 * STS API calls with AWS CloudTrail"), except the bucket-level PutPublicAccessBlock and
 * DeletePublicAccessBlock, logged as PutBucketPublicAccessBlock / DeleteBucketPublicAccessBlock.
 *
 *   event (eventSource)                             -> controls
 *   CreateBucket (s3)                               -> s3-block-public-access, s3-default-encryption,
 *                                                      + s3-bucket-public-acl with a public canned
 *                                                        ACL or a grant header to AllUsers /
 *                                                        AuthenticatedUsers
 *   PutBucketAcl (s3)                               -> s3-block-public-access, s3-bucket-public-acl
 *                                                      (the ACL finding is ignored when the request
 *                                                       provably grants nothing public)
 *   DeleteBucketPublicAccessBlock (s3)              -> s3-block-public-access
 *   PutBucketPublicAccessBlock (s3)                 -> s3-block-public-access (ignored when fully on)
 *   PutBucketEncryption, DeleteBucketEncryption (s3)-> s3-default-encryption
 *   AuthorizeSecurityGroupIngress (ec2)             -> ec2-sg-admin-ports-open (ignored when no
 *                                                      world-open range; never filtered by port)
 *   DisableEbsEncryptionByDefault (ec2)             -> ec2-ebs-default-encryption (the account, in
 *                                                      the event's region)
 *   CreateLoginProfile, DeactivateMFADevice (iam)   -> iam-user-console-mfa (requestParameters.userName)
 *   DeleteVirtualMFADevice (iam)                    -> ignored: it names only the device, and a
 *                                                      device must be deactivated (an event naming
 *                                                      the user) before it can be deleted
 *
 * Shapes (see test/fixtures/events/cloudtrail-*.json):
 * - S3 bucket-level calls log `requestParameters.bucketName`; the bucket-level
 *   PutPublicAccessBlock logs `requestParameters.PublicAccessBlockConfiguration.{BlockPublicAcls,
 *   IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets}` plus an `xmlns` key.
 * - PutBucketAcl logs either the canned ACL and grant headers (`x-amz-acl`, `x-amz-grant-read`,
 *   ... as arrays of strings) or the request body `AccessControlPolicy.AccessControlList.Grant`
 *   (one grant object, or an array) whose `Grantee` has `xsi:type` Group and a `URI`, or an
 *   `ID` / `EmailAddress` (Amazon S3 User Guide, "CloudTrail log file entries for Amazon S3").
 *   CreateBucket logs the same headers. Public grantees are the AllUsers and
 *   AuthenticatedUsers groups; the public canned ACLs are public-read, public-read-write and
 *   authenticated-read (Amazon S3 User Guide, "Access control list (ACL) overview").
 * - EC2 AuthorizeSecurityGroupIngress logs `requestParameters.groupId` and
 *   `requestParameters.ipPermissions.items[].{ipRanges.items[].cidrIp,
 *   ipv6Ranges.items[].cidrIpv6}`; calls in the older flat form log
 *   `requestParameters.cidrIp` with an empty `ipPermissions`; newer records add
 *   `responseElements.securityGroupRuleSet.items[].{groupId, cidrIpv4, cidrIpv6}`.
 * - IAM is global: its events are delivered to EventBridge in us-east-1 with source aws.iam
 *   (EventBridge User Guide, "Events from AWS services"); awsRegion says us-east-1.
 *   CreateLoginProfile and DeactivateMFADevice log `requestParameters.userName` (CreateLoginProfile
 *   may omit it: it then defaults to the caller, and `responseElements.loginProfile.userName`
 *   names the user). DeleteVirtualMFADevice takes only `serialNumber` (IAM API Reference,
 *   DeleteVirtualMFADevice: "You must deactivate a user's virtual MFA device before you can
 *   delete it").
 *
 * Pure module: no I/O.
 */
import type { DetailResult, Envelope } from './eventbridge.js';
import { controlsForCloudTrailEvent, type CatalogedControl } from '../activities/controls/index.js';
import type { ControlCatalog } from '../activities/controls/control.js';
import { ControlId, FindingSource, ResourceType, type FirstControlId, type Finding, type Severity } from './finding.js';
import type { Ignored, Obj, Problems } from './validate.js';
import {
  DEFAULT_SEVERITY,
  catalogResourceId,
  LIMITS,
  checkAccount,
  checkBucketName,
  checkIamUserName,
  checkId,
  checkRegion,
  checkSecurityGroupId,
  checkTimestamp,
  cleanText,
  getOwn,
  getOwnIgnoringCase,
  getPath,
  isObject,
  optionalString,
  quote,
  requireString,
} from './validate.js';

const S3_EVENT_SOURCE = 's3.amazonaws.com';
const EC2_EVENT_SOURCE = 'ec2.amazonaws.com';
const IAM_EVENT_SOURCE = 'iam.amazonaws.com';

/** Source the envelope must carry for the event sources this module acts on. */
const EXPECTED_SOURCE: Readonly<Record<string, string>> = Object.freeze({
  [S3_EVENT_SOURCE]: 'aws.s3',
  [EC2_EVENT_SOURCE]: 'aws.ec2',
  [IAM_EVENT_SOURCE]: 'aws.iam',
});

const S3_EVENTS: ReadonlySet<string> = new Set([
  'CreateBucket',
  'PutBucketAcl',
  'DeleteBucketPublicAccessBlock',
  'PutBucketPublicAccessBlock',
  'PutBucketEncryption',
  'DeleteBucketEncryption',
]);

const IAM_EVENTS: ReadonlySet<string> = new Set(['CreateLoginProfile', 'DeactivateMFADevice', 'DeleteVirtualMFADevice']);

const PUBLIC_ACCESS_BLOCK_SETTINGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

function short(value: string): string {
  return cleanText(value, LIMITS.reasonValueChars);
}

export function normalizeCloudTrail(env: Envelope, detail: Obj, problems: Problems): DetailResult {
  const before = problems.count;
  const eventId = checkId(getOwn(detail, 'eventID'), 'detail.eventID', problems);
  const eventName = requireString(getOwn(detail, 'eventName'), 'detail.eventName', problems, 256);
  const eventSource = requireString(getOwn(detail, 'eventSource'), 'detail.eventSource', problems, 256);
  const observedAt = checkTimestamp(getOwn(detail, 'eventTime'), 'detail.eventTime', problems);

  const rawAccount = getOwn(detail, 'recipientAccountId');
  const account = rawAccount === undefined ? env.account : checkAccount(rawAccount, 'detail.recipientAccountId', problems);
  const rawRegion = getOwn(detail, 'awsRegion');
  const region = rawRegion === undefined ? env.region : checkRegion(rawRegion, 'detail.awsRegion', problems);
  const errorCode = optionalString(getOwn(detail, 'errorCode'), 'detail.errorCode', problems);

  if (eventSource !== undefined && env.source !== undefined) {
    const expected = EXPECTED_SOURCE[eventSource];
    if (expected !== undefined && env.source !== expected) {
      problems.add(
        'source',
        `${quote(env.source)} does not match detail.eventSource ${quote(eventSource)}; expected ${JSON.stringify(expected)}`,
      );
    }
  }

  if (
    problems.count > before ||
    eventId === undefined ||
    eventName === undefined ||
    eventSource === undefined ||
    observedAt === undefined ||
    account === undefined ||
    region === undefined
  ) {
    return empty();
  }

  if (errorCode !== undefined && errorCode !== '') {
    return ignore({ reason: `the call failed (${short(errorCode)}); nothing changed`, ref: eventId });
  }

  const actor = getPath(detail, 'userIdentity', 'arn');
  const base: CloudTrailBase = {
    eventId,
    eventName,
    eventSource,
    observedAt,
    account,
    region,
    actor: typeof actor === 'string' && actor !== '' ? cleanText(actor, LIMITS.originChars) : undefined,
  };

  const builtIn = builtInEvent(base, detail, problems);
  const cataloged = controlsForCloudTrailEvent(eventSource, eventName);
  if (cataloged.length === 0) return builtIn;
  // Controls added since the first six read the events they list themselves (catalog.fromCloudTrail).
  const found = cataloged.map((c) => fromCatalog(base, c, detail, problems));
  const findings = [...builtIn.findings, ...found.flatMap((r) => r.findings)];
  const ignored = [...(builtIn.handled ? builtIn.ignored : []), ...found.flatMap((r) => r.ignored)];
  return { findings, ignored };
}

/** What a control of the catalog makes of the event: a finding per resource it names, or why it changes nothing. */
function fromCatalog(base: CloudTrailBase, c: CatalogedControl, detail: Obj, problems: Problems): DetailResult {
  let out: ReturnType<ControlCatalog['fromCloudTrail']>;
  try {
    out = c.catalog.fromCloudTrail(detail);
  } catch (err) {
    return ignore({ reason: `${c.id} could not read the event: ${short((err as Error)?.message ?? String(err))}`, ref: base.eventId });
  }
  if ('ignore' in out) return ignore({ reason: `${c.id}: ${short(out.ignore)}`, ref: base.eventId });
  const findings: Finding[] = [];
  for (const r of out.resources.slice(0, LIMITS.maxResources)) {
    const id = catalogResourceId(c.catalog, r.id, `detail (resource named for ${c.id})`, problems);
    if (id === undefined) continue;
    const f = claim(base, c.id, { type: c.catalog.resourceType, id }, r.title, c.catalog.severity);
    // One event naming several resources of one control: one finding each.
    findings.push(out.resources.length > 1 ? { ...f, id: `${f.id}#${id}` } : f);
  }
  return result(findings, []);
}

/** The first six controls' reading of the event; `handled` false when none of them cares about it. */
function builtInEvent(base: CloudTrailBase, detail: Obj, problems: Problems): DetailResult & { handled: boolean } {
  const { eventName, eventId } = base;
  const r = builtInEventOf(base, detail, problems);
  if (r !== undefined) return { ...r, handled: true };
  return { ...ignore({ reason: `event ${short(eventName)} is not remediated`, ref: eventId }), handled: false };
}

function builtInEventOf(base: CloudTrailBase, detail: Obj, problems: Problems): DetailResult | undefined {
  const { eventName, eventSource } = base;
  if (eventSource === S3_EVENT_SOURCE && S3_EVENTS.has(eventName)) {
    return s3Event(base, detail, problems);
  }
  if (eventSource === EC2_EVENT_SOURCE && eventName === 'AuthorizeSecurityGroupIngress') {
    return securityGroupIngress(base, detail, problems);
  }
  if (eventSource === EC2_EVENT_SOURCE && eventName === 'DisableEbsEncryptionByDefault') {
    return result(
      [
        claim(
          base,
          ControlId.EbsDefaultEncryption,
          { type: ResourceType.Account, id: base.account },
          `EBS encryption by default was disabled for account ${base.account} in ${base.region}`,
        ),
      ],
      [],
    );
  }
  if (eventSource === IAM_EVENT_SOURCE && IAM_EVENTS.has(eventName)) {
    return iamEvent(base, detail, problems);
  }
  return undefined;
}

interface CloudTrailBase {
  readonly eventId: string;
  readonly eventName: string;
  readonly eventSource: string;
  readonly observedAt: string;
  readonly account: string;
  readonly region: string;
  readonly actor: string | undefined;
}

function empty(): DetailResult {
  return { findings: [], ignored: [] };
}

function ignore(ignored: Ignored): DetailResult {
  return { findings: [], ignored: [ignored] };
}

function result(findings: Finding[], ignored: Ignored[]): DetailResult {
  return { findings, ignored };
}

/** The id of the finding an event yields for one control. */
function findingId(base: CloudTrailBase, control: ControlId): string {
  return `${base.eventId}#${control}`;
}

function claim(base: CloudTrailBase, control: ControlId, resource: Finding['resource'], title: string, severity: Severity = DEFAULT_SEVERITY[control as FirstControlId]): Finding {
  const origin: Record<string, string> = {
    eventName: cleanText(base.eventName, LIMITS.originChars),
    eventSource: cleanText(base.eventSource, LIMITS.originChars),
    eventId: base.eventId,
  };
  if (base.actor !== undefined) origin['actor'] = base.actor;
  return {
    id: findingId(base, control),
    source: FindingSource.CloudTrail,
    control,
    account: base.account,
    region: base.region,
    resource,
    severity,
    title: cleanText(title, LIMITS.titleChars),
    observedAt: base.observedAt,
    state: 'active',
    origin,
  };
}

// ---------------------------------------------------------------------------------------
// S3

/** A bucket ARN from the record's own `resources` list, when requestParameters lacks it. */
function bucketFromResources(detail: Obj): string | undefined {
  const resources = getOwn(detail, 'resources');
  if (!Array.isArray(resources)) return undefined;
  for (const r of resources.slice(0, LIMITS.maxResources)) {
    const arn = getOwn(r, 'ARN');
    if (getOwn(r, 'type') === 'AWS::S3::Bucket' && typeof arn === 'string') {
      const m = /^arn:aws[a-z-]*:s3:::([^/]+)$/.exec(arn);
      if (m?.[1] !== undefined) return m[1];
    }
  }
  return undefined;
}

/** True, or the string "true" (any case), as CloudTrail may render XML booleans either way. */
function isOn(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

function s3Event(base: CloudTrailBase, detail: Obj, problems: Problems): DetailResult {
  const params = getOwn(detail, 'requestParameters');
  let rawBucket = getOwn(params, 'bucketName');
  let path = 'detail.requestParameters.bucketName';
  if (rawBucket === undefined) {
    const fromResources = bucketFromResources(detail);
    if (fromResources !== undefined) {
      rawBucket = fromResources;
      path = 'detail.resources[].ARN';
    }
  }
  const bucket = checkBucketName(rawBucket, path, problems);
  if (bucket === undefined) return empty();
  const resource = { type: ResourceType.S3Bucket, id: bucket } as const;

  switch (base.eventName) {
    case 'CreateBucket': {
      const findings = [
        claim(base, ControlId.S3BlockPublicAccess, resource, `S3 bucket ${bucket} was created; its public access block must be verified`),
        claim(base, ControlId.S3DefaultEncryption, resource, `S3 bucket ${bucket} was created; its default encryption must be verified`),
      ];
      // CreateBucket takes ACLs only as headers; without them the bucket is private.
      if (aclVerdict(params, false) === 'public') {
        findings.push(claim(base, ControlId.S3PublicAcl, resource, `S3 bucket ${bucket} was created with a public ACL`));
      }
      return result(findings, []);
    }
    case 'PutBucketAcl': {
      const findings = [claim(base, ControlId.S3BlockPublicAccess, resource, `The ACL of S3 bucket ${bucket} was changed`)];
      const ignored: Ignored[] = [];
      const verdict = aclVerdict(params, true);
      if (verdict === 'public') {
        findings.push(
          claim(base, ControlId.S3PublicAcl, resource, `The ACL of S3 bucket ${bucket} was changed to grant access to everyone or to any AWS user`),
        );
      } else if (verdict === 'unknown') {
        findings.push(
          claim(base, ControlId.S3PublicAcl, resource, `The ACL of S3 bucket ${bucket} was changed; it must be checked for public grants`),
        );
      } else {
        ignored.push({
          reason: 'the new ACL grants nothing to AllUsers or AuthenticatedUsers',
          ref: findingId(base, ControlId.S3PublicAcl),
        });
      }
      return result(findings, ignored);
    }
    case 'DeleteBucketPublicAccessBlock':
      return result(
        [claim(base, ControlId.S3BlockPublicAccess, resource, `The public access block of S3 bucket ${bucket} was deleted`)],
        [],
      );
    case 'PutBucketPublicAccessBlock': {
      const config = getOwnIgnoringCase(params, 'PublicAccessBlockConfiguration');
      if (isObject(config) && PUBLIC_ACCESS_BLOCK_SETTINGS.every((s) => isOn(getOwnIgnoringCase(config, s)))) {
        // Also what our own remediation emits: it must not start work.
        return ignore({ reason: 'public access block fully on', ref: base.eventId });
      }
      return result(
        [
          claim(
            base,
            ControlId.S3BlockPublicAccess,
            resource,
            `The public access block of S3 bucket ${bucket} was set without all four settings on`,
          ),
        ],
        [],
      );
    }
    case 'PutBucketEncryption':
      // Whatever was set (SSE-S3, SSE-KMS, DSSE-KMS), the policy decides whether it is enough.
      return result(
        [
          claim(
            base,
            ControlId.S3DefaultEncryption,
            resource,
            `The default encryption of S3 bucket ${bucket} was changed; it must be checked against the policy`,
          ),
        ],
        [],
      );
    case 'DeleteBucketEncryption':
      return result(
        [
          claim(
            base,
            ControlId.S3DefaultEncryption,
            resource,
            `The default encryption configuration of S3 bucket ${bucket} was deleted (the bucket is back to SSE-S3)`,
          ),
        ],
        [],
      );
    default:
      return ignore({ reason: `event ${short(base.eventName)} is not remediated`, ref: base.eventId });
  }
}

/** Grantee groups that make an ACL public (Amazon S3 User Guide, "Access control list (ACL) overview"). */
const PUBLIC_GROUP_URI = /acs\.amazonaws\.com\/groups\/global\/(AllUsers|AuthenticatedUsers)\b/i;
const PUBLIC_CANNED_ACLS: ReadonlySet<string> = new Set(['public-read', 'public-read-write', 'authenticated-read']);
const PRIVATE_CANNED_ACLS: ReadonlySet<string> = new Set([
  'private',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
]);
const GRANT_HEADERS = [
  'x-amz-grant-read',
  'x-amz-grant-write',
  'x-amz-grant-read-acp',
  'x-amz-grant-write-acp',
  'x-amz-grant-full-control',
] as const;

type AclVerdict = 'public' | 'not-public' | 'unknown';

/** A header as CloudTrail logs it: an array of strings (or, from some tools, one string). */
function headerValues(value: unknown): readonly string[] | undefined {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value) || value.length > LIMITS.maxScannedItems) return undefined;
  // An indexed loop, not every(): every() skips the holes of a sparse array.
  const values: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'string') return undefined;
    values.push(v);
  }
  return values;
}

/**
 * Whether an ACL request grants anything to AllUsers or AuthenticatedUsers. 'unknown' when
 * the request cannot be read completely (the control then reads the live bucket ACL).
 * `withBody`: whether the request may carry an AccessControlPolicy body (PutBucketAcl).
 */
function aclVerdict(params: unknown, withBody: boolean): AclVerdict {
  let understood = false;
  let opaque = false;

  const canned = getOwnIgnoringCase(params, 'x-amz-acl');
  if (canned !== undefined) {
    const values = headerValues(canned);
    if (values === undefined) opaque = true;
    else {
      for (const v of values) {
        const acl = v.trim().toLowerCase();
        if (PUBLIC_CANNED_ACLS.has(acl)) return 'public';
        if (PRIVATE_CANNED_ACLS.has(acl)) understood = true;
        else if (acl !== '') opaque = true;
      }
    }
  }

  for (const header of GRANT_HEADERS) {
    const raw = getOwnIgnoringCase(params, header);
    if (raw === undefined) continue;
    const values = headerValues(raw);
    if (values === undefined) {
      opaque = true;
      continue;
    }
    // Grantee lists: `uri="http://acs.amazonaws.com/groups/global/AllUsers", id="..."`.
    if (values.some((v) => PUBLIC_GROUP_URI.test(v.slice(0, 8192)))) return 'public';
    understood = true;
  }

  if (withBody) {
    const policy = getOwnIgnoringCase(params, 'AccessControlPolicy');
    if (policy !== undefined) {
      const body = grantsVerdict(getOwnIgnoringCase(getOwnIgnoringCase(policy, 'AccessControlList'), 'Grant'));
      if (body === 'public') return 'public';
      if (body === 'not-public') understood = true;
      else opaque = true;
    }
  }

  return understood && !opaque ? 'not-public' : 'unknown';
}

/** `AccessControlList.Grant`: one grant or a list of them (an empty list grants nothing). */
function grantsVerdict(raw: unknown): AclVerdict {
  const grants = Array.isArray(raw) ? raw : raw === undefined ? undefined : [raw];
  if (grants === undefined || grants.length > LIMITS.maxScannedItems) return 'unknown';
  let readable = true;
  for (const grant of grants) {
    const grantee = getOwnIgnoringCase(grant, 'Grantee');
    if (!isObject(grantee)) {
      readable = false;
      continue;
    }
    const uri = getOwnIgnoringCase(grantee, 'URI');
    if (typeof uri === 'string') {
      if (PUBLIC_GROUP_URI.test(uri.slice(0, 8192))) return 'public';
    } else if (typeof getOwnIgnoringCase(grantee, 'ID') !== 'string' && typeof getOwnIgnoringCase(grantee, 'EmailAddress') !== 'string') {
      readable = false;
    }
  }
  return readable ? 'not-public' : 'unknown';
}

// ---------------------------------------------------------------------------------------
// EC2 security groups

/** True when the CIDR covers every address: 0.0.0.0/0, ::/0, or any address with prefix /0. */
export function isWorldOpenCidr(cidr: string): boolean {
  const parts = cidr.trim().split('/');
  if (parts.length !== 2) return false;
  const [address, prefix] = parts;
  return address !== undefined && /[.:]/.test(address) && prefix !== undefined && /^0+$/.test(prefix);
}

/** `{ items: [...] }` as CloudTrail renders EC2 lists, or a bare array (some tools flatten it). */
function itemsOf(value: unknown): readonly unknown[] | undefined {
  if (Array.isArray(value)) return value;
  const items = getOwn(value, 'items');
  return Array.isArray(items) ? items : undefined;
}

type IngressVerdict = 'world-open' | 'not-world-open' | 'unknown';

/**
 * Whether the request opened a range to the whole internet. 'unknown' when the request
 * cannot be read (triage then reads the live group). Ports are deliberately not looked at:
 * which ports count as admin ports is a policy setting.
 */
function analyzeIngress(params: unknown, response: unknown): IngressVerdict {
  const cidrs: string[] = [];
  let understood = false;
  let truncated = false;
  // A prefix list may itself hold 0.0.0.0/0: the request alone cannot tell.
  let opaque = false;
  let budget: number = LIMITS.maxScannedItems;

  const take = (value: unknown): void => {
    if (typeof value === 'string' && budget > 0) {
      budget--;
      cidrs.push(value);
    }
  };

  const permissions = itemsOf(getOwn(params, 'ipPermissions'));
  if (permissions !== undefined && permissions.length > 0) {
    understood = true;
    if (permissions.length > LIMITS.maxScannedItems) truncated = true;
    for (const item of permissions.slice(0, LIMITS.maxScannedItems)) {
      if (!isObject(item)) {
        understood = false;
        continue;
      }
      for (const range of itemsOf(getOwn(item, 'ipRanges'))?.slice(0, LIMITS.maxScannedItems) ?? []) {
        take(getOwn(range, 'cidrIp'));
      }
      for (const range of itemsOf(getOwn(item, 'ipv6Ranges'))?.slice(0, LIMITS.maxScannedItems) ?? []) {
        take(getOwn(range, 'cidrIpv6'));
      }
      if ((itemsOf(getOwn(item, 'prefixListIds'))?.length ?? 0) > 0) opaque = true;
      if (budget === 0) truncated = true;
    }
  }

  // The older flat form: AuthorizeSecurityGroupIngress(GroupId, CidrIp, IpProtocol, FromPort, ToPort).
  const flatCidr = getOwn(params, 'cidrIp');
  if (typeof flatCidr === 'string') {
    understood = true;
    take(flatCidr);
  }

  // What EC2 reports it created (records since security group rule ids, 2021).
  const rules = itemsOf(getPath(response, 'securityGroupRuleSet'));
  if (rules !== undefined) {
    for (const rule of rules.slice(0, LIMITS.maxScannedItems)) {
      take(getOwn(rule, 'cidrIpv4'));
      take(getOwn(rule, 'cidrIpv6'));
      if (getOwn(rule, 'prefixListId') !== undefined) opaque = true;
    }
  }

  if (cidrs.some(isWorldOpenCidr)) return 'world-open';
  if (understood && !truncated && !opaque) return 'not-world-open';
  return 'unknown';
}

function securityGroupIngress(base: CloudTrailBase, detail: Obj, problems: Problems): DetailResult {
  const params = getOwn(detail, 'requestParameters');
  const response = getOwn(detail, 'responseElements');

  let rawGroupId = getOwn(params, 'groupId');
  let path = 'detail.requestParameters.groupId';
  if (rawGroupId === undefined) {
    const firstRule = itemsOf(getOwn(response, 'securityGroupRuleSet'))?.[0];
    rawGroupId = getOwn(firstRule, 'groupId');
    path = 'detail.responseElements.securityGroupRuleSet.items[0].groupId';
  }
  if (rawGroupId === undefined) {
    return ignore({
      reason: 'no security group id in the request or the response (a request by group name?)',
      ref: base.eventId,
    });
  }
  const groupId = checkSecurityGroupId(rawGroupId, path, problems);
  if (groupId === undefined) return empty();

  const verdict = analyzeIngress(params, response);
  if (verdict === 'not-world-open') {
    return ignore({ reason: 'no world-open range in the request', ref: base.eventId });
  }
  const title =
    verdict === 'world-open'
      ? `Security group ${groupId} was opened to the internet (0.0.0.0/0 or ::/0)`
      : `An ingress rule was added to security group ${groupId}; it must be checked for world-open admin ports`;
  return result([claim(base, ControlId.SgAdminPortsOpen, { type: ResourceType.SecurityGroup, id: groupId }, title)], []);
}

// ---------------------------------------------------------------------------------------
// IAM users

function iamEvent(base: CloudTrailBase, detail: Obj, problems: Problems): DetailResult {
  if (base.eventName === 'DeleteVirtualMFADevice') {
    return ignore({
      reason:
        'DeleteVirtualMFADevice names only the device, not its user; an assigned device must first be deactivated (DeactivateMFADevice, which names the user)',
      ref: base.eventId,
    });
  }

  let rawUser = getPath(detail, 'requestParameters', 'userName');
  let path = 'detail.requestParameters.userName';
  if (rawUser === undefined && base.eventName === 'CreateLoginProfile') {
    // UserName is optional: it then defaults to the caller, and the response names the user.
    rawUser = getPath(detail, 'responseElements', 'loginProfile', 'userName');
    path = 'detail.responseElements.loginProfile.userName';
  }
  if (rawUser === undefined) {
    return ignore({
      reason: `${short(base.eventName)} names no IAM user (a root user password, set from an AssumeRoot session?)`,
      ref: base.eventId,
    });
  }
  const user = checkIamUserName(rawUser, path, problems);
  if (user === undefined) return empty();

  const title =
    base.eventName === 'CreateLoginProfile'
      ? `IAM user ${user} was given a console password; MFA must be verified`
      : `An MFA device of IAM user ${user} was deactivated`;
  return result([claim(base, ControlId.IamUserConsoleMfa, { type: ResourceType.IamUser, id: user }, title)], []);
}
