/**
 * The README's "Production" section, step by step, on the local stack with two member accounts:
 * the member role deployed from deploy/member-role.yaml by CloudFormation in each member, the
 * hub configured by environment only, the real worker and trigger server processes, an event of
 * a member account through the webhook, and the organization scan from the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { deleteBucketPublicAccessBlockEvent } from '../../src/cli/demo-events.js';
import { generateEvidenceKeyPem } from '../../src/evidence/signing.js';
import { ControlId, ResourceType, workflowIdFor } from '../../src/findings/finding.js';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { freePort, startProcess, waitUntilReady, type Managed } from '../../src/stack/process.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import type { OrgScanResult } from '../../src/workflows/scan-organization.js';
import { ACCOUNT, makeBucket, makeSecurityGroup } from '../helpers/fixtures.js';
import { temporalClient, unique } from '../helpers/stack.js';
import { startTrustFront, type TrustFront } from '../helpers/sts-trust.js';

const run = promisify(execFile);
const HUB = ACCOUNT;
const REGION = 'us-east-1';
const EXTERNAL_ID = unique('prod-external-id');
const creds = { accessKeyId: 'emulator', secretAccessKey: 'emulator' };
/** Two member accounts of this run (moto is shared by every test file). */
const members = [`7${String(Date.now()).slice(-11)}`, `8${String(Date.now()).slice(-11)}`] as const;

let dir: string;
let front: TrustFront;
let setup: AwsClients;
let env: NodeJS.ProcessEnv;
let worker: Managed | undefined;
let trigger: Managed | undefined;
let webhook = '';
const token = unique('production-webhook-token');
const taskQueue = unique('production');

/** CloudFormation in a member account, as the StackSet deploys the member role there. */
async function deployMemberRole(account: string): Promise<string> {
  const sts = setup.sts(REGION);
  const admin = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/OrganizationAccountAccessRole`, RoleSessionName: 'stackset' }));
  const c = admin.Credentials!;
  const cfn = new CloudFormationClient({ region: REGION, endpoint: inject('motoEndpoint'), credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! } });
  try {
    await cfn.send(
      new CreateStackCommand({
        StackName: 'rectify-member-role',
        TemplateBody: await readFile(join(REPO_ROOT, 'deploy', 'member-role.yaml'), 'utf8'),
        Capabilities: ['CAPABILITY_NAMED_IAM'],
        Parameters: [
          { ParameterKey: 'HubAccountId', ParameterValue: HUB },
          { ParameterKey: 'ExternalId', ParameterValue: EXTERNAL_ID },
        ],
      }),
    );
    const out = await cfn.send(new DescribeStacksCommand({ StackName: 'rectify-member-role' }));
    const stack = out.Stacks![0]!;
    expect(stack.StackStatus).toBe('CREATE_COMPLETE');
    return stack.Outputs?.find((o) => o.OutputValue?.includes(':role/'))?.OutputValue ?? '';
  } finally {
    cfn.destroy();
  }
}

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args], { env, cwd: REPO_ROOT, timeout: 60_000 });
  return stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rectify-production-'));
  front = await startTrustFront(inject('motoEndpoint'), HUB);
  setup = createAwsClients({ region: REGION, endpointUrl: inject('motoEndpoint'), emulatorCredentials: creds, memberRole: { arnTemplate: 'arn:aws:iam::{account}:role/test-setup' } });

  // Step 1: the member role in every member account, from the shipped template.
  const roles = await Promise.all(members.map(deployMemberRole));
  expect(roles).toEqual(members.map((a) => `arn:aws:iam::${a}:role/rectify-remediator`));

  // Step 3: the hub is configured by environment only, as the README lists it.
  const keyFile = join(dir, 'evidence-key.pem');
  await writeFile(keyFile, generateEvidenceKeyPem(), { mode: 0o600 });
  const port = await freePort();
  const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, AWS_SESSION_TOKEN: _session, AWS_PROFILE: _profile, ...inherited } = process.env;
  env = {
    ...inherited,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: taskQueue,
    AWS_ENDPOINT_URL: front.endpoint,
    MEMBER_ROLE_ARN: 'arn:aws:iam::{account}:role/rectify-remediator',
    MEMBER_ROLE_EXTERNAL_ID: EXTERNAL_ID,
    SCAN_ACCOUNTS: members.join(','),
    SCAN_REGIONS: REGION,
    WEBHOOK_TOKEN: token,
    EVIDENCE_SIGNING_KEY_FILE: keyFile,
    SECURITYHUB_WRITEBACK: 'off',
    PORT: String(port),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const node = (script: string) => ['--import', 'tsx', join(REPO_ROOT, script)];
  const workerLog = join(dir, 'worker.log');
  worker = startProcess('worker', process.execPath, node('src/worker/main.ts'), { env, logFile: workerLog, cwd: REPO_ROOT });
  trigger = startProcess('trigger server', process.execPath, node('src/triggers/main.ts'), { env, logFile: join(dir, 'trigger.log'), cwd: REPO_ROOT });
  webhook = `http://127.0.0.1:${port}`;
  await Promise.all([
    waitUntilReady(worker, async () => (await readFile(workerLog, 'utf8').catch(() => '')).includes('worker running'), 120_000),
    waitUntilReady(trigger, async () => (await fetch(`${webhook}/healthz`)).ok, 60_000),
  ]);
}, 240_000);

afterAll(async () => {
  await cli('schedule', 'delete').catch(() => undefined);
  await Promise.all([worker?.stop(), trigger?.stop()]);
  setup?.destroy();
  await front?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('production: one hub, two member accounts, by the README', () => {
  it('an event of member A through the webhook is fixed in A with the member role; the scan of both members from the CLI fixes B', async () => {
    const [a, b] = members;
    const { client, connection } = await temporalClient();
    try {
      // Step 4: EventBridge delivers a member's CloudTrail event to the hub's webhook.
      const bucket = await makeBucket(setup.forAccount(a));
      const event = JSON.parse(JSON.stringify(deleteBucketPublicAccessBlockEvent(bucket, REGION)).replaceAll(HUB, a)) as unknown;
      const res = await fetch(`${webhook}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': token }, body: JSON.stringify(event) });
      expect(res.status).toBe(202);
      const { findings } = (await res.json()) as { findings: { workflowId: string; runId: string }[] };
      expect(findings).toHaveLength(1);
      const record: RemediationRecord = await client.workflow.getHandle(findings[0]!.workflowId, findings[0]!.runId).result();
      expect(record).toMatchObject({ outcome: 'remediated', account: a, source: 'cloudtrail' });
      expect(record.signature).toBeDefined();
      const bpa = await setup.forAccount(a).s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
      expect(bpa.PublicAccessBlockConfiguration?.BlockPublicAcls).toBe(true);
      // Acted as the member role, named for the deployment; never with the hub's own credentials.
      const sessions = front.assumeRoleCalls.filter((c) => c.roleArn === `arn:aws:iam::${a}:role/rectify-remediator`);
      expect(sessions.length).toBeGreaterThanOrEqual(1);
      expect(sessions.every((s) => s.granted && s.sessionName === `rectify-${taskQueue}`)).toBe(true);
      expect(front.s3Requests.filter((r) => r.bucket === bucket).every((r) => r.expectedOwner === a)).toBe(true);

      // Step 5: the scan, from the CLI, over SCAN_ACCOUNTS.
      const group = await makeSecurityGroup(setup.forAccount(b), [{ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
      expect(await cli('schedule', 'apply')).toContain(`over accounts ${members.join(', ')}`);
      expect(await cli('scan', 'now')).toContain('scanOrganization');
      let scanId: { workflowId: string; runId: string } | undefined;
      for (let i = 0; i < 100 && !scanId; i++) {
        for await (const wf of client.workflow.list({ query: `WorkflowType = "scanOrganization" AND TaskQueue = "${taskQueue}"` })) scanId = { workflowId: wf.workflowId, runId: wf.runId };
        if (!scanId) await new Promise((r) => setTimeout(r, 200));
      }
      expect(scanId).toBeDefined();
      const scan: OrgScanResult = await client.workflow.getHandle(scanId!.workflowId, scanId!.runId).result();
      expect(scan.accounts).toEqual([...members]);
      expect(scan.scans.map((s) => [s.account, s.status])).toEqual(members.map((m) => [m, 'scanned']));
      // The same result from the CLI, per account and region.
      const shown = await cli('scan', 'show');
      expect(shown).toContain(`scan ${scanId!.workflowId}: 2 accounts x 1 regions`);
      for (const s of scan.scans) expect(shown).toContain(`  ${s.account} ${REGION}: scanned ${s.scanned}, found ${s.violations}, started ${s.started}, joined ${s.joined}, not read ${s.unreadable}`);
      expect(shown).toContain('failed 0');
      const fixed: RemediationRecord = await client.workflow
        .getHandle(workflowIdFor({ account: b, region: REGION, control: ControlId.SgAdminPortsOpen, resource: { type: ResourceType.SecurityGroup, id: group } }))
        .result();
      expect(fixed).toMatchObject({ outcome: 'remediated', account: b, source: 'scan' });
      const live = await setup.forAccount(b).ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [group] }));
      expect(live.SecurityGroups![0]!.IpPermissions ?? []).toEqual([]);
    } finally {
      await connection.close();
    }
  });
});
