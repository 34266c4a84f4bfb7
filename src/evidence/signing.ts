import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.js';

/** The signature published with every evidence record. */
export interface EvidenceSignature {
  readonly alg: 'Ed25519';
  /** First 16 hex digits of the sha256 of the public key (SPKI DER). */
  readonly keyId: string;
  /** The public key, SPKI DER, base64: anyone can verify without asking us. */
  readonly publicKey: string;
  /** Ed25519 signature of canonicalJson(record without `signature`), base64. */
  readonly value: string;
  readonly signedAt: string;
}

export type Signed<T> = T & { readonly signature: EvidenceSignature };

/** A loaded signing key. The private half never leaves this object. */
export interface EvidenceKey {
  readonly keyId: string;
  readonly publicKey: string;
  sign(data: Buffer): Buffer;
}

function keyIdOf(spkiDer: Buffer): string {
  return createHash('sha256').update(spkiDer).digest('hex').slice(0, 16);
}

/** Loads an Ed25519 private key (PKCS#8 PEM). Throws without echoing the key. */
export function loadEvidenceKey(pem: string): EvidenceKey {
  let priv: KeyObject;
  try {
    priv = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('the evidence signing key is not a PEM private key');
  }
  if (priv.asymmetricKeyType !== 'ed25519') throw new Error(`the evidence signing key must be Ed25519, got ${priv.asymmetricKeyType ?? 'unknown'}`);
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return { keyId: keyIdOf(spki), publicKey: spki.toString('base64'), sign: (data) => sign(null, data, priv) };
}

/** A new Ed25519 private key as PKCS#8 PEM. */
export function generateEvidenceKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Signs `record` (its `signature` member, if any, excluded) over its canonical JSON. */
export function signRecord(record: object, key: EvidenceKey, now = new Date()): EvidenceSignature {
  const { signature: _ignored, ...body } = record as { signature?: unknown };
  return { alg: 'Ed25519', keyId: key.keyId, publicKey: key.publicKey, value: key.sign(Buffer.from(canonicalJson(body), 'utf8')).toString('base64'), signedAt: now.toISOString() };
}

export type Verification = { readonly ok: true; readonly keyId: string } | { readonly ok: false; readonly reason: string };

/**
 * Checks a signed record: the signature matches its canonical JSON under the published key, and
 * (when `trustedKeyIds` is given) that key is one we trust. A published key proves nothing by
 * itself: pin the key ids that are yours.
 */
export function verifyRecord(signed: unknown, opts: { trustedKeyIds?: readonly string[] } = {}): Verification {
  if (!signed || typeof signed !== 'object') return { ok: false, reason: 'not a record' };
  const { signature, ...body } = signed as { signature?: Partial<EvidenceSignature> };
  if (!signature || typeof signature !== 'object') return { ok: false, reason: 'no signature' };
  if (signature.alg !== 'Ed25519' || typeof signature.publicKey !== 'string' || typeof signature.value !== 'string' || typeof signature.keyId !== 'string') {
    return { ok: false, reason: 'malformed signature' };
  }
  let pub: KeyObject;
  try {
    pub = createPublicKey({ key: Buffer.from(signature.publicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, reason: 'unreadable public key' };
  }
  const spki = pub.export({ format: 'der', type: 'spki' });
  if (keyIdOf(spki) !== signature.keyId) return { ok: false, reason: 'key id does not match the public key' };
  if (opts.trustedKeyIds && !opts.trustedKeyIds.includes(signature.keyId)) return { ok: false, reason: `signed by untrusted key ${signature.keyId}` };
  let data: Buffer;
  try {
    data = Buffer.from(canonicalJson(body), 'utf8');
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const good = verify(null, data, pub, Buffer.from(signature.value, 'base64'));
  return good ? { ok: true, keyId: signature.keyId } : { ok: false, reason: 'signature does not match the record (edited, or signed by another key)' };
}
