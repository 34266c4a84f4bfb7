import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { freePort } from '../../src/stack/process.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import type { RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, s3Finding } from '../helpers/fixtures.js';
import { defaultPolicy, startTestWorker, type TestWorker } from '../helpers/stack.js';

const port = await freePort();
Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } });

let w: TestWorker;
beforeAll(async () => {
  w = await startTestWorker();
});
afterAll(() => w?.stop());

const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const value = (text: string, name: string, labels: Record<string, string>): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('Prometheus metrics of the worker', () => {
  it('counts findings received and closed by control and outcome, and times remediation', async () => {
    const { client, aws, taskQueue } = w;
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy });
    const records: RemediationRecord[] = [];
    for (const bucket of [await makeBucket(aws), await makeBucket(aws)]) {
      const r = await submitter.submit(s3Finding(bucket));
      records.push(await client.workflow.getHandle(r.workflowId, r.runId).result());
    }
    expect(records.map((r) => r.outcome)).toEqual(['remediated', 'remediated']);

    let text = '';
    for (let i = 0; i < 50; i++) {
      text = await scrape();
      if (value(text, 'rectify_findings_closed', { outcome: 'remediated', taskQueue: taskQueue }) >= 2) break;
      await new Promise((r) => setTimeout(r, 200)); // metrics are exported periodically
    }
    const control = { control: 's3-block-public-access', taskQueue: taskQueue };
    expect(value(text, 'rectify_findings_received', { ...control, source: 'generic' })).toBe(2);
    expect(value(text, 'rectify_findings_closed', { ...control, outcome: 'remediated' })).toBe(2);
    expect(value(text, 'rectify_time_to_remediate_count', control)).toBe(2);
    expect(text).toMatch(/rectify_time_to_remediate_bucket\{/);
    // The SDK's own runtime metrics are on the same endpoint.
    expect(text).toMatch(/temporal_workflow_completed/);
  }, 60_000);
});
