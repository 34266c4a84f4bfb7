import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateTopicCommand, GetTopicAttributesCommand, ListTagsForResourceCommand, SetTopicAttributesCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ListQueueTagsCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { Control, Violation } from '../../src/activities/controls/control.js';
import { parsePolicy, statementsOf, type PolicyStatement, type RemoveStatementsChange } from '../../src/activities/controls/policy-statements.js';
import { defaultTopicStatement, snsTopicPublic, type TopicPolicyState } from '../../src/activities/controls/sns-topic-public.js';
import { queueArnFromUrl, sqsQueuePublic, type QueuePolicyState } from '../../src/activities/controls/sqs-queue-public.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor, REGION } from '../helpers/fixtures.js';
import { testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

const topicFinding = (arn: string): Finding =>
  findingFor('sns-topic-public' as ControlId, arn, { region: arn.split(':')[3]!, resource: { type: 'AwsSnsTopic' as ResourceType, id: arn } });
const queueFinding = (arn: string): Finding =>
  findingFor('sqs-queue-public' as ControlId, arn, { region: arn.split(':')[3]!, resource: { type: 'AwsSqsQueue' as ResourceType, id: arn } });

const partner = (resource: string): PolicyStatement => ({ Sid: 'Partner', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::210987654321:root' }, Action: 'sns:Publish', Resource: resource });
const fromBucket = (resource: string, action = 'sns:Publish'): PolicyStatement => ({
  Sid: 'FromBucket',
  Effect: 'Allow',
  Principal: { Service: 's3.amazonaws.com' },
  Action: action,
  Resource: resource,
  Condition: { ArnLike: { 'aws:SourceArn': 'arn:aws:s3:::acme-uploads' } },
});
const open = (resource: string, action = 'sns:Subscribe'): PolicyStatement => ({ Sid: 'Open', Effect: 'Allow', Principal: '*', Action: action, Resource: resource });
const doc = (statements: PolicyStatement[], extra: Record<string, unknown> = {}) => JSON.stringify({ Version: '2012-10-17', ...extra, Statement: statements });

/** read -> plan -> apply -> re-read + check -> apply again (no-op) -> undo -> checkUndo. */
async function fixAndUndo<S extends { policy?: string }>(c: Control<S, RemoveStatementsChange>, f: Finding, livePolicy: () => Promise<string | undefined>) {
  const before = (await c.read(aws, f)).state;
  const change = c.plan(before, S);
  expect(change).not.toBeNull();
  await c.apply(aws, f, change!);
  const after = (await c.read(aws, f)).state;
  expect(c.check(before, change!, after, S)).toEqual([]);
  const fixedText = await livePolicy();
  await c.apply(aws, f, change!);
  expect(await livePolicy()).toBe(fixedText);
  await c.undo(aws, f, before, change!);
  const undone = (await c.read(aws, f)).state;
  expect(c.checkUndo(before, change!, undone)).toEqual([]);
  const undoneText = await livePolicy();
  await c.undo(aws, f, before, change!);
  expect(await livePolicy()).toBe(undoneText);
  return { before, change: change!, after, undone };
}

// ---------------------------------------------------------------------------------------
// SNS

async function makeTopic(region = REGION, tags: Record<string, string> = {}, prefix = 'topic'): Promise<string> {
  const out = await aws.sns(region).send(new CreateTopicCommand({ Name: unique(prefix), Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
  return out.TopicArn!;
}
const topicPolicy = async (arn: string) => (await aws.sns(arn.split(':')[3]!).send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes?.['Policy'];
const setTopicPolicy = (arn: string, policy: string) => aws.sns(arn.split(':')[3]!).send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'Policy', AttributeValue: policy }));

describe('sns-topic-public against moto', () => {
  const control = snsTopicPublic;

  it('removes exactly the public statement, keeps the default, a partner and a conditioned one; undo puts the exact policy back', async () => {
    const arn = await makeTopic(REGION, { team: 'orders' });
    // The public statement in the middle: only the exact restore puts it back there (re-adding would append it).
    const original = doc([defaultTopicStatement(arn), open(arn), partner(arn), fromBucket(arn)], { Id: '__default_policy_ID' });
    await setTopicPolicy(arn, original);
    const f = topicFinding(arn);
    const read = await control.read(aws, f);
    expect(read.tags).toEqual({ team: 'orders' });
    expect(control.describe(read.state)).toBe('public statements: "Open" Allow * sns:Subscribe; 3 other statements');

    const { change, after, undone } = await fixAndUndo<TopicPolicyState>(control, f, () => topicPolicy(arn));
    expect(change).toEqual({ remove: [open(arn)] });
    expect(control.summarize(change, f)).toBe(`Remove public statements ("Open" Allow * sns:Subscribe) from the policy of SNS topic ${arn}`);
    expect(statementsOf(parsePolicy(after.policy))).toEqual([defaultTopicStatement(arn), partner(arn), fromBucket(arn)]);
    expect(parsePolicy(after.policy)?.['Id']).toBe('__default_policy_ID');
    expect(parsePolicy(undone.policy)).toEqual(parsePolicy(original));
    expect(statementsOf(parsePolicy(undone.policy))[1]).toEqual(open(arn));
  });

  it('a policy of public statements only is replaced by the default owner-only statement; undo restores it', async () => {
    const arn = await makeTopic();
    const original = doc([open(arn), { ...open(arn, 'sns:Publish'), Sid: 'OpenPublish', Principal: { AWS: ['*'] } }]);
    await setTopicPolicy(arn, original);
    const { change, after, undone } = await fixAndUndo<TopicPolicyState>(control, topicFinding(arn), () => topicPolicy(arn));
    expect(change.add).toEqual([defaultTopicStatement(arn)]);
    expect(statementsOf(parsePolicy(after.policy))).toEqual([defaultTopicStatement(arn)]);
    expect(parsePolicy(undone.policy)).toEqual(parsePolicy(original));
  });

  it('a new topic (the default policy) and a wildcard principal pinned to a source are compliant', async () => {
    const arn = await makeTopic();
    const state = (await control.read(aws, topicFinding(arn))).state;
    expect(control.plan(state, S)).toBeNull();
    expect(control.describe(state)).toBe('no public statement; 1 other statement');
    await setTopicPolicy(arn, doc([{ ...open(arn, 'sns:Publish'), Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } } }]));
    expect(control.plan((await control.read(aws, topicFinding(arn))).state, S)).toBeNull();
  });

  it('a statement added between plan and apply is kept; undo then re-adds the removed statement and keeps it', async () => {
    const arn = await makeTopic();
    await setTopicPolicy(arn, doc([defaultTopicStatement(arn), open(arn)]));
    const f = topicFinding(arn);
    const before = (await control.read(aws, f)).state;
    const change = control.plan(before, S)!;
    await setTopicPolicy(arn, doc([defaultTopicStatement(arn), open(arn), partner(arn)]));
    await control.apply(aws, f, change);
    const after = (await control.read(aws, f)).state;
    expect(statementsOf(parsePolicy(after.policy))).toEqual([defaultTopicStatement(arn), partner(arn)]);
    expect(control.check(before, change, after, S)).toEqual([]);
    await control.undo(aws, f, before, change);
    const undone = (await control.read(aws, f)).state;
    expect(statementsOf(parsePolicy(undone.policy))).toEqual([defaultTopicStatement(arn), partner(arn), open(arn)]);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
  });

  it('verification names a public statement that is back', async () => {
    const arn = await makeTopic();
    await setTopicPolicy(arn, doc([defaultTopicStatement(arn), open(arn)]));
    const f = topicFinding(arn);
    const before = (await control.read(aws, f)).state;
    const change = control.plan(before, S)!;
    await control.apply(aws, f, change);
    await setTopicPolicy(arn, doc([defaultTopicStatement(arn), open(arn, 'sns:Publish')]));
    expect(control.check(before, change, (await control.read(aws, f)).state, S)).toEqual(['public statement still present: "Open" Allow * sns:Publish']);
  });

  it('a missing topic is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(control.read(aws, topicFinding(`arn:aws:sns:${REGION}:${ACCOUNT}:${unique('no-such-topic')}`)));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });

  it('marking exempt adds the tag', async () => {
    const arn = await makeTopic(REGION, { team: 'orders' });
    await control.tag!(aws, topicFinding(arn), 'rectify:exempt-until', '2031-01-01');
    const tags = (await aws.sns(REGION).send(new ListTagsForResourceCommand({ ResourceArn: arn }))).Tags ?? [];
    expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toEqual({ team: 'orders', 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan pages through the topics of the region and reports exactly the public ones', async () => {
    const region = 'eu-west-3';
    const prefix = unique('snsscan');
    const violating: string[] = [];
    for (let i = 0; i < 3; i++) {
      const arn = await makeTopic(region, {}, prefix);
      await setTopicPolicy(arn, doc([defaultTopicStatement(arn), open(arn)]));
      violating.push(arn);
    }
    await makeTopic(region, {}, prefix);
    const pinned = await makeTopic(region, {}, prefix);
    await setTopicPolicy(pinned, doc([fromBucket(pinned)]));
    const { violations, pages } = await scan(control, region, 2);
    expect(pages).toBeGreaterThanOrEqual(3);
    const mine = violations.filter((v) => v.resourceId.includes(`:${prefix}`));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(mine[0]?.title).toMatch(/^SNS topic snsscan-[0-9a-f-]+: policy allows public access \("Open" Allow \* sns:Subscribe\)$/);
    expect(mine.every((v) => v.severity === 'CRITICAL')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// SQS

async function makeQueue(region = REGION, attributes: Record<string, string> = {}, tags: Record<string, string> = {}, prefix = 'queue'): Promise<{ url: string; arn: string }> {
  const sqs = aws.sqs(region);
  const out = await sqs.send(new CreateQueueCommand({ QueueName: unique(prefix), Attributes: attributes, tags }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: out.QueueUrl!, AttributeNames: ['QueueArn'] }));
  return { url: out.QueueUrl!, arn: attrs.Attributes!['QueueArn']! };
}
const queuePolicy = async (q: { url: string; arn: string }) =>
  (await aws.sqs(q.arn.split(':')[3]!).send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['Policy'] }))).Attributes?.['Policy'];
const setQueuePolicy = (q: { url: string; arn: string }, policy: string) => aws.sqs(q.arn.split(':')[3]!).send(new SetQueueAttributesCommand({ QueueUrl: q.url, Attributes: { Policy: policy } }));
const send = (resource: string): PolicyStatement => ({ Sid: 'Open', Effect: 'Allow', Principal: '*', Action: 'SQS:SendMessage', Resource: resource });
const fromTopic = (resource: string): PolicyStatement => ({
  Sid: 'FromTopic',
  Effect: 'Allow',
  Principal: { Service: 'sns.amazonaws.com' },
  Action: 'sqs:SendMessage',
  Resource: resource,
  Condition: { ArnEquals: { 'aws:SourceArn': 'arn:aws:sns:us-east-1:123456789012:orders' } },
});

describe('sqs-queue-public against moto', () => {
  const control = sqsQueuePublic;

  it('removes exactly the public statement and keeps the others; undo puts the exact policy back', async () => {
    const q = await makeQueue(REGION, {}, { team: 'orders' });
    const original = doc([fromTopic(q.arn), send(q.arn), { ...partner(q.arn), Action: 'sqs:SendMessage' }], { Id: `${q.arn}/SQSDefaultPolicy` });
    await setQueuePolicy(q, original);
    const f = queueFinding(q.arn);
    const read = await control.read(aws, f);
    expect(read.tags).toEqual({ team: 'orders' });
    expect(control.describe(read.state)).toBe('public statements: "Open" Allow * SQS:SendMessage; 2 other statements');

    const { change, after, undone } = await fixAndUndo<QueuePolicyState>(control, f, () => queuePolicy(q));
    expect(change).toEqual({ remove: [send(q.arn)] });
    expect(control.summarize(change, f)).toBe(`Remove public statements ("Open" Allow * SQS:SendMessage) from the policy of SQS queue ${q.arn}`);
    expect(statementsOf(parsePolicy(after.policy))).toEqual([fromTopic(q.arn), { ...partner(q.arn), Action: 'sqs:SendMessage' }]);
    expect(parsePolicy(undone.policy)).toEqual(parsePolicy(original));
    expect(statementsOf(parsePolicy(undone.policy))[1]).toEqual(send(q.arn));
  });

  it('a policy of public statements only is removed; undo restores it', async () => {
    const q = await makeQueue();
    const original = doc([send(q.arn), { ...send(q.arn), Sid: 'OpenReceive', Action: 'sqs:ReceiveMessage', Condition: { StringLike: { 'aws:SourceAccount': '*' } } }]);
    await setQueuePolicy(q, original);
    const { change, after, undone } = await fixAndUndo<QueuePolicyState>(control, queueFinding(q.arn), () => queuePolicy(q));
    expect(change.remove).toHaveLength(2);
    expect(change.add).toBeUndefined();
    expect(after.policy).toBeUndefined();
    expect(control.describe(after)).toBe('no queue policy');
    expect(parsePolicy(undone.policy)).toEqual(parsePolicy(original));
  });

  it('a queue without a policy, and one open only to a pinned source, are compliant', async () => {
    const q = await makeQueue();
    expect(control.plan((await control.read(aws, queueFinding(q.arn))).state, S)).toBeNull();
    await setQueuePolicy(q, doc([{ ...send(q.arn), Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } } }]));
    expect(control.plan((await control.read(aws, queueFinding(q.arn))).state, S)).toBeNull();
  });

  it('a statement added between plan and apply is kept; undo then re-adds the removed statement and keeps it', async () => {
    const q = await makeQueue();
    await setQueuePolicy(q, doc([send(q.arn)]));
    const f = queueFinding(q.arn);
    const before = (await control.read(aws, f)).state;
    const change = control.plan(before, S)!;
    await setQueuePolicy(q, doc([send(q.arn), fromTopic(q.arn)]));
    await control.apply(aws, f, change);
    const after = (await control.read(aws, f)).state;
    expect(statementsOf(parsePolicy(after.policy))).toEqual([fromTopic(q.arn)]);
    expect(control.check(before, change, after, S)).toEqual([]);
    await control.undo(aws, f, before, change);
    const undone = (await control.read(aws, f)).state;
    expect(statementsOf(parsePolicy(undone.policy))).toEqual([fromTopic(q.arn), send(q.arn)]);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
  });

  it('a missing queue is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(control.read(aws, queueFinding(`arn:aws:sqs:${REGION}:${ACCOUNT}:${unique('no-such-queue')}`)));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });

  it('marking exempt adds the tag', async () => {
    const q = await makeQueue(REGION, {}, { team: 'orders' });
    await control.tag!(aws, queueFinding(q.arn), 'rectify:exempt-until', '2031-01-01');
    const tags = (await aws.sqs(REGION).send(new ListQueueTagsCommand({ QueueUrl: q.url }))).Tags;
    expect(tags).toEqual({ team: 'orders', 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan pages through the queues of the region (ListQueues MaxResults/NextToken) and reports exactly the public ones, by ARN', async () => {
    const region = 'eu-west-3';
    const prefix = unique('sqsscan');
    const violating: string[] = [];
    for (let i = 0; i < 3; i++) {
      const q = await makeQueue(region, {}, {}, prefix);
      await setQueuePolicy(q, doc([send(q.arn)]));
      violating.push(q.arn);
    }
    await makeQueue(region, {}, {}, prefix);
    const pinned = await makeQueue(region, {}, {}, prefix);
    await setQueuePolicy(pinned, doc([fromTopic(pinned.arn)]));
    const { violations, pages } = await scan(control, region, 2);
    expect(pages).toBeGreaterThanOrEqual(3);
    const mine = violations.filter((v) => v.resourceId.includes(`:${prefix}`));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(mine[0]?.title).toMatch(/^SQS queue sqsscan-[0-9a-f-]+: policy allows public access \("Open" Allow \* SQS:SendMessage\)$/);
    expect(mine.every((v) => v.severity === 'CRITICAL')).toBe(true);
  });
});

async function scan(control: Control<unknown, unknown>, region: string, pageSize: number): Promise<{ violations: Violation[]; pages: number }> {
  const violations: Violation[] = [];
  let pages = 0;
  let pageToken: string | undefined;
  do {
    const page = await control.scanPage(aws, { account: ACCOUNT, region, settings: S, pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(pageSize);
    expect(page.unreadable ?? []).toEqual([]);
    violations.push(...page.violations);
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken && pages < 1000);
  return { violations, pages };
}

// ---------------------------------------------------------------------------------------
// Catalogs

describe('sns-topic-public catalog', () => {
  const c = snsTopicPublic.catalog!;
  const fromCloudTrail = c.fromCloudTrail!;
  const TOPIC = 'arn:aws:sns:us-east-1:123456789012:order-events';

  it('facts', () => {
    expect(c.securityHub).toEqual(['SNS.4']);
    expect(c.configRules).toEqual(['sns-topic-no-public-access']);
    expect(c.cloudTrail).toEqual([{ eventSource: 'sns.amazonaws.com', eventNames: ['SetTopicAttributes', 'CreateTopic', 'AddPermission'] }]);
    expect(c.defaultMode).toBe('approve');
    expect(c.resourceType).toBe('AwsSnsTopic');
  });

  it('CloudTrail: a public policy set or created names the topic; other attributes, a default topic and named accounts are ignored', () => {
    expect(fromCloudTrail(fixture('cloudtrail-sns-set-topic-attributes-public-policy'))).toEqual({
      resources: [{ id: TOPIC, title: 'Policy of SNS topic order-events replaced: it may allow public access' }],
    });
    expect(fromCloudTrail(fixture('cloudtrail-sns-set-topic-attributes-display-name'))).toEqual({ ignore: 'SetTopicAttributes sets DisplayName, not the topic policy' });
    expect(fromCloudTrail(fixture('cloudtrail-sns-create-topic'))).toEqual({ ignore: 'the topic was created without a Policy attribute: it has the default owner-only policy' });
    expect(fromCloudTrail(fixture('cloudtrail-sns-create-topic-public-policy'))).toEqual({
      resources: [{ id: 'arn:aws:sns:eu-west-1:123456789012:uploads', title: 'SNS topic uploads created with a policy that may allow public access' }],
    });
    expect(fromCloudTrail(fixture('cloudtrail-sns-add-permission'))).toEqual({ ignore: 'AddPermission granted named accounts only' });
  });

  it('CloudTrail: a private policy set is ignored; an unreadable one or a wildcard account is checked', () => {
    const d = fixture('cloudtrail-sns-set-topic-attributes-public-policy');
    const params = d['requestParameters'] as Record<string, unknown>;
    const privatePolicy = JSON.stringify({ Version: '2012-10-17', Statement: [defaultTopicStatement(TOPIC)] });
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, attributeValue: privatePolicy } })).toEqual({ ignore: 'the new topic policy allows no public access' });
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, attributeValue: '{truncated' } })).toHaveProperty('resources');
    const add = fixture('cloudtrail-sns-add-permission');
    expect(fromCloudTrail({ ...add, requestParameters: { ...(add['requestParameters'] as object), aWSAccountId: ['*'] } })).toHaveProperty('resources.0.id', TOPIC);
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, topicArn: 'not-an-arn' } })).toEqual({ resources: [] });
  });

  it('resourceId: topic ARNs only', () => {
    expect(c.resourceId(TOPIC)).toBe(TOPIC);
    expect(c.resourceId('arn:aws-cn:sns:cn-north-1:123456789012:t')).toBe('arn:aws-cn:sns:cn-north-1:123456789012:t');
    expect(c.resourceId('arn:aws:sns:us-east-1:123456789012:orders.fifo')).toBe('arn:aws:sns:us-east-1:123456789012:orders.fifo');
    expect(c.resourceId('arn:aws:sns:us-east-1:123456789012:orders.txt')).toBeUndefined();
    expect(c.resourceId(`${TOPIC}:5f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b`)).toBeUndefined();
    expect(c.resourceId('order-events')).toBeUndefined();
    expect(c.resourceId('arn:aws:sqs:us-east-1:123456789012:order-events')).toBeUndefined();
    expect(c.resourceId('')).toBeUndefined();
  });
});

describe('sqs-queue-public catalog', () => {
  const c = sqsQueuePublic.catalog!;
  const fromCloudTrail = c.fromCloudTrail!;
  const QUEUE = 'arn:aws:sqs:us-east-2:123456789012:order-jobs';

  it('facts', () => {
    expect(c.securityHub).toEqual(['SQS.3']);
    expect(c.configRules).toEqual(['sqs-queue-no-public-access']);
    expect(c.cloudTrail).toEqual([{ eventSource: 'sqs.amazonaws.com', eventNames: ['SetQueueAttributes', 'CreateQueue', 'AddPermission'] }]);
    expect(c.defaultMode).toBe('approve');
    expect(c.resourceType).toBe('AwsSqsQueue');
  });

  it('CloudTrail: a public policy set or created names the queue by ARN; other attributes, a queue without policy and named accounts are ignored', () => {
    expect(fromCloudTrail(fixture('cloudtrail-sqs-set-queue-attributes-public-policy'))).toEqual({
      resources: [{ id: QUEUE, title: 'Policy of SQS queue order-jobs set: it may allow public access' }],
    });
    expect(fromCloudTrail(fixture('cloudtrail-sqs-set-queue-attributes-visibility'))).toEqual({ ignore: 'SetQueueAttributes does not set the queue policy' });
    expect(fromCloudTrail(fixture('cloudtrail-sqs-create-queue'))).toEqual({ ignore: 'the queue was created without a Policy attribute: it has no queue policy' });
    expect(fromCloudTrail(fixture('cloudtrail-sqs-create-queue-public-policy'))).toEqual({
      resources: [{ id: `${QUEUE}-dlq`, title: 'SQS queue order-jobs-dlq created with a policy that may allow public access' }],
    });
    expect(fromCloudTrail(fixture('cloudtrail-sqs-add-permission'))).toEqual({ ignore: 'AddPermission granted named accounts only' });
  });

  it('CloudTrail: an empty policy (removal) or a private one is ignored; the region is the record awsRegion', () => {
    const d = fixture('cloudtrail-sqs-set-queue-attributes-public-policy');
    const params = d['requestParameters'] as Record<string, unknown>;
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, attributes: { Policy: '' } } })).toEqual({ ignore: 'the new queue policy allows no public access' });
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, attributes: { Policy: doc([fromTopic(QUEUE)]) } } })).toEqual({ ignore: 'the new queue policy allows no public access' });
    // The documentation's example hosts (sqs.us-east-2.amazon.com) name no region: the record's awsRegion does.
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, queueUrl: 'https://sqs.us-east-2.amazon.com/123456789012/order-jobs' } })).toHaveProperty('resources.0.id', QUEUE);
    expect(fromCloudTrail({ ...d, requestParameters: { ...params, queueUrl: 'https://example.com/not-a-queue' } })).toEqual({ resources: [] });
  });

  it('resourceId: queue ARNs, and queue URLs whose host names the region; other URLs and garbage are not queues', () => {
    expect(c.resourceId(QUEUE)).toBe(QUEUE);
    expect(c.resourceId('arn:aws:sqs:us-east-2:123456789012:jobs.fifo')).toBe('arn:aws:sqs:us-east-2:123456789012:jobs.fifo');
    expect(c.resourceId('https://sqs.us-east-2.amazonaws.com/123456789012/order-jobs')).toBe(QUEUE);
    expect(c.resourceId('https://us-east-2.queue.amazonaws.com/123456789012/order-jobs')).toBe(QUEUE);
    expect(c.resourceId('https://queue.amazonaws.com/123456789012/order-jobs')).toBe('arn:aws:sqs:us-east-1:123456789012:order-jobs');
    expect(c.resourceId('https://sqs.cn-north-1.amazonaws.com.cn/123456789012/order-jobs')).toBe('arn:aws-cn:sqs:cn-north-1:123456789012:order-jobs');
    expect(c.resourceId('https://vpce-0a1b2c3d4e5f-abcdefgh.sqs.us-east-2.vpce.amazonaws.com/123456789012/order-jobs')).toBe(QUEUE);
    // An emulator's URL names no region: only a caller that knows it (the scan) can name the queue.
    expect(c.resourceId('http://127.0.0.1:5000/123456789012/order-jobs')).toBeUndefined();
    expect(queueArnFromUrl('http://127.0.0.1:5000/123456789012/order-jobs', 'eu-west-3')).toBe('arn:aws:sqs:eu-west-3:123456789012:order-jobs');
    expect(c.resourceId('https://sqs.us-east-2.amazonaws.com/123456789012/order-jobs/extra')).toBeUndefined();
    expect(c.resourceId('arn:aws:sns:us-east-2:123456789012:order-jobs')).toBeUndefined();
    expect(c.resourceId('order-jobs')).toBeUndefined();
    expect(c.resourceId('')).toBeUndefined();
  });
});
