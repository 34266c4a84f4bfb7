import { ChildWorkflowFailure, executeChild, log, proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import type { ControlId } from '../findings/finding.js';
import { failureReason } from './failure.js';
import { scanAccount, scanControls, type ScanProblem, type ScanResult } from './scan-account.js';

export interface OrgScanInput {
  /** Account ids, or `organization` for every active account of the AWS Organization (listed from the hub). */
  readonly accounts: readonly string[] | 'organization';
  readonly regions: readonly string[];
  /** Default: every control. */
  readonly controls?: readonly ControlId[];
  readonly pageSize?: number;
  readonly batchSize?: number;
  /** Account and region scans running at once. Default 4. */
  readonly concurrency?: number;
}

/** What the scan of one account in one region did: scanned, found, and what it could not read. */
export interface AccountRegionScan {
  readonly account: string;
  readonly region: string;
  readonly workflowId: string;
  /** `failed`: the scan of this account and region stopped (the reason says why); the others went on. */
  readonly status: 'scanned' | 'failed';
  readonly scanned: number;
  readonly violations: number;
  readonly started: number;
  readonly joined: number;
  readonly unreadable: number;
  readonly problems: readonly ScanProblem[];
  readonly reason?: string;
}

export interface OrgScanResult {
  readonly scanId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly accounts: readonly string[];
  readonly regions: readonly string[];
  readonly scans: readonly AccountRegionScan[];
  readonly totals: { readonly scanned: number; readonly violations: number; readonly started: number; readonly joined: number; readonly unreadable: number; readonly failed: number };
}

const LIST: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};

/** Workflow id of the scan of one account and region within an organization scan. */
export const accountScanWorkflowId = (parentWorkflowId: string, account: string, region: string) => `${parentWorkflowId}/${account}/${region}`;

/**
 * A scan of many accounts: one `scanAccount` child workflow per account and region, at most
 * `concurrency` at a time, each acting in its account through the member role. One slow, denied
 * or missing account never stops the others: a child that fails is recorded with its reason.
 * Global controls (IAM) are scanned once per account, in the first region.
 */
export async function scanOrganization(input: OrgScanInput): Promise<OrgScanResult> {
  const info = workflowInfo();
  const startedAt = new Date().toISOString();
  const acts = proxyActivities<Activities>(LIST);
  const accounts = input.accounts === 'organization' ? await acts.listOrganizationAccounts() : [...input.accounts];
  const { controls, globals } = await scanControls(input, acts);
  const concurrency = Math.max(1, input.concurrency ?? 4);
  const jobs = accounts.flatMap((account) =>
    input.regions.map((region, i) => ({ account, region, controls: i === 0 ? controls : controls.filter((c) => !globals.includes(c)) })),
  );

  const scans: AccountRegionScan[] = [];
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const workflowId = accountScanWorkflowId(info.workflowId, job.account, job.region);
      const base = { account: job.account, region: job.region, workflowId };
      if (job.controls.length === 0) continue;
      try {
        const r: ScanResult = await executeChild(scanAccount, {
          workflowId,
          args: [{ account: job.account, regions: [job.region], controls: job.controls, globalControls: globals.filter((c) => job.controls.includes(c)), ...(input.pageSize ? { pageSize: input.pageSize } : {}), ...(input.batchSize ? { batchSize: input.batchSize } : {}) }],
          staticSummary: `Scan ${job.account} in ${job.region}`,
        });
        scans.push({ ...base, status: 'scanned', scanned: r.scanned, violations: r.violations, started: r.started, joined: r.joined, unreadable: r.unreadable ?? 0, problems: r.problems ?? [] });
      } catch (err) {
        if (!(err instanceof ChildWorkflowFailure)) throw err;
        const reason = failureReason(err);
        log.warn('organization scan: one account and region failed; going on', { account: job.account, region: job.region, reason });
        scans.push({ ...base, status: 'failed', scanned: 0, violations: 0, started: 0, joined: 0, unreadable: 0, problems: [], reason });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, jobs.length)) }, lane));

  // In job order, whatever order they finished in.
  const order = new Map(jobs.map((j, i) => [`${j.account}/${j.region}`, i]));
  scans.sort((a, b) => (order.get(`${a.account}/${a.region}`) ?? 0) - (order.get(`${b.account}/${b.region}`) ?? 0));
  const sum = (k: 'scanned' | 'violations' | 'started' | 'joined' | 'unreadable') => scans.reduce((n, s) => n + s[k], 0);
  return {
    scanId: info.firstExecutionRunId,
    startedAt,
    finishedAt: new Date().toISOString(),
    accounts,
    regions: [...input.regions],
    scans,
    totals: { scanned: sum('scanned'), violations: sum('violations'), started: sum('started'), joined: sum('joined'), unreadable: sum('unreadable'), failed: scans.filter((s) => s.status === 'failed').length },
  };
}
