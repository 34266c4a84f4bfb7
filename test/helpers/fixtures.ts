import { CreateBucketCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand, DeletePublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, type IpPermission } from '@aws-sdk/client-ec2';
import type { AwsClients } from '../../src/activities/aws.js';
import { ControlId, ResourceType, type Finding } from '../../src/findings/finding.js';
import { unique } from './stack.js';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** A bucket in moto with the given public access block (none at all when `bpa` is undefined). */
export async function makeBucket(aws: AwsClients, bpa?: Partial<Record<'BlockPublicAcls' | 'IgnorePublicAcls' | 'BlockPublicPolicy' | 'RestrictPublicBuckets', boolean>>, tags: Record<string, string> = {}): Promise<string> {
  const bucket = unique('bucket').toLowerCase();
  const s3 = aws.s3(REGION);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Newer S3 turns the block on for new buckets; start from "none" and add what the test wants.
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket })).catch(() => undefined);
  if (bpa) await s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: bpa }));
  if (Object.keys(tags).length > 0) {
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
  }
  return bucket;
}

let vpcId: string | undefined;
/** A security group in moto with exactly these ingress permissions. */
export async function makeSecurityGroup(aws: AwsClients, permissions: IpPermission[], tags: Record<string, string> = {}): Promise<string> {
  const ec2 = aws.ec2(REGION);
  vpcId ??= (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc?.VpcId;
  const name = unique('sg');
  const out = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: name,
      Description: 'test group',
      VpcId: vpcId,
      ...(Object.keys(tags).length > 0
        ? { TagSpecifications: [{ ResourceType: 'security-group', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] }
        : {}),
    }),
  );
  const groupId = out.GroupId!;
  if (permissions.length > 0) await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: permissions }));
  return groupId;
}

export function s3Finding(bucket: string, overrides: Partial<Finding> = {}): Finding {
  return {
    id: unique('finding'),
    source: 'generic',
    control: ControlId.S3BlockPublicAccess,
    account: ACCOUNT,
    region: REGION,
    resource: { type: ResourceType.S3Bucket, id: bucket },
    severity: 'HIGH',
    title: 'S3 Block Public Access is off',
    observedAt: new Date().toISOString(),
    state: 'active',
    origin: {},
    ...overrides,
  };
}

export function sgFinding(groupId: string, overrides: Partial<Finding> = {}): Finding {
  return {
    ...s3Finding('unused'),
    control: ControlId.SgAdminPortsOpen,
    resource: { type: ResourceType.SecurityGroup, id: groupId },
    title: 'Security group allows admin ports from the internet',
    ...overrides,
  };
}

export const world22: IpPermission = { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
