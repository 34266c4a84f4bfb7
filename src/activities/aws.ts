import { S3Client } from '@aws-sdk/client-s3';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { RDSClient } from '@aws-sdk/client-rds';
import { KMSClient } from '@aws-sdk/client-kms';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { asyncLocalStorage as activityContext } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config.js';
import { ErrorType } from '../errors.js';
import { awsErrorCode, classifyAwsError, isStaleCredentials } from './aws-errors.js';

/** Region-scoped AWS clients, created once per region and reused. */
export interface AwsClients {
  s3(region: string): S3Client;
  ec2(region: string): EC2Client;
  /** IAM is global; its client lives in the default region. */
  iam(): IAMClient;
  /** AWS Organizations (the hub lists the member accounts); global, in the default region. */
  organizations(): OrganizationsClient;
  sts(region: string): STSClient;
  securityHub(region: string): SecurityHubClient;
  rds(region: string): RDSClient;
  kms(region: string): KMSClient;
  cloudTrail(region: string): CloudTrailClient;
  lambda(region: string): LambdaClient;
  sns(region: string): SNSClient;
  sqs(region: string): SQSClient;
  /**
   * The clients for resources of `account`: with the member role assumed in that account when
   * one is configured (never the hub's own credentials then), and every S3 call on a bucket
   * sending `ExpectedBucketOwner` = `account`. One set per account, sharing its credentials.
   */
  forAccount(account: string): AwsClients;
  /** Closes every client's sockets (the accounts' too). */
  destroy(): void;
}

export interface AwsClientOptions {
  readonly securityHubEndpoint?: string;
  /** Role session name for the member role: names the product and the deployment in the member's CloudTrail. */
  readonly roleSessionName?: string;
  /** Called with the role ARN after every AssumeRole (metrics, tests). */
  readonly onAssumeRole?: (roleArn: string) => void;
}

/** Assumed credentials are renewed this long before they expire (the SDK's own margin is 5 minutes). */
const RENEW_BEFORE_MS = 10 * 60_000;
const SESSION_SECONDS = 3600;

/** A role session name STS accepts: at most 64 characters of [\w+=,.@-]. */
export function roleSessionName(...parts: readonly string[]): string {
  const name = ['rectify', ...parts].join('-').replace(/[^\w+=,.@-]+/g, '-');
  return name.slice(0, 64);
}

export function memberRoleArn(template: string, account: string): string {
  return template.replace('{account}', account);
}

/**
 * Real AWS SDK clients. With `endpointUrl` set (an emulator such as moto) every call goes
 * there, S3 with path-style addressing; otherwise the SDK's normal endpoint and credential
 * resolution applies. With `aws.memberRole`, `forAccount(X)` assumes the role in X.
 */
export function createAwsClients(aws: Config['aws'], options: AwsClientOptions = {}): AwsClients {
  const hub = clientSet(aws, options, aws.emulatorCredentials);
  const accounts = new Map<string, AwsClients>();
  const retired: AwsClients[] = [];
  const sessionName = options.roleSessionName ?? roleSessionName();

  const forAccount = (account: string): AwsClients => {
    const known = accounts.get(account);
    if (known) return known;
    if (!/^\d{12}$/.test(account)) {
      throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `"${account}" is not an AWS account id (12 digits)`, nonRetryable: true });
    }
    const role = aws.memberRole;
    const credentials = role
      ? assumedRole(hub.sts(aws.region), { roleArn: memberRoleArn(role.arnTemplate, account), account, sessionName, ...(role.externalId ? { externalId: role.externalId } : {}) }, options.onAssumeRole)
      : aws.emulatorCredentials;
    const fresh: AwsClients = clientSet(aws, options, credentials, {
      expectedBucketOwner: account,
      // A session that went stale (expired early, revoked) is dropped: the activity's retry assumes the role afresh.
      onStaleCredentials: role
        ? () => {
            if (accounts.get(account) === fresh) {
              accounts.delete(account);
              retired.push(fresh);
            }
          }
        : undefined,
    });
    accounts.set(account, fresh);
    return fresh;
  };
  return {
    ...hub,
    forAccount,
    destroy() {
      hub.destroy();
      for (const c of [...accounts.values(), ...retired.splice(0)]) c.destroy();
      accounts.clear();
    },
  };
}

/** What the clients of every service have in common here. */
interface SdkClient {
  destroy(): void;
  readonly middlewareStack: unknown;
}

type Credentials = AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined;

/** One set of clients (one per region and service) with the given credentials. */
function clientSet(
  aws: Config['aws'],
  options: AwsClientOptions,
  credentials: Credentials,
  account?: { expectedBucketOwner: string; onStaleCredentials: (() => void) | undefined },
): AwsClients {
  const common = (region: string) => ({
    region,
    ...(aws.endpointUrl ? { endpoint: aws.endpointUrl } : {}),
    // A copy for static credentials: the SDK annotates the credentials object it is given, and config is frozen.
    ...(credentials ? { credentials: typeof credentials === 'function' ? credentials : { ...credentials } } : {}),
    maxAttempts: 1, // retries are Temporal's job: visible in history, bounded by the retry policy
  });
  const all: { destroy(): void }[] = [];
  const cache = <T extends SdkClient>(make: (region: string) => T) => {
    const byRegion = new Map<string, T>();
    return (region: string): T => {
      let c = byRegion.get(region);
      if (!c) {
        c = make(region);
        if (account?.onStaleCredentials) watchStaleCredentials(c, account.onStaleCredentials);
        if (account) nameTheRun(c);
        byRegion.set(region, c);
        all.push(c);
      }
      return c;
    };
  };
  const iam = cache((region) => new IAMClient(common(region)));
  const organizations = cache((region) => new OrganizationsClient(common(region)));
  const self: AwsClients = {
    s3: cache((region) => {
      const s3 = new S3Client({ ...common(region), forcePathStyle: aws.endpointUrl !== undefined });
      if (account) expectBucketOwner(s3, account.expectedBucketOwner);
      return s3;
    }),
    ec2: cache((region) => new EC2Client(common(region))),
    iam: () => iam(aws.region),
    organizations: () => organizations(aws.region),
    sts: cache((region) => new STSClient(common(region))),
    securityHub: cache((region) => new SecurityHubClient({ ...common(region), ...(options.securityHubEndpoint ? { endpoint: options.securityHubEndpoint } : {}) })),
    rds: cache((region) => new RDSClient(common(region))),
    kms: cache((region) => new KMSClient(common(region))),
    cloudTrail: cache((region) => new CloudTrailClient(common(region))),
    lambda: cache((region) => new LambdaClient(common(region))),
    sns: cache((region) => new SNSClient(common(region))),
    sqs: cache((region) => new SQSClient(common(region))),
    forAccount: () => self,
    destroy() {
      for (const c of all.splice(0)) c.destroy();
    },
  };
  return self;
}

/** Every S3 call naming a bucket asks S3 to refuse it unless `account` owns the bucket. */
function expectBucketOwner(s3: S3Client, account: string): void {
  s3.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Bucket?: unknown; ExpectedBucketOwner?: unknown };
      if (typeof input.Bucket === 'string' && input.ExpectedBucketOwner === undefined) input.ExpectedBucketOwner = account;
      return next(args);
    },
    { step: 'initialize', name: 'rectifyExpectedBucketOwner', override: true },
  );
}

/**
 * Every call made for a finding carries its workflow in the User-Agent (`rectify-run/<workflow
 * id>`), which the member account's CloudTrail records with each event: the role session names
 * the product and the deployment (one session serves all findings of the account), the user
 * agent names the remediation that acted. The header is not signed, so this changes no signature.
 */
function nameTheRun(client: SdkClient): void {
  (client.middlewareStack as S3Client['middlewareStack']).add(
    (next) => async (args) => {
      const run = activityContext.getStore()?.info.workflowExecution?.workflowId;
      const request = args.request as { headers?: Record<string, string> };
      if (run && request.headers) {
        const tag = `rectify-run/${run.replace(/[^\w./:@=+-]/g, '_')}`;
        for (const h of ['user-agent', 'x-amz-user-agent']) if (request.headers[h] !== undefined) request.headers[h] = `${request.headers[h]} ${tag}`;
      }
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'high', name: 'rectifyRunUserAgent', override: true },
  );
}

function watchStaleCredentials(client: SdkClient, onStale: () => void): void {
  // Every SDK client's stack takes the same initialize-step middleware; the S3 type stands for them all.
  (client.middlewareStack as S3Client['middlewareStack']).add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (isStaleCredentials(err)) onStale();
        throw err;
      }
    },
    { step: 'initialize', name: 'rectifyStaleCredentials', override: true },
  );
}

/**
 * Credentials of `roleArn`, assumed with the hub's STS client once and renewed before they
 * expire; concurrent callers share one AssumeRole. A refusal (no role, no trust, wrong external
 * id) is a non-retryable `MemberRoleUnavailable` naming the account and the role; throttling
 * and outages are retryable.
 */
function assumedRole(
  sts: STSClient,
  o: { roleArn: string; account: string; sessionName: string; externalId?: string },
  onAssume: ((roleArn: string) => void) | undefined,
): AwsCredentialIdentityProvider {
  let current: AwsCredentialIdentity | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;
  const assume = async (): Promise<AwsCredentialIdentity> => {
    try {
      const out = await sts.send(new AssumeRoleCommand({ RoleArn: o.roleArn, RoleSessionName: o.sessionName, DurationSeconds: SESSION_SECONDS, ...(o.externalId ? { ExternalId: o.externalId } : {}) }));
      onAssume?.(o.roleArn);
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('AssumeRole returned no credentials');
      return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}), ...(c.Expiration ? { expiration: new Date(c.Expiration) } : {}) };
    } catch (err) {
      const type = classifyAwsError(err);
      const code = awsErrorCode(err) ?? 'Error';
      const refused = type === ErrorType.AccessDenied || type === ErrorType.InvalidAwsRequest || type === ErrorType.ResourceNotFound;
      // The message names the account and the role; never the external id or any credential.
      throw ApplicationFailure.create({
        type: refused ? ErrorType.MemberRoleUnavailable : type,
        message: `cannot act in account ${o.account}: sts:AssumeRole on ${o.roleArn} failed: ${code}${refused ? ' (is the member role deployed there, and does it trust this hub with the configured external id?)' : ''}`,
        nonRetryable: refused,
        details: [{ awsErrorCode: code, account: o.account, roleArn: o.roleArn }],
      });
    }
  };
  return async () => {
    if (current && (current.expiration === undefined || current.expiration.getTime() - Date.now() > RENEW_BEFORE_MS)) return current;
    pending ??= assume().then(
      (c) => {
        current = c;
        pending = undefined;
        return c;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
}
