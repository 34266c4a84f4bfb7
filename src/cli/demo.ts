import { CreateBucketCommand, DeletePublicAccessBlockCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { AwsClients } from '../activities/aws.js';
import type { SubmitResult } from '../triggers/submit.js';
import type { RemediationRecord } from '../workflows/messages.js';
import { SearchAttr } from '../workflows/search-attributes.js';
import { authorizeIngressEvent, configNonCompliantEvent, deleteBucketPublicAccessBlockEvent, securityHubS3_8Event } from './demo-events.js';

export interface DemoOptions {
  readonly aws: AwsClients;
  readonly client: Client;
  readonly webhookUrl: string;
  readonly webhookToken: string;
  readonly region: string;
  readonly say: (line: string) => void;
}

interface Posted {
  readonly label: string;
  readonly results: readonly SubmitResult[];
}

/**
 * The demo: misconfigures resources in the emulator, sends the events AWS would send for them to
 * the webhook, and follows each workflow to "remediated and verified". Returns true when every
 * finding ended remediated (or already compliant).
 */
export async function runDemo(o: DemoOptions): Promise<boolean> {
  const { say } = o;
  const s3 = o.aws.s3(o.region);
  const ec2 = o.aws.ec2(o.region);
  const started = Date.now();

  say('creating misconfigured resources in the AWS emulator...');
  const assets = 'demo-public-assets';
  const logs = 'demo-access-logs';
  await s3.send(new CreateBucketCommand({ Bucket: assets })).catch(ignoreExists);
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket: assets }));
  await s3.send(new PutBucketTaggingCommand({ Bucket: assets, Tagging: { TagSet: [{ Key: 'owner', Value: 'web-team' }] } }));
  await s3.send(new CreateBucketCommand({ Bucket: logs })).catch(ignoreExists);
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: logs, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: true, RestrictPublicBuckets: false } }));

  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
  const bastion = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'demo-bastion', Description: 'bastion hosts', VpcId: vpc }))).GroupId!;
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: bastion,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8', Description: 'VPN' }] },
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      ],
    }),
  );
  const rdp = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'demo-windows', Description: 'windows hosts', VpcId: vpc }))).GroupId!;
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: rdp, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] }] }));

  const events: { label: string; event: unknown }[] = [
    { label: `CloudTrail DeleteBucketPublicAccessBlock on ${assets}`, event: deleteBucketPublicAccessBlockEvent(assets, o.region) },
    { label: `Security Hub S3.8 finding on ${logs}`, event: securityHubS3_8Event(logs, o.region) },
    { label: `CloudTrail AuthorizeSecurityGroupIngress 0.0.0.0/0:22 on ${bastion} (demo-bastion)`, event: authorizeIngressEvent(bastion, o.region, 22, '0.0.0.0/0') },
    { label: `AWS Config restricted-common-ports NON_COMPLIANT on ${rdp} (demo-windows)`, event: configNonCompliantEvent(rdp, o.region) },
    { label: `the same CloudTrail event on ${assets} again (EventBridge delivers at least once)`, event: deleteBucketPublicAccessBlockEvent(assets, o.region) },
  ];

  say(`sending ${events.length} events to ${o.webhookUrl}/v1/events ...`);
  const posted: Posted[] = [];
  for (const { label, event } of events) {
    const res = await fetch(`${o.webhookUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${o.webhookToken}` },
      body: JSON.stringify(event),
    });
    const body = (await res.json()) as { findings?: SubmitResult[]; error?: { message: string } };
    if (res.status !== 202) throw new Error(`webhook answered ${res.status} for ${label}: ${body.error?.message}`);
    const results = body.findings ?? [];
    for (const r of results) say(`  ${res.status} ${label}\n      -> ${r.status} ${r.workflowId}`);
    posted.push({ label, results });
  }

  say('following the workflows (Temporal Web UI shows the same, live)...');
  const runs = new Map<string, SubmitResult>();
  for (const p of posted) for (const r of p.results) if (r.runId) runs.set(`${r.workflowId}#${r.runId}`, r);
  let allGood = true;
  await Promise.all(
    [...runs.values()].map(async (r) => {
      const handle = o.client.workflow.getHandle(r.workflowId, r.runId);
      let last = '';
      const ticker = setInterval(() => {
        handle
          .describe()
          .then((d) => {
            const s = d.typedSearchAttributes.get(SearchAttr.Status) ?? '';
            if (s && s !== last && d.status.name === 'RUNNING') say(`  ... ${r.workflowId}: ${(last = s)}`);
          })
          .catch(() => undefined);
      }, 250);
      try {
        const rec: RemediationRecord = await handle.result();
        const secs = ((Date.parse(rec.timestamps.closed) - Date.parse(rec.timestamps.received)) / 1000).toFixed(1);
        if (rec.outcome === 'remediated') say(`  REMEDIATED AND VERIFIED ${rec.resource.id} in ${secs}s: ${rec.change?.summary}`);
        else say(`  ${rec.outcome.toUpperCase()} ${rec.resource.id} in ${secs}s (nothing to change)`);
      } catch (err) {
        allGood = false;
        const msg = err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
        say(`  FAILED ${r.workflowId}: ${msg}`);
      } finally {
        clearInterval(ticker);
      }
    }),
  );
  say(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s: ${runs.size} workflows, ${allGood ? 'all remediated and verified' : 'some FAILED'}`);
  return allGood;
}

function ignoreExists(err: unknown): void {
  const name = (err as { name?: string }).name;
  if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
}
