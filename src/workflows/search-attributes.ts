import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

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
} as const;

export const ALL_SEARCH_ATTRIBUTES = Object.values(SearchAttr);

/** Values of the `RemediationStatus` search attribute. */
export const RemediationStatus = {
  Triaging: 'Triaging',
  Remediating: 'Remediating',
  Verifying: 'Verifying',
  Remediated: 'Remediated',
  AlreadyCompliant: 'AlreadyCompliant',
  Failed: 'Failed',
} as const;
export type RemediationStatus = (typeof RemediationStatus)[keyof typeof RemediationStatus];
