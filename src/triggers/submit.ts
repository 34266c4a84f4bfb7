import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { describeFinding, workflowIdFor, type Finding } from '../findings/finding.js';
import { recordObservation, RESOURCE_MEMO, type FindingObservation, type RemediationInput, type ResourceMemory } from '../workflows/messages.js';
import { findingSearchAttributes, SearchAttr } from '../workflows/search-attributes.js';
import { snapshotFor } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import type { remediateFinding } from '../workflows/remediate-finding.js';
import type { ScanInput, scanAccount } from '../workflows/scan-account.js';
import type { ScanRequest } from '../findings/validate.js';
import { getControl } from '../activities/controls/index.js';

export type SubmitStatus =
  /** A new remediation workflow was started for the finding. */
  | 'started'
  /** A remediation for the same finding was already running; this delivery was recorded in it. */
  | 'joined'
  /** A resolved/passed event recorded in the running remediation (it closes nothing by itself). */
  | 'recorded'
  /** A resolved/passed event with no remediation running: nothing to record it in. */
  | 'ignored';

export interface SubmitResult {
  readonly findingId: string;
  readonly workflowId: string;
  readonly runId?: string;
  readonly status: SubmitStatus;
}

/** A scan an account-level finding asked for: started, or one for the same control, account and region already running. */
export interface ScanRequestResult {
  readonly control: string;
  readonly account: string;
  readonly region: string;
  readonly workflowId: string;
  readonly runId?: string;
  readonly status: 'started' | 'joined';
}

export interface Submitter {
  submit(finding: Finding, receivedAt?: Date): Promise<SubmitResult>;
  /** Starts the scan an account-level finding asks for (one per control, account and region at a time). */
  requestScan(request: ScanRequest): Promise<ScanRequestResult>;
}

/**
 * The workflow id of the scan an account-level finding starts: one per control, account and
 * region runs at a time, so a burst of such findings across an Organization (one per account
 * and region, delivered again every evaluation) starts each scan once.
 */
export const scanRequestWorkflowId = (r: Pick<ScanRequest, 'control' | 'account' | 'region'>) => `scan-request/${r.account}/${r.region}/${r.control}`;

/**
 * Starts (or joins) the one remediation workflow of a finding. The workflow id is derived from
 * the finding, so redeliveries and other sources of the same finding meet in one workflow and
 * never fix twice. Throws when Temporal cannot be reached (callers answer 503 so senders retry).
 */
export function createSubmitter(client: Client, opts: { taskQueue: string; verifyDeadlineMs: number; policy: Policy }): Submitter {
  const observe = (f: Finding, receivedAt: Date): FindingObservation => ({
    findingId: f.id,
    source: f.source,
    state: f.state,
    observedAt: f.observedAt,
    receivedAt: receivedAt.toISOString(),
  });

  /** A start that fails while a run of the id is open (the caller joins it), and starts anew once it closed. */
  const oneRunAtATime = (workflowId: string) => ({ workflowId, taskQueue: opts.taskQueue, workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'ALLOW_DUPLICATE' }) as const;

  return {
    async requestScan(request) {
      const workflowId = scanRequestWorkflowId(request);
      const base = { control: request.control, account: request.account, region: request.region, workflowId };
      const input: ScanInput = {
        account: request.account,
        regions: [request.region],
        controls: [request.control],
        globalControls: getControl(request.control)?.catalog.global ? [request.control] : [],
      };
      try {
        const started = await client.workflow.start<typeof scanAccount>('scanAccount', {
          ...oneRunAtATime(workflowId),
          args: [input],
          staticSummary: `Scan ${request.control} in ${request.account} ${request.region}: ${request.reason}`,
        });
        return { ...base, runId: started.firstExecutionRunId, status: 'started' };
      } catch (err) {
        // The same scan is running: it covers this finding too.
        if (err instanceof WorkflowExecutionAlreadyStartedError) return { ...base, status: 'joined' };
        throw err;
      }
    },

    async submit(finding, receivedAt = new Date()) {
      const workflowId = workflowIdFor(finding);
      const base = { findingId: finding.id, workflowId };
      if (finding.state === 'resolved') {
        try {
          const handle = client.workflow.getHandle(workflowId);
          await handle.signal(recordObservation, observe(finding, receivedAt));
          return { ...base, status: 'recorded' };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return { ...base, status: 'ignored' };
          throw err;
        }
      }
      // The latest run of this finding's workflow id (strongly consistent): join it while it runs;
      // otherwise start a new run carrying the resource's memory (recent fixes, a held rejection).
      for (let attempt = 0; ; attempt++) {
        const handle = client.workflow.getHandle(workflowId);
        const latest = await handle.describe().catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return undefined;
          throw err;
        });
        if (latest?.status.name === 'RUNNING') {
          try {
            await handle.signal(recordObservation, observe(finding, receivedAt));
            return { ...base, runId: latest.runId, status: 'joined' };
          } catch (err) {
            // It closed in between: start a new run.
            if (!(err instanceof WorkflowNotFoundError) || attempt >= 2) throw err;
            continue;
          }
        }
        const previous = latest?.memo?.[RESOURCE_MEMO] as ResourceMemory | undefined;
        const input: RemediationInput = {
          finding,
          receivedAt: receivedAt.toISOString(),
          verifyDeadlineMs: opts.verifyDeadlineMs,
          policy: snapshotFor(opts.policy, finding.control, finding.account),
          ...(previous ? { previous } : {}),
        };
        try {
          const started = await client.workflow.start<typeof remediateFinding>('remediateFinding', {
            ...oneRunAtATime(workflowId),
            args: [input],
            staticSummary: `Remediate ${describeFinding(finding)}`,
            typedSearchAttributes: [...findingSearchAttributes(finding, opts.policy.hash), { key: SearchAttr.Status, value: 'Triaging' }],
          });
          return { ...base, runId: started.firstExecutionRunId, status: 'started' };
        } catch (err) {
          // Started by another delivery in between: join that one.
          if (!(err instanceof WorkflowExecutionAlreadyStartedError) || attempt >= 2) throw err;
        }
      }
    },
  };
}
