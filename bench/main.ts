/**
 * `npm run bench [-- --findings N --concurrency C]`: end-to-end throughput on the embedded stack.
 * Creates N misconfigured buckets in moto, posts N generic findings to the webhook (C requests in
 * flight), waits for every workflow to end, and prints ingest latency, time to remediate
 * (received -> verified and closed), throughput and the process's peak memory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand, DeletePublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createAwsClients } from '../src/activities/aws.js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile } from '../src/policy/load.js';
import type { Policy } from '../src/policy/types.js';
import { ensureMoto, startMoto } from '../src/stack/moto.js';
import { freePort } from '../src/stack/process.js';
import { ensureTemporalCli, startDevServer } from '../src/stack/temporal.js';
import { startTriggerServer } from '../src/triggers/server.js';
import type { SubmitResult } from '../src/triggers/submit.js';
import { createWorker } from '../src/worker/create-worker.js';
import type { RemediationRecord } from '../src/workflows/messages.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
Runtime.install({ logger: new DefaultLogger('ERROR') });

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const N = arg('findings', 200);
const C = arg('concurrency', 16);
const say = (l: string) => console.log(`[bench] ${l}`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

const logs = await mkdtemp(join(tmpdir(), 'rectify-bench-'));
const [temporalBin, motoBin] = await Promise.all([ensureTemporalCli(say), ensureMoto(say)]);
const [temporal, moto] = await Promise.all([
  startDevServer({ binary: temporalBin, port: await freePort(), logFile: join(logs, 'temporal.log') }),
  startMoto({ binary: motoBin, port: await freePort(), logFile: join(logs, 'moto.log') }),
]);
const token = 'bench-token-0123456789abcdef';
const config = loadConfig({ TEMPORAL_ADDRESS: temporal.address, AWS_ENDPOINT_URL: moto.endpoint, PORT: '0', WEBHOOK_TOKEN: token });
const aws = createAwsClients(config.aws);
const shipped = await loadPolicyFile(DEFAULT_POLICY_PATH);
// Measure fixing, not the guardrails: no hourly budget to run into (every fix still goes through
// its control's ledger), and no undo window opened after each fix.
const policy: Policy = {
  ...shipped,
  controls: Object.fromEntries(
    Object.entries(shipped.controls).map(([id, c]) => [id, { ...c, undo: { ...c.undo, windowMs: 0 }, guardrails: { ...c.guardrails, maxAutoFixesPerHour: 1_000_000 } }]),
  ) as unknown as Policy['controls'],
};
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection });
const native = await NativeConnection.connect({ address: temporal.address });
const worker = await createWorker({ connection: native, client, namespace: 'default', taskQueue: config.temporal.taskQueue, aws, policy });
const running = worker.run();
const server = await startTriggerServer(config, client, silentLogger, policy);

say(`creating ${N} buckets without Block Public Access in moto...`);
const buckets = Array.from({ length: N }, (_, i) => `bench-${i.toString().padStart(5, '0')}`);
for (let i = 0; i < N; i += 20) {
  await Promise.all(
    buckets.slice(i, i + 20).map(async (b) => {
      await aws.s3(config.aws.region).send(new CreateBucketCommand({ Bucket: b }));
      await aws.s3(config.aws.region).send(new DeletePublicAccessBlockCommand({ Bucket: b }));
    }),
  );
}

say(`posting ${N} findings, ${C} requests in flight...`);
const rssBefore = process.memoryUsage().rss;
const ingest: number[] = [];
const results: SubmitResult[] = [];
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: C }, async () => {
    while (next < N) {
      const bucket = buckets[next++]!;
      const body = { id: `bench/${bucket}`, control: 's3-block-public-access', account: '123456789012', region: config.aws.region, resource: { id: bucket }, severity: 'HIGH' };
      const s = performance.now();
      const res = await fetch(`${server.url}/v1/findings`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
      ingest.push(performance.now() - s);
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
      results.push(...((await res.json()) as { findings: SubmitResult[] }).findings);
    }
  }),
);
const tIngested = performance.now();

const records: RemediationRecord[] = await Promise.all(results.map((r) => client.workflow.getHandle(r.workflowId, r.runId).result()));
const tDone = performance.now();
clearInterval(sampler);

const ttr = records.map((r) => Date.parse(r.timestamps.closed) - Date.parse(r.timestamps.received));
const remediated = records.filter((r) => r.outcome === 'remediated').length;
const wall = (tDone - t0) / 1000;
const figures = {
  findings: N,
  concurrency: C,
  remediatedAndVerified: remediated,
  ingestPerSecond: +(N / ((tIngested - t0) / 1000)).toFixed(1),
  ingestLatencyMs: { p50: +pct(ingest, 50).toFixed(1), p95: +pct(ingest, 95).toFixed(1), max: +Math.max(...ingest).toFixed(1) },
  remediatedPerSecond: +(remediated / wall).toFixed(1),
  timeToRemediateMs: { p50: pct(ttr, 50), p90: pct(ttr, 90), p99: pct(ttr, 99), max: Math.max(...ttr) },
  wallSeconds: +wall.toFixed(2),
  processRssMiB: { before: Math.round(rssBefore / 2 ** 20), peak: Math.round(peakRss / 2 ** 20) },
};

console.log('');
console.log(`findings                         ${figures.findings} (${figures.concurrency} requests in flight)`);
console.log(`remediated and verified          ${figures.remediatedAndVerified}`);
console.log(`webhook ingest                   ${figures.ingestPerSecond} findings/s; latency p50 ${figures.ingestLatencyMs.p50} ms, p95 ${figures.ingestLatencyMs.p95} ms, max ${figures.ingestLatencyMs.max} ms`);
console.log(`end to end throughput            ${figures.remediatedPerSecond} findings remediated/s (${figures.wallSeconds} s wall)`);
console.log(`time to remediate (recv->close)  p50 ${figures.timeToRemediateMs.p50} ms, p90 ${figures.timeToRemediateMs.p90} ms, p99 ${figures.timeToRemediateMs.p99} ms, max ${figures.timeToRemediateMs.max} ms`);
console.log(`worker+trigger process RSS       ${figures.processRssMiB.before} MiB before, ${figures.processRssMiB.peak} MiB peak`);
console.log(`json ${JSON.stringify(figures)}`);

await server.close();
worker.shutdown();
await running;
await native.close();
await connection.close();
aws.destroy();
await Promise.all([temporal.stop(), moto.stop()]);
await rm(logs, { recursive: true, force: true });
if (remediated !== N) process.exit(1);
