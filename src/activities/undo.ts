import type { Client } from '@temporalio/client';
import type { UndoWindowInput, undoWindow } from '../workflows/undo-window.js';
import { SearchAttr } from '../workflows/search-attributes.js';

/** Workflow id of the undo window of a remediation; one per resource at a time. */
export const undoWorkflowId = (remediationWorkflowId: string) => `undo/${remediationWorkflowId}`;

export function createUndoActivities(d: { client: Client; taskQueue: string }) {
  return {
    /**
     * Opens the undo window of a verified fix as its own workflow, replacing the window of an
     * older fix of the same resource (undoing that one would restore an even older state).
     * Returns its workflow id.
     */
    async openUndoWindow(input: UndoWindowInput): Promise<string> {
      const workflowId = undoWorkflowId(input.remediation.workflowId);
      const f = input.finding;
      await d.client.workflow.start<typeof undoWindow>('undoWindow', {
        workflowId,
        taskQueue: d.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'TERMINATE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `Undo window: ${input.change.summary}`,
        typedSearchAttributes: [
          { key: SearchAttr.FindingId, value: f.id },
          { key: SearchAttr.Control, value: f.control },
          { key: SearchAttr.Resource, value: f.resource.id },
          { key: SearchAttr.Account, value: f.account },
          { key: SearchAttr.Region, value: f.region },
          { key: SearchAttr.Severity, value: f.severity },
          { key: SearchAttr.PolicyHash, value: input.policy.hash },
        ],
      });
      return workflowId;
    },
  };
}
