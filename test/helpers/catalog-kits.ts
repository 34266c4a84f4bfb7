/**
 * For test/workflows/catalog-controls.test.ts: for each of the twelve catalog controls, how to
 * make a resource that violates it in moto (the setup of test/activities/<control>.test.ts), how
 * to read its concrete AWS state with the SDK (never through the control), what that state must
 * be once fixed, and the events a source would send about it: a Security Hub "Findings -
 * Imported" event naming it as Security Hub does (its ARN), and for some a CloudTrail event (the
 * fixture of test/fixtures/events with the resource, region and times replaced).
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { GetBucketPolicyCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotAttributeCommand,
  ModifySnapshotAttributeCommand,
  RunInstancesCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { CreateDBInstanceCommand, CreateDBSnapshotCommand, DescribeDBInstancesCommand, DescribeDBSnapshotAttributesCommand, ModifyDBSnapshotAttributeCommand } from '@aws-sdk/client-rds';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, GetKeyRotationStatusCommand } from '@aws-sdk/client-kms';
import { CreateTrailCommand, GetTrailCommand } from '@aws-sdk/client-cloudtrail';
import { AddPermissionCommand, CreateFunctionCommand, GetPolicyCommand, type AddPermissionRequest } from '@aws-sdk/client-lambda';
import { CreateTopicCommand, GetTopicAttributesCommand, SetTopicAttributesCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { AwsClients } from '../../src/activities/aws.js';
import { requireControl } from '../../src/activities/controls/index.js';
import { defaultTopicStatement } from '../../src/activities/controls/sns-topic-public.js';
import { ACCOUNT, makeBucket } from './fixtures.js';
import { unique } from './stack.js';
import { zip } from './zip.js';

/** The tag the IAM users of the file carry: the policies scope iam-access-key-stale to it (IAM is global, shared with every test file). */
export const SCOPE_TAG = 'catalog-e2e';
export const PARTNER = '210987654321';

/** A violating resource: its id in findings (catalog.resourceId), its ARN as Security Hub names it, its region. */
export interface Made {
  readonly id: string;
  readonly arn: string;
  readonly region: string;
  /** What else a kit needs later (a queue URL...). */
  readonly extra?: Readonly<Record<string, string>>;
}

export interface Kit {
  readonly id: string;
  /** Makes a resource that violates the control; `purpose` goes on IAM users as the SCOPE_TAG value. */
  make(region: string, purpose: string): Promise<Made>;
  /** The concrete AWS state the control is about, read with the SDK. */
  live(r: Made): Promise<unknown>;
  /** Asserts `after` is the compliant state the fix makes of `before` (and that nothing else changed). */
  expectFixed(before: unknown, after: unknown, r: Made): void;
  /** A CloudTrail event (as EventBridge delivers it) announcing the violation, when the file uses that route for this control. */
  cloudTrail?(r: Made): Record<string, unknown>;
  /** Security Hub names the account, not the resource (EC2.1): only the CloudTrail route reaches one resource. */
  readonly noSecurityHub?: true;
}

// ---------------------------------------------------------------------------------------
// Events

const fixtureText = (name: string) => readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8');

/**
 * A CloudTrail fixture about `r`: `replace` maps fixture strings (the fixture's resource id,
 * its region) to this resource's; ids and times made new.
 */
export function cloudTrailEvent(fixture: string, replace: Readonly<Record<string, string>>): Record<string, unknown> {
  let text = fixtureText(fixture);
  for (const [from, to] of Object.entries(replace)) text = text.split(from).join(to);
  const event = JSON.parse(text) as Record<string, unknown> & { detail: Record<string, unknown> };
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  event['id'] = randomUUID();
  event['time'] = now;
  event.detail['eventTime'] = now;
  event.detail['eventID'] = randomUUID();
  event.detail['requestID'] = randomUUID();
  return event;
}

/** A Security Hub "Findings - Imported" event (ASFF) for the control's Security Hub id, about the resource as Security Hub names it. */
export function securityHubEvent(controlId: string, r: Made): { event: Record<string, unknown>; findingId: string; productArn: string } {
  const catalog = requireControl(controlId).catalog;
  const sh = catalog.securityHub[0]!;
  const now = new Date().toISOString();
  const findingId = `arn:aws:securityhub:${r.region}:${ACCOUNT}:security-control/${sh}/finding/${randomUUID()}`;
  const productArn = `arn:aws:securityhub:${r.region}::product/aws/securityhub`;
  const event = {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Security Hub Findings - Imported',
    source: 'aws.securityhub',
    account: ACCOUNT,
    time: now,
    region: r.region,
    resources: [findingId],
    detail: {
      findings: [
        {
          SchemaVersion: '2018-10-08',
          Id: findingId,
          ProductArn: productArn,
          ProductName: 'Security Hub',
          CompanyName: 'AWS',
          GeneratorId: `security-control/${sh}`,
          AwsAccountId: ACCOUNT,
          Region: r.region,
          Types: ['Software and Configuration Checks/Industry and Regulatory Standards'],
          FirstObservedAt: now,
          LastObservedAt: now,
          CreatedAt: now,
          UpdatedAt: now,
          Severity: { Label: catalog.severity, Original: catalog.severity },
          Title: `${sh} ${requireControl(controlId).title}`,
          Description: requireControl(controlId).title,
          Remediation: { Recommendation: { Text: 'For information on how to correct this issue, consult the AWS Security Hub controls documentation.' } },
          ProductFields: { RelatedAWSResources: '0/name', 'aws/securityhub/ProductName': 'Security Hub', 'aws/securityhub/CompanyName': 'AWS' },
          Resources: [{ Type: catalog.resourceType, Id: r.arn, Partition: 'aws', Region: r.region }],
          Compliance: { Status: 'FAILED', SecurityControlId: sh, AssociatedStandards: [{ StandardsId: 'standards/aws-foundational-security-best-practices/v/1.0.0' }] },
          WorkflowState: 'NEW',
          Workflow: { Status: 'NEW' },
          RecordState: 'ACTIVE',
          FindingProviderFields: { Severity: { Label: catalog.severity, Original: catalog.severity }, Types: ['Software and Configuration Checks/Industry and Regulatory Standards'] },
          ProcessedAt: now,
        },
      ],
    },
  };
  return { event, findingId, productArn };
}

// ---------------------------------------------------------------------------------------
// Helpers

const sortJson = (items: readonly unknown[]) => items.map((x) => JSON.stringify(x)).sort();
type Statement = Record<string, unknown>;
const statements = (policy: string | undefined): Statement[] => (policy === undefined ? [] : ((JSON.parse(policy) as { Statement?: Statement[] }).Statement ?? []));
/** Open to everyone: Principal * (or AWS *) and no condition. */
const isOpen = (s: Statement) => (s['Principal'] === '*' || JSON.stringify(s['Principal']) === '{"AWS":"*"}') && s['Condition'] === undefined;


const once = <T>(make: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
};
const perRegion = <T>(make: (region: string) => Promise<T>) => {
  const made = new Map<string, Promise<T>>();
  return (region: string) => {
    let p = made.get(region);
    if (!p) made.set(region, (p = make(region)));
    return p;
  };
};

// ---------------------------------------------------------------------------------------
// The kits

/** Built per AwsClients (the file's worker clients), so shared setup (a Lambda role, a trail bucket, an AMI) is made once. */
export function catalogKits(aws: AwsClients): readonly Kit[] {
  const lambdaRole = once(async () => {
    // moto checks that the execution role exists.
    const role = await aws.iam().send(
      new CreateRoleCommand({
        RoleName: unique('catalog-lambda-exec'),
        AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
      }),
    );
    return role.Role!.Arn!;
  });
  const trailBucket = perRegion((region) => makeBucket(aws, undefined, {}, { region, prefix: 'catalog-trail-logs' }));
  const ami = perRegion(async (region) => (await aws.ec2(region).send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images?.[0]?.ImageId ?? 'ami-0abcdef1234567890');

  const s3TlsRequired: Kit = {
    id: 's3-bucket-tls-required',
    async make(region) {
      const bucket = await makeBucket(aws, undefined, {}, { region, prefix: 'catalog-tls' });
      // A policy with a statement of its own: the fix must keep it, undo must give back exactly this text.
      const partnerRead = { Sid: 'PartnerRead', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${PARTNER}:root` }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` };
      await aws.s3(region).send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Version: '2012-10-17', Id: 'Policy-1', Statement: [partnerRead] }) }));
      return { id: bucket, arn: `arn:aws:s3:::${bucket}`, region };
    },
    async live(r) {
      return aws
        .s3(r.region)
        .send(new GetBucketPolicyCommand({ Bucket: r.id }))
        .then((o) => o.Policy)
        .catch((e: { name?: string }) => {
          if (e.name === 'NoSuchBucketPolicy') return undefined;
          throw e;
        });
    },
    expectFixed(before, after, r) {
      const was = statements(before as string);
      const now = statements(after as string);
      expect((JSON.parse(after as string) as { Id?: string }).Id).toBe('Policy-1');
      expect(now.slice(0, was.length)).toEqual(was);
      expect(now.slice(was.length)).toEqual([
        { Sid: 'RectifyDenyInsecureTransport', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [r.arn, `${r.arn}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      ]);
    },
  };

  const defaultSgClosed: Kit = {
    id: 'ec2-default-sg-closed',
    async make(region) {
      const ec2 = aws.ec2(region);
      const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
      const vpcId = vpc.Vpc!.VpcId!;
      const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'group-name', Values: ['default'] }] }));
      const groupId = out.SecurityGroups![0]!.GroupId!;
      const ingress: IpPermission[] = [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'https from the office' }] }];
      await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: ingress }));
      return { id: groupId, arn: `arn:aws:ec2:${region}:${ACCOUNT}:security-group/${groupId}`, region, extra: { vpcId } };
    },
    async live(r) {
      const g = (await aws.ec2(r.region).send(new DescribeSecurityGroupsCommand({ GroupIds: [r.id] }))).SecurityGroups![0]!;
      return { ingress: sortJson(g.IpPermissions ?? []), egress: sortJson(g.IpPermissionsEgress ?? []) };
    },
    expectFixed(before, after) {
      const b = before as { ingress: string[]; egress: string[] };
      // The VPC's default group as made: the rule added, and the all-traffic egress rule every default group gets.
      expect(b.ingress).toHaveLength(1);
      expect(b.egress).toHaveLength(1);
      expect(after).toEqual({ ingress: [], egress: [] });
    },
  };

  const ebsSnapshotPublic: Kit = {
    id: 'ec2-ebs-snapshot-public',
    noSecurityHub: true,
    async make(region) {
      const ec2 = aws.ec2(region);
      const vol = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${region}a`, Size: 1 }));
      const snap = await ec2.send(new CreateSnapshotCommand({ VolumeId: vol.VolumeId!, Description: unique('catalog') }));
      const id = snap.SnapshotId!;
      await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [PARTNER] }));
      await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: id, Attribute: 'createVolumePermission', OperationType: 'add', GroupNames: ['all'] }));
      return { id, arn: `arn:aws:ec2:${region}::snapshot/${id}`, region };
    },
    async live(r) {
      const out = await aws.ec2(r.region).send(new DescribeSnapshotAttributeCommand({ SnapshotId: r.id, Attribute: 'createVolumePermission' }));
      const perms = out.CreateVolumePermissions ?? [];
      return { groups: perms.flatMap((p) => (p.Group ? [p.Group] : [])).sort(), userIds: perms.flatMap((p) => (p.UserId ? [p.UserId] : [])).sort() };
    },
    expectFixed(before, after) {
      expect(before).toEqual({ groups: ['all'], userIds: [PARTNER] });
      expect(after).toEqual({ groups: [], userIds: [PARTNER] });
    },
    cloudTrail: (r) => cloudTrailEvent('cloudtrail-ec2-modify-snapshot-attribute-public', { 'snap-0a1b2c3d4e5f60718': r.id, 'us-east-1': r.region }),
  };

  const rdsInstance = async (region: string, publiclyAccessible: boolean, prefix: string) => {
    const id = unique(prefix).toLowerCase();
    await aws.rds(region).send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        DBInstanceClass: 'db.t3.micro',
        Engine: 'postgres',
        AllocatedStorage: 20,
        MasterUsername: 'app',
        MasterUserPassword: 'Correct-Horse-Battery-9',
        PubliclyAccessible: publiclyAccessible,
      }),
    );
    return id;
  };

  const rdsSnapshotPublic: Kit = {
    id: 'rds-snapshot-public',
    async make(region) {
      const db = await rdsInstance(region, false, 'catsrc');
      const id = unique('catsnap').toLowerCase();
      await aws.rds(region).send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: db, DBSnapshotIdentifier: id }));
      await aws.rds(region).send(new ModifyDBSnapshotAttributeCommand({ DBSnapshotIdentifier: id, AttributeName: 'restore', ValuesToAdd: [PARTNER, 'all'] }));
      return { id, arn: `arn:aws:rds:${region}:${ACCOUNT}:snapshot:${id}`, region };
    },
    async live(r) {
      const out = await aws.rds(r.region).send(new DescribeDBSnapshotAttributesCommand({ DBSnapshotIdentifier: r.id }));
      return (out.DBSnapshotAttributesResult?.DBSnapshotAttributes ?? []).filter((a) => a.AttributeName === 'restore').flatMap((a) => a.AttributeValues ?? []).sort();
    },
    expectFixed(before, after) {
      expect(before).toEqual([PARTNER, 'all'].sort());
      expect(after).toEqual([PARTNER]);
    },
    cloudTrail: (r) => cloudTrailEvent('cloudtrail-rds-modify-db-snapshot-attribute-public', { 'orders-db-final': r.id, 'us-east-1': r.region }),
  };

  const rdsInstancePublic: Kit = {
    id: 'rds-instance-public',
    async make(region) {
      const id = await rdsInstance(region, true, 'catpub');
      return { id, arn: `arn:aws:rds:${region}:${ACCOUNT}:db:${id}`, region };
    },
    async live(r) {
      const i = (await aws.rds(r.region).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: r.id }))).DBInstances![0]!;
      return { publiclyAccessible: i.PubliclyAccessible, engine: i.Engine, backupRetentionPeriod: i.BackupRetentionPeriod };
    },
    expectFixed(before, after) {
      expect(before).toMatchObject({ publiclyAccessible: true });
      expect(after).toEqual({ ...(before as object), publiclyAccessible: false });
    },
  };

  const imdsv2Required: Kit = {
    id: 'ec2-imdsv2-required',
    async make(region) {
      const out = await aws.ec2(region).send(
        new RunInstancesCommand({
          ImageId: await ami(region),
          InstanceType: 't3.micro',
          MinCount: 1,
          MaxCount: 1,
          MetadataOptions: { HttpTokens: 'optional', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled' },
        }),
      );
      const id = out.Instances![0]!.InstanceId!;
      return { id, arn: `arn:aws:ec2:${region}:${ACCOUNT}:instance/${id}`, region };
    },
    async live(r) {
      const out = await aws.ec2(r.region).send(new DescribeInstancesCommand({ InstanceIds: [r.id] }));
      const m = out.Reservations![0]!.Instances![0]!.MetadataOptions!;
      return { HttpTokens: m.HttpTokens, HttpEndpoint: m.HttpEndpoint, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit, InstanceMetadataTags: m.InstanceMetadataTags };
    },
    expectFixed(before, after) {
      expect(before).toEqual({ HttpTokens: 'optional', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled' });
      expect(after).toEqual({ ...(before as object), HttpTokens: 'required' });
    },
    cloudTrail: (r) => cloudTrailEvent('cloudtrail-ec2-modify-instance-metadata-options-optional', { 'i-0c1d2e3f4a5b60718': r.id, 'us-east-1': r.region }),
  };

  const accessKeyStale: Kit = {
    id: 'iam-access-key-stale',
    async make(region, purpose) {
      const userName = unique('catalog-keys');
      await aws.iam().send(new CreateUserCommand({ UserName: userName, Tags: [{ Key: SCOPE_TAG, Value: purpose }] }));
      await aws.iam().send(new CreateAccessKeyCommand({ UserName: userName }));
      return { id: userName, arn: `arn:aws:iam::${ACCOUNT}:user/${userName}`, region };
    },
    async live(r) {
      const out = await aws.iam().send(new ListAccessKeysCommand({ UserName: r.id }));
      return Object.fromEntries((out.AccessKeyMetadata ?? []).map((k) => [k.AccessKeyId, k.Status]));
    },
    expectFixed(before, after) {
      const b = before as Record<string, string>;
      expect(Object.values(b)).toEqual(['Active']);
      expect(after).toEqual(Object.fromEntries(Object.keys(b).map((k) => [k, 'Inactive'])));
    },
  };

  const kmsKeyRotation: Kit = {
    id: 'kms-key-rotation',
    async make(region) {
      const out = await aws.kms(region).send(new CreateKeyCommand({ Description: unique('catalog key') }));
      const keyId = out.KeyMetadata!.KeyId!;
      return { id: keyId, arn: `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`, region };
    },
    async live(r) {
      return (await aws.kms(r.region).send(new GetKeyRotationStatusCommand({ KeyId: r.id }))).KeyRotationEnabled;
    },
    expectFixed(before, after) {
      expect(before).toBe(false);
      expect(after).toBe(true);
    },
    cloudTrail: (r) =>
      cloudTrailEvent('cloudtrail-kms-disable-key-rotation', { 'arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab': r.arn, '1234abcd-12ab-34cd-56ef-1234567890ab': r.id, 'us-west-2': r.region }),
  };

  const trailValidation: Kit = {
    id: 'cloudtrail-log-validation',
    async make(region) {
      const out = await aws.cloudTrail(region).send(new CreateTrailCommand({ Name: unique('catalog-trail'), S3BucketName: await trailBucket(region), EnableLogFileValidation: false, IsMultiRegionTrail: false }));
      return { id: out.TrailARN!, arn: out.TrailARN!, region };
    },
    async live(r) {
      const t = (await aws.cloudTrail(r.region).send(new GetTrailCommand({ Name: r.id }))).Trail!;
      return { LogFileValidationEnabled: t.LogFileValidationEnabled, IsMultiRegionTrail: t.IsMultiRegionTrail, S3BucketName: t.S3BucketName };
    },
    expectFixed(before, after) {
      expect(before).toMatchObject({ LogFileValidationEnabled: false });
      expect(after).toEqual({ ...(before as object), LogFileValidationEnabled: true });
    },
  };

  type Grant = Omit<AddPermissionRequest, 'FunctionName'>;
  const lambdaPublic: Kit = {
    id: 'lambda-public-invoke',
    async make(region) {
      const name = unique('catalog-fn');
      const lambda = aws.lambda(region);
      await lambda.send(
        new CreateFunctionCommand({ FunctionName: name, Runtime: 'python3.12', Role: await lambdaRole(), Handler: 'index.handler', Code: { ZipFile: zip('index.py', 'def handler(event, context):\n    return 1\n') } }),
      );
      const grants: Grant[] = [
        { StatementId: 'partner', Action: 'lambda:InvokeFunction', Principal: PARTNER },
        { StatementId: 'anyone', Action: 'lambda:InvokeFunction', Principal: '*' },
      ];
      for (const g of grants) await lambda.send(new AddPermissionCommand({ FunctionName: name, ...g }));
      return { id: name, arn: `arn:aws:lambda:${region}:${ACCOUNT}:function:${name}`, region };
    },
    async live(r) {
      const out = await aws
        .lambda(r.region)
        .send(new GetPolicyCommand({ FunctionName: r.id }))
        .catch((e: { name?: string }) => {
          if (e.name === 'ResourceNotFoundException') return { Policy: undefined };
          throw e;
        });
      return statements(out.Policy).sort((a, b) => String(a['Sid']).localeCompare(String(b['Sid'])));
    },
    expectFixed(before, after) {
      const b = before as Statement[];
      expect(b.map((s) => s['Sid'])).toEqual(['anyone', 'partner']);
      expect(after).toEqual(b.filter((s) => s['Sid'] === 'partner'));
    },
  };

  const topicPublic: Kit = {
    id: 'sns-topic-public',
    async make(region) {
      const arn = (await aws.sns(region).send(new CreateTopicCommand({ Name: unique('catalog-topic') }))).TopicArn!;
      const open = { Sid: 'Open', Effect: 'Allow', Principal: '*', Action: 'sns:Subscribe', Resource: arn };
      const policy = JSON.stringify({ Version: '2012-10-17', Id: '__default_policy_ID', Statement: [defaultTopicStatement(arn), open] });
      await aws.sns(region).send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'Policy', AttributeValue: policy }));
      return { id: arn, arn, region };
    },
    async live(r) {
      const policy = (await aws.sns(r.region).send(new GetTopicAttributesCommand({ TopicArn: r.id }))).Attributes?.['Policy'];
      return policy === undefined ? undefined : JSON.parse(policy);
    },
    expectFixed(before, after) {
      const b = before as { Statement: Statement[] };
      expect(b.Statement.filter(isOpen)).toHaveLength(1);
      expect(after).toEqual({ ...b, Statement: b.Statement.filter((s) => !isOpen(s)) });
    },
  };

  const queuePublic: Kit = {
    id: 'sqs-queue-public',
    async make(region) {
      const sqs = aws.sqs(region);
      const url = (await sqs.send(new CreateQueueCommand({ QueueName: unique('catalog-queue') }))).QueueUrl!;
      const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
      const policy = JSON.stringify({
        Version: '2012-10-17',
        Id: `${arn}/SQSDefaultPolicy`,
        Statement: [
          { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${PARTNER}:root` }, Action: 'sqs:SendMessage', Resource: arn },
          { Sid: 'AnyoneSends', Effect: 'Allow', Principal: '*', Action: 'SQS:SendMessage', Resource: arn },
        ],
      });
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: policy } }));
      return { id: arn, arn, region, extra: { url } };
    },
    async live(r) {
      const policy = (await aws.sqs(r.region).send(new GetQueueAttributesCommand({ QueueUrl: r.extra!['url']!, AttributeNames: ['Policy'] }))).Attributes?.['Policy'];
      return policy === undefined ? undefined : JSON.parse(policy);
    },
    expectFixed(before, after) {
      const b = before as { Statement: Statement[] };
      expect(b.Statement.filter(isOpen)).toHaveLength(1);
      expect(after).toEqual({ ...b, Statement: b.Statement.filter((s) => !isOpen(s)) });
    },
  };

  return [
    s3TlsRequired,
    defaultSgClosed,
    ebsSnapshotPublic,
    rdsSnapshotPublic,
    rdsInstancePublic,
    imdsv2Required,
    accessKeyStale,
    kmsKeyRotation,
    trailValidation,
    lambdaPublic,
    topicPublic,
    queuePublic,
  ];
}
