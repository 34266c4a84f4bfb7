import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { GetPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import type { AwsClients } from '../../src/activities/aws.js';
import { digestWorkflowId } from '../../src/activities/guardrails.js';
import { deleteBucketPublicAccessBlockEvent } from '../../src/cli/demo-events.js';
import type { Config } from '../../src/config.js';
import { hourOf } from '../../src/policy/decide.js';
import { parsePolicy } from '../../src/policy/load.js';
import { verifySignedDecision } from '../../src/decisions/signed.js';
import { APPROVAL_ACTIONS_BLOCK_ID, APPROVE_HELD_ACTION_ID, REJECT_HELD_ACTION_ID } from '../../src/slack/blocks.js';
import type { TriggerServer } from '../../src/triggers/server.js';
import type { SubmitResult } from '../../src/triggers/submit.js';
import { getDigest, refreshDigest } from '../../src/workflows/approval-digest.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { ApprovalReason, RemediationStatus } from '../../src/workflows/search-attributes.js';
import { makeBucket, REGION } from '../helpers/fixtures.js';
import type { SlackStandIn } from '../helpers/slack-standin.js';
import { postSlackInteraction, startSlackTestStack, until, type SlackTestStack } from '../helpers/slack-stack.js';
import { acceptedUpdates, DECISION_KEYS_YAML, testRelayTrusted } from '../helpers/decisions.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const BOT_TOKEN = 'xoxb-digest-token';
const SIGNING_SECRET = 'slack-signing-secret-for-digest-01';
const WEBHOOK_TOKEN = 'webhook-token-for-digest-tests-01';
const APPROVER = 'UAPPROVER1';
const CONTROL = 's3-block-public-access';

// Every automatic fix of the control is held by the budget (0 per hour): each waits for a person.
const policy = parsePolicy(
  `
version: 1
defaults:
  approvers: { users: [${APPROVER}] }
  channel: CAPPROVALS
  undo: { window: 0 }
  escalation: { remindAfter: 1s, escalateAfter: 2s, timeoutAfter: 1h, timeoutAction: reject }
controls:
  ${CONTROL}:
    guardrails: { maxAutoFixesPerHour: 0 }
${DECISION_KEYS_YAML}`,
  'digest-test-policy',
);

let stack: SlackTestStack;
let slackApi: SlackStandIn;
let config: Config;
let server: TriggerServer;
let client: Client;
let aws: AwsClients;

beforeAll(async () => {
  stack = await startSlackTestStack({ policy, queuePrefix: 'digest', botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, webhookToken: WEBHOOK_TOKEN });
  ({ slackApi, config, server, client, aws } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

function heldClick(o: { digestId: string; approve: boolean; user: string; messageTs: string }): string {
  const payload = {
    type: 'block_actions',
    user: { id: o.user, username: o.user === APPROVER ? 'alice' : 'mallory', team_id: 'T0001' },
    container: { type: 'message', message_ts: o.messageTs, channel_id: 'CAPPROVALS', is_ephemeral: false },
    channel: { id: 'CAPPROVALS', name: 'approvals' },
    message: { type: 'message', ts: o.messageTs, text: 'digest' },
    actions: [
      {
        action_id: o.approve ? APPROVE_HELD_ACTION_ID : REJECT_HELD_ACTION_ID,
        block_id: 'rectify_digest',
        value: JSON.stringify({ w: o.digestId, r: 'run' }),
        type: 'button',
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

async function postClick(body: string): Promise<Response> {
  return postSlackInteraction(server.url, SIGNING_SECRET, body);
}

describe('fixes held by the hourly budget: one digest, decided in bulk', () => {
  it('held fixes post no request each; one digest counts them; a non-approver cannot decide; "Approve all held" fixes each, recorded as the approver', async () => {
    const buckets = await Promise.all([makeBucket(aws), makeBucket(aws), makeBucket(aws)]);
    const started: SubmitResult[] = [];
    for (const b of buckets) {
      const res = await fetch(`${server.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
        body: JSON.stringify(deleteBucketPublicAccessBlockEvent(b, REGION)),
      });
      expect(res.status).toBe(202);
      started.push(((await res.json()) as { findings: SubmitResult[] }).findings[0]!);
    }
    const handles = started.map((s) => client.workflow.getHandle(s.workflowId, s.runId));
    for (const h of handles) {
      await until(async () => (await h.query(getStatus)).status === RemediationStatus.AwaitingApproval, `${h.workflowId} held`);
      expect((await h.query(getStatus)).approvalReason).toBe(ApprovalReason.Budget);
    }

    // Past the reminder and escalation times: still no message about any single held fix.
    const digestId = digestWorkflowId(config.temporal.taskQueue, CONTROL, hourOf(Date.now()).key);
    const digest = client.workflow.getHandle(digestId);
    await new Promise((r) => setTimeout(r, 2500));
    const perFinding = slackApi.messages('CAPPROVALS').filter((m) => JSON.stringify(m.blocks ?? '').includes(APPROVAL_ACTIONS_BLOCK_ID) || buckets.some((b) => m.text.includes(b) && !m.text.includes('held')));
    expect(perFinding).toEqual([]);

    // One digest message for the control and hour, updated in place until it counts all three.
    await digest.signal(refreshDigest);
    await until(async () => (await digest.query(getDigest))?.held === 3, 'the digest counting 3 held');
    const digestMessages = () => slackApi.messages('CAPPROVALS').filter((m) => JSON.stringify(m.blocks ?? '').includes(APPROVE_HELD_ACTION_ID) || m.text.includes('held by the hourly budget'));
    const message = await until(() => digestMessages().find((m) => m.text.startsWith('3 automatic fixes')), 'the digest message saying 3');
    expect(digestMessages()).toHaveLength(1);
    for (const b of buckets) expect(JSON.stringify(message.blocks)).toContain(b);

    // Someone who is not an approver: refused privately, nothing decided.
    expect((await postClick(heldClick({ digestId, approve: true, user: 'UINTRUDER9', messageTs: message.ts }))).status).toBe(200);
    const refusal = await until(() => slackApi.calls.find((c) => c.method === 'chat.postEphemeral' && c.args['user'] === 'UINTRUDER9'), 'the refusal');
    expect(refusal.args['text']).toBe(`Not accepted: you are not an approver for ${CONTROL}; nothing was changed.`);
    for (const h of handles) expect((await h.query(getStatus)).status).toBe(RemediationStatus.AwaitingApproval);

    // The approver approves all held: each one is fixed, and records the approver's decision.
    const plans = await Promise.all(handles.map(async (h) => (await h.query(getStatus)).planDigest));
    expect((await postClick(heldClick({ digestId, approve: true, user: APPROVER, messageTs: message.ts }))).status).toBe(200);
    const records: RemediationRecord[] = await Promise.all(handles.map((h) => h.result()));
    for (const r of records) {
      expect(r.outcome).toBe('remediated');
      expect(r.approval).toMatchObject({ kind: ApprovalReason.Budget, decision: 'approve', by: { id: APPROVER, name: 'alice', via: 'slack', bulk: `digest:${digestId}` } });
      expect(r.decidedBy).toMatchObject({ id: APPROVER, via: 'slack' });
    }
    // Each held fix got a decision signed by the relay for it alone: its workflow, run and plan.
    for (const [i, h] of handles.entries()) {
      const sent = (await acceptedUpdates(h)).filter((u) => u.name === 'decideRemediation');
      expect(sent).toHaveLength(1);
      const v = verifySignedDecision(sent[0]!.arg['signed'], [testRelayTrusted]);
      expect(v).toMatchObject({
        ok: true,
        signed: { claims: { kind: 'decision', workflowId: h.workflowId, runId: started[i]!.runId, decision: 'approve', planDigest: plans[i], by: { id: APPROVER, name: 'alice', via: 'slack', bulk: `digest:${digestId}` } } },
      });
      expect(plans[i]).toMatch(/^[0-9a-f]{64}$/);
    }
    for (const b of buckets) {
      const live = await aws.s3(REGION).send(new GetPublicAccessBlockCommand({ Bucket: b }));
      expect(live.PublicAccessBlockConfiguration?.BlockPublicAcls).toBe(true);
    }
    const reply = await until(() => slackApi.messages('CAPPROVALS').find((m) => m.thread_ts === message.ts && m.text.includes('Approved 3 held fixes')), 'the bulk decision in the thread');
    expect(reply.text).toContain(`<@${APPROVER}>`);
    // The click asked the digest to re-read; visibility may lag the decisions by a moment, so ask again while waiting.
    await until(async () => {
      await digest.signal(refreshDigest);
      return slackApi.messages('CAPPROVALS').find((m) => m.ts === message.ts && m.text.startsWith('3 automatic fixes') && JSON.stringify(m.blocks).includes('were decided'));
    }, 'the digest saying all were decided');
    await digest.terminate('test over');
  });
});
