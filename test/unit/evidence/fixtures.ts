import type { WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { generateEvidenceKeyPem, loadEvidenceKey, signRecord, type EvidenceKey } from '../../../src/evidence/signing.js';
import type { EvidenceClient, ExportedRecord } from '../../../src/evidence/export.js';
import type { RemediationRecord } from '../../../src/workflows/messages.js';
import type { UndoRecord } from '../../../src/workflows/undo-window.js';

export const key: EvidenceKey = loadEvidenceKey(generateEvidenceKeyPem());
export const otherKey: EvidenceKey = loadEvidenceKey(generateEvidenceKeyPem());

export function sign<T extends object>(record: T, k: EvidenceKey = key): T {
  return { ...record, signature: signRecord(record, k, new Date('2026-07-02T00:00:00Z')) };
}

let n = 0;
/** A remediation record closed at `closed`, fixed `ttrMs` after detection (when given). */
export function remediation(o: Partial<RemediationRecord> & { closed?: string; ttrMs?: number } = {}): RemediationRecord {
  const closed = o.closed ?? '2026-07-02T10:00:00.000Z';
  const id = o.resource?.id ?? `bucket-${++n}`;
  const control = o.control ?? 's3-block-public-access';
  const detected = o.ttrMs !== undefined ? new Date(Date.parse(closed) - o.ttrMs).toISOString() : closed;
  const { closed: _c, ttrMs: _t, ...rest } = o;
  return {
    findingId: `f-${n}`,
    workflowId: `finding/123456789012/us-east-1/${control}/${id}`,
    runId: `run-${n}`,
    control,
    resource: { type: 'AwsS3Bucket', id },
    account: '123456789012',
    region: 'us-east-1',
    severity: 'HIGH',
    source: 'generic',
    policyHash: 'a'.repeat(64),
    mode: 'auto',
    outcome: o.ttrMs !== undefined ? 'remediated' : 'already-compliant',
    observations: [],
    ...(o.ttrMs !== undefined ? { timeToRemediateMs: o.ttrMs, decidedBy: { id: 'policy', name: 'policy (automatic)', via: 'policy' as const } } : {}),
    timestamps: { detected, received: detected, ...(o.ttrMs !== undefined ? { verified: closed } : {}), closed },
    ...rest,
  };
}

export function undoRecord(o: Partial<UndoRecord> & { remediationWorkflowId?: string } = {}): UndoRecord {
  const { remediationWorkflowId, ...rest } = o;
  return {
    remediation: { workflowId: remediationWorkflowId ?? 'finding/123456789012/us-east-1/s3-block-public-access/b1', runId: 'run-r' },
    findingId: 'f-undo',
    control: 's3-block-public-access',
    resource: { type: 'AwsS3Bucket', id: 'b1' },
    policyHash: 'a'.repeat(64),
    outcome: 'window-closed',
    openedAt: '2026-07-02T10:00:00.000Z',
    until: '2026-07-02T11:00:00.000Z',
    closedAt: '2026-07-02T11:00:00.000Z',
    ...rest,
  };
}

/** An exported remediation as exportEvidence would give it (verified when signed by `key`). */
export function exported(record: RemediationRecord, o: Partial<ExportedRecord> = {}): ExportedRecord {
  return {
    kind: 'remediation',
    workflowId: record.workflowId,
    runId: record.runId,
    closedAt: record.timestamps.closed,
    executionStatus: record.outcome === 'failed' ? 'FAILED' : 'COMPLETED',
    control: record.control,
    resource: record.resource.id,
    verified: true,
    keyId: key.keyId,
    record,
    ...o,
  } as ExportedRecord;
}

export function exportedUndo(record: UndoRecord, o: Partial<ExportedRecord> = {}): ExportedRecord {
  return {
    kind: 'undo',
    workflowId: `undo/${record.remediation.workflowId}`,
    runId: 'run-undo',
    closedAt: record.closedAt,
    executionStatus: 'COMPLETED',
    control: record.control,
    resource: record.resource.id,
    verified: true,
    keyId: key.keyId,
    record,
    ...o,
  } as ExportedRecord;
}

/** A closed or running execution as visibility lists it, with what `result` gives for it. */
export interface FakeRun {
  type: 'remediateFinding' | 'undoWindow';
  workflowId: string;
  runId: string;
  status: 'COMPLETED' | 'FAILED' | 'TERMINATED' | 'TIMED_OUT' | 'RUNNING';
  closeTime?: Date;
  startTime?: Date;
  /** COMPLETED: the result; FAILED: the failure details[0] (RemediationFailed). */
  record?: unknown;
  failureType?: string;
  searchAttributes?: Record<string, string>;
}

/** A fake of the client's list/result, recording the queries it was asked. */
export function fakeClient(runs: FakeRun[]): EvidenceClient & { queries: string[]; fetched: string[] } {
  const queries: string[] = [];
  const fetched: string[] = [];
  const info = (r: FakeRun) =>
    ({
      type: r.type,
      workflowId: r.workflowId,
      runId: r.runId,
      status: { code: 0, name: r.status },
      startTime: r.startTime ?? new Date('2026-07-02T09:00:00Z'),
      ...(r.closeTime ? { closeTime: r.closeTime } : {}),
      typedSearchAttributes: { get: (k: { name: string }) => r.searchAttributes?.[k.name] },
    }) as unknown as WorkflowExecutionInfo;
  return {
    queries,
    fetched,
    workflow: {
      async *list({ query }) {
        queries.push(query);
        const running = query.includes('ExecutionStatus = "Running"');
        for (const r of runs) if ((r.status === 'RUNNING') === running) yield info(r);
      },
      async result(workflowId, runId) {
        fetched.push(`${workflowId}/${runId}`);
        const r = runs.find((x) => x.workflowId === workflowId && x.runId === runId)!;
        if (r.status === 'FAILED') {
          const cause = ApplicationFailure.create({ type: r.failureType ?? 'RemediationFailed', message: 'it failed', nonRetryable: true, details: r.record ? [r.record] : [] });
          throw new WorkflowFailedError('Workflow execution failed', cause, RetryState.NON_RETRYABLE_FAILURE);
        }
        return r.record;
      },
    },
  };
}
