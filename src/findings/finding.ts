/**
 * The normalized finding every source is turned into. Pure module: safe to import from
 * workflow code, the trigger server and the CLI.
 */

/**
 * The controls the product was first built with. One module per control in
 * src/activities/controls; the registry there knows every control, these and any added since
 * (built in or of one's own), and is what the rest of the product asks.
 */
export const ControlId = {
  S3BlockPublicAccess: 's3-block-public-access',
  S3PublicAcl: 's3-bucket-public-acl',
  S3DefaultEncryption: 's3-default-encryption',
  SgAdminPortsOpen: 'ec2-sg-admin-ports-open',
  EbsDefaultEncryption: 'ec2-ebs-default-encryption',
  IamUserConsoleMfa: 'iam-user-console-mfa',
} as const;
export type FirstControlId = (typeof ControlId)[keyof typeof ControlId];
/** A control id: one of the first ones, or any registered since (a string). */
export type ControlId = FirstControlId | (string & {});
/**
 * The first six, in their order. Recorded scan histories iterated exactly these when no list was
 * given: kept for them (the scan now asks the registry, behind a patch).
 */
export const CONTROL_IDS: readonly FirstControlId[] = Object.values(ControlId);

export function isControlId(value: unknown): value is FirstControlId {
  return typeof value === 'string' && (CONTROL_IDS as readonly string[]).includes(value);
}

export const ResourceType = {
  S3Bucket: 'AwsS3Bucket',
  SecurityGroup: 'AwsEc2SecurityGroup',
  /** Account-and-region settings (EBS encryption by default); resource id = the account id. */
  Account: 'AwsAccount',
  /** resource id = the IAM user name. */
  IamUser: 'AwsIamUser',
} as const;
export type ResourceType = (typeof ResourceType)[keyof typeof ResourceType];

/** The resource type each control acts on. */
export const CONTROL_RESOURCE_TYPE: Readonly<Record<ControlId, ResourceType>> = {
  [ControlId.S3BlockPublicAccess]: ResourceType.S3Bucket,
  [ControlId.S3PublicAcl]: ResourceType.S3Bucket,
  [ControlId.S3DefaultEncryption]: ResourceType.S3Bucket,
  [ControlId.SgAdminPortsOpen]: ResourceType.SecurityGroup,
  [ControlId.EbsDefaultEncryption]: ResourceType.Account,
  [ControlId.IamUserConsoleMfa]: ResourceType.IamUser,
};

/** Controls about global resources (IAM): one workflow per resource whatever region reported it. */
export const GLOBAL_CONTROLS: readonly ControlId[] = [ControlId.IamUserConsoleMfa];

/** Controls with no automatic fix: only notify (chase the owner) applies to them. */
export const NOTIFY_ONLY_CONTROLS: readonly ControlId[] = [ControlId.IamUserConsoleMfa];

export const Severity = {
  Critical: 'CRITICAL',
  High: 'HIGH',
  Medium: 'MEDIUM',
  Low: 'LOW',
  Informational: 'INFORMATIONAL',
} as const;
export type Severity = (typeof Severity)[keyof typeof Severity];
export const SEVERITIES: readonly Severity[] = Object.values(Severity);

export const FindingSource = {
  CloudTrail: 'cloudtrail',
  SecurityHub: 'securityhub',
  Config: 'config',
  Generic: 'generic',
  Scan: 'scan',
} as const;
export type FindingSource = (typeof FindingSource)[keyof typeof FindingSource];

/**
 * `active`: the source says the resource violates the control now.
 * `resolved`: the source says it passes again (PASSED / COMPLIANT / resolved); recorded, never acted on.
 */
export type FindingState = 'active' | 'resolved';

export interface Finding {
  /** Stable id of the finding at its source (ASFF Id, CloudTrail eventID, Config rule+resource, generic id). */
  readonly id: string;
  readonly source: FindingSource;
  readonly control: ControlId;
  /** 12-digit AWS account id. */
  readonly account: string;
  readonly region: string;
  readonly resource: {
    /** The ASFF resource type: one of ResourceType for the first controls, the control's `catalog.resourceType` for any. */
    readonly type: ResourceType | (string & {});
    /** Bucket name for S3, group id (sg-...) for security groups, account id for account settings, user name for IAM users; for other controls what their catalog.resourceId gives. */
    readonly id: string;
  };
  readonly severity: Severity;
  readonly title: string;
  /** When the source observed the violation (ISO 8601). */
  readonly observedAt: string;
  readonly state: FindingState;
  /** Where the finding came from, kept for write-back and audit (e.g. ASFF ProductArn, rule name, event name). */
  readonly origin: Readonly<Record<string, string>>;
}

/**
 * The workflow id of a finding: derived from what it is about (account, region, control,
 * resource), never random, so repeated or out-of-order deliveries of the same finding from
 * any source meet in one workflow. Global resources (IAM users) use the region `global`, so
 * Security Hub findings raised in several regions about one user meet too.
 */
/**
 * Resource types that belong to no region (IAM): a control on one is global (catalog.global), one
 * workflow per resource whatever region reported it.
 */
export const GLOBAL_RESOURCE_TYPES: readonly string[] = ['AwsIamUser', 'AwsIamRole', 'AwsIamGroup', 'AwsIamPolicy', 'AwsIamAccessKey'];

export function workflowIdFor(f: Pick<Finding, 'account' | 'region' | 'control' | 'resource'>): string {
  const region = GLOBAL_CONTROLS.includes(f.control) || GLOBAL_RESOURCE_TYPES.includes(f.resource.type) ? 'global' : f.region;
  return `finding/${f.account}/${region}/${f.control}/${f.resource.id}`;
}

/** `Note.UpdatedBy` of every Security Hub write-back: how the events it causes are told from new evaluations. */
export const SECURITY_HUB_NOTE_AUTHOR = 'rectify';

/**
 * Which Security Hub takes a finding's write-back. An organization's findings normally reach the
 * hub through its Security Hub administrator (the event's `account` is the hub's, the finding's
 * `AwsAccountId` the member's): the hub updates them with its own credentials. A member that
 * forwards its own Security Hub events to the hub's bus (event account = finding account) holds
 * the finding itself: the write-back goes to that account, through its member role. Returns
 * that account, or undefined for the hub's own Security Hub.
 */
export function securityHubHolder(f: Pick<Finding, 'account' | 'origin'>): string | undefined {
  return f.origin['securityHubAccount'] === f.account ? f.account : undefined;
}

/** A one-line description for logs, UIs and Slack. */
export function describeFinding(f: Finding): string {
  return `${f.control} on ${f.resource.id} (${f.account}/${f.region})`;
}
