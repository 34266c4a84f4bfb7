import { ActivityFailure, ApplicationFailure, continueAsNew, defineQuery, log, patched, proxyActivities, setHandler, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import { CONTROL_IDS, ControlId, type Finding } from '../findings/finding.js';
import { scanFinding } from '../findings/scan.js';
import { failureReason } from './failure.js';
import type { ScanPage } from '../activities/controls/control.js';

export interface ScanTotals {
  readonly scanned: number;
  readonly violations: number;
  readonly started: number;
  readonly joined: number;
  readonly pages: number;
  /** Workflow runs this scan took (continue-as-new keeps each history small). */
  readonly runs: number;
  /** Resources, or whole control and region pairs, that could not be read (the scan went on). */
  readonly unreadable?: number;
  /** The first `MAX_PROBLEMS` of them, with the reason. */
  readonly problems?: readonly ScanProblem[];
}

/** Something a scan could not read, and why: one resource, or a whole control in a region (no resourceId). */
export interface ScanProblem {
  readonly control: ControlId;
  readonly region: string;
  readonly resourceId?: string;
  readonly reason: string;
}

/** Problems kept in a scan's result (all are counted): enough to act on, small enough for history. */
export const MAX_PROBLEMS = 50;

/** The patch after which a control and region that cannot be read is recorded and the scan goes on (before, the scan failed). */
export const SCAN_GOES_ON_PATCH = 'scan-goes-on-1';

export interface ScanCursor {
  readonly controlIdx: number;
  readonly regionIdx: number;
  readonly pageToken?: string;
}

export interface ScanInput {
  /** The account to scan (its member role is assumed when one is configured); default: the worker's own (STS GetCallerIdentity). */
  readonly account?: string;
  readonly regions: readonly string[];
  /** Default: every control the worker knows (before the `scan-controls-listed-1` patch: the first six). */
  readonly controls?: readonly ControlId[];
  /** Which of `controls` are global (scanned once, in the first region); default: as the worker's registry says. */
  readonly globalControls?: readonly ControlId[];
  /** Resources per page read from AWS. Default 100. */
  readonly pageSize?: number;
  /** Findings started per activity call: the fan-out is bounded to this. Default 25. */
  readonly batchSize?: number;
  /** Continue as new after this many pages. Default 50. */
  readonly pagesPerRun?: number;
  /** Carried across continue-as-new; absent on the first run. */
  readonly progress?: { readonly account: string; readonly startedAt: string; readonly cursor: ScanCursor; readonly totals: ScanTotals };
}

export interface ScanResult extends ScanTotals {
  readonly account: string;
  readonly scanId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
}

export const getScanProgress = defineQuery<ScanTotals & { cursor: ScanCursor }>('getScanProgress');

const READ: ActivityOptions = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};

/** IAM is global: scanned once, in the first region. (The first six controls' globals; the registry says for any.) */
export const GLOBAL_CONTROLS: readonly ControlId[] = [ControlId.IamUserConsoleMfa];

/** The patch after which a scan with no list of controls asks the worker's registry (listControls) instead of taking the first six. */
export const CONTROLS_LISTED_PATCH = 'scan-controls-listed-1';

/**
 * The controls a scan covers and which are global: the input's; else the worker's registry, asked
 * once (behind the patch: a list given without its globals is completed the same way); else, as
 * scans recorded before the patch did, the first six.
 */
export async function scanControls(
  input: { readonly controls?: readonly ControlId[]; readonly globalControls?: readonly ControlId[] },
  acts: Pick<Activities, 'listControls'>,
): Promise<{ controls: readonly ControlId[]; globals: readonly ControlId[] }> {
  if (input.controls !== undefined && input.globalControls !== undefined) return { controls: input.controls, globals: input.globalControls };
  if (!patched(CONTROLS_LISTED_PATCH)) return { controls: input.controls ?? CONTROL_IDS, globals: GLOBAL_CONTROLS };
  const listed = await acts.listControls();
  return { controls: input.controls ?? listed.map((c) => c.id), globals: listed.filter((c) => c.global).map((c) => c.id) };
}

/**
 * A scan of the account for drift no event announced: lists each control's resources in each
 * region page by page, and starts (or joins) `remediateFinding` for every violation with the same
 * workflow ids as the webhook path. The policy, scope, dry-run and guardrails apply exactly as
 * for webhook findings, because the findings go through the same workflow. Continues as new every
 * `pagesPerRun` pages so its history stays small however large the account.
 */
export async function scanAccount(input: ScanInput): Promise<ScanResult> {
  const info = workflowInfo();
  const acts = proxyActivities<Activities>(READ);
  const { controls, globals } = await scanControls(input, acts);
  const pageSize = input.pageSize ?? 100;
  const batchSize = input.batchSize ?? 25;
  const pagesPerRun = input.pagesPerRun ?? 50;
  const firstRegion = input.regions[0];
  if (!firstRegion) throw new Error('a scan needs at least one region');

  const account = input.progress?.account ?? input.account ?? (await acts.whoAmI(firstRegion));
  const startedAt = input.progress?.startedAt ?? new Date().toISOString();
  const scanId = info.firstExecutionRunId;
  let totals: ScanTotals = input.progress?.totals ?? { scanned: 0, violations: 0, started: 0, joined: 0, pages: 0, runs: 0 };
  totals = { ...totals, runs: totals.runs + 1 };
  let cursor: ScanCursor = input.progress?.cursor ?? { controlIdx: 0, regionIdx: 0 };
  setHandler(getScanProgress, () => ({ ...totals, cursor }));

  let pagesThisRun = 0;
  for (; cursor.controlIdx < controls.length; cursor = { controlIdx: cursor.controlIdx + 1, regionIdx: 0 }) {
    const control = controls[cursor.controlIdx]!;
    const regions = globals.includes(control) ? [firstRegion] : input.regions;
    for (; cursor.regionIdx < regions.length; cursor = { controlIdx: cursor.controlIdx, regionIdx: cursor.regionIdx + 1 }) {
      const region = regions[cursor.regionIdx]!;
      for (;;) {
        if (pagesThisRun >= pagesPerRun || info.continueAsNewSuggested) {
          // The list travels on: the cursor indexes into it.
          return continueAsNew<typeof scanAccount>({ ...input, controls, globalControls: globals, progress: { account, startedAt, cursor, totals } });
        }
        let page: ScanPage;
        try {
          page = await acts.scanControlPage({ control, account, region, pageSize, ...(cursor.pageToken ? { pageToken: cursor.pageToken } : {}) });
        } catch (err) {
          // Access denied, a region not enabled, an account whose role is missing: recorded, and on to the next.
          if (!patched(SCAN_GOES_ON_PATCH) || !(err instanceof ActivityFailure)) throw err;
          // No way into the account at all: the whole scan of it fails, saying why.
          if (err.cause instanceof ApplicationFailure && err.cause.type === ErrorType.MemberRoleUnavailable) throw err;
          const reason = failureReason(err);
          log.warn('scan: could not read a control in a region; going on', { control, region, reason });
          totals = withProblems(totals, [{ control, region, reason }]);
          pagesThisRun++;
          cursor = { controlIdx: cursor.controlIdx, regionIdx: cursor.regionIdx };
          break;
        }
        pagesThisRun++;
        const observedAt = new Date().toISOString();
        const findings: Finding[] = page.violations.map((v) => scanFinding(control, account, region, v, observedAt, scanId, page.resourceType));
        let started = 0;
        let joined = 0;
        for (let i = 0; i < findings.length; i += batchSize) {
          const results = await acts.submitFindings(findings.slice(i, i + batchSize));
          started += results.filter((r) => r.status === 'started').length;
          joined += results.filter((r) => r.status === 'joined').length;
        }
        if (page.unreadable?.length) totals = withProblems(totals, page.unreadable.map((u) => ({ control, region, resourceId: u.resourceId, reason: u.reason })));
        totals = {
          ...totals,
          scanned: totals.scanned + page.scanned,
          violations: totals.violations + findings.length,
          started: totals.started + started,
          joined: totals.joined + joined,
          pages: totals.pages + 1,
        };
        if (!page.nextPageToken) {
          cursor = { controlIdx: cursor.controlIdx, regionIdx: cursor.regionIdx };
          break;
        }
        cursor = { ...cursor, pageToken: page.nextPageToken };
      }
    }
  }
  return { ...totals, account, scanId, startedAt, finishedAt: new Date().toISOString() };
}

function withProblems(totals: ScanTotals, found: readonly ScanProblem[]): ScanTotals {
  const kept = [...(totals.problems ?? []), ...found].slice(0, MAX_PROBLEMS);
  return { ...totals, unreadable: (totals.unreadable ?? 0) + found.length, problems: kept };
}
