import { allHandlersFinished, condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { evaluateFix, pruneLedger, type FixGrant } from '../policy/decide.js';
import { requestFix, type LedgerState } from './messages.js';

/** Continue as new after this many requests, so the history stays small. */
const REQUESTS_PER_RUN = 500;
/** With no request for this long, the ledger closes (when empty) or starts a fresh run. */
const IDLE = '1 hour';

/**
 * The guardrail ledger of one control (workflow id `fix-ledger/<task queue>/<control>`): every fix of the
 * control asks it first, one at a time, so flap detection and the hourly budget are exact
 * across all workers and all findings. Started on demand by update-with-start.
 */
export async function fixLedger(state: LedgerState): Promise<void> {
  let grants: FixGrant[] = [...state.grants];
  let handled = 0;
  setHandler(requestFix, (req) => {
    const now = Date.now();
    grants = pruneLedger(grants, req.guardrails, now);
    const verdict = evaluateFix(grants, req, req.guardrails, now);
    if (verdict.allowed && !req.dryRun) grants.push({ resource: req.resource, at: now, automatic: req.automatic });
    handled++;
    return verdict;
  });
  const busy = await condition(() => handled >= REQUESTS_PER_RUN, IDLE);
  await condition(allHandlersFinished);
  const oldest = grants.reduce((m, g) => Math.min(m, g.at), Infinity);
  // Idle and nothing left that could still count: close; the next request starts a new ledger.
  if (!busy && (grants.length === 0 || Date.now() - oldest > 24 * 3600_000)) return;
  await continueAsNew<typeof fixLedger>({ grants });
}
