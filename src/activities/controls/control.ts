import type { ControlId, Finding } from '../../findings/finding.js';
import type { AwsClients } from '../aws.js';

/** What a control read from the live resource. */
export interface Snapshot<S> {
  readonly state: S;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * One control: how to read the resource, what "compliant" means, the exact change that
 * makes it compliant, how to apply it and how to check it held. `plan`, `check` and
 * `summarize` are pure; `read` and `apply` call AWS and throw `ApplicationFailure`s from
 * the error catalogue.
 */
export interface Control<S, C> {
  readonly id: ControlId;
  readonly title: string;
  /** Reads current state and tags. Throws ResourceNotFound / AccessDenied (non-retryable), Throttled / AwsUnavailable (retryable). */
  read(aws: AwsClients, finding: Finding): Promise<Snapshot<S>>;
  /** The change that makes `state` compliant, or null when it already is. */
  plan(state: S): C | null;
  /** Applies `change`. Safe to repeat: applying an already-applied change is a no-op for AWS. */
  apply(aws: AwsClients, finding: Finding, change: C): Promise<void>;
  /** Problems with `after` given the state before and the change made; empty when the fix holds. */
  check(before: S, change: C, after: S): string[];
  /** One human line: "Revoke 0.0.0.0/0 tcp/22 on sg-0abc". */
  summarize(change: C, finding: Finding): string;
  /** The state in a few words for people (Slack, reports): "blockPublicAcls off, ignorePublicAcls on, ...". */
  describe(state: S): string;
}
