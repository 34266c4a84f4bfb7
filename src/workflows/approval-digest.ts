import { condition, continueAsNew, defineQuery, defineSignal, proxyLocalActivities, setHandler, workflowInfo, type LocalActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { MessageRef } from '../activities/slack.js';
import type { ControlId } from '../findings/finding.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import type { HeldSummary } from '../slack/blocks.js';

/** Input of `approvalDigest`: one control, one UTC hour. */
export interface DigestInput {
  readonly control: ControlId;
  /** The hour the fixes were held in (`hourOf`). */
  readonly hour: { readonly key: string; readonly start: string; readonly end: string };
  readonly taskQueue: string;
  readonly channel?: string;
  readonly policyHash: string;
  /** What happens to a held fix nobody decides (from the policy's ladder), for the message. */
  readonly timeoutAfterMs: number;
  readonly timeoutAction: 'reject' | 'apply';
  /** Carried across continue-as-new. */
  readonly carried?: { readonly message: MessageRef | null; readonly last?: HeldSummary };
}

export interface DigestResult {
  readonly control: ControlId;
  readonly hour: string;
  readonly message: MessageRef | null;
  readonly last?: HeldSummary;
}

/** Ask the digest to re-read the held fixes now (after a bulk decision). */
export const refreshDigest = defineSignal('refreshDigest');
export const getDigest = defineQuery<HeldSummary | undefined>('getDigest');

/** While the hour lasts new fixes may be held: refresh often. After it, only decisions change the count. */
const REFRESH_IN_HOUR_MS = 60_000;
const REFRESH_AFTER_MS = 15 * 60_000;
/** Continue as new after this many refreshes, so the history stays small over a day of waiting. */
const REFRESHES_PER_RUN = 100;

const ACTS: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};

/**
 * The digest of the automatic fixes of one control that its hourly budget held in one hour
 * (workflow id `digest/<task queue>/<control>/<hour>`): instead of one approval request per held
 * fix, one Slack message, updated in place, says how many are held, for which accounts and
 * resources, with "Approve all held" / "Reject all held". It reads the held fixes from Temporal
 * visibility (nothing reports to it, so it is on no finding's path) and ends once the hour is
 * over and none is left waiting.
 */
export async function approvalDigest(input: DigestInput): Promise<DigestResult> {
  const acts = proxyLocalActivities<Activities>(ACTS);
  let message = input.carried?.message ?? null;
  let last = input.carried?.last;
  let refreshAsked = false;
  setHandler(refreshDigest, () => void (refreshAsked = true));
  setHandler(getDigest, () => last);
  const digestId = workflowInfo().workflowId;

  for (let i = 0; i < REFRESHES_PER_RUN; i++) {
    const summary = await acts.readHeldFixes.executeWithOptions({ ...ACTS, summary: 'Read the held fixes from visibility' }, [{ control: input.control, taskQueue: input.taskQueue, hour: input.hour }]);
    if (!last || summary.held !== last.held || summary.total !== last.total) {
      message = await acts
        .postDigest({ digestId, control: input.control, hour: input.hour, ...(input.channel ? { channel: input.channel } : {}), timeoutAfterMs: input.timeoutAfterMs, timeoutAction: input.timeoutAction }, summary, message)
        .catch(() => message);
    }
    last = summary;
    const hourOver = Date.now() >= Date.parse(input.hour.end);
    if (hourOver && summary.held === 0) return { control: input.control, hour: input.hour.key, message, last };
    refreshAsked = false;
    await condition(() => refreshAsked, hourOver ? REFRESH_AFTER_MS : REFRESH_IN_HOUR_MS);
  }
  return continueAsNew<typeof approvalDigest>({ ...input, carried: { message, ...(last ? { last } : {}) } });
}
