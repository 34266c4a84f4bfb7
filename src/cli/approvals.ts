import type { Client } from '@temporalio/client';
import { sendDecision, type DecisionOutcome } from '../triggers/decisions.js';
import { undoWorkflowId } from '../activities/undo.js';
import { getStatus, type StatusView } from '../workflows/messages.js';
import { findingAttributes, RemediationStatus, type FindingAttributes } from '../workflows/search-attributes.js';

export interface PendingApproval extends FindingAttributes {
  readonly workflowId: string;
  readonly runId: string;
  readonly since: Date;
  readonly reasons: readonly string[];
  readonly change: string | null;
}

const PENDING_QUERY = `ExecutionStatus = "Running" AND (RemediationStatus = "${RemediationStatus.AwaitingApproval}" OR RemediationStatus = "${RemediationStatus.Escalated}")`;

/** Remediations waiting for a person, oldest first, from Temporal visibility (by the RemediationStatus search attribute). */
export async function listPending(client: Client): Promise<PendingApproval[]> {
  const out: PendingApproval[] = [];
  for await (const wf of client.workflow.list({ query: PENDING_QUERY })) {
    let view: StatusView | undefined;
    try {
      view = await client.workflow.getHandle(wf.workflowId, wf.runId).query(getStatus);
    } catch {
      view = undefined; // no worker right now: list it anyway, without the live details
    }
    const attrs = findingAttributes(wf.typedSearchAttributes);
    out.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      ...attrs,
      status: view?.status ?? attrs.status,
      since: wf.startTime,
      reasons: view?.approvalReasons ?? [],
      change: view?.plannedChange ?? null,
    });
  }
  return out.sort((a, b) => a.since.getTime() - b.since.getTime());
}

/**
 * The running remediation a person means: a workflow id as is (`finding/...`), else the open
 * remediation whose FindingId is `id`. Throws when none or several match.
 */
export async function resolveRemediation(client: Client, id: string): Promise<string> {
  if (id.startsWith('finding/')) return id;
  const matches: string[] = [];
  const query = `ExecutionStatus = "Running" AND WorkflowType = "remediateFinding" AND FindingId = "${escapeQuery(id)}"`;
  for await (const wf of client.workflow.list({ query })) matches.push(wf.workflowId);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new Error(`no running remediation for finding "${id}" (give the workflow id, finding/...)`);
  throw new Error(`finding "${id}" matches several remediations; give one workflow id:\n${matches.map((m) => `  ${m}`).join('\n')}`);
}

const escapeQuery = (v: string) => v.replace(/["\\]/g, '\\$&');

/**
 * The open undo window a person means: `undo/...` as is, a remediation workflow id (`finding/...`),
 * or a finding id. Throws when none is open.
 */
export async function resolveUndoWindow(client: Client, id: string): Promise<string> {
  if (id.startsWith('undo/')) return id;
  if (id.startsWith('finding/')) return undoWorkflowId(id);
  const matches: string[] = [];
  for await (const wf of client.workflow.list({ query: `ExecutionStatus = "Running" AND WorkflowType = "undoWindow" AND FindingId = "${escapeQuery(id)}"` })) matches.push(wf.workflowId);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new Error(`no open undo window for finding "${id}" (closed, or never opened)`);
  throw new Error(`finding "${id}" matches several undo windows; give one:\n${matches.map((m) => `  ${m}`).join('\n')}`);
}

/** Approves or rejects from the CLI, recorded as `cli:<operator>`. */
export async function decideFromCli(client: Client, id: string, decision: 'approve' | 'reject', operator: string, reason?: string): Promise<DecisionOutcome> {
  const workflowId = await resolveRemediation(client, id);
  return sendDecision(client, { workflowId }, { decision, by: { id: operator, name: operator, via: 'cli' }, ...(reason ? { reason } : {}) });
}

export function formatPending(list: readonly PendingApproval[], now = new Date()): string {
  if (list.length === 0) return 'No remediation is waiting for approval.';
  const lines = [`${list.length} remediation${list.length === 1 ? '' : 's'} waiting for approval:`];
  for (const p of list) {
    const mins = Math.round((now.getTime() - p.since.getTime()) / 60_000);
    lines.push('');
    lines.push(`  ${p.workflowId}`);
    lines.push(`    finding  ${p.findingId}   ${p.severity}   ${p.status}, waiting ${mins} min`);
    if (p.change) lines.push(`    change   ${p.change}`);
    for (const r of p.reasons) lines.push(`    why      ${r}`);
  }
  lines.push('');
  lines.push('Decide with: npm run cli -- approve <workflow id or finding id> [--as NAME] [--reason TEXT]   (or reject)');
  return lines.join('\n');
}
