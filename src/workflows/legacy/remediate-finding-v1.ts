import {
  ApplicationFailure,
  condition,
  log,
  metricMeter,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities, PlannedChange, Triage } from '../../activities/index.js';
import type { MessageRef } from '../../activities/slack.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../../errors.js';
import { checkScope, decide, formatDuration, ladderSteps, type GuardrailVerdict } from '../../policy/decide.js';
import type { ApprovalView } from '../../slack/blocks.js';
import { escalationText, reminderText, resultText } from '../../slack/blocks.js';
import {
  decideRemediation,
  getStatus,
  recordObservation,
  type Decider,
  type FindingObservation,
  type Outcome,
  type RemediationInput,
  type RemediationRecord,
} from '../messages.js';
import { RemediationStatus, SearchAttr } from '../search-attributes.js';
import { failureReason, noteFailuresIn } from '../failure.js';

const nonRetryableErrorTypes = [...NON_RETRYABLE_ERROR_TYPES];

/** Reads of live resources: quick, retried with backoff on throttling and outages, for at most 10 minutes. */
const READ: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes },
};
/** The fix itself: idempotent (re-reads, then applies only what is still needed). */
const WRITE: ActivityOptions = { ...READ, startToCloseTimeout: '1m' };
/** The guardrail ledger: retried until it answers; no answer means no fix. */
const GUARD: ActivityOptions = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumInterval: '30s' } };
/** Slack and Security Hub write-back: a few tries, then the workflow carries on without them (noted in the evidence). */
const BEST_EFFORT: ActivityOptions = {
  startToCloseTimeout: '20s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes },
};

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
 * The first version of `remediateFinding`, kept unchanged so that runs started before the
 * `lean-path` patch (see ../remediate-finding.ts) replay and finish exactly as they began: every
 * step an activity, guardrails through the per-control `fixLedger`, the undo window opened by an
 * activity. New runs never take this path. Remove it once no such run can remain open (the
 * longest approval wait plus the history retention).
 */
export async function remediateFindingV1(input: RemediationInput): Promise<RemediationRecord> {
  const { finding, policy } = input;
  const info = workflowInfo();
  const reads = proxyActivities<Activities>(READ);
  const writes = proxyActivities<Activities>(WRITE);
  /** The ledger and the signing: retried until they answer. */
  const guard = proxyActivities<Activities>(GUARD);
  /** Slack and Security Hub: best effort. */
  const outside = proxyActivities<Activities>(BEST_EFFORT);
  const received = metricMeter.createCounter('rectify_findings_received', 'findings', 'Findings that started a remediation');
  const closed = metricMeter.createCounter('rectify_findings_closed', 'findings', 'Remediations closed, by outcome');
  const approvalsRequested = metricMeter.createCounter('rectify_approvals_requested', 'findings', 'Remediations that asked a person');
  const approvalsDecided = metricMeter.createCounter('rectify_approvals_decided', 'findings', 'Approval requests that were decided (by a person or the timeout)');
  const ttr = metricMeter.createHistogram('rectify_time_to_remediate', 'int', 'ms', 'Detection to verified fix');
  const verifyOptions: ActivityOptions = {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: input.verifyDeadlineMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s', nonRetryableErrorTypes },
  };
  const verifier = proxyActivities<Activities>(verifyOptions);
  const now = () => new Date().toISOString();

  let status: RemediationStatus = RemediationStatus.Triaging;
  let planned: PlannedChange | null = null;
  const observations: FindingObservation[] = [];
  const notes: string[] = [];
  let approvalReasons: string[] = [];
  let approvers: string[] = [];
  let awaitingDecision = false;
  let decided: { decision: 'approve' | 'reject'; by: Decider; decidedAt: string; reason?: string } | undefined;
  let messageRef: MessageRef | null = null;

  setHandler(getStatus, () => ({
    status,
    observations: observations.length,
    plannedChange: planned?.summary ?? null,
    approvalReasons,
    approvers,
    policyHash: policy?.hash ?? '',
    ...(decided ? { decidedBy: `${decided.by.via}:${decided.by.id}` } : {}),
  }));
  setHandler(recordObservation, (o) => void observations.push(o));
  setHandler(
    decideRemediation,
    (req) => {
      decided = { decision: req.decision, by: req.by, decidedAt: now(), ...(req.reason ? { reason: req.reason } : {}) };
      awaitingDecision = false;
      return { decision: decided.decision, by: decided.by, decidedAt: decided.decidedAt };
    },
    {
      validator: (req) => {
        if (decided) throw new Error(`already ${decided.decision === 'approve' ? 'approved' : 'rejected'} by ${decided.by.name} at ${decided.decidedAt}`);
        if (!awaitingDecision) throw new Error(`this remediation is not waiting for approval (status ${status})`);
        if (req.decision !== 'approve' && req.decision !== 'reject') throw new Error('decision must be approve or reject');
        if (!req.by?.id || !req.by.name) throw new Error('the decider must have an id and a name');
        if (req.by.via === 'slack' && !approvers.includes(req.by.id)) {
          throw new Error(`${req.by.name} is not an approver for ${finding.control}`);
        }
        if (req.by.via !== 'slack' && req.by.via !== 'cli') throw new Error('decisions come from Slack or the CLI');
      },
      description: 'Approve or reject the proposed fix (approvers in Slack, operators at the CLI).',
    },
  );

  const setStatus = (s: RemediationStatus) => {
    status = s;
    upsertSearchAttributes([{ key: SearchAttr.Status, value: s }]);
  };
  const times: { detected: string; received: string; triaged?: string; approved?: string; fixed?: string; verified?: string } = {
    detected: finding.observedAt,
    received: input.receivedAt,
  };
  let triage: Triage | undefined;
  let before: unknown;
  let after: unknown;
  let change: RemediationRecord['change'];
  let guardrail: GuardrailVerdict | undefined;
  let approval: RemediationRecord['approval'];
  let undoWindow: RemediationRecord['undoWindow'];
  let securityHub: RemediationRecord['securityHub'];

  let decider: Decider | undefined;
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
    mode: policy?.control?.mode ?? 'off',
    outcome,
    ...(reason ? { reason } : {}),
    ...(triage ? { tags: triage.tags, before } : {}),
    ...(after !== undefined ? { after } : {}),
    ...(change ? { change } : {}),
    ...(decider ? { decidedBy: decider } : {}),
    ...(approval ? { approval } : {}),
    ...(guardrail ? { guardrail } : {}),
    ...(undoWindow ? { undoWindow } : {}),
    ...(securityHub ? { securityHub } : {}),
    observations,
    ...(notes.length ? { notes } : {}),
    ...(times.verified ? { timeToRemediateMs: Date.parse(times.verified) - Date.parse(times.detected) } : {}),
    timestamps: { ...times, closed: now() },
  });
  const tags = { control: finding.control };
  /** Signs the record in an activity (the key never enters the workflow) and counts the outcome. */
  const seal = async (rec: RemediationRecord): Promise<RemediationRecord> => {
    closed.add(1, { ...tags, outcome: rec.outcome });
    if (rec.timeToRemediateMs !== undefined) ttr.record(Math.max(0, rec.timeToRemediateMs), tags);
    const signature = await guard.signEvidence.executeWithOptions({ ...GUARD, summary: 'Sign the evidence record' }, [rec]).then(
      (sig) => sig,
      (err: unknown) => {
        notes.push(`signing the evidence: ${failureReason(err)}`);
        return undefined;
      },
    );
    return signature ? { ...rec, signature } : rec;
  };
  const finish = async (outcome: Outcome, reason?: string): Promise<RemediationRecord> => {
    setStatus(STATUS_FOR[outcome]);
    const shStatus = outcome === 'remediated' || outcome === 'already-compliant' || outcome === 'resolved' ? 'RESOLVED' : outcome === 'exempt' ? 'SUPPRESSED' : undefined;
    if (shStatus) await writeBackToSecurityHub(shStatus, `rectify: ${outcome}${reason ? ` (${reason})` : change?.summary ? `: ${change.summary}` : ''}`);
    return seal(record(outcome, reason));
  };
  const fail = async (err: unknown): Promise<never> => {
    const reason = failureReason(err);
    setStatus(RemediationStatus.Failed);
    log.warn('remediation failed', { reason });
    const rec = await seal(record('failed', reason));
    throw ApplicationFailure.create({ type: 'RemediationFailed', message: reason, nonRetryable: true, details: [rec] });
  };
  /** Slack is best effort: its failure is noted, never fatal. */
  const bestEffort = noteFailuresIn(notes);

  // Fail closed: without a policy nothing is decided and nothing changes.
  if (!policy?.control || !policy.hash) return fail(new Error('no policy in the workflow input; nothing was changed'));
  upsertSearchAttributes([{ key: SearchAttr.PolicyHash, value: policy.hash }]);
  received.add(1, { control: finding.control, source: finding.source });
  const cp = policy.control;
  const settings = cp.settings;

  const scope = checkScope(policy, finding);
  if (!scope.inScope) return finish('out-of-scope', scope.reason);

  setStatus(RemediationStatus.Triaging);
  try {
    triage = await reads.triageFinding.executeWithOptions({ ...READ, summary: `Read ${finding.resource.id} (${finding.control})` }, [finding, settings]);
  } catch (err) {
    return fail(err);
  }
  times.triaged = triage.readAt;
  before = triage.before;
  planned = triage.plannedChange;
  if (triage.compliant || planned === null) {
    after = before;
    return finish('already-compliant');
  }

  const decision = decide(policy, triage.tags, Date.now());
  if (decision.action === 'leave') return finish(decision.outcome, decision.reason);

  const slotFor = (automatic: boolean, dryRun: boolean) =>
    guard.requestFixSlot(finding.control, { resource: finding.resource.id, automatic, guardrails: cp.guardrails, dryRun });

  if (decision.action === 'dry-run') {
    guardrail = await slotFor(true, true);
    change = { ...planned, applied: false, note: 'dry run: not applied' };
    const wouldWait = guardrail.allowed ? '' : `; a real run would wait for approval: ${guardrail.reason}`;
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
    currentState: triage!.stateSummary,
    proposedChange: planned!.summary,
    reasons,
    approvers,
    timeoutAction: cp.escalation.timeoutAction,
    ...(deadline ? { deadline } : {}),
  });

  // A control with no automatic fix can only chase a person, whatever the mode says.
  if (decision.action === 'notify' || !triage.fixable) return notifyUntilCompliant();

  decider = { id: 'policy', name: 'policy (automatic)', via: 'policy' };
  let reasons: string[] = [];
  if (decision.action === 'approve') reasons = decision.reasons;
  else {
    guardrail = await slotFor(true, false);
    if (!guardrail.allowed) reasons = [guardrail.reason];
  }

  if (reasons.length > 0) {
    const outcome = await awaitApproval(reasons);
    if (outcome) return outcome;
    decider = decided ? decided.by : { id: 'timeout', name: 'escalation timeout (apply)', via: 'timeout' };
    approvalsDecided.add(1, tags);
    // Record the approved fix in the ledger too: flap detection counts every fix.
    await slotFor(false, false);
  }
  upsertSearchAttributes([{ key: SearchAttr.DecidedBy, value: decider.via === 'policy' || decider.via === 'timeout' ? decider.via : `${decider.via}:${decider.id}` }]);

  setStatus(RemediationStatus.Remediating);
  try {
    const fix = await writes.applyFix.executeWithOptions({ ...WRITE, summary: planned.summary }, [finding, settings]);
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
    await reportInThread('failed', failureReason(err));
    return fail(err);
  }

  setStatus(RemediationStatus.Verifying);
  try {
    const v = await verifier.verifyFix.executeWithOptions({ ...verifyOptions, summary: `Verify: ${change.summary}` }, [finding, before, change, settings]);
    after = v.after;
    times.verified = v.at;
  } catch (err) {
    await reportInThread('failed', failureReason(err));
    return fail(err);
  }
  await reportInThread('remediated');
  if (cp.undo.windowMs > 0) {
    // The undo window runs as its own workflow, so this remediation completes now with its evidence.
    if (approvers.length === 0) {
      approvers = (await bestEffort('resolving approvers', outside.resolveApprovers({ users: [...cp.approvers.users], groups: [...cp.approvers.groups] }))) ?? [...cp.approvers.users];
    }
    const until = new Date(Date.now() + cp.undo.windowMs).toISOString();
    const id = await bestEffort(
      'opening the undo window',
      writes.openUndoWindow({ finding, remediation: { workflowId: info.workflowId, runId: info.runId }, policy, before, change: change!, approvers, thread: messageRef }),
    );
    if (id) undoWindow = { workflowId: id, until };
  }
  return finish('remediated');

  // --- the waits -------------------------------------------------------------------------

  /**
   * Asks a person: posts the request, then waits on the ladder (remind, escalate, timeout).
   * Returns the closing record when the answer is "no change", or undefined to go on and fix.
   */
  async function awaitApproval(why: string[]): Promise<RemediationRecord | undefined> {
    approvalReasons = why;
    const requestedAt = now();
    deadline = new Date(Date.now() + cp.escalation.timeoutAfterMs).toISOString();
    approval = { reasons: why, requestedAt };
    setStatus(RemediationStatus.AwaitingApproval);
    // Decisions are accepted from the moment the status says so (the CLI needs no Slack message).
    awaitingDecision = true;
    approvalsRequested.add(1, tags);
    const esc = cp.escalation;
    approvers =
      (await bestEffort(
        'resolving approvers',
        outside.resolveApprovers({ users: [...cp.approvers.users, ...esc.escalateTo.users], groups: [...cp.approvers.groups, ...esc.escalateTo.groups] }),
      )) ?? [...cp.approvers.users, ...esc.escalateTo.users];
    if (!decided) messageRef = (await bestEffort('posting the approval request to Slack', outside.postApprovalRequest(cp.channel, view(why)))) ?? null;
    await writeBackToSecurityHub('NOTIFIED', `rectify: waiting for approval (${why.join('; ')})`);

    let elapsed = 0;
    let timedOut = false;
    for (const step of ladderSteps(esc)) {
      const wait = step.atMs - elapsed;
      elapsed = step.atMs;
      if (wait > 0 && (await condition(() => decided !== undefined, wait, { summary: `Wait for a decision, then ${step.step}` }))) break;
      if (decided) break;
      const label = formatDuration(step.atMs);
      if (step.step === 'remind') {
        approval = { ...approval!, reminded: now() };
        await bestEffort('posting the reminder', outside.postSlackText({ thread: messageRef }, reminderText(view(why), label)));
      } else if (step.step === 'escalate') {
        approval = { ...approval!, escalated: now() };
        setStatus(RemediationStatus.Escalated);
        const text = escalationText(view(why), { users: [...esc.escalateTo.users], groups: [...esc.escalateTo.groups] }, label);
        await bestEffort('posting the escalation', outside.postSlackText({ thread: messageRef, ...(esc.escalateTo.channel ? { channel: esc.escalateTo.channel } : {}) }, text));
      } else {
        timedOut = true;
      }
    }
    awaitingDecision = false;
    const at = decided?.decidedAt ?? now();
    const shown = decided
      ? { decision: decided.decision, by: { id: decided.by.id, name: decided.by.name }, at, ...(decided.reason ? { reason: decided.reason } : {}) }
      : { decision: esc.timeoutAction === 'apply' ? ('timeout-apply' as const) : ('timeout-reject' as const), at };
    if (messageRef) await bestEffort('updating the approval message', outside.updateApprovalMessage(messageRef, view(why), shown));

    if (decided) {
      approval = { ...approval!, decision: decided.decision, by: decided.by, decidedAt: decided.decidedAt, ...(decided.reason ? { reason: decided.reason } : {}) };
      if (decided.decision === 'reject') {
        decider = decided.by;
        approvalsDecided.add(1, tags);
        upsertSearchAttributes([{ key: SearchAttr.DecidedBy, value: `${decided.by.via}:${decided.by.id}` }]);
        await reportInThread('rejected', decided.reason);
        return finish('rejected', `rejected by ${decided.by.name}${decided.reason ? `: ${decided.reason}` : ''}`);
      }
      times.approved = decided.decidedAt;
      return undefined;
    }
    if (!timedOut) return undefined;
    const timeoutBy: Decider = { id: 'timeout', name: `no decision within ${formatDuration(esc.timeoutAfterMs)}`, via: 'timeout' };
    approval = { ...approval!, decision: esc.timeoutAction === 'apply' ? 'approve' : 'reject', by: timeoutBy, decidedAt: at };
    if (esc.timeoutAction === 'reject') {
      decider = timeoutBy;
      approvalsDecided.add(1, tags);
      upsertSearchAttributes([{ key: SearchAttr.DecidedBy, value: 'timeout' }]);
      await reportInThread('rejected', `${timeoutBy.name}; the timeout action is reject`);
      return finish('rejected', `${timeoutBy.name}; the timeout action is reject, nothing changed`);
    }
    times.approved = at;
    return undefined;
  }

  /** Notify mode: tell the owner, chase on the ladder, re-read the resource at every step; close once it is compliant. */
  async function notifyUntilCompliant(): Promise<RemediationRecord> {
    setStatus(RemediationStatus.Notified);
    const v = view([`policy mode is notify for ${finding.control}: nothing is changed automatically`]);
    const text = `Action needed on ${finding.resource.id} (${finding.account}/${finding.region}): ${finding.title}\nCurrent state: ${v.currentState}\nTo fix: ${v.proposedChange}`;
    await bestEffort('posting the notification', outside.postSlackText({ ...(cp.channel ? { channel: cp.channel } : {}) }, text));
    await writeBackToSecurityHub('NOTIFIED', `rectify: owner notified; nothing changed automatically`);
    change = { ...planned!, applied: false, note: triage!.fixable ? 'notify mode: not applied' : 'no automatic fix for this control: the owner must act' };
    let elapsed = 0;
    for (const step of ladderSteps(cp.escalation)) {
      await sleep(step.atMs - elapsed);
      elapsed = step.atMs;
      let recheck: Triage;
      try {
        recheck = await reads.triageFinding(finding, settings);
      } catch (err) {
        return fail(err);
      }
      if (recheck.compliant) {
        after = recheck.before;
        return finish('resolved', `compliant on re-check after ${formatDuration(step.atMs)}; nothing was changed by us`);
      }
      const label = formatDuration(step.atMs);
      if (step.step === 'remind') {
        await bestEffort('posting the reminder', outside.postSlackText({ ...(cp.channel ? { channel: cp.channel } : {}) }, reminderText(v, label)));
      } else if (step.step === 'escalate') {
        setStatus(RemediationStatus.Escalated);
        const esc = cp.escalation;
        await bestEffort(
          'posting the escalation',
          outside.postSlackText({ ...(esc.escalateTo.channel ? { channel: esc.escalateTo.channel } : cp.channel ? { channel: cp.channel } : {}) }, escalationText(v, { users: [...esc.escalateTo.users], groups: [...esc.escalateTo.groups] }, label)),
        );
      } else {
        after = recheck.before;
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
    const out = await bestEffort(
      `Security Hub write-back (${status})`,
      outside.updateSecurityHubFinding({ findingId, productArn, region: finding.region }, { status, note, updatedBy: 'rectify' }),
    );
    securityHub = { status, updated: out?.updated ?? false, ...(out?.reason ? { reason: out.reason } : {}) };
  }

  async function reportInThread(outcome: string, reason?: string): Promise<void> {
    if (!messageRef) return;
    const text = resultText({ outcome, summary: change?.summary ?? planned?.summary ?? '', ...(reason ? { reason } : {}) });
    await bestEffort('posting the result in the thread', outside.postSlackText({ thread: messageRef }, text));
  }
}
