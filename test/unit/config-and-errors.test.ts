import { describe, expect, it } from 'vitest';
import { loadConfig, DEFAULTS } from '../../src/config.js';
import { InvalidInputError, ErrorType } from '../../src/errors.js';
import { classifyAwsError, toApplicationFailure } from '../../src/activities/aws-errors.js';

describe('configuration', () => {
  it('has defaults for everything and is frozen', () => {
    const c = loadConfig({});
    expect(c.temporal.address).toBe(DEFAULTS.temporalAddress);
    expect(c.http.port).toBe(3000);
    expect(c.aws.endpointUrl).toBeUndefined();
    expect(c.aws.emulatorCredentials).toBeUndefined();
    expect(Object.isFrozen(c.http)).toBe(true);
  });

  it('lists every problem at once', () => {
    let err: unknown;
    try {
      loadConfig({ TEMPORAL_ADDRESS: 'no-port', PORT: 'eighty', AWS_ENDPOINT_URL: 'ftp://x', WEBHOOK_TOKEN: 'short', AWS_REGION: 'moon', VERIFY_DEADLINE_SECONDS: '0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    const problems = (err as InvalidInputError).problems;
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/TEMPORAL_ADDRESS[\s\S]*AWS_ENDPOINT_URL[\s\S]*AWS_REGION[\s\S]*WEBHOOK_TOKEN[\s\S]*PORT[\s\S]*VERIFY_DEADLINE_SECONDS/);
  });

  it('never puts a secret in its errors', () => {
    try {
      loadConfig({ WEBHOOK_TOKEN: 'sekrit', PORT: 'x' });
    } catch (e) {
      expect((e as Error).message).not.toContain('sekrit');
    }
  });

  it('reads the member role: a role ARN with {account}, and an external id only with it, never echoed', () => {
    const c = loadConfig({ MEMBER_ROLE_ARN: 'arn:aws:iam::{account}:role/rectify-remediator', MEMBER_ROLE_EXTERNAL_ID: 'ext-0123456789' });
    expect(c.aws.memberRole).toEqual({ arnTemplate: 'arn:aws:iam::{account}:role/rectify-remediator', externalId: 'ext-0123456789' });
    expect(loadConfig({}).aws.memberRole).toBeUndefined();
    expect(loadConfig({ MEMBER_ROLE_ARN: 'arn:aws-us-gov:iam::{account}:role/security/rectify' }).aws.memberRole?.externalId).toBeUndefined();
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (e) {
        return [...(e as InvalidInputError).problems];
      }
    };
    expect(problems({ MEMBER_ROLE_ARN: 'arn:aws:iam::111122223333:role/rectify-remediator' })).toEqual([expect.stringMatching(/^MEMBER_ROLE_ARN must be a role ARN with \{account\}/)]);
    expect(problems({ MEMBER_ROLE_ARN: 'rectify-remediator' })).toHaveLength(1);
    expect(problems({ MEMBER_ROLE_EXTERNAL_ID: 'ext-0123456789' })).toEqual(['MEMBER_ROLE_EXTERNAL_ID is set but MEMBER_ROLE_ARN is not']);
    const bad = problems({ MEMBER_ROLE_ARN: 'arn:aws:iam::{account}:role/r', MEMBER_ROLE_EXTERNAL_ID: 'sekrit id with spaces' });
    expect(bad).toHaveLength(1);
    expect(bad[0]).not.toContain('sekrit');
  });

  it('uses dummy credentials only for an emulator endpoint without real ones', () => {
    expect(loadConfig({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }).aws.emulatorCredentials).toBeDefined();
    expect(loadConfig({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_ACCESS_KEY_ID: 'AKIA' }).aws.emulatorCredentials).toBeUndefined();
  });
});

describe('AWS error catalogue', () => {
  const awsError = (name: string, status?: number) => Object.assign(new Error(`${name} happened`), { name, $fault: 'client', $metadata: status ? { httpStatusCode: status } : {} });

  it.each([
    ['AccessDenied', 403, ErrorType.AccessDenied],
    ['UnauthorizedOperation', 403, ErrorType.AccessDenied],
    ['AuthFailure', 401, ErrorType.AccessDenied],
    ['NoSuchBucket', 404, ErrorType.ResourceNotFound],
    ['InvalidGroup.NotFound', 400, ErrorType.ResourceNotFound],
    ['InvalidVpcID.NotFound', 400, ErrorType.ResourceNotFound],
    ['SlowDown', 503, ErrorType.Throttled],
    ['RequestLimitExceeded', 503, ErrorType.Throttled],
    ['ThrottlingException', 400, ErrorType.Throttled],
    ['InternalError', 500, ErrorType.AwsUnavailable],
    ['MalformedXML', 400, ErrorType.InvalidAwsRequest],
    ['SomethingNew', 429, ErrorType.Throttled],
    ['SomethingElse', 403, ErrorType.AccessDenied],
    ['ExpiredToken', 400, ErrorType.CredentialsExpired],
    ['ExpiredTokenException', 403, ErrorType.CredentialsExpired],
  ])('%s (HTTP %s) is %s', (name, status, type) => {
    expect(classifyAwsError(awsError(name, status))).toBe(type);
  });

  it('a network error without a response is retryable', () => {
    const f = toApplicationFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'GetBucketTagging on b');
    expect(f.type).toBe(ErrorType.AwsUnavailable);
    expect(f.nonRetryable).toBe(false);
  });

  it('permanent errors are non-retryable and say what was being done', () => {
    const f = toApplicationFailure(awsError('AccessDenied', 403), 'PutPublicAccessBlock on my-bucket');
    expect(f.type).toBe(ErrorType.AccessDenied);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe('PutPublicAccessBlock on my-bucket failed: AccessDenied: AccessDenied happened');
  });

  it('an expired session is retried (with new credentials), not taken for a permanent AccessDenied', () => {
    expect(toApplicationFailure(awsError('ExpiredToken', 400), 'x').nonRetryable).toBe(false);
  });

  it('throttling is retryable', () => {
    expect(toApplicationFailure(awsError('Throttling', 400), 'x').nonRetryable).toBe(false);
  });
});

describe('workflow ids', () => {
  it('are derived from the finding, with IAM users global', async () => {
    const { workflowIdFor, ControlId, ResourceType } = await import('../../src/findings/finding.js');
    const base = { account: '123456789012', region: 'eu-west-1' };
    expect(workflowIdFor({ ...base, control: ControlId.S3BlockPublicAccess, resource: { type: ResourceType.S3Bucket, id: 'b' } })).toBe('finding/123456789012/eu-west-1/s3-block-public-access/b');
    const iam = (region: string) => workflowIdFor({ account: base.account, region, control: ControlId.IamUserConsoleMfa, resource: { type: ResourceType.IamUser, id: 'alice' } });
    expect(iam('eu-west-1')).toBe('finding/123456789012/global/iam-user-console-mfa/alice');
    expect(iam('us-east-1')).toBe(iam('eu-west-1'));
  });
});
