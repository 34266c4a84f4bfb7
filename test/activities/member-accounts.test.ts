import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createAwsClients, roleSessionName, type AwsClients } from '../../src/activities/aws.js';
import { createRemediationActivities } from '../../src/activities/remediation.js';
import { createSecurityHubActivities, securityHubClients } from '../../src/activities/securityhub.js';
import { ErrorType } from '../../src/errors.js';
import { securityHubHolder, type Finding } from '../../src/findings/finding.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus, type RemediationInput, type RemediationRecord } from '../../src/workflows/messages.js';
import { RemediationStatus } from '../../src/workflows/search-attributes.js';
import { parsePolicy } from '../../src/policy/load.js';
import { ACCOUNT, DEFAULT_SETTINGS, makeBucket, REGION, s3Finding } from '../helpers/fixtures.js';
import { defaultPolicy, startTestWorker, type TestWorker } from '../helpers/stack.js';
import { startSecurityHubStandIn } from '../helpers/securityhub-standin.js';
import { createMemberRole, startTrustFront, type TrustFront } from '../helpers/sts-trust.js';

const HUB = ACCOUNT; // moto's default account: the hub's own credentials act here
const EXTERNAL_ID = 'rectify-ext-7f3a91c2';
const ROLE = 'arn:aws:iam::{account}:role/rectify-remediator';
/** Two member accounts of this run (moto is shared by every test file). */
const memberA = `4${String(Date.now()).slice(-11)}`;
const memberB = `5${String(Date.now()).slice(-11)}`;

let front: TrustFront;
/** Straight to moto, as any account (moto grants any AssumeRole): for setting resources up and checking them. */
let setup: AwsClients;

/** The hub's clients as the worker makes them: through the trust front, assuming the member role. */
function hubClients(o: { externalId?: string; onAssumeRole?: (arn: string) => void; securityHubEndpoint?: string } = {}): AwsClients {
  return createAwsClients(
    { region: REGION, endpointUrl: front.endpoint, emulatorCredentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' }, memberRole: { arnTemplate: ROLE, externalId: o.externalId ?? EXTERNAL_ID } },
    { roleSessionName: roleSessionName('member-test'), ...(o.onAssumeRole ? { onAssumeRole: o.onAssumeRole } : {}), ...(o.securityHubEndpoint ? { securityHubEndpoint: o.securityHubEndpoint } : {}) },
  );
}

/** Runs `fn` with hub clients of its own (no credentials shared with another test), destroyed after. */
async function withHub(o: Parameters<typeof hubClients>[0], fn: (hub: AwsClients) => Promise<void>): Promise<void> {
  const hub = hubClients(o);
  try {
    await fn(hub);
  } finally {
    hub.destroy();
  }
}

const finding = (account: string, bucket: string): Finding => s3Finding(bucket, { account });

async function bpaOf(aws: AwsClients, bucket: string): Promise<unknown> {
  return aws
    .s3(REGION)
    .send(new GetPublicAccessBlockCommand({ Bucket: bucket }))
    .then((o) => o.PublicAccessBlockConfiguration, (e: Error) => e.name);
}

beforeAll(async () => {
  const moto = inject('motoEndpoint');
  front = await startTrustFront(moto, HUB);
  setup = createAwsClients({ region: REGION, endpointUrl: moto, emulatorCredentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' }, memberRole: { arnTemplate: 'arn:aws:iam::{account}:role/test-setup' } });
  // The member role, as the StackSet deploys it: in A only, trusting the hub with the external id.
  await createMemberRole(setup, memberA, HUB, EXTERNAL_ID);
});

afterAll(async () => {
  setup?.destroy();
  await front?.close();
});

describe('member accounts (hub and spoke)', () => {
  it('forAccount acts in the member account with the assumed role, and the hub keeps its own identity', async () => {
    await withHub({}, async (hub) => {
      const me = await hub.sts(REGION).send(new GetCallerIdentityCommand({}));
      expect(me.Account).toBe(HUB);
      const inA = await hub.forAccount(memberA).sts(REGION).send(new GetCallerIdentityCommand({}));
      expect(inA.Account).toBe(memberA);
      expect(inA.Arn).toContain('rectify-remediator/rectify-member-test');
    });
  });

  it('a batch of findings of one account assumes the role once, and every S3 call names the expected bucket owner', async () => {
    const assumed: string[] = [];
    await withHub({ onAssumeRole: (arn) => assumed.push(arn) }, async (hub) => {
      const acts = createRemediationActivities({ aws: hub });
      const buckets = await Promise.all(Array.from({ length: 8 }, () => makeBucket(setup.forAccount(memberA))));
      const callsBefore = front.assumeRoleCalls.length;
      const triages = await Promise.all(buckets.map((b) => acts.triageFinding(finding(memberA, b), DEFAULT_SETTINGS)));
      expect(triages.every((t) => !t.compliant && t.plannedChange !== null)).toBe(true);
      expect(assumed).toEqual([`arn:aws:iam::${memberA}:role/rectify-remediator`]);
      expect(front.assumeRoleCalls.slice(callsBefore)).toEqual([{ roleArn: `arn:aws:iam::${memberA}:role/rectify-remediator`, sessionName: 'rectify-member-test', granted: true }]);
      const calls = front.s3Requests.filter((r) => buckets.includes(r.bucket));
      expect(calls.length).toBeGreaterThanOrEqual(buckets.length);
      expect(new Set(calls.map((c) => c.expectedOwner))).toEqual(new Set([memberA]));
    });
  });

  it('an account with no member role fails the finding clearly, never with the hub\'s credentials, and touches nothing', async () => {
    await withHub({}, async (hub) => {
      const acts = createRemediationActivities({ aws: hub });
      const bucket = await makeBucket(setup.forAccount(memberB));
      const err = await acts.triageFinding(finding(memberB, bucket), DEFAULT_SETTINGS).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      const f = err as ApplicationFailure;
      expect(f.type).toBe(ErrorType.MemberRoleUnavailable);
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toContain(`cannot act in account ${memberB}`);
      expect(f.message).toContain(`arn:aws:iam::${memberB}:role/rectify-remediator`);
      expect(f.message).not.toContain(EXTERNAL_ID);
      expect(front.s3Requests.filter((r) => r.bucket === bucket)).toEqual([]);
      expect(await bpaOf(setup.forAccount(memberB), bucket)).toBe('NoSuchPublicAccessBlockConfiguration');
    });
  });

  it('a wrong external id is refused like a missing role', async () => {
    await withHub({ externalId: 'not-the-agreed-id' }, async (hub) => {
      const bucket = await makeBucket(setup.forAccount(memberA));
      const f = (await createRemediationActivities({ aws: hub }).triageFinding(finding(memberA, bucket), DEFAULT_SETTINGS).catch((e: unknown) => e)) as ApplicationFailure;
      expect(f.type).toBe(ErrorType.MemberRoleUnavailable);
      expect(f.message).not.toContain('not-the-agreed-id');
      expect(front.assumeRoleCalls.at(-1)).toMatchObject({ roleArn: `arn:aws:iam::${memberA}:role/rectify-remediator`, granted: false });
    });
  });

  it('a session that ends early is renewed: the call fails retryable once, the retry assumes the role again', async () => {
    const assumed: string[] = [];
    await withHub({ onAssumeRole: (arn) => assumed.push(arn) }, async (hub) => {
      const acts = createRemediationActivities({ aws: hub });
      const bucket = await makeBucket(setup.forAccount(memberA));
      await acts.triageFinding(finding(memberA, bucket), DEFAULT_SETTINGS);
      expect(assumed).toHaveLength(1);
      front.expireSessions();
      const f = (await acts.triageFinding(finding(memberA, bucket), DEFAULT_SETTINGS).catch((e: unknown) => e)) as ApplicationFailure;
      expect(f).toBeInstanceOf(ApplicationFailure);
      expect(f.type).toBe(ErrorType.CredentialsExpired);
      expect(f.nonRetryable).toBe(false);
      // What the activity's retry does: the next attempt works, with a fresh session.
      const again = await acts.triageFinding(finding(memberA, bucket), DEFAULT_SETTINGS);
      expect(again.compliant).toBe(false);
      expect(assumed).toHaveLength(2);
    });
  });

  it('Security Hub write-back goes to the Security Hub holding the finding: a member\'s own with its role, an aggregated one with the hub\'s credentials', async () => {
    const securityHub = await startSecurityHubStandIn();
    const assumed: string[] = [];
    try {
      await withHub({ onAssumeRole: (arn) => assumed.push(arn), securityHubEndpoint: securityHub.url }, async (hub) => {
        const acts = createSecurityHubActivities(securityHubClients(hub));
        const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
        const write = (...args: Parameters<typeof acts.updateSecurityHubFinding>) => env.run(acts.updateSecurityHubFinding, ...args);
        const productArn = `arn:aws:securityhub:${REGION}::product/aws/securityhub`;
        const own = `arn:aws:securityhub:${REGION}:${memberA}:security-control/S3.8/finding/held-by-member`;
        const aggregated = `arn:aws:securityhub:${REGION}:${memberA}:security-control/S3.8/finding/aggregated`;
        securityHub.addFinding(own, productArn);
        securityHub.addFinding(aggregated, productArn);
        const update = { status: 'RESOLVED', note: 'rectify: remediated', updatedBy: 'rectify' } as const;

        // The event came from A's own bus (event account = finding account): A's Security Hub, A's role.
        const heldByA = securityHubHolder({ account: memberA, origin: { securityHubAccount: memberA } });
        expect(heldByA).toBe(memberA);
        expect(await write({ findingId: own, productArn, region: REGION, account: memberA }, update)).toEqual({ updated: true });
        expect(assumed).toEqual([`arn:aws:iam::${memberA}:role/rectify-remediator`]);
        const [inA] = securityHub.requests.slice(-1);
        expect(inA!.accessKeyId).toBeDefined();
        expect(inA!.accessKeyId).not.toBe('emulator');

        // The hub aggregates it as Security Hub administrator (event account = hub): the hub's own credentials.
        expect(securityHubHolder({ account: memberA, origin: { securityHubAccount: HUB } })).toBeUndefined();
        expect(await write({ findingId: aggregated, productArn, region: REGION }, update)).toEqual({ updated: true });
        expect(securityHub.requests.at(-1)!.accessKeyId).toBe('emulator');
        expect(assumed).toHaveLength(1);
        expect(securityHub.finding(own, productArn)?.Workflow.Status).toBe('RESOLVED');
        expect(securityHub.finding(aggregated, productArn)?.Workflow.Status).toBe('RESOLVED');

        // B has no member role: its own Security Hub is not written with the hub's credentials instead.
        const inB = `arn:aws:securityhub:${REGION}:${memberB}:security-control/S3.8/finding/held-by-b`;
        securityHub.addFinding(inB, productArn);
        const sent = securityHub.requests.length;
        const f = (await write({ findingId: inB, productArn, region: REGION, account: memberB }, update).catch((e: unknown) => e)) as ApplicationFailure;
        expect(f.type).toBe(ErrorType.MemberRoleUnavailable);
        expect(securityHub.requests.length).toBe(sent);
      });
    } finally {
      await securityHub.close();
    }
  });

  describe('through the workflow', () => {
    let worker: TestWorker;
    let hub: AwsClients;
    beforeAll(async () => {
      hub = hubClients();
      worker = await startTestWorker({ aws: hub });
    });
    afterAll(async () => {
      await worker?.stop();
      hub?.destroy();
    });

    it('a finding of member A is fixed in A; the same finding of the hub and of B change nothing there', async () => {
      const inA = await makeBucket(setup.forAccount(memberA));
      const inHub = await makeBucket(setup);
      const inB = await makeBucket(setup.forAccount(memberB));
      const submitter = createSubmitter(worker.client, { taskQueue: worker.taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy });
      const started = await submitter.submit(finding(memberA, inA));
      const record: RemediationRecord = await worker.client.workflow.getHandle(started.workflowId, started.runId).result();
      expect(record.outcome).toBe('remediated');
      expect(record.account).toBe(memberA);
      expect(await bpaOf(setup.forAccount(memberA), inA)).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
      expect(await bpaOf(setup, inHub)).toBe('NoSuchPublicAccessBlockConfiguration');
      // Each call names the remediation in its User-Agent (CloudTrail's userAgent), the fix included.
      const calls = front.s3Requests.filter((r) => r.bucket === inA);
      expect(calls.some((r) => r.method === 'PUT')).toBe(true);
      expect(calls.every((r) => r.userAgent.includes(`rectify-run/${started.workflowId}`))).toBe(true);

      // B has no member role: the run fails naming the account and the role, and B's bucket is as it was.
      const denied = await submitter.submit(finding(memberB, inB));
      const err = await worker.client.workflow.getHandle(denied.workflowId, denied.runId).result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const reason = (err as WorkflowFailedError).cause?.message ?? '';
      expect(reason).toContain(`cannot act in account ${memberB}`);
      expect(await bpaOf(setup.forAccount(memberB), inB)).toBe('NoSuchPublicAccessBlockConfiguration');
      expect(started.workflowId).toContain(memberA);
    });

    it('an account group of the policy decides for its accounts: production asks, the rest fix', async () => {
      const policy = parsePolicy(
        `version: 1
defaults: { mode: auto, undo: { window: 0 } }
accounts:
  - name: production
    ids: ["${memberA}"]
    mode: approve
`,
        'groups',
      );
      const submitter = createSubmitter(worker.client, { taskQueue: worker.taskQueue, verifyDeadlineMs: 20_000, policy });
      const prodBucket = await makeBucket(setup.forAccount(memberA));
      const asked = await submitter.submit(finding(memberA, prodBucket));
      const handle = worker.client.workflow.getHandle(asked.workflowId, asked.runId);
      let status = '';
      for (let i = 0; i < 100 && status !== RemediationStatus.AwaitingApproval; i++) {
        status = (await handle.query(getStatus)).status;
        if (status !== RemediationStatus.AwaitingApproval) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(RemediationStatus.AwaitingApproval);
      // The workflow's input carries the group's policy (the history shows which policy decided).
      const history = await handle.fetchHistory();
      const [input] = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!.map((p) => JSON.parse(Buffer.from(p.data!).toString()) as RemediationInput);
      expect(input!.policy).toMatchObject({ accountGroup: 'production', control: { mode: 'approve' } });
      expect(await bpaOf(setup.forAccount(memberA), prodBucket)).toBe('NoSuchPublicAccessBlockConfiguration');
      await handle.terminate('test over');

      const other = `6${String(Date.now()).slice(-11)}`;
      await createMemberRole(setup, other, HUB);
      const sandboxBucket = await makeBucket(setup.forAccount(other));
      const fixed = await submitter.submit(finding(other, sandboxBucket));
      const record: RemediationRecord = await worker.client.workflow.getHandle(fixed.workflowId, fixed.runId).result();
      expect(record.outcome).toBe('remediated');
      expect(record.accountGroup).toBeUndefined();
      expect(record.mode).toBe('auto');
    });
  });
});
