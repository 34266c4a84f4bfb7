/**
 * Temporal visibility queries over the product's search attributes, shared by the digest, the
 * Slack and CLI bulk decisions and the approvals list. Pure strings: safe anywhere.
 */
import { ApprovalReason, RemediationStatus, SearchAttr } from './search-attributes.js';

/** A value quoted for a visibility query. */
export const quote = (v: string) => `"${v.replace(/["\\]/g, '\\$&')}"`;

const WAITING = `ExecutionStatus = "Running" AND (${SearchAttr.Status.name} = "${RemediationStatus.AwaitingApproval}" OR ${SearchAttr.Status.name} = "${RemediationStatus.Escalated}")`;

/** Which remediations waiting for a person a list or a bulk decision covers; every field narrows. */
export interface PendingFilter {
  readonly control?: string;
  readonly account?: string;
  readonly region?: string;
  /** An `ApprovalReason`: policy, tagged, budget, flapping. */
  readonly reason?: string;
  readonly taskQueue?: string;
  /** Started at or after / before (ISO), e.g. one hour of a digest. */
  readonly startedFrom?: string;
  readonly startedBefore?: string;
}

/**
 * Remediations waiting for a person (AwaitingApproval or Escalated) that match `f`; with
 * `waiting` false, every remediation that matches, decided or not (e.g. all held in an hour).
 */
export function pendingQuery(f: PendingFilter = {}, waiting = true): string {
  const parts = ['WorkflowType = "remediateFinding"', ...(waiting ? [WAITING] : [])];
  if (f.control) parts.push(`${SearchAttr.Control.name} = ${quote(f.control)}`);
  if (f.account) parts.push(`${SearchAttr.Account.name} = ${quote(f.account)}`);
  if (f.region) parts.push(`${SearchAttr.Region.name} = ${quote(f.region)}`);
  if (f.reason) parts.push(`${SearchAttr.ApprovalReason.name} = ${quote(f.reason)}`);
  if (f.taskQueue) parts.push(`TaskQueue = ${quote(f.taskQueue)}`);
  if (f.startedFrom) parts.push(`StartTime >= ${quote(f.startedFrom)}`);
  if (f.startedBefore) parts.push(`StartTime < ${quote(f.startedBefore)}`);
  return parts.join(' AND ');
}

/** The fixes of `control` its budget held in one hour of one deployment: what a digest covers. */
export function heldFixesFilter(o: { control: string; taskQueue: string; hour: { start: string; end: string } }): PendingFilter {
  return { control: o.control, reason: ApprovalReason.Budget, taskQueue: o.taskQueue, startedFrom: o.hour.start, startedBefore: o.hour.end };
}

/** Automatic fixes of `control` in one deployment since `since` (ISO): what the hourly budget counts. */
export function autoFixesSinceQuery(taskQueue: string, control: string, since: string): string {
  return `TaskQueue = ${quote(taskQueue)} AND ${SearchAttr.Control.name} = ${quote(control)} AND ${SearchAttr.AutoFixedAt.name} >= ${quote(since)}`;
}

/** Every `ApprovalReason` value, for validating input. */
export const APPROVAL_REASONS: readonly string[] = Object.values(ApprovalReason);
