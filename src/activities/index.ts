import { createRemediationActivities, type RemediationDeps } from './remediation.js';

export type { Triage, FixResult, Verification, PlannedChange } from './remediation.js';

/** Every activity the worker registers, with dependencies injected. */
export function createActivities(deps: RemediationDeps) {
  return { ...createRemediationActivities(deps) };
}
export type Activities = ReturnType<typeof createActivities>;
