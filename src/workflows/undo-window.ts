import { ApplicationFailure, condition, log, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities, PlannedChange } from '../activities/index.js';
import type { MessageRef } from '../activities/slack.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import type { Finding } from '../findings/finding.js';
import { checkDecision, type SignedDecision } from '../decisions/signed.js';
import { revertExemptionTag } from '../policy/decide.js';
import type { PolicySnapshot } from '../policy/types.js';
import type { EvidenceSignature } from '../evidence/signing.js';
import { getStatus, undoRemediation, type Decider, type UndoRequest } from './messages.js';
import { RemediationStatus, SearchAttr } from './search-attributes.js';

export interface UndoWindowInput {
  readonly finding: Finding;
  /** The remediation whose fix may be taken back. */
  readonly remediation: { readonly workflowId: string; readonly runId: string };
  readonly policy: PolicySnapshot;
  readonly before: unknown;
  readonly change: PlannedChange;
  /** Slack ids allowed to undo from Slack (the CLI may always). */
  readonly approvers: readonly string[];
  /** The approval request's Slack message, to thread on; null when there was none. */
  readonly thread: MessageRef | null;
}

export interface UndoRecord {
  readonly remediation: { readonly workflowId: string; readonly runId: string };
  readonly findingId: string;
  readonly control: string;
  readonly resource: { readonly type: string; readonly id: string };
  readonly policyHash: string;
  /** `refused`: an undo that was asked for and not granted (`reason` says why); nothing changed. */
  readonly outcome: 'reverted' | 'window-closed' | 'refused';
  readonly reason?: string;
  readonly openedAt: string;
  readonly until: string;
  readonly undo?: { readonly by: Decider; readonly at: string; readonly reason?: string; readonly restored: unknown; readonly exemptUntil?: string; readonly signed?: SignedDecision };
  readonly notes?: readonly string[];
  readonly closedAt: string;
  readonly signature?: EvidenceSignature;
}

const WRITE: ActivityOptions = {
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
};
const SLACK: ActivityOptions = { startToCloseTimeout: '20s', retry: { initialInterval: '2s', maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] } };

/**
 * The undo window of one verified fix (workflow id `undo/<remediation workflow id>`): for the
 * policy's `undo.window` an approver (Slack) or an operator (CLI) can take the fix back. An undo
 * restores the recorded before-state of exactly what was changed, reads it back, and tags the
 * resource exempt for `undo.exemptFor` so the fix is not applied again at once. The remediation
 * itself has already completed with its evidence; a newer fix of the same resource replaces
 * this window.
 */
export async function undoWindow(input: UndoWindowInput): Promise<UndoRecord> {
  const { finding, policy } = input;
  const info = workflowInfo();
  const writes = proxyActivities<Activities>(WRITE);
  const evidence = proxyActivities<Activities>({ startToCloseTimeout: '30s', scheduleToCloseTimeout: '10m', retry: { initialInterval: '1s', maximumInterval: '30s' } });
  const slack = proxyActivities<Activities>(SLACK);
  const now = () => new Date().toISOString();
  const openedAt = now();
  const until = new Date(Date.now() + policy.control.undo.windowMs).toISOString();
  const notes: string[] = [];
  let open = true;
  let request: (UndoRequest & { at: string }) | undefined;

  setHandler(getStatus, () => ({
    status: open ? RemediationStatus.UndoAvailable : request ? RemediationStatus.Reverted : RemediationStatus.Remediated,
    observations: 0,
    plannedChange: input.change.summary,
    approvalReasons: [],
    approvers: [...input.approvers],
    policyHash: policy.hash,
    ...(open ? { undoUntil: until } : {}),
  }));
  setHandler(
    undoRemediation,
    (req) => {
      request = { ...req, at: now() };
      return { by: { ...req.by }, requestedAt: request.at };
    },
    {
      validator: (req) => {
        if (request) throw new Error(`undo already requested by ${request.by.name} at ${request.at}`);
        if (!open) throw new Error('the undo window is closed');
        if (!req.by?.id || !req.by.name) throw new Error('the requester must have an id and a name');
        if (req.by.via === 'slack' && !input.approvers.includes(req.by.id)) throw new Error(`${req.by.name} is not an approver for ${finding.control}`);
        if (req.by.via !== 'slack' && req.by.via !== 'cli') throw new Error('undo comes from Slack or the CLI');
        // A snapshot with decision keys takes only a signed undo (as revertFix does); older ones check as above.
        if (policy.decisionRelays !== undefined) {
          const check = checkDecision(req, { kind: 'undo', workflowId: info.workflowId, runId: info.runId, approvers: input.approvers, operatorKeys: policy.control.approvers.keys ?? [], relayKeys: policy.decisionRelays, control: finding.control });
          if (!check.ok) throw new Error(check.reason);
        }
      },
      description: 'Take the verified fix back while the undo window is open.',
    },
  );
  /** Signs the undo record (in an activity: the key stays in the worker). */
  const seal = async (rec: UndoRecord): Promise<UndoRecord> => {
    const signature = await bestEffort('signing the undo record', evidence.signEvidence(rec));
    return signature ? { ...rec, ...(notes.length ? { notes } : {}), signature } : rec;
  };
  const bestEffort = async <T>(what: string, p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (err) {
      notes.push(`${what}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const base = {
    remediation: input.remediation,
    findingId: finding.id,
    control: finding.control,
    resource: finding.resource,
    policyHash: policy.hash,
    openedAt,
    until,
  };

  upsertSearchAttributes([{ key: SearchAttr.Status, value: RemediationStatus.UndoAvailable }]);
  await bestEffort(
    'offering undo in Slack',
    slack.postUndoOffer(input.thread, policy.control.channel, { workflowId: info.workflowId, runId: info.runId, summary: input.change.summary, until }),
  );
  const asked = await condition(() => request !== undefined, policy.control.undo.windowMs);
  open = false;
  if (!asked || !request) {
    upsertSearchAttributes([{ key: SearchAttr.Status, value: RemediationStatus.Remediated }]);
    await bestEffort('closing the undo offer', slack.postSlackText({ thread: input.thread }, `The undo window for ${finding.resource.id} has closed; the fix stays.`));
    return seal({ ...base, outcome: 'window-closed', ...(notes.length ? { notes } : {}), closedAt: now() });
  }

  const req = request;
  let restored: unknown;
  try {
    restored = (await writes.undoFix(finding, input.before, input.change)).after;
  } catch (err) {
    log.warn('undo failed', { error: (err as Error).message });
    upsertSearchAttributes([{ key: SearchAttr.Status, value: RemediationStatus.Failed }]);
    throw ApplicationFailure.create({ type: 'UndoFailed', message: `undo of ${finding.resource.id} failed: ${(err as Error).message}`, nonRetryable: true });
  }
  const exemption = revertExemptionTag(policy, Date.now());
  const tagged = await bestEffort('tagging the resource exempt', writes.markExempt(finding, exemption.key, exemption.value));
  if (tagged === false) notes.push(`${finding.resource.id} cannot carry tags: no exemption was recorded on it`);
  upsertSearchAttributes([
    { key: SearchAttr.Status, value: RemediationStatus.Reverted },
    { key: SearchAttr.DecidedBy, value: `${req.by.via}:${req.by.id}` },
  ]);
  await bestEffort(
    'posting the undo in the thread',
    slack.postSlackText({ thread: input.thread, ...(input.thread ? {} : policy.control.channel ? { channel: policy.control.channel } : {}) }, `Undone by ${req.by.name}${req.reason ? `: ${req.reason}` : ''}. Restored the previous state of ${finding.resource.id}.`),
  );
  return seal({
    ...base,
    outcome: 'reverted',
    undo: { by: { ...req.by }, at: req.at, ...(req.reason ? { reason: req.reason } : {}), ...(req.signed ? { signed: req.signed } : {}), restored, ...(tagged ? { exemptUntil: exemption.value } : {}) },
    ...(notes.length ? { notes } : {}),
    closedAt: now(),
  });
}
