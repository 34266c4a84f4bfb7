import { activityInfo } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { WebClient } from '@slack/web-api';
import { digestMessage, type DigestView, type HeldSummary } from '../slack/blocks.js';
import { heldFixesFilter, pendingQuery, type PendingFilter } from '../workflows/queries.js';
import { SearchAttr } from '../workflows/search-attributes.js';
import type { MessageRef } from './slack.js';
import { slackCall } from './slack.js';

/** At most this many waiting fixes are listed for the digest's breakdown; the count is exact regardless. */
const LISTED = 1000;

/**
 * What the held fixes matching `filter` look like in visibility: how many wait, how many were held
 * in all (`all` counts decided ones too), a breakdown by account and some resources (of the first
 * thousand listed). Read-only; shared by the digest and the CLI.
 */
export async function summarizeHeld(client: Client, filter: PendingFilter): Promise<HeldSummary> {
  const [held, total] = await Promise.all([client.workflow.count(pendingQuery(filter)), client.workflow.count(pendingQuery(filter, false))]);
  const byAccount = new Map<string, number>();
  const resources: string[] = [];
  let listed = 0;
  for await (const wf of client.workflow.list({ query: pendingQuery(filter), pageSize: 500 })) {
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
}

export function createDigestActivities(d: { client: Client; slack?: WebClient }) {
  return {
    /**
     * The held fixes of one control and hour, from visibility: how many still wait, how many were
     * held in all, a breakdown by account and some resources. Read-only.
     */
    async readHeldFixes(o: { control: string; taskQueue: string; hour: { start: string; end: string } }): Promise<HeldSummary> {
      return summarizeHeld(d.client, heldFixesFilter(o));
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
