import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Finding, FindingSource, FindingState } from '../findings/finding.js';
import type { FixGrant, GuardrailVerdict } from '../policy/decide.js';
import type { Guardrails, Mode, PolicySnapshot } from '../policy/types.js';
import type { RemediationStatus } from './search-attributes.js';
import type { EvidenceSignature } from '../evidence/signing.js';
import type { SignedDecision } from '../decisions/signed.js';

/** Input of `remediateFinding`. */
export interface RemediationInput {
  readonly finding: Finding;
  /** When the trigger received the finding (ISO 8601). */
  readonly receivedAt: string;
  /** How long verification may keep re-reading before the fix is declared failed. */
  readonly verifyDeadlineMs: number;
  /** The policy of the finding's control, as loaded by the trigger; no policy, no change. */
  readonly policy: PolicySnapshot;
  /**
   * What the previous run of this workflow id (same control, same resource) left in its memo
   * (`RESOURCE_MEMO`): the resource's recent fixes and a rejection that may still hold. Read by
   * the trigger with DescribeWorkflowExecution, which is strongly consistent.
   */
  readonly previous?: ResourceMemory;
}

/** Memo key under which a remediation leaves its `ResourceMemory` for the next run of the same resource. */
export const RESOURCE_MEMO = 'resource';

/**
 * Per-resource state that must outlive one run, carried from run to run of the resource's
 * workflow id (never in a shared workflow): flap detection counts `fixes`; a rejection holds
 * while the resource stays as it was.
 */
export interface ResourceMemory {
  /** When the resource was fixed (ms since the epoch), within the flap window, oldest first. */
  readonly fixes: readonly number[];
  readonly rejection?: HeldRejection;
}

/** A rejection that keeps the same fix from being proposed again until `until`, while the resource is unchanged. */
export interface HeldRejection {
  readonly by: Decider;
  readonly at: string;
  readonly until: string;
  /** sha256 of the resource state the rejected plan was made from. */
  readonly stateDigest: string;
  readonly workflowId: string;
  readonly runId: string;
}

/** Another delivery of the same finding (at-least-once sources, another scanner, a resolved event). */
export interface FindingObservation {
  readonly findingId: string;
  readonly source: FindingSource;
  readonly state: FindingState;
  readonly observedAt: string;
  readonly receivedAt: string;
}

/** Who made a decision: an approver in Slack, an operator at the CLI, the ladder's timeout, or the policy itself. */
export interface Decider {
  readonly id: string;
  readonly name: string;
  readonly via: 'slack' | 'cli' | 'timeout' | 'policy';
  /** Set when the decision was made for many remediations at once: the digest or the CLI query it came from. */
  readonly bulk?: string;
}

export interface DecisionRequest {
  readonly decision: 'approve' | 'reject';
  readonly by: { readonly id: string; readonly name: string; readonly via: 'slack' | 'cli'; readonly bulk?: string };
  readonly reason?: string;
  /** The plan's digest the decider saw (`PlannedChange.digest`): a decision for another plan is refused. */
  readonly planDigest?: string;
  /** The decision signed by the trigger server (Slack) or the operator's key (CLI): see `checkDecision` in src/decisions/signed.ts. */
  readonly signed?: SignedDecision;
}

export interface DecisionAck {
  readonly decision: 'approve' | 'reject';
  readonly by: Decider;
  readonly decidedAt: string;
}

export type Outcome =
  | 'remediated'
  | 'already-compliant'
  | 'rejected'
  | 'exempt'
  | 'out-of-scope'
  | 'off'
  | 'dry-run'
  | 'resolved'
  | 'unresolved'
  | 'failed';

export interface StatusView {
  readonly status: RemediationStatus;
  readonly observations: number;
  readonly plannedChange: string | null;
  /** The planned change's digest: a decision may name it (`DecisionRequest.planDigest`) to be bound to exactly this plan. */
  readonly planDigest?: string;
  /** Why a person must decide, while awaiting approval. */
  readonly approvalReasons: readonly string[];
  /** Slack user ids allowed to decide from Slack (the CLI may always decide). */
  readonly approvers: readonly string[];
  readonly policyHash: string;
  /** While a verified fix can still be taken back: until when (ISO). */
  readonly undoUntil?: string;
  /** Who approved, as `slack:U123` / `cli:alice` / `timeout`, once someone has. */
  readonly decidedBy?: string;
  /** Why a person is asked (`ApprovalReason`), while awaiting approval. */
  readonly approvalReason?: string;
  /** While a step keeps failing (status Stalled): which, why, since when, and whether a person was told. */
  readonly stalled?: StalledStep;
}

export interface StalledStep {
  readonly step: string;
  readonly reason: string;
  readonly since: string;
  /** Rounds of retries so far (each a few quick attempts). */
  readonly rounds: number;
  /** When the escalation went out (after the policy's escalateAfter). */
  readonly escalated?: string;
}

/** The evidence record every remediation ends with: what was found, decided, read, changed and verified, and when. */
export interface RemediationRecord {
  readonly findingId: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly control: string;
  readonly resource: { readonly type: string; readonly id: string };
  readonly account: string;
  readonly region: string;
  readonly severity: string;
  readonly source: FindingSource;
  readonly policyHash: string;
  /** The policy's account group that decided, when the account is in one. */
  readonly accountGroup?: string;
  readonly mode: Mode;
  readonly outcome: Outcome;
  /** Why it ended this way (failed, rejected, exempt, out of scope, dry run...). */
  readonly reason?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly before?: unknown;
  readonly after?: unknown;
  /** The change made, or in dry-run the change that would have been made. */
  readonly change?: { readonly summary: string; readonly details: unknown; readonly applied: boolean; readonly note?: string };
  /** Who decided the fix (or its rejection): the policy for automatic fixes, an approver, the CLI, the timeout. */
  readonly decidedBy?: Decider;
  /** Detection to verified fix, for remediated findings. */
  readonly timeToRemediateMs?: number;
  /** Ed25519 signature over the canonical JSON of the rest of the record. */
  readonly signature?: EvidenceSignature;
  /** The plan that was approved (by a person or the timeout) and then applied: `change` is exactly it. */
  readonly approvedPlan?: { readonly summary: string; readonly digest?: string };
  /** Why a person was asked, who decided and when; absent for automatic fixes. */
  readonly approval?: {
    /** Why, in one word (`ApprovalReason`): policy, tagged, budget, flapping. */
    readonly kind?: string;
    readonly reasons: readonly string[];
    readonly requestedAt: string;
    readonly decision?: 'approve' | 'reject';
    readonly by?: Decider;
    readonly decidedAt?: string;
    readonly reason?: string;
    readonly reminded?: string;
    readonly escalated?: string;
    /** The decision as signed by the trigger server (Slack) or the operator (CLI): anyone can check it with the policy's keys. */
    readonly signed?: SignedDecision;
  };
  readonly guardrail?: GuardrailVerdict;
  /** A person's (or the timeout's) earlier rejection of the same fix that still held, so nobody was asked again. */
  readonly rejectionHeld?: HeldRejection;
  /** Until when the verified fix can be taken back, and the workflow id an undo of it runs as. */
  readonly undoWindow?: { readonly workflowId: string; readonly until: string };
  /** The approval request's Slack message, when there was one (an undo posts in its thread). */
  readonly slackThread?: { readonly channel: string; readonly ts: string };
  /** Security Hub write-back (findings from Security Hub only). */
  readonly securityHub?: { readonly status: string; readonly updated: boolean; readonly reason?: string };
  readonly observations: readonly FindingObservation[];
  /** Problems that did not stop the remediation (e.g. Slack unreachable). */
  readonly notes?: readonly string[];
  readonly timestamps: {
    readonly detected: string;
    readonly received: string;
    readonly triaged?: string;
    readonly approved?: string;
    readonly fixed?: string;
    readonly verified?: string;
    readonly closed: string;
  };
}

export const getStatus = defineQuery<StatusView>('getStatus');
export const recordObservation = defineSignal<[FindingObservation]>('recordObservation');
/** Retry a stalled step now instead of at its next scheduled round (an operator fixed the cause). */
export const retryStalled = defineSignal('retryStalled');
/** Approve or reject a remediation waiting for a person. Rejected (by its validator) unless it is waiting and the caller may decide. */
export const decideRemediation = defineUpdate<DecisionAck, [DecisionRequest]>('decideRemediation');

export interface UndoRequest {
  readonly by: { readonly id: string; readonly name: string; readonly via: 'slack' | 'cli' };
  readonly reason?: string;
  /** The undo request signed by the trigger server (Slack) or the operator's key (CLI): see `checkDecision` in src/decisions/signed.ts. */
  readonly signed?: SignedDecision;
}
export interface UndoAck {
  readonly by: Decider;
  readonly requestedAt: string;
}
/** Take a verified fix back while its undo window (workflow `undoWindow`) is open: approvers in Slack, operators at the CLI. */
export const undoRemediation = defineUpdate<UndoAck, [UndoRequest]>('undoRemediation');

/** Input of the per-control guardrail ledger workflow. */
export interface LedgerState {
  readonly grants: readonly FixGrant[];
}
export interface FixRequest {
  readonly resource: string;
  readonly automatic: boolean;
  readonly guardrails: Guardrails;
  /** Evaluate only: record nothing (dry-run). */
  readonly dryRun: boolean;
}
/** Ask the ledger whether a fix may run now; an allowed, non-dry-run request is recorded. */
export const requestFix = defineUpdate<GuardrailVerdict, [FixRequest]>('requestFix');
