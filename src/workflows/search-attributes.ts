import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Finding } from '../findings/finding.js';

/**
 * Custom search attributes set on every remediation workflow, so the Temporal UI and
 * `temporal workflow list --query` can filter by them, e.g. `RemediationStatus = "Failed"`.
 * The local dev server registers them at start; `ensureSearchAttributes` registers them on a cluster.
 */
export const SearchAttr = {
  FindingId: defineSearchAttributeKey('FindingId', SearchAttributeType.KEYWORD),
  Control: defineSearchAttributeKey('FindingControl', SearchAttributeType.KEYWORD),
  Resource: defineSearchAttributeKey('FindingResource', SearchAttributeType.KEYWORD),
  Account: defineSearchAttributeKey('FindingAccount', SearchAttributeType.KEYWORD),
  Region: defineSearchAttributeKey('FindingRegion', SearchAttributeType.KEYWORD),
  Severity: defineSearchAttributeKey('FindingSeverity', SearchAttributeType.KEYWORD),
  Status: defineSearchAttributeKey('RemediationStatus', SearchAttributeType.KEYWORD),
  /** sha256 of the policy file the workflow decided by. */
  PolicyHash: defineSearchAttributeKey('PolicyHash', SearchAttributeType.KEYWORD),
  /** Who decided an approval: `slack:U123`, `cli:alice`, `timeout`, or `policy` for automatic fixes. */
  DecidedBy: defineSearchAttributeKey('DecidedBy', SearchAttributeType.KEYWORD),
  /** Why a remediation waits for a person (an `ApprovalReason`), while it does. */
  ApprovalReason: defineSearchAttributeKey('ApprovalReason', SearchAttributeType.KEYWORD),
  /** When the policy's automatic fix was applied: the hourly budget counts these. */
  AutoFixedAt: defineSearchAttributeKey('AutoFixedAt', SearchAttributeType.DATETIME),
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(SearchAttr);
/** The keyword attributes (all but the dates). */
export type KeywordAttr = Exclude<(typeof SearchAttr)[keyof typeof SearchAttr], typeof SearchAttr.AutoFixedAt>;

/** Values of the `ApprovalReason` search attribute: why a person is asked. */
export const ApprovalReason = {
  /** The control's mode is approve. */
  Policy: 'policy',
  /** Auto mode, but the resource carries a tag that requires approval (e.g. environment=production). */
  Tagged: 'tagged',
  /** The control's hourly budget of automatic fixes is spent: held for the digest. */
  Budget: 'budget',
  /** The resource was fixed too often lately (something keeps undoing the fix). */
  Flapping: 'flapping',
} as const;
export type ApprovalReason = (typeof ApprovalReason)[keyof typeof ApprovalReason];

/** Values of the `RemediationStatus` search attribute. */
export const RemediationStatus = {
  Triaging: 'Triaging',
  /** Waiting for an approver (Slack or CLI). */
  AwaitingApproval: 'AwaitingApproval',
  /** Still waiting, and the ladder has escalated. */
  Escalated: 'Escalated',
  /** Notify mode: the owner was told; waiting for the resource to become compliant. */
  Notified: 'Notified',
  Remediating: 'Remediating',
  Verifying: 'Verifying',
  Remediated: 'Remediated',
  AlreadyCompliant: 'AlreadyCompliant',
  /** Notify mode: the resource became compliant without us changing it. */
  Resolved: 'Resolved',
  /** Notify mode: still not compliant when the ladder ran out. */
  Unresolved: 'Unresolved',
  Rejected: 'Rejected',
  /** An undo window: the verified fix can still be taken back. */
  UndoAvailable: 'UndoAvailable',
  /** A verified fix taken back within the undo window. */
  Reverted: 'Reverted',
  Exempt: 'Exempt',
  OutOfScope: 'OutOfScope',
  /** The policy turns the control off. */
  Skipped: 'Skipped',
  DryRun: 'DryRun',
  Failed: 'Failed',
  /**
   * A step the run cannot close without (signing its evidence) keeps failing: retried on a
   * schedule, escalated to a person; `getStatus.stalled` says which step and why.
   */
  Stalled: 'Stalled',
} as const;
export type RemediationStatus = (typeof RemediationStatus)[keyof typeof RemediationStatus];

/** The finding's search attributes every workflow about it starts with (remediation, undo window). Pure. */
export function findingSearchAttributes(f: Pick<Finding, 'id' | 'control' | 'resource' | 'account' | 'region' | 'severity'>, policyHash: string) {
  return [
    { key: SearchAttr.FindingId, value: f.id },
    { key: SearchAttr.Control, value: f.control },
    { key: SearchAttr.Resource, value: f.resource.id },
    { key: SearchAttr.Account, value: f.account },
    { key: SearchAttr.Region, value: f.region },
    { key: SearchAttr.Severity, value: f.severity },
    { key: SearchAttr.PolicyHash, value: policyHash },
  ];
}

/** What a listed remediation says about its finding, read from its search attributes ('' when unset). */
export interface FindingAttributes {
  readonly findingId: string;
  readonly control: string;
  readonly resource: string;
  readonly account: string;
  readonly region: string;
  readonly severity: string;
  /** RemediationStatus (AwaitingApproval, Escalated, Notified, ...). */
  readonly status: string;
}

/** Reads the finding's search attributes of a workflow from a visibility listing. Pure. */
export function findingAttributes(sa: { get(key: KeywordAttr): string | undefined }): FindingAttributes {
  return {
    findingId: sa.get(SearchAttr.FindingId) ?? '',
    control: sa.get(SearchAttr.Control) ?? '',
    resource: sa.get(SearchAttr.Resource) ?? '',
    account: sa.get(SearchAttr.Account) ?? '',
    region: sa.get(SearchAttr.Region) ?? '',
    severity: sa.get(SearchAttr.Severity) ?? '',
    status: sa.get(SearchAttr.Status) ?? '',
  };
}
