/**
 * 'Config Rules Compliance Change' events (source aws.config). `detail` is a
 * ComplianceChangeNotification:
 *
 *   { "resourceId": "my-bucket", "awsRegion": "us-east-1", "awsAccountId": "123456789012",
 *     "configRuleName": "s3-bucket-level-public-access-prohibited", "recordVersion": "1.0",
 *     "configRuleARN": "arn:aws:config:...:config-rule/config-rule-abc123",
 *     "messageType": "ComplianceChangeNotification",
 *     "newEvaluationResult": { "evaluationResultIdentifier": { "evaluationResultQualifier":
 *         { "configRuleName": "...", "resourceType": "AWS::S3::Bucket", "resourceId": "my-bucket" },
 *         "orderingTimestamp": "..." },
 *       "complianceType": "NON_COMPLIANT", "resultRecordedTime": "...", "configRuleInvokedTime": "..." },
 *     "oldEvaluationResult": { ... }, "notificationCreationTime": "...", "resourceType": "AWS::S3::Bucket" }
 *
 * Rules are matched by the managed rule they are built on; rule names are chosen by users,
 * and Security Hub names its rules like "securityhub-restricted-ssh-a1b2c3d4".
 *
 * Resource ids are what Config records as resourceId: the bucket name, the group id, the
 * account id for AWS::::Account (account-level rules such as ec2-ebs-encryption-by-default),
 * and for AWS::IAM::User the user's unique id ("AIDA..."), not its name (AWS Config Developer
 * Guide, example configuration items: "resourceId": "AIDA...", "resourceName": "Bob"). The
 * compliance notification carries no user name, and this pure module cannot look one up, so
 * IAM user evaluations are acknowledged as ignored with that reason; the same users reach the
 * product by name through Security Hub (IAM.5 / IAM.19) and CloudTrail.
 *
 * Pure module: no I/O.
 */
import type { DetailResult, Envelope } from './eventbridge.js';
import { controlForConfigRuleName } from '../activities/controls/index.js';
import { FindingSource, ResourceType, type ControlId, type FindingState } from './finding.js';
import type { Obj, Problems } from './validate.js';
import {
  LIMITS,
  checkAccount,
  checkAccountResource,
  checkBucketName,
  checkId,
  checkRegion,
  checkSecurityGroupId,
  checkTimestamp,
  cleanText,
  getOwn,
  getPath,
  quote,
  requireString,
  catalogResourceId,
  isBuiltInResourceType,
} from './validate.js';

/**
 * Managed rule name -> the control this product implements (AWS Config Developer Guide, "List
 * of AWS Config Managed Rules"; each rule's page gives its identifier and resource types).
 * - s3-bucket-public-read-prohibited / s3-bucket-public-write-prohibited (AWS::S3::Bucket) check
 *   block public access, the bucket policy and the ACL; mapped to the ACL control (a bucket
 *   public only by policy is the public access block control's).
 * - s3-bucket-server-side-encryption-enabled (default encryption, or a policy denying
 *   unencrypted puts) and s3-default-encryption-kms (SSE-KMS; AWS::S3::Bucket, AWS::KMS::Key:
 *   only bucket evaluations are taken).
 * - restricted-ssh, restricted-common-ports, vpc-sg-port-restriction-check (world-open listed
 *   ports; behind EC2.53 / EC2.54) and vpc-sg-open-only-to-authorized-ports (any world-open
 *   port outside an authorized list; behind EC2.18). The policy decides which ports count.
 * - ec2-ebs-encryption-by-default (periodic, AWS::::Account).
 * - mfa-enabled-for-iam-console-access and iam-user-mfa-enabled (AWS::IAM::User): recognised,
 *   then ignored (resource ids are unique ids, see above).
 */
// The mapping itself is each control's `catalog.configRules` (src/activities/controls/), so that
// a control of one's own maps its rules the same way.

/** AWS Config resource type of each resource type the product acts on. */
const CONFIG_RESOURCE_TYPE: Readonly<Record<ResourceType, string>> = Object.freeze({
  [ResourceType.S3Bucket]: 'AWS::S3::Bucket',
  [ResourceType.SecurityGroup]: 'AWS::EC2::SecurityGroup',
  [ResourceType.Account]: 'AWS::::Account',
  [ResourceType.IamUser]: 'AWS::IAM::User',
});

const COMPLIANCE_TYPES = ['COMPLIANT', 'NON_COMPLIANT', 'NOT_APPLICABLE', 'INSUFFICIENT_DATA'] as const;

/**
 * The control a rule name maps to: the name equals a managed rule identifier of a control's
 * catalog, or contains it between '-' boundaries or the start / end of the name (case-insensitive).
 */
export function controlForConfigRule(ruleName: string): ControlId | undefined {
  return controlForConfigRuleName(ruleName)?.id;
}

const ACCOUNT_CONFIG_TYPE = 'AWS::::Account';

export function normalizeConfigCompliance(env: Envelope, detail: Obj, problems: Problems): DetailResult {
  const before = problems.count;
  const empty: DetailResult = { findings: [], ignored: [] };

  // Config limits rule names to 128 characters.
  const ruleName = checkId(getOwn(detail, 'configRuleName'), 'detail.configRuleName', problems, 128);
  const account = checkAccount(getOwn(detail, 'awsAccountId'), 'detail.awsAccountId', problems);
  const region = checkRegion(getOwn(detail, 'awsRegion'), 'detail.awsRegion', problems);

  const qualifier = getPath(detail, 'newEvaluationResult', 'evaluationResultIdentifier', 'evaluationResultQualifier');
  const detailResourceId = getOwn(detail, 'resourceId');
  const resourceId = requireString(
    detailResourceId ?? getOwn(qualifier, 'resourceId'),
    'detail.resourceId',
    problems,
    768,
  );
  const resourceType = requireString(
    getOwn(detail, 'resourceType') ?? getOwn(qualifier, 'resourceType'),
    'detail.resourceType',
    problems,
    256,
  );

  const messageType = getOwn(detail, 'messageType');
  if (messageType !== undefined && messageType !== 'ComplianceChangeNotification') {
    problems.add('detail.messageType', `must be "ComplianceChangeNotification", got ${quote(messageType)}`);
  }

  const complianceType = getPath(detail, 'newEvaluationResult', 'complianceType');
  if (!(COMPLIANCE_TYPES as readonly unknown[]).includes(complianceType)) {
    problems.add(
      'detail.newEvaluationResult.complianceType',
      complianceType === undefined ? 'is missing' : `must be one of ${COMPLIANCE_TYPES.join(', ')}, got ${quote(complianceType)}`,
    );
  }

  if (problems.count > before || ruleName === undefined || account === undefined || region === undefined) return empty;
  if (resourceId === undefined || resourceType === undefined) return empty;

  const cataloged = controlForConfigRuleName(ruleName);
  const control = cataloged?.id;
  const shortRule = cleanText(ruleName, LIMITS.reasonValueChars);
  const ref = `${ruleName}/${cleanText(resourceId, LIMITS.idChars)}`;
  if (cataloged === undefined || control === undefined) {
    return { findings: [], ignored: [{ reason: `config rule ${shortRule} is not mapped to a remediated control`, ref }] };
  }

  let state: FindingState;
  if (complianceType === 'NON_COMPLIANT') state = 'active';
  else if (complianceType === 'COMPLIANT') state = 'resolved';
  else {
    return {
      findings: [],
      ignored: [{ reason: `compliance type ${String(complianceType)}: the rule did not decide`, ref }],
    };
  }

  const type = cataloged.catalog.resourceType;
  const expectedConfigType = isBuiltInResourceType(type) ? CONFIG_RESOURCE_TYPE[type] : cataloged.catalog.configResourceType;
  if (resourceType === ACCOUNT_CONFIG_TYPE && expectedConfigType !== ACCOUNT_CONFIG_TYPE) {
    // A periodic rule on the whole account (ebs-snapshot-public-restorable-check): a scan finds the resources.
    const what = `config rule ${shortRule} reports on the account, not on one ${expectedConfigType ?? type}`;
    if (state === 'resolved') return { findings: [], ignored: [{ reason: `${what}: compliant, nothing to scan for`, ref }] };
    return { findings: [], ignored: [], scans: [{ control, account, region, reason: `${what}: a scan of ${control} in ${account} ${region} finds and fixes them`, ref }] };
  }
  if (expectedConfigType !== undefined && resourceType !== expectedConfigType) {
    return {
      findings: [],
      ignored: [
        {
          reason: `resource type ${cleanText(resourceType, LIMITS.reasonValueChars)} is not the one ${control} acts on (${expectedConfigType})`,
          ref,
        },
      ],
    };
  }

  let id: string | undefined;
  switch (type) {
    case ResourceType.S3Bucket:
      id = checkBucketName(resourceId, 'detail.resourceId', problems);
      break;
    case ResourceType.SecurityGroup:
      id = checkSecurityGroupId(resourceId, 'detail.resourceId', problems);
      break;
    case ResourceType.Account:
      id = checkAccountResource(resourceId, account, 'detail.resourceId', problems);
      break;
    case ResourceType.IamUser:
      return {
        findings: [],
        ignored: [
          {
            reason:
              'AWS Config names IAM users by their unique id (AIDA...), not by user name, and the event carries no name; the user reaches rectify through Security Hub or CloudTrail',
            ref,
          },
        ],
      };
    default:
      id = catalogResourceId(cataloged.catalog, resourceId, 'detail.resourceId', problems);
  }

  const recorded = getPath(detail, 'newEvaluationResult', 'resultRecordedTime');
  let observedAt: string | undefined;
  if (recorded !== undefined && recorded !== null) {
    observedAt = checkTimestamp(recorded, 'detail.newEvaluationResult.resultRecordedTime', problems);
  } else if (env.time !== undefined) {
    observedAt = env.time;
  } else {
    problems.add('detail.newEvaluationResult.resultRecordedTime', 'is missing (and so is the event time)');
  }
  if (id === undefined || observedAt === undefined) return empty;

  const origin: Record<string, string> = { configRuleName: ruleName };
  const ruleArn = getOwn(detail, 'configRuleARN') ?? getOwn(detail, 'configRuleArn');
  if (typeof ruleArn === 'string' && ruleArn !== '') origin['configRuleArn'] = cleanText(ruleArn, LIMITS.originChars);

  return {
    findings: [
      {
        id: `${ruleName}/${id}`,
        source: FindingSource.Config,
        control,
        account,
        region,
        resource: { type, id },
        severity: cataloged.catalog.severity,
        title: cleanText(
          `AWS Config rule ${ruleName} found ${id} ${state === 'active' ? 'NON_COMPLIANT' : 'COMPLIANT'}`,
          LIMITS.titleChars,
        ),
        observedAt,
        state,
        origin,
      },
    ],
    ignored: [],
  };
}
