import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, type Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { CIPHER, ENCRYPTED_ENCODING, METADATA_KEY_ID, resolvePayloadEncryption, withPayloadCodec } from '../../src/codec/encryption.js';
import type { JsonPayload } from '../../src/codec/http.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createApp } from '../../src/triggers/http/app.js';
import { startTriggerServer, type TriggerServer } from '../../src/triggers/server.js';
import { silentLogger } from '../../src/log.js';
import { workflowIdFor } from '../../src/findings/finding.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, s3Finding } from '../helpers/fixtures.js';
import { defaultPolicy, startTestWorker, temporalClient, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('WARN') });

const WEBHOOK_TOKEN = 'a-webhook-token-of-32-characters';
const CODEC_TOKEN = 'the-codec-servers-own-token-1234';
const UI_ORIGIN = 'http://localhost:8233';
const PREVIOUS = randomBytes(32).toString('base64');
const CURRENT = randomBytes(32).toString('base64');

/** What historyToJSON gives: proto3 JSON, the form the codec server speaks. */
interface JsonHistory {
  events: Record<string, unknown>[];
}
const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');
const encoding = (p: JsonPayload) => text(p.metadata?.['encoding']);

/**
 * Every payload of a history with where it is, except those the codec never sees: search
 * attributes (visibility reads them) and the SDK's own marker data (local activity type and
 * attempt, patch ids).
 */
function payloadsIn(history: JsonHistory): { path: string; payload: JsonPayload }[] {
  const out: { path: string; payload: JsonPayload }[] = [];
  const walk = (o: unknown, path: string) => {
    if (Array.isArray(o)) return o.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (typeof o !== 'object' || o === null) return;
    const rec = o as Record<string, unknown>;
    if (typeof rec['metadata'] === 'object' && rec['metadata'] !== null && 'encoding' in (rec['metadata'] as object)) {
      out.push({ path, payload: rec as JsonPayload });
      return;
    }
    for (const [k, v] of Object.entries(rec)) {
      if (k === 'searchAttributes' || (/markerRecordedEventAttributes\.details$/.test(path) && (k === 'data' || k === 'patch-data'))) continue;
      walk(v, `${path}.${k}`);
    }
  };
  walk(history.events, 'events');
  return out;
}

let config: Config;
let worker: TestWorker;
let server: TriggerServer;
let triggerClient: { client: Client; connection: Connection };
/** No codec: what the Temporal service, its database and a Web UI without the codec server see. */
let plain: { client: Client; connection: Connection };
let bucket: string;
let workflowId: string;
let history: JsonHistory;

beforeAll(async () => {
  config = loadConfig({
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    AWS_ENDPOINT_URL: inject('motoEndpoint'),
    TEMPORAL_TASK_QUEUE: unique('encrypted'),
    PORT: '0',
    WEBHOOK_TOKEN,
    PAYLOAD_ENCRYPTION_KEYS: `previous:${PREVIOUS},current:${CURRENT}`,
    PAYLOAD_ENCRYPTION_KEY_ID: 'current',
    CODEC_SERVER_TOKEN: CODEC_TOKEN,
    CODEC_SERVER_CORS_ORIGINS: UI_ORIGIN,
  });
  const { dataConverter } = withPayloadCodec(config.payloadEncryption);
  worker = await startTestWorker({ taskQueue: config.temporal.taskQueue, dataConverter });
  triggerClient = await temporalClient(dataConverter);
  server = await startTriggerServer(config, triggerClient.client, silentLogger, defaultPolicy);
  plain = await temporalClient();

  // A finding through the webhook: the trigger server starts the remediation with its codec.
  bucket = await makeBucket(worker.aws, undefined, { owner: 'payroll-team' }, { prefix: 'secret-payroll' });
  const finding = s3Finding(bucket);
  workflowId = workflowIdFor(finding);
  const res = await fetch(`${server.url}/v1/findings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: finding.id, control: finding.control, account: finding.account, region: finding.region, resource: { id: bucket }, severity: 'HIGH' }),
  });
  expect(res.status).toBe(202);
  const record: RemediationRecord = await worker.client.workflow.getHandle(workflowId).result();
  expect(record.outcome).toBe('remediated');
  history = JSON.parse(historyToJSON(await plain.client.workflow.getHandle(workflowId).fetchHistory())) as JsonHistory;
});

afterAll(async () => {
  await server?.close();
  await worker?.stop();
  await triggerClient?.connection.close();
  await plain?.connection.close();
});

describe('payloads encrypted at rest in Temporal', () => {
  it('stores the workflow input and result encrypted: a client without the codec sees neither the bucket nor the tags', async () => {
    const started = history.events[0]!['workflowExecutionStartedEventAttributes'] as { input: { payloads: JsonPayload[] } };
    const completed = history.events.at(-1)!['workflowExecutionCompletedEventAttributes'] as { result: { payloads: JsonPayload[] } };
    for (const p of [...started.input.payloads, ...completed.result.payloads]) {
      expect(encoding(p)).toBe(ENCRYPTED_ENCODING);
      expect(text(p.metadata?.[METADATA_KEY_ID])).toBe('current');
      expect(text(p.metadata?.['encryption-cipher'])).toBe(CIPHER);
      expect(Buffer.from(p.data!, 'base64').toString('latin1')).not.toContain(bucket);
      expect(Buffer.from(p.data!, 'base64').toString('latin1')).not.toContain('payroll-team');
    }
    // Not only those two: activity inputs and results, local activity results, the memo, the summaries.
    const all = payloadsIn(history);
    expect(all.length).toBeGreaterThan(8);
    expect(all.filter(({ payload }) => encoding(payload) !== ENCRYPTED_ENCODING).map(({ path }) => path)).toEqual([]);
    expect(all.filter(({ payload }) => text(payload.data).includes(bucket)).map(({ path }) => path)).toEqual([]);
    // Without the codec the result cannot be read at all.
    await expect(plain.client.workflow.getHandle(workflowId).result()).rejects.toThrow(/binary\/encrypted/);
  });

  it('decodes with the codec, and after the active key changed (rotation)', async () => {
    const record: RemediationRecord = await triggerClient.client.workflow.getHandle(workflowId).result();
    expect(record.resource.id).toBe(bucket);
    expect(record.tags).toEqual({ owner: 'payroll-team' });
    // A new key is active now; "current" only decrypts what it encrypted.
    const next = randomBytes(32).toString('base64');
    const rotated = resolvePayloadEncryption({ PAYLOAD_ENCRYPTION_KEYS: `current:${CURRENT},next:${next}`, PAYLOAD_ENCRYPTION_KEY_ID: 'next' });
    expect(rotated.problems).toEqual([]);
    const client = new Client({ connection: plain.connection, namespace: 'default', ...withPayloadCodec(rotated.encryption) });
    expect(((await client.workflow.getHandle(workflowId).result()) as RemediationRecord).change?.applied).toBe(true);
    // Without the key that encrypted it: refused, naming the key id the payload needs.
    const without = resolvePayloadEncryption({ PAYLOAD_ENCRYPTION_KEYS: `next:${next}` }).encryption;
    const err = await new Client({ connection: plain.connection, namespace: 'default', ...withPayloadCodec(without) }).workflow
      .getHandle(workflowId)
      .result()
      .then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/key id "current": no key of that id is configured \(configured: next\)/);
    for (const k of [CURRENT, next, PREVIOUS]) expect(`${err?.message} ${err?.stack}`).not.toContain(k);
  });
});

describe('the codec server for the Temporal Web UI (POST /codec/decode, /codec/encode)', () => {
  const codec = (op: 'encode' | 'decode', payloads: JsonPayload[], headers: Record<string, string> = { authorization: `Bearer ${CODEC_TOKEN}` }) =>
    fetch(`${server.url}/codec/${op}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: UI_ORIGIN, ...headers },
      body: JSON.stringify({ payloads }),
    });
  const input = () => (history.events[0]!['workflowExecutionStartedEventAttributes'] as { input: { payloads: JsonPayload[] } }).input.payloads;

  it('decodes the encrypted workflow input for the UI origin with the token', async () => {
    const res = await codec('decode', input());
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const { payloads } = (await res.json()) as { payloads: JsonPayload[] };
    expect(payloads).toHaveLength(1);
    expect(encoding(payloads[0]!)).toBe('json/plain');
    const decoded = JSON.parse(text(payloads[0]!.data)) as { finding: { resource: { id: string } } };
    expect(decoded.finding.resource.id).toBe(bucket);
  });

  it('encodes with the active key, and what it encodes decodes', async () => {
    const [plainPayload] = [defaultPayloadConverter.toPayload({ note: 'from the UI' })].map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data!).toString('base64'),
    }));
    const encoded = (await (await codec('encode', [plainPayload!])).json()) as { payloads: JsonPayload[] };
    expect(encoding(encoded.payloads[0]!)).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded.payloads[0]!.metadata?.[METADATA_KEY_ID])).toBe('current');
    const decoded = (await (await codec('decode', encoded.payloads)).json()) as { payloads: JsonPayload[] };
    expect(JSON.parse(text(decoded.payloads[0]!.data))).toEqual({ note: 'from the UI' });
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer not-the-codec-token-at-all' }],
    ['the webhook token', { authorization: `Bearer ${WEBHOOK_TOKEN}` }],
  ])('refuses %s with 401, readable by the UI (CORS headers) and decoding nothing', async (_name, headers) => {
    const res = await codec('decode', input(), headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const body = await res.text();
    expect(body).not.toContain(bucket);
    expect(body).not.toContain(CODEC_TOKEN);
  });

  it('answers the CORS preflight for the configured UI origin, and refuses another origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization' },
      });
    const res = await preflight(UI_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    // Authorization-Extras: the UI's ID token, sent with its passAccessToken setting.
    expect(allowed).toEqual(expect.arrayContaining(['content-type', 'x-namespace', 'authorization', 'authorization-extras']));
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('vary')).toContain('Origin');

    const other = await preflight('https://evil.example.com');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('answers 400 naming the key id for a payload of an unknown key, and for payloads that are not proto3 JSON', async () => {
    const foreign = resolvePayloadEncryption({ PAYLOAD_ENCRYPTION_KEYS: `elsewhere-7:${randomBytes(32).toString('base64')}` }).encryption!;
    const [p] = await foreign.codec.encode([defaultPayloadConverter.toPayload('x')]);
    const json: JsonPayload = { metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(p!.data!).toString('base64') };
    const res = await codec('decode', [json]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/key id "elsewhere-7": no key of that id is configured/);
    const bad = await codec('decode', [{ data: '%%%' }]);
    expect(bad.status).toBe(400);
  });

  it('is not served without CODEC_SERVER_TOKEN (404)', async () => {
    const app = createApp({ submitter: { submit: () => Promise.reject(new Error('unused')), requestScan: () => Promise.reject(new Error('unused')) }, webhookToken: WEBHOOK_TOKEN, bodyLimitBytes: 1 << 20, logger: silentLogger, temporalHealthy: async () => true });
    for (const method of ['POST', 'OPTIONS']) {
      const res = await app.request('/codec/decode', { method, headers: { authorization: `Bearer ${CODEC_TOKEN}`, origin: UI_ORIGIN, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: JSON.stringify({ payloads: input() }) } : {}) });
      expect(res.status, method).toBe(404);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});
