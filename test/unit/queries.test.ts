import { describe, expect, it } from 'vitest';
import { autoFixesSinceQuery, heldFixesFilter, pendingQuery } from '../../src/workflows/queries.js';
import { undoRefusal } from '../../src/workflows/revert-fix.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';

describe('visibility queries', () => {
  it('waiting remediations: running, AwaitingApproval or Escalated, narrowed by every filter given, values quoted', () => {
    expect(pendingQuery()).toBe('WorkflowType = "remediateFinding" AND ExecutionStatus = "Running" AND (RemediationStatus = "AwaitingApproval" OR RemediationStatus = "Escalated")');
    expect(pendingQuery({ control: 'c' }, false)).toBe('WorkflowType = "remediateFinding" AND FindingControl = "c"');
    expect(pendingQuery({ control: 'c', account: '1"2', reason: 'budget', startedFrom: 'a', startedBefore: 'b', taskQueue: 'q', region: 'r' })).toBe(
      'WorkflowType = "remediateFinding" AND ExecutionStatus = "Running" AND (RemediationStatus = "AwaitingApproval" OR RemediationStatus = "Escalated")' +
        ' AND FindingControl = "c" AND FindingAccount = "1\\"2" AND FindingRegion = "r" AND ApprovalReason = "budget" AND TaskQueue = "q" AND StartTime >= "a" AND StartTime < "b"',
    );
  });

  it('a digest covers the budget-held fixes of one control, deployment and hour', () => {
    expect(heldFixesFilter({ control: 'c', taskQueue: 'q', hour: { start: 's', end: 'e' } })).toEqual({ control: 'c', reason: 'budget', taskQueue: 'q', startedFrom: 's', startedBefore: 'e' });
  });

  it('the budget counts automatic fixes of the control in this deployment since a time', () => {
    expect(autoFixesSinceQuery('q', 'c', '2026-11-25T16:00:00.000Z')).toBe('TaskQueue = "q" AND FindingControl = "c" AND AutoFixedAt >= "2026-11-25T16:00:00.000Z"');
  });
});

describe('undoRefusal (who may undo which fix, and when)', () => {
  const NOW = Date.parse('2026-11-25T16:30:00Z');
  const rec = (o: Partial<RemediationRecord> = {}): RemediationRecord =>
    ({
      workflowId: 'finding/1/r/c/b',
      runId: 'run-2',
      control: 's3-block-public-access',
      outcome: 'remediated',
      change: { summary: 'Block public access', details: {}, applied: true },
      undoWindow: { workflowId: 'undo/finding/1/r/c/b/run-2', until: '2026-11-25T17:00:00.000Z' },
      ...o,
    }) as RemediationRecord;
  const cli = { id: 'frank', name: 'frank', via: 'cli' as const };
  const ok = { latestRunId: 'run-2', now: NOW, by: cli, approvers: [] };

  it('grants the undo of the newest verified fix within its window', () => {
    expect(undoRefusal(rec(), ok)).toBeUndefined();
    expect(undoRefusal(rec(), { ...ok, by: { id: 'UAPPROVER1', name: 'alice', via: 'slack' }, approvers: ['UAPPROVER1'] })).toBeUndefined();
  });

  it('refuses with the reason: no record, nothing changed, no window, window closed, a newer fix, not an approver', () => {
    expect(undoRefusal(undefined, ok)).toMatch(/no evidence record/);
    expect(undoRefusal(rec({ outcome: 'already-compliant', change: undefined }), ok)).toBe('there is nothing to undo: the remediation ended already-compliant');
    expect(undoRefusal(rec({ change: { summary: 's', details: {}, applied: false } }), ok)).toBe('there is nothing to undo: the remediation ended remediated without changing anything');
    expect(undoRefusal(rec({ undoWindow: undefined }), ok)).toMatch(/no undo window/);
    expect(undoRefusal(rec(), { ...ok, now: Date.parse('2026-11-25T17:00:00.001Z') })).toBe('the undo window closed at 2026-11-25T17:00:00.000Z');
    expect(undoRefusal(rec(), { ...ok, latestRunId: 'run-3' })).toMatch(/a newer remediation of this resource replaced this fix/);
    expect(undoRefusal(rec(), { ...ok, by: { id: 'UINTRUDER9', name: 'mallory', via: 'slack' }, approvers: ['UAPPROVER1'] })).toBe('mallory is not an approver for s3-block-public-access');
  });
});
