import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { makeSecurityGroup, sgFinding, world22 } from '../helpers/fixtures.js';
import { defaultPolicy, stackAddresses, startTestWorker, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

/** Runs the real CLI in a child process, as an operator would. */
function cli(args: string[], env: Record<string, string> = {}, entry = 'src/cli/main.ts'): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, out }));
  });
}

describe('CLI: policy validate', () => {
  it('accepts the shipped policy and prints its hash and effective modes', async () => {
    const { code, out } = await cli(['policy', 'validate']);
    expect(code).toBe(0);
    expect(out).toContain(`valid (sha256 ${defaultPolicy.hash})`);
    expect(out).toContain('ec2-sg-admin-ports-open: mode auto, approval when tagged environment=production|prod');
  });

  it('lists every problem of a bad file at once and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'version: 1\ndefaults:\n  mode: yolo\n  escalation: { timeoutAfter: soon }\ncontrols:\n  s3-bucket-encryption: { mode: auto }\n');
    const { code, out } = await cli(['policy', 'validate', file]);
    expect(code).toBe(1);
    expect(out).toContain(`invalid policy ${file}`);
    expect(out).toMatch(/defaults\.mode/);
    expect(out).toMatch(/defaults\.escalation\.timeoutAfter/);
    expect(out).toMatch(/s3-bucket-encryption/);

    // The worker and the trigger server refuse to start on it, and say why.
    for (const entry of ['src/worker/main.ts', 'src/triggers/main.ts']) {
      const started = await cli([], { POLICY_FILE: file, WEBHOOK_TOKEN: 'a-token-of-at-least-16-chars', TEMPORAL_ADDRESS: '127.0.0.1:1' }, entry);
      expect(started.code, entry).toBe(1);
      expect(started.out, entry).toContain(`invalid policy ${file}`);
      expect(started.out, entry).toMatch(/defaults\.mode/);
    }
  });
});

describe('CLI: approvals, approve, reject', () => {
  let w: TestWorker;
  beforeAll(async () => {
    w = await startTestWorker();
  });
  afterAll(() => w?.stop());

  it('lists a waiting remediation and approves it by finding id, recorded as the operator', async () => {
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress };
    const { client, aws, taskQueue } = w;
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const finding = sgFinding(groupId);
    const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy }).submit(finding);
    const handle = client.workflow.getHandle(r.workflowId, r.runId);
    for (let i = 0; i < 100 && (await handle.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((x) => setTimeout(x, 100));

    let listed = '';
    for (let i = 0; i < 30 && !listed.includes(r.workflowId); i++) {
      listed = (await cli(['approvals'], env)).out; // visibility is eventually consistent
    }
    expect(listed).toContain(r.workflowId);
    expect(listed).toContain('why      tagged: a tag on the resource requires approval');

    const unknown = await cli(['approve', 'no-such-finding', '--as', 'erin'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain('no running remediation for finding "no-such-finding"');

    const ok = await cli(['approve', finding.id, '--as', 'erin', '--reason', 'change ticket CHG-1234'], env);
    expect(ok.out).toContain(`Approved by cli:erin`);
    expect(ok.code).toBe(0);
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('remediated');
    expect(record.approval).toMatchObject({ decision: 'approve', by: { id: 'erin', via: 'cli' }, reason: 'change ticket CHG-1234' });

    const again = await cli(['reject', r.workflowId, '--as', 'erin'], env);
    expect(again.code).toBe(1);
    expect(again.out).toContain('already finished');
  });
});
