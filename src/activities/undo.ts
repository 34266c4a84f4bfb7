import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { UndoWindowInput, undoWindow } from '../workflows/undo-window.js';
import { findingSearchAttributes } from '../workflows/search-attributes.js';
import type { RemediationInput, RemediationRecord } from '../workflows/messages.js';
import type { TrustedKey } from '../decisions/signed.js';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';

/** The keys a remediation trusts for decisions about it (its policy snapshot's). */
export interface DecisionTrust {
  readonly relayKeys: readonly TrustedKey[];
  readonly operatorKeys: readonly TrustedKey[];
  /** Who may decide from Slack (users and groups, as listed). */
  readonly approvers: { readonly users: readonly string[]; readonly groups: readonly string[] };
}

/** Workflow id of the undo window of a remediation; one per resource at a time. */
export const undoWorkflowId = (remediationWorkflowId: string) => `undo/${remediationWorkflowId}`;

export function createUndoActivities(d: { client: Client; taskQueue: string }) {
  return {
    /**
     * The evidence record of a completed remediation run, and which run of its workflow id is the
     * latest (a newer fix replaces an older one's undo). No record when the run has not completed.
     */
    async loadRemediation(remediation: { workflowId: string; runId: string }): Promise<{ record?: RemediationRecord; latestRunId?: string; trust?: DecisionTrust }> {
      const handle = d.client.workflow.getHandle(remediation.workflowId, remediation.runId);
      const found = <T>(p: Promise<T>) => p.catch((err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err)));
      const [run, latest] = await Promise.all([found(handle.describe()), found(d.client.workflow.getHandle(remediation.workflowId).describe())]);
      if (!run || !latest) return {};
      if (run.status.name !== 'COMPLETED') return { latestRunId: latest.runId };
      const trust = await trustOf(remediation);
      return { record: (await handle.result()) as RemediationRecord, latestRunId: latest.runId, ...(trust ? { trust } : {}) };
    },

    /**
     * Opens the undo window of a verified fix as its own workflow, replacing the window of an
     * older fix of the same resource (undoing that one would restore an even older state).
     * A retry of this activity whose first attempt opened the window (and lost the answer) finds
     * it by the remediation run in its memo and leaves it be: the window of this very fix is never
     * terminated, and its Undo offer is posted once. Returns its workflow id.
     */
    async openUndoWindow(input: UndoWindowInput): Promise<string> {
      const workflowId = undoWorkflowId(input.remediation.workflowId);
      const open = (conflict: 'FAIL' | 'TERMINATE_EXISTING') => start(workflowId, input, conflict);
      try {
        await open('FAIL');
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const running = await d.client.workflow.getHandle(workflowId).describe();
        if (running.memo?.[UNDO_WINDOW_MEMO] === input.remediation.runId) return workflowId;
        await open('TERMINATE_EXISTING');
      }
      return workflowId;
    },
  };

  /**
   * The keys the remediation itself trusts for decisions: those of the policy snapshot in its own
   * input (its first history event), never those of whoever asks for the undo. Undefined for runs
   * whose snapshot predates signed decisions.
   */
  async function trustOf(remediation: { workflowId: string; runId: string }): Promise<DecisionTrust | undefined> {
    const page = await d.client.workflowService.getWorkflowExecutionHistory({ namespace: d.client.options.namespace, execution: remediation, maximumPageSize: 1 });
    const payloads = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    const input = await decodeFromPayloadsAtIndex<RemediationInput>(d.client.options.loadedDataConverter, 0, payloads);
    const p = input?.policy;
    if (!p?.decisionRelays) return undefined;
    return { relayKeys: p.decisionRelays, operatorKeys: p.control.approvers.keys ?? [], approvers: { users: p.control.approvers.users, groups: p.control.approvers.groups } };
  }

  async function start(workflowId: string, input: UndoWindowInput, conflict: 'FAIL' | 'TERMINATE_EXISTING'): Promise<void> {
    await d.client.workflow.start<typeof undoWindow>('undoWindow', {
      workflowId,
      taskQueue: d.taskQueue,
      args: [input],
      memo: { [UNDO_WINDOW_MEMO]: input.remediation.runId },
      workflowIdConflictPolicy: conflict,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `Undo window: ${input.change.summary}`,
      typedSearchAttributes: findingSearchAttributes(input.finding, input.policy.hash),
    });
  }
}

/** Memo of an undo window: the remediation run whose fix it offers to take back. */
const UNDO_WINDOW_MEMO = 'remediationRunId';
