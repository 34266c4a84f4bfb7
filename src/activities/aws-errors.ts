import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../errors.js';

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'AllAccessDisabled',
  'AccountProblem',
  'OptInRequired',
  'InvalidAccessException',
]);
/** The session went stale: the caller's credentials are renewed and the call retried. */
const STALE_CREDENTIALS = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired']);
const NOT_FOUND = new Set([
  'NoSuchBucket',
  'NotFound',
  'InvalidGroup.NotFound',
  'InvalidGroupId.Malformed',
  'InvalidPermission.NotFound',
  'ResourceNotFoundException',
  'NoSuchEntity',
  // EC2 snapshots and instances, RDS, KMS, CloudTrail, SNS, SQS
  'InvalidSnapshot.NotFound',
  'InvalidSnapshotID.Malformed',
  'InvalidInstanceID.NotFound',
  'InvalidInstanceID.Malformed',
  'DBSnapshotNotFound',
  'DBSnapshotNotFoundFault',
  'DBInstanceNotFound',
  'DBInstanceNotFoundFault',
  'NotFoundException',
  'TrailNotFoundException',
  'AWS.SimpleQueueService.NonExistentQueue',
  'QueueDoesNotExist',
]);
const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'EC2ThrottledException',
  'BandwidthLimitExceeded',
]);

interface AwsErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
}

/** The AWS error code of an SDK v3 error (`error.name`, or the raw `Code`), if it has one. */
export function awsErrorCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as AwsErrorShape;
  for (const c of [e.Code, e.code, e.name]) if (typeof c === 'string' && c !== '' && c !== 'Error') return c;
  return undefined;
}

/** True when the error says the credentials went stale (expired or revoked session). */
export function isStaleCredentials(err: unknown): boolean {
  const code = awsErrorCode(err);
  return code !== undefined && STALE_CREDENTIALS.has(code);
}

/** Which catalogue entry an AWS SDK error belongs to. Decided by the AWS error code and HTTP status, never by class name. */
export function classifyAwsError(err: unknown): ErrorType {
  const code = awsErrorCode(err);
  const status = (err as AwsErrorShape | undefined)?.$metadata?.httpStatusCode;
  if (code && STALE_CREDENTIALS.has(code)) return ErrorType.CredentialsExpired;
  if (code && ACCESS_DENIED.has(code)) return ErrorType.AccessDenied;
  if (code && THROTTLED.has(code)) return ErrorType.Throttled;
  if (code && (NOT_FOUND.has(code) || code.endsWith('.NotFound'))) return ErrorType.ResourceNotFound;
  if (status === 403) return ErrorType.AccessDenied;
  if (status === 429) return ErrorType.Throttled;
  if (status === 404) return ErrorType.ResourceNotFound;
  if (typeof status === 'number' && status >= 500) return ErrorType.AwsUnavailable;
  if (typeof status === 'number' && status >= 400) return ErrorType.InvalidAwsRequest;
  // No HTTP response at all: network error, timeout, DNS. Worth retrying.
  return ErrorType.AwsUnavailable;
}

/**
 * Rethrows an AWS SDK error as an `ApplicationFailure` typed from the catalogue; permanent
 * types are non-retryable. `action` says what was being done ("GetPublicAccessBlock on my-bucket").
 */
export function toApplicationFailure(err: unknown, action: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const type = classifyAwsError(err);
  const code = awsErrorCode(err) ?? 'UnknownError';
  const raw = (err as AwsErrorShape | undefined)?.message;
  const message = typeof raw === 'string' && raw !== '' ? raw : String(err);
  const nonRetryable = type === ErrorType.AccessDenied || type === ErrorType.MemberRoleUnavailable || type === ErrorType.ResourceNotFound || type === ErrorType.InvalidAwsRequest;
  return ApplicationFailure.create({
    type,
    message: `${action} failed: ${code}: ${message}`,
    nonRetryable,
    details: [{ awsErrorCode: code }],
  });
}

/** Runs one AWS call, translating its failure into the error catalogue. */
export async function awsCall<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err, action);
  }
}
