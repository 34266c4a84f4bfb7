import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { isRegisteredControl } from '../activities/controls/index.js';
import { snapshotFor } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { revertWorkflowId, type RevertInput, type revertFix } from '../workflows/revert-fix.js';
import { SearchAttr } from '../workflows/search-attributes.js';
import type { UpdateDefinition } from '@temporalio/common';
import { decideRemediation, getStatus, undoRemediation, type DecisionAck, type DecisionRequest, type UndoAck, type UndoRequest } from '../workflows/messages.js';
import { decisionClaims, type DecisionClaims, type SignedDecision } from '../decisions/signed.js';

export type UpdateOutcome<T> = { readonly ok: true; readonly ack: T } | { readonly ok: false; readonly message: string };
export type DecisionOutcome = UpdateOutcome<DecisionAck>;

type Target = { readonly workflowId: string; readonly runId?: string };

/**
 * Signs one decision's claims: the trigger server's relay key for Slack clicks, the operator's key
 * at the CLI (`DecisionKey.sign`, src/decisions/sign.ts). Called once per target workflow, since
 * the claims name the workflow, its run and its plan.
 */
export type DecisionSigner = (claims: DecisionClaims) => SignedDecision;

/**
 * The digest of the plan `target` is waiting on (`getStatus().planDigest`), or undefined when it
 * has none or cannot answer (finished long ago, no worker): the decision then names no plan, and
 * the workflow says why that is not enough.
 */
export async function planDigestOf(client: Client, target: Target): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(target.workflowId, target.runId).query(getStatus)).planDigest;
  } catch {
    return undefined;
  }
}

/** `req` for `target` with its signed decision (claims: this workflow and run, the plan digest, the decider, the reason, now). */
export function signDecision(sign: DecisionSigner, target: Target, req: DecisionRequest, now = new Date()): DecisionRequest {
  const { signed: _unsigned, ...rest } = req;
  const claims = decisionClaims({ kind: 'decision', workflowId: target.workflowId, runId: target.runId, decision: req.decision, planDigest: req.planDigest, by: req.by, reason: req.reason, issuedAt: now.toISOString() });
  return { ...rest, signed: sign(claims) };
}

/** `req` (an undo) for `target` with its signed request. */
export function signUndo(sign: DecisionSigner, target: Target, req: UndoRequest, now = new Date()): UndoRequest {
  const { signed: _unsigned, ...rest } = req;
  return { ...rest, signed: sign(decisionClaims({ kind: 'undo', workflowId: target.workflowId, runId: target.runId, by: req.by, reason: req.reason, issuedAt: now.toISOString() })) };
}

/**
 * Sends a person's request (approve/reject, undo) to a remediation as a Temporal Update and says,
 * in words a person can act on, why it was refused: already decided, not waiting, not an
 * approver, finished, unknown. `updateId` dedupes retries of the same click. Throws only when
 * Temporal itself cannot be reached.
 */
async function sendUpdate<Ret, Arg>(client: Client, target: Target, def: UpdateDefinition<Ret, [Arg]>, arg: Arg, updateId?: string): Promise<UpdateOutcome<Ret>> {
  const handle = client.workflow.getHandle(target.workflowId, target.runId);
  try {
    const ack = await handle.executeUpdate(def, { args: [arg], ...(updateId ? { updateId } : {}) });
    return { ok: true, ack };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      return { ok: false, message: `Not accepted: ${(err.cause as Error | undefined)?.message ?? err.message}` };
    }
    if (err instanceof WorkflowNotFoundError) {
      // Updates to a closed run also say "not found": tell a finished remediation from an unknown one.
      const closed = await handle.describe().then(
        (d) => d.status.name !== 'RUNNING',
        () => false,
      );
      if (closed) return { ok: false, message: 'Not accepted: this remediation has already finished; nothing was changed' };
      return { ok: false, message: `Not accepted: no remediation ${target.workflowId}${target.runId ? ` (run ${target.runId})` : ''}` };
    }
    throw err;
  }
}

/** Approves or rejects a remediation waiting for a person. */
export function sendDecision(client: Client, target: Target, req: DecisionRequest, updateId?: string): Promise<DecisionOutcome> {
  return sendUpdate(client, target, decideRemediation, req, updateId);
}

/** Takes a verified fix back while its undo window is open. */
export function sendUndo(client: Client, target: Target, req: UndoRequest, updateId?: string): Promise<UpdateOutcome<UndoAck>> {
  return sendUpdate(client, target, undoRemediation, req, updateId);
}

export interface BulkOutcome {
  /** Remediations that took the decision. */
  readonly accepted: number;
  /** Remediations that refused it (already decided, finished meanwhile, not an approver), with why, most common first. */
  readonly refused: number;
  readonly reasons: readonly { readonly message: string; readonly count: number }[];
}

/**
 * One person's decision for every remediation `query` matches (e.g. the held fixes of a digest, or
 * a CLI filter): sent to each as its own Update, recorded on each as that person's decision with
 * `by.bulk` naming where it came from. Each remediation's validator still checks the decider,
 * so a bulk decision can do nothing a single one could not. At most `concurrency` at a time
 * (Temporal allows 10 in-flight updates per workflow; these go to many workflows, one each).
 * The update id makes a repeated run of the same bulk decision a no-op for those already done.
 * With `sign`, each remediation gets a decision signed for it alone: its workflow id and run, and
 * the plan it is waiting on (read with `getStatus`), so the decision is bound to that plan and
 * recorded, signature and all, in that remediation's evidence.
 */
export async function decideByQuery(
  client: Client,
  query: string,
  req: DecisionRequest & { by: DecisionRequest['by'] & { bulk: string } },
  o: { concurrency?: number; onProgress?: (done: number) => void; sign?: DecisionSigner } = {},
): Promise<BulkOutcome> {
  const targets: Target[] = [];
  for await (const wf of client.workflow.list({ query, pageSize: 1000 })) targets.push({ workflowId: wf.workflowId, runId: wf.runId });
  let accepted = 0;
  let done = 0;
  const refusals = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency ?? 16, targets.length) }, async () => {
      while (next < targets.length) {
        const t = targets[next++]!;
        let one: DecisionRequest = req;
        if (o.sign) {
          const planDigest = await planDigestOf(client, t);
          one = signDecision(o.sign, t, { ...req, ...(planDigest ? { planDigest } : {}) });
        }
        const out = await sendDecision(client, t, one, `${req.by.bulk}:${req.decision}:${req.by.via}:${req.by.id}`);
        if (out.ok) accepted++;
        else refusals.set(out.message, (refusals.get(out.message) ?? 0) + 1);
        o.onProgress?.(++done);
      }
    }),
  );
  const reasons = [...refusals].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
  return { accepted, refused: done - accepted, reasons };
}

/**
 * Asks for the undo of a verified fix: starts the `revertFix` workflow of that remediation run
 * (by default the latest run of `remediation.workflowId`) and waits for it, which takes seconds.
 * The workflow decides (window still open, an approver when from Slack, still the latest fix);
 * a refusal comes back with its reason and changes nothing. An undo already done or under way is
 * refused here. Throws only when Temporal cannot be reached. With `sign`, the request carries an
 * undo signed for that remediation run (`signed` in the workflow input, as in an `UndoRequest`).
 */
export async function requestUndo(
  client: Client,
  o: { remediation: Target; by: UndoRequest['by']; reason?: string; policy: Policy; taskQueue: string; sign?: DecisionSigner },
): Promise<UpdateOutcome<UndoAck>> {
  let run;
  try {
    run = await client.workflow.getHandle(o.remediation.workflowId, o.remediation.runId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { ok: false, message: `Not accepted: no remediation ${o.remediation.workflowId}` };
    throw err;
  }
  const control = run.typedSearchAttributes.get(SearchAttr.Control);
  if (!control || !isRegisteredControl(control)) return { ok: false, message: `Not accepted: ${o.remediation.workflowId} is not a remediation of a known control` };
  const remediation = { workflowId: run.workflowId, runId: run.runId };
  const requestedAt = new Date().toISOString();
  const signed = o.sign ? signUndo(o.sign, remediation, { by: o.by, ...(o.reason ? { reason: o.reason } : {}) }, new Date(requestedAt)).signed : undefined;
  const input: RevertInput & { signed?: SignedDecision } = {
    remediation,
    by: o.by,
    ...(o.reason ? { reason: o.reason } : {}),
    policy: snapshotFor(o.policy, control, run.typedSearchAttributes.get(SearchAttr.Account)),
    requestedAt,
    ...(signed ? { signed } : {}),
  };
  const copied = [SearchAttr.FindingId, SearchAttr.Control, SearchAttr.Resource, SearchAttr.Account, SearchAttr.Region, SearchAttr.Severity].flatMap((key) => {
    const value = run.typedSearchAttributes.get(key);
    return value ? [{ key, value }] : [];
  });
  let handle;
  try {
    handle = await client.workflow.start<typeof revertFix>('revertFix', {
      workflowId: revertWorkflowId(remediation),
      taskQueue: o.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      // An undo that succeeded is final; one refused or failed may be asked for again.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      staticSummary: `Undo the fix of ${run.workflowId}`,
      typedSearchAttributes: [...copied, { key: SearchAttr.PolicyHash, value: o.policy.hash }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { ok: false, message: 'Not accepted: this fix was already undone, or its undo is under way; nothing more was changed' };
    throw err;
  }
  try {
    const rec = await handle.result();
    return { ok: true, ack: { by: rec.undo?.by ?? { ...o.by }, requestedAt } };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure) return { ok: false, message: cause.message.startsWith('Not accepted') ? cause.message : `Not done: ${cause.message}` };
    throw err;
  }
}
