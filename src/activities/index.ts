import type { WebClient } from '@slack/web-api';
import { createGuardrailActivities, type GuardrailDeps } from './guardrails.js';
import { createRemediationActivities, type RemediationDeps } from './remediation.js';
import { createSlackActivities } from './slack.js';
import { createSecurityHubActivities, securityHubClients } from './securityhub.js';
import { createScanActivities } from './scan.js';
import { createUndoActivities } from './undo.js';
import { createEvidenceActivities } from './evidence.js';
import { createDigestActivities } from './digest.js';
import type { EvidenceKey } from '../evidence/signing.js';
import type { Policy } from '../policy/types.js';

export type { Triage, FixResult, Verification, PlannedChange } from './remediation.js';

export interface ActivityDeps extends RemediationDeps {
  /** Slack Web API client; undefined when no token is configured (approvals then come from the CLI). */
  readonly slack?: WebClient;
  /** Temporal client and task queue for the guardrail ledger. */
  readonly ledger: GuardrailDeps;
  /** The worker's policy (for scans) and the verify deadline given to the remediations a scan starts. */
  readonly policy: Policy;
  readonly verifyDeadlineMs: number;
  /** Signs evidence records; the private key stays in the worker. */
  readonly evidenceKey: EvidenceKey;
  /** Where signed records are also archived, if anywhere. */
  readonly evidenceArchive?: { readonly bucket: string; readonly prefix: string; readonly retentionDays: number; readonly region: string };
  /** False turns Security Hub write-back off (e.g. against an emulator that lacks BatchUpdateFindings). */
  readonly securityHubWriteBack?: boolean;
}

/** Every activity the worker registers, with dependencies injected. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createRemediationActivities(deps),
    ...createSlackActivities(deps.slack),
    ...createGuardrailActivities(deps.ledger),
    ...createDigestActivities({ client: deps.ledger.client, ...(deps.slack ? { slack: deps.slack } : {}) }),
    ...(deps.securityHubWriteBack === false ? writeBackOff : createSecurityHubActivities(securityHubClients(deps.aws))),
    ...createUndoActivities(deps.ledger),
    ...createEvidenceActivities({
      key: deps.evidenceKey,
      ...(deps.evidenceArchive ? { archive: { s3: deps.aws.s3(deps.evidenceArchive.region), ...deps.evidenceArchive } } : {}),
    }),
    ...createScanActivities({ aws: deps.aws, client: deps.ledger.client, taskQueue: deps.ledger.taskQueue, policy: deps.policy, verifyDeadlineMs: deps.verifyDeadlineMs }),
  };
}
export type Activities = ReturnType<typeof createActivities>;

const writeBackOff: ReturnType<typeof createSecurityHubActivities> = {
  async updateSecurityHubFinding() {
    return { updated: false, reason: 'Security Hub write-back is off (SECURITYHUB_WRITEBACK=off)' };
  },
};
