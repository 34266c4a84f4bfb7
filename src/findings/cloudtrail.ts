/**
 * 'AWS API Call via CloudTrail' events: one CloudTrail record in `detail`, one finding per
 * event. The envelope source is the calling service ("aws.s3", "aws.ec2").
 *
 * Shapes (see test/fixtures/events/cloudtrail-*.json):
 * - S3 bucket-level calls log `requestParameters.bucketName`; the bucket-level
 *   PutPublicAccessBlock API is logged under the event name `PutBucketPublicAccessBlock`
 *   (and DeletePublicAccessBlock as `DeleteBucketPublicAccessBlock`), with
 *   `requestParameters.PublicAccessBlockConfiguration.{BlockPublicAcls, IgnorePublicAcls,
 *   BlockPublicPolicy, RestrictPublicBuckets}` plus an `xmlns` key.
 * - EC2 AuthorizeSecurityGroupIngress logs `requestParameters.groupId` and
 *   `requestParameters.ipPermissions.items[].{ipRanges.items[].cidrIp,
 *   ipv6Ranges.items[].cidrIpv6}`; calls in the older flat form log
 *   `requestParameters.cidrIp` with an empty `ipPermissions`; newer records add
 *   `responseElements.securityGroupRuleSet.items[].{groupId, cidrIpv4, cidrIpv6}`.
 *
 * Pure module: no I/O.
 */
import type { DetailResult, Envelope } from './eventbridge.js';
import { ControlId, FindingSource, ResourceType, Severity, type Finding } from './finding.js';
import type { Ignored, Obj, Problems } from './validate.js';
import {
  LIMITS,
  checkAccount,
  checkBucketName,
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

/** Source the envelope must carry for the event sources this module acts on. */
const EXPECTED_SOURCE: Readonly<Record<string, string>> = Object.freeze({
  [S3_EVENT_SOURCE]: 'aws.s3',
  [EC2_EVENT_SOURCE]: 'aws.ec2',
});

const S3_TITLES: ReadonlyMap<string, (bucket: string) => string> = new Map([
  ['CreateBucket', (b: string) => `S3 bucket ${b} was created; its public access block must be verified`],
  ['PutBucketAcl', (b: string) => `The ACL of S3 bucket ${b} was changed`],
  ['DeleteBucketPublicAccessBlock', (b: string) => `The public access block of S3 bucket ${b} was deleted`],
  ['PutBucketPublicAccessBlock', (b: string) => `The public access block of S3 bucket ${b} was set without all four settings on`],
]);

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

  const empty: DetailResult = { findings: [], ignored: [] };
  if (
    problems.count > before ||
    eventId === undefined ||
    eventName === undefined ||
    eventSource === undefined ||
    observedAt === undefined ||
    account === undefined ||
    region === undefined
  ) {
    return empty;
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

  if (eventSource === S3_EVENT_SOURCE && S3_TITLES.has(eventName)) {
    return s3Event(base, detail, problems);
  }
  if (eventSource === EC2_EVENT_SOURCE && eventName === 'AuthorizeSecurityGroupIngress') {
    return securityGroupIngress(base, detail, problems);
  }
  return ignore({ reason: `event ${short(eventName)} is not remediated`, ref: eventId });
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

function ignore(ignored: Ignored): DetailResult {
  return { findings: [], ignored: [ignored] };
}

function finding(base: CloudTrailBase, control: ControlId, resource: Finding['resource'], title: string): DetailResult {
  const origin: Record<string, string> = {
    eventName: cleanText(base.eventName, LIMITS.originChars),
    eventSource: cleanText(base.eventSource, LIMITS.originChars),
    eventId: base.eventId,
  };
  if (base.actor !== undefined) origin['actor'] = base.actor;
  return {
    findings: [
      {
        id: base.eventId,
        source: FindingSource.CloudTrail,
        control,
        account: base.account,
        region: base.region,
        resource,
        severity: Severity.High,
        title: cleanText(title, LIMITS.titleChars),
        observedAt: base.observedAt,
        state: 'active',
        origin,
      },
    ],
    ignored: [],
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
  if (bucket === undefined) return { findings: [], ignored: [] };

  if (base.eventName === 'PutBucketPublicAccessBlock') {
    const config = getOwnIgnoringCase(params, 'PublicAccessBlockConfiguration');
    if (isObject(config) && PUBLIC_ACCESS_BLOCK_SETTINGS.every((s) => isOn(getOwnIgnoringCase(config, s)))) {
      // Also what our own remediation emits: it must not start work.
      return ignore({ reason: 'public access block fully on', ref: base.eventId });
    }
  }
  const title = S3_TITLES.get(base.eventName)?.(bucket) ?? `${base.eventName} on S3 bucket ${bucket}`;
  return finding(base, ControlId.S3BlockPublicAccess, { type: ResourceType.S3Bucket, id: bucket }, title);
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
 * cannot be read (triage then reads the live group).
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
  if (groupId === undefined) return { findings: [], ignored: [] };

  const verdict = analyzeIngress(params, response);
  if (verdict === 'not-world-open') {
    return ignore({ reason: 'no world-open range in the request', ref: base.eventId });
  }
  const title =
    verdict === 'world-open'
      ? `Security group ${groupId} was opened to the internet (0.0.0.0/0 or ::/0)`
      : `An ingress rule was added to security group ${groupId}; it must be checked for world-open admin ports`;
  return finding(base, ControlId.SgAdminPortsOpen, { type: ResourceType.SecurityGroup, id: groupId }, title);
}
