/**
 * `npm run record-histories`: runs every path of the workflows on a fresh local stack (Temporal
 * dev server in memory, moto) and saves their histories to test/replay/histories/, which the
 * replay test replays against the current code on every `npm test`. Re-record after an
 * intentional change to a workflow's command sequence (and guard the change with `patched()`
 * so that running workflows still replay).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeletePublicAccessBlockCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createAwsClients } from '../src/activities/aws.js';
import { loadConfig } from '../src/config.js';
import { ControlId, ResourceType, type Finding } from '../src/findings/finding.js';
import { parsePolicy } from '../src/policy/load.js';
import { ensureMoto, startMoto } from '../src/stack/moto.js';
import { freePort } from '../src/stack/process.js';
import { REPO_ROOT } from '../src/stack/paths.js';
import { ensureTemporalCli, startDevServer } from '../src/stack/temporal.js';
import { sendDecision, sendUndo } from '../src/triggers/decisions.js';
import { createSubmitter } from '../src/triggers/submit.js';
import { createWorker } from '../src/worker/create-worker.js';
import { getStatus } from '../src/workflows/messages.js';

export const HISTORIES_DIR = join(REPO_ROOT, 'test', 'replay', 'histories');
const say = (l: string) => console.log(`[record] ${l}`);
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
Runtime.install({ logger: new DefaultLogger('ERROR') });

const policy = (modes: string) =>
  parsePolicy(
    `version: 1
defaults:
  undo: { window: 0 }
  escalation: { remindAfter: 1s, escalateAfter: 2s, timeoutAfter: 3s, timeoutAction: reject }
controls:
  ec2-sg-admin-ports-open:
    requireApprovalWhenTagged: { environment: [production] }
${modes}
`,
    'recording',
  );

const [temporalBin, motoBin] = await Promise.all([ensureTemporalCli(say), ensureMoto(say)]);
const [temporal, moto] = await Promise.all([startDevServer({ binary: temporalBin, port: await freePort() }), startMoto({ binary: motoBin, port: await freePort() })]);
const config = loadConfig({ TEMPORAL_ADDRESS: temporal.address, AWS_ENDPOINT_URL: moto.endpoint });
const aws = createAwsClients(config.aws);
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection });
const native = await NativeConnection.connect({ address: temporal.address });
const region = config.aws.region;

const finding = (control: ControlId, id: string): Finding => ({
  id: `recording-${id}`,
  source: 'generic',
  control,
  account: '123456789012',
  region,
  resource: { type: control === ControlId.SgAdminPortsOpen ? ResourceType.SecurityGroup : ResourceType.S3Bucket, id },
  severity: 'HIGH',
  title: 'recorded scenario',
  observedAt: '2026-01-01T00:00:00.000Z',
  state: 'active',
  origin: {},
});
const bucket = async (name: string, tags: Record<string, string> = {}) => {
  await aws.s3(region).send(new CreateBucketCommand({ Bucket: name }));
  await aws.s3(region).send(new DeletePublicAccessBlockCommand({ Bucket: name }));
  if (Object.keys(tags).length) await aws.s3(region).send(new PutBucketTaggingCommand({ Bucket: name, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
  return name;
};
const vpc = (await aws.ec2(region).send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId!;
const productionGroup = async (name: string) => {
  const id = (
    await aws.ec2(region).send(new CreateSecurityGroupCommand({ GroupName: name, Description: name, VpcId: vpc, TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'environment', Value: 'production' }] }] }))
  ).GroupId!;
  await aws.ec2(region).send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  return id;
};
const waitFor = async (h: WorkflowHandle, status: string) => {
  for (let i = 0; i < 200; i++) {
    if ((await h.query(getStatus).catch(() => undefined))?.status === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${h.workflowId} never reached ${status}`);
};

/** Each scenario: a policy, a finding, and what a person does meanwhile. */
const scenarios: { name: string; modes?: string; undo?: boolean; run: () => Promise<{ f: Finding; act?: (h: WorkflowHandle) => Promise<void> }> }[] = [
  { name: 'auto-fix', run: async () => ({ f: finding(ControlId.S3BlockPublicAccess, await bucket('rec-auto-fix')) }) },
  { name: 'already-compliant', run: async () => ({ f: finding(ControlId.S3BlockPublicAccess, await bucket('rec-compliant').then(async (b) => { await createWorkerlessFix(b); return b; })) }) },
  {
    name: 'approval',
    run: async () => ({
      f: finding(ControlId.SgAdminPortsOpen, await productionGroup('rec-approval')),
      act: async (h) => {
        await waitFor(h, 'AwaitingApproval');
        await sendDecision(client, { workflowId: h.workflowId }, { decision: 'approve', by: { id: 'recorder', name: 'recorder', via: 'cli' }, reason: 'recorded' });
      },
    }),
  },
  {
    name: 'rejection',
    run: async () => ({
      f: finding(ControlId.SgAdminPortsOpen, await productionGroup('rec-rejection')),
      act: async (h) => {
        await waitFor(h, 'AwaitingApproval');
        await sendDecision(client, { workflowId: h.workflowId }, { decision: 'reject', by: { id: 'recorder', name: 'recorder', via: 'cli' } });
      },
    }),
  },
  { name: 'timeout-escalation', run: async () => ({ f: finding(ControlId.SgAdminPortsOpen, await productionGroup('rec-timeout')) }) },
  { name: 'dry-run', modes: '  s3-block-public-access: { mode: dry-run }', run: async () => ({ f: finding(ControlId.S3BlockPublicAccess, await bucket('rec-dry-run')) }) },
  { name: 'exempt', run: async () => ({ f: finding(ControlId.S3BlockPublicAccess, await bucket('rec-exempt', { 'rectify:exempt-until': 'permanent' })) }) },
  { name: 'failure', run: async () => ({ f: finding(ControlId.S3BlockPublicAccess, 'rec-no-such-bucket') }) },
  { name: 'notify', modes: '  s3-block-public-access: { mode: notify }', run: async () => ({ f: finding(ControlId.S3BlockPublicAccess, await bucket('rec-notify')) }) },
  {
    name: 'undo',
    undo: true,
    run: async () => ({
      f: finding(ControlId.S3BlockPublicAccess, await bucket('rec-undo')),
      act: async (h) => {
        await h.result();
        const win = client.workflow.getHandle(`undo/${h.workflowId}`);
        await waitFor(win, 'UndoAvailable');
        await sendUndo(client, { workflowId: win.workflowId }, { by: { id: 'recorder', name: 'recorder', via: 'cli' }, reason: 'recorded' });
        await win.result();
      },
    }),
  },
];

async function createWorkerlessFix(b: string): Promise<void> {
  const { PutPublicAccessBlockCommand } = await import('@aws-sdk/client-s3');
  await aws.s3(region).send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } }));
}

await rm(HISTORIES_DIR, { recursive: true, force: true });
await mkdir(HISTORIES_DIR, { recursive: true });
try {
  for (const s of scenarios) {
    const p = s.undo
      ? parsePolicy(`version: 1\ndefaults:\n  undo: { window: 1h, exemptFor: 1d }\n`, 'recording')
      : policy(s.modes ?? '');
    const taskQueue = `record-${s.name}`;
    const worker = await createWorker({ connection: native, client, namespace: 'default', taskQueue, aws, policy: p });
    await worker.runUntil(async () => {
      const { f, act } = await s.run();
      const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 5000, policy: p }).submit(f);
      const h = client.workflow.getHandle(r.workflowId, r.runId);
      await act?.(h);
      await h.result().catch(() => undefined);
      const files: [string, WorkflowHandle][] = [[s.name, h]];
      if (s.undo) files.push([`${s.name}-window`, client.workflow.getHandle(`undo/${r.workflowId}`)]);
      for (const [name, handle] of files) {
        await writeFile(join(HISTORIES_DIR, `${name}.json`), historyToJSON(await handle.fetchHistory()) + '\n');
        say(`recorded ${name} (${handle.workflowId})`);
      }
    });
  }
} finally {
  await native.close();
  await connection.close();
  aws.destroy();
  await Promise.all([temporal.stop(), moto.stop()]);
}
