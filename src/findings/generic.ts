/**
 * The generic finding format, for Prowler and other scanners that can post JSON:
 *
 *   { "id": "prowler-s3-1234", "control": "s3-block-public-access",
 *     "account": "123456789012", "region": "us-east-1", "resource": { "id": "my-bucket" },
 *     "severity": "HIGH", "title": "optional", "observedAt": "optional ISO 8601 (default now)",
 *     "status": "active | resolved (optional, default active)", "scanner": "optional" }
 *
 * One object, or { "findings": [ ... ] } with 1..100 of them. Unknown fields are ignored.
 * `control` is any registered control (src/activities/controls); the resource type follows from it, and `resource.id` is
 * checked for that type: a bucket name (AwsS3Bucket), a group id sg-... (AwsEc2SecurityGroup),
 * the finding's own 12-digit account id (AwsAccount), an IAM user name, not an ARN
 * (AwsIamUser: 1-64 of letters, digits and _+=,.@-). IAM is global: for iam-user-console-mfa
 * `region` may be left out and defaults to us-east-1, where IAM events are delivered.
 * Pure module: no I/O (the clock can be injected for tests).
 */
import { getControl, isRegisteredControl, registeredControlIds } from '../activities/controls/index.js';
import { InvalidInputError } from '../errors.js';
import {
  FindingSource,
  ResourceType,
  SEVERITIES,
  type ControlId,
  type Finding,
  type FindingState,
  type Severity,
} from './finding.js';
import type { Normalized } from './validate.js';
import {
  LIMITS,
  Problems,
  checkAccount,
  checkAccountResource,
  checkBucketName,
  checkIamUserName,
  checkId,
  checkRegion,
  checkSecurityGroupId,
  checkTimestamp,
  cleanText,
  describeType,
  getOwn,
  isObject,
  isSeverity,
  join,
  quote,
  catalogResourceId,
  isBuiltInResourceType,
} from './validate.js';

export interface GenericOptions {
  /** The clock for findings without observedAt. */
  readonly now?: () => Date;
}

const WHAT = 'generic finding';
const RESOURCE_TYPES: readonly string[] = Object.values(ResourceType);

function isResourceType(value: unknown): value is ResourceType {
  return typeof value === 'string' && RESOURCE_TYPES.includes(value);
}

/**
 * The generic finding format: one object, or { "findings": [ ... ] } with 1..100 of them.
 * Throws InvalidInputError listing every problem.
 */
export function normalizeGenericFindings(body: unknown, options: GenericOptions = {}): Normalized {
  if (!isObject(body)) {
    throw new InvalidInputError(WHAT, [
      `body: must be a finding object or {"findings": [...]}, got ${describeType(body)}`,
    ]);
  }
  const now = options.now ?? (() => new Date());
  const problems = new Problems();
  const findings: Finding[] = [];

  const batch = getOwn(body, 'findings');
  if (batch !== undefined) {
    if (!Array.isArray(batch)) {
      problems.add('findings', `must be an array, got ${describeType(batch)}`);
    } else if (batch.length < 1 || batch.length > LIMITS.maxFindings) {
      problems.add('findings', `must hold 1 to ${LIMITS.maxFindings} findings, got ${batch.length}`);
    } else {
      batch.forEach((item: unknown, i: number) => {
        const f = normalizeOne(item, `findings[${i}]`, problems, now);
        if (f !== undefined) findings.push(f);
      });
    }
  } else {
    const f = normalizeOne(body, '', problems, now);
    if (f !== undefined) findings.push(f);
  }

  if (problems.count > 0) throw new InvalidInputError(WHAT, problems.all());
  return { findings, ignored: [] };
}

/** Where IAM, a global service, delivers its events; the region of IAM findings that name none. */
const IAM_DEFAULT_REGION = 'us-east-1';

/** `resource.id` checked for its resource type (only its presence when the type is unknown). */
function checkResourceId(
  type: string | undefined,
  rawId: unknown,
  account: string | undefined,
  path: string,
  problems: Problems,
  control: ControlId | undefined,
): string | undefined {
  const cataloged = control === undefined ? undefined : getControl(control);
  if (type !== undefined && !isBuiltInResourceType(type) && cataloged !== undefined) return catalogResourceId(cataloged.catalog, rawId, path, problems);
  switch (type) {
    case ResourceType.S3Bucket:
      return checkBucketName(rawId, path, problems);
    case ResourceType.SecurityGroup:
      return checkSecurityGroupId(rawId, path, problems);
    case ResourceType.Account:
      // Against the finding's account when that is valid; its own problem is reported apart.
      return account === undefined ? checkAccount(rawId, path, problems) : checkAccountResource(rawId, account, path, problems);
    case ResourceType.IamUser:
      return checkIamUserName(rawId, path, problems);
    default:
      if (typeof rawId !== 'string') {
        problems.add(path, rawId === undefined ? 'is missing' : `must be a string, got ${describeType(rawId)}`);
      }
      return undefined;
  }
}

function normalizeOne(item: unknown, prefix: string, problems: Problems, now: () => Date): Finding | undefined {
  if (!isObject(item)) {
    problems.add(prefix === '' ? 'body' : prefix, `must be an object, got ${describeType(item)}`);
    return undefined;
  }
  const before = problems.count;

  const id = checkId(getOwn(item, 'id'), join(prefix, 'id'), problems, 256);

  const rawControl = getOwn(item, 'control');
  let control: ControlId | undefined;
  if (rawControl === undefined) {
    problems.add(join(prefix, 'control'), 'is missing');
  } else if (isRegisteredControl(rawControl)) {
    control = rawControl;
  } else {
    const where = prefix === '' ? '' : `${prefix}.`;
    problems.add('', `${where}control ${quote(rawControl)} is not supported; supported: ${registeredControlIds().join(', ')}`);
  }

  const account = checkAccount(getOwn(item, 'account'), join(prefix, 'account'), problems);
  const rawRegion = getOwn(item, 'region');
  const region =
    control !== undefined && getControl(control)?.catalog.global === true && (rawRegion === undefined || rawRegion === null)
      ? IAM_DEFAULT_REGION
      : checkRegion(rawRegion, join(prefix, 'region'), problems);

  // Resource: type is derived from the control; if given it must agree.
  const resource = getOwn(item, 'resource');
  let resourceType: string | undefined = control === undefined ? undefined : getControl(control)?.catalog.resourceType;
  let resourceId: string | undefined;
  if (!isObject(resource)) {
    problems.add(join(prefix, 'resource'), resource === undefined ? 'is missing' : `must be an object, got ${describeType(resource)}`);
  } else {
    const givenType = getOwn(resource, 'type');
    if (givenType !== undefined) {
      if (resourceType !== undefined && givenType !== resourceType) {
        problems.add(
          join(prefix, 'resource.type'),
          `must be ${JSON.stringify(resourceType)} for control ${String(control)}, got ${quote(givenType)}`,
        );
        resourceType = undefined;
      } else if (resourceType === undefined) {
        if (isResourceType(givenType)) resourceType = givenType;
        else problems.add(join(prefix, 'resource.type'), `must be one of ${RESOURCE_TYPES.join(', ')}, got ${quote(givenType)}`);
      }
    }
    resourceId = checkResourceId(resourceType, getOwn(resource, 'id'), account, join(prefix, 'resource.id'), problems, control);
  }

  const rawSeverity = getOwn(item, 'severity');
  const upper = typeof rawSeverity === 'string' ? rawSeverity.toUpperCase() : rawSeverity;
  let severity: Severity | undefined;
  if (isSeverity(upper)) severity = upper;
  else {
    problems.add(
      join(prefix, 'severity'),
      rawSeverity === undefined ? 'is missing' : `must be one of ${SEVERITIES.join(', ')}, got ${quote(rawSeverity)}`,
    );
  }

  const rawTitle = getOwn(item, 'title');
  let title: string | undefined;
  if (rawTitle !== undefined && rawTitle !== null) {
    if (typeof rawTitle === 'string') title = cleanText(rawTitle, LIMITS.titleChars);
    else problems.add(join(prefix, 'title'), `must be a string, got ${describeType(rawTitle)}`);
  }

  const rawObservedAt = getOwn(item, 'observedAt');
  const observedAt =
    rawObservedAt === undefined || rawObservedAt === null
      ? now().toISOString()
      : checkTimestamp(rawObservedAt, join(prefix, 'observedAt'), problems);

  const rawStatus = getOwn(item, 'status');
  let state: FindingState = 'active';
  if (rawStatus === 'resolved') state = 'resolved';
  else if (rawStatus !== undefined && rawStatus !== null && rawStatus !== 'active') {
    problems.add(join(prefix, 'status'), `must be "active" or "resolved", got ${quote(rawStatus)}`);
  }

  const rawScanner = getOwn(item, 'scanner');
  let scanner: string | undefined;
  if (rawScanner !== undefined && rawScanner !== null) {
    if (typeof rawScanner === 'string') scanner = cleanText(rawScanner, LIMITS.reasonValueChars);
    else problems.add(join(prefix, 'scanner'), `must be a string, got ${describeType(rawScanner)}`);
  }

  if (
    problems.count > before ||
    id === undefined ||
    control === undefined ||
    account === undefined ||
    region === undefined ||
    resourceType === undefined ||
    resourceId === undefined ||
    severity === undefined ||
    observedAt === undefined
  ) {
    return undefined;
  }

  const origin: Record<string, string> = {};
  if (scanner !== undefined && scanner !== '') origin['scanner'] = scanner;
  return {
    id,
    source: FindingSource.Generic,
    control,
    account,
    region,
    resource: { type: resourceType, id: resourceId },
    severity,
    title: title === undefined || title === '' ? `${control} on ${resourceId}` : title,
    observedAt,
    state,
    origin,
  };
}
