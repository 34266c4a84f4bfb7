/**
 * 'Security Hub Findings - Imported' events: `detail.findings` holds findings in the AWS
 * Security Finding Format (ASFF). Security Hub sends one finding per event, but the
 * format is an array, so 1..100 are accepted. A problem in any finding makes the whole
 * event invalid; problems are prefixed `findings[i].`.
 *
 * Control findings carry `Compliance.SecurityControlId` (e.g. "S3.8"); older
 * standard-specific findings carry `ProductFields.ControlId` (for FSBP the same id, for
 * CIS the benchmark number such as "2.2.1") or `ProductFields.RuleId`.
 *
 * Pure module: no I/O.
 */
import type { DetailResult, Envelope } from './eventbridge.js';
import { controlForSecurityHubId } from '../activities/controls/index.js';
import {
  FindingSource,
  ResourceType,
  SECURITY_HUB_NOTE_AUTHOR,
  type Finding,
  type FindingState,
  type Severity,
} from './finding.js';
import type { Ignored, Obj, Problems, ScanRequest } from './validate.js';
import {
  LIMITS,
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
  getPath,
  isObject,
  isSeverity,
  join,
  quote,
  severityFromNormalized,
  userNameFromArn,
  catalogResourceId,
  isBuiltInResourceType,
} from './validate.js';

/**
 * Security Hub control id -> the control this product implements. Ids, resource types and
 * backing AWS Config rules from the Security Hub CSPM User Guide, "Security Hub CSPM controls
 * reference" (s3-controls, ec2-controls, iam-controls pages).
 *
 * Several controls check more than the product's control does; their findings are prompts the
 * control confirms by reading the live resource (as it does for every source):
 * - S3.2 / S3.3 (public read / write; AWS::S3::Bucket; rules s3-bucket-public-read-prohibited /
 *   s3-bucket-public-write-prohibited) evaluate block public access, the bucket ACL AND the
 *   bucket policy. They map to the ACL control: a bucket public only through its policy is
 *   left to s3-block-public-access (S3.8), which blocks public policies.
 * - S3.17 (SSE-KMS or DSSE-KMS; rule s3-default-encryption-kms) fails SSE-S3 buckets; whether
 *   SSE-S3 is enough is the policy's call. S3.4 (server-side encryption enabled) is no longer
 *   listed in the controls reference (S3 applies SSE-S3 to every bucket since January 5, 2023;
 *   Amazon S3 User Guide, "Amazon S3 CloudTrail events") and is not mapped: the findings of a
 *   control that is gone get archived, and ARCHIVED must not read as "resolved".
 * - EC2.18 (rule vpc-sg-open-only-to-authorized-ports) fails any world-open port outside its
 *   authorized list (default 80, 443), EC2.19 a fixed list of 24 high-risk ports; EC2.13 (22),
 *   EC2.14 (3389), EC2.53 (0.0.0.0/0 to 22, 3389) and EC2.54 (::/0 to 22, 3389) match the
 *   default policy exactly. Which ports count is the policy's setting.
 * - EC2.7 (EBS default encryption; AWS::::Account, resource Id "AWS::::Account:<account>").
 * - IAM.5 (MFA for IAM users with a console password; rule mfa-enabled-for-iam-console-access)
 *   is the control. IAM.19 (MFA for all IAM users; rule iam-user-mfa-enabled) also fails users
 *   without a console password: the control checks for a login profile before chasing anyone.
 */
// The mapping itself is each control's `catalog.securityHub` (src/activities/controls/), so that a
// control of one's own maps its Security Hub ids the same way.

const COMPLIANCE_STATUSES = ['PASSED', 'WARNING', 'FAILED', 'NOT_AVAILABLE'] as const;

type Outcome = { readonly finding: Finding } | { readonly ignored: Ignored } | { readonly scan: ScanRequest } | undefined;

export function normalizeSecurityHub(env: Envelope, detail: Obj, problems: Problems): DetailResult {
  const raw = getOwn(detail, 'findings');
  if (!Array.isArray(raw)) {
    problems.add('detail.findings', raw === undefined ? 'is missing' : `must be an array, got ${describeType(raw)}`);
    return { findings: [], ignored: [] };
  }
  if (raw.length < 1 || raw.length > LIMITS.maxFindings) {
    problems.add('detail.findings', `must hold 1 to ${LIMITS.maxFindings} findings, got ${raw.length}`);
    return { findings: [], ignored: [] };
  }
  const findings: Finding[] = [];
  const ignored: Ignored[] = [];
  const scans: ScanRequest[] = [];
  raw.forEach((item: unknown, i: number) => {
    const outcome = normalizeAsff(env, item, `findings[${i}]`, problems);
    if (outcome === undefined) return;
    if ('finding' in outcome) findings.push(outcome.finding);
    else if ('scan' in outcome) scans.push(outcome.scan);
    else ignored.push(outcome.ignored);
  });
  return { findings, ignored, ...(scans.length ? { scans } : {}) };
}

function firstString(...values: readonly unknown[]): string | undefined {
  for (const v of values) {
    if (typeof v === 'string' && v.trim() !== '') return v;
  }
  return undefined;
}

function normalizeAsff(env: Envelope, f: unknown, prefix: string, problems: Problems): Outcome {
  if (!isObject(f)) {
    problems.add(prefix, `must be an object, got ${describeType(f)}`);
    return undefined;
  }
  const before = problems.count;
  const id = checkId(getOwn(f, 'Id'), join(prefix, 'Id'), problems);
  const account = checkAccount(getOwn(f, 'AwsAccountId'), join(prefix, 'AwsAccountId'), problems);
  const rawControlId = firstString(
    getPath(f, 'Compliance', 'SecurityControlId'),
    getPath(f, 'ProductFields', 'ControlId'),
    getPath(f, 'ProductFields', 'RuleId'),
  );
  if (problems.count > before || id === undefined || account === undefined) return undefined;

  if (rawControlId === undefined) {
    return { ignored: { reason: 'not a control finding (no Compliance.SecurityControlId or ProductFields.ControlId)', ref: id } };
  }
  const controlId = cleanText(rawControlId, LIMITS.reasonValueChars);
  const cataloged = controlForSecurityHubId(rawControlId);
  const control = cataloged?.id;
  if (cataloged === undefined || control === undefined) {
    return { ignored: { reason: `control ${controlId} is not remediated`, ref: id } };
  }

  // State. Archived and passed findings are recorded as resolved, never acted on.
  const recordState = getOwn(f, 'RecordState');
  const complianceStatus = getPath(f, 'Compliance', 'Status');
  const workflowStatus = getPath(f, 'Workflow', 'Status');
  let state: FindingState | undefined;
  if (recordState === 'ARCHIVED' || complianceStatus === 'PASSED') {
    state = 'resolved';
  } else if (workflowStatus === 'SUPPRESSED') {
    return { ignored: { reason: 'suppressed in Security Hub', ref: id } };
  } else if (workflowStatus === 'RESOLVED') {
    // Security Hub itself sets RESOLVED back to NEW when a new evaluation fails: that event is acted on.
    return { ignored: { reason: 'workflow status RESOLVED in Security Hub (a new failed evaluation resets it to NEW)', ref: id } };
  } else if (isOwnWriteBack(f)) {
    return { ignored: { reason: `the event of ${SECURITY_HUB_NOTE_AUTHOR}'s own write-back: not evaluated again since`, ref: id } };
  } else if (complianceStatus === 'FAILED') {
    state = 'active';
  } else if (complianceStatus === 'WARNING' || complianceStatus === 'NOT_AVAILABLE') {
    return { ignored: { reason: `compliance status ${complianceStatus}: the check did not decide`, ref: id } };
  } else {
    problems.add(
      join(prefix, 'Compliance.Status'),
      `must be one of ${COMPLIANCE_STATUSES.join(', ')}, got ${quote(complianceStatus)}`,
    );
  }

  // Resource.
  const resourceType = cataloged.catalog.resourceType;
  const resources = getOwn(f, 'Resources');
  let resourceId: string | undefined;
  let resourceRegion: unknown;
  if (!Array.isArray(resources) || resources.length === 0) {
    problems.add(
      join(prefix, 'Resources'),
      resources === undefined
        ? 'is missing'
        : Array.isArray(resources)
          ? 'must hold at least one resource'
          : `must be an array, got ${describeType(resources)}`,
    );
  } else {
    const index = resources.slice(0, LIMITS.maxResources).findIndex((r: unknown) => getOwn(r, 'Type') === resourceType);
    const resource = index >= 0 ? resources[index] : undefined;
    const onAccount = resources.slice(0, LIMITS.maxResources).some((r: unknown) => getOwn(r, 'Type') === ResourceType.Account);
    if (resource === undefined && onAccount && !isBuiltInResourceType(resourceType)) {
      // A periodic check of the whole account (EC2.1 names AWS::::Account, not a snapshot): a scan finds the resources.
      const rawRegion = getOwn(f, 'Region');
      const region = rawRegion !== undefined ? checkRegion(rawRegion, join(prefix, 'Region'), problems) : env.region;
      if (problems.count > before || state === undefined || region === undefined) return undefined;
      const what = `control ${controlId} reports on the account, not on one ${resourceType}`;
      if (state === 'resolved') return { ignored: { reason: `${what}: passed or archived, nothing to scan for`, ref: id } };
      return { scan: { control, account, region, reason: `${what}: a scan of ${control} in ${account} ${region} finds and fixes them`, ref: id } };
    }
    if (resource === undefined) {
      problems.add(
        join(prefix, 'Resources'),
        `no resource of type ${resourceType} (control ${controlId} acts on ${resourceType})`,
      );
    } else {
      resourceRegion = getOwn(resource, 'Region');
      const path = `${join(prefix, 'Resources')}[${index}]`;
      resourceId = isBuiltInResourceType(resourceType)
        ? resourceIdOf(resourceType, resource, account, path, problems)
        : catalogResourceId(cataloged.catalog, getOwn(resource, 'Id'), join(path, 'Id'), problems);
    }
  }

  // Region: the finding's, else the resource's, else the envelope's.
  const rawRegion = getOwn(f, 'Region');
  let region: string | undefined;
  if (rawRegion !== undefined) region = checkRegion(rawRegion, join(prefix, 'Region'), problems);
  else if (resourceRegion !== undefined) region = checkRegion(resourceRegion, join(prefix, 'Resources[].Region'), problems);
  else region = env.region;

  const severity = severityOf(f, prefix, problems);

  const timeKey = (['UpdatedAt', 'LastObservedAt', 'CreatedAt'] as const).find((k) => getOwn(f, k) !== undefined);
  let observedAt: string | undefined;
  if (timeKey !== undefined) observedAt = checkTimestamp(getOwn(f, timeKey), join(prefix, timeKey), problems);
  else if (env.time !== undefined) observedAt = env.time;
  else problems.add(join(prefix, 'UpdatedAt'), 'is missing (and so are LastObservedAt, CreatedAt and the event time)');

  if (
    problems.count > before ||
    state === undefined ||
    resourceId === undefined ||
    region === undefined ||
    severity === undefined ||
    observedAt === undefined
  ) {
    return undefined;
  }

  const rawTitle = getOwn(f, 'Title');
  const title = typeof rawTitle === 'string' ? cleanText(rawTitle, LIMITS.titleChars) : '';
  const origin: Record<string, string> = { findingId: id, securityControlId: controlId };
  const productArn = getOwn(f, 'ProductArn');
  if (typeof productArn === 'string' && productArn !== '') origin['productArn'] = cleanText(productArn, LIMITS.originChars);
  const generatorId = getOwn(f, 'GeneratorId');
  if (typeof generatorId === 'string' && generatorId !== '') origin['generatorId'] = cleanText(generatorId, LIMITS.originChars);
  // The account whose Security Hub sent the event: the administrator's for aggregated findings, the member's own otherwise.
  if (env.account !== undefined) origin['securityHubAccount'] = env.account;

  return {
    finding: {
      id,
      source: FindingSource.SecurityHub,
      control,
      account,
      region,
      resource: { type: resourceType, id: resourceId },
      severity,
      title: title === '' ? `${controlId} failed for ${resourceId}` : title,
      observedAt,
      state,
      origin,
    },
  };
}

/**
 * The imported event a write-back of this product caused: BatchUpdateFindings produces a new
 * "Findings - Imported" event but leaves `UpdatedAt` (the provider's last evaluation) alone, so
 * a note of ours at or after `UpdatedAt` means nothing was evaluated since we wrote.
 */
function isOwnWriteBack(f: Obj): boolean {
  const by = getPath(f, 'Note', 'UpdatedBy');
  if (typeof by !== 'string' || by !== SECURITY_HUB_NOTE_AUTHOR) return false;
  const noted = Date.parse(String(getPath(f, 'Note', 'UpdatedAt')));
  const evaluated = Date.parse(String(getOwn(f, 'UpdatedAt')));
  return Number.isNaN(evaluated) || (!Number.isNaN(noted) && noted >= evaluated);
}

function resourceIdOf(
  type: ResourceType,
  resource: unknown,
  account: string,
  path: string,
  problems: Problems,
): string | undefined {
  const rawId = getOwn(resource, 'Id');
  switch (type) {
    case ResourceType.S3Bucket: {
      // "arn:aws:s3:::my-bucket"
      const name = typeof rawId === 'string' ? (/^arn:aws[a-z-]*:s3:::(.*)$/.exec(rawId)?.[1] ?? rawId) : rawId;
      return checkBucketName(name, join(path, 'Id'), problems);
    }
    case ResourceType.SecurityGroup: {
      // "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0"
      const fromArn =
        typeof rawId === 'string' ? /^arn:aws[a-z-]*:ec2:[a-z0-9-]*:\d{12}:security-group\/(.*)$/.exec(rawId)?.[1] : undefined;
      if (fromArn !== undefined) return checkSecurityGroupId(fromArn, join(path, 'Id'), problems);
      const fromDetails = getPath(resource, 'Details', 'AwsEc2SecurityGroup', 'GroupId');
      if (fromDetails !== undefined) return checkSecurityGroupId(fromDetails, join(path, 'Details.AwsEc2SecurityGroup.GroupId'), problems);
      return checkSecurityGroupId(rawId, join(path, 'Id'), problems);
    }
    case ResourceType.Account: {
      // "AWS::::Account:123456789012" (Security Hub CSPM User Guide, "Samples of control findings").
      const id = typeof rawId === 'string' ? (/^AWS::::Account:(.*)$/.exec(rawId)?.[1] ?? rawId) : rawId;
      return checkAccountResource(id, account, join(path, 'Id'), problems);
    }
    case ResourceType.IamUser: {
      // "arn:aws:iam::123456789012:user/division/jane"; Details.AwsIamUser.UserName (ASFF AwsIamUserDetails).
      const fromArn = typeof rawId === 'string' ? userNameFromArn(rawId) : undefined;
      if (fromArn !== undefined) return checkIamUserName(fromArn, join(path, 'Id'), problems);
      const fromDetails = getPath(resource, 'Details', 'AwsIamUser', 'UserName');
      if (fromDetails !== undefined) return checkIamUserName(fromDetails, join(path, 'Details.AwsIamUser.UserName'), problems);
      return checkIamUserName(rawId, join(path, 'Id'), problems);
    }
  }
}

function severityOf(f: Obj, prefix: string, problems: Problems): Severity | undefined {
  const label = getPath(f, 'Severity', 'Label');
  if (isSeverity(label)) return label;
  if (label !== undefined) {
    problems.add(join(prefix, 'Severity.Label'), `must be one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, got ${quote(label)}`);
    return undefined;
  }
  const normalized = getPath(f, 'Severity', 'Normalized');
  if (typeof normalized === 'number') {
    const mapped = severityFromNormalized(normalized);
    if (mapped !== undefined) return mapped;
    problems.add(join(prefix, 'Severity.Normalized'), `must be between 0 and 100, got ${quote(normalized)}`);
    return undefined;
  }
  problems.add(join(prefix, 'Severity'), 'needs Label (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL) or Normalized (0-100)');
  return undefined;
}
