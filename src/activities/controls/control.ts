import type { ControlId, Finding, Severity } from '../../findings/finding.js';
import type { ControlSettings } from '../../policy/types.js';
import type { ZodObject } from 'zod';
import type { AwsClients } from '../aws.js';

/** What a control read from the live resource. */
export interface Snapshot<S> {
  readonly state: S;
  readonly tags: Readonly<Record<string, string>>;
}

/** One resource a scan found in violation. */
export interface Violation {
  readonly resourceId: string;
  readonly title: string;
  readonly severity: Severity;
}

export interface ScanPage {
  readonly violations: readonly Violation[];
  /** Resources looked at in this page. */
  readonly scanned: number;
  /** Resources listed but not readable for good (access denied, ...), with the reason; the scan went on without them. */
  readonly unreadable?: readonly { readonly resourceId: string; readonly reason: string }[];
  /** Undefined on the last page. */
  readonly nextPageToken?: string;
  /** The control's resource type (catalog.resourceType), filled in by the scan activity for the findings it makes. */
  readonly resourceType?: string;
}

/**
 * A control as the catalog shows it and as the finding sources map to it: pure data and pure
 * functions (no I/O), read by the webhook normalizers, the scan, the policy loader, `cli
 * controls` and the README's catalog table.
 */
export interface ControlCatalog {
  /** The ASFF resource type it acts on: AwsS3Bucket, AwsRdsDbSnapshot, AwsKmsKey... */
  readonly resourceType: string;
  /** A global resource (IAM): one workflow per resource whatever region reported it, scanned in one region. */
  readonly global?: boolean;
  /** Severity when the source gives none (CloudTrail, the scan). */
  readonly severity: Severity;
  /** Security Hub control ids (AWS Foundational Security Best Practices) that map to it, e.g. ['S3.5']. */
  readonly securityHub: readonly string[];
  /** AWS Config managed rule identifiers, lower case, as found inside rule names, e.g. ['s3-bucket-ssl-requests-only']. */
  readonly configRules: readonly string[];
  /** AWS Config's resource type (AWS::RDS::DBSnapshot...); evaluations of other types are ignored. Absent: not checked. */
  readonly configResourceType?: string;
  /** CloudTrail events after which the resource is checked: the eventSource and the event names. */
  readonly cloudTrail: readonly { readonly eventSource: string; readonly eventNames: readonly string[] }[];
  /** What the fix changes, one sentence for people: "Adds a Deny statement for requests without TLS (aws:SecureTransport=false); every other statement is kept". */
  readonly changes: string;
  /** The mode the shipped default policy gives it. */
  readonly defaultMode: 'auto' | 'approve' | 'notify';
  /** What undo restores: "exact", or what it cannot restore and why. */
  readonly undo: string;
  /** What a resource id looks like, for error messages: "an RDS DB snapshot identifier or ARN". */
  readonly resourceIdHint: string;
  /**
   * The resource id the control acts on from what a source gives: an ARN (Security Hub
   * Resources[].Id), Config's resourceId, a generic finding's resource.id. Undefined when it is
   * not one.
   */
  resourceId(raw: string): string | undefined;
  /**
   * The resources a CloudTrail record (an EventBridge event's `detail`) names for this control,
   * each with a title for people; or why the call changes nothing this control cares about. Only
   * called for the events listed in `cloudTrail`, for calls that succeeded. (The first six
   * controls' events are read by src/findings/cloudtrail.ts itself: theirs is `readByNormalizer`.)
   */
  fromCloudTrail(record: Readonly<Record<string, unknown>>): { readonly resources: readonly { readonly id: string; readonly title: string }[] } | { readonly ignore: string };
}

/**
 * One control: how to read the resource, what "compliant" means (given the policy's settings),
 * the exact change that makes it compliant, how to apply it, check it held, and undo it.
 * `plan`, `check`, `describe` and `summarize` are pure; the others call AWS and throw
 * `ApplicationFailure`s from the error catalogue.
 */
export interface Control<S, C> {
  readonly id: ControlId;
  readonly title: string;
  /** False when nothing can be fixed automatically (notify only): `apply` and `undo` throw. */
  readonly fixable: boolean;
  /** Sources, catalog facts. */
  readonly catalog?: ControlCatalog;
  /**
   * The control's own settings under `settings:` in the policy (beside the first controls' ports,
   * wideRules and encryption), with their defaults: the policy loader checks each value with it,
   * and the control reads its own with `settings.parse(policySettings)`.
   */
  readonly settings?: ZodObject;
  /** Reads current state and tags. Throws ResourceNotFound / AccessDenied (non-retryable), Throttled / AwsUnavailable (retryable). */
  read(aws: AwsClients, finding: Finding): Promise<Snapshot<S>>;
  /** The change that makes `state` compliant, or null when it already is. */
  plan(state: S, settings: ControlSettings): C | null;
  /** Applies `change`. Safe to repeat: applying an already-applied change is a no-op for AWS. */
  apply(aws: AwsClients, finding: Finding, change: C): Promise<void>;
  /** Problems with `after` given the state before and the change made; empty when the fix holds. */
  check(before: S, change: C, after: S, settings: ControlSettings): string[];
  /** Restores exactly what `change` altered in `before` (and nothing else). Safe to repeat. */
  undo(aws: AwsClients, finding: Finding, before: S, change: C): Promise<void>;
  /** Problems with `after` as a restoration of `before`; empty when the undo holds. */
  checkUndo(before: S, change: C, after: S): string[];
  /** Writes a tag on the resource (used to mark a reverted resource exempt); undefined when the resource cannot be tagged. */
  tag?(aws: AwsClients, finding: Finding, key: string, value: string): Promise<void>;
  /** One page of this control's resources in `region` that violate it (read-only). */
  scanPage(aws: AwsClients, o: { account: string; region: string; settings: ControlSettings; pageToken?: string; pageSize: number }): Promise<ScanPage>;
  /**
   * What of a state identifies it for "has the resource changed since?" (the rejection hold): by
   * default the whole state; a control whose state records when it was read leaves that out.
   */
  digestState?(state: S): unknown;
  /** One human line: "Revoke 0.0.0.0/0 tcp/22 on sg-0abc". */
  summarize(change: C, finding: Finding): string;
  /** The state in a few words for people (Slack, reports): "blockPublicAcls off, ignorePublicAcls on, ...". */
  describe(state: S): string;
}
