import type { Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes.js';
import { planDigestOf, sendDecision, signDecision, type DecisionOutcome, type DecisionSigner } from '../triggers/decisions.js';
import { undoWorkflowId } from '../activities/undo.js';
import { pendingQuery, quote, type PendingFilter } from '../workflows/queries.js';
import { ApprovalReason, findingAttributes, SearchAttr, type FindingAttributes } from '../workflows/search-attributes.js';

export interface PendingApproval extends FindingAttributes {
  readonly workflowId: string;
  readonly runId: string;
  readonly since: Date;
  /** Why a person is asked (`ApprovalReason`); '' for remediations started before it was recorded. */
  readonly reason: string;
}

export interface PendingPage {
  /** How many remediations match in all (not only this page). */
  readonly total: number;
  /** This page, newest first (the order Temporal visibility lists in). */
  readonly items: readonly PendingApproval[];
  /** Pass to `listPending` (the CLI's --page) for the next page; absent on the last one. */
  readonly nextPage?: string;
}

/**
 * One page of the remediations waiting for a person, and how many there are in all, straight from
 * Temporal visibility (search attributes only: no call to any workflow, so it answers as fast with
 * ten thousand waiting as with ten, and with no worker running).
 */
export async function listPending(client: Client, o: { filter?: PendingFilter; limit?: number; page?: string } = {}): Promise<PendingPage> {
  const query = pendingQuery(o.filter);
  const [total, page] = await Promise.all([
    client.workflow.count(query),
    client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query,
      pageSize: o.limit ?? 50,
      ...(o.page ? { nextPageToken: Buffer.from(o.page, 'base64url') } : {}),
    }),
  ]);
  const items = (page.executions ?? []).map((e): PendingApproval => {
    const sa = decodeTypedSearchAttributes(e.searchAttributes?.indexedFields);
    const seconds = Number(e.startTime?.seconds ?? 0);
    return {
      workflowId: e.execution?.workflowId ?? '',
      runId: e.execution?.runId ?? '',
      ...findingAttributes(sa),
      since: new Date(seconds * 1000 + Math.floor((e.startTime?.nanos ?? 0) / 1e6)),
      reason: sa.get(SearchAttr.ApprovalReason) ?? '',
    };
  });
  const next = page.nextPageToken && page.nextPageToken.length > 0 ? Buffer.from(page.nextPageToken).toString('base64url') : undefined;
  return { total: total.count, items, ...(next ? { nextPage: next } : {}) };
}

/**
 * The running remediation a person means: a workflow id as is (`finding/...`), else the open
 * remediation whose FindingId is `id`. Throws when none or several match.
 */
export async function resolveRemediation(client: Client, id: string): Promise<string> {
  if (id.startsWith('finding/')) return id;
  const matches: string[] = [];
  const query = `ExecutionStatus = "Running" AND WorkflowType = "remediateFinding" AND FindingId = ${quote(id)}`;
  for await (const wf of client.workflow.list({ query })) matches.push(wf.workflowId);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new Error(`no running remediation for finding "${id}" (give the workflow id, finding/...)`);
  throw new Error(`finding "${id}" matches several remediations; give one workflow id:\n${matches.map((m) => `  ${m}`).join('\n')}`);
}

/**
 * The fix a person means to undo: `undo/<remediation>` or `finding/...` as is, else the latest
 * remediation of the finding id. `legacyWindow` is set when that remediation still has a
 * first-version undo window running (it takes the request as an Update).
 */
export async function resolveUndoTarget(client: Client, id: string): Promise<{ remediation: string; runId?: string; legacyWindow?: string }> {
  let remediation = id.startsWith('undo/') ? id.slice('undo/'.length) : id;
  // `undo/finding/<account>/<region>/<control>/<resource>/<run id>`: the undo of one run.
  const parts = remediation.split('/');
  if (parts[0] === 'finding' && parts.length === 6) return { remediation: parts.slice(0, 5).join('/'), runId: parts[5]! };
  if (!remediation.startsWith('finding/')) {
    const matches = new Set<string>();
    for await (const wf of client.workflow.list({ query: `WorkflowType = "remediateFinding" AND FindingId = ${quote(id)}` })) matches.add(wf.workflowId);
    if (matches.size === 0) throw new Error(`no remediation for finding "${id}" (give the workflow id, finding/...)`);
    if (matches.size > 1) throw new Error(`finding "${id}" matches several remediations; give one workflow id:\n${[...matches].map((m) => `  ${m}`).join('\n')}`);
    remediation = [...matches][0]!;
  }
  const window = undoWorkflowId(remediation);
  const running = await client.workflow
    .getHandle(window)
    .describe()
    .then((d) => d.status.name === 'RUNNING' && d.type === 'undoWindow', () => false);
  return { remediation, ...(running ? { legacyWindow: window } : {}) };
}

/**
 * Approves or rejects from the CLI, recorded as `cli:<operator>`: the decision is signed with the
 * operator's key for that remediation's current run and the plan it is waiting on (read with
 * `getStatus`), so it decides exactly what `approvals` showed, and nothing proposed later.
 */
export async function decideFromCli(
  client: Client,
  id: string,
  decision: 'approve' | 'reject',
  operator: { readonly name: string; readonly sign: DecisionSigner },
  reason?: string,
): Promise<DecisionOutcome> {
  const workflowId = await resolveRemediation(client, id);
  const runId = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.runId, () => undefined);
  const target = { workflowId, ...(runId ? { runId } : {}) };
  const planDigest = await planDigestOf(client, target);
  const by = { id: operator.name, name: operator.name, via: 'cli' as const };
  return sendDecision(client, target, signDecision(operator.sign, target, { decision, by, ...(reason ? { reason } : {}), ...(planDigest ? { planDigest } : {}) }));
}

const WHY: Readonly<Record<string, string>> = {
  [ApprovalReason.Policy]: "the control's mode is approve",
  [ApprovalReason.Tagged]: 'a tag on the resource requires approval',
  [ApprovalReason.Budget]: "held: the control's hourly budget of automatic fixes is spent",
  [ApprovalReason.Flapping]: 'the resource was fixed too often lately (flapping)',
};

export function formatPending(page: PendingPage, now = new Date()): string {
  if (page.total === 0) return 'No remediation is waiting for approval.';
  const shown = page.items.length < page.total ? ` (showing ${page.items.length}, newest first)` : '';
  const lines = [`${page.total} remediation${page.total === 1 ? '' : 's'} waiting for approval${shown}:`];
  for (const p of page.items) {
    const mins = Math.round((now.getTime() - p.since.getTime()) / 60_000);
    lines.push('');
    lines.push(`  ${p.workflowId}`);
    lines.push(`    finding  ${p.findingId}   ${p.severity}   ${p.status}, waiting ${mins} min`);
    if (p.reason) lines.push(`    why      ${p.reason}: ${WHY[p.reason] ?? p.reason}`);
  }
  lines.push('');
  if (page.nextPage) lines.push(`Next page: npm run cli -- approvals --page ${page.nextPage}`);
  lines.push('Decide one:  npm run cli -- approve <workflow id or finding id> [--reason TEXT]   (or reject; signed with RECTIFY_OPERATOR_KEY_FILE)');
  lines.push('Decide many: npm run cli -- approve --all [--control ID] [--account ID] [--why REASON]   (asks to confirm the count)');
  return lines.join('\n');
}
