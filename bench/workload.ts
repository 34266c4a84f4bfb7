/**
 * What the benchmark fixes: S3 buckets without Block Public Access and security groups with SSH
 * open to the world, created in moto; the CloudTrail events EventBridge would deliver for them;
 * and the bare loop that does the same AWS reads and writes through the SDK with no orchestration.
 */
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeletePublicAccessBlockCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { performance } from 'node:perf_hooks';
import type { AwsClients } from '../src/activities/aws.js';
import { requireControl } from '../src/activities/controls/index.js';
import { authorizeIngressEvent, deleteBucketPublicAccessBlockEvent } from '../src/cli/demo-events.js';
import { ControlId, ResourceType, type Finding } from '../src/findings/finding.js';
import { BUILTIN_DEFAULTS } from '../src/policy/load.js';

export const ACCOUNT = '123456789012';

export interface Target {
  readonly kind: 'bucket' | 'group';
  /** Bucket name or security group id. */
  readonly id: string;
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** moto is not thread-safe everywhere: an occasional 500 under concurrent calls is retried, as the product retries it. */
export async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
      const type = (err as { type?: string }).type;
      if (attempt >= 5 || !(status >= 500 || type === 'AwsUnavailable' || type === 'Throttled')) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

let vpcId: string | undefined;

/**
 * Creates `buckets` buckets without a public access block and `groups` security groups with
 * tcp/22 open to 0.0.0.0/0, named `<prefix>-b-N` / `<prefix>-g-N`; `tags` go on every one.
 */
export async function createTargets(aws: AwsClients, region: string, prefix: string, counts: { buckets: number; groups: number }, tags: Record<string, string> = {}): Promise<Target[]> {
  const s3 = aws.s3(region);
  const ec2 = aws.ec2(region);
  vpcId ??= (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.42.0.0/16' }))).Vpc!.VpcId!;
  const tagList = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const out: Target[] = [];
  const bucketNames = Array.from({ length: counts.buckets }, (_, i) => `${prefix}-b-${i}`);
  await pool(bucketNames, 16, async (name) => {
    await retrying(() => s3.send(new CreateBucketCommand({ Bucket: name })));
    await retrying(() => s3.send(new DeletePublicAccessBlockCommand({ Bucket: name })));
    if (tagList.length) await retrying(() => s3.send(new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: tagList } })));
    out.push({ kind: 'bucket', id: name });
  });
  const groupNames = Array.from({ length: counts.groups }, (_, i) => `${prefix}-g-${i}`);
  await pool(groupNames, 16, async (name) => {
    const existing = await retrying(() => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }] })));
    const id =
      existing.SecurityGroups?.[0]?.GroupId ??
      (await retrying(() =>
        ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: name, VpcId: vpcId, ...(tagList.length ? { TagSpecifications: [{ ResourceType: 'security-group', Tags: tagList }] } : {}) })),
      )).GroupId!;
    await retrying(() => ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }))).catch((err: unknown) => {
      if ((err as { name?: string }).name !== 'InvalidPermission.Duplicate') throw err;
    });
    out.push({ kind: 'group', id });
  });
  // Interleave buckets and groups, as a real burst would mix them.
  const b = out.filter((t) => t.kind === 'bucket');
  const g = out.filter((t) => t.kind === 'group');
  return Array.from({ length: Math.max(b.length, g.length) }, (_, i) => [b[i], g[i]]).flat().filter((t): t is Target => t !== undefined);
}

/** The CloudTrail event (as EventBridge delivers it) that announces the target's misconfiguration. */
export function eventFor(t: Target, region: string): unknown {
  return t.kind === 'bucket' ? deleteBucketPublicAccessBlockEvent(t.id, region) : authorizeIngressEvent(t.id, region, 22, '0.0.0.0/0');
}

/** Workflow id the product gives the target's finding. */
export function workflowIdOf(t: Target, region: string): string {
  const control = t.kind === 'bucket' ? ControlId.S3BlockPublicAccess : ControlId.SgAdminPortsOpen;
  return `finding/${ACCOUNT}/${region}/${control}/${t.id}`;
}

function findingOf(t: Target, region: string): Finding {
  return {
    id: `bare/${t.id}`,
    source: 'generic',
    control: t.kind === 'bucket' ? ControlId.S3BlockPublicAccess : ControlId.SgAdminPortsOpen,
    account: ACCOUNT,
    region,
    resource: { type: t.kind === 'bucket' ? ResourceType.S3Bucket : ResourceType.SecurityGroup, id: t.id },
    severity: 'HIGH',
    title: 'bench',
    observedAt: new Date().toISOString(),
    state: 'active',
    origin: {},
  };
}

/**
 * The work of one finding with no orchestration, through the same control code and SDK clients:
 * read (triage), re-read and apply (fix), read back and check (verify). Throws when the fix does
 * not hold.
 */
export async function bareFix(aws: AwsClients, t: Target, region: string): Promise<void> {
  const f = findingOf(t, region);
  const control = requireControl(f.control);
  const settings = BUILTIN_DEFAULTS.settings;
  const triage = await retrying(() => control.read(aws, f));
  if (control.plan(triage.state, settings) === null) return;
  const { state: before } = await retrying(() => control.read(aws, f));
  const change = control.plan(before, settings);
  if (change === null) return;
  await retrying(() => control.apply(aws, f, change));
  const { state: after } = await retrying(() => control.read(aws, f));
  const problems = control.check(before, change, after, settings);
  if (problems.length) throw new Error(`${t.id}: ${problems.join('; ')}`);
}

/** The bare loop over `targets`, `concurrency` at a time: fixes per second and each one's latency (ms). */
export async function bareLoop(aws: AwsClients, targets: readonly Target[], region: string, concurrency: number): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  const t0 = performance.now();
  await pool(targets, concurrency, async (t) => {
    const s = performance.now();
    await bareFix(aws, t, region);
    latencies.push(performance.now() - s);
  });
  return { perSecond: targets.length / ((performance.now() - t0) / 1000), latencies };
}

export const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
