import { spawn } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { checkDecision, verifySignedDecision, type DecisionLike } from '../../src/decisions/signed.js';
import { ControlId } from '../../src/findings/finding.js';
import { parsePolicy, snapshotFor } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { revertWorkflowId } from '../../src/workflows/revert-fix.js';
import { makeBucket, makeSecurityGroup, s3Finding, sgFinding, world22 } from '../helpers/fixtures.js';
import { defaultPolicy, stackAddresses, startTestWorker, type TestWorker } from '../helpers/stack.js';
import { acceptedUpdates, keyedDefaultPolicy, keyFile, otherOperatorKeyPem, testOperatorKey, testOperatorKeyPem, trusted, workflowInput } from '../helpers/decisions.js';

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

describe('CLI: policy schema', () => {
  it('prints the JSON Schema of policy files: the published one, and with controls of your own (CONTROL_MODULES) in it', async () => {
    const shipped = await cli(['policy', 'schema']);
    expect(shipped.code).toBe(0);
    expect(shipped.out).toBe(await readFile(join(REPO_ROOT, 'policy', 'policy.schema.json'), 'utf8'));
    expect(shipped.out).not.toContain('s3-bucket-versioning');
    const own = await cli(['policy', 'schema'], { CONTROL_MODULES: './examples/controls/s3-bucket-versioning.ts' });
    expect(own.code).toBe(0);
    expect(Object.keys((JSON.parse(own.out) as { properties: { controls: { $ref?: string } }; definitions: Record<string, { anyOf: { properties: object }[] }> }).definitions['controls']!.anyOf[0]!.properties)).toContain('s3-bucket-versioning');
    expect((await cli(['policy', 'schema', '--bogus'])).code).toBe(2);
  });
});

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

/**
 * The operator `erin`: the test operator key, listed as erin in a copy of the shipped policy
 * (POLICY_FILE for the CLI; the same policy goes into the workflows), and an empty data dir so
 * no local stack's key is used instead.
 */
const OPERATOR = 'erin';
const erin = trusted(testOperatorKey, OPERATOR);
let keyed: { text: string; policy: Policy };
let policyFile: string;
let signing: Record<string, string>;
beforeAll(async () => {
  keyed = keyedDefaultPolicy(OPERATOR);
  const dir = await mkdtemp(join(tmpdir(), 'cli-keys-'));
  policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, keyed.text);
  signing = { POLICY_FILE: policyFile, RECTIFY_OPERATOR_KEY_FILE: await keyFile(testOperatorKeyPem), RECTIFY_DATA_DIR: await mkdtemp(join(tmpdir(), 'cli-data-')) };
});

describe('CLI: approvals, approve, reject', () => {
  let w: TestWorker;
  beforeAll(async () => {
    w = await startTestWorker();
  });
  afterAll(() => w?.stop());

  it('lists a waiting remediation and approves it by finding id, signed with the operator\'s key and recorded under its name', async () => {
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress, ...signing };
    const { client, aws, taskQueue } = w;
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const finding = sgFinding(groupId);
    const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: keyed.policy }).submit(finding);
    const handle = client.workflow.getHandle(r.workflowId, r.runId);
    for (let i = 0; i < 100 && (await handle.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((x) => setTimeout(x, 100));

    let listed = '';
    for (let i = 0; i < 30 && !listed.includes(r.workflowId); i++) {
      listed = (await cli(['approvals'], env)).out; // visibility is eventually consistent
    }
    expect(listed).toContain(r.workflowId);
    expect(listed).toContain('why      tagged: a tag on the resource requires approval');

    const unknown = await cli(['approve', 'no-such-finding'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain('no running remediation for finding "no-such-finding"');

    const planDigest = (await handle.query(getStatus)).planDigest;
    const ok = await cli(['approve', finding.id, '--reason', 'change ticket CHG-1234'], env);
    expect(ok.out).toContain(`Approved by cli:erin`);
    expect(ok.code).toBe(0);
    const record: RemediationRecord = await handle.result();
    expect(record.outcome).toBe('remediated');
    expect(record.approval).toMatchObject({ decision: 'approve', by: { id: 'erin', via: 'cli' }, reason: 'change ticket CHG-1234' });

    // What the CLI sent: signed with erin's key, for this workflow, run and plan.
    const sent = (await acceptedUpdates(handle)).filter((u) => u.name === 'decideRemediation');
    expect(sent).toHaveLength(1);
    const req = sent[0]!.arg as DecisionLike;
    const claims = { v: 1, kind: 'decision', workflowId: r.workflowId, runId: r.runId, decision: 'approve', planDigest, by: { id: OPERATOR, name: OPERATOR, via: 'cli' }, reason: 'change ticket CHG-1234' };
    expect(verifySignedDecision(req.signed, [erin])).toMatchObject({ ok: true, signed: { claims, keyId: testOperatorKey.keyId } });
    const snapshot = snapshotFor(keyed.policy, ControlId.SgAdminPortsOpen);
    expect(checkDecision(req, { kind: 'decision', workflowId: r.workflowId, runId: r.runId, planDigest, approvers: [], operatorKeys: snapshot.control.approvers.keys ?? [], relayKeys: snapshot.decisionRelays ?? [] })).toMatchObject({
      ok: true,
      by: { id: OPERATOR, name: OPERATOR, via: 'cli', keyId: testOperatorKey.keyId },
    });

    // An auditor checks the signed decision in the evidence against the policy's keys.
    const dir = await mkdtemp(join(tmpdir(), 'evidence-'));
    const evidence = join(dir, 'record.json');
    await writeFile(evidence, JSON.stringify({ ...record, approval: { ...record.approval, signed: req.signed } }));
    const verified = await cli(['evidence', 'verify-decision', evidence, '--policy', policyFile]);
    expect(verified.out).toContain(`ok   approval.signed: approve by cli:erin, signed ${req.signed!.claims.issuedAt} by operator key of erin (${testOperatorKey.keyId}), plan ${planDigest!.slice(0, 12)}`);
    expect(verified.out).toContain('1/1 record with every decision proven');
    expect(verified.code).toBe(0);
    // Edited after the fact, or without any signed decision: it fails, saying why.
    const edited = join(dir, 'edited.json');
    await writeFile(edited, JSON.stringify({ ...record, approval: { ...record.approval, decision: 'reject', signed: req.signed } }));
    const bad = await cli(['evidence', 'verify-decision', edited, '--policy', policyFile]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('it says approve, the record says reject');
    const unsigned = join(dir, 'unsigned.jsonl');
    await writeFile(unsigned, `${JSON.stringify({ workflowId: r.workflowId, control: record.control, approval: { decision: 'approve', by: { id: 'mallory', name: 'mallory', via: 'cli' } } })}\n`);
    const none = await cli(['evidence', 'verify-decision', unsigned, '--policy', policyFile]);
    expect(none.code).toBe(1);
    expect(none.out).toContain('approval: decided by cli:mallory but the record carries no signed decision for it');

    const again = await cli(['reject', r.workflowId], env);
    expect(again.code).toBe(1);
    expect(again.out).toContain('already finished');
  });

  it('undoes a verified fix with a signed request: revertFix gets the undo signed for that remediation run', async () => {
    const { client, aws, taskQueue } = w;
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress, TEMPORAL_TASK_QUEUE: taskQueue, ...signing };
    // The shipped undo window (1h): the fix can be taken back.
    const withUndo = parsePolicy(keyed.text, 'test policy');
    const bucket = await makeBucket(aws);
    const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: withUndo }).submit(s3Finding(bucket));
    const rec: RemediationRecord = await client.workflow.getHandle(r.workflowId, r.runId).result();
    expect(rec.outcome).toBe('remediated');
    const undone = await cli(['undo', r.workflowId, '--reason', 'vendor needs it'], env);
    expect(undone.out).toContain('Undone by cli:erin');
    expect(undone.code).toBe(0);
    const input = await workflowInput(client.workflow.getHandle(revertWorkflowId({ workflowId: r.workflowId, runId: r.runId! })));
    expect(verifySignedDecision(input?.['signed'], [erin])).toMatchObject({
      ok: true,
      signed: { claims: { kind: 'undo', workflowId: r.workflowId, runId: r.runId, by: { id: OPERATOR, name: OPERATOR, via: 'cli' }, reason: 'vendor needs it' } },
    });
  });
});

describe('CLI: operator keys', () => {
  it('refuses --as (the key names the operator), and says how to get a key when there is none', async () => {
    const as = await cli(['approve', 'some-finding', '--as', 'root'], signing);
    expect(as.code).toBe(2);
    expect(as.out).toContain('--as is no longer accepted: CLI decisions are signed with your key (RECTIFY_OPERATOR_KEY_FILE)');
    const none = await cli(['reject', 'some-finding'], { ...signing, RECTIFY_OPERATOR_KEY_FILE: '' });
    expect(none.code).toBe(1);
    expect(none.out).toContain('no operator key: CLI decisions are signed with your own Ed25519 key');
    expect(none.out).toContain('npm run cli -- keys new --out');
    const unlisted = await cli(['approve', '--all', '--yes'], { ...signing, RECTIFY_OPERATOR_KEY_FILE: await keyFile(otherOperatorKeyPem) });
    expect(unlisted.code).toBe(1);
    expect(unlisted.out).toContain(`is not listed in the policy ${policyFile}, so the workflows would refuse its decisions`);
    expect(unlisted.out).not.toContain(otherOperatorKeyPem.split('\n')[1]);
  });

  it('keys new writes a private key (0600, never over another) whose printed entry works in a policy; keys show names it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keys-new-'));
    const out = join(dir, 'frank.pem');
    const made = await cli(['keys', 'new', '--out', out, '--name', 'frank']);
    expect(made.code).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(await readFile(out, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
    const entry = /- (\{ name: frank, publicKey: \S+ \})/.exec(made.out)?.[1];
    expect(entry).toBeDefined();
    expect(made.out).toContain(`export RECTIFY_OPERATOR_KEY_FILE=${out}`);
    expect(made.out).not.toContain((await readFile(out, 'utf8')).split('\n')[1]);
    expect((await cli(['keys', 'new', '--out', out])).out).toContain('exists: keys new never overwrites a key');

    const policy = join(dir, 'policy.yaml');
    await writeFile(policy, `version: 1\ndefaults:\n  approvers:\n    keys:\n      - ${entry}\n`);
    const valid = await cli(['policy', 'validate', policy]);
    expect(valid.out).toContain('valid (sha256');
    expect(valid.code).toBe(0);
    const shown = await cli(['keys', 'show'], { RECTIFY_OPERATOR_KEY_FILE: out, POLICY_FILE: policy });
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/key id {6}[0-9a-f]{16}/);
    expect(shown.out).toContain(`policy      ${policy}: operator frank`);

    const relay = await cli(['keys', 'new', '--relay', '--out', join(dir, 'relay.pem')]);
    expect(relay.out).toMatch(/decisionRelays:\n {2}- \{ name: trigger-server, publicKey: \S+ \}/);
    expect(relay.out).toContain('DECISION_SIGNING_KEY_FILE=');
  });

  it('the trigger server does not start to take Slack clicks without a decision relay key', async () => {
    const started = await cli([], { WEBHOOK_TOKEN: 'a-token-of-at-least-16-chars', TEMPORAL_ADDRESS: '127.0.0.1:1', SLACK_SIGNING_SECRET: 'a-signing-secret-of-16+', DECISION_SIGNING_KEY_FILE: '' }, 'src/triggers/main.ts');
    expect(started.code).toBe(1);
    expect(started.out).toContain('DECISION_SIGNING_KEY_FILE is not set: with SLACK_SIGNING_SECRET the trigger server signs every Slack decision it relays');
  });
});

describe('CLI: the approvals queue a page at a time, and decisions by query', () => {
  let w: TestWorker;
  beforeAll(async () => {
    w = await startTestWorker();
  });
  afterAll(() => w?.stop());

  it('pages through the waiting remediations from visibility, then approves all that match a filter after showing the count', async () => {
    const env = { TEMPORAL_ADDRESS: stackAddresses().temporalAddress, ...signing };
    const { client, aws, taskQueue } = w;
    // An account of their own, so other tests' waiting remediations do not count.
    const account = String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));
    const submitter = createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: keyed.policy });
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
    const unconfirmed = await cli(['approve', '--all', '--account', account, '--why', 'tagged'], env);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.out).toContain(`Nothing decided: 3 match (account ${account}, why tagged)`);
    for (const h of handles) expect((await h.query(getStatus)).status).toBe('AwaitingApproval');

    const plans = await Promise.all(handles.map(async (h) => (await h.query(getStatus)).planDigest));
    const all = await cli(['approve', '--all', '--account', account, '--why', 'tagged', '--reason', 'CHG-77', '--yes'], env);
    expect(all.out).toContain('Approved 3 as cli:erin.');
    expect(all.code).toBe(0);
    for (const [i, h] of handles.entries()) {
      const record: RemediationRecord = await h.result();
      expect(record.outcome).toBe('remediated');
      expect(record.approval).toMatchObject({ decision: 'approve', reason: 'CHG-77', by: { id: 'erin', name: 'erin', via: 'cli', bulk: expect.stringMatching(/^cli-query:/) } });
      // Each its own signed decision: its workflow, run and plan.
      const sent = (await acceptedUpdates(h)).filter((u) => u.name === 'decideRemediation');
      expect(verifySignedDecision(sent[0]?.arg['signed'], [erin])).toMatchObject({
        ok: true,
        signed: { claims: { workflowId: h.workflowId, runId: (await h.describe()).runId, planDigest: plans[i], by: { id: OPERATOR, bulk: record.approval?.by?.bulk }, reason: 'CHG-77' } },
      });
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
