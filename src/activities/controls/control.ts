import type { ControlId, Finding, Severity } from '../../findings/finding.js';
import type { ControlSettings } from '../../policy/types.js';
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
  /** One human line: "Revoke 0.0.0.0/0 tcp/22 on sg-0abc". */
  summarize(change: C, finding: Finding): string;
  /** The state in a few words for people (Slack, reports): "blockPublicAcls off, ignorePublicAcls on, ...". */
  describe(state: S): string;
}
