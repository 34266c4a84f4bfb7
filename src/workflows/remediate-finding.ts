import {
  ApplicationFailure,
  condition,
  log,
  metricMeter,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Activities, PlannedChange, Triage } from '../activities/index.js';
import type { MessageRef } from '../activities/slack.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors.js';
import { describeFinding, SECURITY_HUB_NOTE_AUTHOR, securityHubHolder } from '../findings/finding.js';
import {
  budgetVerdict,
  checkScope,
  decide,
  flapVerdict,
  formatDuration,
  hourOf,
  ladderSteps,
  recentFixes,
  rejectionHolds,
  type GuardrailVerdict,
} from '../policy/decide.js';
import type { ApprovalView } from '../slack/blocks.js';
import { escalationText, reminderText, resultText } from '../slack/blocks.js';
import { failureReason, noteFailuresIn, retryable } from './failure.js';
import { remediateFindingV1 } from './legacy/remediate-finding-v1.js';
import { revertWorkflowId } from './revert-fix.js';
import {
  decideRemediation,
  getStatus,
  recordObservation,
  RESOURCE_MEMO,
  retryStalled,
  type Decider,
  type FindingObservation,
  type HeldRejection,
  type Outcome,
  type RemediationInput,
  type RemediationRecord,
  type DecisionRequest,
  type ResourceMemory,
  type StalledStep,
} from './messages.js';
import { checkDecision, type SignedDecision } from '../decisions/signed.js';
import { ApprovalReason, RemediationStatus, SearchAttr } from './search-attributes.js';

/**
 * The patch that introduced the lean path: local activities for reads, Slack and signing; the
 * fix as the one regular activity; guardrails without a shared ledger. Runs that began before it
 * replay on `remediateFindingV1`.
 */
export const LEAN_PATH_PATCH = 'lean-path-1';

/**
 * The patch that binds an approval to its plan: after the wait the resource is read again and
 * the policy decides again, and only the approved change is ever applied (a different change
 * is asked for again). Runs that began before it apply what the resource needs after the wait.
 */
export const APPROVED_PLAN_PATCH = 'approved-plan-1';

/**
 * The patch that bounds the steps that used to be retried without limit: the budget count asks a
 * person when it cannot be made, and signing the evidence retries in visible rounds (status
 * Stalled), escalating to a person after the policy's escalateAfter.
 */
export const STALL_VISIBLE_PATCH = 'stall-visible-1';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];
const HOUR_MS = 3_600_000;

/**
 * Local activities wait out a retry backoff longer than this on a durable timer: the workflow task
 * completes meanwhile, so nothing sits in a worker's memory through a throttling storm.
 */
const LOCAL_RETRY_THRESHOLD = '1s';
/** Reads of live resources, in the worker (local activities): retried with backoff on throttling and outages, for at most 10 minutes. */
const READ: LocalActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes },
};
/**
 * The fix itself: a regular activity, so history records the triage and the decision before any
 * change is made, and the server counts its attempts. Idempotent (re-reads, then applies only what
 * is still needed); a worker killed mid-fix is noticed within `startToCloseTimeout`.
 */
const WRITE: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes },
};
/** Signing, counting and the digest, for runs begun before STALL_VISIBLE_PATCH: retried until they answer. */
const GUARD: LocalActivityOptions = { startToCloseTimeout: '30s', localRetryThreshold: LOCAL_RETRY_THRESHOLD, retry: { initialInterval: '1s', maximumInterval: '30s' } };
/** One bounded round of those steps: a few quick attempts in the worker, then the workflow decides. */
const GUARD_ROUND: LocalActivityOptions = { startToCloseTimeout: '30s', localRetryThreshold: LOCAL_RETRY_THRESHOLD, retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 } };
/** A stalled step is tried again after this, doubling up to an hour (or at once on `retryStalled`). */
const STALL_RETRY_FIRST_MS = 30_000;
/** A signed decision may be dated this much before the request it answers (clocks differ). */
const DECISION_CLOCK_SKEW_MS = 5 * 60_000;
/** Slack and Security Hub write-back: a few tries, then the workflow carries on without them (noted in the evidence). */
const BEST_EFFORT: LocalActivityOptions = {
  startToCloseTimeout: '20s',
  localRetryThreshold: LOCAL_RETRY_THRESHOLD,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes },
};

/**
 * One read-back of a fix. The workflow repeats it, with backoff on durable timers, until the fix
 * holds or the verify deadline passes, and keeps the last reason it did not hold.
 */
const VERIFY_ONCE: LocalActivityOptions = { startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } };
const VERIFY_BACKOFF_MAX_MS = 15_000;

const STATUS_FOR: Readonly<Record<Outcome, RemediationStatus>> = {
  remediated: RemediationStatus.Remediated,
  'already-compliant': RemediationStatus.AlreadyCompliant,
  rejected: RemediationStatus.Rejected,
  exempt: RemediationStatus.Exempt,
  'out-of-scope': RemediationStatus.OutOfScope,
  off: RemediationStatus.Skipped,
  'dry-run': RemediationStatus.DryRun,
  resolved: RemediationStatus.Resolved,
  unresolved: RemediationStatus.Unresolved,
  failed: RemediationStatus.Failed,
};

/**
 * One finding, start to finish: scope, triage the live resource, decide by policy (leave it,
 * dry-run, notify, ask a person, or fix), pass the guardrails, fix, verify, and return the
 * evidence record. Waits durably for approvals, reminding and escalating on the policy's ladder.
 * Fails (with the record in the failure details) when a fix cannot be applied or does not hold.
 */
export async function remediateFinding(input: RemediationInput): Promise<RemediationRecord> {
  return patched(LEAN_PATH_PATCH) ? remediate(input) : remediateFindingV1(input);
}

/** What a remediation knows so far; the record and the status query are read from it. */
interface State {
  status: RemediationStatus;
  triage?: Triage;
  planned: PlannedChange | null;
  before?: unknown;
  after?: unknown;
  change?: RemediationRecord['change'];
  guardrail?: GuardrailVerdict;
  approval?: RemediationRecord['approval'];
  approvalReasons: string[];
  approvalKind?: ApprovalReason;
  approvers: string[];
  awaitingDecision: boolean;
  decided?: { decision: 'approve' | 'reject'; by: Decider; decidedAt: string; reason?: string; signed?: SignedDecision };
  decider?: Decider;
  messageRef: MessageRef | null;
  undoWindow?: RemediationRecord['undoWindow'];
  securityHub?: RemediationRecord['securityHub'];
  rejectionHeld?: HeldRejection;
  /** Automatic fix applied at (ms): the budget counts it. */
  autoFixedAt?: number;
  readonly observations: FindingObservation[];
  readonly notes: string[];
  readonly times: { detected: string; received: string; triaged?: string; approved?: string; fixed?: string; verified?: string };
  /** Carried to the next run of this resource (memo). */
  memory: ResourceMemory;
  /** The plan a person (or the timeout) approved, when the fix applied it. */
  approvedPlan?: { summary: string; digest?: string };
  /** A step that keeps failing, while it does. */
  stalled?: StalledStep;
  /** An operator asked to retry a stalled step now. */
  retryNow: boolean;
}

async function remediate(input: RemediationInput): Promise<RemediationRecord> {
  const { finding, policy } = input;
  const info = workflowInfo();
  const reads = proxyLocalActivities<Activities>(READ);
  const fixes = proxyActivities<Activities>(WRITE);
  const guard = proxyLocalActivities<Activities>(GUARD);
  const outside = proxyLocalActivities<Activities>(BEST_EFFORT);
  const verifier = proxyLocalActivities<Activities>(VERIFY_ONCE);
  const metrics = {
    received: metricMeter.createCounter('rectify_findings_received', 'findings', 'Findings that started a remediation'),
    closed: metricMeter.createCounter('rectify_findings_closed', 'findings', 'Remediations closed, by outcome'),
    approvalsRequested: metricMeter.createCounter('rectify_approvals_requested', 'findings', 'Remediations that asked a person'),
    approvalsDecided: metricMeter.createCounter('rectify_approvals_decided', 'findings', 'Approval requests that were decided (by a person or the timeout)'),
    ttr: metricMeter.createHistogram('rectify_time_to_remediate', 'int', 'ms', 'Detection to verified fix'),
  };
  const tags = { control: finding.control };
  const now = () => new Date().toISOString();

  const s: State = {
    status: RemediationStatus.Triaging,
    planned: null,
    approvalReasons: [],
    approvers: [],
    awaitingDecision: false,
    messageRef: null,
    retryNow: false,
    observations: [],
    notes: [],
    times: { detected: finding.observedAt, received: input.receivedAt },
    memory: { fixes: [...(input.previous?.fixes ?? [])], ...(input.previous?.rejection ? { rejection: input.previous.rejection } : {}) },
  };

  setHandler(getStatus, () => ({
    status: s.status,
    observations: s.observations.length,
    plannedChange: s.planned?.summary ?? null,
    ...(s.planned?.digest ? { planDigest: s.planned.digest } : {}),
    approvalReasons: s.approvalReasons,
    approvers: s.approvers,
    policyHash: policy?.hash ?? '',
    ...(s.decided ? { decidedBy: `${s.decided.by.via}:${s.decided.by.id}` } : {}),
    ...(s.awaitingDecision && s.approvalKind ? { approvalReason: s.approvalKind } : {}),
    ...(s.stalled ? { stalled: s.stalled } : {}),
  }));
  setHandler(recordObservation, (o) => void s.observations.push(o));
  setHandler(retryStalled, () => void (s.retryNow = true));
  /**
   * Who a decision is from, proven: signed by a decision relay (Slack, for a listed approver) or
   * by an operator key the control's policy lists (CLI), for this workflow, run and plan, and not
   * before the request. Runs whose policy snapshot predates signed decisions (no decisionRelays)
   * check the decider as they always did.
   */
  const proveDecider = (req: DecisionRequest): { by: Decider; signed?: SignedDecision } => {
    if (policy?.decisionRelays === undefined) {
      if (req.by.via === 'slack' && !s.approvers.includes(req.by.id)) throw new Error(`${req.by.name} is not an approver for ${finding.control}`);
      return { by: { id: req.by.id, name: req.by.name, via: req.by.via, ...(req.by.bulk ? { bulk: req.by.bulk } : {}) } };
    }
    const requested = s.approval?.requestedAt ? Date.parse(s.approval.requestedAt) - DECISION_CLOCK_SKEW_MS : undefined;
    const check = checkDecision(req, {
      kind: 'decision',
      workflowId: info.workflowId,
      runId: info.runId,
      ...(s.planned?.digest ? { planDigest: s.planned.digest } : {}),
      approvers: s.approvers,
      operatorKeys: policy.control.approvers.keys ?? [],
      relayKeys: policy.decisionRelays,
      ...(requested !== undefined ? { notBefore: new Date(requested).toISOString() } : {}),
      control: finding.control,
    });
    if (!check.ok) throw new Error(check.reason);
    return { by: { ...check.by }, signed: check.signed };
  };
  setHandler(
    decideRemediation,
    (req) => {
      // The validator proved it when the Update was accepted; a replay runs only this handler, and
      // a decision accepted under an earlier rule is recorded as it was then, never failed now.
      const { by, signed } = (() => {
        try {
          return proveDecider(req);
        } catch {
          return { by: { id: req.by.id, name: req.by.name, via: req.by.via, ...(req.by.bulk ? { bulk: req.by.bulk } : {}) } as Decider, signed: undefined };
        }
      })();
      s.decided = { decision: req.decision, by, decidedAt: now(), ...(req.reason ? { reason: req.reason } : {}), ...(signed ? { signed } : {}) };
      s.awaitingDecision = false;
      return { decision: s.decided.decision, by, decidedAt: s.decided.decidedAt };
    },
    {
      validator: (req) => {
        if (s.decided) throw new Error(`already ${s.decided.decision === 'approve' ? 'approved' : 'rejected'} by ${s.decided.by.name} at ${s.decided.decidedAt}`);
        if (!s.awaitingDecision) throw new Error(`this remediation is not waiting for approval (status ${s.status})`);
        if (req.planDigest !== undefined && req.planDigest !== s.planned?.digest) {
          throw new Error(`this decision is for another plan (${req.planDigest.slice(0, 12)}); the request now proposes ${s.planned?.summary ?? 'nothing'} (${(s.planned?.digest ?? '').slice(0, 12)})`);
        }
        if (req.decision !== 'approve' && req.decision !== 'reject') throw new Error('decision must be approve or reject');
        if (!req.by?.id || !req.by.name) throw new Error('the decider must have an id and a name');
        if (req.by.via !== 'slack' && req.by.via !== 'cli') throw new Error('decisions come from Slack or the CLI');
        proveDecider(req);
      },
      description: 'Approve or reject the proposed fix (approvers in Slack, operators at the CLI), signed by the trigger server or the operator.',
    },
  );

  const record = (outcome: Outcome, reason?: string): RemediationRecord => ({
    findingId: finding.id,
    workflowId: info.workflowId,
    runId: info.runId,
    control: finding.control,
    resource: finding.resource,
    account: finding.account,
    region: finding.region,
    severity: finding.severity,
    source: finding.source,
    policyHash: policy?.hash ?? '',
    ...(policy?.accountGroup ? { accountGroup: policy.accountGroup } : {}),
    mode: policy?.control?.mode ?? 'off',
    outcome,
    ...(reason ? { reason } : {}),
    ...(s.triage ? { tags: s.triage.tags, before: s.before } : {}),
    ...(s.after !== undefined ? { after: s.after } : {}),
    ...(s.change ? { change: s.change } : {}),
    ...(s.decider ? { decidedBy: s.decider } : {}),
    ...(s.approval ? { approval: s.approval } : {}),
    ...(s.approvedPlan ? { approvedPlan: s.approvedPlan } : {}),
    ...(s.guardrail ? { guardrail: s.guardrail } : {}),
    ...(s.rejectionHeld ? { rejectionHeld: s.rejectionHeld } : {}),
    ...(s.undoWindow ? { undoWindow: s.undoWindow } : {}),
    ...(s.messageRef ? { slackThread: s.messageRef } : {}),
    ...(s.securityHub ? { securityHub: s.securityHub } : {}),
    // A copy: a redelivery signalled while the record is signed must not change what was signed.
    observations: [...s.observations],
    ...(s.notes.length ? { notes: [...s.notes] } : {}),
    ...(s.times.verified ? { timeToRemediateMs: Date.parse(s.times.verified) - Date.parse(s.times.detected) } : {}),
    timestamps: { ...s.times, closed: now() },
  });

  /** Slack and Security Hub are best effort: a failure is noted in the evidence, never fatal. */
  const bestEffort = noteFailuresIn(s.notes);

  /**
   * Closes the run: one search-attribute upsert (status, who decided, the automatic fix's time),
   * the resource's memory for the next run, the signed record.
   */
  const close = async (outcome: Outcome, reason?: string): Promise<RemediationRecord> => {
    s.status = STATUS_FOR[outcome];
    const decidedBy = s.decider ? (s.decider.via === 'policy' || s.decider.via === 'timeout' ? s.decider.via : `${s.decider.via}:${s.decider.id}`) : undefined;
    upsertSearchAttributes([
      { key: SearchAttr.Status, value: s.status },
      ...(decidedBy ? [{ key: SearchAttr.DecidedBy, value: decidedBy }] : []),
      ...(s.autoFixedAt !== undefined ? [{ key: SearchAttr.AutoFixedAt, value: new Date(s.autoFixedAt) }] : []),
    ]);
    const g = policy?.control?.guardrails;
    const memory: ResourceMemory = {
      fixes: g ? recentFixes(s.memory.fixes, g, Date.now()) : [],
      ...(s.memory.rejection && Date.parse(s.memory.rejection.until) > Date.now() ? { rejection: s.memory.rejection } : {}),
    };
    if (memory.fixes.length > 0 || memory.rejection) upsertMemo({ [RESOURCE_MEMO]: memory });
    const rec = record(outcome, reason);
    metrics.closed.add(1, { ...tags, outcome });
    if (rec.timeToRemediateMs !== undefined) metrics.ttr.record(Math.max(0, rec.timeToRemediateMs), tags);
    const signature = await (patched(STALL_VISIBLE_PATCH)
      ? untilDone('signing the evidence', (o) => guard.signEvidence.executeWithOptions({ ...o, summary: 'Sign the evidence record' }, [rec]))
      : guard.signEvidence.executeWithOptions({ ...GUARD, summary: 'Sign the evidence record' }, [rec])
    ).then(
      (sig) => sig,
      (err: unknown) => {
        s.notes.push(`signing the evidence: ${failureReason(err)}`);
        return undefined;
      },
    );
    // Signed: exactly the record that was signed (anything noted meanwhile is in the history).
    return signature ? { ...rec, signature } : { ...rec, ...(s.notes.length ? { notes: [...s.notes] } : {}) };
  };
  const finish = async (outcome: Outcome, reason?: string): Promise<RemediationRecord> => {
    const shStatus = outcome === 'remediated' || outcome === 'already-compliant' || outcome === 'resolved' ? 'RESOLVED' : outcome === 'exempt' ? 'SUPPRESSED' : undefined;
    if (shStatus) await writeBackToSecurityHub(shStatus, `rectify: ${outcome}${reason ? ` (${reason})` : s.change?.summary ? `: ${s.change.summary}` : ''}`);
    return close(outcome, reason);
  };
  const fail = async (err: unknown): Promise<never> => {
    const reason = failureReason(err);
    log.warn('remediation failed', { reason });
    const rec = await close('failed', reason);
    throw ApplicationFailure.create({ type: 'RemediationFailed', message: reason, nonRetryable: true, details: [rec] });
  };

  // Fail closed: without a policy nothing is decided and nothing changes.
  if (!policy?.control || !policy.hash) return fail(new Error('no policy in the workflow input; nothing was changed'));
  metrics.received.add(1, { control: finding.control, source: finding.source });
  const cp = policy.control;
  const settings = cp.settings;

  const scope = checkScope(policy, finding);
  if (!scope.inScope) return finish('out-of-scope', scope.reason);

  try {
    s.triage = await reads.triageFinding.executeWithOptions({ ...READ, summary: `Read ${finding.resource.id} (${finding.control})` }, [finding, settings]);
  } catch (err) {
    return fail(err);
  }
  let triage: Triage = s.triage;
  s.times.triaged = triage.readAt;
  s.before = triage.before;
  s.planned = triage.plannedChange;
  if (triage.compliant || s.planned === null) {
    s.after = s.before;
    return finish('already-compliant');
  }
  let planned: PlannedChange = s.planned;

  const decision = decide(policy, triage.tags, Date.now());
  if (decision.action === 'leave') return finish(decision.outcome, decision.reason);

  // A fix a person rejected is not proposed again while the resource is exactly as it was then.
  const held = s.memory.rejection;
  if (held && (decision.action === 'approve' || decision.action === 'auto') && triage.stateDigest && rejectionHolds(held, triage.stateDigest, Date.now())) {
    s.rejectionHeld = held;
    s.decider = held.by;
    s.change = { ...planned, applied: false, note: 'not proposed again: the same change was rejected and the resource has not changed since' };
    return finish('rejected', `rejected by ${held.by.name} at ${held.at} (run ${held.runId}); the resource is unchanged, so the rejection holds until ${held.until}`);
  }

  /** The guardrails for an automatic fix: flapping (this resource's own fixes), then the control's hourly budget (visibility). */
  const guardrails = async (): Promise<GuardrailVerdict> => {
    const g = cp.guardrails;
    const flap = flapVerdict(s.memory.fixes, g, Date.now(), finding.resource.id);
    if (!flap.allowed) return flap;
    if (g.maxAutoFixesPerHour <= 0) return budgetVerdict(0, g, finding.control);
    const since = new Date(Date.now() - HOUR_MS).toISOString();
    const summary = `Count automatic fixes of ${finding.control} in the last hour`;
    if (!patched(STALL_VISIBLE_PATCH)) return budgetVerdict(await guard.countAutoFixes.executeWithOptions({ ...GUARD, summary }, [finding.control, since]), g, finding.control);
    try {
      return budgetVerdict(await guard.countAutoFixes.executeWithOptions({ ...GUARD_ROUND, summary }, [finding.control, since]), g, finding.control);
    } catch (err) {
      // Without the count the budget cannot be checked: a person decides instead of the policy.
      return { allowed: false, kind: 'rate-limit', reason: `the automatic fixes of ${finding.control} in the last hour could not be counted (${failureReason(err)}): a person decides` };
    }
  };

  if (decision.action === 'dry-run') {
    s.guardrail = await guardrails();
    s.change = { ...planned, applied: false, note: 'dry run: not applied' };
    const wouldWait = s.guardrail.allowed ? '' : `; a real run would wait for approval: ${s.guardrail.reason}`;
    return finish('dry-run', `${decision.reason}${wouldWait}`);
  }

  const owner = triage.tags['owner'] ?? triage.tags['Owner'] ?? triage.tags['team'];
  let deadline: string | undefined;
  const view = (reasons: readonly string[]): ApprovalView => ({
    workflowId: info.workflowId,
    runId: info.runId,
    title: finding.title,
    control: finding.control,
    resourceId: finding.resource.id,
    account: finding.account,
    region: finding.region,
    severity: finding.severity,
    ...(owner ? { owner } : {}),
    currentState: triage.stateSummary,
    proposedChange: planned.summary,
    ...(planned.digest ? { planDigest: planned.digest } : {}),
    reasons,
    approvers: s.approvers,
    timeoutAction: cp.escalation.timeoutAction,
    ...(deadline ? { deadline } : {}),
  });

  // A control with no automatic fix can only chase a person, whatever the mode says.
  if (decision.action === 'notify' || !triage.fixable) return notifyUntilCompliant();

  s.decider = { id: 'policy', name: 'policy (automatic)', via: 'policy' };
  let ask: { kind: ApprovalReason; reasons: string[] } | undefined;
  // A change the control's settings put before a person (e.g. a wide security-group rule with wideRules: approve).
  const controlAsks = triage.approvalNeeded ? [triage.approvalNeeded] : [];
  if (decision.action === 'approve') {
    ask = { kind: cp.mode === 'approve' ? ApprovalReason.Policy : ApprovalReason.Tagged, reasons: [...decision.reasons, ...controlAsks] };
  } else if (controlAsks.length > 0) {
    ask = { kind: ApprovalReason.Policy, reasons: controlAsks };
  } else {
    s.guardrail = await guardrails();
    if (!s.guardrail.allowed) ask = { kind: s.guardrail.kind === 'flapping' ? ApprovalReason.Flapping : ApprovalReason.Budget, reasons: [s.guardrail.reason] };
  }
  const automatic = ask === undefined;

  if (ask) {
    const outcome = await awaitApproval(ask.kind, ask.reasons);
    if (outcome) return outcome;
    s.decider = s.decided ? s.decided.by : { id: 'timeout', name: 'escalation timeout (apply)', via: 'timeout' };
    metrics.approvalsDecided.add(1, tags);
  }
  // Only the approved plan is applied (runs begun before this patch apply what the resource needs).
  const bound = ask !== undefined && patched(APPROVED_PLAN_PATCH);
  if (bound) {
    const closed = await confirmApprovedPlan(ask!.kind);
    if (closed) return closed;
  }

  s.status = RemediationStatus.Remediating;
  // A decided request leaves the approvals queue (and the digest's count) now, not when the run closes.
  if (ask) upsertSearchAttributes([{ key: SearchAttr.Status, value: s.status }]);
  try {
    let fix = await fixes.applyFix.executeWithOptions({ ...WRITE, summary: planned.summary }, bound && planned.digest ? [finding, settings, { digest: planned.digest }] : [finding, settings]);
    while (fix.differsFromApproved && fix.change) {
      // The resource changed between the re-read and the fix: nothing was applied; ask for the new change.
      const closed = await askAgain(ask!.kind, { ...triage, before: fix.before, plannedChange: fix.change }, [differenceReason(fix.change)]);
      if (closed) return closed;
      const again = await confirmApprovedPlan(ask!.kind);
      if (again) return again;
      s.status = RemediationStatus.Remediating;
      upsertSearchAttributes([{ key: SearchAttr.Status, value: s.status }]);
      fix = await fixes.applyFix.executeWithOptions({ ...WRITE, summary: planned.summary }, [finding, settings, { digest: planned.digest ?? '' }]);
    }
    if (bound) s.approvedPlan = { summary: planned.summary, ...(planned.digest ? { digest: planned.digest } : {}) };
    s.times.fixed = fix.at;
    if (automatic) s.autoFixedAt = Date.parse(fix.at);
    s.memory = { ...s.memory, fixes: recentFixes(s.memory.fixes, cp.guardrails, Date.now(), Date.parse(fix.at)) };
    if (fix.applied && fix.change) {
      s.before = fix.before;
      s.change = {
        ...fix.change,
        applied: true,
        ...(fix.appliedByAttempt ? { note: `applied by attempt ${fix.appliedByAttempt}, whose answer was lost; found in place at attempt ${fix.attempt}` } : {}),
      };
    } else {
      // Compliant by the time the fix ran: nothing applied now; verify what triage planned.
      const note =
        fix.attempt > 1
          ? `already compliant on re-read at attempt ${fix.attempt}: applied by an earlier attempt whose result was lost, or by someone else`
          : 'already compliant on re-read: fixed by someone else after triage';
      s.change = { ...planned, applied: false, note };
    }
  } catch (err) {
    await reportInThread('failed', failureReason(err));
    return fail(err);
  }

  s.status = RemediationStatus.Verifying;
  const change = s.change;
  const verifyBy = Date.now() + input.verifyDeadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const v = await verifier.verifyFix.executeWithOptions({ ...VERIFY_ONCE, summary: `Verify: ${change.summary}` }, [finding, s.before, change, settings]);
      s.after = v.after;
      s.times.verified = v.at;
      break;
    } catch (err) {
      const backoff = Math.min(1000 * 2 ** (attempt - 1), VERIFY_BACKOFF_MAX_MS);
      if (!retryable(err) || Date.now() + backoff > verifyBy) {
        await reportInThread('failed', failureReason(err));
        return fail(err);
      }
      if (attempt === 1) log.warn('fix not visible yet; re-reading until the verify deadline', { reason: failureReason(err) });
      await sleep(backoff);
    }
  }
  await reportInThread('remediated');
  if (cp.undo.windowMs > 0) {
    // Nothing waits for an undo nobody asks for: the window is recorded, and an undo (the Undo
    // button, the CLI) starts its own workflow that checks it.
    const until = new Date(Date.now() + cp.undo.windowMs).toISOString();
    s.undoWindow = { workflowId: revertWorkflowId({ workflowId: info.workflowId, runId: info.runId }), until };
    await bestEffort('offering undo in Slack', outside.postUndoOffer(s.messageRef, cp.channel, { workflowId: info.workflowId, runId: info.runId, summary: change.summary, until }));
  }
  return finish('remediated');

  // --- the waits -------------------------------------------------------------------------

  /**
   * A step the run cannot close without: bounded rounds of attempts; between rounds the status
   * is Stalled (search attribute and query say which step and why) and the run waits, doubling
   * up to an hour, or until an operator signals `retryStalled`. Once the step has failed for the
   * policy's escalateAfter, a person is told once, with the reason.
   */
  async function untilDone<T>(step: string, call: (o: LocalActivityOptions) => Promise<T>): Promise<T> {
    const since = Date.now();
    for (let round = 1; ; round++) {
      try {
        const out = await call(GUARD_ROUND);
        if (s.stalled) {
          log.info('a stalled step succeeded', { step, rounds: s.stalled.rounds });
          s.stalled = undefined;
          upsertSearchAttributes([{ key: SearchAttr.Status, value: s.status }]);
        }
        return out;
      } catch (err) {
        const reason = failureReason(err);
        if (!s.stalled) upsertSearchAttributes([{ key: SearchAttr.Status, value: RemediationStatus.Stalled }]);
        s.stalled = { step, reason, since: new Date(since).toISOString(), rounds: round, ...(s.stalled?.escalated ? { escalated: s.stalled.escalated } : {}) };
        log.warn('a step keeps failing', { step, reason, round });
        const esc = policy?.control?.escalation;
        if (!s.stalled.escalated && Date.now() - since >= (esc?.escalateAfterMs ?? 0)) {
          s.stalled = { ...s.stalled, escalated: now() };
          const text = stalledText(step, reason, s.stalled.since);
          const to = esc?.escalateTo.channel ?? policy?.control?.channel;
          await bestEffort('telling a person about the stalled step', outside.postSlackText({ ...(to ? { channel: to } : {}) }, text));
        }
        s.retryNow = false;
        await condition(() => s.retryNow, Math.min(STALL_RETRY_FIRST_MS * 2 ** (round - 1), HOUR_MS), { summary: `Retry ${step}` });
      }
    }
  }

  function stalledText(step: string, reason: string, since: string): string {
    const esc = policy?.control?.escalation;
    const mentions = [...(esc?.escalateTo.users ?? []).map((u) => `<@${u}>`), ...(esc?.escalateTo.groups ?? []).map((g) => `<!subteam^${g}>`)].join(' ');
    return `${mentions ? `${mentions} ` : ''}rectify cannot close ${describeFinding(finding)}: ${step} keeps failing since ${since}: ${reason}. It retries on its own (up to hourly); once the cause is fixed, signal retryStalled to ${info.workflowId} to retry now.`;
  }

  function differenceReason(now: PlannedChange): string {
    return `the change needed now differs from the approved one (approved: ${planned.summary}; needed now: ${now.summary})`;
  }

  /**
   * After an approval (or a timeout whose action is apply): reads the resource again and lets the
   * policy decide again. Closes the run when the resource is compliant now or the policy leaves
   * it alone now (an exemption or a scope tag added during the wait); asks again when the change
   * it needs is not the approved one, or when it now needs a person and only the timeout decided.
   * Returns undefined when the approved plan is still exactly what is needed.
   */
  async function confirmApprovedPlan(kind: ApprovalReason): Promise<RemediationRecord | undefined> {
    for (;;) {
      let fresh: Triage;
      try {
        fresh = await reads.triageFinding.executeWithOptions({ ...READ, summary: `Re-read ${finding.resource.id} after the decision` }, [finding, settings]);
      } catch (err) {
        return fail(err);
      }
      s.triage = fresh;
      if (fresh.compliant || fresh.plannedChange === null) {
        s.before = fresh.before;
        s.after = fresh.before;
        s.change = { ...planned, applied: false, note: 'compliant when read again after the decision: nothing applied' };
        return finish('already-compliant');
      }
      const again = decide(policy!, fresh.tags, Date.now());
      if (again.action === 'leave') {
        s.before = fresh.before;
        s.change = { ...planned, applied: false, note: 'approved, but the policy leaves the resource alone now: nothing applied' };
        return finish(again.outcome, `${again.reason} (read after the decision)`);
      }
      // Only the timeout decided, and the policy now wants a person for a reason nobody was asked about.
      const asked = s.approval?.reasons ?? [];
      const unasked = again.action === 'approve' && s.decider?.via === 'timeout' ? again.reasons.filter((r) => !asked.includes(r)) : [];
      const same = fresh.plannedChange.digest !== undefined && fresh.plannedChange.digest === planned.digest;
      if (same && unasked.length === 0) {
        triage = fresh;
        s.before = fresh.before;
        return undefined;
      }
      const reasons = [...(same ? [] : [differenceReason(fresh.plannedChange)]), ...unasked];
      const closed = await askAgain(unasked.length > 0 && cp.mode !== 'approve' ? ApprovalReason.Tagged : kind, fresh, reasons);
      if (closed) return closed;
    }
  }

  /** A new approval round for the change the resource needs now; the earlier decision is kept in the notes. */
  async function askAgain(kind: ApprovalReason, fresh: Triage, reasons: string[]): Promise<RemediationRecord | undefined> {
    const a = s.approval;
    const earlier = a?.by ? `${a.decision === 'approve' ? 'approved' : 'decided'} ${a.by.via === 'timeout' ? `by the timeout (${a.by.name})` : `by ${a.by.name}`} at ${a.decidedAt ?? ''}` : 'decided';
    s.notes.push(`${planned.summary} was ${earlier}; asked again: ${reasons.join('; ')}`);
    triage = fresh;
    s.triage = fresh;
    s.before = fresh.before;
    planned = fresh.plannedChange!;
    s.planned = planned;
    s.decided = undefined;
    s.messageRef = null;
    const outcome = await awaitApproval(kind, reasons);
    if (outcome) return outcome;
    // (awaitApproval set s.decided when a person decided.)
    s.decider = (s.decided as State['decided'])?.by ?? { id: 'timeout', name: 'escalation timeout (apply)', via: 'timeout' };
    metrics.approvalsDecided.add(1, tags);
    return undefined;
  }

  /**
   * Asks a person: posts the request (or, for fixes held by the budget, makes sure the hour's
   * digest runs), then waits on the ladder (remind, escalate, timeout). Returns the closing record
   * when the answer is "no change", or undefined to go on and fix.
   */
  async function awaitApproval(kind: ApprovalReason, why: string[]): Promise<RemediationRecord | undefined> {
    s.approvalReasons = why;
    s.approvalKind = kind;
    const requestedAt = now();
    deadline = new Date(Date.now() + cp.escalation.timeoutAfterMs).toISOString();
    s.approval = { kind, reasons: why, requestedAt };
    s.status = RemediationStatus.AwaitingApproval;
    upsertSearchAttributes([
      { key: SearchAttr.Status, value: s.status },
      { key: SearchAttr.ApprovalReason, value: kind },
    ]);
    // Decisions are accepted from the moment the status says so (the CLI needs no Slack message).
    s.awaitingDecision = true;
    metrics.approvalsRequested.add(1, tags);
    const esc = cp.escalation;
    const digest = kind === ApprovalReason.Budget;
    s.approvers =
      (await bestEffort(
        'resolving approvers',
        outside.resolveApprovers({ users: [...cp.approvers.users, ...esc.escalateTo.users], groups: [...cp.approvers.groups, ...esc.escalateTo.groups] }),
      )) ?? [...cp.approvers.users, ...esc.escalateTo.users];
    const bounded = patched(STALL_VISIBLE_PATCH);
    let joined = false;
    if (digest) {
      // Held by the budget: one digest per control and hour asks for all of them; this run posts nothing itself.
      joined =
        (await bestEffort(
          'joining the digest of held fixes',
          guard.ensureDigest
            .executeWithOptions({ ...(bounded ? GUARD_ROUND : GUARD), summary: 'Join the hourly digest of held fixes' }, [
              { control: finding.control, hour: hourOf(Date.now()), taskQueue: info.taskQueue, ...(cp.channel ? { channel: cp.channel } : {}), policyHash: policy.hash, timeoutAfterMs: esc.timeoutAfterMs, timeoutAction: esc.timeoutAction },
            ])
            .then(() => true),
        )) ?? false;
    }
    // Without a digest to ask for it (it could not be joined), this run asks for itself.
    if ((!digest || (bounded && !joined)) && !s.decided) {
      s.messageRef = (await bestEffort('posting the approval request to Slack', outside.postApprovalRequest(cp.channel, view(why)))) ?? null;
    }
    await writeBackToSecurityHub('NOTIFIED', `rectify: waiting for approval (${why.join('; ')})`);

    let elapsed = 0;
    let timedOut = false;
    for (const step of ladderSteps(esc)) {
      const wait = step.atMs - elapsed;
      elapsed = step.atMs;
      if (wait > 0 && (await condition(() => s.decided !== undefined, wait, { summary: `Wait for a decision, then ${step.step}` }))) break;
      if (s.decided) break;
      const label = formatDuration(step.atMs);
      if (step.step === 'timeout') timedOut = true;
      else if (digest) continue; // the digest reminds for every held fix at once
      else if (step.step === 'remind') {
        s.approval = { ...s.approval!, reminded: now() };
        await bestEffort('posting the reminder', outside.postSlackText({ thread: s.messageRef }, reminderText(view(why), label)));
      } else {
        s.approval = { ...s.approval!, escalated: now() };
        s.status = RemediationStatus.Escalated;
        upsertSearchAttributes([{ key: SearchAttr.Status, value: s.status }]);
        const text = escalationText(view(why), { users: [...esc.escalateTo.users], groups: [...esc.escalateTo.groups] }, label);
        await bestEffort('posting the escalation', outside.postSlackText({ thread: s.messageRef, ...(esc.escalateTo.channel ? { channel: esc.escalateTo.channel } : {}) }, text));
      }
    }
    s.awaitingDecision = false;
    const at = s.decided?.decidedAt ?? now();
    const shown = s.decided
      ? { decision: s.decided.decision, by: { id: s.decided.by.id, name: s.decided.by.name }, at, ...(s.decided.reason ? { reason: s.decided.reason } : {}) }
      : { decision: esc.timeoutAction === 'apply' ? ('timeout-apply' as const) : ('timeout-reject' as const), at };
    if (s.messageRef) await bestEffort('updating the approval message', outside.updateApprovalMessage(s.messageRef, view(why), shown));

    const rejectedBy = (by: Decider, at: string): RemediationRecord | undefined => {
      const holdMs = cp.guardrails.rejectionHoldMs ?? 0;
      if (holdMs > 0 && triage.stateDigest) {
        s.memory = { ...s.memory, rejection: { by, at, until: new Date(Date.parse(at) + holdMs).toISOString(), stateDigest: triage.stateDigest, workflowId: info.workflowId, runId: info.runId } };
      }
      s.decider = by;
      metrics.approvalsDecided.add(1, tags);
      return undefined;
    };
    if (s.decided) {
      const d = s.decided;
      s.approval = { ...s.approval!, decision: d.decision, by: d.by, decidedAt: d.decidedAt, ...(d.reason ? { reason: d.reason } : {}), ...(d.signed ? { signed: d.signed } : {}) };
      if (d.decision === 'reject') {
        rejectedBy(d.by, d.decidedAt);
        await reportInThread('rejected', d.reason);
        return finish('rejected', `rejected by ${d.by.name}${d.reason ? `: ${d.reason}` : ''}`);
      }
      s.times.approved = d.decidedAt;
      return undefined;
    }
    if (!timedOut) return undefined;
    const timeoutBy: Decider = { id: 'timeout', name: `no decision within ${formatDuration(esc.timeoutAfterMs)}`, via: 'timeout' };
    s.approval = { ...s.approval!, decision: esc.timeoutAction === 'apply' ? 'approve' : 'reject', by: timeoutBy, decidedAt: at };
    if (esc.timeoutAction === 'reject') {
      rejectedBy(timeoutBy, at);
      await reportInThread('rejected', `${timeoutBy.name}; the timeout action is reject`);
      return finish('rejected', `${timeoutBy.name}; the timeout action is reject, nothing changed`);
    }
    s.times.approved = at;
    return undefined;
  }

  /** Notify mode: tell the owner, chase on the ladder, re-read the resource at every step; close once it is compliant. */
  async function notifyUntilCompliant(): Promise<RemediationRecord> {
    s.status = RemediationStatus.Notified;
    upsertSearchAttributes([{ key: SearchAttr.Status, value: s.status }]);
    const v = view([`policy mode is notify for ${finding.control}: nothing is changed automatically`]);
    const text = `Action needed on ${finding.resource.id} (${finding.account}/${finding.region}): ${finding.title}\nCurrent state: ${v.currentState}\nTo fix: ${v.proposedChange}`;
    await bestEffort('posting the notification', outside.postSlackText({ ...(cp.channel ? { channel: cp.channel } : {}) }, text));
    await writeBackToSecurityHub('NOTIFIED', `rectify: owner notified; nothing changed automatically`);
    s.change = { ...planned, applied: false, note: triage.fixable ? 'notify mode: not applied' : 'no automatic fix for this control: the owner must act' };
    let elapsed = 0;
    for (const step of ladderSteps(cp.escalation)) {
      await sleep(step.atMs - elapsed);
      elapsed = step.atMs;
      let recheck: Triage;
      try {
        recheck = await reads.triageFinding.executeWithOptions({ ...READ, summary: `Re-read ${finding.resource.id}` }, [finding, settings]);
      } catch (err) {
        return fail(err);
      }
      if (recheck.compliant) {
        s.after = recheck.before;
        return finish('resolved', `compliant on re-check after ${formatDuration(step.atMs)}; nothing was changed by us`);
      }
      const label = formatDuration(step.atMs);
      if (step.step === 'remind') {
        await bestEffort('posting the reminder', outside.postSlackText({ ...(cp.channel ? { channel: cp.channel } : {}) }, reminderText(v, label)));
      } else if (step.step === 'escalate') {
        s.status = RemediationStatus.Escalated;
        upsertSearchAttributes([{ key: SearchAttr.Status, value: s.status }]);
        const esc = cp.escalation;
        await bestEffort(
          'posting the escalation',
          outside.postSlackText({ ...(esc.escalateTo.channel ? { channel: esc.escalateTo.channel } : cp.channel ? { channel: cp.channel } : {}) }, escalationText(v, { users: [...esc.escalateTo.users], groups: [...esc.escalateTo.groups] }, label)),
        );
      } else {
        s.after = recheck.before;
        return finish('unresolved', `still not compliant after ${label}`);
      }
    }
    return finish('unresolved', 'the escalation ladder ran out');
  }

  /** Tells Security Hub what became of a finding it reported. Best effort, recorded in the evidence. */
  async function writeBackToSecurityHub(status: 'RESOLVED' | 'NOTIFIED' | 'SUPPRESSED', note: string): Promise<void> {
    const productArn = finding.origin['productArn'];
    const findingId = finding.origin['findingId'];
    if (finding.source !== 'securityhub' || !productArn || !findingId) return;
    const account = securityHubHolder(finding);
    const out = await bestEffort(
      `Security Hub write-back (${status})`,
      outside.updateSecurityHubFinding({ findingId, productArn, region: finding.region, ...(account ? { account } : {}) }, { status, note, updatedBy: SECURITY_HUB_NOTE_AUTHOR }),
    );
    s.securityHub = { status, updated: out?.updated ?? false, ...(out?.reason ? { reason: out.reason } : {}) };
  }

  async function reportInThread(outcome: string, reason?: string): Promise<void> {
    if (!s.messageRef) return;
    const text = resultText({ outcome, summary: s.change?.summary ?? s.planned?.summary ?? '', ...(reason ? { reason } : {}) });
    await bestEffort('posting the result in the thread', outside.postSlackText({ thread: s.messageRef }, text));
  }
}
