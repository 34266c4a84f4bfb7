import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { resolvePayloadEncryption, withPayloadCodec } from '../../src/codec/encryption.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const DIR = new URL('./histories/', import.meta.url);
/** Histories of the current code (re-recorded by `npm run record-histories`) and, under v1/, runs of the first version, kept forever. */
const files = readdirSync(DIR, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.json'))
  .sort();
/** Recorded with payload encryption on (`npm run record-histories -- --encrypted auto-fix`), with the test key of encrypted-history-keys.txt. */
const ENCRYPTED = ['auto-fix'];
const isEncrypted = (f: string) => f.startsWith('encrypted/');
/**
 * The workflow id a history replays under: its path, except for an organization scan kept from
 * before a patch, which replays under its own id (its children's ids are made from it).
 */
const replayId = (f: string) => (f.endsWith('/scan-organization.json') ? `scan-organization` : f.replace(/\.json$/, ''));
const histories = (names = files.filter((f) => !isEncrypted(f))) => names.map((f) => ({ workflowId: replayId(f), history: JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as unknown }));
const V1 = ['already-compliant', 'approval', 'auto-fix', 'dry-run', 'exempt', 'failure', 'notify', 'rejection', 'scan-account', 'timeout-escalation', 'undo-window', 'undo'];
/** Scans: the worker's own account, an organization of two, a member's region scan, and one whose region is not enabled (problems recorded behind the scan-goes-on patch). */
const SCANS = ['scan-account', 'scan-account-member', 'scan-account-region-off', 'scan-organization'];
/** Approved fixes recorded before approvals were bound to their plan (patch approved-plan-1): they replay on the old path. */
const BEFORE_APPROVED_PLAN = ['approval', 'bulk-approved', 'flapping'];
/** Every remediation path recorded before bounded, visible retries (patch stall-visible-1). */
const BEFORE_STALL_VISIBLE = ['already-compliant', 'approval', 'auto-fix', 'budget-held', 'bulk-approved', 'dry-run', 'exempt', 'failure', 'flapping', 'notify', 'rejection-held', 'rejection', 'timeout-escalation', 'undo'];
/** Scans recorded before a scan with no list asked the worker's registry (patch scan-controls-listed-1): they scan the first six. */
const BEFORE_CONTROLS_LISTED = SCANS;
const CURRENT = [...V1.filter((n) => n !== 'undo-window' && n !== 'scan-account'), ...SCANS, 'budget-held', 'bulk-approved', 'digest', 'flapping', 'rejection-held', 'revert'];
const quiet = { logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } };

async function replayAll(workflowsPath: string, o: { names?: string[]; dataConverter?: DataConverter } = {}): Promise<ReplayResult[]> {
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, ...quiet });
  const out: ReplayResult[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle, ...(o.dataConverter ? { dataConverter: o.dataConverter } : {}) }, histories(o.names) as never)) out.push(r);
  return out;
}

/**
 * Temporal history is the audit trail: every recorded path must replay with the current code.
 * Re-record with `npm run record-histories` only after an intentional change guarded by patched().
 */
describe('replay of recorded histories', () => {
  it('has a history for every path, of the current code and of the first version', () => {
    expect(files).toEqual([...CURRENT.map((n) => `${n}.json`), ...V1.map((n) => `v1/${n}.json`), ...BEFORE_APPROVED_PLAN.map((n) => `before-approved-plan/${n}.json`), ...BEFORE_STALL_VISIBLE.map((n) => `before-stall-visible/${n}.json`), ...BEFORE_CONTROLS_LISTED.map((n) => `before-controls-listed/${n}.json`), ...ENCRYPTED.map((n) => `encrypted/${n}.json`)].sort());
  });

  it('every recorded history replays with the current workflow code', async () => {
    const results = await replayAll(WORKFLOWS_PATH);
    expect(results).toHaveLength(files.filter((f) => !isEncrypted(f)).length);
    expect(results.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error}`)).toEqual([]);
  }, 120_000);

  it('a change to the command sequence is caught as a determinism violation', async () => {
    const results = await replayAll(fileURLToPath(new URL('./incompatible-workflows.ts', import.meta.url)));
    const remediation = results.filter((r) => !/(^|\/)(undo-window|digest|revert|scan-.*)$/.test(r.workflowId));
    expect(remediation.length).toBeGreaterThan(0);
    for (const r of remediation) {
      expect(r.error, r.workflowId).toBeDefined();
      expect(String(r.error), r.workflowId).toMatch(/Nondeterminism|DeterminismViolation|nondeterminism/i);
    }
    expect(results.find((r) => r.workflowId === 'v1/undo-window')?.error).toBeUndefined();
    expect(results.find((r) => r.workflowId === 'revert')?.error).toBeUndefined();
    // The scans are unchanged in that bundle: they still replay.
    expect(results.filter((r) => /(^|\/)scan-/.test(r.workflowId) && r.error).map((r) => r.workflowId)).toEqual([]);
  }, 120_000);

  it('a history recorded with payload encryption replays with the codec, and not without it', async () => {
    const encrypted = files.filter(isEncrypted);
    const { encryption, problems } = resolvePayloadEncryption({ PAYLOAD_ENCRYPTION_KEYS_FILE: fileURLToPath(new URL('./encrypted-history-keys.txt', import.meta.url)) });
    expect(problems).toEqual([]);
    const decoded = await replayAll(WORKFLOWS_PATH, { names: encrypted, ...withPayloadCodec(encryption) });
    expect(decoded.map((r) => r.workflowId)).toEqual(ENCRYPTED.map((n) => `encrypted/${n}`));
    expect(decoded.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error}`)).toEqual([]);
    const undecoded = await replayAll(WORKFLOWS_PATH, { names: encrypted });
    expect(undecoded).toHaveLength(encrypted.length);
    for (const r of undecoded) expect(String(r.error), r.workflowId).toMatch(/Unknown encoding: binary\/encrypted/);
  }, 120_000);
});
