import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import type { AwsClients } from '../../src/activities/aws.js';
import { authorizeIngressEvent } from '../../src/cli/demo-events.js';
import { parsePolicy, snapshotFor } from '../../src/policy/load.js';
import { checkDecision, verifySignedDecision, type DecisionLike } from '../../src/decisions/signed.js';
import { ControlId } from '../../src/findings/finding.js';
import { APPROVE_ACTION_ID, REJECT_ACTION_ID } from '../../src/slack/blocks.js';
import { signSlackRequest } from '../../src/slack/signature.js';
import { silentLogger } from '../../src/log.js';
import { startTriggerServer } from '../../src/triggers/server.js';
import type { TriggerServer } from '../../src/triggers/server.js';
import type { SubmitResult } from '../../src/triggers/submit.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { RemediationStatus } from '../../src/workflows/search-attributes.js';
import { makeSecurityGroup, REGION, world22 } from '../helpers/fixtures.js';
import type { SlackStandIn } from '../helpers/slack-standin.js';
import { postSlackInteraction, startSlackTestStack, until, type SlackTestStack } from '../helpers/slack-stack.js';
import { acceptedUpdates, DECISION_KEYS_YAML, testRelayTrusted } from '../helpers/decisions.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const BOT_TOKEN = 'xoxb-integration-token';
const SIGNING_SECRET = 'slack-signing-secret-for-tests-0123';
const WEBHOOK_TOKEN = 'webhook-token-for-slack-tests-0123';
const APPROVER = 'UAPPROVER1';

const policy = parsePolicy(
  `
version: 1
defaults:
  approvers: { users: [${APPROVER}] }
  channel: CAPPROVALS
  undo: { window: 0 }
  escalation: { remindAfter: 0, escalateAfter: 0, timeoutAfter: 1h, timeoutAction: reject }
controls:
  ec2-sg-admin-ports-open:
    requireApprovalWhenTagged: { environment: [production] }
${DECISION_KEYS_YAML}`,
  'slack-test-policy',
);

let stack: SlackTestStack;
let slackApi: SlackStandIn;
let server: TriggerServer;
let client: Client;
let aws: AwsClients;

beforeAll(async () => {
  stack = await startSlackTestStack({ policy, queuePrefix: 'slack', botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, webhookToken: WEBHOOK_TOKEN });
  ({ slackApi, server, client, aws } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

/** A block_actions interaction as Slack posts it: form-encoded `payload` JSON. */
function clickBody(o: { workflowId: string; runId: string; approve: boolean; user: string; messageTs: string; actionTs?: string; planDigest?: string }): string {
  const payload = {
    type: 'block_actions',
    user: { id: o.user, username: o.user === APPROVER ? 'alice' : 'mallory', name: o.user === APPROVER ? 'alice' : 'mallory', team_id: 'T0001' },
    api_app_id: 'A0001',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: o.messageTs, channel_id: 'CAPPROVALS', is_ephemeral: false },
    trigger_id: '123.456.abc',
    team: { id: 'T0001', domain: 'acme' },
    channel: { id: 'CAPPROVALS', name: 'approvals' },
    message: { type: 'message', ts: o.messageTs, text: 'approval request' },
    response_url: 'https://hooks.slack.com/actions/T0001/1/abc',
    actions: [
      {
        action_id: o.approve ? APPROVE_ACTION_ID : REJECT_ACTION_ID,
        block_id: 'rectify_approval',
        text: { type: 'plain_text', text: o.approve ? 'Approve' : 'Reject' },
        value: JSON.stringify({ w: o.workflowId, r: o.runId, ...(o.planDigest ? { p: o.planDigest } : {}) }),
        type: 'button',
        action_ts: o.actionTs ?? `${Date.now() / 1000}`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

async function postClick(body: string, o: { secret?: string; timestamp?: number; signature?: string } = {}): Promise<Response> {
  return postSlackInteraction(server.url, o.secret ?? SIGNING_SECRET, body, o);
}

const worldOpen = async (groupId: string) => {
  const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  return (live.SecurityGroups![0]!.IpPermissions ?? []).some((p) => p.IpRanges?.some((r) => r.CidrIp === '0.0.0.0/0'));
};

describe('approval in Slack, end to end through the trigger server', () => {
  it('a production-tagged group waits; forged, stale, replayed and non-approver clicks change nothing; the approver click fixes it', async () => {
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const res = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
      body: JSON.stringify(authorizeIngressEvent(groupId, REGION, 22, '0.0.0.0/0')),
    });
    expect(res.status).toBe(202);
    const started = ((await res.json()) as { findings: SubmitResult[] }).findings[0]!;
    const handle = client.workflow.getHandle(started.workflowId, started.runId);
    await until(async () => (await handle.query(getStatus)).status === RemediationStatus.AwaitingApproval, 'AwaitingApproval');
    const request = await until(() => slackApi.messages('CAPPROVALS').find((m) => JSON.stringify(m.blocks ?? '').includes(groupId)), 'the approval request');
    // The buttons carry the plan shown; the signed decision names it.
    const planDigest = (await handle.query(getStatus)).planDigest;
    expect(planDigest).toMatch(/^[0-9a-f]{64}$/);
    const click = (o: { approve: boolean; user: string; actionTs?: string }) => clickBody({ workflowId: started.workflowId, runId: started.runId!, messageTs: request.ts, planDigest, ...o });

    // Forged (wrong secret), stale (6 minutes old), missing signature: 401, nothing reaches the workflow.
    expect((await postClick(click({ approve: true, user: APPROVER }), { secret: 'not-the-signing-secret-at-all' })).status).toBe(401);
    expect((await postClick(click({ approve: true, user: APPROVER }), { timestamp: Math.floor(Date.now() / 1000) - 360 })).status).toBe(401);
    expect((await postClick(click({ approve: true, user: APPROVER }), { signature: '' })).status).toBe(401);
    // A signed body with one byte changed.
    const body = click({ approve: true, user: APPROVER });
    const ts = Math.floor(Date.now() / 1000);
    expect((await postClick(body.replace('alice', 'alicf'), { timestamp: ts, signature: signSlackRequest(SIGNING_SECRET, ts, body) })).status).toBe(401);

    // A non-approver's click is answered privately and changes nothing.
    const intruder = await postClick(click({ approve: true, user: 'UINTRUDER9' }));
    expect(intruder.status).toBe(200);
    const ephemeral = await until(() => slackApi.calls.find((c) => c.method === 'chat.postEphemeral' && c.args['user'] === 'UINTRUDER9'), 'the ephemeral refusal');
    expect(ephemeral.args['text']).toBe('Not accepted: mallory is not an approver for ec2-sg-admin-ports-open');
    expect((await handle.query(getStatus)).status).toBe(RemediationStatus.AwaitingApproval);
    expect(await worldOpen(groupId)).toBe(true);

    // The approver's click: acknowledged at once, then the fix runs.
    const approvedBody = click({ approve: true, user: APPROVER });
    const approvedTs = Math.floor(Date.now() / 1000);
    const t0 = Date.now();
    const ack = await postClick(approvedBody, { timestamp: approvedTs });
    expect(ack.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    // The very same signed request again is a replay.
    expect((await postClick(approvedBody, { timestamp: approvedTs })).status).toBe(401);
    // A second replica (or this one after a restart) has not seen it: it passes the Slack check
    // there, and reaches the workflow as the same Update id, which Temporal answers with the first
    // outcome: still one decision (counted below).
    const replicaLog: string[] = [];
    const replica = await startTriggerServer(stack.config, client, { ...silentLogger, info: (msg) => void replicaLog.push(msg) }, policy);
    try {
      expect((await postSlackInteraction(replica.url, SIGNING_SECRET, approvedBody, { timestamp: approvedTs })).status).toBe(200);
      // Delivered, and Temporal answered with the first outcome (accepted), not a second decision.
      await until(() => replicaLog.includes('request accepted'), 'the replica relayed the click');
    } finally {
      await replica.close();
    }

    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('remediated');
    expect(record.approval?.by).toMatchObject({ id: APPROVER, name: 'alice', via: 'slack' });

    // What reached the workflow: the decision signed by the trigger server's relay key, for this
    // workflow, run and plan only; what a workflow validator checks accepts it.
    const sent = (await acceptedUpdates(handle)).filter((u) => u.name === 'decideRemediation');
    expect(sent).toHaveLength(1);
    const relayed = sent[0]!.arg as DecisionLike;
    const claims = { v: 1, kind: 'decision', workflowId: started.workflowId, runId: started.runId, decision: 'approve', planDigest, by: { id: APPROVER, name: 'alice', via: 'slack' } };
    expect(verifySignedDecision(relayed.signed, [testRelayTrusted])).toMatchObject({ ok: true, signed: { claims, keyId: testRelayTrusted.keyId } });
    const snapshot = snapshotFor(policy, ControlId.SgAdminPortsOpen);
    const ctx = { kind: 'decision' as const, workflowId: started.workflowId, runId: started.runId!, planDigest, approvers: [APPROVER], operatorKeys: snapshot.control.approvers.keys ?? [], relayKeys: snapshot.decisionRelays ?? [] };
    expect(checkDecision(relayed, ctx)).toMatchObject({ ok: true, by: { id: APPROVER, via: 'slack', keyId: testRelayTrusted.keyId } });
    // The same signed decision sent to another remediation is refused there.
    expect(checkDecision(relayed, { ...ctx, workflowId: `${started.workflowId}-other` })).toMatchObject({ ok: false });
    expect(await worldOpen(groupId)).toBe(false);

    const updated = await until(() => {
      const m = slackApi.messages('CAPPROVALS').find((x) => x.ts === request.ts);
      return m && !JSON.stringify(m.blocks).includes(APPROVE_ACTION_ID) ? m : undefined;
    }, 'the message updated in place');
    expect(updated.text).toContain('Approved by alice');
    expect(JSON.stringify(updated.blocks)).toContain(`*Approved* by <@${APPROVER}>`);
    const thread = await until(() => slackApi.messages('CAPPROVALS').find((m) => m.thread_ts === request.ts && m.text.includes('Fixed and verified')), 'the result in the thread');
    expect(thread.text).toContain(groupId);

    // A late click on the finished remediation: answered clearly, nothing changes.
    expect((await postClick(click({ approve: false, user: APPROVER }))).status).toBe(200);
    const late = await until(() => slackApi.calls.filter((c) => c.method === 'chat.postEphemeral' && c.args['user'] === APPROVER).at(-1), 'the late-click answer');
    expect(late.args['text']).toBe('Not accepted: this remediation has already finished; nothing was changed');
  });

  it('an interaction that is not an approval click gets 400 after its signature is checked', async () => {
    const body = new URLSearchParams({ payload: JSON.stringify({ type: 'view_submission', user: { id: APPROVER } }) }).toString();
    const res = await postClick(body);
    expect(res.status).toBe(400);
  });
});
