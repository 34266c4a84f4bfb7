import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedQuery, exportEvidence, openQuery, quoteQueryValue, verificationPathFor, writeJsonl, type VerificationSummary } from '../../../src/evidence/export.js';
import { verifyRecord } from '../../../src/evidence/signing.js';
import { fakeClient, key, otherKey, remediation, sign, undoRecord, type FakeRun } from './fixtures.js';

const from = new Date('2026-07-01T00:00:00Z');
const to = new Date('2026-10-01T00:00:00Z');
const closeTime = new Date('2026-07-02T10:00:00Z');

function run(record: { workflowId: string; runId: string }, o: Partial<FakeRun> = {}): FakeRun {
  return { type: 'remediateFinding', workflowId: record.workflowId, runId: record.runId, status: 'COMPLETED', closeTime, record, ...o };
}

describe('visibility queries', () => {
  it('asks for closed remediations and undo windows closed in [from, to), with escaped filters', () => {
    const q = closedQuery({ from, to, controls: ['s3-block-public-access', 'x" OR WorkflowType = "y'], accounts: ['1\\2'], statuses: ['Failed'] });
    expect(q).toBe(
      '(WorkflowType = "remediateFinding" OR WorkflowType = "undoWindow" OR WorkflowType = "revertFix") AND ExecutionStatus != "Running" AND CloseTime >= "2026-07-01T00:00:00.000Z" AND CloseTime < "2026-10-01T00:00:00.000Z"' +
        ' AND (FindingControl = "s3-block-public-access" OR FindingControl = "x\\" OR WorkflowType = \\"y") AND (FindingAccount = "1\\\\2") AND (RemediationStatus = "Failed")',
    );
    expect(quoteQueryValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(openQuery({ from, to, accounts: ['123456789012'] })).toBe(
      'WorkflowType = "remediateFinding" AND ExecutionStatus = "Running" AND StartTime < "2026-10-01T00:00:00.000Z" AND (FindingAccount = "123456789012")',
    );
  });

  it('refuses an empty or invalid period', () => {
    expect(() => closedQuery({ from: to, to: from })).toThrow(/period is empty/);
    expect(() => closedQuery({ from: new Date('nope'), to })).toThrow(/valid/);
  });
});

describe('exportEvidence', () => {
  it('exports completed and failed records, verified, with the running remediations as open findings', async () => {
    const ok = sign(remediation({ ttrMs: 5000 }));
    const failed = sign(remediation({ outcome: 'failed', reason: 'ResourceNotFound: NoSuchBucket' }));
    const undo = sign(undoRecord({ remediationWorkflowId: ok.workflowId }));
    const client = fakeClient([
      run(ok),
      run(failed, { status: 'FAILED' }),
      { type: 'undoWindow', workflowId: `undo/${ok.workflowId}`, runId: 'u1', status: 'COMPLETED', closeTime, record: undo },
      {
        type: 'remediateFinding',
        workflowId: 'finding/open',
        runId: 'o1',
        status: 'RUNNING',
        startTime: new Date('2026-07-03T00:00:00Z'),
        searchAttributes: { RemediationStatus: 'AwaitingApproval', FindingControl: 'ec2-sg-admin-ports-open', FindingResource: 'sg-1', FindingId: 'f-open' },
      },
    ]);
    const progress: [number, number][] = [];
    const r = await exportEvidence(client, { from, to }, { onProgress: (d, t) => progress.push([d, t]) });
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => [x.kind, x.workflowId, x.verified, x.keyId])).toEqual(
      expect.arrayContaining([
        ['remediation', ok.workflowId, true, key.keyId],
        ['remediation', failed.workflowId, true, key.keyId],
        ['undo', `undo/${ok.workflowId}`, true, key.keyId],
      ]),
    );
    expect(r.records.find((x) => x.workflowId === failed.workflowId)?.record).toEqual(failed);
    expect(r.open).toEqual([
      expect.objectContaining({ workflowId: 'finding/open', status: 'AwaitingApproval', control: 'ec2-sg-admin-ports-open', resource: 'sg-1', findingId: 'f-open', since: '2026-07-03T00:00:00.000Z' }),
    ]);
    expect(progress[0]).toEqual([0, 3]);
    expect(progress.at(-1)).toEqual([3, 3]);
  });

  it('reports a tampered field with the workflow id and reason', async () => {
    const rec = sign(remediation({ ttrMs: 1000 }));
    const tampered = { ...rec, outcome: 'already-compliant' as const };
    const r = await exportEvidence(fakeClient([run(tampered)]), { from, to });
    expect(r.records[0]).toMatchObject({ verified: false, problem: expect.stringMatching(/does not match the record/) });
    expect(r.problems).toEqual([`${rec.workflowId} (run ${rec.runId}): signature does not match the record (edited, or signed by another key)`]);
  });

  it('reports records signed by a key that is not trusted, and accepts the trusted one', async () => {
    const mine = sign(remediation({ ttrMs: 1000 }));
    const theirs = sign(remediation({ ttrMs: 2000 }), otherKey);
    const client = fakeClient([run(mine), run(theirs)]);
    const r = await exportEvidence(client, { from, to }, { trustedKeyIds: [key.keyId] });
    expect(r.records.find((x) => x.workflowId === mine.workflowId)?.verified).toBe(true);
    expect(r.records.find((x) => x.workflowId === theirs.workflowId)).toMatchObject({ verified: false, problem: `signed by untrusted key ${otherKey.keyId}` });
    expect(r.problems).toHaveLength(1);

    const none = await exportEvidence(client, { from, to }, { trustedKeyIds: ['someone-else'] });
    expect(none.records.every((x) => !x.verified && /untrusted key/.test(x.problem!))).toBe(true);
    expect(none.problems).toHaveLength(2);
  });

  it('reports an unsigned record, a record of another run, and runs without a record; drops nothing', async () => {
    const unsigned = remediation({ ttrMs: 1000 });
    const other = sign(remediation({ ttrMs: 1000 }));
    const client = fakeClient([
      run(unsigned),
      run({ workflowId: 'finding/moved', runId: 'r2' }, { record: other }),
      run({ workflowId: 'finding/killed', runId: 'k1' }, { status: 'TERMINATED', record: undefined }),
      run({ workflowId: 'finding/slow', runId: 't1' }, { status: 'TIMED_OUT', record: undefined }),
      { type: 'undoWindow', workflowId: 'undo/finding/x', runId: 'u2', status: 'FAILED', closeTime, failureType: 'UndoFailed' },
    ]);
    const r = await exportEvidence(client, { from, to });
    expect(r.records).toHaveLength(5);
    const byId = Object.fromEntries(r.records.map((x) => [x.workflowId, x]));
    expect(byId[unsigned.workflowId]).toMatchObject({ verified: false, problem: 'the record is not signed' });
    expect(byId['finding/moved']).toMatchObject({ verified: false, problem: expect.stringContaining('belongs to another execution') });
    expect(byId['finding/killed']).toMatchObject({ verified: false, record: null, executionStatus: 'TERMINATED', problem: expect.stringMatching(/^terminated/) });
    expect(byId['finding/slow']).toMatchObject({ verified: false, record: null, problem: expect.stringMatching(/^timed out/) });
    expect(byId['undo/finding/x']).toMatchObject({ kind: 'undo', verified: false, record: null, problem: expect.stringContaining('UndoFailed: it failed') });
    expect(r.problems).toHaveLength(5);
    // Terminated and timed-out runs are not fetched: visibility says they have no result.
    expect(client.fetched).not.toContain('finding/killed/k1');
  });

  it('fetches with bounded concurrency', async () => {
    const recs = Array.from({ length: 30 }, () => sign(remediation({ ttrMs: 10 })));
    const base = fakeClient(recs.map((x) => run(x)));
    let inFlight = 0;
    let most = 0;
    const client = {
      workflow: {
        list: base.workflow.list,
        async result(id: string, runId?: string) {
          most = Math.max(most, ++inFlight);
          await new Promise((res) => setTimeout(res, 5));
          inFlight--;
          return base.workflow.result(id, runId);
        },
      },
    };
    const r = await exportEvidence(client, { from, to }, { concurrency: 4 });
    expect(r.records).toHaveLength(30);
    expect(most).toBe(4);
  });
});

describe('writeJsonl', () => {
  it('writes each signed record as one line, verbatim, and the verification summary beside it', async () => {
    const ok = sign(remediation({ ttrMs: 5000, notes: ['line\nbreak', 'ünïcödé'] }));
    const tampered = { ...sign(remediation({ ttrMs: 5000 })), account: '999999999999' };
    const client = fakeClient([run(ok), run(tampered), run({ workflowId: 'finding/killed', runId: 'k1' }, { status: 'TERMINATED', record: undefined })]);
    const r = await exportEvidence(client, { from, to });
    const dir = await mkdtemp(join(tmpdir(), 'evidence-'));
    const path = join(dir, 'out', 'evidence.jsonl');
    const w = await writeJsonl(path, r.records);
    expect(w).toEqual({ path, lines: 2, verificationPath: join(dir, 'out', 'evidence.verification.json') });
    expect(verificationPathFor('/a/b/x.jsonl')).toBe('/a/b/x.verification.json');

    const text = await readFile(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const parsed = lines.map((l) => JSON.parse(l) as unknown);
    expect(parsed).toEqual(r.records.filter((x) => x.record).map((x) => x.record));
    // Each line stands on its own: the good one verifies, the edited one does not.
    const verdicts = parsed.map((p) => verifyRecord(p).ok);
    expect(verdicts.sort()).toEqual([false, true]);

    const summary = JSON.parse(await readFile(w.verificationPath, 'utf8')) as VerificationSummary;
    expect(summary).toMatchObject({ total: 3, verified: 1, failed: 2, keyIds: [key.keyId] });
    expect(summary.records).toHaveLength(3);
    const killed = summary.records.find((x) => x.workflowId === 'finding/killed')!;
    expect(killed).toMatchObject({ verified: false, executionStatus: 'TERMINATED' });
    expect(killed.line).toBeUndefined();
    const bad = summary.records.find((x) => x.workflowId === tampered.workflowId)!;
    expect(bad).toMatchObject({ verified: false, problem: expect.stringMatching(/does not match/) });
    expect(JSON.parse(lines[bad.line! - 1]!)).toEqual(tampered);
  });

  it('writes an empty file for an empty export', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'evidence-'));
    const w = await writeJsonl(join(dir, 'evidence.jsonl'), []);
    expect(await readFile(w.path, 'utf8')).toBe('');
    expect(JSON.parse(await readFile(w.verificationPath, 'utf8'))).toMatchObject({ total: 0, verified: 0, failed: 0, records: [] });
  });
});
