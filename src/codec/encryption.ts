import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import proto from '@temporalio/proto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';

/**
 * Payloads encrypted at rest in Temporal: workflow inputs and results, activity and local activity
 * results, signals, updates, queries, memos and summaries carry resource state, tags and who
 * approved what, and Temporal keeps them for the namespace's retention. With keys configured, every
 * Client and the Worker run them through this codec, so the Temporal service (and anyone reading
 * its database or the Web UI without the codec server) sees only ciphertext.
 *
 * AES-256-GCM (node:crypto). An encrypted payload keeps nothing of the original in the clear: the
 * whole payload (its metadata and data) is serialized and encrypted, and the new payload says only
 * `encoding: binary/encrypted`, the key id and the cipher. The key id and cipher are bound to the
 * ciphertext as additional authenticated data, so neither can be swapped without failing
 * authentication.
 *
 * Rotation by key id: new payloads are encrypted with the active key; a payload is decrypted with
 * whichever configured key its metadata names, so an old key stays configured (decrypt only) for
 * as long as histories it encrypted are kept. Search attributes are not payloads of this kind:
 * visibility must read them, and they stay in the clear.
 *
 * Keys are secrets: they live in private fields of the codec, which logs and serializes as its key
 * ids only; no error made here quotes a key.
 */

/** The `encoding` of a payload this codec encrypted. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata naming the key a payload was encrypted with. */
export const METADATA_KEY_ID = 'encryption-key-id';
/** Metadata naming the cipher, so that another one can be introduced later without guessing. */
export const METADATA_CIPHER = 'encryption-cipher';
export const CIPHER = 'AES-256-GCM';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * Letters, digits, `.`, `_`, `-`, at most 40: a padded base64 key (it ends with `=`) or an unpadded
 * one (43 characters) can never pass for an id, so a key written where its id belongs is never echoed.
 */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The environment variables read here, with their meaning, for ENV_VARS. */
export const PAYLOAD_ENCRYPTION_ENV_VARS = Object.freeze({
  PAYLOAD_ENCRYPTION_KEYS: 'keys that encrypt workflow payloads in Temporal (AES-256-GCM): comma-separated id:base64-key, each key 32 random bytes (openssl rand -base64 32); unset: payloads are not encrypted; never logged',
  PAYLOAD_ENCRYPTION_KEYS_FILE: 'file with the same keys, one id:base64-key a line (# starts a comment), instead of PAYLOAD_ENCRYPTION_KEYS',
  PAYLOAD_ENCRYPTION_KEY_ID: 'id of the key that encrypts new payloads (default: the only key); the other keys only decrypt what they encrypted',
});

/** A payload could not be decrypted; the message names the key id, never a key. */
export class PayloadDecryptionError extends Error {
  constructor(
    message: string,
    /** The key id the payload names, when it names one. */
    readonly keyId: string | undefined,
  ) {
    super(message);
    this.name = 'PayloadDecryptionError';
  }
}

const utf8 = (b: Uint8Array | null | undefined): string | undefined => (b == null ? undefined : Buffer.from(b).toString('utf8'));
/** A value from a payload's metadata (anyone may send one to the codec server): quoted, and cut short. */
const quoted = (s: string) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
const aad = (keyId: string) => Buffer.from(`${CIPHER}:${keyId}`, 'utf8');

export class EncryptionCodec implements PayloadCodec {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly #active: KeyObject;
  readonly activeKeyId: string;
  readonly keyIds: readonly string[];

  /** `keys`: key id -> 32 bytes; `activeKeyId` encrypts, every key decrypts. Throws (naming ids only) on a bad set. */
  constructor(keys: ReadonlyMap<string, Uint8Array>, activeKeyId: string) {
    const objects = new Map<string, KeyObject>();
    for (const [id, bytes] of keys) {
      if (!KEY_ID_PATTERN.test(id)) throw new Error('a payload encryption key id must be 1-40 letters, digits, ".", "_" or "-"');
      if (bytes.length !== KEY_BYTES) throw new Error(`payload encryption key ${quoted(id)} is ${bytes.length} bytes; AES-256 needs ${KEY_BYTES}`);
      objects.set(id, createSecretKey(Buffer.from(bytes)));
    }
    const active = objects.get(activeKeyId);
    if (!active) throw new Error(`the active payload encryption key id ${quoted(activeKeyId)} is not among the keys (${[...objects.keys()].join(', ') || 'none'})`);
    this.#keys = objects;
    this.#active = active;
    this.activeKeyId = activeKeyId;
    this.keyIds = Object.freeze([...objects.keys()]);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = proto.temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.#active, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(this.activeKeyId));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [METADATA_KEY_ID]: Buffer.from(this.activeKeyId),
          [METADATA_CIPHER]: Buffer.from(CIPHER),
        },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  /** Payloads this codec did not encrypt (no `binary/encrypted` encoding) come back unchanged. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (utf8(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING ? this.#decrypt(payload) : payload));
  }

  #decrypt(payload: Payload): Payload {
    const keyId = utf8(payload.metadata?.[METADATA_KEY_ID]);
    if (keyId === undefined) throw new PayloadDecryptionError(`an encrypted payload names no key id (metadata ${METADATA_KEY_ID}): it was not encrypted by this codec`, undefined);
    const cipherName = utf8(payload.metadata?.[METADATA_CIPHER]) ?? CIPHER;
    if (cipherName !== CIPHER) throw new PayloadDecryptionError(`a payload encrypted with key id ${quoted(keyId)} uses cipher ${quoted(cipherName)}; only ${CIPHER} is known here`, keyId);
    const key = this.#keys.get(keyId);
    if (!key) {
      throw new PayloadDecryptionError(`cannot decrypt a payload encrypted with key id ${quoted(keyId)}: no key of that id is configured (configured: ${this.keyIds.join(', ')})`, keyId);
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`a payload encrypted with key id ${quoted(keyId)} is truncated (${data.length} bytes)`, keyId);
    const bytes = Buffer.from(data);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(keyId));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
    } catch {
      // Never the crypto library's words: they add nothing, and say nothing about the key either.
      throw new PayloadDecryptionError(`a payload encrypted with key id ${quoted(keyId)} failed authentication: it was altered, or encrypted with another key of that id`, keyId);
    }
    try {
      return proto.temporal.api.common.v1.Payload.decode(plain);
    } catch {
      throw new PayloadDecryptionError(`a payload encrypted with key id ${quoted(keyId)} decrypted to something that is not a payload`, keyId);
    }
  }

  /** Key ids only, in logs and config dumps. */
  toJSON(): { cipher: string; activeKeyId: string; keyIds: readonly string[] } {
    return { cipher: CIPHER, activeKeyId: this.activeKeyId, keyIds: this.keyIds };
  }

  [inspect.custom](): string {
    return `EncryptionCodec(${CIPHER}, active key ${this.activeKeyId}, keys ${this.keyIds.join(', ')})`;
  }
}

/** Payload encryption as configured: the codec, and what may be said about it. */
export interface PayloadEncryption {
  readonly activeKeyId: string;
  readonly keyIds: readonly string[];
  /** Where the keys came from, for logs: `PAYLOAD_ENCRYPTION_KEYS` or the file's path. */
  readonly source: string;
  /** Holds the keys (in private fields): hand it to Clients and Workers, never to a log. */
  readonly codec: EncryptionCodec;
}

/** For logs: `AES-256-GCM, key k2 (keys k1, k2 from /run/secrets/payload-keys)`; `off` when there is none. No key. */
export function describePayloadEncryption(e: PayloadEncryption | undefined): string {
  return e ? `${CIPHER}, key ${e.activeKeyId} (keys ${e.keyIds.join(', ')} from ${e.source})` : 'off';
}

/**
 * What a Client's or a Worker's options take to encrypt payloads: `{ dataConverter: { payloadCodecs: [codec] } }`
 * when payload encryption is configured, `{}` when it is not.
 */
export function withPayloadCodec(e: PayloadEncryption | undefined): { dataConverter?: DataConverter } {
  return e ? { dataConverter: { payloadCodecs: [e.codec] } } : {};
}

/**
 * Parses a key list: `id:base64-key` entries separated by commas or line breaks; blank lines and
 * `#` comments are skipped. Problems name the entry's place or its id, never its key.
 */
export function parsePayloadKeys(text: string, label: string): { keys: Map<string, Buffer>; named: Set<string>; problems: string[] } {
  const keys = new Map<string, Buffer>();
  /** Every id given, with a usable key or not. */
  const named = new Set<string>();
  const problems: string[] = [];
  const entries = text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(','))
    .map((e) => e.trim())
    .filter((e) => e !== '');
  entries.forEach((entry, i) => {
    const at = entry.indexOf(':');
    if (at < 0) {
      problems.push(`${label}: entry ${i + 1} is not id:base64-key`);
      return;
    }
    const id = entry.slice(0, at).trim();
    const encoded = entry.slice(at + 1).trim();
    if (!KEY_ID_PATTERN.test(id)) {
      problems.push(`${label}: entry ${i + 1}: the key id must be 1-40 letters, digits, ".", "_" or "-"`);
      return;
    }
    if (named.has(id)) {
      problems.push(`${label}: key id "${id}" appears more than once`);
      return;
    }
    named.add(id);
    if (!BASE64_PATTERN.test(encoded)) {
      problems.push(`${label}: the key of "${id}" is not base64`);
      return;
    }
    const bytes = Buffer.from(encoded, 'base64');
    if (bytes.length !== KEY_BYTES) {
      problems.push(`${label}: the key of "${id}" is ${bytes.length} bytes; AES-256 needs ${KEY_BYTES} random bytes (make one with: openssl rand -base64 32)`);
      return;
    }
    keys.set(id, bytes);
  });
  if (entries.length === 0) problems.push(`${label} holds no key (expected id:base64-key)`);
  return { keys, named, problems };
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Payload encryption from the environment (PAYLOAD_ENCRYPTION_KEYS or _FILE, PAYLOAD_ENCRYPTION_KEY_ID);
 * undefined when no key is set. Returns every problem instead of throwing, for loadConfig to list.
 */
export function resolvePayloadEncryption(env: Env): { encryption: PayloadEncryption | undefined; problems: string[] } {
  const problems: string[] = [];
  const inline = env['PAYLOAD_ENCRYPTION_KEYS']?.trim() || undefined;
  const file = env['PAYLOAD_ENCRYPTION_KEYS_FILE']?.trim() || undefined;
  const wanted = env['PAYLOAD_ENCRYPTION_KEY_ID']?.trim() || undefined;
  if (inline !== undefined && file !== undefined) problems.push('set PAYLOAD_ENCRYPTION_KEYS or PAYLOAD_ENCRYPTION_KEYS_FILE, not both');
  let text: string | undefined;
  let source = 'PAYLOAD_ENCRYPTION_KEYS';
  let label = 'PAYLOAD_ENCRYPTION_KEYS';
  if (file !== undefined) {
    source = file;
    label = `PAYLOAD_ENCRYPTION_KEYS_FILE (${file})`;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(`PAYLOAD_ENCRYPTION_KEYS_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  } else text = inline;
  if (text === undefined) {
    if (wanted !== undefined && file === undefined) problems.push('PAYLOAD_ENCRYPTION_KEY_ID is set but no key is (PAYLOAD_ENCRYPTION_KEYS or PAYLOAD_ENCRYPTION_KEYS_FILE)');
    return { encryption: undefined, problems };
  }
  const parsed = parsePayloadKeys(text, label);
  problems.push(...parsed.problems);
  const ids = [...parsed.keys.keys()];
  let activeKeyId = wanted;
  if (activeKeyId === undefined) {
    if (ids.length === 1) activeKeyId = ids[0];
    else if (ids.length > 1) problems.push(`PAYLOAD_ENCRYPTION_KEY_ID must name the key that encrypts new payloads (one of ${ids.join(', ')})`);
  } else if (!parsed.named.has(activeKeyId)) {
    problems.push(`PAYLOAD_ENCRYPTION_KEY_ID "${KEY_ID_PATTERN.test(activeKeyId) ? activeKeyId : '(not a key id)'}" is not among the keys of ${label} (${[...parsed.named].join(', ') || 'none'})`);
  }
  if (problems.length > 0 || activeKeyId === undefined || !parsed.keys.has(activeKeyId)) return { encryption: undefined, problems };
  const codec = new EncryptionCodec(parsed.keys, activeKeyId);
  parsed.keys.forEach((k) => k.fill(0));
  return { encryption: { activeKeyId, keyIds: codec.keyIds, source, codec }, problems };
}
