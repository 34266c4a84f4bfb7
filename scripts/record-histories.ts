/**
 * `npm run record-histories`: runs every path of the workflows on a fresh local stack (Temporal
 * dev server in memory, moto) and saves their histories to test/replay/histories/, which the
 * replay test replays against the current code on every `npm test`. Re-record after an
 * intentional change to a workflow's command sequence (and guard the change with `patched()`
 * so that running workflows still replay).
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, DeletePublicAccessBlockCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createAwsClients } from '../src/activities/aws.js';
import { loadConfig } from '../src/config.js';
import { withPayloadCodec } from '../src/codec/encryption.js';
import { ControlId, ResourceType, type Finding } from '../src/findings/finding.js';
import { parsePolicy } from '../src/policy/load.js';
import { ensureMoto, startMoto } from '../src/stack/moto.js';
import { freePort } from '../src/stack/process.js';
import { REPO_ROOT } from '../src/stack/paths.js';
import { ensureTemporalCli, startDevServer } from '../src/stack/temporal.js';
import { decideByQuery, planDigestOf, requestUndo, sendDecision, signDecision } from '../src/triggers/decisions.js';
import { digestWorkflowId } from '../src/activities/guardrails.js';
import { hourOf } from '../src/policy/decide.js';
import { refreshDigest } from '../src/workflows/approval-digest.js';
import { pendingQuery } from '../src/workflows/queries.js';
import { createSubmitter } from '../src/triggers/submit.js';
import { createWorker } from '../src/worker/create-worker.js';
import { getStatus } from '../src/workflows/messages.js';
import { createMemberRole, startTrustFront } from '../test/helpers/sts-trust.js';
import { testOperatorKey, withTestDecisionKeys } from '../test/helpers/decisions.js';
import { scanAccount } from '../src/workflows/scan-account.js';
import { accountScanWorkflowId, scanOrganization } from '../src/workflows/scan-organization.js';

export const HISTORIES_DIR = join(REPO_ROOT, 'test', 'replay', 'histories');
/**
 * `--encrypted <scenario>...`: those scenarios with payload encryption on, with the fixed test key
 * of this file (a test fixture, never a real key), into histories/encrypted/; the replay test
 * decodes them with the codec.
 */
export const ENCRYPTED_HISTORY_KEYS = join(REPO_ROOT, 'test', 'replay', 'encrypted-history-keys.txt');
const encrypted = process.argv.includes('--encrypted');
const say = (l: string) => console.log(`[record] ${l}`);
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
Runtime.install({ logger: new DefaultLogger('ERROR') });

/** The recorder decides as an operator whose key (the test operator key) the policies list as `recorder`. */
const RECORDER = 'recorder';
const policy = (modes: string) =>
  parsePolicy(
    withTestDecisionKeys(
      `version: 1
defaults:
  undo: { window: 0 }
  escalation: { remindAfter: 1s, escalateAfter: 2s, timeoutAfter: 3s, timeoutAction: reject }
controls:
  ec2-sg-admin-ports-open:
    requireApprovalWhenTagged: { environment: [production] }
${modes}
`,
      { operatorName: RECORDER },
    ),
    'recording',
  );

const undoPolicy = parsePolicy(withTestDecisionKeys(`version: 1\ndefaults:\n  undo: { window: 1h, exemptFor: 1d }\n`, { operatorName: RECORDER }), 'recording');

const [temporalBin, motoBin] = await Promise.all([ensureTemporalCli(say), ensureMoto(say)]);
const [temporal, moto] = await Promise.all([startDevServer({ binary: temporalBin, port: await freePort() }), startMoto({ binary: motoBin, port: await freePort() })]);
const config = loadConfig({ TEMPORAL_ADDRESS: temporal.address, AWS_ENDPOINT_URL: moto.endpoint, ...(encrypted ? { PAYLOAD_ENCRYPTION_KEYS_FILE: ENCRYPTED_HISTORY_KEYS } : {}) });
const aws = createAwsClients(config.aws);
const ACCOUNT = '123456789012';
const MEMBER = '210987654321';
const OFF_REGION = 'us-west-2';
/** The hub with a member role, through a front that judges AssumeRole as STS does and can shut a region: for the organization scan. */
const front = await startTrustFront(moto.endpoint, ACCOUNT);
const orgAws = createAwsClients({ ...config.aws, endpointUrl: front.endpoint, memberRole: { arnTemplate: 'arn:aws:iam::{account}:role/rectify-remediator' } });
/** Straight to moto as any account (moto grants any AssumeRole): sets the member accounts up. */
const setup = createAwsClients({ ...config.aws, memberRole: { arnTemplate: 'arn:aws:iam::{account}:role/recording-setup' } });
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection, ...withPayloadCodec(config.payloadEncryption) });
const native = await NativeConnection.connect({ address: temporal.address });
const region = config.aws.region;

const finding = (control: ControlId, id: string): Finding => ({
  id: `recording-${id}`,
  source: 'generic',
  control,
  account: ACCOUNT,
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

type Submit = (f: Finding) => Promise<WorkflowHandle>;
/** A decision as the CLI sends it: signed with the recorder's key for this workflow and the plan it waits on. */
const approve = async (h: WorkflowHandle, decision: 'approve' | 'reject' = 'approve') => {
  const target = { workflowId: h.workflowId };
  const planDigest = await planDigestOf(client, target);
  const req = { decision, by: { id: RECORDER, name: RECORDER, via: 'cli' as const }, ...(decision === 'approve' ? { reason: 'recorded' } : {}), ...(planDigest ? { planDigest } : {}) };
  return sendDecision(client, target, signDecision(testOperatorKey.sign, target, req));
};

/**
 * Each scenario: a policy, what happens (findings submitted, what a person does meanwhile), and
 * the workflows whose histories are kept, by file name.
 */
const scenarios: { name: string; modes?: string; undo?: boolean; org?: boolean; run: (submit: Submit, taskQueue: string) => Promise<[string, WorkflowHandle][]> }[] = [
  {
    // First, while moto holds nothing else: the worker's own account, then an organization of two
    // accounts (the second through the member role), every control; what they find is fixed.
    // Workflow ids are the file names: replay derives the children's ids from the parent's.
    name: 'scan',
    org: true,
    run: async (_submit, taskQueue) => {
      await bucket('rec-scan-hub');
      await createMemberRole(setup, ACCOUNT, ACCOUNT);
      await createMemberRole(setup, MEMBER, ACCOUNT);
      // The member has not enabled the second region: its EC2 controls there are recorded as unreadable, and the scan goes on.
      front.disableRegion(MEMBER, OFF_REGION);
      const member = setup.forAccount(MEMBER);
      await member.s3(region).send(new CreateBucketCommand({ Bucket: 'rec-scan-member' }));
      await member.s3(region).send(new DeletePublicAccessBlockCommand({ Bucket: 'rec-scan-member' }));
      const own = await client.workflow.start(scanAccount, { taskQueue, workflowId: 'scan-account', args: [{ regions: [region] }] });
      await own.result();
      const org = await client.workflow.start(scanOrganization, { taskQueue, workflowId: 'scan-organization', args: [{ accounts: [ACCOUNT, MEMBER], regions: [region, OFF_REGION] }] });
      await org.result();
      return [
        ['scan-account', own],
        ['scan-organization', org],
        ['scan-account-member', client.workflow.getHandle(accountScanWorkflowId(org.workflowId, MEMBER, region))],
        ['scan-account-region-off', client.workflow.getHandle(accountScanWorkflowId(org.workflowId, MEMBER, OFF_REGION))],
      ];
    },
  },
  { name: 'auto-fix', run: async (submit) => [['auto-fix', await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-auto-fix')))]] },
  { name: 'already-compliant', run: async (submit) => [['already-compliant', await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-compliant').then(async (b) => { await createWorkerlessFix(b); return b; })))]] },
  {
    name: 'approval',
    run: async (submit) => {
      const h = await submit(finding(ControlId.SgAdminPortsOpen, await productionGroup('rec-approval')));
      await waitFor(h, 'AwaitingApproval');
      await approve(h);
      return [['approval', h]];
    },
  },
  {
    name: 'rejection',
    run: async (submit) => {
      const h = await submit(finding(ControlId.SgAdminPortsOpen, await productionGroup('rec-rejection')));
      await waitFor(h, 'AwaitingApproval');
      await approve(h, 'reject');
      return [['rejection', h]];
    },
  },
  {
    name: 'rejection-held',
    run: async (submit) => {
      // Rejected once; the same finding again, resource unchanged: closed without asking.
      const group = await productionGroup('rec-rejection-held');
      const first = await submit(finding(ControlId.SgAdminPortsOpen, group));
      await waitFor(first, 'AwaitingApproval');
      await approve(first, 'reject');
      await first.result();
      return [['rejection-held', await submit(finding(ControlId.SgAdminPortsOpen, group))]];
    },
  },
  { name: 'timeout-escalation', run: async (submit) => [['timeout-escalation', await submit(finding(ControlId.SgAdminPortsOpen, await productionGroup('rec-timeout')))]] },
  { name: 'dry-run', modes: '  s3-block-public-access: { mode: dry-run }', run: async (submit) => [['dry-run', await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-dry-run')))]] },
  { name: 'exempt', run: async (submit) => [['exempt', await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-exempt', { 'rectify:exempt-until': 'permanent' })))]] },
  { name: 'failure', run: async (submit) => [['failure', await submit(finding(ControlId.S3BlockPublicAccess, 'rec-no-such-bucket'))]] },
  { name: 'notify', modes: '  s3-block-public-access: { mode: notify }', run: async (submit) => [['notify', await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-notify')))]] },
  {
    name: 'flapping',
    modes: '  s3-block-public-access: { guardrails: { flap: { maxFixes: 1, window: 10m } } }',
    run: async (submit) => {
      // Fixed once, opened again by someone: the next finding waits for a person, who approves.
      const b = await bucket('rec-flapping');
      await (await submit(finding(ControlId.S3BlockPublicAccess, b))).result();
      await aws.s3(region).send(new DeletePublicAccessBlockCommand({ Bucket: b }));
      const h = await submit(finding(ControlId.S3BlockPublicAccess, b));
      await waitFor(h, 'AwaitingApproval');
      await approve(h);
      return [['flapping', h]];
    },
  },
  {
    name: 'budget-held',
    modes: '  s3-block-public-access: { guardrails: { maxAutoFixesPerHour: 0 } }',
    run: async (submit, taskQueue) => {
      // Held by the budget: one decided in bulk (as from the digest), one left to the timeout.
      const bulk = await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-bulk')));
      await waitFor(bulk, 'AwaitingApproval');
      const out = await decideByQuery(client, `${pendingQuery({ control: ControlId.S3BlockPublicAccess, reason: 'budget', taskQueue })} AND WorkflowId = "${bulk.workflowId}"`, {
        decision: 'approve',
        by: { id: RECORDER, name: RECORDER, via: 'cli', bulk: 'cli-query:recording' },
      }, { sign: testOperatorKey.sign });
      if (out.accepted !== 1) throw new Error(`bulk decision not accepted: ${JSON.stringify(out)}`);
      await bulk.result();
      const held = await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-budget-held')));
      await held.result();
      const digest = client.workflow.getHandle(digestWorkflowId(taskQueue, ControlId.S3BlockPublicAccess, hourOf(Date.now()).key));
      await digest.signal(refreshDigest);
      await new Promise((r) => setTimeout(r, 1000));
      return [
        ['bulk-approved', bulk],
        ['budget-held', held],
        ['digest', digest],
      ];
    },
  },
  {
    name: 'undo',
    undo: true,
    run: async (submit, taskQueue) => {
      // Fixed; then an operator takes it back: the undo runs as a workflow of its own.
      const h = await submit(finding(ControlId.S3BlockPublicAccess, await bucket('rec-undo')));
      const rec = await h.result();
      const out = await requestUndo(client, { remediation: { workflowId: h.workflowId }, by: { id: RECORDER, name: RECORDER, via: 'cli' }, reason: 'recorded', policy: undoPolicy, taskQueue, sign: testOperatorKey.sign });
      if (!out.ok) throw new Error(`undo not accepted: ${out.message}`);
      return [
        ['undo', h],
        ['revert', client.workflow.getHandle(rec.undoWindow.workflowId)],
      ];
    },
  },
];

async function createWorkerlessFix(b: string): Promise<void> {
  const { PutPublicAccessBlockCommand } = await import('@aws-sdk/client-s3');
  await aws.s3(region).send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } }));
}

// Only the current code's histories are re-recorded; v1/ keeps the first version's for good.
// `npm run record-histories -- scan undo` records just those scenarios and keeps every other file.
const only = process.argv.slice(2).filter((a) => a !== '--encrypted');
if (encrypted && only.length === 0) throw new Error('name the scenarios to record encrypted, e.g. --encrypted auto-fix');
const outDir = encrypted ? join(HISTORIES_DIR, 'encrypted') : HISTORIES_DIR;
const unknown = only.filter((n) => !scenarios.some((s) => s.name === n));
if (unknown.length) throw new Error(`no such scenario: ${unknown.join(', ')} (scenarios: ${scenarios.map((s) => s.name).join(', ')})`);
await mkdir(outDir, { recursive: true });
if (only.length === 0) for (const f of await readdir(HISTORIES_DIR)) if (f.endsWith('.json')) await rm(join(HISTORIES_DIR, f));
try {
  for (const s of scenarios) {
    if (only.length && !only.includes(s.name)) continue;
    const p = s.undo ? undoPolicy : policy(s.modes ?? '');
    const taskQueue = `record-${s.name}`;
    const worker = await createWorker({ connection: native, client, namespace: 'default', taskQueue, aws: s.org ? orgAws : aws, policy: p, ...withPayloadCodec(config.payloadEncryption) });
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 5000, policy: p });
    const submit: Submit = async (f) => {
      const r = await submitter.submit(f);
      return client.workflow.getHandle(r.workflowId, r.runId);
    };
    await worker.runUntil(async () => {
      const files = await s.run(submit, taskQueue);
      for (const [, h] of files) if (!h.workflowId.startsWith('digest/')) await h.result().catch(() => undefined);
      for (const [name, handle] of files) {
        await writeFile(join(outDir, `${name}.json`), historyToJSON(await handle.fetchHistory()) + '\n');
        say(`recorded ${name} (${handle.workflowId})`);
      }
    });
  }
} finally {
  await native.close();
  await connection.close();
  aws.destroy();
  orgAws.destroy();
  setup.destroy();
  await front.close();
  await Promise.all([temporal.stop(), moto.stop()]);
}
