import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WebClient } from '@slack/web-api';
import { AuthorizeSecurityGroupIngressCommand, CreateTagsCommand, DescribeSecurityGroupsCommand, RevokeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { requestUndo, sendDecision } from '../../src/triggers/decisions.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { bundleWorkflows, createWorker } from '../../src/worker/create-worker.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import type { UndoRecord } from '../../src/workflows/undo-window.js';
import { RemediationStatus, SearchAttr } from '../../src/workflows/search-attributes.js';
import type { Finding } from '../../src/findings/finding.js';
import { keyEntryYaml, otherOperatorKey, signedDecision, testOperatorKey, testRelayKey, testRelayTrusted, trusted, withTestDecisionKeys } from '../helpers/decisions.js';
import { verifySignedDecision, type DecisionClaims } from '../../src/decisions/signed.js';
import { loadDecisionKey } from '../../src/decisions/sign.js';
import { generateEvidenceKeyPem } from '../../src/evidence/signing.js';
import { makeBucket, makeSecurityGroup, REGION, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
import { startSlackStandIn, type SlackStandIn } from '../helpers/slack-standin.js';
import { awsConfig, temporalClient, unique, workerConnection } from '../helpers/stack.js';
import { activitiesIn } from '../helpers/history.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const TOKEN = 'xoxb-test-token';
const APPROVER = 'UAPPROVER1';
const ONCALL = 'UONCALL02';

let bundle: WorkflowBundleWithSourceMap;
let client: Client;
let connection: Connection;
let native: NativeConnection;
let aws: AwsClients;
let slackApi: SlackStandIn;
let slack: WebClient;

beforeAll(async () => {
  bundle = await bundleWorkflows();
  ({ client, connection } = await temporalClient());
  native = await workerConnection();
  aws = createAwsClients(awsConfig());
  slackApi = await startSlackStandIn({ token: TOKEN, usergroups: { SONCALL01: [ONCALL] } });
  slack = new WebClient(TOKEN, { slackApiUrl: slackApi.apiUrl, retryConfig: { retries: 0 } });
});

afterAll(async () => {
  await native?.close();
  await connection?.close();
  await slackApi?.close();
  aws?.destroy();
});

/** A policy with an approval ladder of seconds instead of hours. */
function policy(extra: { escalation?: string; s3?: string; sg?: string; defaults?: string; undo?: string } = {}): Policy {
  const yaml = `
version: 1
defaults:
  mode: auto
  approvers: { users: [${APPROVER}], groups: [] }
  channel: CAPPROVALS
  undo: { window: ${extra.undo ?? '0'} }
  escalation:
${extra.escalation ?? `    remindAfter: 0
    escalateAfter: 0
    timeoutAfter: 1h
    timeoutAction: reject`}
${extra.defaults ?? ''}
controls:
  s3-block-public-access:
${extra.s3 ?? '    mode: auto'}
  ec2-sg-admin-ports-open:
${extra.sg ?? '    requireApprovalWhenTagged: { environment: [production] }'}
`;
  // Decisions are signed: the test relay (Slack) and the operator's key (CLI, named OPERATOR) are listed.
  return parsePolicy(withTestDecisionKeys(yaml, { operatorName: OPERATOR }), 'test-policy');
}

/** The operator whose key signs CLI decisions in these tests (the key names the operator). */
const OPERATOR = 'carol';
/** How the CLI (the operator's key) and the trigger server (the relay key) sign an undo. */
const operatorSigns = (claims: DecisionClaims) => testOperatorKey.sign(claims);
const relaySigns = (claims: DecisionClaims) => testRelayKey.sign(claims);

/**
 * A decision as the trigger server (via slack: signed by its relay key for the clicking user) or
 * the CLI (via cli: signed by the operator's key) sends it, for the plan the workflow shows now.
 */
async function decide(target: { workflowId: string; runId?: string }, req: { decision: 'approve' | 'reject'; by: { id: string; name: string; via: 'slack' | 'cli' }; reason?: string; planDigest?: string }, updateId?: string) {
  const shown = req.planDigest ?? (await client.workflow.getHandle(target.workflowId, target.runId).query(getStatus).catch(() => undefined))?.planDigest;
  const signed = signedDecision({
    workflowId: target.workflowId,
    decision: req.decision,
    via: req.by.via,
    ...(req.by.via === 'slack' ? { by: { id: req.by.id, name: req.by.name } } : { by: { id: OPERATOR, name: OPERATOR } }),
    ...(shown ? { planDigest: shown } : {}),
    ...(req.reason ? { reason: req.reason } : {}),
  });
  return sendDecision(client, target, signed, updateId);
}

const LADDER = `    remindAfter: 1s
    escalateAfter: 2s
    escalateTo: { channel: CONCALL01, groups: [SONCALL01] }
    timeoutAfter: 3s`;

/** Runs `fn` with a worker on a fresh task queue (so each test has its own guardrail ledger). */
async function withWorker<T>(fn: (submit: (f: Finding) => Promise<WorkflowHandle>, queue: string) => Promise<T>, p: Policy): Promise<T> {
  const taskQueue = unique('approvals');
  const worker = await createWorker({ connection: native, client, policy: p, namespace: 'default', taskQueue, aws, slack, workflowBundle: bundle });
  const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: p });
  const submit = async (f: Finding) => {
    const r = await submitter.submit(f);
    return client.workflow.getHandle(r.workflowId, r.runId);
  };
  return worker.runUntil(fn(submit, taskQueue));
}

async function waitForStatus(handle: WorkflowHandle, want: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await handle.query(getStatus).catch(() => undefined);
    if (s?.status === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${handle.workflowId} did not reach ${want}`);
}

const slackCalls = (method: string, pred: (a: Record<string, unknown>) => boolean = () => true) => slackApi.calls.filter((c) => c.method === method && !c.error && pred(c.args));
const worldOpen = async (groupId: string) => {
  const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return (live.SecurityGroups![0]!.IpPermissions ?? []).some((p) => p.IpRanges?.some((r) => r.CidrIp === '0.0.0.0/0'));
};

describe('approval path', () => {
  it('a production-tagged group waits for an approver, who approves in Slack; the message is updated and the thread gets the result', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production', owner: 'platform-team' });
    const p = policy({ escalation: '    escalateTo: { groups: [SONCALL01] }\n    remindAfter: 0\n    escalateAfter: 0\n    timeoutAfter: 1h\n    timeoutAction: reject' });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      // The request goes out right after the status says AwaitingApproval: wait for it.
      for (let i = 0; i < 100 && slackCalls('chat.postMessage', (a) => JSON.stringify(a['blocks'] ?? '').includes(groupId)).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const status = await handle.query(getStatus);
      expect(status.approvalReasons).toEqual(['resource is tagged environment=production']);
      expect(status.approvers).toEqual([APPROVER, ONCALL].sort()); // the on-call group expanded
      expect((await handle.describe()).typedSearchAttributes.get(SearchAttr.Status)).toBe(RemediationStatus.AwaitingApproval);
      expect(await worldOpen(groupId)).toBe(true); // nothing changed while waiting

      const posted = slackCalls('chat.postMessage', (a) => a['channel'] === 'CAPPROVALS' && JSON.stringify(a['blocks']).includes(groupId));
      expect(posted).toHaveLength(1);
      const blocks = JSON.stringify(posted[0]!.args['blocks']);
      expect(blocks).toContain('rectify_approve');
      expect(blocks).toContain(`Revoke 0.0.0.0/0 tcp/22 on ${groupId}`);
      expect(blocks).toContain('platform-team');

      const outsider = await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: { id: 'UINTRUDER9', name: 'mallory', via: 'slack' } });
      expect(outsider).toEqual({ ok: false, message: 'Not accepted: mallory is not an approver for ec2-sg-admin-ports-open' });
      expect(await worldOpen(groupId)).toBe(true);

      const ok = await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: { id: APPROVER, name: 'alice', via: 'slack' } }, 'click-1');
      expect(ok.ok).toBe(true);
      const again = await decide({ workflowId: handle.workflowId }, { decision: 'reject', by: { id: ONCALL, name: 'bob', via: 'slack' } }, 'click-2');
      expect(again.ok).toBe(false);
      if (!again.ok) expect(again.message).toMatch(/already approved by alice|already finished/);
      return handle.result();
    }, p);

    expect(record.outcome).toBe('remediated');
    expect(record.approval?.decision).toBe('approve');
    expect(record.approval?.by).toEqual({ id: APPROVER, name: 'alice', via: 'slack', keyId: testRelayKey.keyId });
    // The decision as the trigger server signed it: anyone can check it with the policy's relay key.
    expect(verifySignedDecision(record.approval?.signed, [testRelayTrusted])).toMatchObject({ ok: true });
    expect(record.approval?.signed?.claims).toMatchObject({ kind: 'decision', workflowId: record.workflowId, decision: 'approve', by: { id: APPROVER, via: 'slack' } });
    expect(record.approval?.reasons).toEqual(['resource is tagged environment=production']);
    expect(Date.parse(record.timestamps.approved!)).toBeLessThanOrEqual(Date.parse(record.timestamps.fixed!));
    expect(record.policyHash).toBe(p.hash);
    expect(await worldOpen(groupId)).toBe(false);

    const handle = client.workflow.getHandle(record.workflowId, record.runId);
    const sa = (await handle.describe()).typedSearchAttributes;
    expect(sa.get(SearchAttr.DecidedBy)).toBe(`slack:${APPROVER}`);
    expect(sa.get(SearchAttr.PolicyHash)).toBe(p.hash);

    const msg = slackApi.messages('CAPPROVALS').find((m) => JSON.stringify(m.blocks ?? '').includes(groupId) && !m.thread_ts)!;
    expect(JSON.stringify(msg.blocks)).not.toContain('rectify_approve'); // buttons gone
    expect(JSON.stringify(msg.blocks)).toContain('Approved');
    const thread = slackApi.messages('CAPPROVALS').filter((m) => m.thread_ts === msg.ts);
    expect(thread.map((m) => m.text).join('\n')).toMatch(/Fixed and verified/);

    // (The run is over and no worker runs: the plan is named, not queried.)
    const late = await decide({ workflowId: record.workflowId, runId: record.runId }, { decision: 'approve', by: { id: APPROVER, name: 'alice', via: 'slack' }, planDigest: record.approvedPlan!.digest! });
    expect(late).toEqual({ ok: false, message: 'Not accepted: this remediation has already finished; nothing was changed' });
  });

  it('an operator rejects from the CLI: nothing changes and the reason is recorded', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      const r = await decide({ workflowId: handle.workflowId }, { decision: 'reject', by: { id: 'carol', name: 'carol', via: 'cli' }, reason: 'bastion migration in progress' });
      expect(r.ok).toBe(true);
      return handle.result();
    }, policy());
    expect(record.outcome).toBe('rejected');
    expect(record.reason).toBe('rejected by carol: bastion migration in progress');
    expect(record.approval?.by).toEqual({ id: 'carol', name: 'carol', via: 'cli', keyId: testOperatorKey.keyId });
    expect(verifySignedDecision(record.approval?.signed, [trusted(testOperatorKey, 'carol')])).toMatchObject({ ok: true });
    expect(await worldOpen(groupId)).toBe(true);
  });
});

describe('a decision is provably from an approver', () => {
  it('forged, unsigned, unlisted, other-control, replayed and other-plan decisions are all refused, and none changes anything', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    // The other operator's key is listed, but only for the S3 control.
    const p = policy({ s3: `    mode: auto\n    approvers: { users: [${APPROVER}], groups: [], keys: [${keyEntryYaml(otherOperatorKey, 'sam')}] }` });
    await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      const { planDigest } = await handle.query(getStatus);
      const target = { workflowId: handle.workflowId };
      const alice = { id: APPROVER, name: 'alice' };
      const refused = async (req: Parameters<typeof sendDecision>[2], why: RegExp) => {
        const out = await sendDecision(client, target, req, unique('attempt'));
        expect(out.ok, JSON.stringify(req.by)).toBe(false);
        if (!out.ok) expect(out.message).toMatch(why);
      };
      // A Slack decision not signed by the trigger server (a Temporal client with namespace access).
      await refused({ decision: 'approve', by: { ...alice, via: 'slack' }, planDigest: planDigest! }, /signed/);
      await refused(signedDecision({ workflowId: handle.workflowId, planDigest: planDigest!, via: 'slack', by: alice, key: testOperatorKey }), /relay|not listed|not trusted|key/);
      // A CLI decision without a key, with a key nobody listed, with a key listed for another control.
      await refused({ decision: 'approve', by: { id: 'mallory', name: 'mallory', via: 'cli' }, planDigest: planDigest! }, /signed/);
      await refused(signedDecision({ workflowId: handle.workflowId, planDigest: planDigest!, key: loadDecisionKey(generateEvidenceKeyPem()), by: { id: 'mallory', name: 'mallory' } }), /key/);
      await refused(signedDecision({ workflowId: handle.workflowId, planDigest: planDigest!, key: otherOperatorKey, by: { id: 'sam', name: 'sam' } }), /key/);
      // A genuine decision for another workflow, replayed here; one for another plan.
      await refused(signedDecision({ workflowId: `${handle.workflowId}-other`, planDigest: planDigest!, by: { id: OPERATOR, name: OPERATOR } }), /workflow/);
      await refused(signedDecision({ workflowId: handle.workflowId, planDigest: 'f'.repeat(64), by: { id: OPERATOR, name: OPERATOR } }), /plan/);
      expect((await handle.query(getStatus)).status).toBe(RemediationStatus.AwaitingApproval);
      expect(await worldOpen(groupId)).toBe(true);
      // Validators refuse before anything is written: the history holds no decision at all.
      const history = await handle.fetchHistory();
      expect(history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(0);
      await handle.terminate('test over');
    }, p);
  });
});

describe('the change applied is the change approved', () => {
  const alice = { id: APPROVER, name: 'alice', via: 'slack' } as const;
  const openPorts = async (groupId: string) => {
    const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    return (live.SecurityGroups![0]!.IpPermissions ?? []).filter((p) => p.IpRanges?.some((r) => r.CidrIp === '0.0.0.0/0')).map((p) => p.FromPort).sort();
  };
  const open3389 = (groupId: string) =>
    aws.ec2(REGION).send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  async function untilAskedAgain(handle: WorkflowHandle): Promise<void> {
    for (let i = 0; i < 150; i++) {
      const st = await handle.query(getStatus);
      if (st.status === RemediationStatus.AwaitingApproval && st.approvalReasons.some((r) => r.startsWith('the change needed now differs'))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('not asked again');
  }

  it('a rule opened during the wait is not revoked on the strength of the first approval: the new change is asked for, and applied once approved', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      const first = await handle.query(getStatus);
      expect(first.planDigest).toMatch(/^[0-9a-f]{64}$/);
      await open3389(groupId);
      expect((await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: alice, planDigest: first.planDigest! }, unique('click'))).ok).toBe(true);
      await untilAskedAgain(handle);
      expect(await openPorts(groupId)).toEqual([22, 3389]); // nothing applied on the first approval
      const second = await handle.query(getStatus);
      expect(second.plannedChange).toContain('3389');
      expect(second.planDigest).not.toBe(first.planDigest);
      // A decision bound to the old plan is refused; one for the plan shown now is taken.
      const stale = await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: alice, planDigest: first.planDigest! }, unique('click'));
      expect(stale.ok).toBe(false);
      if (!stale.ok) expect(stale.message).toContain('this decision is for another plan');
      expect((await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: alice, planDigest: second.planDigest! }, unique('click'))).ok).toBe(true);
      return handle.result();
    }, policy());
    expect(record.outcome).toBe('remediated');
    expect(await openPorts(groupId)).toEqual([]);
    expect(record.approvedPlan?.summary).toContain('3389');
    expect(record.change?.summary).toBe(record.approvedPlan?.summary);
    expect(record.notes?.some((n) => n.includes('was approved by alice') && n.includes('asked again: the change needed now differs'))).toBe(true);
    // The Slack request was posted again, for the new plan.
    const requests = slackCalls('chat.postMessage', (a) => a['channel'] === 'CAPPROVALS' && JSON.stringify(a['blocks'] ?? '').includes(groupId));
    expect(requests).toHaveLength(2);
    expect(JSON.stringify(requests[1]!.args['blocks'])).toContain('3389');
  });

  it('an exemption tag added during the wait is honoured after the approval: nothing is changed', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      await aws.ec2(REGION).send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: 'rectify:exempt-until', Value: '2999-12-31' }] }));
      expect((await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: alice }, unique('click'))).ok).toBe(true);
      return handle.result();
    }, policy());
    expect(record.outcome).toBe('exempt');
    expect(record.reason).toContain('(read after the decision)');
    expect(record.change?.applied).toBe(false);
    expect(await openPorts(groupId)).toEqual([22]);
  });

  it('a timeout whose action is apply covers only what was asked: a group tagged production during the wait is asked about again', async () => {
    const groupId = await makeSecurityGroup(aws, [world22]);
    const p = policy({
      escalation: `    remindAfter: 0\n    escalateAfter: 0\n    timeoutAfter: 2s\n    timeoutAction: apply`,
      sg: '    requireApprovalWhenTagged: { environment: [production] }\n    guardrails: { maxAutoFixesPerHour: 0 }',
    });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      expect((await handle.query(getStatus)).approvalReason).toBe('budget');
      await aws.ec2(REGION).send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: 'environment', Value: 'production' }] }));
      // The budget's timeout passes; the production tag is a new reason: asked again, not applied.
      for (let i = 0; i < 100 && (await handle.query(getStatus)).approvalReason !== 'tagged'; i++) await new Promise((r) => setTimeout(r, 100));
      const st = await handle.query(getStatus);
      expect(st.approvalReason).toBe('tagged');
      expect(st.approvalReasons).toEqual(['resource is tagged environment=production']);
      expect(await openPorts(groupId)).toEqual([22]);
      return handle.result(); // that request times out too, and its timeout applies
    }, p);
    expect(record.outcome).toBe('remediated');
    expect(record.notes?.some((n) => n.includes('asked again: resource is tagged environment=production'))).toBe(true);
    expect(await openPorts(groupId)).toEqual([]);
  });

  it('wideRules approve: a world-open port range waits for a person even in auto mode, and the approved split keeps the other ports open', async () => {
    const wide = { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'public service' }] };
    const groupId = await makeSecurityGroup(aws, [wide]);
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      const st = await handle.query(getStatus);
      expect(st.approvalReason).toBe('policy');
      expect(st.approvalReasons).toEqual(['a world-open rule (0.0.0.0/0 tcp/0-65535) also serves more than ports 22, 3389: the fix revokes it and re-opens the rest, and wideRules is approve']);
      expect(await openPorts(groupId)).toEqual([0]);
      expect((await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: alice, planDigest: st.planDigest! }, unique('click'))).ok).toBe(true);
      return handle.result();
    }, policy({ sg: '    settings: { wideRules: approve }' }));
    expect(record.outcome).toBe('remediated');
    expect(await openPorts(groupId)).toEqual([0, 23, 3390]);
  });

  it('a resource fixed by someone during the wait closes as already compliant after the approval', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.AwaitingApproval);
      await aws.ec2(REGION).send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [world22] }));
      expect((await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: alice }, unique('click'))).ok).toBe(true);
      return handle.result();
    }, policy());
    expect(record.outcome).toBe('already-compliant');
    expect(record.change?.applied).toBe(false);
    expect(record.change?.note).toBe('compliant when read again after the decision: nothing applied');
  });
});

describe('escalation ladder', () => {
  it('reminds, escalates to the on-call channel, then applies the timeout action reject', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const p = policy({ escalation: `${LADDER}\n    timeoutAction: reject` });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.Escalated, 10_000);
      return handle.result();
    }, p);
    expect(record.outcome).toBe('rejected');
    expect(record.reason).toContain('no decision within 3s');
    expect(record.approval?.reminded).toBeDefined();
    expect(record.approval?.escalated).toBeDefined();
    expect(record.approval?.by?.via).toBe('timeout');
    expect(await worldOpen(groupId)).toBe(true);

    const request = slackApi.messages('CAPPROVALS').find((m) => JSON.stringify(m.blocks ?? '').includes(groupId) && !m.thread_ts)!;
    const thread = slackApi.messages('CAPPROVALS').filter((m) => m.thread_ts === request.ts).map((m) => m.text);
    expect(thread.some((t) => t.includes('still waiting for a decision after 1s'))).toBe(true);
    const escalation = slackApi.messages('CONCALL01').filter((m) => m.text.includes(groupId));
    expect(escalation).toHaveLength(1);
    expect(escalation[0]!.text).toContain('<!subteam^SONCALL01>');
    expect(JSON.stringify(request.blocks)).not.toContain('rectify_approve');

    const history = await client.workflow.getHandle(record.workflowId, record.runId).fetchHistory();
    const timers = history.events!.filter((e) => e.timerStartedEventAttributes).length;
    expect(timers).toBe(3);
  });

  it('applies the fix when the timeout action is apply, recorded as decided by the timeout', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const p = policy({ escalation: `    remindAfter: 0\n    escalateAfter: 0\n    timeoutAfter: 2s\n    timeoutAction: apply` });
    const record: RemediationRecord = await withWorker(async (submit) => (await submit(sgFinding(groupId))).result(), p);
    expect(record.outcome).toBe('remediated');
    expect(record.approval?.by?.via).toBe('timeout');
    expect(record.approval?.decision).toBe('approve');
    expect(await worldOpen(groupId)).toBe(false);
    const sa = (await client.workflow.getHandle(record.workflowId, record.runId).describe()).typedSearchAttributes;
    expect(sa.get(SearchAttr.DecidedBy)).toBe('timeout');
  });

  it('keeps waiting across a worker restart, and the decision given to the new worker fixes once', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const taskQueue = unique('restart');
    const p = policy();
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: p });
    const first = await createWorker({ connection: native, client, policy: p, namespace: 'default', taskQueue, aws, slack, workflowBundle: bundle });
    const r = await submitter.submit(sgFinding(groupId));
    const handle = client.workflow.getHandle(r.workflowId, r.runId);
    await first.runUntil(waitForStatus(handle, RemediationStatus.AwaitingApproval));
    // The first worker is gone (shut down); the workflow's state lives in Temporal, not in it.
    const second = await createWorker({ connection: native, client, policy: p, namespace: 'default', taskQueue, aws, slack, workflowBundle: bundle });
    const record: RemediationRecord = await second.runUntil(async () => {
      const ok = await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: { id: 'carol', name: 'carol', via: 'cli' } });
      expect(ok).toMatchObject({ ok: true });
      return handle.result();
    });
    expect(record.outcome).toBe('remediated');
    const history = await handle.fetchHistory();
    expect(activitiesIn(history).filter((a) => a === 'applyFix')).toHaveLength(1);
    expect(activitiesIn(history).filter((a) => a === 'postApprovalRequest')).toHaveLength(1);
  });
});

describe('guardrails', () => {
  it('a resource fixed again and again is flapping: the next finding waits for a person, with the reason', async () => {
    const groupId = await makeSecurityGroup(aws, [world22]);
    const p = policy({ defaults: '  guardrails: { maxAutoFixesPerHour: 100, flap: { maxFixes: 2, window: 10m } }' });
    await withWorker(async (submit) => {
      for (let i = 0; i < 2; i++) {
        const rec: RemediationRecord = await (await submit(sgFinding(groupId))).result();
        expect(rec.outcome).toBe('remediated');
        // Something (a Terraform run, a person) opens it again.
        await makeSecurityGroupRuleAgain(groupId);
      }
      const third = await submit(sgFinding(groupId));
      await waitForStatus(third, RemediationStatus.AwaitingApproval);
      const s = await third.query(getStatus);
      expect(s.approvalReasons[0]).toMatch(new RegExp(`${groupId} was remediated 2 times in the last 10m`));
      expect(await worldOpen(groupId)).toBe(true);
      await third.terminate('test over');
    }, p);
  });

  it('past the hourly budget of automatic fixes, findings wait for approval instead', async () => {
    const p = policy({ defaults: '  guardrails: { maxAutoFixesPerHour: 1, flap: { maxFixes: 3, window: 10m } }' });
    const [a, b] = [await makeBucket(aws), await makeBucket(aws)];
    await withWorker(async (submit) => {
      const first: RemediationRecord = await (await submit(s3Finding(a))).result();
      expect(first.outcome).toBe('remediated');
      expect(first.guardrail).toEqual({ allowed: true });
      const second = await submit(s3Finding(b));
      await waitForStatus(second, RemediationStatus.AwaitingApproval);
      expect((await second.query(getStatus)).approvalReasons[0]).toMatch(/in the last hour \(limit 1\)/);
      const bpa = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: b })).catch((e: Error) => e);
      expect(bpa).toBeInstanceOf(Error); // untouched
      await second.terminate('test over');
    }, p);
  });
});

describe('nothing waits silently', () => {
  it('when the automatic fixes of the hour cannot be counted, a person decides, asked directly since no digest could be joined', async () => {
    const groupId = await makeSecurityGroup(aws, [world22]);
    const p = policy();
    const taskQueue = unique('uncounted');
    // A ledger client on a namespace that does not exist: every count (and the digest) fails.
    const broken = new Client({ connection, namespace: unique('no-such-namespace') });
    const worker = await createWorker({ connection: native, client: broken, policy: p, namespace: 'default', taskQueue, aws, slack, workflowBundle: bundle });
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: p });
    const record: RemediationRecord = await worker.runUntil(async () => {
      const r = await submitter.submit(sgFinding(groupId));
      const handle = client.workflow.getHandle(r.workflowId, r.runId);
      await waitForStatus(handle, RemediationStatus.AwaitingApproval, 30_000);
      const st = await handle.query(getStatus);
      expect(st.approvalReason).toBe('budget');
      expect(st.approvalReasons[0]).toMatch(/^the automatic fixes of ec2-sg-admin-ports-open in the last hour could not be counted \(.+\): a person decides$/);
      expect(await worldOpen(groupId)).toBe(true);
      for (let i = 0; i < 100 && slackCalls('chat.postMessage', (a) => JSON.stringify(a['blocks'] ?? '').includes(groupId)).length === 0; i++) await new Promise((ok) => setTimeout(ok, 100));
      expect(slackCalls('chat.postMessage', (a) => a['channel'] === 'CAPPROVALS' && JSON.stringify(a['blocks'] ?? '').includes(groupId))).toHaveLength(1);
      expect((await decide({ workflowId: handle.workflowId }, { decision: 'approve', by: { id: APPROVER, name: 'alice', via: 'slack' } }, unique('click'))).ok).toBe(true);
      return handle.result();
    });
    expect(record.outcome).toBe('remediated');
    expect(record.notes?.some((n) => n.startsWith('joining the digest of held fixes: '))).toBe(true);
    expect(await worldOpen(groupId)).toBe(false);
  });
});

describe('guardrails without a shared ledger', () => {
  it('the hourly budget holds across two workers: every worker counts the fixes the other made (from visibility)', async () => {
    const p = policy({ defaults: '  guardrails: { maxAutoFixesPerHour: 2, flap: { maxFixes: 3, window: 10m } }' });
    const taskQueue = unique('budget2');
    // Two workers as two deployments would run them: each with a connection of its own.
    const connections = await Promise.all([0, 1].map(() => workerConnection()));
    const workers = await Promise.all(connections.map((connection) => createWorker({ connection, client, policy: p, namespace: 'default', taskQueue, aws, slack, workflowBundle: bundle })));
    const runs = workers.map((w) => w.run());
    try {
      const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: p });
      const buckets = await Promise.all([0, 1, 2, 3].map(() => makeBucket(aws)));
      const outcomes: string[] = [];
      for (const b of buckets) {
        const r = await submitter.submit(s3Finding(b));
        const h = client.workflow.getHandle(r.workflowId, r.runId);
        const done = await Promise.race([h.result().then((rec: RemediationRecord) => rec.outcome), waitForStatus(h, RemediationStatus.AwaitingApproval).then(() => 'held')]);
        outcomes.push(done);
        if (done === 'held') {
          const s = await h.query(getStatus);
          expect(s.approvalReason).toBe('budget');
          expect(s.approvalReasons[0]).toMatch(/2 automatic fixes of s3-block-public-access in the last hour \(limit 2\)/);
          await h.terminate('test over');
        } else {
          // The next finding must see this fix: wait until visibility counts it, as any worker would.
          const query = `TaskQueue = "${taskQueue}" AND AutoFixedAt >= "${new Date(Date.now() - 3_600_000).toISOString()}"`;
          for (let i = 0; i < 100 && (await client.workflow.count(query)).count < outcomes.filter((o) => o === 'remediated').length; i++) await new Promise((x) => setTimeout(x, 100));
        }
      }
      expect(outcomes).toEqual(['remediated', 'remediated', 'held', 'held']);
    } finally {
      for (const w of workers) w.shutdown();
      await Promise.all(runs);
      await Promise.all(connections.map((c) => c.close()));
    }
  });

  it('a rejected fix is not asked about again while the resource is unchanged; once it changes, it is', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    await withWorker(async (submit) => {
      const first = await submit(sgFinding(groupId));
      await waitForStatus(first, RemediationStatus.AwaitingApproval);
      await decide({ workflowId: first.workflowId }, { decision: 'reject', by: { id: 'carol', name: 'carol', via: 'cli' }, reason: 'the vendor VPN needs it' });
      const rejected: RemediationRecord = await first.result();
      expect(rejected.outcome).toBe('rejected');
      const requests = () => slackCalls('chat.postMessage', (a) => JSON.stringify(a['blocks'] ?? '').includes('rectify_approval') && JSON.stringify(a['blocks']).includes(groupId)).length;
      expect(requests()).toBe(1);

      // The same finding again (a redelivery, the next scan): closed at once, nobody asked.
      const again: RemediationRecord = await (await submit(sgFinding(groupId))).result();
      expect(again.outcome).toBe('rejected');
      expect(again.reason).toMatch(/^rejected by carol at .* \(run .*\); the resource is unchanged, so the rejection holds until /);
      expect(again.rejectionHeld).toMatchObject({ by: { id: 'carol', via: 'cli' }, workflowId: rejected.workflowId, runId: rejected.runId });
      expect(Date.parse(again.rejectionHeld!.until) - Date.parse(again.rejectionHeld!.at)).toBe(7 * 86_400_000);
      expect(again.change?.applied).toBe(false);
      expect(requests()).toBe(1);
      expect(await worldOpen(groupId)).toBe(true);

      // Someone opens another port: the resource changed, so a person is asked again.
      await aws.ec2(REGION).send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
      const changed = await submit(sgFinding(groupId));
      await waitForStatus(changed, RemediationStatus.AwaitingApproval);
      for (let i = 0; i < 50 && requests() < 2; i++) await new Promise((x) => setTimeout(x, 100));
      expect(requests()).toBe(2);
      await changed.terminate('test over');
    }, policy());
  });
});

describe('modes, scope and exemptions', () => {
  it('dry-run records exactly what would change and changes nothing', async () => {
    const bucket = await makeBucket(aws);
    const record: RemediationRecord = await withWorker(async (submit) => (await submit(s3Finding(bucket))).result(), policy({ s3: '    mode: dry-run' }));
    expect(record.outcome).toBe('dry-run');
    expect(record.change?.applied).toBe(false);
    expect(record.change?.summary).toContain(`on bucket ${bucket}`);
    expect(record.guardrail).toEqual({ allowed: true });
    const bpa = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket })).catch((e: Error) => e);
    expect(bpa).toBeInstanceOf(Error);
  });

  it('an exemption tag with a future date exempts; an expired one does not', async () => {
    const future = await makeBucket(aws, undefined, { 'rectify:exempt-until': '2999-12-31' });
    const past = await makeBucket(aws, undefined, { 'rectify:exempt-until': '2001-01-01' });
    const [f, p] = await withWorker(async (submit) => Promise.all([(await submit(s3Finding(future))).result(), (await submit(s3Finding(past))).result()]), policy());
    expect((f as RemediationRecord).outcome).toBe('exempt');
    expect((f as RemediationRecord).reason).toContain('2999-12-31');
    expect((p as RemediationRecord).outcome).toBe('remediated');
  });

  it('a finding outside the policy scope is recorded and left alone, without reading the resource', async () => {
    const bucket = await makeBucket(aws);
    const p = policy({ defaults: "  scope: { accounts: ['111111111111'] }" });
    const handle = await withWorker(async (submit) => {
      const h = await submit(s3Finding(bucket));
      await h.result();
      return h;
    }, p);
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('out-of-scope');
    const history = await handle.fetchHistory();
    expect(activitiesIn(history)).toEqual(['signEvidence']);
  });

  it('notify mode changes nothing, chases on the ladder and closes once the owner fixed it', async () => {
    const groupId = await makeSecurityGroup(aws, [world22]);
    const p = policy({ sg: '    mode: notify', escalation: `${LADDER}\n    timeoutAction: reject` });
    const record: RemediationRecord = await withWorker(async (submit) => {
      const handle = await submit(sgFinding(groupId));
      await waitForStatus(handle, RemediationStatus.Notified);
      // The owner fixes it by hand between the reminder and the escalation.
      await new Promise((r) => setTimeout(r, 1200));
      const { RevokeSecurityGroupIngressCommand } = await import('@aws-sdk/client-ec2');
      await aws.ec2(REGION).send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [world22] }));
      return handle.result();
    }, p);
    expect(record.outcome).toBe('resolved');
    expect(record.change?.applied).toBe(false);
    expect(slackCalls('chat.postMessage', (a) => String(a['text']).includes(groupId)).length).toBeGreaterThanOrEqual(1);
  });
});

async function makeSecurityGroupRuleAgain(groupId: string): Promise<void> {
  const { AuthorizeSecurityGroupIngressCommand } = await import('@aws-sdk/client-ec2');
  await aws.ec2(REGION).send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [world22] }));
}

describe('fail closed', () => {
  it('a workflow started without a policy changes nothing and says why', async () => {
    const bucket = await makeBucket(aws);
    const { WorkflowFailedError } = await import('@temporalio/client');
    await withWorker(async (_submit, taskQueue) => {
      const handle = await client.workflow.start('remediateFinding', {
        taskQueue,
        workflowId: unique('no-policy'),
        args: [{ finding: s3Finding(bucket), receivedAt: new Date().toISOString(), verifyDeadlineMs: 5000 }],
      });
      const err = await handle.result().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as Error & { cause: Error }).cause.message).toContain('no policy in the workflow input; nothing was changed');
      const history = await handle.fetchHistory();
      expect(activitiesIn(history)).toEqual(['signEvidence']);
    }, policy());
    const bpa = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket })).catch((e: Error) => e);
    expect(bpa).toBeInstanceOf(Error);
  });
});

describe('undo window', () => {
  it('the Undo offer is posted once, even when Slack\'s answer to the post was lost', async () => {
    const bucket = await makeBucket(aws);
    const record: RemediationRecord = await withWorker(async (submit) => {
      slackApi.failNext('chat.postMessage', 1, 'lost');
      return (await submit(s3Finding(bucket))).result();
    }, policy({ undo: '1h' }));
    expect(record.outcome).toBe('remediated');
    const offers = slackApi.messages('CAPPROVALS').filter((m) => m.metadata?.event_type === 'rectify_undo_offer' && m.metadata.event_payload['run_id'] === record.runId);
    expect(offers).toHaveLength(1);
    // The retry looked first, found the offer its earlier attempt posted, and posted nothing.
    const posts = slackApi.calls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args['blocks'] ?? '').includes(bucket));
    expect(posts.map((c) => c.error)).toEqual(['internal_error']); // one post: its answer was the lost one
    expect(slackApi.calls.some((c) => c.method === 'conversations.history' && c.args['channel'] === 'CAPPROVALS')).toBe(true);
    expect(record.notes ?? []).toEqual([]);
  });

  it('an operator takes a verified fix back: the exact rules return and the group is tagged exempt; a non-approver and a second undo are refused', async () => {
    const groupId = await makeSecurityGroup(aws, [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'vendor support' }] }]);
    const p = policy({ undo: '1h' });
    const [record, undone] = await withWorker(async (submit, taskQueue) => {
      const handle = await submit(sgFinding(groupId));
      // The remediation completes with its evidence; nothing waits for an undo nobody asks for.
      const rec: RemediationRecord = await handle.result();
      expect(rec.outcome).toBe('remediated');
      expect(rec.undoWindow?.workflowId).toBe(`undo/${rec.workflowId}/${rec.runId}`);
      expect(Date.parse(rec.undoWindow!.until) - Date.parse(rec.timestamps.verified!)).toBeGreaterThan(3_500_000);
      expect(await worldOpen(groupId)).toBe(false);
      // The offer, with its Undo button (carrying the remediation), is in Slack.
      const offers = slackCalls('chat.postMessage', (a) => JSON.stringify(a['blocks'] ?? '').includes('rectify_undo') && JSON.stringify(a['blocks']).includes(groupId));
      expect(offers).toHaveLength(1);
      expect(offers[0]!.args['channel']).toBe('CAPPROVALS');
      expect(JSON.stringify(offers[0]!.args['blocks'])).toContain(JSON.stringify(JSON.stringify({ w: rec.workflowId, r: rec.runId })).slice(1, -1));
      const target = { workflowId: rec.workflowId };
      const outsider = await requestUndo(client, { remediation: target, by: { id: 'UINTRUDER9', name: 'mallory', via: 'slack' }, policy: p, taskQueue, sign: relaySigns });
      expect(outsider).toEqual({ ok: false, message: 'Not accepted: mallory is not an approver for ec2-sg-admin-ports-open; nothing was changed' });
      expect(await worldOpen(groupId)).toBe(false);
      // Unsigned; or signed by a key the requester's own policy lists but the remediation's does not.
      const unsigned = await requestUndo(client, { remediation: target, by: { id: OPERATOR, name: OPERATOR, via: 'cli' }, policy: p, taskQueue });
      expect(unsigned.ok).toBe(false);
      if (!unsigned.ok) expect(unsigned.message).toMatch(/signed/);
      const forgedPolicy = parsePolicy(`version: 1\ndefaults:\n  undo: { window: 1h }\n  approvers: { users: [], groups: [], keys: [${keyEntryYaml(otherOperatorKey, 'sam')}] }\n`, 'forged');
      const forged = await requestUndo(client, { remediation: target, by: { id: 'sam', name: 'sam', via: 'cli' }, policy: forgedPolicy, taskQueue, sign: (c) => otherOperatorKey.sign(c) });
      expect(forged.ok).toBe(false);
      expect(await worldOpen(groupId)).toBe(false);
      const ok = await requestUndo(client, { remediation: target, by: { id: OPERATOR, name: OPERATOR, via: 'cli' }, reason: 'vendor needs access until Friday', policy: p, taskQueue, sign: operatorSigns });
      expect(ok.ok).toBe(true);
      const twice = await requestUndo(client, { remediation: target, by: { id: OPERATOR, name: OPERATOR, via: 'cli' }, policy: p, taskQueue, sign: operatorSigns });
      expect(twice).toEqual({ ok: false, message: 'Not accepted: this fix was already undone, or its undo is under way; nothing more was changed' });
      return [rec, (await client.workflow.getHandle(rec.undoWindow!.workflowId).result()) as UndoRecord] as const;
    }, p);
    expect(undone.outcome).toBe('reverted');
    expect(undone.remediation).toEqual({ workflowId: record.workflowId, runId: record.runId });
    expect(undone.undo?.by).toEqual({ id: OPERATOR, name: OPERATOR, via: 'cli', keyId: testOperatorKey.keyId });
    expect(verifySignedDecision(undone.undo?.signed, [trusted(testOperatorKey, OPERATOR)])).toMatchObject({ ok: true });
    expect(undone.undo?.reason).toBe('vendor needs access until Friday');
    expect(undone.undo?.exemptUntil).toBeDefined();
    const { verifyRecord } = await import('../../src/evidence/signing.js');
    expect(verifyRecord(undone)).toMatchObject({ ok: true });
    const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    const g = live.SecurityGroups![0]!;
    expect(g.IpPermissions).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'vendor support' }] })]);
    const exempt = g.Tags?.find((t) => t.Key === 'rectify:exempt-until');
    expect(exempt?.Value).toBe(undone.undo?.exemptUntil);
    const sa = (await client.workflow.getHandle(record.undoWindow!.workflowId).describe()).typedSearchAttributes;
    expect(sa.get(SearchAttr.Status)).toBe(RemediationStatus.Reverted);
    expect(sa.get(SearchAttr.DecidedBy)).toBe(`cli:${OPERATOR}`);
    expect(sa.get(SearchAttr.Resource)).toBe(groupId);

    // The next finding for it is left alone while the exemption lasts.
    const again: RemediationRecord = await withWorker(async (submit) => (await submit(sgFinding(groupId))).result(), policy());
    expect(again.outcome).toBe('exempt');
  });

  it('after the window closes the fix stays: a late undo is refused with the reason, and leaves a signed record of the refusal', async () => {
    const bucket = await makeBucket(aws);
    const p = policy({ undo: '1s' });
    const [rec, late] = await withWorker(async (submit, taskQueue) => {
      const r: RemediationRecord = await (await submit(s3Finding(bucket))).result();
      expect(r.outcome).toBe('remediated');
      await new Promise((x) => setTimeout(x, Math.max(0, Date.parse(r.undoWindow!.until) - Date.now()) + 200));
      return [r, await requestUndo(client, { remediation: { workflowId: r.workflowId }, by: { id: OPERATOR, name: OPERATOR, via: 'cli' }, policy: p, taskQueue, sign: operatorSigns })] as const;
    }, p);
    expect(late).toEqual({ ok: false, message: `Not accepted: the undo window closed at ${rec.undoWindow!.until}; nothing was changed` });
    const bpa = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(bpa.PublicAccessBlockConfiguration?.BlockPublicAcls).toBe(true);
    const failed = await client.workflow.getHandle(rec.undoWindow!.workflowId).result().catch((e: unknown) => e);
    const refusal = ((failed as { cause?: { details?: unknown[] } }).cause?.details?.[0] ?? {}) as UndoRecord;
    expect(refusal.outcome).toBe('refused');
    expect(refusal.undo?.by).toMatchObject({ id: OPERATOR, name: OPERATOR, via: 'cli' });
    const { verifyRecord } = await import('../../src/evidence/signing.js');
    expect(verifyRecord(refusal)).toMatchObject({ ok: true });
  });
});
