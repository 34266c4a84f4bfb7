import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Finding, FindingSource, FindingState } from '../findings/finding.js';
import type { RemediationStatus } from './search-attributes.js';

/** Input of `remediateFinding`. */
export interface RemediationInput {
  readonly finding: Finding;
  /** When the trigger received the finding (ISO 8601). */
  readonly receivedAt: string;
  /** How long verification may keep re-reading before the fix is declared failed. */
  readonly verifyDeadlineMs: number;
}

/** Another delivery of the same finding (at-least-once sources, another scanner, a resolved event). */
export interface FindingObservation {
  readonly findingId: string;
  readonly source: FindingSource;
  readonly state: FindingState;
  readonly observedAt: string;
  readonly receivedAt: string;
}

export type Outcome = 'remediated' | 'already-compliant' | 'failed';

export interface StatusView {
  readonly status: RemediationStatus;
  readonly observations: number;
  readonly plannedChange: string | null;
}

/** The evidence record every remediation ends with: what was found, read, changed and verified, and when. */
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
  readonly outcome: Outcome;
  /** Why it failed, for `failed`. */
  readonly reason?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly before?: unknown;
  readonly after?: unknown;
  readonly change?: { readonly summary: string; readonly details: unknown; readonly applied: boolean; readonly note?: string };
  readonly observations: readonly FindingObservation[];
  readonly timestamps: {
    readonly detected: string;
    readonly received: string;
    readonly triaged?: string;
    readonly fixed?: string;
    readonly verified?: string;
    readonly closed: string;
  };
}

export const getStatus = defineQuery<StatusView>('getStatus');
export const recordObservation = defineSignal<[FindingObservation]>('recordObservation');
