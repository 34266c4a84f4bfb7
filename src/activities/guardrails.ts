import { activityInfo } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { GuardrailVerdict } from '../policy/decide.js';
import type { FixRequest } from '../workflows/messages.js';
import { requestFix } from '../workflows/messages.js';
import type { fixLedger } from '../workflows/fix-ledger.js';

export interface GuardrailDeps {
  readonly client: Client;
  /** Task queue the ledger workflows run on (the worker's own). */
  readonly taskQueue: string;
}

/** Workflow id of a control's guardrail ledger; one per deployment (task queue) and control. */
export const ledgerWorkflowId = (taskQueue: string, control: string) => `fix-ledger/${taskQueue}/${control}`;

export function createGuardrailActivities({ client, taskQueue }: GuardrailDeps) {
  return {
    /**
     * Asks the control's ledger whether a fix of `resource` may run now (flap detection, hourly
     * budget), starting the ledger if it is not running. An allowed request is recorded unless
     * `dryRun`. Retried on any failure: a guardrail that cannot be consulted never lets a fix through.
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
