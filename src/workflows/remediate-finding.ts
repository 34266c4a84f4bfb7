import {
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities, PlannedChange, Triage } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import {
  getStatus,
  recordObservation,
  type FindingObservation,
  type RemediationInput,
  type RemediationRecord,
} from './messages.js';
import { RemediationStatus, SearchAttr } from './search-attributes.js';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];

/** Reads of live resources: quick, retried with backoff on throttling and outages, for at most 10 minutes. */
const READ: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes },
};
/** The fix itself: idempotent (re-reads, then applies only what is still needed). */
const WRITE: ActivityOptions = { ...READ, startToCloseTimeout: '1m' };

/**
 * One finding, start to finish: triage the live resource, fix it, verify the fix holds, and
 * return the evidence record. Fails (with the record in the failure details) when the fix
 * cannot be applied or does not hold; permanent AWS errors fail at once, transient ones are retried.
 */
export async function remediateFinding(input: RemediationInput): Promise<RemediationRecord> {
  const { finding } = input;
  const info = workflowInfo();
  const reads = proxyActivities<Activities>(READ);
  const writes = proxyActivities<Activities>(WRITE);
  const verifier = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: input.verifyDeadlineMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s', nonRetryableErrorTypes },
  });

  let status: RemediationStatus = RemediationStatus.Triaging;
  let planned: PlannedChange | null = null;
  const observations: FindingObservation[] = [];
  setHandler(getStatus, () => ({ status, observations: observations.length, plannedChange: planned?.summary ?? null }));
  setHandler(recordObservation, (o) => {
    observations.push(o);
  });

  const setStatus = (s: RemediationStatus) => {
    status = s;
    upsertSearchAttributes([{ key: SearchAttr.Status, value: s }]);
  };
  const now = () => new Date().toISOString();
  const base = {
    findingId: finding.id,
    workflowId: info.workflowId,
    runId: info.runId,
    control: finding.control,
    resource: finding.resource,
    account: finding.account,
    region: finding.region,
    severity: finding.severity,
    source: finding.source,
    observations,
  };
  const times: { detected: string; received: string; triaged?: string; fixed?: string; verified?: string } = {
    detected: finding.observedAt,
    received: input.receivedAt,
  };
  let triage: Triage | undefined;
  let change: RemediationRecord['change'];
  let before: unknown;

  const fail = (err: unknown): never => {
    const reason = failureReason(err);
    setStatus(RemediationStatus.Failed);
    const record: RemediationRecord = {
      ...base,
      outcome: 'failed',
      reason,
      ...(triage ? { tags: triage.tags, before: triage.before } : {}),
      ...(change ? { change } : {}),
      timestamps: { ...times, closed: now() },
    };
    log.warn('remediation failed', { reason });
    throw ApplicationFailure.create({ type: 'RemediationFailed', message: reason, nonRetryable: true, details: [record] });
  };

  setStatus(RemediationStatus.Triaging);
  try {
    triage = await reads.triageFinding(finding);
  } catch (err) {
    return fail(err);
  }
  times.triaged = triage.readAt;
  before = triage.before;
  planned = triage.plannedChange;

  if (triage.compliant || planned === null) {
    setStatus(RemediationStatus.AlreadyCompliant);
    return {
      ...base,
      outcome: 'already-compliant',
      tags: triage.tags,
      before,
      after: before,
      timestamps: { ...times, closed: now() },
    };
  }

  setStatus(RemediationStatus.Remediating);
  try {
    const fix = await writes.applyFix(finding);
    times.fixed = fix.at;
    if (fix.applied && fix.change) {
      before = fix.before;
      change = { ...fix.change, applied: true };
    } else {
      // Compliant by the time the fix ran: nothing applied now; verify what triage planned.
      const note =
        fix.attempt > 1
          ? `already compliant on re-read at attempt ${fix.attempt}: applied by an earlier attempt whose result was lost, or by someone else`
          : 'already compliant on re-read: fixed by someone else after triage';
      change = { ...planned, applied: false, note };
    }
  } catch (err) {
    return fail(err);
  }

  setStatus(RemediationStatus.Verifying);
  let after: unknown;
  try {
    const v = await verifier.verifyFix(finding, before, change);
    after = v.after;
    times.verified = v.at;
  } catch (err) {
    return fail(err);
  }

  setStatus(RemediationStatus.Remediated);
  return {
    ...base,
    outcome: 'remediated',
    tags: triage.tags,
    before,
    after,
    change,
    timestamps: { ...times, closed: now() },
  };
}

/** The most specific message in a failure chain, prefixed by its catalogue type. */
function failureReason(err: unknown): string {
  let e: unknown = err;
  let best: string | undefined;
  while (e instanceof Error) {
    if (e instanceof ApplicationFailure) best = `${e.type ?? 'Error'}: ${e.message}`;
    else if (!(e instanceof ActivityFailure) && !best) best = e.message;
    e = (e as { cause?: unknown }).cause;
  }
  return best ?? String(err);
}
