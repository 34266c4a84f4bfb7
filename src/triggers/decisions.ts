import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { decideRemediation, type DecisionAck, type DecisionRequest } from '../workflows/messages.js';

export type DecisionOutcome = { readonly ok: true; readonly ack: DecisionAck } | { readonly ok: false; readonly message: string };

/**
 * Sends an approval decision to a remediation as a Temporal Update and says, in words a person
 * can act on, why it was refused: already decided, not waiting, not an approver, finished, unknown.
 * `updateId` dedupes retries of the same click. Throws only when Temporal itself cannot be reached.
 */
export async function sendDecision(client: Client, target: { workflowId: string; runId?: string }, req: DecisionRequest, updateId?: string): Promise<DecisionOutcome> {
  const handle = client.workflow.getHandle(target.workflowId, target.runId);
  try {
    const ack = await handle.executeUpdate(decideRemediation, { args: [req], ...(updateId ? { updateId } : {}) });
    return { ok: true, ack };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      return { ok: false, message: `Not accepted: ${(err.cause as Error | undefined)?.message ?? err.message}` };
    }
    if (err instanceof WorkflowNotFoundError) {
      // Updates to a closed run also say "not found": tell a finished remediation from an unknown one.
      const closed = await handle.describe().then(
        (d) => d.status.name !== 'RUNNING',
        () => false,
      );
      if (closed) return { ok: false, message: 'Not accepted: this remediation has already finished; nothing was changed' };
      return { ok: false, message: `Not accepted: no remediation ${target.workflowId}${target.runId ? ` (run ${target.runId})` : ''}` };
    }
    const msg = (err as Error).message ?? '';
    if (/already completed|already finished|workflow execution.*(completed|closed)/i.test(msg)) {
      return { ok: false, message: 'Not accepted: this remediation has already finished; nothing was changed' };
    }
    throw err;
  }
}
