/**
 * Signed decisions: who approved, rejected or undid a remediation, proven by an Ed25519 signature
 * rather than claimed. Pure module (no Node imports, no clock, no I/O, no randomness): the
 * workflows' Update validators call `checkDecision`, and an auditor can run `verifySignedDecision`
 * on a decision copied out of an evidence record.
 *
 * A decision from Slack is signed by the trigger server that verified Slack's request signature
 * (a "decision relay", listed under `decisionRelays` in the policy); a decision from the CLI is
 * signed with the operator's own key (listed under the control's `approvers.keys`). A Temporal
 * client without one of those keys can send an Update, but not one a validator accepts.
 *
 * The signature covers the UTF-8 bytes of `canonicalJson(claims)` (src/evidence/canonical.ts:
 * keys sorted, no whitespace). A key is named by its key id: the first 16 hex digits of the
 * sha256 of the raw 32-byte public key.
 */
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { canonicalJson } from '../evidence/canonical.js';

// Update validators are synchronous: noble's synchronous verification needs a SHA-512 of its own.
ed.hashes.sha512 = sha512;

/** What a person decided, about which workflow, when: the signed part of a `SignedDecision`. */
export interface DecisionClaims {
  readonly v: 1;
  readonly kind: 'decision' | 'undo';
  /** The workflow the decision is for: it is refused by any other. */
  readonly workflowId: string;
  /** The run, when the decider saw one: a decision naming a run is refused by another run. */
  readonly runId?: string;
  /** For `kind: 'decision'`. */
  readonly decision?: 'approve' | 'reject';
  /** For `kind: 'decision'`: the digest of the plan the decider saw (`getStatus().planDigest`). */
  readonly planDigest?: string;
  readonly by: { readonly id: string; readonly name: string; readonly via: 'slack' | 'cli'; readonly bulk?: string };
  readonly reason?: string;
  /** When it was signed (ISO 8601). */
  readonly issuedAt: string;
}

export interface SignedDecision {
  readonly claims: DecisionClaims;
  /** Id of the signing key (see `decisionKeyId`). */
  readonly keyId: string;
  /** Ed25519 signature over the UTF-8 bytes of canonicalJson(claims), base64. */
  readonly signature: string;
}

/** A public key the policy trusts to sign decisions: an operator's (approvers.keys) or a decision relay's (decisionRelays). */
export interface TrustedKey {
  readonly keyId: string;
  /** The raw 32-byte Ed25519 public key, base64. */
  readonly publicKey: string;
  /** Who holds it: the operator's name (recorded as the decider of CLI decisions), or the relay's. */
  readonly name: string;
  /** The operator's Slack user id, when the policy links one. */
  readonly slack?: string;
}

/** The decider of an accepted decision, as it should be recorded (`Decider` plus the key that proved it). */
export interface AcceptedDecider {
  readonly id: string;
  readonly name: string;
  readonly via: 'slack' | 'cli';
  readonly bulk?: string;
  /** The key that signed the decision: the relay's for Slack, the operator's for the CLI. */
  readonly keyId: string;
}

/** The request as it reaches a validator (a `DecisionRequest` or an `UndoRequest`). */
export interface DecisionLike {
  readonly decision?: 'approve' | 'reject';
  readonly by?: { readonly id: string; readonly name: string; readonly via: string; readonly bulk?: string };
  readonly reason?: string;
  readonly planDigest?: string;
  readonly signed?: SignedDecision;
}

/** What the workflow knows about the decision it is waiting for. */
export interface DecisionContext {
  readonly kind: 'decision' | 'undo';
  /** This workflow's id (for an undo run by `revertFix`: the id of the remediation it undoes). */
  readonly workflowId: string;
  /** This run's id (for `revertFix`: the remediation run it undoes); a decision naming another run is refused. */
  readonly runId?: string;
  /** The digest of the plan waiting for a decision: a decision for another plan (or none) is refused. */
  readonly planDigest?: string;
  /** Slack user ids allowed to decide from Slack (groups already expanded). */
  readonly approvers: readonly string[];
  /** The control's `approvers.keys`: the operators who may decide from the CLI. */
  readonly operatorKeys: readonly TrustedKey[];
  /** The policy's `decisionRelays`: the trigger servers whose Slack decisions are trusted. */
  readonly relayKeys: readonly TrustedKey[];
  /** ISO 8601: a decision signed before this is refused (e.g. when the approval was requested, minus 5 minutes of clock skew). */
  readonly notBefore?: string;
  /** The control, for the reasons given ("alice is not an approver for <control>"). */
  readonly control?: string;
}

export type DecisionCheck = { readonly ok: true; readonly by: AcceptedDecider; readonly signed: SignedDecision } | { readonly ok: false; readonly reason: string };

export type SignatureCheck = { readonly ok: true; readonly signed: SignedDecision; readonly key: TrustedKey } | { readonly ok: false; readonly reason: string };

// ---- bytes -------------------------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX: Readonly<Record<string, number>> = Object.fromEntries([...B64].map((c, i) => [c, i]));

/** Standard base64 (with padding), without Buffer or atob: neither is in the workflow sandbox. */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += B64[a >> 2]! + B64[((a & 3) << 4) | ((b ?? 0) >> 4)]!;
    out += b === undefined ? '=' : B64[((b & 15) << 2) | ((c ?? 0) >> 6)]!;
    out += c === undefined ? '=' : B64[c & 63]!;
  }
  return out;
}

/** Bytes of standard base64 (padding required), or undefined when it is not exactly that. */
export function fromBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let quad = 0;
    for (let j = 0; j < 4; j++) quad = (quad << 6) | (B64_INDEX[s[i + j]!] ?? 0);
    for (const shift of [16, 8, 0]) if (o < out.length) out[o++] = (quad >> shift) & 255;
  }
  // Non-canonical encodings (bits set in the padding) would give two spellings of one signature.
  return toBase64(out) === s ? out : undefined;
}

/** UTF-8 bytes of `s` (lone surrogates as U+FFFD, as TextEncoder does), without TextEncoder. */
function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** The bytes a decision's signature covers: UTF-8 of canonicalJson(claims). */
export function decisionSigningBytes(claims: DecisionClaims): Uint8Array {
  return utf8(canonicalJson(claims));
}

/** The id of a decision key: the first 16 hex digits of the sha256 of the raw 32-byte public key. */
export function decisionKeyId(rawPublicKey: Uint8Array): string {
  return [...sha256(rawPublicKey).subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The claims of one decision (or undo) for one workflow, signed at `issuedAt`; absent optional parts are left out. */
export function decisionClaims(o: {
  kind: 'decision' | 'undo';
  workflowId: string;
  runId?: string | undefined;
  decision?: 'approve' | 'reject' | undefined;
  planDigest?: string | undefined;
  by: { id: string; name: string; via: 'slack' | 'cli'; bulk?: string | undefined };
  reason?: string | undefined;
  issuedAt: string;
}): DecisionClaims {
  return {
    v: 1,
    kind: o.kind,
    workflowId: o.workflowId,
    ...(o.runId ? { runId: o.runId } : {}),
    ...(o.kind === 'decision' && o.decision ? { decision: o.decision } : {}),
    ...(o.kind === 'decision' && o.planDigest ? { planDigest: o.planDigest } : {}),
    by: { id: o.by.id, name: o.by.name, via: o.by.via, ...(o.by.bulk ? { bulk: o.by.bulk } : {}) },
    ...(o.reason ? { reason: o.reason } : {}),
    issuedAt: o.issuedAt,
  };
}

// ---- shape -------------------------------------------------------------------------------

const CLAIM_KEYS = ['v', 'kind', 'workflowId', 'runId', 'decision', 'planDigest', 'by', 'reason', 'issuedAt'];
const BY_KEYS = ['id', 'name', 'via', 'bulk'];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const KEY_ID = /^[0-9a-f]{16}$/;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const optionalText = (o: Record<string, unknown>, k: string, max: number) => !Object.hasOwn(o, k) || text(o[k], max);

/** ms since the epoch of an ISO 8601 date-time, or NaN. Date.parse is deterministic: no clock is read. */
const isoMs = (s: unknown): number => (typeof s === 'string' && ISO.test(s) ? Date.parse(s) : Number.NaN);

/** The envelope as a `SignedDecision`, or what is wrong with it. Unknown claims are refused: a verifier must understand everything it vouches for. */
function readSigned(v: unknown): SignedDecision | string {
  if (!isObj(v)) return 'the signed decision is not an object';
  const { claims, keyId, signature } = v;
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) return 'the signed decision has no valid keyId (16 hex digits)';
  if (typeof signature !== 'string' || fromBase64(signature)?.length !== 64) return 'the signed decision has no valid signature (64 bytes, base64)';
  if (!isObj(claims)) return 'the signed decision has no claims';
  const bad: string[] = [];
  for (const k of Object.keys(claims)) if (!CLAIM_KEYS.includes(k)) bad.push(`unknown claim ${JSON.stringify(k.slice(0, 40))}`);
  if (claims.v !== 1) bad.push('v must be 1');
  if (claims.kind !== 'decision' && claims.kind !== 'undo') bad.push('kind must be decision or undo');
  if (!text(claims.workflowId, 1000)) bad.push('workflowId');
  if (!optionalText(claims, 'runId', 128)) bad.push('runId');
  if (Object.hasOwn(claims, 'decision') && claims.decision !== 'approve' && claims.decision !== 'reject') bad.push('decision must be approve or reject');
  if (!optionalText(claims, 'planDigest', 128)) bad.push('planDigest');
  if (!optionalText(claims, 'reason', 10_000)) bad.push('reason');
  if (!Number.isFinite(isoMs(claims.issuedAt))) bad.push('issuedAt must be an ISO 8601 date-time');
  const by = claims.by;
  if (!isObj(by)) bad.push('by');
  else {
    for (const k of Object.keys(by)) if (!BY_KEYS.includes(k)) bad.push(`unknown claim by.${k.slice(0, 40)}`);
    if (!text(by.id, 256) || !text(by.name, 256)) bad.push('by.id and by.name');
    if (by.via !== 'slack' && by.via !== 'cli') bad.push('by.via must be slack or cli');
    if (!optionalText(by, 'bulk', 1200)) bad.push('by.bulk');
  }
  if (bad.length) return `the signed decision's claims are malformed (${bad.join('; ')})`;
  return { claims: claims as unknown as DecisionClaims, keyId, signature };
}

/** Whether `signed` carries a valid signature of `key` (which must match its own key id). */
function signatureHolds(signed: SignedDecision, key: TrustedKey): string | undefined {
  const pub = fromBase64(key.publicKey);
  if (pub?.length !== 32) return `trusted key ${key.keyId} (${key.name}) is not a 32-byte Ed25519 public key`;
  if (decisionKeyId(pub) !== key.keyId) return `trusted key ${key.keyId} (${key.name}) does not match its public key`;
  let good = false;
  try {
    // RFC 8032 verification (not ZIP-215): exactly what node:crypto / OpenSSL accept, so an auditor's tools agree.
    good = ed.verify(fromBase64(signed.signature)!, decisionSigningBytes(signed.claims), pub, { zip215: false });
  } catch {
    good = false;
  }
  return good ? undefined : `the signature does not match the decision (changed after signing, or not signed by key ${key.keyId})`;
}

// ---- verification ------------------------------------------------------------------------

/**
 * Checks that `signed` is a well-formed decision signed by one of `trusted` (the keys you pin,
 * e.g. a policy's decisionRelays and approvers.keys), and says by whom. It does not judge whether
 * that key may make that decision: `checkDecision` does, for a workflow.
 */
export function verifySignedDecision(signed: unknown, trusted: readonly TrustedKey[]): SignatureCheck {
  const s = readSigned(signed);
  if (typeof s === 'string') return { ok: false, reason: s };
  const key = trusted.find((k) => k.keyId === s.keyId);
  if (!key) return { ok: false, reason: `signed by key ${s.keyId}, which is not one of the trusted keys` };
  const wrong = signatureHolds(s, key);
  return wrong ? { ok: false, reason: wrong } : { ok: true, signed: s, key };
}

const same = (a: string | undefined, b: string | undefined) => (a || undefined) === (b || undefined);

/**
 * Whether a workflow may accept `req` as a decision (or undo) of a person, with the reason when
 * not. Accepted only with a signed decision (`req.signed`) that:
 * - is signed by a key the policy trusts for the way it came: Slack decisions by a decision
 *   relay (`ctx.relayKeys`), CLI decisions by an operator key of this control (`ctx.operatorKeys`);
 * - is for this kind of request, this workflow (and run, when it names one) and, for a decision,
 *   the plan waiting (`ctx.planDigest`), signed no earlier than `ctx.notBefore`;
 * - says exactly what the request says (decision, decider, reason, plan digest);
 * - from Slack, names a listed approver; from the CLI, names the key's own operator.
 * The decider to record is the accepted `by`: for the CLI the key's name, whatever the request claims.
 */
export function checkDecision(req: DecisionLike, ctx: DecisionContext): DecisionCheck {
  const no = (reason: string): DecisionCheck => ({ ok: false, reason });
  if (req.signed === undefined || req.signed === null) {
    return no(
      'decisions must be signed: from Slack by the trigger server that verified the click (a decision relay of the policy), from the CLI with the operator\'s key (RECTIFY_OPERATOR_KEY_FILE, listed in approvers.keys); this one carries no signature',
    );
  }
  const s = readSigned(req.signed);
  if (typeof s === 'string') return no(s);
  const c = s.claims;
  const via = c.by.via;

  // The key: one trusted for the way the decision says it came.
  const pool = via === 'slack' ? ctx.relayKeys : ctx.operatorKeys;
  const key = pool.find((k) => k.keyId === s.keyId);
  if (!key) {
    const operator = ctx.operatorKeys.find((k) => k.keyId === s.keyId);
    const relay = ctx.relayKeys.find((k) => k.keyId === s.keyId);
    if (via === 'slack') {
      return no(
        operator
          ? `a decision from Slack must be signed by a decision relay (the trigger server); key ${s.keyId} is the operator key of ${operator.name}`
          : `a decision from Slack must be signed by a decision relay of the policy (decisionRelays); key ${s.keyId} is not one`,
      );
    }
    return no(
      relay
        ? `a decision from the CLI must be signed with an operator's own key; key ${s.keyId} is the decision relay ${relay.name}`
        : `key ${s.keyId} is not an operator key of this control (approvers.keys${ctx.control ? ` of ${ctx.control}` : ''}): this operator may not decide here`,
    );
  }
  const wrong = signatureHolds(s, key);
  if (wrong) return no(wrong);

  // What it is for.
  if (c.kind !== ctx.kind) return no(`the signed decision is ${c.kind === 'undo' ? 'an undo' : 'an approval decision'}, not ${ctx.kind === 'undo' ? 'an undo' : 'an approval decision'}`);
  if (c.workflowId !== ctx.workflowId) return no(`the signed decision is for another workflow (${c.workflowId}), not ${ctx.workflowId}`);
  if (c.runId !== undefined && ctx.runId !== undefined && c.runId !== ctx.runId) return no(`the signed decision is for another run (${c.runId}) of ${ctx.workflowId}`);
  if (ctx.kind === 'decision') {
    if (c.decision === undefined) return no('the signed decision says neither approve nor reject');
    if (ctx.planDigest !== undefined && c.planDigest !== ctx.planDigest) {
      return no(
        c.planDigest === undefined
          ? `the signed decision does not name the plan it decides (the plan waiting is ${ctx.planDigest.slice(0, 12)})`
          : `the signed decision is for another plan (${c.planDigest.slice(0, 12)}); the plan waiting is ${ctx.planDigest.slice(0, 12)}`,
      );
    }
  } else if (c.decision !== undefined || c.planDigest !== undefined) {
    return no('a signed undo names no decision or plan');
  }

  // The request says exactly what was signed: no signed envelope with other values beside it.
  const by = req.by;
  if (!by || by.id !== c.by.id || by.name !== c.by.name || by.via !== c.by.via || !same(by.bulk, c.by.bulk)) {
    return no('the request names another decider than its signed decision');
  }
  if (ctx.kind === 'decision' && req.decision !== c.decision) return no(`the request says ${String(req.decision)} but its signed decision says ${c.decision ?? 'nothing'}`);
  if (!same(req.reason, c.reason)) return no('the request gives another reason than its signed decision');
  if (req.planDigest !== undefined && req.planDigest !== c.planDigest) return no('the request names another plan than its signed decision');

  // When.
  if (ctx.notBefore !== undefined) {
    const notBefore = isoMs(ctx.notBefore);
    if (!Number.isFinite(notBefore)) return no(`cannot check when the decision was signed: notBefore is not an ISO 8601 date-time`);
    if (isoMs(c.issuedAt) < notBefore) return no(`the signed decision was made at ${c.issuedAt}, before this request (${ctx.notBefore}): an earlier decision cannot be used again`);
  }

  // Who.
  const bulk = c.by.bulk ? { bulk: c.by.bulk } : {};
  if (via === 'slack') {
    if (!ctx.approvers.includes(c.by.id)) return no(`${c.by.name} is not an approver ${ctx.control ? `for ${ctx.control}` : 'of this remediation'}`);
    return { ok: true, by: { id: c.by.id, name: c.by.name, via, ...bulk, keyId: key.keyId }, signed: s };
  }
  if (c.by.id !== key.name || c.by.name !== key.name) return no(`the decision names ${c.by.id} but is signed with the key of ${key.name} (${key.keyId})`);
  return { ok: true, by: { id: key.name, name: key.name, via, ...bulk, keyId: key.keyId }, signed: s };
}
