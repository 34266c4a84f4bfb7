import { ApplicationFailure, proxyActivities, proxyLocalActivities, upsertSearchAttributes, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import { revertExemptionTag } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/types.js';
import { undoneText } from '../slack/blocks.js';
import { failureReason, noteFailuresIn } from './failure.js';
import type { Decider, RemediationRecord } from './messages.js';
import { checkDecision, type SignedDecision } from '../decisions/signed.js';
import { RemediationStatus, SearchAttr } from './search-attributes.js';
import type { UndoRecord } from './undo-window.js';

/** Workflow id of the undo of one remediation run: an undo that succeeded is never repeated; a refused or failed one may be asked again. */
export const revertWorkflowId = (remediation: { workflowId: string; runId: string }) => `undo/${remediation.workflowId}/${remediation.runId}`;

export interface RevertInput {
  readonly remediation: { readonly workflowId: string; readonly runId: string };
  readonly by: { readonly id: string; readonly name: string; readonly via: 'slack' | 'cli' };
  readonly reason?: string;
  /** The control's policy now: who may undo from Slack, the exemption tag, how long a reverted resource stays exempt. */
  readonly policy: PolicySnapshot;
  readonly requestedAt: string;
  /** The undo as signed by the trigger server (Slack) or the operator (CLI). */
  readonly signed?: SignedDecision;
}

/**
 * Why the undo of `rec` must be refused now, or undefined when it may go ahead: it must be a
 * verified fix that changed something, within its undo window, still the latest remediation of
 * the resource, and a Slack request must come from an approver. Pure.
 */
export function undoRefusal(
  rec: RemediationRecord | undefined,
  o: { latestRunId: string | undefined; now: number; by: RevertInput['by']; approvers: readonly string[] },
): string | undefined {
  if (!rec) return 'the remediation has no evidence record (still running, or it failed)';
  if (rec.outcome !== 'remediated' || !rec.change?.applied) return `there is nothing to undo: the remediation ended ${rec.outcome}${rec.change && !rec.change.applied ? ' without changing anything' : ''}`;
  if (!rec.undoWindow) return 'this fix had no undo window (the policy sets undo.window to 0)';
  if (o.now > Date.parse(rec.undoWindow.until)) return `the undo window closed at ${rec.undoWindow.until}`;
  if (o.latestRunId !== undefined && o.latestRunId !== rec.runId) return 'a newer remediation of this resource replaced this fix; undo that one instead';
  if (!o.by.id || !o.by.name) return 'the requester must have an id and a name';
  if (o.by.via === 'slack' && !o.approvers.includes(o.by.id)) return `${o.by.name} is not an approver for ${rec.control}`;
  if (o.by.via !== 'slack' && o.by.via !== 'cli') return 'undo comes from Slack or the CLI';
  return undefined;
}

const WRITE: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};
const LOCAL: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  localRetryThreshold: '1s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};
/** Signing the undo record: retried for at most ten minutes, then the record closes unsigned with the reason in its notes. */
const SIGN: LocalActivityOptions = { startToCloseTimeout: '30s', scheduleToCloseTimeout: '10m', localRetryThreshold: '1s', retry: { initialInterval: '1s', maximumInterval: '30s' } };

/**
 * Takes one verified fix back, on request (workflow id `undo/<remediation>/<run>`, started by the
 * Undo button or `npm run cli -- undo`): restores the recorded before-state of exactly what the
 * fix changed, reads it back, and tags the resource exempt for `undo.exemptFor` so the fix is not
 * applied again at once. Ends with a signed undo record. A request that may not be granted (window
 * closed, not an approver, a newer fix) fails with the reason and the refusal's record, and changes
 * nothing. Nothing waits for an undo that nobody asks for: the remediation records its window and
 * completes.
 */
export async function revertFix(input: RevertInput): Promise<UndoRecord> {
  const { policy } = input;
  const local = proxyLocalActivities<Activities>(LOCAL);
  const writes = proxyActivities<Activities>(WRITE);
  const sign = proxyLocalActivities<Activities>(SIGN);
  const notes: string[] = [];
  const bestEffort = noteFailuresIn(notes);
  let by: Decider = { ...input.by };

  const loaded = await local.loadRemediation.executeWithOptions({ ...LOCAL, summary: `Read the evidence of ${input.remediation.workflowId}` }, [input.remediation]);
  const rec = loaded.record;
  // Who may undo comes from the remediation's own policy when it carries decision keys.
  const listed = loaded.trust?.approvers ?? policy.control.approvers;
  const approvers = input.by.via === 'slack' ? ((await bestEffort('resolving approvers', local.resolveApprovers({ users: [...listed.users], groups: [...listed.groups] }))) ?? [...listed.users]) : [];
  // Proof of who asks: signed by a key the remediation's policy lists, for this remediation run.
  const proof = loaded.trust
    ? checkDecision(input, { kind: 'undo', workflowId: input.remediation.workflowId, runId: input.remediation.runId, approvers, operatorKeys: loaded.trust.operatorKeys, relayKeys: loaded.trust.relayKeys, control: rec?.control ?? policy.control.control })
    : undefined;
  if (proof?.ok) by = { ...proof.by };
  const signed = proof?.ok ? { signed: proof.signed } : {};
  const base = (closedAt: string) => ({
    remediation: input.remediation,
    findingId: rec?.findingId ?? '',
    control: rec?.control ?? policy.control.control,
    resource: rec?.resource ?? { type: '', id: '' },
    policyHash: policy.hash,
    openedAt: rec?.timestamps.verified ?? input.requestedAt,
    until: rec?.undoWindow?.until ?? input.requestedAt,
    closedAt,
  });
  const seal = async (r: UndoRecord): Promise<UndoRecord> => {
    const signature = await bestEffort('signing the undo record', sign.signEvidence.executeWithOptions({ ...SIGN, summary: 'Sign the undo record' }, [r]));
    return { ...r, ...(notes.length ? { notes: [...notes] } : {}), ...(signature ? { signature } : {}) };
  };

  const refusal = (proof && !proof.ok ? proof.reason : undefined) ?? undoRefusal(rec, { latestRunId: loaded.latestRunId, now: Date.now(), by: input.by, approvers });
  if (refusal || !rec?.change) {
    const reason = refusal ?? 'nothing to undo';
    const record = await seal({ ...base(new Date().toISOString()), outcome: 'refused', reason, undo: { by, at: input.requestedAt, ...(input.reason ? { reason: input.reason } : {}), restored: null } });
    throw ApplicationFailure.create({ type: 'UndoRefused', message: `Not accepted: ${reason}; nothing was changed`, nonRetryable: true, details: [record] });
  }

  const finding = { id: rec.findingId, source: rec.source, control: policy.control.control, account: rec.account, region: rec.region, resource: rec.resource as never, severity: rec.severity as never, title: '', observedAt: rec.timestamps.detected, state: 'active' as const, origin: {} };
  let restored: unknown;
  try {
    restored = (await writes.undoFix.executeWithOptions({ ...WRITE, summary: `Undo: ${rec.change.summary}` }, [finding, rec.before, rec.change])).after;
  } catch (err) {
    upsertSearchAttributes([{ key: SearchAttr.Status, value: RemediationStatus.Failed }]);
    throw ApplicationFailure.create({ type: 'UndoFailed', message: `undo of ${rec.resource.id} failed: ${failureReason(err)}`, nonRetryable: true });
  }
  const exemption = revertExemptionTag(policy, Date.now());
  const tagged = await bestEffort('tagging the resource exempt', writes.markExempt.executeWithOptions({ ...WRITE, summary: `Tag ${rec.resource.id} ${exemption.key}=${exemption.value}` }, [finding, exemption.key, exemption.value]));
  if (tagged === false) notes.push(`${rec.resource.id} cannot carry tags: no exemption was recorded on it`);
  upsertSearchAttributes([
    { key: SearchAttr.Status, value: RemediationStatus.Reverted },
    { key: SearchAttr.DecidedBy, value: `${by.via}:${by.id}` },
  ]);
  const text = undoneText({ by: by.via === 'slack' ? by.id : by.name, ...(input.reason ? { reason: input.reason } : {}), summary: rec.change.summary });
  await bestEffort('posting the undo in Slack', local.postSlackText(rec.slackThread ? { thread: rec.slackThread } : policy.control.channel ? { channel: policy.control.channel } : {}, text));
  return seal({
    ...base(new Date().toISOString()),
    outcome: 'reverted',
    undo: { by, at: input.requestedAt, ...(input.reason ? { reason: input.reason } : {}), ...signed, restored, ...(tagged ? { exemptUntil: exemption.value } : {}) },
  });
}
