import type { Client } from '@temporalio/client';
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log.js';
import type { ApprovalClick } from '../slack/interaction.js';
import { sendDecision, sendUndo } from './decisions.js';

/**
 * What happens to a verified Approve / Reject click: it goes to the workflow as a Temporal Update
 * (the workflow's validator decides whether this person may decide now). An accepted decision
 * shows as the approval message updated in place by the workflow; a refused one is answered to
 * the clicker alone (ephemeral), and changes nothing.
 */
export function createClickHandler(client: Client, slack: WebClient | undefined, logger: Logger) {
  const tell = async (click: ApprovalClick, text: string) => {
    if (!slack) return;
    await slack.chat.postEphemeral({ channel: click.channel, user: click.user.id, text }).catch((err: unknown) => {
      logger.warn('could not answer the clicker', { error: (err as Error).message });
    });
  };
  return async (click: ApprovalClick): Promise<void> => {
    try {
      const target = { workflowId: click.workflowId, runId: click.runId };
      const by = { id: click.user.id, name: click.user.name, via: 'slack' as const };
      // The same click delivered twice is one request.
      const updateId = `slack:${click.actionTs}:${click.user.id}`;
      const out =
        click.decision === 'undo'
          ? await sendUndo(client, target, { by }, updateId)
          : await sendDecision(client, target, { decision: click.decision, by }, updateId);
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
