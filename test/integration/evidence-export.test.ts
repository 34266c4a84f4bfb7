import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type Client, type Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, type NativeConnection, type Worker } from '@temporalio/worker';
import { chromium } from 'playwright-core';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { archiveExported, archiveRecord, bucketHasObjectLock } from '../../src/evidence/archive.js';
import { exportEvidence, writeJsonl, type ExportResult, type VerificationSummary } from '../../src/evidence/export.js';
import { renderReport } from '../../src/evidence/report.js';
import { generateEvidenceKeyPem, loadEvidenceKey, verifyRecord } from '../../src/evidence/signing.js';
import { ControlId } from '../../src/findings/finding.js';
import type { Policy } from '../../src/policy/types.js';
import { CHROMIUM_ARGS, ensureChromium } from '../../src/stack/chromium.js';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { requestUndo, sendDecision } from '../../src/triggers/decisions.js';
import { keyedDefaultPolicy, signedDecision, testOperatorKey, testRelayKey } from '../helpers/decisions.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { bundleWorkflows, createWorker } from '../../src/worker/create-worker.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import type { UndoRecord } from '../../src/workflows/undo-window.js';
import { makeBucket, REGION, s3Finding } from '../helpers/fixtures.js';
import { awsConfig, stackAddresses, temporalClient, testAws, unique, workerConnection } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

/**
 * Real remediations on the shared dev server and moto, then the export. Other test files run
 * workflows at the same time: this file's findings carry an account id of their own (the S3 Block
 * Public Access control does not check the account), and every export filters by it.
 */
const account = String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));
const key = loadEvidenceKey(generateEvidenceKeyPem());
const taskQueue = unique('evidence');
const UNDO_WINDOW_MS = 8000;
// The shipped policy with the operator alice's key listed (decisions are signed).
const keyed = keyedDefaultPolicy('alice').policy;
const s3 = keyed.controls[ControlId.S3BlockPublicAccess];
const policy: Policy = { ...keyed, controls: { ...keyed.controls, [ControlId.S3BlockPublicAccess]: { ...s3, undo: { windowMs: UNDO_WINDOW_MS, exemptForMs: 7 * 86_400_000 } } } };

let client: Client;
let connection: Connection;
let native: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let aws: AwsClients;
const started = new Date(Date.now() - 2000);
let until: Date;
/** What the workflows returned, by workflow id: what the export must give back. */
const expected = new Map<string, RemediationRecord | UndoRecord>();
let openWorkflowId = '';

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

async function failureRecord(p: Promise<unknown>): Promise<RemediationRecord> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return (cause as ApplicationFailure).details?.[0] as RemediationRecord;
}

/** Exports until visibility shows all of this file's closed executions (it is eventually consistent). */
async function exportAll(o: { trustedKeyIds?: string[] } = {}): Promise<ExportResult> {
  let r: ExportResult | undefined;
  for (let i = 0; i < 60; i++) {
    r = await exportEvidence(client, { from: started, to: until, accounts: [account] }, o);
    if (r.records.length >= expected.size && r.open.length >= 1) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
  return r!;
}

beforeAll(async () => {
  ({ client, connection } = await temporalClient());
  native = await workerConnection();
  aws = createAwsClients(awsConfig());
  worker = await createWorker({ connection: native, client, namespace: 'default', taskQueue, aws, policy, evidenceKey: key, workflowBundle: await bundleWorkflows() });
  running = worker.run();

  const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy });
  const submit = async (bucket: string) => {
    const r = await submitter.submit(s3Finding(bucket, { account }));
    expect(r.status).toBe('started');
    return client.workflow.getHandle(r.workflowId, r.runId);
  };
  const waitFor = async (h: { query: (q: typeof getStatus) => Promise<{ status: string; undoUntil?: string }> }, ok: (s: { status: string; undoUntil?: string }) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const s = await h.query(getStatus).catch(() => undefined);
      if (s && ok(s)) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('timed out waiting for the workflow status');
  };

  const [plain, undone, compliant, website, waiting] = await Promise.all([
    makeBucket(aws),
    makeBucket(aws),
    makeBucket(aws, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true }),
    makeBucket(aws, undefined, { 'public-website': 'true' }),
    makeBucket(aws, undefined, { 'public-website': 'true' }),
  ]);

  // 1. An automatic fix nobody undoes; 2. one an operator undoes.
  const fixes = await Promise.all([plain, undone].map(async (b) => (await submit(b)).result() as Promise<RemediationRecord>));
  for (const rec of fixes) expect(rec.outcome).toBe('remediated');
  const undo = await requestUndo(client, { remediation: { workflowId: fixes[1]!.workflowId }, by: { id: 'alice', name: 'alice', via: 'cli' }, sign: (c) => testOperatorKey.sign(c), reason: 'the <vendor> needs public access until Friday', policy, taskQueue });
  expect(undo.ok).toBe(true);
  // 3. Already compliant; 4. a bucket that does not exist (fails).
  const ok = await (await submit(compliant)).result() as RemediationRecord;
  expect(ok.outcome).toBe('already-compliant');
  const failed = await failureRecord((await submit(unique('evidence-missing-bucket'))).result());
  expect(failed.outcome).toBe('failed');
  // 5. A fix an operator approves; 6. a request left waiting (a finding still open).
  const approvedHandle = await submit(website);
  await waitFor(approvedHandle, (s) => s.status === 'AwaitingApproval');
  const { planDigest } = await approvedHandle.query(getStatus);
  const decided = await sendDecision(client, { workflowId: approvedHandle.workflowId }, signedDecision({ workflowId: approvedHandle.workflowId, planDigest: planDigest!, by: { id: 'alice', name: 'alice' }, reason: 'change ticket CHG-42' }));
  expect(decided.ok).toBe(true);
  const approved = await approvedHandle.result() as RemediationRecord;
  expect(approved.approval?.by).toEqual({ id: 'alice', name: 'alice', via: 'cli', keyId: testOperatorKey.keyId });
  // 7. An undo of it asked from Slack by someone who is not an approver: refused, and recorded.
  const refused = await requestUndo(client, { remediation: { workflowId: approved.workflowId }, by: { id: 'UMALLORY1', name: 'mallory', via: 'slack' }, policy, taskQueue, sign: (c) => testRelayKey.sign(c) });
  expect(refused.ok).toBe(false);
  const waitingHandle = await submit(waiting);
  await waitFor(waitingHandle, (s) => s.status === 'AwaitingApproval');
  openWorkflowId = waitingHandle.workflowId;

  for (const rec of [...fixes, ok, failed, approved]) expected.set(rec.workflowId, rec);
  expected.set(fixes[1]!.undoWindow!.workflowId, (await client.workflow.getHandle(fixes[1]!.undoWindow!.workflowId).result()) as UndoRecord);
  const refusal = await client.workflow.getHandle(approved.undoWindow!.workflowId).result().catch((e: unknown) => e);
  expected.set(approved.undoWindow!.workflowId, (refusal as WorkflowFailedError & { cause: ApplicationFailure }).cause.details?.[0] as UndoRecord);
  until = new Date(Date.now() + 60_000);
}, 120_000);

afterAll(async () => {
  if (openWorkflowId) await client.workflow.getHandle(openWorkflowId).terminate('test over').catch(() => undefined);
  worker?.shutdown();
  await running;
  await native?.close();
  await connection?.close();
  aws?.destroy();
});

describe('evidence export from real remediations', () => {
  it('exports every record of the period, verified under the worker key, and the finding still open', async () => {
    const r = await exportAll({ trustedKeyIds: [key.keyId] });
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => x.workflowId).sort()).toEqual([...expected.keys()].sort());
    for (const x of r.records) {
      const failedRun = x.workflowId.includes('missing-bucket') || (x.kind === 'undo' && x.record?.outcome === 'refused');
      expect(x, x.workflowId).toMatchObject({ verified: true, keyId: key.keyId, executionStatus: failedRun ? 'FAILED' : 'COMPLETED' });
      expect(x.record).toEqual(expected.get(x.workflowId));
    }
    const outcomes = r.records.map((x) => `${x.kind}:${x.record?.outcome}`).sort();
    expect(outcomes).toEqual(['remediation:already-compliant', 'remediation:failed', 'remediation:remediated', 'remediation:remediated', 'remediation:remediated', 'undo:refused', 'undo:reverted']);
    expect(r.open).toEqual([expect.objectContaining({ workflowId: openWorkflowId, status: 'AwaitingApproval', account })]);

    // Lines of the JSONL verify on their own.
    const dir = await mkdtemp(join(tmpdir(), 'evidence-'));
    const w = await writeJsonl(join(dir, 'evidence.jsonl'), r.records, { trustedKeyIds: [key.keyId] });
    const lines = (await readFile(w.path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(expected.size);
    for (const l of lines) expect(verifyRecord(JSON.parse(l), { trustedKeyIds: [key.keyId] })).toEqual({ ok: true, keyId: key.keyId });
  });

  it('with someone else as the trusted key, every record fails verification and is reported', async () => {
    const r = await exportAll({ trustedKeyIds: ['someone-else'] });
    expect(r.records).toHaveLength(expected.size);
    for (const x of r.records) expect(x, x.workflowId).toMatchObject({ verified: false, problem: `signed by untrusted key ${key.keyId}` });
    expect(r.problems).toHaveLength(expected.size);
    for (const id of expected.keys()) expect(r.problems.some((p) => p.startsWith(`${id} (run `))).toBe(true);
  });

  it('renders a report that reads well in a real browser, with no network', async () => {
    const r = await exportAll({ trustedKeyIds: [key.keyId] });
    const html = renderReport(r, { from: started, to: until, generatedAt: new Date(), trustedKeyIds: [key.keyId] });
    const out = join(REPO_ROOT, 'test-results');
    await mkdir(out, { recursive: true });
    const file = join(out, 'report.html');
    await writeFile(file, html, 'utf8');

    const browser = await chromium.launch({ executablePath: await ensureChromium(), args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(pathToFileURL(file).href);
      expect(requests).toEqual([pathToFileURL(file).href]);
      expect(errors).toEqual([]);

      await expect.poll(() => page.title()).toMatch(/^Remediation evidence/);
      const card = (label: string) => page.locator('.card', { hasText: label }).locator('.value');
      expect(await card('closed remediations').innerText()).toBe('5');
      expect(await card('fixed and verified').innerText()).toBe('3');
      expect(await card('failed').first().innerText()).toBe('1');
      expect(await card('approval requests').innerText()).toBe('1');
      expect(await card('fixes undone').innerText()).toBe('1');
      expect(await card('still open').innerText()).toBe('1');
      expect(await card('signatures').innerText()).toBe('all verified');
      expect(await page.locator('#signatures .verdict.good').innerText()).toContain(`All ${expected.size} records verified`);
      for (const id of ['summary', 'signatures', 'outcomes', 'ttr', 'approvals', 'undo', 'open', 'exemptions']) expect(await page.locator(`#${id}`).isVisible(), id).toBe(true);
      // The TTR chart: an SVG with both lines' points drawn, its axes and legend.
      const svg = page.locator('#ttr svg');
      expect(await svg.isVisible()).toBe(true);
      const box = await svg.boundingBox();
      expect(box!.width).toBeGreaterThan(600);
      expect(box!.height).toBeGreaterThan(150);
      expect(await svg.locator('circle.point-p50').count()).toBeGreaterThan(0);
      expect(await svg.locator('circle.point-p90').count()).toBeGreaterThan(0);
      expect(await svg.locator('circle.point-p50').first().isVisible()).toBe(true);
      if (started.toISOString().slice(0, 10) === until.toISOString().slice(0, 10)) {
        // a one-day period: each series is a level line across the day
        // (a level line has no height, so Playwright never calls it "visible": measure it)
        for (const s of ['p50', 'p90']) expect((await svg.locator(`path.series-${s}`).boundingBox())?.width, s).toBeGreaterThan(box!.width * 0.8);
      }
      expect(await svg.locator('text', { hasText: 'p50 (median)' }).isVisible()).toBe(true);
      expect(await svg.locator('text', { hasText: 'time to remediate' }).isVisible()).toBe(true);
      // Who decided and who undid, escaped as text.
      expect(await page.locator('#approvals').innerText()).toContain('alice (cli:alice)');
      expect(await page.locator('#undo').innerText()).toContain('the <vendor> needs public access until Friday');
      expect(await page.locator('#exemptions').innerText()).toContain('fix undone by alice (cli:alice)');
      expect(await page.locator('#open').innerText()).toContain('AwaitingApproval');
      // Nothing sticks out of the page.
      const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect(overflow).toBe(0);
      await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('the CLI writes the export and exits 0 when everything verifies, 1 when not', async () => {
    await exportAll(); // visibility has caught up
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress };
    const dir = await mkdtemp(join(tmpdir(), 'evidence-cli-'));
    const args = ['evidence', 'export', '--from', started.toISOString(), '--to', until.toISOString(), '--account', account];
    const good = await cli([...args, '--trust', key.keyId, '--out', join(dir, 'good')], env);
    expect(good.code, good.out + good.err).toBe(0);
    expect(good.err).toContain(`exported ${expected.size}/${expected.size}`);
    expect(good.out).toContain(`signatures: ${expected.size}/${expected.size} verified`);
    expect(good.out).toContain('findings still open: 1');
    const jsonl = (await readFile(join(dir, 'good', 'evidence.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(jsonl).toHaveLength(expected.size);
    const summary = JSON.parse(await readFile(join(dir, 'good', 'evidence.verification.json'), 'utf8')) as VerificationSummary;
    expect(summary).toMatchObject({ total: expected.size, verified: expected.size, failed: 0, keyIds: [key.keyId], trustedKeyIds: [key.keyId] });
    const report = await readFile(join(dir, 'good', 'report.html'), 'utf8');
    expect(report).toContain(`All ${expected.size} records verified`);

    const bad = await cli([...args, '--trust', 'someone-else', '--out', join(dir, 'bad')], env);
    expect(bad.code, bad.out + bad.err).toBe(1);
    expect(bad.out).toContain(`signed by untrusted key ${key.keyId}`);
    const badSummary = JSON.parse(await readFile(join(dir, 'bad', 'evidence.verification.json'), 'utf8')) as VerificationSummary;
    expect(badSummary).toMatchObject({ total: expected.size, verified: 0, failed: expected.size });

    const usage = await cli(['evidence', 'export', '--from', 'yesterday', '--to', '2026-10-01'], env);
    expect(usage.code).toBe(1);
    expect(usage.err).toContain('--from: expected YYYY-MM-DD');
  }, 60_000);
});

describe('archive of the signed records to S3 (moto)', () => {
  it('writes canonical JSON under a dated key, locked in COMPLIANCE mode when the bucket has Object Lock, idempotently', async () => {
    const r = await exportAll({ trustedKeyIds: [key.keyId] });
    const clients = testAws();
    try {
      const s3 = clients.s3(REGION);
      const locked = unique('evidence-locked').toLowerCase();
      const plain = unique('evidence-plain').toLowerCase();
      await s3.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
      await s3.send(new CreateBucketCommand({ Bucket: plain }));
      expect(await bucketHasObjectLock(s3, locked)).toBe(true);
      expect(await bucketHasObjectLock(s3, plain)).toBe(false);

      const before = Date.now();
      for (const x of r.records) {
        const a = await archiveExported(s3, { bucket: locked, prefix: 'audit/', retentionDays: 30 }, x);
        const b = await archiveExported(s3, { bucket: plain }, x);
        const closed = x.kind === 'remediation' ? x.record!.timestamps.closed : x.record!.closedAt;
        const day = closed.slice(0, 10).replaceAll('-', '/');
        expect(a).toMatchObject({ status: 'written', key: `audit/evidence/${day}/${encodeURIComponent(x.workflowId)}/${x.runId}.json` });
        expect(b).toEqual({ status: 'written', key: `evidence/${day}/${encodeURIComponent(x.workflowId)}/${x.runId}.json` });
        const until = Date.parse(a!.retainUntil!);
        expect(until).toBeGreaterThanOrEqual(before + 30 * 86_400_000 - 1000);
        expect(until).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000 + 1000);

        const got = await s3.send(new GetObjectCommand({ Bucket: locked, Key: a!.key }));
        expect(got.ContentType).toBe('application/json');
        const body = JSON.parse(await got.Body!.transformToString()) as unknown;
        expect(body).toEqual(x.record);
        expect(verifyRecord(body, { trustedKeyIds: [key.keyId] }).ok).toBe(true);
        // (HeadObject: moto's GetObjectRetention answer does not parse in the SDK)
        const lockedHead = await s3.send(new HeadObjectCommand({ Bucket: locked, Key: a!.key }));
        expect(lockedHead.ObjectLockMode).toBe('COMPLIANCE');
        expect(Math.abs(lockedHead.ObjectLockRetainUntilDate!.getTime() - until)).toBeLessThan(1000);
        const head = await s3.send(new HeadObjectCommand({ Bucket: plain, Key: b!.key }));
        expect(head.ObjectLockMode).toBeUndefined();
      }

      // Again: nothing written, no second version.
      const first = r.records[0]!;
      expect(await archiveExported(s3, { bucket: locked, prefix: 'audit/' }, first)).toMatchObject({ status: 'already-archived' });
      const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: `audit/evidence/` }));
      expect(versions.Versions).toHaveLength(r.records.length);
      // A remediation record names its execution itself.
      const rem = r.records.find((x) => x.kind === 'remediation')!;
      expect(await archiveRecord(s3, { bucket: plain }, rem.record!)).toMatchObject({ status: 'already-archived' });
      // Another record at the same key is refused: evidence is never replaced.
      const forged = { ...(rem.record as RemediationRecord), outcome: 'already-compliant' };
      await expect(archiveRecord(s3, { bucket: plain }, forged)).rejects.toThrow(/already holds a different record/);
      // The worker's way (a run that closed again with more in its record): written beside, never in place.
      const firstKey = (await archiveRecord(s3, { bucket: plain }, rem.record!)).key;
      const beside = await archiveRecord(s3, { bucket: plain }, forged, undefined, { besideOnConflict: true });
      expect(beside).toMatchObject({ status: 'written', beside: firstKey });
      expect(beside.key).toMatch(/\.[0-9a-f]{16}\.json$/);
      expect(await archiveRecord(s3, { bucket: plain }, forged, undefined, { besideOnConflict: true })).toMatchObject({ status: 'already-archived', key: beside.key });
      const kept = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: plain, Key: firstKey }))).Body!.transformToString()) as unknown;
      expect(kept).toEqual(JSON.parse(JSON.stringify(rem.record)));
    } finally {
      clients.destroy();
    }
  });
});
