import { CreateBucketCommand, DeletePublicAccessBlockCommand, PutBucketTaggingCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { spawn } from 'node:child_process';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { REPO_ROOT } from '../stack/paths.js';
import { getStatus } from '../workflows/messages.js';
import { RemediationStatus } from '../workflows/search-attributes.js';
import type { AwsClients } from '../activities/aws.js';
import type { SubmitResult } from '../triggers/submit.js';
import type { RemediationRecord } from '../workflows/messages.js';
import { SearchAttr } from '../workflows/search-attributes.js';
import { authorizeIngressEvent, configNonCompliantEvent, deleteBucketPublicAccessBlockEvent, securityHubS3_8Event } from './demo-events.js';
import { plainTemporalEnv } from '../temporal-connection.js';

export interface DemoOptions {
  readonly aws: AwsClients;
  readonly client: Client;
  readonly webhookUrl: string;
  readonly webhookToken: string;
  readonly region: string;
  /** Where the CLI child process reaches Temporal, for the approval step. */
  readonly temporalAddress: string;
  /** The local operator's key and the policy listing it, for the CLI's signed approval. */
  readonly operator: { readonly keyFile: string; readonly policyFile: string };
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

  // A production web tier: the policy says a person approves changes to it.
  const prodWeb = (
    await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: 'demo-prod-web',
        Description: 'production web tier',
        VpcId: vpc,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'environment', Value: 'production' }, { Key: 'owner', Value: 'web-team' }] }],
      }),
    )
  ).GroupId!;
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: prodWeb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }, { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));

  const events: { label: string; event: unknown }[] = [
    { label: `CloudTrail DeleteBucketPublicAccessBlock on ${assets}`, event: deleteBucketPublicAccessBlockEvent(assets, o.region) },
    { label: `Security Hub S3.8 finding on ${logs}`, event: securityHubS3_8Event(logs, o.region) },
    { label: `CloudTrail AuthorizeSecurityGroupIngress 0.0.0.0/0:22 on ${bastion} (demo-bastion)`, event: authorizeIngressEvent(bastion, o.region, 22, '0.0.0.0/0') },
    { label: `AWS Config restricted-common-ports NON_COMPLIANT on ${rdp} (demo-windows)`, event: configNonCompliantEvent(rdp, o.region) },
    { label: `the same CloudTrail event on ${assets} again (EventBridge delivers at least once)`, event: deleteBucketPublicAccessBlockEvent(assets, o.region) },
    { label: `CloudTrail AuthorizeSecurityGroupIngress 0.0.0.0/0:22 on ${prodWeb} (demo-prod-web, tagged environment=production)`, event: authorizeIngressEvent(prodWeb, o.region, 22, '0.0.0.0/0') },
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
  const prodRun = [...runs.values()].find((r) => r.workflowId.endsWith(`/${prodWeb}`));
  const approval = prodRun ? approveFromCli(o, prodRun.workflowId) : Promise.resolve(true);
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
        const by = rec.approval?.by ? ` (approved by ${rec.approval.by.via}:${rec.approval.by.id})` : '';
        if (rec.outcome === 'remediated') say(`  REMEDIATED AND VERIFIED ${rec.resource.id} in ${secs}s${by}: ${rec.change?.summary}`);
        if (rec.undoWindow) say(`      undo possible until ${rec.undoWindow.until}: npm run cli -- undo ${rec.workflowId}`);
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
  allGood = (await approval) && allGood;
  say(`demo finished in ${((Date.now() - started) / 1000).toFixed(1)}s: ${runs.size} workflows, ${allGood ? 'all remediated and verified' : 'some FAILED'}`);
  return allGood;
}

function ignoreExists(err: unknown): void {
  const name = (err as { name?: string }).name;
  if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
}

/** Waits until the production finding asks for approval, then lists and approves it with the real CLI, as an operator would. */
async function approveFromCli(o: DemoOptions, workflowId: string): Promise<boolean> {
  const handle = o.client.workflow.getHandle(workflowId);
  const deadline = Date.now() + 60_000;
  while ((await handle.query(getStatus).catch(() => undefined))?.status !== RemediationStatus.AwaitingApproval) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  o.say(`  ... ${workflowId}: AwaitingApproval (policy: production needs a person; no Slack configured, so the CLI decides)`);
  const cli = async (args: string[]) => {
    o.say(`  $ npm run cli -- ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`);
    const out = await runCli(args, o);
    for (const line of out.output.trimEnd().split('\n')) o.say(`    ${line}`);
    return out.code === 0;
  };
  return (await cli(['approvals'])) && (await cli(['approve', workflowId, '--reason', 'bastion rule opened by mistake']));
}

function runCli(args: string[], o: DemoOptions): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      // The local stack's dev server is plain, whatever TLS / profile settings this shell has for another Temporal.
      // The approval is signed with the local operator's key, listed in the local stack's effective policy.
      env: { ...plainTemporalEnv(process.env), TEMPORAL_ADDRESS: o.temporalAddress, RECTIFY_OPERATOR_KEY_FILE: o.operator.keyFile, POLICY_FILE: o.operator.policyFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, output }));
  });
}
