import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../errors.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';

const accounts = new WeakMap<AwsClients, Promise<string>>();

/** The account the clients' credentials belong to (STS GetCallerIdentity, asked once per clients object). */
export function callerAccount(aws: AwsClients, region: string): Promise<string> {
  let p = accounts.get(aws);
  if (!p) {
    p = awsCall('GetCallerIdentity', () => aws.sts(region).send(new GetCallerIdentityCommand({}))).then((o) => o.Account ?? '');
    void p.catch(() => accounts.delete(aws));
    accounts.set(aws, p);
  }
  return p;
}

/**
 * Throws a non-retryable AccessDenied unless the credentials are `account`'s. Controls whose
 * resource is named only within an account (the account's own settings, IAM user names) call it
 * before touching anything, so a finding about another account never acts on this one.
 */
export async function assertAccount(aws: AwsClients, region: string, account: string, what: string): Promise<void> {
  const mine = await callerAccount(aws, region);
  if (mine !== account) {
    throw ApplicationFailure.create({
      type: ErrorType.AccessDenied,
      message: `${what}: the finding is about account ${account} but the worker's credentials are for account ${mine || 'unknown'}`,
      nonRetryable: true,
    });
  }
}
