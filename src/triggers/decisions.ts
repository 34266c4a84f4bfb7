import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { decideRemediation, undoRemediation, type DecisionAck, type DecisionRequest, type UndoAck, type UndoRequest } from '../workflows/messages.js';

export type UpdateOutcome<T> = { readonly ok: true; readonly ack: T } | { readonly ok: false; readonly message: string };
export type DecisionOutcome = UpdateOutcome<DecisionAck>;

type Target = { readonly workflowId: string; readonly runId?: string };

/**
 * Sends a person's request (approve/reject, undo) to a remediation as a Temporal Update and says,
 * in words a person can act on, why it was refused: already decided, not waiting, not an
 * approver, finished, unknown. `updateId` dedupes retries of the same click. Throws only when
 * Temporal itself cannot be reached.
 */
async function sendUpdate<Ret, Arg>(client: Client, target: Target, def: UpdateDefinition<Ret, [Arg]>, arg: Arg, updateId?: string): Promise<UpdateOutcome<Ret>> {
  const handle = client.workflow.getHandle(target.workflowId, target.runId);
  try {
    const ack = await handle.executeUpdate(def, { args: [arg], ...(updateId ? { updateId } : {}) });
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
    throw err;
  }
}

/** Approves or rejects a remediation waiting for a person. */
export function sendDecision(client: Client, target: Target, req: DecisionRequest, updateId?: string): Promise<DecisionOutcome> {
  return sendUpdate(client, target, decideRemediation, req, updateId);
}

/** Takes a verified fix back while its undo window is open. */
export function sendUndo(client: Client, target: Target, req: UndoRequest, updateId?: string): Promise<UpdateOutcome<UndoAck>> {
  return sendUpdate(client, target, undoRemediation, req, updateId);
}
