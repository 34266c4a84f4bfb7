import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleWorkflowCode } from '@temporalio/worker';
import { canonicalJson } from '../../../src/evidence/canonical.js';
import { checkDecision, decisionClaims, decisionKeyId, fromBase64, toBase64, verifySignedDecision, type DecisionContext, type DecisionLike } from '../../../src/decisions/signed.js';
import { generateDecisionKeyPem, loadDecisionKey } from '../../../src/decisions/sign.js';
import { REPO_ROOT } from '../../../src/stack/paths.js';
import {
  otherOperatorKey,
  otherOperatorTrusted,
  signedDecision,
  signedUndo,
  TEST_OPERATOR,
  testOperatorKey,
  testOperatorTrusted,
  testRelayKey,
  testRelayTrusted,
} from '../../helpers/decisions.js';

const WF = 'finding/123456789012/us-east-1/ec2-sg-admin-ports-open/sg-0abc';
const RUN = '0196f0c8-aaaa-7bbb-8ccc-000000000001';
const PLAN = 'a'.repeat(64);
const APPROVER = 'UAPPROVER1';
const alice = { id: APPROVER, name: 'alice' };

const ctx = (o: Partial<DecisionContext> = {}): DecisionContext => ({
  kind: 'decision',
  workflowId: WF,
  runId: RUN,
  planDigest: PLAN,
  approvers: [APPROVER],
  operatorKeys: [testOperatorTrusted],
  relayKeys: [testRelayTrusted],
  control: 'ec2-sg-admin-ports-open',
  ...o,
});
const slack = (o: Partial<Parameters<typeof signedDecision>[0]> = {}) => signedDecision({ workflowId: WF, runId: RUN, planDigest: PLAN, via: 'slack', by: alice, ...o });
const cli = (o: Partial<Parameters<typeof signedDecision>[0]> = {}) => signedDecision({ workflowId: WF, runId: RUN, planDigest: PLAN, via: 'cli', ...o });
const refusal = (req: DecisionLike, c: DecisionContext = ctx()) => {
  const out = checkDecision(req, c);
  if (out.ok) throw new Error('expected a refusal');
  return out.reason;
};

describe('checkDecision: accepted', () => {
  it('a Slack decision relayed by a listed relay for a listed approver: recorded as the approver, with the relay key', () => {
    const req = slack({ reason: 'CHG-1', bulk: 'digest:d1' });
    const out = checkDecision(req, ctx());
    expect(out).toEqual({ ok: true, by: { id: APPROVER, name: 'alice', via: 'slack', bulk: 'digest:d1', keyId: testRelayKey.keyId }, signed: req.signed });
  });

  it('a CLI decision signed with a listed operator key: recorded under the key\'s name', () => {
    const req = cli({ decision: 'reject', reason: 'maintenance' });
    const out = checkDecision(req, ctx());
    expect(out).toEqual({ ok: true, by: { id: TEST_OPERATOR, name: TEST_OPERATOR, via: 'cli', keyId: testOperatorKey.keyId }, signed: req.signed });
  });

  it('an undo from Slack and from the CLI (no plan, no decision)', () => {
    const c = ctx({ kind: 'undo', planDigest: undefined });
    expect(checkDecision(signedUndo({ workflowId: WF, runId: RUN, via: 'slack', by: alice }), c).ok).toBe(true);
    expect(checkDecision(signedUndo({ workflowId: WF, via: 'cli', reason: 'vendor' }), c).ok).toBe(true);
  });

  it('a decision without a run id, and a context without a plan digest (first-version workflows)', () => {
    expect(checkDecision(cli({ runId: undefined }), ctx()).ok).toBe(true);
    expect(checkDecision(cli({ planDigest: undefined }), ctx({ planDigest: undefined })).ok).toBe(true);
  });

  it('issued at or after notBefore', () => {
    const issuedAt = '2026-07-01T10:00:00.000Z';
    expect(checkDecision(cli({ issuedAt }), ctx({ notBefore: issuedAt })).ok).toBe(true);
    expect(checkDecision(cli({ issuedAt }), ctx({ notBefore: '2026-07-01T09:55:00Z' })).ok).toBe(true);
  });
});

describe('checkDecision: refused', () => {
  it('unsigned, from Slack or the CLI, whatever the names say', () => {
    const { signed: _s, ...unsigned } = slack();
    expect(refusal(unsigned)).toMatch(/^decisions must be signed: /);
    expect(refusal({ decision: 'approve', by: { id: TEST_OPERATOR, name: TEST_OPERATOR, via: 'cli' } })).toMatch(/^decisions must be signed: .*RECTIFY_OPERATOR_KEY_FILE/);
  });

  it('a forged Slack decision: signed by an operator key, or by a key the policy does not know', () => {
    expect(refusal(slack({ key: testOperatorKey }))).toBe(`a decision from Slack must be signed by a decision relay (the trigger server); key ${testOperatorKey.keyId} is the operator key of ${TEST_OPERATOR}`);
    expect(refusal(slack({ key: otherOperatorKey }))).toBe(`a decision from Slack must be signed by a decision relay of the policy (decisionRelays); key ${otherOperatorKey.keyId} is not one`);
  });

  it('a Slack decision for someone who is not an approver, even relayed', () => {
    expect(refusal(slack({ by: { id: 'UINTRUDER9', name: 'mallory' } }))).toBe('mallory is not an approver for ec2-sg-admin-ports-open');
  });

  it('a CLI decision with a key that is not listed, or listed only for another control, or the relay\'s', () => {
    const unlisted = refusal(cli({ key: otherOperatorKey, by: { id: 'other-operator', name: 'other-operator' } }));
    expect(unlisted).toBe(`key ${otherOperatorKey.keyId} is not an operator key of this control (approvers.keys of ec2-sg-admin-ports-open): this operator may not decide here`);
    // Listed for s3 only: the workflow of this control gets only this control's keys.
    const s3Keys = [otherOperatorTrusted];
    expect(checkDecision(cli({ key: otherOperatorKey, by: { id: 'other-operator', name: 'other-operator' } }), ctx({ operatorKeys: s3Keys })).ok).toBe(true);
    expect(refusal(cli({ key: otherOperatorKey, by: { id: 'other-operator', name: 'other-operator' } }), ctx({ operatorKeys: [testOperatorTrusted] }))).toContain('is not an operator key of this control');
    expect(refusal(cli({ key: testRelayKey }))).toBe(`a decision from the CLI must be signed with an operator's own key; key ${testRelayKey.keyId} is the decision relay test-relay`);
  });

  it('a CLI decision naming someone other than the key holder', () => {
    expect(refusal(cli({ by: { id: 'alice', name: 'alice' } }))).toBe(`the decision names alice but is signed with the key of ${TEST_OPERATOR} (${testOperatorKey.keyId})`);
  });

  it('a decision replayed to another workflow, or another run', () => {
    expect(refusal(cli({ workflowId: `${WF}-other` }))).toBe(`the signed decision is for another workflow (${WF}-other), not ${WF}`);
    expect(refusal(cli({ runId: 'another-run' }))).toBe(`the signed decision is for another run (another-run) of ${WF}`);
  });

  it('a decision for another plan, or naming none when a plan waits', () => {
    expect(refusal(cli({ planDigest: 'b'.repeat(64) }))).toBe(`the signed decision is for another plan (bbbbbbbbbbbb); the plan waiting is aaaaaaaaaaaa`);
    expect(refusal(cli({ planDigest: undefined }))).toBe('the signed decision does not name the plan it decides (the plan waiting is aaaaaaaaaaaa)');
  });

  it('an undo used as a decision, and a decision used as an undo', () => {
    expect(refusal({ decision: 'approve', ...signedUndo({ workflowId: WF }) })).toBe('the signed decision is an undo, not an approval decision');
    expect(refusal(cli(), ctx({ kind: 'undo' }))).toBe('the signed decision is an approval decision, not an undo');
  });

  it('claims that disagree with the request around them', () => {
    const req = cli({ reason: 'CHG-1' });
    expect(refusal({ ...req, decision: 'reject' })).toBe('the request says reject but its signed decision says approve');
    expect(refusal({ ...req, reason: 'something else' })).toBe('the request gives another reason than its signed decision');
    expect(refusal({ ...req, by: { ...req.by, name: 'root' } })).toBe('the request names another decider than its signed decision');
    expect(refusal({ ...req, by: { ...req.by, bulk: 'cli-query:x' } })).toBe('the request names another decider than its signed decision');
    expect(refusal({ ...req, planDigest: 'c'.repeat(64) })).toBe('the request names another plan than its signed decision');
    const s = slack();
    expect(refusal({ ...s, by: { id: APPROVER, name: 'alice', via: 'cli' } })).toBe('the request names another decider than its signed decision');
  });

  it('issued before notBefore (an earlier decision used again), or with a notBefore that is not a date', () => {
    const req = cli({ issuedAt: '2026-07-01T09:00:00.000Z' });
    expect(refusal(req, ctx({ notBefore: '2026-07-01T09:55:00.000Z' }))).toBe(
      'the signed decision was made at 2026-07-01T09:00:00.000Z, before this request (2026-07-01T09:55:00.000Z): an earlier decision cannot be used again',
    );
    expect(refusal(req, ctx({ notBefore: 'yesterday' }))).toContain('notBefore is not an ISO 8601 date-time');
  });

  it('tampered claims, a tampered signature, a swapped key id', () => {
    const req = cli();
    const tampered = { ...req, decision: 'reject' as const, signed: { ...req.signed, claims: { ...req.signed.claims, decision: 'reject' as const } } };
    expect(refusal(tampered)).toMatch(/^the signature does not match the decision \(changed after signing, or not signed by key [0-9a-f]{16}\)$/);
    const sig = fromBase64(req.signed.signature)!;
    sig[0] = sig[0]! ^ 1;
    expect(refusal({ ...req, signed: { ...req.signed, signature: toBase64(sig) } })).toMatch(/^the signature does not match/);
    const otherKey = { ...req, signed: { ...req.signed, keyId: otherOperatorKey.keyId } };
    expect(refusal(otherKey, ctx({ operatorKeys: [testOperatorTrusted, { ...otherOperatorTrusted, name: TEST_OPERATOR }] }))).toMatch(/^the signature does not match/);
  });

  it('malformed envelopes, each with a reason and no key material', () => {
    const req = cli();
    expect(refusal({ ...req, signed: 'yes' as never })).toBe('the signed decision is not an object');
    expect(refusal({ ...req, signed: { ...req.signed, keyId: 'KEY' } })).toContain('no valid keyId');
    expect(refusal({ ...req, signed: { ...req.signed, signature: 'c2lnbmF0dXJl' } })).toContain('no valid signature');
    expect(refusal({ ...req, signed: { ...req.signed, claims: { ...req.signed.claims, extra: 1 } as never } })).toContain('unknown claim "extra"');
    expect(refusal({ ...req, signed: { ...req.signed, claims: { ...req.signed.claims, issuedAt: 'now' } } })).toContain('issuedAt must be an ISO 8601 date-time');
    expect(refusal({ ...req, signed: { ...req.signed, claims: { ...req.signed.claims, by: { ...req.signed.claims.by, via: 'timeout' as never } } } })).toContain('by.via must be slack or cli');
    for (const reason of [refusal(cli({ key: otherOperatorKey })), refusal(slack({ key: testOperatorKey }))]) {
      expect(reason).not.toContain(testOperatorKey.publicKey);
      expect(reason).not.toContain(otherOperatorKey.publicKey);
    }
  });

  it('a trusted key whose key id does not match its public key', () => {
    expect(refusal(cli(), ctx({ operatorKeys: [{ ...testOperatorTrusted, publicKey: otherOperatorTrusted.publicKey }] }))).toBe(
      `trusted key ${testOperatorKey.keyId} (${TEST_OPERATOR}) does not match its public key`,
    );
  });
});

describe('signatures auditors can check with other tools', () => {
  it('is Ed25519 over the UTF-8 of canonicalJson(claims), with the raw public key and its sha256 key id', () => {
    const req = cli({ reason: 'ünïcødé ✓ 𝄞' });
    const raw = Buffer.from(testOperatorKey.publicKey, 'base64');
    expect(raw).toHaveLength(32);
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    expect(verify(null, Buffer.from(canonicalJson(req.signed.claims), 'utf8'), pub, Buffer.from(req.signed.signature, 'base64'))).toBe(true);
    expect(testOperatorKey.keyId).toBe(decisionKeyId(raw));
    expect(verifySignedDecision(req.signed, [testRelayTrusted, testOperatorTrusted])).toMatchObject({ ok: true, key: { name: TEST_OPERATOR } });
    expect(verifySignedDecision(req.signed, [testRelayTrusted])).toEqual({ ok: false, reason: `signed by key ${testOperatorKey.keyId}, which is not one of the trusted keys` });
  });

  it('base64 without Buffer: the same as Buffer, and strict', () => {
    for (let n = 0; n < 70; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      const b64 = Buffer.from(bytes).toString('base64');
      expect(toBase64(bytes)).toBe(b64);
      expect(fromBase64(b64)).toEqual(bytes);
    }
    expect(fromBase64('QQ')).toBeUndefined();
    expect(fromBase64('QR==')).toBeUndefined(); // bits set in the padding
    expect(fromBase64('Q===')).toBeUndefined();
    expect(fromBase64('QQ==\n')).toBeUndefined();
  });

  it('claims leave out what is absent and keep the order-independent canonical form', () => {
    const claims = decisionClaims({ kind: 'undo', workflowId: WF, decision: 'approve', planDigest: PLAN, by: { id: 'a', name: 'a', via: 'cli' }, issuedAt: '2026-01-01T00:00:00Z' });
    expect(claims).toEqual({ v: 1, kind: 'undo', workflowId: WF, by: { id: 'a', name: 'a', via: 'cli' }, issuedAt: '2026-01-01T00:00:00Z' });
  });
});

describe('loadDecisionKey', () => {
  it('reads a PEM or a file, and never echoes the key in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dk-'));
    const pem = generateDecisionKeyPem();
    const file = join(dir, 'k.pem');
    await writeFile(file, pem);
    expect(loadDecisionKey(file).keyId).toBe(loadDecisionKey(pem).keyId);
    expect(() => loadDecisionKey(join(dir, 'missing.pem'), 'RECTIFY_OPERATOR_KEY_FILE')).toThrow(`RECTIFY_OPERATOR_KEY_FILE: cannot read ${join(dir, 'missing.pem')} (no such file)`);
    const broken = pem.replace(/[A-Za-z]{8}/, 'AAAAAAAA').slice(0, -40);
    let message = '';
    try {
      loadDecisionKey(broken, 'DECISION_SIGNING_KEY_FILE');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('DECISION_SIGNING_KEY_FILE is not a PEM private key (PKCS#8, -----BEGIN PRIVATE KEY-----)');
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => loadDecisionKey(rsa)).toThrow('must be an Ed25519 key, got rsa');
  });
});

describe('src/decisions/signed.ts in workflow code', () => {
  it('imports nothing from node: (nor does anything it imports from this repository)', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/^\s*import\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
        const [, typeOnly, spec] = m;
        if (typeOnly) continue;
        expect(spec, `${file} imports ${spec}`).not.toMatch(/^node:|^(fs|path|crypto|os|url|child_process|http|https|net)$/);
        if (spec!.startsWith('.')) visit(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
      }
    };
    visit(join(REPO_ROOT, 'src/decisions/signed.ts'));
    expect([...seen].map((f) => relative(REPO_ROOT, f)).sort()).toEqual(['src/decisions/signed.ts', 'src/evidence/canonical.ts']);
  });

  it('bundles with the Temporal workflow bundler, which refuses Node built-ins', async () => {
    await mkdir(join(REPO_ROOT, 'test-results'), { recursive: true });
    const dir = await mkdtemp(join(REPO_ROOT, 'test-results', 'signed-bundle-'));
    const entry = join(dir, 'workflows.ts');
    await writeFile(
      entry,
      `import { checkDecision } from '${join(REPO_ROOT, 'src/decisions/signed.js')}';\nexport async function probe(req: unknown, ctx: unknown): Promise<boolean> {\n  return checkDecision(req as never, ctx as never).ok;\n}\n`,
    );
    try {
      const bundle = await bundleWorkflowCode({ workflowsPath: entry, logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never });
      expect(bundle.code).toContain('decisions must be signed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
