import type { Client } from '@temporalio/client';
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/types.js';
import { isRegisteredControl } from '../activities/controls/index.js';
import type { ApprovalClick } from '../slack/interaction.js';
import { bulkDecisionText } from '../slack/blocks.js';
import { refreshDigest } from '../workflows/approval-digest.js';
import { heldFixesFilter, pendingQuery } from '../workflows/queries.js';
import type { DecisionKey } from '../decisions/sign.js';
import { decideByQuery, requestUndo, sendDecision, sendUndo, signDecision, signUndo } from './decisions.js';

/** `digest/<task queue>/<control>/<hour key>` (the task queue may itself contain slashes). */
export function parseDigestId(id: string): { taskQueue: string; control: string; hour: { key: string; start: string; end: string } } | undefined {
  const parts = id.split('/');
  if (parts.length < 4 || parts[0] !== 'digest') return undefined;
  const key = parts.at(-1)!;
  const control = parts.at(-2)!;
  const start = Date.parse(`${key}:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(key) || !Number.isFinite(start) || !isRegisteredControl(control)) return undefined;
  return { taskQueue: parts.slice(1, -2).join('/'), control, hour: { key, start: new Date(start).toISOString(), end: new Date(start + 3_600_000).toISOString() } };
}

/**
 * What happens to a verified click. Approve / Reject / Undo go to their workflow as a Temporal
 * Update (the workflow's validator decides whether this person may decide now); Undo starts the
 * undo of that fix, which checks its window and the person. "Approve all
 * held" / "Reject all held" on a digest go to every held fix of that control and hour, each as
 * this person's decision, after checking that the person may approve fixes of the control.
 * Accepted decisions show as messages updated by the workflows; a refusal is answered to the
 * clicker alone (ephemeral) and changes nothing.
 *
 * Every decision leaves signed with `relayKey` (the decision relay key, DECISION_SIGNING_KEY_FILE),
 * for exactly one workflow: only this server, which checked Slack's request signature, can vouch
 * that the clicker is who Slack says. The claims name the workflow, its run, the plan digest the
 * message showed (a digest's bulk decision: each held fix's own, read with `getStatus`), the
 * clicker and the time.
 */
export function createClickHandler(client: Client, slack: WebClient | undefined, logger: Logger, o: { relayKey: DecisionKey; policy?: Policy; taskQueue?: string }) {
  const { policy, relayKey } = o;
  const tell = async (click: ApprovalClick, text: string) => {
    if (!slack) return;
    await slack.chat.postEphemeral({ channel: click.channel, user: click.user.id, text }).catch((err: unknown) => {
      logger.warn('could not answer the clicker', { error: (err as Error).message });
    });
  };

  /** The listed approvers of `control` plus the members of its approver groups (Slack user ids). */
  const approversOf = async (control: string): Promise<Set<string>> => {
    const c = policy && Object.hasOwn(policy.controls, control) ? policy.controls[control] : undefined;
    const ids = new Set([...(c?.approvers.users ?? []), ...(c?.escalation.escalateTo.users ?? [])]);
    for (const usergroup of [...(c?.approvers.groups ?? []), ...(c?.escalation.escalateTo.groups ?? [])]) {
      const out = await slack?.usergroups.users.list({ usergroup });
      for (const u of out?.users ?? []) ids.add(u);
    }
    return ids;
  };

  const decideHeld = async (click: ApprovalClick, decision: 'approve' | 'reject') => {
    const digest = parseDigestId(click.workflowId);
    if (!digest) return tell(click, 'Not accepted: this is not a digest of held fixes; nothing was changed.');
    if (!(await approversOf(digest.control)).has(click.user.id)) {
      logger.info('bulk decision refused', { digest: click.workflowId, by: click.user.id, why: 'not an approver' });
      return tell(click, `Not accepted: you are not an approver for ${digest.control}; nothing was changed.`);
    }
    const by = { id: click.user.id, name: click.user.name, via: 'slack' as const, bulk: `digest:${click.workflowId}` };
    const out = await decideByQuery(client, pendingQuery(heldFixesFilter(digest)), { decision, by }, { sign: relayKey.sign });
    logger.info('bulk decision', { digest: click.workflowId, decision, by: click.user.id, accepted: out.accepted, refused: out.refused });
    await client.workflow.getHandle(click.workflowId).signal(refreshDigest).catch(() => undefined);
    if (slack) {
      await slack.chat
        .postMessage({ channel: click.channel, thread_ts: click.messageTs, text: bulkDecisionText({ decision, by: click.user.id, accepted: out.accepted, refused: out.refused }) })
        .catch((err: unknown) => logger.warn('could not post the bulk decision', { error: (err as Error).message }));
    }
    if (out.accepted === 0 && out.refused > 0) await tell(click, `Not accepted: ${out.reasons[0]?.message ?? 'nothing was waiting'}`);
  };

  return async (click: ApprovalClick): Promise<void> => {
    try {
      if (click.decision === 'approve-held' || click.decision === 'reject-held') return await decideHeld(click, click.decision === 'approve-held' ? 'approve' : 'reject');
      const target = { workflowId: click.workflowId, runId: click.runId };
      const by = { id: click.user.id, name: click.user.name, via: 'slack' as const };
      // The same click delivered twice is one request.
      const updateId = `slack:${click.actionTs}:${click.user.id}`;
      const out =
        click.decision !== 'undo'
          ? await sendDecision(client, target, signDecision(relayKey.sign, target, { decision: click.decision, by, ...(click.planDigest ? { planDigest: click.planDigest } : {}) }), updateId)
          : // An undo window of the first version is its own running workflow; otherwise the undo starts one.
            click.workflowId.startsWith('undo/') || !policy || !o.taskQueue
            ? await sendUndo(client, target, signUndo(relayKey.sign, target, { by }), updateId)
            : await requestUndo(client, { remediation: target, by, policy, taskQueue: o.taskQueue, sign: relayKey.sign });
      if (out.ok) {
        logger.info('request accepted', { workflowId: click.workflowId, request: click.decision, by: click.user.id });
      } else {
        logger.info('request refused', { workflowId: click.workflowId, by: click.user.id, why: out.message });
        await tell(click, out.message);
      }
    } catch (err) {
      logger.error('could not deliver the decision', { workflowId: click.workflowId, error: (err as Error).message });
      await tell(click, 'Your decision could not be delivered (the workflow service is unreachable). Nothing was changed; please try again.');
    }
  };
}
