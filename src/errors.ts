/**
 * The one error catalogue. Activities fail with an `ApplicationFailure` whose `type` is one
 * of `ErrorType`; workflows and retry policies refer to these names only.
 */
export const ErrorType = {
  /** The credentials may not read or change the resource. Permanent. */
  AccessDenied: 'AccessDenied',
  /** The resource does not exist (deleted, wrong id, wrong region). Permanent. */
  ResourceNotFound: 'ResourceNotFound',
  /** AWS rejected the request as malformed or invalid for the resource. Permanent. */
  InvalidAwsRequest: 'InvalidAwsRequest',
  /** The member role cannot be assumed in the finding's account (no role, no trust, wrong external id). Permanent. */
  MemberRoleUnavailable: 'MemberRoleUnavailable',
  /** The session's credentials expired or were revoked: new ones are fetched and the call retried. */
  CredentialsExpired: 'CredentialsExpired',
  /** AWS asked us to slow down. Retried with backoff. */
  Throttled: 'Throttled',
  /** Network error or 5xx from AWS. Retried with backoff. */
  AwsUnavailable: 'AwsUnavailable',
  /** The fix was applied but reading back does not show it (yet). Retried up to the verify deadline. */
  NotYetCompliant: 'NotYetCompliant',
  /** Slack refused the call (bad token, unknown channel, bot not in channel). Permanent. */
  SlackRejected: 'SlackRejected',
  /** Slack is rate limiting or unreachable. Retried. */
  SlackUnavailable: 'SlackUnavailable',
  /** The finding names a control this worker does not implement. Permanent. */
  UnsupportedControl: 'UnsupportedControl',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** Error types that retrying cannot fix; listed in every activity retry policy. */
export const NON_RETRYABLE_ERROR_TYPES: readonly ErrorType[] = [
  ErrorType.AccessDenied,
  ErrorType.MemberRoleUnavailable,
  ErrorType.ResourceNotFound,
  ErrorType.InvalidAwsRequest,
  ErrorType.UnsupportedControl,
  ErrorType.SlackRejected,
];

/**
 * Untrusted input (an event body, a config value) that cannot be used. Carries every
 * problem found, not just the first.
 */
export class InvalidInputError extends Error {
  readonly problems: readonly string[];
  constructor(what: string, problems: readonly string[]) {
    super(`${what}: ${problems.join('; ')}`);
    this.name = 'InvalidInputError';
    this.problems = problems;
  }
}
