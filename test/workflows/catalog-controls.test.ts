import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import { CATALOG_CONTROLS, requireControl } from '../../src/activities/controls/index.js';
import { workflowIdFor, type Finding } from '../../src/findings/finding.js';
import { normalizeEventBridgeEvent } from '../../src/findings/index.js';
import { parsePolicy, snapshotFor } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { requestUndo } from '../../src/triggers/decisions.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { revertWorkflowId } from '../../src/workflows/revert-fix.js';
import type { DecisionClaims } from '../../src/decisions/signed.js';
import { scanAccount, type ScanResult } from '../../src/workflows/scan-account.js';
import type { UndoRecord } from '../../src/workflows/undo-window.js';
import { catalogKits, securityHubEvent, SCOPE_TAG, type Kit, type Made } from '../helpers/catalog-kits.js';
import { TEST_OPERATOR, testOperatorKey, withTestDecisionKeys } from '../helpers/decisions.js';
import { ACCOUNT } from '../helpers/fixtures.js';
import { startSecurityHubStandIn, type SecurityHubStandIn } from '../helpers/securityhub-standin.js';
import { awsConfig, startTestWorker, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
// Every test here is independent of the others (its own resources): they run side by side.
vi.setConfig({ maxConcurrency: 16, testTimeout: 120_000 });

/**
 * The twelve catalog controls end to end, on the run's Temporal dev server and moto with the real
 * SDK and the real worker (its own task queue; Security Hub write-backs to the stand-in, since moto
 * has no BatchUpdateFindings). For each control a violating resource is announced by an event as
 * its source sends it: a Security Hub "Findings - Imported" event (ASFF) naming the resource by
 * its ARN, or the CloudTrail call (ec2-ebs-snapshot-public, whose Security Hub control EC2.1 names
 * the account; and as a second route for rds-snapshot-public, ec2-imdsv2-required and
 * kms-key-rotation). The event is normalized (normalizeEventBridgeEvent) and submitted as the
 * trigger server submits it (createSubmitter), and then the resource is:
 *   - fixed: outcome remediated, the concrete AWS state compliant (read with the SDK), the change
 *     summary the control's own summarize output, Security Hub told RESOLVED;
 *   - left alone in dry-run: outcome dry-run, the AWS state unchanged;
 *   - undone at the workflow level, for every control: requestUndo (what the CLI and the Slack
 *     Undo button call) with the operator's signed request, then revertFix restores the AWS state
 *     exactly;
 *   - found by scanAccount with `controls: [id]`, which starts the remediation that fixes it.
 *
 * Regions no other test file uses: EVENTS for the event routes, SCANS (and SCANS_TOO) for the
 * scans, so a scan sees only this file's resources and never the dry-run resources. IAM is global
 * and shared with every test file: iam-access-key-stale (settings maxKeyAgeDays 0, so every active
 * key violates) is scoped by policy to this file's users, tagged SCOPE_TAG=event or scan, and the
 * scans run after the event tests (see below).
 */
const EVENTS = 'me-central-1';
const SCANS = 'il-central-1';
/** A second scan region, for the test that a global control is scanned once (ca-west-1: no other file uses it). */
const SCANS_TOO = 'ca-west-1';
const VERIFY_DEADLINE_MS = 20_000;

const IDS = CATALOG_CONTROLS.map((c) => c.id);

/** A policy for the twelve: all fixed without asking (approve-default ones included), iam-access-key-stale scoped to this file's users tagged `iamScope`. */
function policyText(o: { mode: 'auto' | 'dry-run'; undo: string; iamScope: string }): string {
  const lines = IDS.map((id) =>
    id === 'iam-access-key-stale'
      ? `  ${id}: { mode: ${o.mode}, scope: { tags: { ${SCOPE_TAG}: ${o.iamScope} } }, settings: { maxKeyAgeDays: 0 } }`
      : `  ${id}: { mode: ${o.mode} }`,
  );
  return withTestDecisionKeys(`version: 1\ndefaults:\n  undo: { window: ${o.undo} }\ncontrols:\n${lines.join('\n')}\n`);
}
/** The worker's: what the scans' findings get. */
const workerPolicy: Policy = parsePolicy(policyText({ mode: 'auto', undo: '0s', iamScope: 'scan' }), 'catalog worker policy');
const fixPolicy: Policy = parsePolicy(policyText({ mode: 'auto', undo: '0s', iamScope: 'event' }), 'catalog fix policy');
const dryRunPolicy: Policy = parsePolicy(policyText({ mode: 'dry-run', undo: '0s', iamScope: 'event' }), 'catalog dry-run policy');
const undoPolicy: Policy = parsePolicy(policyText({ mode: 'auto', undo: '2m', iamScope: 'event' }), 'catalog undo policy');

let securityHub: SecurityHubStandIn;
let aws: AwsClients;
let w: TestWorker;
let kits: readonly Kit[];
const kit = (id: string) => kits.find((k) => k.id === id)!;

beforeAll(async () => {
  // moto has no BatchUpdateFindings: Security Hub write-backs go to the stand-in.
  securityHub = await startSecurityHubStandIn();
  aws = createAwsClients(awsConfig(), { securityHubEndpoint: securityHub.url });
  w = await startTestWorker({ policy: workerPolicy, aws });
  kits = catalogKits(aws);
});
afterAll(async () => {
  // The scans started runs for other files' IAM users too (out of scope: left alone); let them end on this worker.
  const running = `TaskQueue = "${w?.taskQueue}" AND ExecutionStatus = "Running"`;
  for (let i = 0; w && i < 40 && (await w.client.workflow.count(running)).count > 0; i++) await new Promise((x) => setTimeout(x, 250));
  await w?.stop();
  aws?.destroy();
  await securityHub?.close();
});

it('the kits cover exactly the twelve catalog controls, and the policies give each its mode', () => {
  expect(kits.map((k) => k.id)).toEqual(IDS);
  expect(IDS).toHaveLength(12);
  for (const id of IDS) {
    expect(fixPolicy.controls[id]!.mode).toBe('auto');
    expect(dryRunPolicy.controls[id]!.mode).toBe('dry-run');
    expect(undoPolicy.controls[id]!.undo.windowMs).toBe(120_000);
  }
  expect(fixPolicy.controls['iam-access-key-stale']!.settings['maxKeyAgeDays']).toBe(0);
  expect(workerPolicy.controls['iam-access-key-stale']!.scope.tags).toEqual({ [SCOPE_TAG]: 'scan' });
});

type Route = 'securityhub' | 'cloudtrail';

/** The event a source sends about `r`: Security Hub (the stand-in told of the finding, so the write-back lands), or CloudTrail. */
function eventFor(k: Kit, r: Made, route: Route): { event: Record<string, unknown>; sh?: { findingId: string; productArn: string } } {
  if (route === 'cloudtrail') return { event: k.cloudTrail!(r) };
  const { event, findingId, productArn } = securityHubEvent(k.id, r);
  securityHub.addFinding(findingId, productArn);
  return { event, sh: { findingId, productArn } };
}

/** The event normalized as the trigger server does: exactly one active finding, about `r`, for the control. */
function findingOf(k: Kit, r: Made, event: Record<string, unknown>, route: Route): Finding {
  const { findings, ignored } = normalizeEventBridgeEvent(event);
  expect(ignored).toEqual([]);
  expect(findings).toHaveLength(1);
  const f = findings[0]!;
  expect(f).toMatchObject({ source: route, control: k.id, account: ACCOUNT, region: r.region, state: 'active', resource: { type: requireControl(k.id).catalog.resourceType, id: r.id } });
  return f;
}

/** What the control itself plans for the resource as it is now (read-only), and its one-line summary. */
async function expectedChange(f: Finding, policy: Policy): Promise<{ plan: unknown; summary: string }> {
  const control = requireControl(f.control);
  const { state } = await control.read(aws, f);
  const plan = control.plan(state, snapshotFor(policy, f.control, f.account).control.settings);
  expect(plan).not.toBeNull();
  return { plan, summary: control.summarize(plan, f) };
}

/** Submits the finding as the trigger server does and waits for the remediation's evidence record. */
async function remediate(f: Finding, policy: Policy): Promise<RemediationRecord> {
  const r = await createSubmitter(w.client, { taskQueue: w.taskQueue, verifyDeadlineMs: VERIFY_DEADLINE_MS, policy }).submit(f);
  expect(r.status).toBe('started');
  expect(r.workflowId).toBe(workflowIdFor(f));
  return w.client.workflow.getHandle(r.workflowId, r.runId).result();
}

/** Fix from an event: remediated, the summary the control's, the AWS state compliant, Security Hub told. */
async function fixFromEvent(k: Kit, route: Route): Promise<void> {
  const r = await k.make(EVENTS, 'event');
  const before = await k.live(r);
  const { event, sh } = eventFor(k, r, route);
  const f = findingOf(k, r, event, route);
  const expected = await expectedChange(f, fixPolicy);
  const record = await remediate(f, fixPolicy);
  expect(record.outcome, record.reason).toBe('remediated');
  expect(record).toMatchObject({ control: k.id, source: route, region: EVENTS, resource: { id: r.id }, mode: 'auto', decidedBy: { via: 'policy' } });
  expect(record.change?.applied).toBe(true);
  expect(record.change?.summary).toBe(expected.summary);
  expect(record.change?.details).toEqual(expected.plan);
  expect(record.signature).toBeDefined();
  k.expectFixed(before, await k.live(r), r);
  if (sh) {
    expect(record.securityHub).toEqual({ status: 'RESOLVED', updated: true });
    expect(securityHub.finding(sh.findingId, sh.productArn)?.Workflow.Status).toBe('RESOLVED');
  } else {
    expect(record.securityHub).toBeUndefined();
  }
  expect(record.notes ?? []).toEqual([]);
}

const primaryRoute = (k: Kit): Route => (k.noSecurityHub ? 'cloudtrail' : 'securityhub');

describe.concurrent('from an event, fixed by the remediation workflow', () => {
  for (const id of IDS) {
    it(`${id}`, async () => {
      const k = kit(id);
      await fixFromEvent(k, primaryRoute(k));
    });
  }
  for (const id of ['rds-snapshot-public', 'ec2-imdsv2-required', 'kms-key-rotation']) {
    it(`${id}, from its CloudTrail event`, async () => {
      await fixFromEvent(kit(id), 'cloudtrail');
    });
  }
});

describe.concurrent('dry-run: the change is recorded, nothing is changed', () => {
  for (const id of IDS) {
    it(`${id}`, async () => {
      const k = kit(id);
      const route = primaryRoute(k);
      const r = await k.make(EVENTS, 'event');
      const before = await k.live(r);
      const f = findingOf(k, r, eventFor(k, r, route).event, route);
      const expected = await expectedChange(f, dryRunPolicy);
      const record = await remediate(f, dryRunPolicy);
      expect(record.outcome, record.reason).toBe('dry-run');
      expect(record.mode).toBe('dry-run');
      expect(record.change).toMatchObject({ summary: expected.summary, applied: false });
      expect(record.change?.details).toEqual(expected.plan);
      expect(record.securityHub).toBeUndefined();
      expect(await k.live(r)).toEqual(before);
    });
  }
});

describe.concurrent('undo: an operator takes the fix back within its window, as the CLI does', () => {
  // Workflow-level for every control: the remediation records its undo window and completes;
  // requestUndo (what `npm run cli -- undo` and the Slack Undo button call) starts revertFix with
  // the operator's signed request, and revertFix restores the before-state.
  for (const id of IDS) {
    it(`${id}`, async ({ expect }) => {
      const k = kit(id);
      const route = primaryRoute(k);
      const r = await k.make(EVENTS, 'event');
      const before = await k.live(r);
      const f = findingOf(k, r, eventFor(k, r, route).event, route);
      const record = await remediate(f, undoPolicy);
      expect(record.outcome, record.reason).toBe('remediated');
      expect(record.undoWindow?.workflowId).toBe(revertWorkflowId(record));
      expect(Date.parse(record.undoWindow!.until)).toBeGreaterThan(Date.now());
      k.expectFixed(before, await k.live(r), r);

      const by = { id: TEST_OPERATOR, name: TEST_OPERATOR, via: 'cli' as const };
      const reason = 'catalog end-to-end test';
      const undone = await requestUndo(w.client, { remediation: { workflowId: record.workflowId }, by, reason, policy: undoPolicy, taskQueue: w.taskQueue, sign: operatorSigns });
      expect(undone, undone.ok ? '' : undone.message).toMatchObject({ ok: true });

      const undoRecord: UndoRecord = await w.client.workflow.getHandle(record.undoWindow!.workflowId).result();
      expect(undoRecord.outcome, undoRecord.reason).toBe('reverted');
      expect(undoRecord.undo?.by).toMatchObject({ id: TEST_OPERATOR, via: 'cli', keyId: testOperatorKey.keyId });
      expect(undoRecord.undo?.signed).toBeDefined();
      expect(await k.live(r)).toEqual(before);
    });
  }
});

const operatorSigns = (claims: DecisionClaims) => testOperatorKey.sign(claims);

/**
 * iam-access-key-stale's catalog says `global: true`: "one workflow per resource whatever region
 * reported it, scanned in one region" (src/activities/controls/control.ts).
 */
describe.concurrent('iam-access-key-stale is global', () => {
  it('Security Hub findings about one user from two regions meet in one workflow', async () => {
    const k = kit('iam-access-key-stale');
    const r = await k.make(EVENTS, 'event');
    const here = findingOf(k, r, eventFor(k, r, 'securityhub').event, 'securityhub');
    const elsewhere: Made = { ...r, region: SCANS_TOO };
    const there = findingOf(k, elsewhere, eventFor(k, elsewhere, 'securityhub').event, 'securityhub');
    const submitter = createSubmitter(w.client, { taskQueue: w.taskQueue, verifyDeadlineMs: VERIFY_DEADLINE_MS, policy: dryRunPolicy });
    const [a, b] = await Promise.all([submitter.submit(here), submitter.submit(there)]);
    expect(b.workflowId).toBe(a.workflowId);
    for (const x of [a, b]) expect((await w.client.workflow.getHandle(x.workflowId, x.runId).result()).outcome).toBe('dry-run');
  });
});

// The scans come after everything above: an IAM scan lists every user of the (global) account,
// this file's event users too, and starts runs of their workflows (left alone: out of the worker
// policy's scope), which would otherwise race with the event tests' own runs of the same workflow ids.
describe('scan: scanAccount with controls [id] finds the violating resource and starts its remediation', () => {
  for (const id of IDS) {
    it.concurrent(`${id}`, async () => {
      const k = kit(id);
      const r = await k.make(SCANS, 'scan');
      const before = await k.live(r);
      const result: ScanResult = await w.client.workflow.execute(scanAccount, {
        taskQueue: w.taskQueue,
        workflowId: unique(`scan-catalog-${id}`),
        args: [{ account: ACCOUNT, regions: [SCANS], controls: [id] }],
      });
      expect(result.violations).toBeGreaterThanOrEqual(1);
      expect(result.started + result.joined).toBeGreaterThanOrEqual(1);
      expect(result.problems ?? []).toEqual([]);
      // The remediation the scan started for this resource (same workflow id as any event about it), fixed under the worker's policy.
      const workflowId = workflowIdFor({ account: ACCOUNT, region: SCANS, control: id, resource: { type: requireControl(id).catalog.resourceType, id: r.id } });
      const record: RemediationRecord = await w.client.workflow.getHandle(workflowId).result();
      expect(record.outcome, record.reason).toBe('remediated');
      expect(record.source).toBe('scan');
      k.expectFixed(before, await k.live(r), r);
    });
  }
});

describe('a finding on the whole account (Security Hub EC2.1) starts a scan of that account and region', () => {
  it('once while it runs; it finds the public snapshot and its remediation fixes it', async () => {
    const k = kit('ec2-ebs-snapshot-public');
    // SCANS_TOO: no other test makes snapshots there, so the scan sees this one only.
    const r = await k.make(SCANS_TOO, 'scan');
    const before = await k.live(r);
    const text = readFileSync(new URL('../fixtures/events/securityhub-ec2-1-failed.json', import.meta.url), 'utf8').replaceAll('eu-central-1', SCANS_TOO).replaceAll('123456789012', ACCOUNT);
    const normalized = normalizeEventBridgeEvent(JSON.parse(text));
    expect(normalized.findings).toEqual([]);
    expect(normalized.scans).toHaveLength(1);
    const request = normalized.scans![0]!;
    expect(request).toMatchObject({ control: 'ec2-ebs-snapshot-public', account: ACCOUNT, region: SCANS_TOO });
    const submitter = createSubmitter(w.client, { taskQueue: w.taskQueue, verifyDeadlineMs: VERIFY_DEADLINE_MS, policy: workerPolicy });
    // The same finding delivered twice at once (an Organization re-evaluates every account): one scan.
    const both = await Promise.all([submitter.requestScan(request), submitter.requestScan(request)]);
    expect(both.map((s) => s.status).sort()).toEqual(['joined', 'started']);
    expect(new Set(both.map((s) => s.workflowId))).toEqual(new Set([`scan-request/${ACCOUNT}/${SCANS_TOO}/ec2-ebs-snapshot-public`]));
    const scan: ScanResult = await w.client.workflow.getHandle(both[0]!.workflowId).result();
    expect(scan.violations).toBe(1);
    expect(scan.problems ?? []).toEqual([]);
    const workflowId = workflowIdFor({ account: ACCOUNT, region: SCANS_TOO, control: k.id, resource: { type: requireControl(k.id).catalog.resourceType, id: r.id } });
    const record: RemediationRecord = await w.client.workflow.getHandle(workflowId).result();
    expect(record.outcome, record.reason).toBe('remediated');
    k.expectFixed(before, await k.live(r), r);
    // Once that scan is over, the next evaluation starts a new one (which finds nothing left).
    const again = await submitter.requestScan(request);
    expect(again.status).toBe('started');
    const next: ScanResult = await w.client.workflow.getHandle(again.workflowId).result();
    expect(next.violations).toBe(0);
  });
});

describe('a scan of a global control', () => {
  it('over two regions with controls [iam-access-key-stale] lists IAM once, in the first region, and fixes the user', async () => {
    const k = kit('iam-access-key-stale');
    const r = await k.make(SCANS, 'scan');
    const before = await k.live(r);
    const result: ScanResult = await w.client.workflow.execute(scanAccount, {
      taskQueue: w.taskQueue,
      workflowId: unique('scan-catalog-iam-global'),
      // One page holds every user of the account: a control scanned once takes one page.
      args: [{ account: ACCOUNT, regions: [SCANS, SCANS_TOO], controls: ['iam-access-key-stale'], pageSize: 1000 }],
    });
    expect(result.violations).toBeGreaterThanOrEqual(1);
    // Fixed by the remediation the scan started (the user's one workflow: IAM users have no region).
    let after = await k.live(r);
    for (let i = 0; i < 80 && JSON.stringify(after) === JSON.stringify(before); i++) {
      await new Promise((x) => setTimeout(x, 250));
      after = await k.live(r);
    }
    k.expectFixed(before, after, r);
    expect(result.pages).toBe(1);
  });
});
