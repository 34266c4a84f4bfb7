import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { makeBucket, makeSecurityGroup, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
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

describe('CLI: the approvals queue a page at a time, and decisions by query', () => {
  let w: TestWorker;
  beforeAll(async () => {
    w = await startTestWorker();
  });
  afterAll(() => w?.stop());

  it('pages through the waiting remediations from visibility, then approves all that match a filter after showing the count', async () => {
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress };
    const { client, aws, taskQueue } = w;
    // An account of their own, so other tests' waiting remediations do not count.
    const account = String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy });
    const handles = [];
    for (let i = 0; i < 3; i++) {
      const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
      const r = await submitter.submit(sgFinding(groupId, { account }));
      handles.push(client.workflow.getHandle(r.workflowId, r.runId));
    }
    for (const h of handles) for (let i = 0; i < 100 && (await h.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((x) => setTimeout(x, 100));

    let first = { code: 1, out: '' };
    for (let i = 0; i < 30 && !first.out.includes('3 remediations waiting'); i++) first = await cli(['approvals', '--account', account, '--limit', '2'], env);
    expect(first.code).toBe(0);
    expect(first.out).toContain('3 remediations waiting for approval (showing 2, newest first):');
    const page = /--page (\S+)/.exec(first.out)?.[1];
    expect(page).toBeDefined();
    const second = await cli(['approvals', '--account', account, '--limit', '2', '--page', page!], env);
    const listed = [first.out, second.out].join('\n');
    for (const h of handles) expect(listed).toContain(h.workflowId);
    expect(second.out).not.toContain('Next page');

    const unknownWhy = await cli(['approvals', '--why', 'bored'], env);
    expect(unknownWhy.code).toBe(1);
    expect(unknownWhy.out).toContain('must be one of policy, tagged, budget, flapping');

    // No terminal to confirm on and no --yes: nothing is decided, and it says how many would have been.
    const unconfirmed = await cli(['approve', '--all', '--account', account, '--why', 'tagged', '--as', 'erin'], env);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.out).toContain(`Nothing decided: 3 match (account ${account}, why tagged)`);
    for (const h of handles) expect((await h.query(getStatus)).status).toBe('AwaitingApproval');

    const all = await cli(['approve', '--all', '--account', account, '--why', 'tagged', '--as', 'erin', '--reason', 'CHG-77', '--yes'], env);
    expect(all.out).toContain('Approved 3 as cli:erin.');
    expect(all.code).toBe(0);
    for (const h of handles) {
      const record: RemediationRecord = await h.result();
      expect(record.outcome).toBe('remediated');
      expect(record.approval).toMatchObject({ decision: 'approve', reason: 'CHG-77', by: { id: 'erin', name: 'erin', via: 'cli', bulk: expect.stringMatching(/^cli-query:/) } });
    }
    const none = await cli(['reject', '--all', '--account', account, '--yes'], env);
    expect(none.out).toContain(`No remediation waiting for approval matches (account ${account})`);
  });

  it('shows the fixes held by the hourly budget as the digest does: how many, by account, which resources', async () => {
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress };
    const { client, aws, taskQueue } = w;
    const account = String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));
    const s3 = defaultPolicy.controls['s3-block-public-access'];
    const noBudget = { ...defaultPolicy, controls: { ...defaultPolicy.controls, 's3-block-public-access': { ...s3, guardrails: { ...s3.guardrails, maxAutoFixesPerHour: 0 } } } };
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: noBudget });
    const buckets = [await makeBucket(aws), await makeBucket(aws)];
    const handles = [];
    for (const b of buckets) {
      const r = await submitter.submit(s3Finding(b, { account }));
      handles.push(client.workflow.getHandle(r.workflowId, r.runId));
    }
    for (const h of handles) for (let i = 0; i < 100 && (await h.query(getStatus)).approvalReason !== 'budget'; i++) await new Promise((x) => setTimeout(x, 100));
    let out = '';
    for (let i = 0; i < 30 && !out.includes('2 held'); i++) out = (await cli(['held', '--account', account], env)).out;
    expect(out).toContain('s3-block-public-access: 2 held');
    expect(out).toContain(`by account  ${account} 2`);
    for (const b of buckets) expect(out).toContain(b);
    expect(out).toContain(`npm run cli -- approve --all --control s3-block-public-access --why budget --account ${account}`);
    for (const h of handles) await h.terminate('test over');
  });
});
