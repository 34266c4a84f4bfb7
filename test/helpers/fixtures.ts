import { CreateBucketCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand, DeletePublicAccessBlockCommand, type BucketLocationConstraint } from '@aws-sdk/client-s3';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, type IpPermission } from '@aws-sdk/client-ec2';
import { CreateLoginProfileCommand, CreateUserCommand, CreateVirtualMFADeviceCommand, EnableMFADeviceCommand } from '@aws-sdk/client-iam';
import type { AwsClients } from '../../src/activities/aws.js';
import { getControl } from '../../src/activities/controls/index.js';
import { CONTROL_RESOURCE_TYPE, ControlId, ResourceType, type Finding, type FirstControlId } from '../../src/findings/finding.js';
import type { ControlSettings } from '../../src/policy/types.js';
import { unique } from './stack.js';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** The policy's built-in control settings: ports [22, 3389], SSE-S3. */
export const DEFAULT_SETTINGS: ControlSettings = Object.freeze({ ports: [22, 3389], encryption: { algorithm: 'AES256' as const } });

export interface BucketOptions {
  /** Default REGION. */
  readonly region?: string;
  /** Name prefix (default "bucket"); a random suffix is added. */
  readonly prefix?: string;
}

/** A bucket in moto with the given public access block (none at all when `bpa` is undefined). */
export async function makeBucket(
  aws: AwsClients,
  bpa?: Partial<Record<'BlockPublicAcls' | 'IgnorePublicAcls' | 'BlockPublicPolicy' | 'RestrictPublicBuckets', boolean>>,
  tags: Record<string, string> = {},
  opts: BucketOptions = {},
): Promise<string> {
  const region = opts.region ?? REGION;
  const bucket = unique(opts.prefix ?? 'bucket').toLowerCase();
  const s3 = aws.s3(region);
  await s3.send(
    new CreateBucketCommand({ Bucket: bucket, ...(region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } } : {}) }),
  );
  // Newer S3 turns the block on for new buckets; start from "none" and add what the test wants.
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket })).catch(() => undefined);
  if (bpa) await s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: bpa }));
  if (Object.keys(tags).length > 0) {
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
  }
  return bucket;
}

const vpcs = new Map<string, Promise<string | undefined>>();
/** A security group in moto with exactly these ingress permissions. */
export async function makeSecurityGroup(aws: AwsClients, permissions: IpPermission[], tags: Record<string, string> = {}, opts: { region?: string } = {}): Promise<string> {
  const region = opts.region ?? REGION;
  const ec2 = aws.ec2(region);
  let vpc = vpcs.get(region);
  if (!vpc) vpcs.set(region, (vpc = ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' })).then((o) => o.Vpc?.VpcId)));
  const vpcId = await vpc;
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

/** An IAM user in moto, with a console password and/or an enabled virtual MFA device as asked. */
export async function makeIamUser(aws: AwsClients, o: { prefix?: string; loginProfile?: boolean; mfa?: boolean; tags?: Record<string, string> } = {}): Promise<string> {
  const iam = aws.iam();
  const userName = unique(o.prefix ?? 'user');
  const tags = Object.entries(o.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  await iam.send(new CreateUserCommand({ UserName: userName, ...(tags.length > 0 ? { Tags: tags } : {}) }));
  if (o.loginProfile) await iam.send(new CreateLoginProfileCommand({ UserName: userName, Password: 'Correct-Horse-Battery-9' }));
  if (o.mfa) await enableVirtualMfa(aws, userName);
  return userName;
}

/** What the user's owner would do: create a virtual MFA device and enable it for the user. */
export async function enableVirtualMfa(aws: AwsClients, userName: string): Promise<void> {
  const iam = aws.iam();
  const device = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: `${userName}-mfa` }));
  await iam.send(
    new EnableMFADeviceCommand({ UserName: userName, SerialNumber: device.VirtualMFADevice!.SerialNumber!, AuthenticationCode1: '123456', AuthenticationCode2: '654321' }),
  );
}

/** A finding of any control about `resourceId` (the control's resource type filled in). */
export function findingFor(control: ControlId, resourceId: string, overrides: Partial<Finding> = {}): Finding {
  return {
    id: unique('finding'),
    source: 'generic',
    control,
    account: ACCOUNT,
    region: REGION,
    resource: { type: CONTROL_RESOURCE_TYPE[control as FirstControlId] ?? getControl(control)?.catalog.resourceType ?? 'Other', id: resourceId },
    severity: 'HIGH',
    title: `${control} on ${resourceId}`,
    observedAt: new Date().toISOString(),
    state: 'active',
    origin: {},
    ...overrides,
  };
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
