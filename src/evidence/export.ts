import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WorkflowFailedError, type WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { RemediationRecord } from '../workflows/messages.js';
import type { UndoRecord } from '../workflows/undo-window.js';
import { findingAttributes, SearchAttr, type FindingAttributes, type KeywordAttr } from '../workflows/search-attributes.js';
import { verifyRecord } from './signing.js';

/** What to export: closed remediations and undo windows with CloseTime in [from, to), optionally filtered. */
export interface ExportQuery {
  readonly from: Date;
  readonly to: Date;
  /** FindingControl values (any of). */
  readonly controls?: readonly string[];
  /** FindingAccount values (any of). */
  readonly accounts?: readonly string[];
  /** RemediationStatus values (any of). */
  readonly statuses?: readonly string[];
}

export interface ExportOptions {
  /** Key ids (EvidenceSignature.keyId) whose signatures count; unset: any key whose signature checks out. */
  readonly trustedKeyIds?: readonly string[];
  /** Called after each closed execution is fetched: (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Executions fetched at once (default 8). */
  readonly concurrency?: number;
}

interface ExportedBase {
  readonly workflowId: string;
  readonly runId: string;
  /** When the execution closed (ISO), from visibility. */
  readonly closedAt: string;
  /** How the execution closed: COMPLETED, FAILED, TERMINATED, TIMED_OUT, CANCELLED... */
  readonly executionStatus: string;
  /** FindingControl and FindingResource of the execution (search attributes), known even without a record. */
  readonly control: string;
  readonly resource: string;
  /**
   * True only when there is a record, its signature checks out (under a trusted key when keys
   * are pinned), and it is the record of this very execution.
   */
  readonly verified: boolean;
  /** The key that signed it, when the signature checks out. */
  readonly keyId?: string;
  /** Why it is not verified (or has no record). */
  readonly problem?: string;
}

/** One closed execution and its evidence record; `record` is null when the run ended without one (terminated, timed out...). */
export type ExportedRecord =
  | (ExportedBase & { readonly kind: 'remediation'; readonly record: RemediationRecord | null })
  | (ExportedBase & { readonly kind: 'undo'; readonly record: UndoRecord | null });

/** A remediation still running at export time: a finding not closed yet. */
export interface OpenFinding extends FindingAttributes {
  readonly workflowId: string;
  readonly runId: string;
  /** When the remediation started (ISO): the finding has been open since. */
  readonly since: string;
}

export interface ExportResult {
  readonly records: ExportedRecord[];
  readonly open: OpenFinding[];
  /** One line per record that failed verification or has no record: `<workflow id> (run <run id>): <reason>`. */
  readonly problems: string[];
}

/** The part of a Temporal `Client` the export uses (a real Client fits). */
export interface EvidenceClient {
  readonly workflow: {
    list(options: { query: string }): AsyncIterable<WorkflowExecutionInfo>;
    result(workflowId: string, runId?: string, opts?: { followRuns?: boolean }): Promise<unknown>;
  };
}

export const REMEDIATION_WORKFLOW = 'remediateFinding';
/** Undo windows of the first version (they wait for a request) and undos started on request. */
export const UNDO_WORKFLOWS: readonly string[] = ['undoWindow', 'revertFix'];

/** A value inside a double-quoted visibility query literal. */
export function quoteQueryValue(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

function anyOf(attribute: string, values: readonly string[] | undefined): string[] {
  const vs = [...new Set(values ?? [])];
  if (vs.length === 0) return [];
  return [`(${vs.map((v) => `${attribute} = ${quoteQueryValue(v)}`).join(' OR ')})`];
}

function filterClauses(q: Omit<ExportQuery, 'from' | 'to'>): string[] {
  return [...anyOf(SearchAttr.Control.name, q.controls), ...anyOf(SearchAttr.Account.name, q.accounts), ...anyOf(SearchAttr.Status.name, q.statuses)];
}

function checkPeriod(q: ExportQuery): void {
  if (Number.isNaN(q.from.getTime()) || Number.isNaN(q.to.getTime())) throw new Error('the export period needs valid from and to dates');
  if (q.from.getTime() >= q.to.getTime()) throw new Error(`the export period is empty: from ${q.from.toISOString()} is not before to ${q.to.toISOString()}`);
}

/** Visibility query of the closed remediations and undo windows of the period. */
export function closedQuery(q: ExportQuery): string {
  checkPeriod(q);
  return [
    `(${[REMEDIATION_WORKFLOW, ...UNDO_WORKFLOWS].map((t) => `WorkflowType = ${quoteQueryValue(t)}`).join(' OR ')})`,
    'ExecutionStatus != "Running"',
    `CloseTime >= ${quoteQueryValue(q.from.toISOString())}`,
    `CloseTime < ${quoteQueryValue(q.to.toISOString())}`,
    ...filterClauses(q),
  ].join(' AND ');
}

/** Visibility query of the remediations still running that started before the end of the period. */
export function openQuery(q: ExportQuery): string {
  checkPeriod(q);
  return [
    `WorkflowType = ${quoteQueryValue(REMEDIATION_WORKFLOW)}`,
    'ExecutionStatus = "Running"',
    `StartTime < ${quoteQueryValue(q.to.toISOString())}`,
    ...filterClauses(q),
  ].join(' AND ');
}

/**
 * Checks one record: present, signature good (under `trustedKeyIds` when given), and the record of
 * this execution (a remediation names its own workflow and run; an undo window is `undo/<its remediation>`).
 */
export function verifyExported(
  kind: 'remediation' | 'undo',
  ids: { workflowId: string; runId: string },
  record: unknown,
  trustedKeyIds?: readonly string[],
): { verified: true; keyId: string } | { verified: false; problem: string } {
  if (record === null || record === undefined) return { verified: false, problem: 'no evidence record' };
  const v = verifyRecord(record, trustedKeyIds ? { trustedKeyIds } : {});
  if (!v.ok) return { verified: false, problem: v.reason === 'no signature' ? 'the record is not signed' : v.reason };
  const r = record as { workflowId?: unknown; runId?: unknown; remediation?: { workflowId?: unknown; runId?: unknown } };
  if (kind === 'remediation' && (r.workflowId !== ids.workflowId || r.runId !== ids.runId)) {
    return { verified: false, problem: `the signed record belongs to another execution (${String(r.workflowId)} run ${String(r.runId)})` };
  }
  const undoOf = `undo/${String(r.remediation?.workflowId)}`;
  if (kind === 'undo' && undoOf !== ids.workflowId && `${undoOf}/${String(r.remediation?.runId)}` !== ids.workflowId) {
    return { verified: false, problem: `the signed undo record belongs to another remediation (${String(r.remediation?.workflowId)})` };
  }
  return { verified: true, keyId: v.keyId };
}

const NO_RECORD: Readonly<Record<string, string>> = {
  TERMINATED: 'terminated: the run ended without an evidence record',
  TIMED_OUT: 'timed out: the run ended without an evidence record',
  CANCELLED: 'cancelled: the run ended without an evidence record',
  CONTINUED_AS_NEW: 'continued as new: this run has no evidence record of its own',
};

/** The record of a closed run: its result, or the record carried by a RemediationFailed failure. */
async function fetchRecord(client: EvidenceClient, wf: WorkflowExecutionInfo): Promise<{ record: unknown; problem?: string }> {
  const status = wf.status.name;
  if (status !== 'COMPLETED' && status !== 'FAILED') return { record: null, problem: NO_RECORD[status] ?? `closed as ${status}: no evidence record` };
  try {
    return { record: await client.workflow.result(wf.workflowId, wf.runId, { followRuns: false }) };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause;
      if (cause instanceof ApplicationFailure && (cause.type === 'RemediationFailed' || cause.type === 'UndoRefused') && cause.details?.[0] && typeof cause.details[0] === 'object') {
        return { record: cause.details[0] };
      }
      const why = cause instanceof ApplicationFailure ? `${cause.type ?? 'Error'}: ${cause.message}` : (cause?.message ?? err.message);
      return { record: null, problem: `failed without an evidence record (${why})` };
    }
    return { record: null, problem: `cannot read the result: ${(err as Error).message}` };
  }
}

/** Runs `fn` over `items`, at most `limit` at a time, results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

const sa = (wf: WorkflowExecutionInfo, key: KeywordAttr) => wf.typedSearchAttributes.get(key) ?? '';

/**
 * The evidence of a period from Temporal visibility: every closed `remediateFinding`, `undoWindow`
 * and `revertFix` execution with CloseTime in [from, to) (and the filters), each with its signed
 * record and the outcome of checking its signature; and the remediations still running.
 * A run with no record (terminated, timed out) or a record that does not verify is kept, with
 * `verified: false` and the reason, and listed in `problems`: nothing is dropped silently.
 */
export async function exportEvidence(client: EvidenceClient, q: ExportQuery, o: ExportOptions = {}): Promise<ExportResult> {
  const closed: WorkflowExecutionInfo[] = [];
  const seen = new Set<string>();
  for await (const wf of client.workflow.list({ query: closedQuery(q) })) {
    const id = `${wf.workflowId}\u0000${wf.runId}`;
    if (seen.has(id)) continue; // a page boundary moving under us can repeat one
    seen.add(id);
    closed.push(wf);
  }
  let done = 0;
  o.onProgress?.(0, closed.length);
  const records = await mapLimit(closed, o.concurrency ?? 8, async (wf): Promise<ExportedRecord> => {
    const kind = UNDO_WORKFLOWS.includes(wf.type) ? 'undo' : 'remediation';
    const fetched = await fetchRecord(client, wf);
    const check = fetched.problem
      ? ({ verified: false, problem: fetched.problem } as const)
      : verifyExported(kind, wf, fetched.record, o.trustedKeyIds);
    done++;
    o.onProgress?.(done, closed.length);
    const base = {
      workflowId: wf.workflowId,
      runId: wf.runId,
      closedAt: (wf.closeTime ?? wf.startTime).toISOString(),
      executionStatus: wf.status.name,
      control: sa(wf, SearchAttr.Control),
      resource: sa(wf, SearchAttr.Resource),
      ...check,
    };
    return kind === 'undo'
      ? { kind, ...base, record: (fetched.record ?? null) as UndoRecord | null }
      : { kind, ...base, record: (fetched.record ?? null) as RemediationRecord | null };
  });
  records.sort((a, b) => a.closedAt.localeCompare(b.closedAt) || a.workflowId.localeCompare(b.workflowId) || a.runId.localeCompare(b.runId));

  const open: OpenFinding[] = [];
  for await (const wf of client.workflow.list({ query: openQuery(q) })) {
    open.push({ workflowId: wf.workflowId, runId: wf.runId, ...findingAttributes(wf.typedSearchAttributes), since: wf.startTime.toISOString() });
  }
  open.sort((a, b) => a.since.localeCompare(b.since) || a.workflowId.localeCompare(b.workflowId));

  const problems = records.filter((r) => !r.verified).map((r) => `${r.workflowId} (run ${r.runId}): ${r.problem ?? 'not verified'}`);
  return { records, open, problems };
}

/** The verification summary written next to the JSONL. */
export interface VerificationSummary {
  readonly total: number;
  readonly verified: number;
  readonly failed: number;
  /** Key ids that signed the verified records. */
  readonly keyIds: string[];
  /** The keys that were trusted, when pinned. */
  readonly trustedKeyIds?: string[];
  readonly records: {
    readonly kind: 'remediation' | 'undo';
    readonly workflowId: string;
    readonly runId: string;
    readonly closedAt: string;
    readonly executionStatus: string;
    /** Line of the record in the JSONL (1-based); absent when the run has no record. */
    readonly line?: number;
    readonly verified: boolean;
    readonly keyId?: string;
    readonly problem?: string;
  }[];
}

/** `dir/name.jsonl` -> `dir/name.verification.json`. */
export function verificationPathFor(jsonlPath: string): string {
  const name = basename(jsonlPath).replace(/\.jsonl$/i, '');
  return join(dirname(jsonlPath), `${name}.verification.json`);
}

export function verificationSummary(records: readonly ExportedRecord[], trustedKeyIds?: readonly string[]): VerificationSummary {
  let line = 0;
  const rows = records.map((r) => ({
    kind: r.kind,
    workflowId: r.workflowId,
    runId: r.runId,
    closedAt: r.closedAt,
    executionStatus: r.executionStatus,
    ...(r.record !== null ? { line: ++line } : {}),
    verified: r.verified,
    ...(r.keyId ? { keyId: r.keyId } : {}),
    ...(r.problem ? { problem: r.problem } : {}),
  }));
  const verified = records.filter((r) => r.verified).length;
  return {
    total: records.length,
    verified,
    failed: records.length - verified,
    keyIds: [...new Set(records.flatMap((r) => (r.verified && r.keyId ? [r.keyId] : [])))].sort(),
    ...(trustedKeyIds ? { trustedKeyIds: [...trustedKeyIds] } : {}),
    records: rows,
  };
}

/**
 * Writes one JSON line per record, exactly the signed record as recorded (so each line verifies
 * on its own with verifyRecord), and `<name>.verification.json` beside it with every execution's
 * verification outcome, including the runs that have no record (they have no line).
 */
export async function writeJsonl(path: string, records: readonly ExportedRecord[], o: { trustedKeyIds?: readonly string[] } = {}): Promise<{ path: string; lines: number; verificationPath: string }> {
  await mkdir(dirname(path), { recursive: true });
  const lines = records.flatMap((r) => (r.record !== null ? [JSON.stringify(r.record)] : []));
  await writeFile(path, lines.length ? `${lines.join('\n')}\n` : '', 'utf8');
  const verificationPath = verificationPathFor(path);
  await writeFile(verificationPath, `${JSON.stringify(verificationSummary(records, o.trustedKeyIds), null, 2)}\n`, 'utf8');
  return { path, lines: lines.length, verificationPath };
}
