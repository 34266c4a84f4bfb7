import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueuesCommand, ListQueueTagsCommand, SetQueueAttributesCommand, TagQueueCommand } from '@aws-sdk/client-sqs';
import { ApplicationFailure } from '@temporalio/common';
import { type ControlId, Severity } from '../../findings/finding.js';
import { getOwn, getPath, isObject } from '../../findings/validate.js';
import { ErrorType } from '../../errors.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control } from './control.js';
import {
  applyRemoval,
  asList,
  checkRemoval,
  checkRemovalUndone,
  describePublicStatements,
  describeStatement,
  partitionOf,
  planRemovePublic,
  publicStatements,
  tryParsePolicy,
  undoRemoval,
  type PolicyWrite,
  type RemoveStatementsChange,
} from './policy-statements.js';
import { clamp, judgeEach, nextPage, scanPageOf } from './scan-util.js';

/**
 * sqs-queue-public: a queue's access policy must not allow everyone (Security Hub SQS.3 "SQS
 * queue access policies should not allow public access", severity Critical; AWS Config managed
 * rule sqs-queue-no-public-access: "To be considered non-public, an SQS policy must grant access
 * only to fixed values"). Public: see policy-statements.ts. The fix removes exactly the public
 * statements and keeps every other one; when none would be left the queue policy is removed
 * (SetQueueAttributes with an empty Policy), which is how a queue without a policy is.
 *
 * The resource id is the queue ARN, arn:aws:sqs:<region>:<account>:<name>: Security Hub names
 * queues by ARN, the ARN carries the region and account, and it does not depend on the endpoint
 * (queue URLs come in several forms: https://sqs.<region>.amazonaws.com/..., the legacy
 * https://<region>.queue.amazonaws.com/..., VPC endpoint hosts, an emulator's). Config's
 * resourceId and CloudTrail records give the URL: `resourceId` and `fromCloudTrail` turn it into
 * the ARN (the account and name are its path, the region its host or the record's awsRegion), and
 * every read asks SQS for the URL (GetQueueUrl with the name and owner account) before calling.
 */

export interface QueuePolicyState {
  readonly queueArn: string;
  /** The Policy attribute as GetQueueAttributes returned it; absent when the queue has none. */
  readonly policy?: string;
}

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$|^[A-Za-z0-9_-]{1,75}\.fifo$/;
const QUEUE_ARN = /^arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([^:/]+)$/;

function parseQueueArn(arn: string): { partition: string; region: string; account: string; name: string } | undefined {
  const m = QUEUE_ARN.exec(arn);
  return m && QUEUE_NAME.test(m[4]!) ? { partition: m[1]!, region: m[2]!, account: m[3]!, name: m[4]! } : undefined;
}

function requireQueueArn(arn: string): { partition: string; region: string; account: string; name: string } {
  const q = parseQueueArn(arn);
  if (!q) throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `"${arn.slice(0, 300)}" is not an SQS queue ARN`, nonRetryable: true });
  return q;
}

/** The region a queue URL's host names: sqs.<region>.amazonaws.com, <region>.queue.amazonaws.com, the legacy queue.amazonaws.com (us-east-1), VPC endpoint hosts. */
function regionOfQueueHost(host: string): string | undefined {
  const h = host.toLowerCase();
  if (h === 'queue.amazonaws.com') return 'us-east-1';
  return (
    /^(?:[\w-]+\.)?sqs\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/.exec(h)?.[1] ??
    /^([a-z]{2}(?:-[a-z]+)+-\d+)\.queue\.amazonaws\.com(?:\.cn)?$/.exec(h)?.[1]
  );
}

/**
 * The ARN of the queue a URL names (`https://<host>/<account>/<name>`): the region from the host,
 * or `region` when the host names none (an emulator, a test double). Undefined when it is not a
 * queue URL.
 */
export function queueArnFromUrl(url: string, region?: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  const [account, name, ...rest] = u.pathname.split('/').filter((p) => p !== '');
  if (rest.length > 0 || account === undefined || name === undefined || !/^\d{12}$/.test(account) || !QUEUE_NAME.test(name)) return undefined;
  const r = regionOfQueueHost(u.hostname) ?? region;
  return r === undefined ? undefined : `arn:${partitionOf(r)}:sqs:${r}:${account}:${name}`;
}

/** The queue ARN from an ARN (Security Hub) or a queue URL whose host names its region (Config's resourceId). */
export function queueArnId(raw: string): string | undefined {
  if (raw.startsWith('arn:')) return parseQueueArn(raw) ? raw : undefined;
  return queueArnFromUrl(raw);
}

function queueName(arn: string): string {
  return parseQueueArn(arn)?.name ?? arn;
}

export function planQueue(state: QueuePolicyState): RemoveStatementsChange | null {
  return planRemovePublic(state.policy);
}

/** The queue's URL as SQS gives it (GetQueueUrl with the name and owner account). */
async function queueUrlOf(aws: AwsClients, queueArn: string): Promise<string> {
  const { region, account, name } = requireQueueArn(queueArn);
  const out = await awsCall(`GetQueueUrl on ${queueArn}`, () => aws.sqs(region).send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account })));
  if (!out.QueueUrl) {
    throw ApplicationFailure.create({ type: ErrorType.ResourceNotFound, message: `GetQueueUrl on ${queueArn} failed: no URL returned`, nonRetryable: true });
  }
  return out.QueueUrl;
}

async function readQueuePolicyAt(aws: AwsClients, queueArn: string, url: string): Promise<QueuePolicyState> {
  const { region } = requireQueueArn(queueArn);
  const out = await awsCall(`GetQueueAttributes on ${queueArn}`, () => aws.sqs(region).send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['Policy'] })));
  const policy = out.Attributes?.['Policy'];
  return { queueArn, ...(policy !== undefined && policy !== '' ? { policy } : {}) };
}

async function writeQueuePolicy(aws: AwsClients, queueArn: string, url: string, write: NonNullable<PolicyWrite>): Promise<void> {
  const { region } = requireQueueArn(queueArn);
  // An empty Policy removes the queue policy.
  const policy = 'put' in write ? write.put : '';
  await awsCall(`SetQueueAttributes Policy on ${queueArn}`, () => aws.sqs(region).send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: policy } })));
}

type CloudTrailAnswer = { readonly resources: readonly { readonly id: string; readonly title: string }[] } | { readonly ignore: string };

/** Policy text a record sets that provably grants nothing public: empty (the policy is removed), or a document without a public statement. */
function provablyPrivate(policy: unknown): boolean {
  if (policy === '') return true;
  const doc = isObject(policy) ? policy : tryParsePolicy(policy);
  return doc !== undefined && publicStatements(doc).length === 0;
}

/**
 * The queue a SetQueueAttributes, CreateQueue or AddPermission record names (Amazon SQS Developer
 * Guide, "Logging Amazon SQS API calls using AWS CloudTrail": SetQueueAttributes logs
 * `requestParameters.queueUrl` and `requestParameters.attributes`; CreateQueue
 * `requestParameters.queueName` (and `attributes`; records of the older query protocol say
 * `attribute`) and `responseElements.queueUrl`; AddPermission `queueUrl`, `label`, `actions`,
 * `AWSAccountIds`). The ARN is built from the URL's path with the record's awsRegion. Ignored:
 * attributes other than Policy, a policy that grants nothing public (or an empty one, which
 * removes it), a queue created without a Policy attribute, a permission for named 12-digit
 * accounts only.
 */
export function queueFromCloudTrail(record: Readonly<Record<string, unknown>>): CloudTrailAnswer {
  const event = getOwn(record, 'eventName');
  const params = getOwn(record, 'requestParameters');
  const region = getOwn(record, 'awsRegion');
  const found = (url: unknown, title: (name: string) => string): CloudTrailAnswer => {
    const arn = typeof url === 'string' ? queueArnFromUrl(url, typeof region === 'string' ? region : undefined) : undefined;
    // The call was made in awsRegion: a host naming another region (or a documentation host) does not override it.
    const id = arn && typeof region === 'string' ? arn.replace(/^arn:[^:]+:sqs:[^:]+:/, `arn:${partitionOf(region)}:sqs:${region}:`) : arn;
    return id ? { resources: [{ id, title: title(queueName(id)) }] } : { resources: [] };
  };
  const attributes = getOwn(params, 'attributes') ?? getOwn(params, 'attribute');
  switch (event) {
    case 'SetQueueAttributes': {
      if (isObject(attributes)) {
        const policy = getOwn(attributes, 'Policy');
        if (policy === undefined) return { ignore: 'SetQueueAttributes does not set the queue policy' };
        if (provablyPrivate(policy)) return { ignore: 'the new queue policy allows no public access' };
      }
      return found(getOwn(params, 'queueUrl'), (n) => `Policy of SQS queue ${n} set: it may allow public access`);
    }
    case 'CreateQueue': {
      const policy = getOwn(attributes, 'Policy');
      if (policy === undefined) return { ignore: 'the queue was created without a Policy attribute: it has no queue policy' };
      if (provablyPrivate(policy)) return { ignore: 'the new queue policy allows no public access' };
      return found(getPath(record, 'responseElements', 'queueUrl'), (n) => `SQS queue ${n} created with a policy that may allow public access`);
    }
    case 'AddPermission': {
      const accounts = getOwn(params, 'AWSAccountIds') ?? getOwn(params, 'aWSAccountIds') ?? getOwn(params, 'aWSAccountId') ?? getOwn(params, 'AWSAccountId');
      const ids = asList(accounts);
      if (ids.length > 0 && ids.every((id) => typeof id === 'string' && /^\d{12}$/.test(id))) return { ignore: 'AddPermission granted named accounts only' };
      return found(getOwn(params, 'queueUrl'), (n) => `Permission added to SQS queue ${n}: it may allow public access`);
    }
    default:
      return { ignore: `event ${typeof event === 'string' ? event.slice(0, 64) : '?'} does not change a queue policy` };
  }
}

export function describeQueuePolicy(state: QueuePolicyState): string {
  return state.policy === undefined ? 'no queue policy' : describePublicStatements(state.policy);
}

export const sqsQueuePublic: Control<QueuePolicyState, RemoveStatementsChange> = {
  id: 'sqs-queue-public' as ControlId,
  title: 'SQS queue policies must not allow public access',
  fixable: true,
  catalog: {
    resourceType: 'AwsSqsQueue',
    severity: Severity.Critical,
    securityHub: ['SQS.3'],
    configRules: ['sqs-queue-no-public-access'],
    cloudTrail: [{ eventSource: 'sqs.amazonaws.com', eventNames: ['SetQueueAttributes', 'CreateQueue', 'AddPermission'] }],
    changes:
      'Removes exactly the queue policy statements that allow everyone (Principal * or AWS *) without a condition pinning a fixed source or principal; every other statement is kept, and the policy is removed when none would be left',
    defaultMode: 'approve',
    undo: 'exact when the policy is unchanged since the fix (the previous document is put back); otherwise the removed statements are added back, keeping statements added since',
    resourceIdHint: 'an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>) or queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)',
    resourceId: queueArnId,
    fromCloudTrail: queueFromCloudTrail,
  },

  async read(aws, finding) {
    const queueArn = finding.resource.id;
    const url = await queueUrlOf(aws, queueArn);
    const state = await readQueuePolicyAt(aws, queueArn, url);
    const { region } = requireQueueArn(queueArn);
    const out = await awsCall(`ListQueueTags on ${queueArn}`, () => aws.sqs(region).send(new ListQueueTagsCommand({ QueueUrl: url })));
    return { state, tags: { ...(out.Tags ?? {}) } };
  },

  plan: (state) => planQueue(state),

  /** Re-reads the policy and takes the planned statements out of it by content, keeping every other statement as it is now; nothing when none of them is there (a repeat, or a person). */
  async apply(aws, finding, change) {
    const queueArn = finding.resource.id;
    const url = await queueUrlOf(aws, queueArn);
    const current = await readQueuePolicyAt(aws, queueArn, url);
    const write = applyRemoval(current.policy, change);
    if (write !== null) await writeQueuePolicy(aws, queueArn, url, write);
  },

  check: (before, change, after) => checkRemoval(before.policy, change, after.policy),

  async undo(aws, finding, before, change) {
    const queueArn = finding.resource.id;
    const url = await queueUrlOf(aws, queueArn);
    const current = await readQueuePolicyAt(aws, queueArn, url);
    const write = undoRemoval(before.policy, current.policy, change);
    if (write !== null) await writeQueuePolicy(aws, queueArn, url, write);
  },

  checkUndo: (before, change, after) => checkRemovalUndone(before.policy, change, after.policy),

  async tag(aws, finding, key, value) {
    const queueArn = finding.resource.id;
    const url = await queueUrlOf(aws, queueArn);
    const { region } = requireQueueArn(queueArn);
    await awsCall(`TagQueue on ${queueArn}`, () => aws.sqs(region).send(new TagQueueCommand({ QueueUrl: url, Tags: { [key]: value } })));
  },

  /** ListQueues pages (MaxResults: SQS returns a NextToken only when it is given); each queue named by its ARN, built from its URL and the region. */
  async scanPage(aws, o) {
    const urls = new Map<string, string>();
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`ListQueues in ${o.region}`, () =>
        aws.sqs(o.region).send(new ListQueuesCommand({ MaxResults: clamp(o.pageSize, 1, 1000), ...(token ? { NextToken: token } : {}) })),
      );
      const items: string[] = [];
      for (const url of out.QueueUrls ?? []) {
        const arn = queueArnFromUrl(url, o.region);
        if (arn === undefined) continue;
        urls.set(arn, url);
        items.push(arn);
      }
      return { items, next: out.NextToken };
    });
    const judged = await judgeEach(
      page.items,
      (arn) => readQueuePolicyAt(aws, arn, urls.get(arn)!),
      (arn, state) => {
        const change = planQueue(state);
        return change && { resourceId: arn, title: `SQS queue ${queueName(arn)}: policy allows public access (${change.remove.map(describeStatement).join('; ')})`, severity: Severity.Critical };
      },
    );
    return scanPageOf(page, judged);
  },

  describe: describeQueuePolicy,

  summarize(change, finding) {
    return `Remove public statements (${change.remove.map(describeStatement).join('; ')}) from the policy of SQS queue ${finding.resource.id}`;
  },
};
