import { ApplicationFailure } from '@temporalio/common';
import { log } from '@temporalio/activity';
import { BatchUpdateFindingsCommand, type SecurityHubClient } from '@aws-sdk/client-securityhub';
import { ErrorType } from '../errors.js';
import type { AwsClients } from './aws.js';
import { awsCall } from './aws-errors.js';

/**
 * Writes the outcome of a remediation back to the Security Hub finding it came from, with
 * BatchUpdateFindings (PATCH /findings/batchupdate): the workflow status and a note saying
 * what rectify did (docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindings.html).
 */

/** The Security Hub finding to update: `Finding.origin.findingId` / `.productArn` and the finding's region. */
export interface SecurityHubTarget {
  readonly findingId: string;
  readonly productArn: string;
  readonly region: string;
  /**
   * The member account whose own Security Hub holds the finding (`securityHubHolder`): the
   * update goes there, with that account's member role. Absent: the hub's Security Hub.
   */
  readonly account?: string;
}

/** Workflow statuses rectify sets. (`NEW` exists too; rectify never moves a finding back to it.) */
export const SECURITY_HUB_WORKFLOW_STATUSES = ['RESOLVED', 'NOTIFIED', 'SUPPRESSED'] as const;
export type SecurityHubWorkflowStatus = (typeof SECURITY_HUB_WORKFLOW_STATUSES)[number];

export interface SecurityHubUpdate {
  readonly status: SecurityHubWorkflowStatus;
  /** Shown on the finding; cut to `NOTE_LIMITS.text`. */
  readonly note: string;
  /** Who made the change (e.g. `rectify` or `rectify (approved by ana)`); cut to `NOTE_LIMITS.updatedBy`. */
  readonly updatedBy: string;
}

export interface SecurityHubUpdateResult {
  /** True when Security Hub listed the finding as processed. */
  readonly updated: boolean;
  /** Why not, when not updated: `ErrorCode: ErrorMessage` from UnprocessedFindings. */
  readonly reason?: string;
}

/**
 * Note limits: Note.Text is 1..512 characters (API_Note), NoteUpdate.Text and UpdatedBy
 * 1..512 (AWS::SecurityHub::AutomationRule NoteUpdate); both must hold a non-blank character.
 */
export const NOTE_LIMITS = Object.freeze({ text: 512, updatedBy: 512 });

const ELLIPSIS = '…';

/** `s` cut to at most `max` UTF-16 units (so also at most `max` code points), ending in an ellipsis when cut; never splits a surrogate pair. */
export function cutNote(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, max - ELLIPSIS.length);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut + ELLIPSIS;
}

/** Non-blank (the API's `.*\S.*` pattern) and within `max`, or `fallback`. */
function noteField(s: string, max: number, fallback: string): string {
  return /\S/.test(s) ? cutNote(s, max) : fallback;
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message, nonRetryable: true });
}

export interface SecurityHubDeps {
  /**
   * The Security Hub client of a region (findings live in the region that produced them): the
   * hub's, or with `account` that member account's (its member role).
   */
  client(region: string, account?: string): SecurityHubClient;
}

/** Security Hub clients from the worker's AWS clients: the hub's own, or a member account's. */
export function securityHubClients(aws: AwsClients): SecurityHubDeps {
  return { client: (region, account) => (account ? aws.forAccount(account) : aws).securityHub(region) };
}

export function createSecurityHubActivities(o: SecurityHubDeps) {
  return {
    /**
     * Sets the finding's workflow status and note. A finding Security Hub cannot update (it no
     * longer exists, or belongs to an account we do not administer) is reported as
     * `updated: false` with the reason, not failed: the remediation itself stands. AWS errors
     * (access denied, throttling, outages) go through the error catalogue.
     */
    async updateSecurityHubFinding(target: SecurityHubTarget, update: SecurityHubUpdate): Promise<SecurityHubUpdateResult> {
      if (!target.findingId || !target.productArn || !target.region) {
        throw invalid('updateSecurityHubFinding needs findingId, productArn and region');
      }
      if (!(SECURITY_HUB_WORKFLOW_STATUSES as readonly string[]).includes(update.status)) {
        throw invalid(`updateSecurityHubFinding: unsupported workflow status ${JSON.stringify(update.status)}`);
      }
      const identifier = { Id: target.findingId, ProductArn: target.productArn };
      const action = `BatchUpdateFindings ${update.status} on ${target.findingId}`;
      const out = await awsCall(action, () =>
        o.client(target.region, target.account).send(
          new BatchUpdateFindingsCommand({
            FindingIdentifiers: [identifier],
            Workflow: { Status: update.status },
            Note: { Text: noteField(update.note, NOTE_LIMITS.text, `Workflow status set to ${update.status} by rectify`), UpdatedBy: noteField(update.updatedBy, NOTE_LIMITS.updatedBy, 'rectify') },
          }),
        ),
      );

      const same = (f: { Id?: string; ProductArn?: string } | undefined) => f?.Id === identifier.Id && f.ProductArn === identifier.ProductArn;
      const unprocessed = (out.UnprocessedFindings ?? []).find((u) => same(u.FindingIdentifier)) ?? out.UnprocessedFindings?.[0];
      if (unprocessed) {
        const reason = `${unprocessed.ErrorCode ?? 'UnknownError'}: ${unprocessed.ErrorMessage ?? 'no message'}`;
        log.warn('Security Hub did not update the finding', { findingId: target.findingId, reason });
        return { updated: false, reason };
      }
      if (!(out.ProcessedFindings ?? []).some(same)) {
        const reason = 'Security Hub listed the finding neither as processed nor as unprocessed';
        log.warn(reason, { findingId: target.findingId });
        return { updated: false, reason };
      }
      log.info('Security Hub finding updated', { findingId: target.findingId, status: update.status });
      return { updated: true };
    },
  };
}
