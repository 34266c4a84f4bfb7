import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson } from '../../../src/evidence/canonical.js';
import { generateEvidenceKeyPem, loadEvidenceKey, signRecord, verifyRecord } from '../../../src/evidence/signing.js';

const key = loadEvidenceKey(generateEvidenceKeyPem());
const other = loadEvidenceKey(generateEvidenceKeyPem());
const record = { findingId: 'f-1', outcome: 'remediated', before: { a: 1, b: [true, null] }, timestamps: { detected: '2026-11-23T10:00:00.000Z' } };

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"x":"é","z":1}]},"b":1}');
  });
  it('refuses what JSON cannot carry faithfully', () => {
    expect(() => canonicalJson({ n: NaN })).toThrow(/non-finite/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
  });
  it('property: key order never changes the bytes, and parsing gives the value back', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const reordered = JSON.parse(JSON.stringify(v), (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x));
        expect(canonicalJson(reordered)).toBe(canonicalJson(v));
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });
});

describe('evidence signatures (Ed25519)', () => {
  it('a signed record verifies, with the key id it was signed by', () => {
    const signed = { ...record, signature: signRecord(record, key) };
    expect(verifyRecord(signed)).toEqual({ ok: true, keyId: key.keyId });
    expect(verifyRecord(signed, { trustedKeyIds: [key.keyId] })).toEqual({ ok: true, keyId: key.keyId });
    // Key order of the stored record does not matter.
    const reordered = JSON.parse(JSON.stringify({ signature: signed.signature, timestamps: record.timestamps, outcome: 'remediated', findingId: 'f-1', before: record.before }));
    expect(verifyRecord(reordered).ok).toBe(true);
  });

  it('a tampered record fails', () => {
    const signed = { ...record, signature: signRecord(record, key) };
    expect(verifyRecord({ ...signed, outcome: 'rejected' })).toEqual({ ok: false, reason: 'signature does not match the record (edited, or signed by another key)' });
    expect(verifyRecord({ ...signed, extra: 1 }).ok).toBe(false);
    const { before: _b, ...withoutBefore } = signed;
    expect(verifyRecord(withoutBefore).ok).toBe(false);
  });

  it('a signature swapped for another key, or an untrusted key, fails', () => {
    const byOther = { ...record, signature: signRecord(record, other) };
    expect(verifyRecord(byOther, { trustedKeyIds: [key.keyId] })).toEqual({ ok: false, reason: `signed by untrusted key ${other.keyId}` });
    const mixed = { ...record, signature: { ...signRecord(record, other), publicKey: key.publicKey, keyId: key.keyId } };
    expect(verifyRecord(mixed).ok).toBe(false);
    const lyingId = { ...record, signature: { ...signRecord(record, key), keyId: other.keyId } };
    expect(verifyRecord(lyingId)).toEqual({ ok: false, reason: 'key id does not match the public key' });
  });

  it('no signature or a malformed one fails with a reason', () => {
    expect(verifyRecord(record)).toEqual({ ok: false, reason: 'no signature' });
    expect(verifyRecord({ ...record, signature: { alg: 'RS256' } })).toEqual({ ok: false, reason: 'malformed signature' });
    expect(verifyRecord(null)).toEqual({ ok: false, reason: 'not a record' });
  });

  it('the private key is refused unless it is an Ed25519 PEM, and the error never echoes it', () => {
    expect(() => loadEvidenceKey('not a key')).toThrow('the evidence signing key is not a PEM private key');
    const pem = generateEvidenceKeyPem();
    expect(() => loadEvidenceKey(pem.replace('MC4', 'XX4'))).toThrow(/^(?!.*BEGIN)/);
  });
});
