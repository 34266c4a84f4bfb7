/**
 * Checks the signed decisions in evidence records against a policy's keys, for auditors
 * (`npm run cli -- evidence verify-decision FILE`): every decision a person made (an approval or
 * rejection, an undo) must carry its signed decision, signed by a key the policy trusts for the
 * way it came (Slack: a decision relay; CLI: an operator key of the record's control), for this
 * remediation, saying what the record says. The record's own evidence signature is checked by
 * `evidence export`; this checks who decided.
 */
import { controlPolicyFor } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { verifySignedDecision, type SignedDecision, type TrustedKey } from './signed.js';

export interface DecisionAudit {
  /** The record's workflow id (remediation), or the remediation an undo record is about. */
  readonly workflowId: string;
  readonly ok: boolean;
  /** One line per finding: what was verified, or what is wrong. */
  readonly lines: readonly string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const looksSigned = (v: unknown): v is SignedDecision => isObj(v) && isObj(v.claims) && typeof v.keyId === 'string' && typeof v.signature === 'string';

/** Every signed decision in `record`, with its path (e.g. `approval.signed`); the evidence signature itself is skipped. */
export function signedDecisionsIn(record: unknown): { path: string; signed: SignedDecision }[] {
  const out: { path: string; signed: SignedDecision }[] = [];
  const walk = (v: unknown, path: string, depth: number) => {
    if (depth > 8) return;
    if (looksSigned(v)) {
      out.push({ path, signed: v });
      return;
    }
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) if (!(depth === 0 && k === 'signature')) walk(x, path ? `${path}.${k}` : k, depth + 1);
  };
  walk(record, '', 0);
  return out;
}

/** The operator keys the policy gives `control` (for `account`; without one, in any account group). */
function operatorKeysOf(policy: Policy, control: string, account: string | undefined): readonly TrustedKey[] {
  if (!Object.hasOwn(policy.controls, control)) return [];
  if (account) return controlPolicyFor(policy, control, account).approvers.keys ?? [];
  const all = [policy.controls[control], ...(policy.accounts ?? []).map((g) => g.controls[control])].flatMap((c) => c?.approvers.keys ?? []);
  return all.filter((k, i) => all.findIndex((x) => x.keyId === k.keyId) === i);
}

/** Audits the signed decisions of one evidence record (remediation or undo) against `policy`. */
export function auditDecisions(record: unknown, policy: Policy): DecisionAudit {
  if (!isObj(record)) return { workflowId: '?', ok: false, lines: ['not an evidence record (a JSON object)'] };
  const remediation = isObj(record.remediation) ? record.remediation : undefined;
  const workflowId = String(remediation?.workflowId ?? record.workflowId ?? '?');
  const ids = new Set([record.workflowId, remediation?.workflowId, remediation ? `undo/${String(remediation.workflowId)}` : undefined].filter((x): x is string => typeof x === 'string'));
  const control = typeof record.control === 'string' ? record.control : '';
  const account = typeof record.account === 'string' ? record.account : undefined;
  const operators = operatorKeysOf(policy, control, account);
  const relays = policy.decisionRelays ?? [];
  const lines: string[] = [];
  let ok = true;
  const fail = (line: string) => {
    ok = false;
    lines.push(`FAIL ${line}`);
  };

  const found = signedDecisionsIn(record);
  // Decisions of a person that the record states: each must be backed by a signed decision.
  const stated: { path: string; by: Obj; decision?: unknown }[] = [];
  if (isObj(record.approval) && isObj(record.approval.by)) stated.push({ path: 'approval', by: record.approval.by, decision: record.approval.decision });
  if (isObj(record.undo) && isObj(record.undo.by)) stated.push({ path: 'undo', by: record.undo.by });
  for (const s of stated) {
    if (s.by.via !== 'slack' && s.by.via !== 'cli') continue;
    if (!found.some((f) => f.path.startsWith(`${s.path}.`))) fail(`${s.path}: decided by ${String(s.by.via)}:${String(s.by.id)} but the record carries no signed decision for it`);
  }

  for (const { path, signed } of found) {
    const via = (signed.claims as { by?: { via?: unknown } }).by?.via;
    const pool = via === 'slack' ? relays : operators;
    const v = verifySignedDecision(signed, pool);
    if (!v.ok) {
      const elsewhere = verifySignedDecision(signed, [...relays, ...operators]).ok ? ` (a key of the policy, but not one that may sign ${String(via)} decisions for ${control || 'this control'})` : '';
      fail(`${path}: ${v.reason}${elsewhere}`);
      continue;
    }
    const c = v.signed.claims;
    const problems: string[] = [];
    if (!ids.has(c.workflowId)) problems.push(`it is for another workflow (${c.workflowId})`);
    // A first-version undo window names its own run (workflow undo/<remediation>), not the remediation's.
    const runId = c.kind === 'undo' ? (c.workflowId.startsWith('undo/') ? undefined : remediation?.runId) : record.runId;
    if (typeof runId === 'string' && c.runId !== undefined && c.runId !== runId) problems.push(`it is for another run (${c.runId})`);
    if (c.by.via === 'cli' && (c.by.id !== v.key.name || c.by.name !== v.key.name)) problems.push(`it names ${c.by.id}, but the key is ${v.key.name}'s`);
    const statedHere = stated.find((s) => path.startsWith(`${s.path}.`));
    if (statedHere) {
      if (statedHere.decision !== undefined && c.decision !== statedHere.decision) problems.push(`it says ${String(c.decision)}, the record says ${String(statedHere.decision)}`);
      if (statedHere.by.id !== undefined && statedHere.by.id !== c.by.id) problems.push(`it names ${c.by.id}, the record names ${String(statedHere.by.id)}`);
    }
    if (problems.length) fail(`${path}: signed by ${v.key.name} (${v.key.keyId}), but ${problems.join('; ')}`);
    else lines.push(`ok   ${path}: ${c.kind === 'undo' ? 'undo' : c.decision} by ${c.by.via}:${c.by.id}${c.by.bulk ? ` (${c.by.bulk})` : ''}, signed ${c.issuedAt} by ${c.by.via === 'slack' ? 'decision relay' : 'operator key of'} ${v.key.name} (${v.key.keyId})${c.planDigest ? `, plan ${c.planDigest.slice(0, 12)}` : ''}`);
  }
  if (found.length === 0 && stated.every((s) => s.by.via !== 'slack' && s.by.via !== 'cli')) lines.push('no decision of a person in this record (automatic, or decided by the timeout)');
  if (typeof record.policyHash === 'string' && record.policyHash !== policy.hash) {
    lines.push(`note: decided under policy ${record.policyHash.slice(0, 12)}..., checked against ${policy.hash.slice(0, 12)}... (keys listed since then, or no longer, change the answer)`);
  }
  return { workflowId, ok, lines };
}
