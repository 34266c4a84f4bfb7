import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { activityInfo, heartbeat, log } from '@temporalio/activity';
import { ErrorType } from '../errors.js';
import type { Finding } from '../findings/finding.js';
import type { ControlSettings } from '../policy/types.js';
import type { AwsClients } from './aws.js';
import { getControl } from './controls/index.js';
import { canonicalJson } from '../evidence/canonical.js';

/** What triage read from the live resource and what it would change. */
export interface Triage {
  readonly compliant: boolean;
  readonly before: unknown;
  /** The state in a few words, for people. */
  readonly stateSummary: string;
  readonly tags: Readonly<Record<string, string>>;
  /** The exact change that would make the resource compliant; null when it already is. */
  readonly plannedChange: PlannedChange | null;
  /** False when the control has no automatic fix (notify only). */
  readonly fixable: boolean;
  readonly readAt: string;
  /** sha256 of the canonical JSON of `before`: tells whether the resource changed since a rejection. */
  readonly stateDigest?: string;
  /**
   * Set when the planned change must be approved by a person whatever the mode says, with the
   * reason in words: the control's settings ask for it for this kind of change (e.g.
   * ec2-sg-admin-ports-open with `settings.wideRules: approve`, when the fix splits a world-open
   * range or all-traffic rule: "a world-open rule (0.0.0.0/0 tcp/0-65535) also serves more than
   * ports 22, 3389: ..."). Absent when the policy's mode and tags alone decide.
   */
  readonly approvalNeeded?: string;
}
export interface PlannedChange {
  readonly summary: string;
  readonly details: unknown;
  /**
   * sha256 of the canonical JSON of `details`: what an approval is bound to. Absent in plans
   * recorded before approvals were bound to one.
   */
  readonly digest?: string;
}
export interface FixResult {
  /** False when the resource was already compliant on re-read (fixed by someone, or by an earlier attempt). */
  readonly applied: boolean;
  /** State read immediately before the change. */
  readonly before: unknown;
  readonly change: PlannedChange | null;
  readonly at: string;
  /** Which attempt of the activity this was; > 1 means an earlier attempt may have applied the change before failing. */
  readonly attempt: number;
  /**
   * True when the change the resource needs now is not the approved one (`change` is what it
   * needs now): nothing was applied; the workflow asks again.
   */
  readonly differsFromApproved?: boolean;
  /**
   * The attempt that applied the change, when an earlier attempt sent it and its answer was lost
   * (a 5xx or a dropped connection after the request left): this attempt found it in place.
   */
  readonly appliedByAttempt?: number;
}

/** What an attempt of `applyFix` leaves in its heartbeat before it changes anything, for the next attempt. */
interface ApplyingDetails {
  readonly applying: PlannedChange;
  readonly before: unknown;
  readonly attempt: number;
  /** Set when AWS refused the request (throttled, denied, invalid): the change was not made. */
  readonly refused?: boolean;
}
export interface Verification {
  readonly after: unknown;
  readonly at: string;
}

export interface RemediationDeps {
  readonly aws: AwsClients;
  readonly now?: () => Date;
}

/** sha256 of the canonical JSON of a value (a change, a state): equal values have equal digests. */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}

function planned(control: { summarize(change: never, finding: Finding): string }, change: unknown, finding: Finding): PlannedChange {
  return { summary: control.summarize(change as never, finding), details: change, digest: digestOf(change) };
}

/** A planned change that must go to a person says why in its `approvalNeeded` (a non-empty string); any other change does not. */
function approvalNeededOf(change: unknown): string | undefined {
  if (typeof change !== 'object' || change === null) return undefined;
  const why = (change as { approvalNeeded?: unknown }).approvalNeeded;
  return typeof why === 'string' && why !== '' ? why : undefined;
}

function controlFor(finding: Finding) {
  const control = getControl(finding.control);
  if (!control) {
    throw ApplicationFailure.create({
      type: ErrorType.UnsupportedControl,
      message: `control "${finding.control}" is not implemented by this worker`,
      nonRetryable: true,
    });
  }
  return control;
}

/** The remediation activities, with their AWS clients injected. Each reads before it writes and is safe to run twice. */
export function createRemediationActivities({ aws, now = () => new Date() }: RemediationDeps) {
  return {
    /** Reads the live resource and decides whether it violates the control under the policy's settings. Read-only. */
    async triageFinding(finding: Finding, settings: ControlSettings): Promise<Triage> {
      const control = controlFor(finding);
      const { state, tags } = await control.read(aws.forAccount(finding.account), finding);
      const change = control.plan(state, settings);
      const approvalNeeded = approvalNeededOf(change);
      return {
        compliant: change === null,
        before: state,
        stateSummary: control.describe(state),
        tags,
        plannedChange: change === null ? null : planned(control, change, finding),
        fixable: control.fixable,
        readAt: now().toISOString(),
        stateDigest: digestOf(control.digestState ? control.digestState(state) : state),
        ...(approvalNeeded === undefined ? {} : { approvalNeeded }),
      };
    },

    /**
     * Re-reads the resource and applies exactly the change its current state needs. Running it
     * again after success finds nothing to change and changes nothing. With `approved` (a
     * person's decision, bound to a plan), only that plan is ever applied: when the resource now
     * needs another change, nothing is applied and the result says so (`differsFromApproved`).
     */
    async applyFix(finding: Finding, settings: ControlSettings, approved?: { readonly digest: string }): Promise<FixResult> {
      const control = controlFor(finding);
      const { attempt, heartbeatDetails } = activityInfo();
      const { state } = await control.read(aws.forAccount(finding.account), finding);
      const change = control.plan(state, settings);
      if (change === null) {
        // An earlier attempt sent the change and lost the answer: it is this workflow's fix.
        const earlier = heartbeatDetails as ApplyingDetails | undefined;
        if (attempt > 1 && earlier?.applying && !earlier.refused && (!approved || earlier.applying.digest === approved.digest)) {
          log.info('found the change of an earlier attempt in place', { resource: finding.resource.id, attempt, appliedBy: earlier.attempt });
          return { applied: true, before: earlier.before, change: earlier.applying, at: now().toISOString(), attempt, appliedByAttempt: earlier.attempt };
        }
        log.info('resource already compliant on re-read; nothing applied', { resource: finding.resource.id, attempt });
        return { applied: false, before: state, change: null, at: now().toISOString(), attempt };
      }
      const plan = planned(control, change, finding);
      if (approved && plan.digest !== approved.digest) {
        log.warn('the change needed now is not the approved one; nothing applied', { resource: finding.resource.id, attempt });
        return { applied: false, before: state, change: plan, at: now().toISOString(), attempt, differsFromApproved: true };
      }
      const details: ApplyingDetails = { applying: plan, before: state, attempt };
      heartbeat(details);
      try {
        await control.apply(aws.forAccount(finding.account), finding, change);
      } catch (err) {
        // Refused outright (throttled, denied, invalid): the change was not made. Otherwise (5xx,
        // a dropped connection) it may have been, and the next attempt judges by what it finds.
        const type = err instanceof ApplicationFailure ? err.type : undefined;
        if (type !== ErrorType.AwsUnavailable) heartbeat({ ...details, refused: true });
        throw err;
      }
      return { applied: true, before: state, change: plan, at: now().toISOString(), attempt };
    },

    /**
     * Re-reads the resource and checks the fix holds. Throws a retryable `NotYetCompliant`
     * failure while it does not (eventual consistency); the workflow bounds the retries by a deadline.
     */
    async verifyFix(finding: Finding, before: unknown, change: PlannedChange, settings: ControlSettings): Promise<Verification> {
      const control = controlFor(finding);
      const { state: after } = await control.read(aws.forAccount(finding.account), finding);
      const problems = control.check(before, change.details, after, settings);
      if (problems.length > 0) {
        throw ApplicationFailure.create({
          type: ErrorType.NotYetCompliant,
          message: `${finding.resource.id} does not hold the fix: ${problems.join('; ')}`,
          details: [{ after }],
        });
      }
      return { after, at: now().toISOString() };
    },

    /**
     * Restores what the fix changed (exactly the recorded before-state of the changed parts),
     * reads it back, and returns the restored state. Safe to repeat.
     */
    async undoFix(finding: Finding, before: unknown, change: PlannedChange): Promise<Verification> {
      const control = controlFor(finding);
      await control.undo(aws.forAccount(finding.account), finding, before, change.details);
      const { state: after } = await control.read(aws.forAccount(finding.account), finding);
      const problems = control.checkUndo(before, change.details, after);
      if (problems.length > 0) {
        throw ApplicationFailure.create({ type: ErrorType.NotYetCompliant, message: `${finding.resource.id} is not back to its recorded state: ${problems.join('; ')}` });
      }
      return { after, at: now().toISOString() };
    },

    /** Tags the resource exempt until `until` (ISO date-time); false when the resource cannot carry tags. */
    async markExempt(finding: Finding, tagKey: string, until: string): Promise<boolean> {
      const control = controlFor(finding);
      if (!control.tag) return false;
      await control.tag(aws.forAccount(finding.account), finding, tagKey, until);
      return true;
    },
  };
}

export type RemediationActivities = ReturnType<typeof createRemediationActivities>;
