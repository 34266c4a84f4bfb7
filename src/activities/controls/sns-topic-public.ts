import { GetTopicAttributesCommand, ListTagsForResourceCommand, ListTopicsCommand, SetTopicAttributesCommand, TagResourceCommand } from '@aws-sdk/client-sns';
import { ApplicationFailure } from '@temporalio/common';
import { type ControlId, Severity } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { getOwn, getPath, isObject } from '../../findings/validate.js';
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
  parsePolicy,
  partitionOf,
  planRemovePublic,
  publicStatements,
  serializePolicy,
  tryParsePolicy,
  undoRemoval,
  withStatements,
  type PolicyStatement,
  type RemoveStatementsChange,
} from './policy-statements.js';
import { judgeEach, nextPage, scanPageOf } from './scan-util.js';

/**
 * sns-topic-public: a topic's access policy must not allow everyone (Security Hub SNS.4 "SNS
 * topic access policies should not allow public access", severity Critical; AWS Config managed
 * rule sns-topic-no-public-access: "To be considered non-public, an SNS policy must grant access
 * only to fixed values"). Public = an Allow statement for every principal that no condition pins
 * to a fixed source or principal (aws:SourceOwner, aws:SourceAccount, aws:SourceArn,
 * aws:PrincipalOrgID, aws:SourceVpce, ...): see policy-statements.ts. SNS's own default statement
 * (Principal {"AWS": "*"} with StringEquals AWS:SourceOwner = the owner) is not public.
 *
 * The fix removes exactly the public statements and keeps every other one. SNS refuses a topic
 * policy without statements ("Invalid parameter: Policy Error: null", cloud-custodian issue #1779),
 * so when no statement would be left the topic gets SNS's default owner-only statement, the one a
 * new topic has.
 */

export interface TopicPolicyState {
  readonly topicArn: string;
  /** The Policy attribute as GetTopicAttributes returned it (every topic has one). */
  readonly policy?: string;
}

/** Topic names: 1-256 letters, digits, '-' and '_'; a FIFO topic's ends in .fifo. */
const TOPIC_ARN = /^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,251}\.fifo|[A-Za-z0-9_-]{1,256})$/;

/** A topic ARN (Security Hub's Resources[].Id and Config's resourceId for AWS::SNS::Topic); a subscription ARN (one more `:` part) is not one. */
export function topicArnId(raw: string): string | undefined {
  return TOPIC_ARN.test(raw) ? raw : undefined;
}

function parseTopicArn(arn: string): { partition: string; region: string; account: string; name: string } {
  const m = TOPIC_ARN.exec(arn);
  if (!m) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `"${arn.slice(0, 300)}" is not an SNS topic ARN`, nonRetryable: true });
  }
  return { partition: m[1]!, region: m[2]!, account: m[3]!, name: m[4]! };
}

/** The statement SNS gives a new topic: the owner account may manage, subscribe and publish (AWS:SourceOwner = the owner). */
export function defaultTopicStatement(topicArn: string): PolicyStatement {
  const { account } = parseTopicArn(topicArn);
  return {
    Sid: '__default_statement_ID',
    Effect: 'Allow',
    Principal: { AWS: '*' },
    Action: [
      'SNS:GetTopicAttributes',
      'SNS:SetTopicAttributes',
      'SNS:AddPermission',
      'SNS:RemovePermission',
      'SNS:DeleteTopic',
      'SNS:Subscribe',
      'SNS:ListSubscriptionsByTopic',
      'SNS:Publish',
    ],
    Resource: topicArn,
    Condition: { StringEquals: { 'AWS:SourceOwner': account } },
  };
}

export function planTopic(state: TopicPolicyState): RemoveStatementsChange | null {
  return planRemovePublic(state.policy, [defaultTopicStatement(state.topicArn)]);
}

async function readTopicPolicy(aws: AwsClients, topicArn: string): Promise<TopicPolicyState> {
  const { region } = parseTopicArn(topicArn);
  const out = await awsCall(`GetTopicAttributes on ${topicArn}`, () => aws.sns(region).send(new GetTopicAttributesCommand({ TopicArn: topicArn })));
  const policy = out.Attributes?.['Policy'];
  return { topicArn, ...(policy !== undefined && policy !== '' ? { policy } : {}) };
}

async function setTopicPolicy(aws: AwsClients, topicArn: string, policy: string): Promise<void> {
  const { region } = parseTopicArn(topicArn);
  await awsCall(`SetTopicAttributes Policy on ${topicArn}`, () =>
    aws.sns(region).send(new SetTopicAttributesCommand({ TopicArn: topicArn, AttributeName: 'Policy', AttributeValue: policy })),
  );
}

async function readTopicTags(aws: AwsClients, topicArn: string): Promise<Record<string, string>> {
  const { region } = parseTopicArn(topicArn);
  const out = await awsCall(`ListTagsForResource on ${topicArn}`, () => aws.sns(region).send(new ListTagsForResourceCommand({ ResourceArn: topicArn })));
  const tags: Record<string, string> = Object.create(null);
  for (const t of out.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return { ...tags };
}

function topicName(arn: string): string {
  return TOPIC_ARN.exec(arn)?.[4] ?? arn;
}

type CloudTrailAnswer = { readonly resources: readonly { readonly id: string; readonly title: string }[] } | { readonly ignore: string };

/** The policy text a record sets provably grants nothing public (it parses and has no public statement). */
function provablyPrivate(policy: unknown): boolean {
  const doc = isObject(policy) ? policy : tryParsePolicy(policy);
  return doc !== undefined && publicStatements(doc).length === 0;
}

/**
 * The topic a SetTopicAttributes, CreateTopic or AddPermission record names. SNS records carry
 * the API parameters in lower camel case (Amazon SNS Developer Guide, "Logging Amazon SNS API
 * calls using CloudTrail": CreateTopic logs `requestParameters.name` and
 * `responseElements.topicArn`, DeleteTopic `requestParameters.topicArn`): SetTopicAttributes
 * `topicArn`, `attributeName`, `attributeValue`; CreateTopic `attributes` (the Policy attribute
 * among them); AddPermission `topicArn`, `label` and the account ids. Ignored: an attribute other
 * than Policy, a policy that grants nothing public, a topic created without a Policy attribute
 * (it gets the owner-only default), a permission for named 12-digit accounts only.
 */
export function topicFromCloudTrail(record: Readonly<Record<string, unknown>>): CloudTrailAnswer {
  const event = getOwn(record, 'eventName');
  const params = getOwn(record, 'requestParameters');
  const found = (arn: unknown, title: (name: string) => string): CloudTrailAnswer =>
    typeof arn === 'string' && topicArnId(arn) ? { resources: [{ id: arn, title: title(topicName(arn)) }] } : { resources: [] };
  switch (event) {
    case 'SetTopicAttributes': {
      const name = getOwn(params, 'attributeName');
      if (typeof name === 'string' && name !== 'Policy') return { ignore: `SetTopicAttributes sets ${name.slice(0, 64)}, not the topic policy` };
      if (typeof name === 'string' && provablyPrivate(getOwn(params, 'attributeValue'))) return { ignore: 'the new topic policy allows no public access' };
      return found(getOwn(params, 'topicArn'), (n) => `Policy of SNS topic ${n} replaced: it may allow public access`);
    }
    case 'CreateTopic': {
      const attributes = getOwn(params, 'attributes');
      const policy = getOwn(attributes, 'Policy');
      if (policy === undefined) return { ignore: 'the topic was created without a Policy attribute: it has the default owner-only policy' };
      if (provablyPrivate(policy)) return { ignore: 'the new topic policy allows no public access' };
      const built = builtTopicArn(record, getOwn(params, 'name'));
      return found(getPath(record, 'responseElements', 'topicArn') ?? built, (n) => `SNS topic ${n} created with a policy that may allow public access`);
    }
    case 'AddPermission': {
      const accounts = getOwn(params, 'aWSAccountId') ?? getOwn(params, 'AWSAccountId') ?? getOwn(params, 'aWSAccountIds') ?? getOwn(params, 'AWSAccountIds');
      const ids = asList(accounts);
      if (ids.length > 0 && ids.every((id) => typeof id === 'string' && /^\d{12}$/.test(id))) return { ignore: 'AddPermission granted named accounts only' };
      return found(getOwn(params, 'topicArn'), (n) => `Permission added to SNS topic ${n}: it may allow public access`);
    }
    default:
      return { ignore: `event ${typeof event === 'string' ? event.slice(0, 64) : '?'} does not change a topic policy` };
  }
}

/** arn:aws:sns:<awsRegion>:<recipientAccountId>:<name>, for a CreateTopic record without a response. */
function builtTopicArn(record: Readonly<Record<string, unknown>>, name: unknown): string | undefined {
  const region = getOwn(record, 'awsRegion');
  const account = getOwn(record, 'recipientAccountId');
  if (typeof name !== 'string' || typeof region !== 'string' || typeof account !== 'string') return undefined;
  return `arn:${partitionOf(region)}:sns:${region}:${account}:${name}`;
}

export function describeTopicPolicy(state: TopicPolicyState): string {
  return describePublicStatements(state.policy);
}

export const snsTopicPublic: Control<TopicPolicyState, RemoveStatementsChange> = {
  id: 'sns-topic-public' as ControlId,
  title: 'SNS topic policies must not allow public access',
  fixable: true,
  catalog: {
    resourceType: 'AwsSnsTopic',
    severity: Severity.Critical,
    securityHub: ['SNS.4'],
    configRules: ['sns-topic-no-public-access'],
    cloudTrail: [{ eventSource: 'sns.amazonaws.com', eventNames: ['SetTopicAttributes', 'CreateTopic', 'AddPermission'] }],
    changes:
      "Removes exactly the topic policy statements that allow everyone (Principal * or AWS *) without a condition pinning a fixed source or principal; every other statement is kept. When none would be left, the topic gets SNS's default owner-only statement (SNS refuses a policy without statements)",
    defaultMode: 'approve',
    undo: "exact when the policy is unchanged since the fix (the previous document is put back); otherwise the removed statements are added back and the owner-only statement the fix may have added is taken out, keeping statements added since",
    resourceIdHint: 'an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)',
    resourceId: topicArnId,
    fromCloudTrail: topicFromCloudTrail,
  },

  async read(aws, finding) {
    const topicArn = finding.resource.id;
    const state = await readTopicPolicy(aws, topicArn);
    const tags = await readTopicTags(aws, topicArn);
    return { state, tags };
  },

  plan: (state) => planTopic(state),

  /**
   * Re-reads the policy and takes the planned statements out of it by content, keeping every
   * other statement as it is now. Nothing when none of them is there (a repeat, or a person). Were
   * every statement gone by now although the plan left some (a person removed the others since),
   * the owner-only default statement is put, as SNS needs one.
   */
  async apply(aws, finding, change) {
    const topicArn = finding.resource.id;
    const current = await readTopicPolicy(aws, topicArn);
    const write = applyRemoval(current.policy, change);
    if (write === null) return;
    const policy = 'put' in write ? write.put : serializePolicy(withStatements(parsePolicy(current.policy), [defaultTopicStatement(topicArn)]));
    await setTopicPolicy(aws, topicArn, policy);
  },

  check: (before, change, after) => checkRemoval(before.policy, change, after.policy),

  async undo(aws, finding, before, change) {
    const topicArn = finding.resource.id;
    const current = await readTopicPolicy(aws, topicArn);
    const write = undoRemoval(before.policy, current.policy, change);
    // A topic always has a policy: undo never empties it (the removed statements come back).
    if (write === null || !('put' in write)) return;
    await setTopicPolicy(aws, topicArn, write.put);
  },

  checkUndo: (before, change, after) => checkRemovalUndone(before.policy, change, after.policy),

  async tag(aws, finding, key, value) {
    const topicArn = finding.resource.id;
    const { region } = parseTopicArn(topicArn);
    await awsCall(`TagResource on ${topicArn}`, () => aws.sns(region).send(new TagResourceCommand({ ResourceArn: topicArn, Tags: [{ Key: key, Value: value }] })));
  },

  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`ListTopics in ${o.region}`, () => aws.sns(o.region).send(new ListTopicsCommand({ ...(token ? { NextToken: token } : {}) })));
      return { items: (out.Topics ?? []).flatMap((t) => (t.TopicArn && topicArnId(t.TopicArn) ? [t.TopicArn] : [])), next: out.NextToken };
    });
    const judged = await judgeEach(
      page.items,
      (arn) => readTopicPolicy(aws, arn),
      (arn, state) => {
        const change = planTopic(state);
        return change && { resourceId: arn, title: `SNS topic ${topicName(arn)}: policy allows public access (${change.remove.map(describeStatement).join('; ')})`, severity: Severity.Critical };
      },
    );
    return scanPageOf(page, judged);
  },

  describe: describeTopicPolicy,

  summarize(change, finding) {
    const extra = change.add?.length ? "; the topic keeps SNS's default owner-only statement" : '';
    return `Remove public statements (${change.remove.map(describeStatement).join('; ')}) from the policy of SNS topic ${finding.resource.id}${extra}`;
  },
};
