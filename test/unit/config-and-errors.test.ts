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
