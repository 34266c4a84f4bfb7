import type { WebClient } from '@slack/web-api';
import { createGuardrailActivities, type GuardrailDeps } from './guardrails.js';
import { createRemediationActivities, type RemediationDeps } from './remediation.js';
import { createSlackActivities } from './slack.js';

export type { Triage, FixResult, Verification, PlannedChange } from './remediation.js';

export interface ActivityDeps extends RemediationDeps {
  /** Slack Web API client; undefined when no token is configured (approvals then come from the CLI). */
  readonly slack?: WebClient;
  /** Temporal client and task queue for the guardrail ledger. */
  readonly ledger: GuardrailDeps;
}

/** Every activity the worker registers, with dependencies injected. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createRemediationActivities(deps),
    ...createSlackActivities(deps.slack),
    ...createGuardrailActivities(deps.ledger),
  };
}
export type Activities = ReturnType<typeof createActivities>;
