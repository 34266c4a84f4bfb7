/**
 * Signing decisions (Node side): the trigger server signs the Slack decisions it relays with its
 * decision relay key (DECISION_SIGNING_KEY_FILE), the CLI signs an operator's decisions with the
 * operator's key (RECTIFY_OPERATOR_KEY_FILE). Both are Ed25519 private keys in PKCS#8 PEM
 * (`npm run cli -- keys new --out FILE`, or `openssl genpkey -algorithm ed25519 -out FILE`).
 *
 * The private key stays inside the returned object: it is never logged, put in an error, a
 * workflow input or a history. What leaves is the key id (first 16 hex digits of the sha256 of
 * the raw 32-byte public key) and the public key (raw, base64) the policy lists.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decisionKeyId, decisionSigningBytes, type DecisionClaims, type SignedDecision } from './signed.js';

/** A loaded decision signing key. The private half never leaves this object. */
export interface DecisionKey {
  /** First 16 hex digits of the sha256 of the raw public key. */
  readonly keyId: string;
  /** The raw 32-byte Ed25519 public key, base64: what the policy lists. */
  readonly publicKey: string;
  /** Signs `claims` (over their canonical JSON). */
  sign(claims: DecisionClaims): SignedDecision;
}

/** The raw 32 bytes of an Ed25519 public key. */
export function rawPublicKey(pub: KeyObject): Buffer {
  const x = pub.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new Error('not an Ed25519 public key');
  return Buffer.from(x, 'base64url');
}

/**
 * Loads an Ed25519 private key (PKCS#8 PEM), given as the PEM text itself or the path of a file
 * holding it. `what` names the key in errors (e.g. "RECTIFY_OPERATOR_KEY_FILE"); errors name the
 * file, never its content.
 */
export function loadDecisionKey(pemOrFile: string, what = 'the decision signing key'): DecisionKey {
  const inline = pemOrFile.includes('-----BEGIN');
  let pem = pemOrFile;
  if (!inline) {
    try {
      pem = readFileSync(pemOrFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`${what}: cannot read ${pemOrFile}${code === 'ENOENT' ? ' (no such file)' : code ? ` (${code})` : ''}`);
    }
  }
  const where = inline ? '' : ` (${pemOrFile})`;
  let priv: KeyObject;
  try {
    priv = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error(`${what}${where} is not a PEM private key (PKCS#8, -----BEGIN PRIVATE KEY-----)`);
  }
  if (priv.asymmetricKeyType !== 'ed25519') throw new Error(`${what}${where} must be an Ed25519 key, got ${priv.asymmetricKeyType ?? 'an unknown type'}`);
  const raw = rawPublicKey(createPublicKey(priv));
  const keyId = decisionKeyId(raw);
  return {
    keyId,
    publicKey: raw.toString('base64'),
    sign: (claims) => ({ claims, keyId, signature: sign(null, decisionSigningBytes(claims), priv).toString('base64') }),
  };
}

/** A new Ed25519 private key as PKCS#8 PEM. */
export function generateDecisionKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A YAML scalar that stays the same string (quoted when YAML would read it as something else). */
const yamlString = (s: string) => (/^[A-Za-z0-9][A-Za-z0-9._@-]*$/.test(s) && !/^(true|false|yes|no|on|off|null|~|\d[\d.]*)$/i.test(s) ? s : JSON.stringify(s));

/** The policy entry for `key`: `{ name: alice, publicKey: <base64> }` (a list item of approvers.keys or decisionRelays). */
export function publicKeyLine(key: { readonly publicKey: string }, name = 'your-name', slack?: string): string {
  return `{ name: ${yamlString(name)}, publicKey: ${key.publicKey}${slack ? `, slack: ${slack}` : ''} }`;
}
