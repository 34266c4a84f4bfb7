import { activityInfo } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { GuardrailVerdict } from '../policy/decide.js';
import type { FixRequest } from '../workflows/messages.js';
import { requestFix } from '../workflows/messages.js';
import type { fixLedger } from '../workflows/fix-ledger.js';
import type { approvalDigest, DigestInput } from '../workflows/approval-digest.js';
import { SearchAttr } from '../workflows/search-attributes.js';
import { autoFixesSinceQuery } from '../workflows/queries.js';

export interface GuardrailDeps {
  readonly client: Client;
  /** Task queue the remediations of this deployment run on (the worker's own). */
  readonly taskQueue: string;
}

/** Workflow id of a control's guardrail ledger (runs started before the lean path only); one per deployment and control. */
export const ledgerWorkflowId = (taskQueue: string, control: string) => `fix-ledger/${taskQueue}/${control}`;

/** Workflow id of the digest of the fixes of `control` held by its budget in the UTC hour `hourKey` (e.g. 2026-11-25T16). */
export const digestWorkflowId = (taskQueue: string, control: string, hourKey: string) => `digest/${taskQueue}/${control}/${hourKey}`;

export function createGuardrailActivities({ client, taskQueue }: GuardrailDeps) {
  /** Digests this process made sure of lately (a start with USE_EXISTING is idempotent; this only saves the call). */
  const digestsStarted = new Map<string, number>();
  return {
    /**
     * How many automatic fixes `control` made since `since` in this deployment, from Temporal
     * visibility (the `AutoFixedAt` search attribute of each fix). Read-only; no shared state.
     */
    async countAutoFixes(control: string, since: string): Promise<number> {
      return (await client.workflow.count(autoFixesSinceQuery(taskQueue, control, since))).count;
    },

    /**
     * Makes sure the digest of `input.control`'s held fixes for the hour is running (starts it,
     * or finds it running). The held remediation itself posts nothing: one digest per control and
     * hour speaks for all of them.
     */
    async ensureDigest(input: DigestInput): Promise<string> {
      const workflowId = digestWorkflowId(taskQueue, input.control, input.hour.key);
      if (Date.now() - (digestsStarted.get(workflowId) ?? 0) < 5 * 60_000) return workflowId;
      await client.workflow.start<typeof approvalDigest>('approvalDigest', {
        workflowId,
        taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: `Fixes of ${input.control} held by the hourly budget, ${input.hour.key}:00 UTC`,
        typedSearchAttributes: [{ key: SearchAttr.Control, value: input.control }],
      });
      digestsStarted.set(workflowId, Date.now());
      return workflowId;
    },

    /**
     * Runs started before the lean path only: asks the control's ledger workflow whether a fix of
     * `resource` may run now, starting the ledger if it is not running. Retried on any failure.
     */
    async requestFixSlot(control: string, req: FixRequest): Promise<GuardrailVerdict> {
      const startWorkflowOperation = new WithStartWorkflowOperation<typeof fixLedger>('fixLedger', {
        workflowId: ledgerWorkflowId(taskQueue, control),
        taskQueue,
        args: [{ grants: [] }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: `Guardrail ledger of ${control}`,
      });
      // One id per asking activity: a retry after a lost answer is the same request, not a second grant.
      const info = activityInfo();
      const updateId = `${info.workflowExecution?.workflowId ?? 'unknown'}/${info.workflowExecution?.runId ?? ''}/${info.activityId}`;
      return client.workflow.executeUpdateWithStart(requestFix, { args: [req], startWorkflowOperation, updateId });
    },
  };
}
