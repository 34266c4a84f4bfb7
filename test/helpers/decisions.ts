/**
 * Keys and signed decisions for tests. The private keys below are test fixtures made for this
 * file, never real keys: anyone can read them, so they prove nothing outside a test.
 *
 * - `testRelayKey`: the trigger server's decision relay key (Slack decisions), listed under
 *   `decisionRelays` by `withTestDecisionKeys` / `DECISION_KEYS_YAML`.
 * - `testOperatorKey`: an operator's CLI key, listed under `defaults.approvers.keys` as
 *   `test-operator` (or the name given).
 * - `otherOperatorKey`: a second operator's key, for "listed for another control" and "not listed".
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { DEFAULT_POLICY_PATH, parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { decisionClaims, type SignedDecision, type TrustedKey } from '../../src/decisions/signed.js';
import { loadDecisionKey, publicKeyLine, type DecisionKey } from '../../src/decisions/sign.js';
import { trustedKey, withDecisionKeys } from '../../src/policy/keys.js';
import type { DecisionRequest, UndoRequest } from '../../src/workflows/messages.js';

export const testRelayKeyPem = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ8ElsxyRTw4pvx/9R6K0rbpV8z+CE/T5lJTmOz2ErbS
-----END PRIVATE KEY-----
`;
export const testOperatorKeyPem = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKb9IvhAkhXAEPuUagLDaw+aNQl4ptUsTvcKr0AXwfGR
-----END PRIVATE KEY-----
`;
export const otherOperatorKeyPem = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBkhGsuUFldHWMnkdREt28bMkCSp3oVpK1rhJs3Niggv
-----END PRIVATE KEY-----
`;

export const TEST_RELAY = 'test-relay';
export const TEST_OPERATOR = 'test-operator';
export const OTHER_OPERATOR = 'other-operator';

export const testRelayKey: DecisionKey = loadDecisionKey(testRelayKeyPem);
export const testOperatorKey: DecisionKey = loadDecisionKey(testOperatorKeyPem);
export const otherOperatorKey: DecisionKey = loadDecisionKey(otherOperatorKeyPem);

/** The keys as the policy loader makes them (for `checkDecision` contexts). */
export const trusted = (key: DecisionKey, name: string, slack?: string): TrustedKey => trustedKey(Buffer.from(key.publicKey, 'base64'), name, slack);
export const testRelayTrusted = trusted(testRelayKey, TEST_RELAY);
export const testOperatorTrusted = trusted(testOperatorKey, TEST_OPERATOR);
export const otherOperatorTrusted = trusted(otherOperatorKey, OTHER_OPERATOR);

/** A policy entry for `key` (a list item of approvers.keys or decisionRelays), as `keys new` prints it. */
export const keyEntryYaml = (key: DecisionKey, name: string) => publicKeyLine(key, name);

/** Top-level policy YAML listing the test relay; append it to a test policy. */
export const DECISION_KEYS_YAML = `decisionRelays:\n  - ${keyEntryYaml(testRelayKey, TEST_RELAY)}\n`;

/**
 * `policyYaml` with the test relay under `decisionRelays` and the test operator (as `operatorName`)
 * under `defaults.approvers.keys` (and under any control's or account group's own keys).
 */
export function withTestDecisionKeys(policyYaml: string, o: { operatorName?: string } = {}): string {
  return withDecisionKeys(policyYaml, {
    relays: [{ name: TEST_RELAY, publicKey: testRelayKey.publicKey }],
    operators: [{ name: o.operatorName ?? TEST_OPERATOR, publicKey: testOperatorKey.publicKey }],
  });
}

/** A private key in a file of its own (mode 0600), for processes: RECTIFY_OPERATOR_KEY_FILE, DECISION_SIGNING_KEY_FILE. */
export async function keyFile(pem: string, name = 'key.pem'): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'decision-key-')), name);
  await writeFile(file, pem, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

export interface SignedRequestOptions {
  readonly workflowId: string;
  readonly runId?: string;
  readonly planDigest?: string;
  readonly reason?: string;
  /** Default cli. */
  readonly via?: 'slack' | 'cli';
  /** Default: the test operator (cli); required for slack (the Slack user). */
  readonly by?: { readonly id: string; readonly name: string };
  readonly bulk?: string;
  /** Default: the test relay for slack, the test operator's key for cli. */
  readonly key?: DecisionKey;
  /** Default: now. */
  readonly issuedAt?: string;
}

function byOf(o: SignedRequestOptions) {
  const via = o.via ?? 'cli';
  if (via === 'slack' && !o.by) throw new Error('a Slack decision needs the Slack user (by)');
  const who = o.by ?? { id: TEST_OPERATOR, name: TEST_OPERATOR };
  return { id: who.id, name: who.name, via, ...(o.bulk ? { bulk: o.bulk } : {}) };
}

const keyOf = (o: SignedRequestOptions) => o.key ?? ((o.via ?? 'cli') === 'slack' ? testRelayKey : testOperatorKey);

/** A decision request signed as the trigger server (via slack) or the CLI (via cli) sends it. */
export function signedDecision(o: SignedRequestOptions & { decision?: 'approve' | 'reject' }): DecisionRequest & { signed: SignedDecision } {
  const decision = o.decision ?? 'approve';
  const by = byOf(o);
  const claims = decisionClaims({ kind: 'decision', workflowId: o.workflowId, runId: o.runId, decision, planDigest: o.planDigest, by, reason: o.reason, issuedAt: o.issuedAt ?? new Date().toISOString() });
  return { decision, by, ...(o.reason ? { reason: o.reason } : {}), ...(o.planDigest ? { planDigest: o.planDigest } : {}), signed: keyOf(o).sign(claims) };
}

/** An undo request signed as the trigger server (via slack) or the CLI (via cli) sends it. */
export function signedUndo(o: SignedRequestOptions): UndoRequest & { signed: SignedDecision } {
  const { bulk: _bulk, ...by } = byOf(o);
  const claims = decisionClaims({ kind: 'undo', workflowId: o.workflowId, runId: o.runId, by, reason: o.reason, issuedAt: o.issuedAt ?? new Date().toISOString() });
  return { by, ...(o.reason ? { reason: o.reason } : {}), signed: keyOf(o).sign(claims) };
}

/**
 * The shipped default policy with the test relay and the test operator (as `operatorName`) listed,
 * and the undo window closed (remediations end once verified), as `defaultPolicy` in stack.ts;
 * `text` is its file (for POLICY_FILE of the CLI, the worker, the trigger server): same hash.
 */
export function keyedDefaultPolicy(operatorName = TEST_OPERATOR): { readonly text: string; readonly policy: Policy } {
  const text = withTestDecisionKeys(readFileSync(DEFAULT_POLICY_PATH, 'utf8'), { operatorName });
  const parsed = parsePolicy(text, 'test policy');
  const controls = Object.fromEntries(Object.entries(parsed.controls).map(([id, c]) => [id, { ...c, undo: { ...c.undo, windowMs: 0 } }])) as unknown as Policy['controls'];
  return { text, policy: { ...parsed, controls } };
}

/**
 * The requests of the Updates a workflow accepted (`decideRemediation`, `undoRemediation`), read
 * from its history, oldest first: what the trigger server or the CLI actually sent, signature and
 * all. (Payloads must be unencrypted.)
 */
export async function acceptedUpdates(handle: WorkflowHandle): Promise<{ name: string; arg: Record<string, unknown> }[]> {
  const history = await handle.fetchHistory();
  const out: { name: string; arg: Record<string, unknown> }[] = [];
  for (const e of history.events ?? []) {
    const req = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    const first = req?.input?.args?.payloads?.[0];
    if (req && first) out.push({ name: req.input?.name ?? '', arg: defaultPayloadConverter.fromPayload(first as Payload) });
  }
  return out;
}

/** The input of a workflow (e.g. `revertFix`'s, which carries the signed undo), from its history. */
export async function workflowInput(handle: WorkflowHandle): Promise<Record<string, unknown> | undefined> {
  const history = await handle.fetchHistory();
  const first = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return first ? defaultPayloadConverter.fromPayload(first as Payload) : undefined;
}
