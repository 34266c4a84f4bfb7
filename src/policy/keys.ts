/**
 * Decision keys in the policy (Node side): the public keys of the operators who may decide from
 * the CLI (`approvers.keys`) and of the trigger servers whose Slack decisions are trusted
 * (`decisionRelays`), read in any of the forms people have at hand, and added to a policy file's
 * text (the local stack's effective policy).
 */
import { createPublicKey } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import { decisionKeyId, fromBase64, type TrustedKey } from '../decisions/signed.js';
import { rawPublicKey } from '../decisions/sign.js';

const FORMS = 'a PEM block (-----BEGIN PUBLIC KEY-----), the base64 of its DER, or the base64 of the raw 32 bytes';

/**
 * The raw 32 bytes of an Ed25519 public key written as a PEM SPKI block, base64 SPKI DER, or base64
 * of the raw key; or what is wrong with it. Never echoes the value (a private key pasted by mistake
 * must not end up in an error).
 */
export function parseDecisionPublicKey(value: unknown): { readonly raw: Buffer } | { readonly problem: string } {
  if (typeof value !== 'string' || value.trim() === '') return { problem: `must be an Ed25519 public key: ${FORMS}` };
  if (/PRIVATE KEY/.test(value)) return { problem: 'is a private key: list only the public key (npm run cli -- keys show prints it), and keep the private key out of the policy' };
  let raw: Buffer;
  if (value.includes('-----BEGIN')) {
    if (!/-----BEGIN PUBLIC KEY-----/.test(value)) return { problem: `must be a PEM public key block (-----BEGIN PUBLIC KEY-----), ${FORMS.split(', ').slice(1).join(', ')}` };
    try {
      const pub = createPublicKey({ key: value, format: 'pem' });
      if (pub.asymmetricKeyType !== 'ed25519') return { problem: `must be an Ed25519 public key, got ${pub.asymmetricKeyType ?? 'another type'}` };
      raw = rawPublicKey(pub);
    } catch {
      return { problem: 'is not a readable PEM public key' };
    }
  } else {
    const bytes = fromBase64(value.replace(/\s+/g, ''));
    if (!bytes) return { problem: `must be base64 (${FORMS})` };
    if (bytes.length === 32) raw = Buffer.from(bytes);
    else {
      try {
        const pub = createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'spki' });
        if (pub.asymmetricKeyType !== 'ed25519') return { problem: `must be an Ed25519 public key, got ${pub.asymmetricKeyType ?? 'another type'}` };
        raw = rawPublicKey(pub);
      } catch {
        return { problem: `has the wrong length: an Ed25519 public key is 32 bytes raw or 44 bytes SPKI DER, got ${bytes.length} bytes` };
      }
    }
  }
  try {
    ed.Point.fromBytes(raw, false);
  } catch {
    return { problem: 'is not a valid Ed25519 public key (not a point of the curve)' };
  }
  return { raw };
}

/** The key as the policy carries it after loading. */
export function trustedKey(raw: Uint8Array, name: string, slack?: string): TrustedKey {
  return { keyId: decisionKeyId(raw), publicKey: Buffer.from(raw).toString('base64'), name, ...(slack ? { slack } : {}) };
}

export interface KeyEntry {
  readonly name: string;
  /** Any form `parseDecisionPublicKey` reads. */
  readonly publicKey: string;
}

/** The raw key of a policy entry, when it has a readable one. */
function entryKeyId(node: unknown): string | undefined {
  const publicKey = isMap(node) ? node.get('publicKey') : undefined;
  const parsed = parseDecisionPublicKey(publicKey);
  return 'raw' in parsed ? decisionKeyId(parsed.raw) : undefined;
}

/** Appends `entries` to the list at `path` (created when missing), except keys already in it. */
function appendKeys(doc: Document, path: readonly (string | number)[], entries: readonly KeyEntry[]): void {
  let list = doc.getIn(path);
  if (!isSeq(list)) {
    doc.setIn(path, doc.createNode([]));
    list = doc.getIn(path);
  }
  if (!isSeq(list)) return;
  // One entry a line, whatever the list looked like (`keys: []`).
  list.flow = false;
  const present = new Set(list.items.map(entryKeyId).filter((k): k is string => k !== undefined));
  for (const e of entries) {
    const parsed = parseDecisionPublicKey(e.publicKey);
    if ('problem' in parsed || present.has(decisionKeyId(parsed.raw))) continue;
    const node = doc.createNode({ name: e.name, publicKey: e.publicKey });
    node.flow = true;
    list.add(node);
    present.add(decisionKeyId(parsed.raw));
  }
}

/**
 * `policyText` with `operators` added to every `approvers.keys` that applies (the defaults', and
 * each control or account group section that lists keys of its own, since a list replaces the
 * defaults' whole) and `relays` added to `decisionRelays`. Comments and the rest of the file are
 * kept; `header` (comment lines) goes first. Throws on a file that is not YAML.
 */
export function withDecisionKeys(policyText: string, add: { readonly operators?: readonly KeyEntry[]; readonly relays?: readonly KeyEntry[] }, header?: string): string {
  const doc = parseDocument(policyText);
  if (doc.errors.length) throw new Error(`the policy is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (add.relays?.length) appendKeys(doc, ['decisionRelays'], add.relays);
  if (add.operators?.length) {
    appendKeys(doc, ['defaults', 'approvers', 'keys'], add.operators);
    const ownKeys = (section: unknown, path: (string | number)[]) => {
      if (isMap(section) && isSeq(section.getIn(['approvers', 'keys']))) appendKeys(doc, [...path, 'approvers', 'keys'], add.operators!);
    };
    const controls = doc.get('controls');
    if (isMap(controls)) for (const pair of controls.items) ownKeys(pair.value, ['controls', String((pair.key as { value?: unknown })?.value ?? pair.key)]);
    const groups = doc.get('accounts');
    if (isSeq(groups)) {
      groups.items.forEach((g, i) => {
        ownKeys(g, ['accounts', i]);
        const own = isMap(g) ? g.get('controls') : undefined;
        if (isMap(own)) for (const pair of own.items) ownKeys(pair.value, ['accounts', i, 'controls', String((pair.key as { value?: unknown })?.value ?? pair.key)]);
      });
    }
  }
  // lineWidth 0: a key entry stays on one line, however long.
  return `${header ? `${header.trimEnd()}\n` : ''}${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}
