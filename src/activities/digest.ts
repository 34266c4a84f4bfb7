import { activityInfo } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { WebClient } from '@slack/web-api';
import { digestMessage, type DigestView, type HeldSummary } from '../slack/blocks.js';
import { heldFixesFilter, pendingQuery } from '../workflows/queries.js';
import { ApprovalReason, SearchAttr } from '../workflows/search-attributes.js';
import { quote } from '../workflows/queries.js';
import type { MessageRef } from './slack.js';
import { slackCall } from './slack.js';

/** At most this many waiting fixes are listed for the digest's breakdown; the count is exact regardless. */
const LISTED = 1000;

export function createDigestActivities(d: { client: Client; slack?: WebClient }) {
  return {
    /**
     * The held fixes of one control and hour, from visibility: how many still wait, how many were
     * held in all, a breakdown by account and some resources. Read-only.
     */
    async readHeldFixes(o: { control: string; taskQueue: string; hour: { start: string; end: string } }): Promise<HeldSummary> {
      const filter = heldFixesFilter(o);
      const all = `WorkflowType = "remediateFinding" AND ${SearchAttr.Control.name} = ${quote(o.control)} AND ${SearchAttr.ApprovalReason.name} = "${ApprovalReason.Budget}" AND TaskQueue = ${quote(o.taskQueue)} AND StartTime >= ${quote(o.hour.start)} AND StartTime < ${quote(o.hour.end)}`;
      const [held, total] = await Promise.all([d.client.workflow.count(pendingQuery(filter)), d.client.workflow.count(all)]);
      const byAccount = new Map<string, number>();
      const resources: string[] = [];
      let listed = 0;
      for await (const wf of d.client.workflow.list({ query: pendingQuery(filter), pageSize: 500 })) {
        const account = wf.typedSearchAttributes.get(SearchAttr.Account) ?? '?';
        byAccount.set(account, (byAccount.get(account) ?? 0) + 1);
        if (resources.length < 20) resources.push(wf.typedSearchAttributes.get(SearchAttr.Resource) ?? wf.workflowId);
        if (++listed >= LISTED) break;
      }
      return {
        held: held.count,
        total: Math.max(total.count, held.count),
        byAccount: [...byAccount].map(([account, count]) => ({ account, count })).sort((a, b) => b.count - a.count || a.account.localeCompare(b.account)),
        resources,
        listed,
      };
    },

    /** Posts the digest, or updates it in place when it was posted already. Null without Slack or a channel. */
    async postDigest(view: DigestView, summary: HeldSummary, ref: MessageRef | null): Promise<MessageRef | null> {
      const slack = d.slack;
      const channel = ref?.channel ?? view.channel;
      if (!slack || !channel) return null;
      const msg = digestMessage(view, summary, activityInfo().workflowExecution?.runId ?? '');
      if (ref) {
        await slackCall(`chat.update ${ref.channel}/${ref.ts}`, () => slack.chat.update({ channel: ref.channel, ts: ref.ts, text: msg.text, blocks: msg.blocks as never }));
        return ref;
      }
      const out = await slackCall(`chat.postMessage to ${channel}`, () => slack.chat.postMessage({ channel, text: msg.text, blocks: msg.blocks as never, unfurl_links: false }));
      return { channel: out.channel ?? channel, ts: out.ts ?? '' };
    },
  };
}
