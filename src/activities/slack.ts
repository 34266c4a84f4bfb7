import { ApplicationFailure } from '@temporalio/common';
import { activityInfo, log } from '@temporalio/activity';
import { ErrorCode, type WebClient } from '@slack/web-api';
import { ErrorType } from '../errors.js';
import { approvalRequestMessage, decidedMessage, undoOfferMessage, type ApprovalView } from '../slack/blocks.js';

/** Where an approval request was posted. */
export interface MessageRef {
  readonly channel: string;
  readonly ts: string;
}
export type DecisionShown = Parameters<typeof decidedMessage>[1];

/** Slack message metadata event type of an Undo offer (payload: workflow_id, run_id). */
export const UNDO_OFFER_EVENT = 'rectify_undo_offer';

/**
 * Whether an Undo offer for `runId` is already in the thread (or among the channel's latest
 * messages). Needs the history scopes; when Slack refuses to show history, it answers false and
 * the offer is posted (at worst twice, never not at all).
 */
async function findUndoOffer(slack: WebClient, channel: string, thread: MessageRef | null, runId: string): Promise<boolean> {
  type WithMetadata = { metadata?: { event_type?: string; event_payload?: Record<string, unknown> } };
  try {
    const out = thread
      ? await slack.conversations.replies({ channel, ts: thread.ts, include_all_metadata: true, limit: 200 })
      : await slack.conversations.history({ channel, include_all_metadata: true, limit: 100 });
    return ((out.messages ?? []) as WithMetadata[]).some((m) => m.metadata?.event_type === UNDO_OFFER_EVENT && m.metadata.event_payload?.['run_id'] === runId);
  } catch (err) {
    log.warn('could not look for an earlier Undo offer; posting it', { error: (err as Error).message });
    return false;
  }
}

export async function slackCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { code?: string; retryAfter?: number; data?: { error?: string }; message?: string };
    if (e.code === ErrorCode.RateLimitedError) {
      throw ApplicationFailure.create({ type: ErrorType.SlackUnavailable, message: `${what}: rate limited by Slack`, nextRetryDelay: `${Math.max(1, e.retryAfter ?? 1)}s` });
    }
    if (e.code === ErrorCode.PlatformError) {
      throw ApplicationFailure.create({ type: ErrorType.SlackRejected, message: `${what}: Slack answered ${e.data?.error ?? 'an error'}`, nonRetryable: true });
    }
    throw ApplicationFailure.create({ type: ErrorType.SlackUnavailable, message: `${what}: ${e.message ?? String(err)}` });
  }
}

/**
 * Slack activities. Without a Slack client (no token configured) they do nothing and return
 * null: approvals are then given from the CLI, and the workflow waits just the same.
 */
export function createSlackActivities(slack: WebClient | undefined) {
  return {
    /** The Slack user ids allowed to decide: the listed users plus the members of the listed groups. */
    async resolveApprovers(approvers: { users: readonly string[]; groups: readonly string[] }): Promise<string[]> {
      const ids = new Set(approvers.users);
      if (slack) {
        for (const usergroup of approvers.groups) {
          const out = await slackCall(`usergroups.users.list ${usergroup}`, () => slack.usergroups.users.list({ usergroup }));
          for (const u of out.users ?? []) ids.add(u);
        }
      } else if (approvers.groups.length > 0) {
        log.warn('Slack is not configured: user groups cannot be expanded; only listed users and the CLI can approve');
      }
      return [...ids].sort();
    },

    /** Posts the approval request (Approve / Reject buttons). Null when Slack or the channel is not configured. */
    async postApprovalRequest(channel: string | undefined, view: ApprovalView): Promise<MessageRef | null> {
      if (!slack || !channel) return null;
      const msg = approvalRequestMessage(view);
      const out = await slackCall(`chat.postMessage to ${channel}`, () => slack.chat.postMessage({ channel, text: msg.text, blocks: msg.blocks as never, unfurl_links: false }));
      return { channel: out.channel ?? channel, ts: out.ts ?? '' };
    },

    /** Replaces the request in place with the outcome and who decided; the buttons go away. */
    async updateApprovalMessage(ref: MessageRef, view: ApprovalView, decision: DecisionShown): Promise<void> {
      if (!slack) return;
      const msg = decidedMessage(view, decision);
      await slackCall(`chat.update ${ref.channel}/${ref.ts}`, () => slack.chat.update({ channel: ref.channel, ts: ref.ts, text: msg.text, blocks: msg.blocks as never }));
    },

    /** Offers an Undo button for a verified fix: in the request's thread, or in `channel` when there was no request. */
    async postUndoOffer(thread: MessageRef | null, channel: string | undefined, offer: { workflowId: string; runId: string; summary: string; until: string }): Promise<void> {
      const target = thread?.channel ?? channel;
      if (!slack || !target) return;
      // Posted once: the message carries the run in its metadata, and a retry (whose earlier
      // attempt may have posted before its answer was lost) looks for it first.
      if (activityInfo().attempt > 1 && (await findUndoOffer(slack, target, thread, offer.runId))) {
        log.info('the Undo offer was already posted by an earlier attempt', { runId: offer.runId });
        return;
      }
      const msg = undoOfferMessage(offer);
      await slackCall(`chat.postMessage to ${target}`, () =>
        slack.chat.postMessage({
          channel: target,
          text: msg.text,
          blocks: msg.blocks as never,
          metadata: { event_type: UNDO_OFFER_EVENT, event_payload: { workflow_id: offer.workflowId, run_id: offer.runId } },
          ...(thread ? { thread_ts: thread.ts } : {}),
        }),
      );
    },

    /** Posts `text` in the thread of the request, or to `channel` as a new message when there is no request to thread on. */
    async postSlackText(target: { thread?: MessageRef | null; channel?: string }, text: string): Promise<void> {
      if (!slack) return;
      const channel = target.channel ?? target.thread?.channel;
      if (!channel) return;
      const threadTs = target.thread && target.thread.channel === channel ? target.thread.ts : undefined;
      await slackCall(`chat.postMessage to ${channel}`, () => slack.chat.postMessage({ channel, text, ...(threadTs ? { thread_ts: threadTs } : {}) }));
    },
  };
}
