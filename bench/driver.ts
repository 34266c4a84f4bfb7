/**
 * What the benchmark does to the stack from outside: posts events to the webhook (retrying on
 * 503 as EventBridge would), waits for the workflows to close, and reads their evidence records
 * and histories back from Temporal.
 */
import { performance } from 'node:perf_hooks';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { RemediationRecord } from '../src/workflows/messages.js';
import type { BenchStack } from './stack.js';
import { pool } from './workload.js';

/** Posts one EventBridge event; a 503 or a refused connection (the stack restarting) is retried for up to 3 minutes. */
export async function postEvent(stack: BenchStack, body: unknown): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    const res = await fetch(`${stack.webhook.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.webhook.token}` },
      body: JSON.stringify(body),
    }).catch(() => undefined);
    if (res?.status === 202) {
      await res.arrayBuffer();
      return;
    }
    const text = res ? await res.text() : 'connection refused';
    if ((res && res.status !== 503) || Date.now() > deadline) throw new Error(`webhook answered ${res?.status ?? 'nothing'}: ${text}`);
    await new Promise((r) => setTimeout(r, wait));
  }
}

const REMEDIATIONS = 'WorkflowType = "remediateFinding"';
export const since = (t: Date) => `${REMEDIATIONS} AND StartTime >= "${t.toISOString()}"`;

/** Count of workflows matching `query` (0 while the server is unreachable is not assumed: it retries). */
export async function count(client: Client, query: string): Promise<number> {
  for (;;) {
    try {
      return (await client.workflow.count(query)).count;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Waits until `expected` remediations started since `t0` are closed (or in `status`, when given),
 * polling visibility; throws after `timeoutMs`.
 */
export async function waitFor(client: Client, t0: Date, expected: number, timeoutMs: number, status?: string): Promise<number> {
  const query = status ? `${since(t0)} AND RemediationStatus = "${status}"` : `${since(t0)} AND ExecutionStatus != "Running"`;
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < timeoutMs) {
    n = await count(client, query);
    if (n >= expected) return performance.now();
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`only ${n} of ${expected} remediations ${status ? `reached ${status}` : 'closed'} within ${timeoutMs / 1000}s`);
}

export interface Closed {
  readonly workflowId: string;
  readonly runId: string;
  readonly record?: RemediationRecord;
  readonly failure?: string;
}

/** The evidence record of every remediation started since `t0` (a failed one's record is in its failure details). */
export async function records(client: Client, t0: Date): Promise<Closed[]> {
  const runs: { workflowId: string; runId: string }[] = [];
  for await (const wf of client.workflow.list({ query: since(t0), pageSize: 1000 })) runs.push({ workflowId: wf.workflowId, runId: wf.runId });
  const out: Closed[] = [];
  await pool(runs, 32, async (r) => {
    try {
      out.push({ ...r, record: await client.workflow.getHandle(r.workflowId, r.runId).result() });
    } catch (err) {
      const details = err instanceof WorkflowFailedError ? ((err.cause as { details?: unknown[] } | undefined)?.details?.[0] as RemediationRecord | undefined) : undefined;
      out.push({ ...r, ...(details ? { record: details } : {}), failure: (err as Error).message });
    }
  });
  return out;
}

/** How many lines, warnings and stack traces a process logged. */
export function logStats(lines: readonly string[]): { lines: number; warnings: number; errors: number; stackTraces: number } {
  let stackTraces = 0;
  let inTrace = false;
  for (const l of lines) {
    const frame = /^\s+at \S/.test(l);
    if (frame && !inTrace) stackTraces++;
    inTrace = frame;
    if (!frame && /\\n\s+at \S/.test(l)) stackTraces++;
  }
  return {
    lines: lines.length,
    warnings: lines.filter((l) => /\bWARN\b|"level":"warn"/i.test(l)).length,
    errors: lines.filter((l) => /\bERROR\b|"level":"error"/i.test(l)).length,
    stackTraces,
  };
}
