import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { CIPHER, ENCRYPTED_ENCODING, EncryptionCodec, METADATA_KEY_ID, PayloadDecryptionError, resolvePayloadEncryption, withPayloadCodec } from '../../src/codec/encryption.js';
import { payloadsFromJson, payloadToJson } from '../../src/codec/http.js';
import { loadConfig } from '../../src/config.js';
import { InvalidInputError } from '../../src/errors.js';

const OLD = randomBytes(32);
const NEW = randomBytes(32);
const b64 = (b: Buffer) => b.toString('base64');
const codec = (active: string, keys: Record<string, Buffer> = { old: OLD, new: NEW }) => new EncryptionCodec(new Map(Object.entries(keys)), active);
const value = { bucket: 'acme-payroll-exports', tags: { owner: 'alice@example.com' }, approvedBy: 'U123 alice' };
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('latin1') + Object.values(p.metadata ?? {}).map((v) => Buffer.from(v).toString('latin1')).join('');
const meta = (p: Payload, k: string) => Buffer.from(p.metadata![k]!).toString('utf8');

/** Every problem loadConfig finds for `env`, or none. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (!(e instanceof InvalidInputError)) throw e;
    return [...e.problems];
  }
}

describe('payload encryption codec', () => {
  it('round-trips a payload, metadata included, and keeps nothing of it in the clear', async () => {
    const c = codec('new');
    const plain = defaultPayloadConverter.toPayload(value);
    const [encrypted] = await c.encode([plain]);
    expect(meta(encrypted!, 'encoding')).toBe(ENCRYPTED_ENCODING);
    expect(meta(encrypted!, METADATA_KEY_ID)).toBe('new');
    expect(meta(encrypted!, 'encryption-cipher')).toBe(CIPHER);
    expect(text(encrypted!)).not.toContain('acme-payroll-exports');
    expect(text(encrypted!)).not.toContain('json/plain');
    const [decoded] = await c.decode([encrypted!]);
    expect(meta(decoded!, 'encoding')).toBe('json/plain');
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(value);
    // A fresh IV each time: the same value never encrypts the same way twice.
    const [again] = await c.encode([plain]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(encrypted!.data!))).toBe(false);
    expect(await c.encode([])).toEqual([]);
  });

  it('refuses tampered ciphertext (GCM authentication), and a key id swapped in the metadata', async () => {
    const c = codec('new');
    const [encrypted] = await c.encode([defaultPayloadConverter.toPayload(value)]);
    const data = Buffer.from(encrypted!.data!);
    data[20] = data[20]! ^ 0x01;
    const tampered = { ...encrypted!, data };
    await expect(c.decode([tampered])).rejects.toThrow(/key id "new" failed authentication/);
    // The key id is authenticated data: naming another configured key fails too.
    const swapped = { ...encrypted!, metadata: { ...encrypted!.metadata, [METADATA_KEY_ID]: Buffer.from('old') } };
    await expect(c.decode([swapped])).rejects.toThrow(/key id "old" failed authentication/);
    const truncated = { ...encrypted!, data: data.subarray(0, 10) };
    await expect(c.decode([truncated])).rejects.toThrow(/truncated/);
  });

  it('fails on an unknown key id naming the id, never a key', async () => {
    const [encrypted] = await codec('old', { old: OLD }).encode([defaultPayloadConverter.toPayload(value)]);
    const err = await codec('new', { new: NEW })
      .decode([encrypted!])
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadDecryptionError);
    expect((err as PayloadDecryptionError).keyId).toBe('old');
    const message = (err as Error).message;
    expect(message).toMatch(/key id "old": no key of that id is configured \(configured: new\)/);
    for (const k of [OLD, NEW]) {
      expect(message).not.toContain(b64(k));
      expect(message).not.toContain(k.toString('hex'));
    }
  });

  it('rotates: a payload encrypted with the old key decodes after the active key changed', async () => {
    const before = codec('old', { old: OLD });
    const [oldPayload] = await before.encode([defaultPayloadConverter.toPayload(value)]);
    const after = codec('new');
    const [newPayload] = await after.encode([defaultPayloadConverter.toPayload('new')]);
    expect(meta(newPayload!, METADATA_KEY_ID)).toBe('new');
    const decoded = await after.decode([oldPayload!, newPayload!]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([value, 'new']);
    // The old key retired: its payloads no longer decode, and say which key they need.
    await expect(codec('new', { new: NEW }).decode([oldPayload!])).rejects.toThrow(/"old"/);
  });

  it('passes payloads it did not encrypt through unchanged on decode', async () => {
    const plain = [defaultPayloadConverter.toPayload(value), defaultPayloadConverter.toPayload(null), { data: Buffer.from('raw') }, { metadata: { encoding: Buffer.from('binary/plain') }, data: Buffer.from([1, 2]) }];
    const decoded = await codec('new').decode(plain);
    expect(decoded).toHaveLength(4);
    decoded.forEach((p, i) => expect(p).toBe(plain[i]));
  });

  it('never shows its keys when logged or serialized', () => {
    const c = codec('new');
    for (const shown of [JSON.stringify(c), inspect(c, { depth: 10, showHidden: true }), JSON.stringify({ c })]) {
      for (const k of [OLD, NEW]) {
        expect(shown).not.toContain(b64(k));
        expect(shown).not.toContain(k.toString('hex'));
      }
    }
    expect(JSON.stringify(c)).toContain('"activeKeyId":"new"');
  });

  it('speaks proto3 JSON for the codec server: base64 metadata values and data', async () => {
    const [encrypted] = await codec('new').encode([defaultPayloadConverter.toPayload(value)]);
    const json = payloadToJson(encrypted!);
    expect(Buffer.from(json.metadata!['encoding']!, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
    const [back] = payloadsFromJson(JSON.parse(JSON.stringify({ payloads: [json] })));
    expect(defaultPayloadConverter.fromPayload((await codec('new').decode([back!]))[0]!)).toEqual(value);
    expect(() => payloadsFromJson({ payloads: [{ data: 'not base64!' }, 7] })).toThrow(/not proto3 JSON/);
    expect(() => payloadsFromJson([])).toThrow(/expected \{"payloads"/);
  });
});

describe('payload encryption configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rectify-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const secrets = [b64(OLD), b64(NEW), OLD.toString('hex'), NEW.toString('hex')];
  const leaks = (messages: readonly string[]) => messages.filter((m) => secrets.some((s) => m.includes(s) || m.includes(s.slice(0, 12))));

  it('is off by default', () => {
    const c = loadConfig({});
    expect(c.payloadEncryption).toBeUndefined();
    expect(c.http.codecServer).toBeUndefined();
    expect(withPayloadCodec(c.payloadEncryption)).toEqual({});
  });

  it('reads keys inline or from a file, the active one by id, and shows key ids only', async () => {
    const c = loadConfig({ PAYLOAD_ENCRYPTION_KEYS: `old:${b64(OLD)}, new:${b64(NEW)}`, PAYLOAD_ENCRYPTION_KEY_ID: 'new' });
    expect(c.payloadEncryption).toMatchObject({ activeKeyId: 'new', keyIds: ['old', 'new'], source: 'PAYLOAD_ENCRYPTION_KEYS' });
    expect(withPayloadCodec(c.payloadEncryption).dataConverter?.payloadCodecs).toEqual([c.payloadEncryption!.codec]);
    for (const dump of [JSON.stringify(c), inspect(c, { depth: 20, showHidden: true })]) expect(leaks([dump])).toEqual([]);

    const file = join(dir, 'keys');
    writeFileSync(file, `# rotated 2026-01\nold:${b64(OLD)}\n\nnew:${b64(NEW)}   # active\n`);
    const f = loadConfig({ PAYLOAD_ENCRYPTION_KEYS_FILE: file, PAYLOAD_ENCRYPTION_KEY_ID: 'old' });
    expect(f.payloadEncryption).toMatchObject({ activeKeyId: 'old', keyIds: ['old', 'new'], source: file });
    // One key: it is the active one.
    expect(loadConfig({ PAYLOAD_ENCRYPTION_KEYS: `only:${b64(NEW)}` }).payloadEncryption?.activeKeyId).toBe('only');
    // Keys of both forms decode each other's payloads.
    const [p] = await f.payloadEncryption!.codec.encode([defaultPayloadConverter.toPayload(value)]);
    expect(defaultPayloadConverter.fromPayload((await c.payloadEncryption!.codec.decode([p!]))[0]!)).toEqual(value);
  });

  it('names every problem (bad base64, wrong length, active id not among the keys...) and never a key', () => {
    const short = randomBytes(16);
    const cases: [Record<string, string>, RegExp][] = [
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:!${b64(OLD).slice(1)}` }, /^PAYLOAD_ENCRYPTION_KEYS: the key of "k1" is not base64$/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(short)}` }, /^PAYLOAD_ENCRYPTION_KEYS: the key of "k1" is 16 bytes; AES-256 needs 32 random bytes/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(OLD)}`, PAYLOAD_ENCRYPTION_KEY_ID: 'k2' }, /^PAYLOAD_ENCRYPTION_KEY_ID "k2" is not among the keys of PAYLOAD_ENCRYPTION_KEYS \(k1\)$/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(OLD)},k2:${b64(NEW)}` }, /^PAYLOAD_ENCRYPTION_KEY_ID must name the key that encrypts new payloads \(one of k1, k2\)$/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(OLD)},k1:${b64(NEW)}` }, /key id "k1" appears more than once/],
      // A key without its id, or the two swapped: the entry is named by its place, not echoed.
      [{ PAYLOAD_ENCRYPTION_KEYS: b64(OLD) }, /^PAYLOAD_ENCRYPTION_KEYS: entry 1 is not id:base64-key$/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `${b64(OLD)}:k1` }, /^PAYLOAD_ENCRYPTION_KEYS: entry 1: the key id must be/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(OLD)}`, PAYLOAD_ENCRYPTION_KEY_ID: b64(NEW) }, /^PAYLOAD_ENCRYPTION_KEY_ID "\(not a key id\)" is not among/],
      [{ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(OLD)}`, PAYLOAD_ENCRYPTION_KEYS_FILE: join(dir, 'keys') }, /^set PAYLOAD_ENCRYPTION_KEYS or PAYLOAD_ENCRYPTION_KEYS_FILE, not both$/],
      [{ PAYLOAD_ENCRYPTION_KEYS_FILE: join(dir, 'missing') }, /^PAYLOAD_ENCRYPTION_KEYS_FILE: cannot read .*missing \(ENOENT\)$/],
      [{ PAYLOAD_ENCRYPTION_KEY_ID: 'k1' }, /^PAYLOAD_ENCRYPTION_KEY_ID is set but no key is/],
    ];
    for (const [env, expected] of cases) {
      const found = problems(env);
      expect(found, JSON.stringify(Object.keys(env))).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
      expect(leaks(found)).toEqual([]);
      // The whole error as the worker would print it.
      try {
        loadConfig(env);
      } catch (e) {
        expect(leaks([(e as Error).message, String((e as Error).stack)])).toEqual([]);
      }
    }
    // Listed with every other problem at once.
    expect(problems({ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(short)}`, PORT: 'eighty' })).toHaveLength(2);
    expect(resolvePayloadEncryption({ PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(short)}` }).encryption).toBeUndefined();
  });

  it('checks the codec server settings: a token of its own, the keys, explicit UI origins', () => {
    const keys = { PAYLOAD_ENCRYPTION_KEYS: `k1:${b64(OLD)}` };
    const c = loadConfig({ ...keys, CODEC_SERVER_TOKEN: 'a-codec-token-of-32-characters!!', CODEC_SERVER_CORS_ORIGINS: 'http://localhost:8233, https://temporal.example.com' });
    expect(c.http.codecServer).toEqual({ token: 'a-codec-token-of-32-characters!!', corsOrigins: ['http://localhost:8233', 'https://temporal.example.com'], sessionTtlMs: 8 * 3_600_000 });
    expect(problems({ ...keys, CODEC_SERVER_TOKEN: 'short' })).toEqual(['CODEC_SERVER_TOKEN must be at least 16 characters']);
    expect(problems({ ...keys, CODEC_SERVER_TOKEN: 'the-same-token-for-both', WEBHOOK_TOKEN: 'the-same-token-for-both' })).toEqual(['CODEC_SERVER_TOKEN must differ from WEBHOOK_TOKEN']);
    expect(problems({ CODEC_SERVER_TOKEN: 'a-codec-token-of-32-characters!!' })).toEqual([expect.stringMatching(/^CODEC_SERVER_TOKEN is set but no payload encryption key is/)]);
    expect(problems({ ...keys, CODEC_SERVER_TOKEN: 'a-codec-token-of-32-characters!!', CODEC_SERVER_CORS_ORIGINS: '*,http://localhost:8233/,ftp://x' })).toEqual([
      expect.stringMatching(/"\*" is refused/),
      expect.stringMatching(/"http:\/\/localhost:8233\/" is not an origin/),
      expect.stringMatching(/"ftp:\/\/x" is not an origin/),
    ]);
    expect(problems({ ...keys, CODEC_SERVER_CORS_ORIGINS: 'http://localhost:8233' })).toEqual(['CODEC_SERVER_CORS_ORIGINS is set but CODEC_SERVER_TOKEN is not: there is no codec server']);
  });
});
