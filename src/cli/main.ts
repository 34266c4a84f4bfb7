import { isRegisteredControl, loadControlModules, registeredControlIds } from '../activities/controls/index.js';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { controlModulesOf, loadConfig } from '../config.js';
import { describePayloadEncryption, withPayloadCodec } from '../codec/encryption.js';
import { InvalidInputError } from '../errors.js';
import { explainConnectFailure } from '../temporal-connection.js';
import { createLogger } from '../log.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile, POLICY_SCHEMA_PATH, policySchemaText, policyWarnings } from '../policy/load.js';
import { formatDuration } from '../policy/decide.js';
import { REPO_ROOT } from '../stack/paths.js';
import { portOrFree } from '../stack/process.js';
import { decideFromCli, formatPending, listPending, resolveUndoTarget } from './approvals.js';
import { decideByQuery, requestUndo, sendUndo, signUndo } from '../triggers/decisions.js';
import { currentOperator, keysCommand, LOCAL_OPERATOR } from './keys.js';
import { applyScanSchedule, scanScheduleCommand, SCAN_SCHEDULE_ID } from '../triggers/schedule.js';
import type { ScanProblem, ScanResult } from '../workflows/scan-account.js';
import type { OrgScanResult } from '../workflows/scan-organization.js';
import { APPROVAL_REASONS, pendingQuery, type PendingFilter } from '../workflows/queries.js';
import { ApprovalReason } from '../workflows/search-attributes.js';
import { summarizeHeld } from '../activities/digest.js';

const USAGE = `usage: npm start [-- --no-demo] [-- --once]
       npm run cli -- <command>

commands:
  up [--no-demo] [--once]       start the local stack (Temporal dev server + Web UI, AWS emulator,
                                worker, trigger server), print where everything is, run the demo;
                                Ctrl-C stops it all. --once: stop after the demo.
  approvals [--control ID] [--account ID] [--why REASON] [--limit N] [--page TOKEN]
                                list remediations waiting for approval, newest first, a page at a
                                time, with the total; REASON: policy, tagged, budget, flapping
  held [--control ID] [--account ID]
                                the fixes held by the hourly budget, per control: how many, by
                                account, which resources (what the Slack digest shows)
  approve <id> [--reason TEXT]
  reject <id> [--reason TEXT]   decide a waiting remediation; <id> is its workflow id (finding/...)
                                or the finding id. Signed with your key (RECTIFY_OPERATOR_KEY_FILE)
                                for that remediation and the plan it waits on; recorded as cli:NAME,
                                the name the policy lists your key under (approvers.keys)
  approve --all [--control ID] [--account ID] [--why REASON] [--reason TEXT] [--yes]
  reject --all  [...the same]   decide every waiting remediation the filters match, each with its
                                own signed decision; shows the count and asks first (--yes: don't)
  undo <id> [--reason TEXT]     take a verified fix back while its undo window is open; <id> is
                                the remediation's workflow id (finding/...) or the finding id
  keys new --out FILE [--name NAME] [--relay]
                                write a new Ed25519 private key to FILE (0600, never overwrites) and
                                print its policy entry: for approvers.keys (then set
                                RECTIFY_OPERATOR_KEY_FILE), or with --relay for decisionRelays
                                (then set the trigger server's DECISION_SIGNING_KEY_FILE)
  keys show [--file FILE]       the key id and public key of RECTIFY_OPERATOR_KEY_FILE (or FILE),
                                and the name the policy gives it
  schedule apply                create or update the scan schedule (SCAN_INTERVAL, SCAN_REGIONS, SCAN_ACCOUNTS)
  schedule show | pause | unpause | delete
  scan now                      run a scan right away (through the schedule)
  scan show                     the latest scheduled scan: per account and region, what was scanned, found, and not read (and why)
  controls [--json | --markdown | --write-readme | --eventbridge]
                                the catalog: every control with its Security Hub ids, Config rules,
                                CloudTrail events, what it changes, default mode and undo;
                                --write-readme updates README.md's catalog table; --eventbridge
                                prints the EventBridge rule patterns that deliver their events
  policy validate [FILE]        check a policy file (default: POLICY_FILE or policy/default.yaml)
                                and list every problem; starts nothing
  policy schema [--write]       the JSON Schema of policy files, with every registered control
                                (CONTROL_MODULES too), for editors; --write updates
                                policy/policy.schema.json
  evidence export --from DATE --to DATE [--control ID]... [--account ID]... [--status S]...
                  [--trust KEYID]... [--out DIR]
                                export the signed evidence records closed in [from, to) with their
                                verification and an HTML report for auditors (default DIR:
                                ./evidence-<from>-<to>); exit 1 when a record fails verification
  evidence verify-decision FILE [--policy FILE]
                                check the signed decisions in evidence records (a record's JSON, or
                                evidence.jsonl) against the keys of a policy (default: POLICY_FILE or
                                policy/default.yaml); exit 1 when one is missing or does not verify

The CLI reaches Temporal at TEMPORAL_ADDRESS (default 127.0.0.1:7233), namespace TEMPORAL_NAMESPACE,
with TLS / mTLS / an API key from TEMPORAL_TLS_*, TEMPORAL_API_KEY or a TEMPORAL_PROFILE of the
Temporal config file (the same settings as the temporal CLI).
`;

const say = (line: string) => process.stdout.write(`${line}\n`);
// On Node 20 (past its end of life; 22 and 24 are supported) the AWS SDK prints a notice at every client start, which would interrupt the demo.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

async function up(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { 'no-demo': { type: 'boolean' }, once: { type: 'boolean' } } });
  const demo = !values['no-demo'];
  const once = values.once === true;
  // Loaded here only: the other commands answer faster without the worker's native runtime.
  const [{ DefaultLogger, Runtime }, { runDemo }, { startLocalStack }] = await Promise.all([import('@temporalio/worker'), import('./demo.js'), import('./local-stack.js')]);
  // Worker logs at WARN so the demo's own progress stays readable; Ctrl-C is ours to handle.
  const metricsPort = await portOrFree(9464);
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [], telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${metricsPort}` } } } });
  const dataDir = process.env['RECTIFY_DATA_DIR'] ?? join(REPO_ROOT, '.rectify');
  const stack = await startLocalStack({ dataDir, say, logger: createLogger('triggers', 'warn') });
  let stopping: Promise<never> | undefined;
  const shutdown = (code: number) =>
    (stopping ??= (async () => {
      say('\nstopping the local stack...');
      await stack.stop();
      say('stopped.');
      process.exit(code);
    })());
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));

  const ns = stack.config.temporal.namespace;
  say('');
  say('rectify local stack is up');
  say(`  Temporal Web UI   ${stack.temporal.uiUrl}/namespaces/${ns}/workflows`);
  say(`  Temporal server   ${stack.temporal.address} (namespace ${ns}, task queue ${stack.config.temporal.taskQueue})`);
  say(`  Webhook           ${stack.trigger.url}/v1/events  and  ${stack.trigger.url}/v1/findings`);
  say(`  Webhook token     in ${stack.tokenFile} (send as Authorization: Bearer <token>)`);
  say(`  AWS emulator      ${stack.moto.endpoint} (moto; export AWS_ENDPOINT_URL=${stack.moto.endpoint} to use it)`);
  say(`  Policy            ${stack.policyPath} (sha256 ${stack.policy.hash.slice(0, 12)}...): ${stack.sourcePolicyPath} with the local keys added`);
  say(`  Slack             ${stack.config.slack.botToken ? `on; clicks relayed signed with key ${stack.relayKeyId} (${stack.relayKeyFile})` : 'off: approvals from the CLI (npm run cli -- approvals)'}`);
  say(`  CLI decisions     signed as ${LOCAL_OPERATOR} with ${stack.operatorKeyFile} (key ${stack.operatorKeyId}): npm run cli -- approve <id> uses it`);
  say(`  Security Hub      write-back ${stack.config.securityHub.writeBack ? 'on' : 'off (moto has no BatchUpdateFindings; SECURITYHUB_WRITEBACK=on to force)'}`);
  say(`  Metrics           http://127.0.0.1:${metricsPort}/metrics (Prometheus)`);
  say(`  Evidence key      ${stack.evidenceKeyId} (Ed25519, private key in ${stack.evidenceKeyFile})`);
  if (stack.config.payloadEncryption) say(`  Payloads          encrypted in Temporal: ${describePayloadEncryption(stack.config.payloadEncryption)}`);
  if (stack.config.http.codecServer) say(`  Codec server      ${stack.trigger.url}/codec (the Web UI's codec endpoint; sign in at ${stack.trigger.url}/codec/login with CODEC_SERVER_TOKEN)`);
  say(`  Data and logs     ${dataDir}`);
  say('');

  let ok = true;
  if (demo) {
    ok = await runDemo({
      aws: stack.aws,
      client: stack.client,
      webhookUrl: stack.trigger.url,
      webhookToken: stack.webhookToken,
      region: stack.config.aws.region,
      temporalAddress: stack.temporal.address,
      operator: { keyFile: stack.operatorKeyFile, policyFile: stack.policyPath },
      say,
    });
    say(`\nSee them in the Temporal Web UI: ${stack.temporal.uiUrl}/namespaces/${ns}/workflows`);
  }
  if (once) return shutdown(ok ? 0 : 1);
  say('Press Ctrl-C to stop everything.');
  await stack.workerDone;
  // The worker stops first during a shutdown; let the rest of it finish.
  if (stopping) await stopping;
  return 0;
}

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // TLS, mTLS or an API key as the environment / profile says (src/temporal-connection.ts).
  const temporal = config.temporal.connection;
  const connection = await Connection.connect({ ...temporal.options(), connectTimeout: 5000 }).catch(async (err: unknown) => {
    throw await explainConnectFailure(temporal, err);
  });
  try {
    // Payloads encrypted with the configured keys (src/codec/encryption.ts), as the worker's.
    return await fn(new Client({ connection, namespace: config.temporal.namespace, ...withPayloadCodec(config.payloadEncryption) }));
  } finally {
    await connection.close();
  }
}

const FILTER_OPTIONS = { control: { type: 'string' }, account: { type: 'string' }, region: { type: 'string' }, why: { type: 'string' } } as const;

/** The --control / --account / --region / --why filters; throws on an unknown reason. */
function filterFrom(values: { control?: string; account?: string; region?: string; why?: string }): PendingFilter {
  if (values.why !== undefined && !APPROVAL_REASONS.includes(values.why)) throw new InvalidInputError('--why', [`must be one of ${APPROVAL_REASONS.join(', ')}, got "${values.why}"`]);
  return {
    ...(values.control ? { control: values.control } : {}),
    ...(values.account ? { account: values.account } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values.why ? { reason: values.why } : {}),
  };
}

async function approvalsCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { ...FILTER_OPTIONS, limit: { type: 'string' }, page: { type: 'string' } } });
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InvalidInputError('--limit', ['must be an integer from 1 to 1000']);
  const page = await withClient((client) => listPending(client, { filter: filterFrom(values), limit, ...(values.page ? { page: values.page } : {}) }));
  say(formatPending(page));
  return 0;
}

async function heldCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { control: { type: 'string' }, account: { type: 'string' } } });
  if (values.control !== undefined && !isRegisteredControl(values.control)) throw new InvalidInputError('--control', [`unknown control "${values.control}" (${registeredControlIds().join(', ')})`]);
  const controls = values.control ? [values.control] : registeredControlIds();
  const summaries = await withClient((client) =>
    Promise.all(controls.map(async (control) => ({ control, s: await summarizeHeld(client, { control, reason: ApprovalReason.Budget, ...(values.account ? { account: values.account } : {}) }) }))),
  );
  const n = (x: number) => x.toLocaleString('en-US');
  const held = summaries.filter(({ s }) => s.held > 0);
  if (held.length === 0) say('No fix is held by the hourly budget.');
  for (const { control, s } of held) {
    say(`${control}: ${n(s.held)} held${s.total > s.held ? ` (${n(s.total)} held in all, the rest decided)` : ''}`);
    say(`  by account  ${s.byAccount.slice(0, 10).map((a) => `${a.account} ${n(a.count)}`).join('; ')}${s.listed < s.held ? ` (of the first ${n(s.listed)})` : ''}`);
    say(`  resources   ${s.resources.slice(0, 10).join(', ')}${s.held > 10 ? ` and ${n(s.held - Math.min(10, s.resources.length))} more` : ''}`);
    say(`  decide all  npm run cli -- approve --all --control ${control} --why budget${values.account ? ` --account ${values.account}` : ''}   (or reject --all)`);
  }
  return 0;
}

/** Asks on the terminal; false when there is none to ask on. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function decideManyCommand(decision: 'approve' | 'reject', args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { ...FILTER_OPTIONS, all: { type: 'boolean' }, reason: { type: 'string' }, yes: { type: 'boolean' } } });
  const filter = filterFrom(values);
  const me = await currentOperator(loadConfig().policyFile);
  const operator = me.name;
  const query = pendingQuery(filter);
  const described = Object.entries(filter).map(([k, v]) => `${k === 'reason' ? 'why' : k} ${v}`).join(', ') || 'no filter';
  return withClient(async (client) => {
    const n = (await client.workflow.count(query)).count;
    if (n === 0) {
      say(`No remediation waiting for approval matches (${described}).`);
      return 0;
    }
    const verb = decision === 'approve' ? 'Approve' : 'Reject';
    if (!values.yes && !(await confirm(`${verb} ${n} remediation${n === 1 ? '' : 's'} waiting for approval (${described}) as cli:${operator}?`))) {
      process.stderr.write(`Nothing decided: ${n} match (${described}). Confirm on a terminal, or add --yes.\n`);
      return 1;
    }
    const bulk = `cli-query:${new Date().toISOString()}`;
    let last = 0;
    const out = await decideByQuery(client, query, { decision, by: { id: operator, name: operator, via: 'cli', bulk }, ...(values.reason ? { reason: values.reason } : {}) }, {
      sign: me.key.sign,
      onProgress: (done) => {
        if (done - last >= 500) {
          last = done;
          say(`  ${done} of ${n}...`);
        }
      },
    });
    say(`${decision === 'approve' ? 'Approved' : 'Rejected'} ${out.accepted} as cli:${operator}${out.refused ? `; ${out.refused} refused:` : '.'}`);
    for (const r of out.reasons.slice(0, 5)) say(`  ${r.count} x ${r.message}`);
    return out.refused > 0 && out.accepted === 0 ? 1 : 0;
  });
}

async function decideCommand(decision: 'approve' | 'reject', args: readonly string[]): Promise<number> {
  if (args.includes('--all')) return decideManyCommand(decision, args);
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { reason: { type: 'string' } } });
  const id = positionals[0];
  if (!id || positionals.length > 1) {
    process.stderr.write(`usage: ${decision} <workflow id or finding id> [--reason TEXT]\n`);
    return 2;
  }
  const me = await currentOperator(loadConfig().policyFile);
  const operator = me.name;
  const out = await withClient((client) => decideFromCli(client, id, decision, { name: me.name, sign: me.key.sign }, values.reason));
  if (!out.ok) {
    process.stderr.write(`${out.message}\n`);
    return 1;
  }
  say(`${out.ack.decision === 'approve' ? 'Approved' : 'Rejected'} by cli:${operator} at ${out.ack.decidedAt}: ${id}`);
  return 0;
}

async function undoCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { reason: { type: 'string' } } });
  const id = positionals[0];
  if (!id || positionals.length > 1) {
    process.stderr.write('usage: undo <workflow id or finding id> [--reason TEXT]\n');
    return 2;
  }
  const config = loadConfig();
  const me = await currentOperator(config.policyFile);
  const operator = me.name;
  const { policy } = me;
  const by = { id: operator, name: operator, via: 'cli' as const };
  const out = await withClient(async (client) => {
    const target = await resolveUndoTarget(client, id);
    // A first-version undo window waits for its request; any other fix is undone by a workflow of its own.
    if (target.legacyWindow) {
      const window = { workflowId: target.legacyWindow };
      return sendUndo(client, window, signUndo(me.key.sign, window, { by, ...(values.reason ? { reason: values.reason } : {}) }));
    }
    return requestUndo(client, {
      remediation: { workflowId: target.remediation, ...(target.runId ? { runId: target.runId } : {}) },
      by,
      ...(values.reason ? { reason: values.reason } : {}),
      policy,
      taskQueue: config.temporal.taskQueue,
      sign: me.key.sign,
    });
  });
  if (!out.ok) {
    process.stderr.write(`${out.message}\n`);
    return 1;
  }
  say(`Undone by cli:${operator} (asked at ${out.ack.requestedAt}): ${id}: the previous state is restored and the resource is tagged exempt`);
  return 0;
}

async function scheduleCommand(args: readonly string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (rest.length > 0 || !sub) {
    process.stderr.write('usage: schedule apply | show | pause | unpause | delete\n');
    return 2;
  }
  const config = loadConfig();
  return withClient(async (client) => {
    if (sub === 'apply') {
      const how = await applyScanSchedule(client, {
        taskQueue: config.temporal.taskQueue,
        intervalMs: config.scan.intervalMs,
        catchupWindowMs: config.scan.catchupWindowMs,
        regions: config.scan.regions,
        ...(config.scan.accounts ? { accounts: config.scan.accounts } : {}),
      });
      const accounts = config.scan.accounts === 'organization' ? 'every account of the organization' : config.scan.accounts ? `accounts ${config.scan.accounts.join(', ')}` : 'this account';
      say(`schedule ${SCAN_SCHEDULE_ID} ${how}: every ${formatDuration(config.scan.intervalMs)} over ${accounts} in ${config.scan.regions.join(', ')} (overlap: skip, catch-up window ${formatDuration(config.scan.catchupWindowMs)})`);
      return 0;
    }
    if (sub === 'show') {
      const d = (await scanScheduleCommand(client, 'describe'))!;
      say(`schedule ${d.scheduleId}: ${d.state.paused ? 'PAUSED' : 'active'}; next runs ${d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()).join(', ')}`);
      for (const a of d.info.recentActions.slice(-5)) say(`  ran ${a.takenAt.toISOString()} -> ${a.action.workflow.workflowId}`);
      return 0;
    }
    if (sub === 'pause' || sub === 'unpause' || sub === 'delete') {
      await scanScheduleCommand(client, sub);
      say(`schedule ${SCAN_SCHEDULE_ID}: ${sub}d`);
      return 0;
    }
    process.stderr.write(`unknown schedule command "${sub}"\n`);
    return 2;
  });
}

/** Prints the latest run of the scan schedule: still running, or its result per account and region. */
async function showLatestScan(client: Client): Promise<number> {
  const d = await scanScheduleCommand(client, 'describe');
  const last = d?.info.recentActions.at(-1)?.action.workflow;
  if (!last) {
    say(`schedule ${SCAN_SCHEDULE_ID} has not run a scan yet (npm run cli -- scan now)`);
    return 1;
  }
  const handle = client.workflow.getHandle(last.workflowId, last.firstExecutionRunId);
  const run = await handle.describe();
  if (run.status.name === 'RUNNING') {
    say(`scan ${last.workflowId} (${run.type}) is running since ${run.startTime.toISOString()}`);
    return 0;
  }
  if (run.status.name !== 'COMPLETED') {
    say(`scan ${last.workflowId} (${run.type}) ended ${run.status.name}`);
    return 1;
  }
  const problems = (list: readonly ScanProblem[] | undefined, more: number) => {
    for (const p of list ?? []) say(`      ${p.control} ${p.region}${p.resourceId ? ` ${p.resourceId}` : ''}: ${p.reason}`);
    if (more > (list?.length ?? 0)) say(`      ... and ${more - (list?.length ?? 0)} more`);
  };
  if (run.type === 'scanOrganization') {
    const r = (await handle.result()) as OrgScanResult;
    const t = r.totals;
    say(`scan ${last.workflowId}: ${r.accounts.length} accounts x ${r.regions.length} regions, finished ${r.finishedAt}`);
    say(`  scanned ${t.scanned}, found ${t.violations}, started ${t.started}, joined ${t.joined}, not read ${t.unreadable}, failed ${t.failed}`);
    for (const s of r.scans) {
      say(`  ${s.account} ${s.region}: ${s.status === 'failed' ? `FAILED: ${s.reason ?? ''}` : `scanned ${s.scanned}, found ${s.violations}, started ${s.started}, joined ${s.joined}, not read ${s.unreadable}`}`);
      problems(s.problems, s.unreadable);
    }
    return t.failed > 0 ? 1 : 0;
  }
  const r = (await handle.result()) as ScanResult;
  say(`scan ${last.workflowId}: account ${r.account}, finished ${r.finishedAt}`);
  say(`  scanned ${r.scanned}, found ${r.violations}, started ${r.started}, joined ${r.joined}, not read ${r.unreadable ?? 0}`);
  problems(r.problems, r.unreadable ?? 0);
  return 0;
}

async function controlsCommand(args: readonly string[]): Promise<number> {
  const { catalogMarkdown, catalogRows, catalogText, eventBridgePatterns, withCatalog } = await import('./catalog.js');
  const [flag, ...rest] = args;
  if (rest.length > 0 || (flag !== undefined && !['--json', '--markdown', '--write-readme', '--eventbridge'].includes(flag))) {
    process.stderr.write('usage: controls [--json | --markdown | --write-readme | --eventbridge]\n');
    return 2;
  }
  if (flag === '--json') say(JSON.stringify(catalogRows(), null, 2));
  else if (flag === '--eventbridge') for (const p of eventBridgePatterns()) say(JSON.stringify(p));
  else if (flag === '--markdown') say(catalogMarkdown());
  else if (flag === '--write-readme') {
    const { readFile, writeFile } = await import('node:fs/promises');
    await writeFile('README.md', withCatalog(await readFile('README.md', 'utf8')));
    say('README.md: catalog table updated');
  } else say(catalogText());
  return 0;
}

async function policyCommand(args: readonly string[]): Promise<number> {
  const [sub, file, ...rest] = args;
  if (sub === 'schema' && rest.length === 0 && (file === undefined || file === '--write')) {
    const text = policySchemaText();
    if (file === '--write') {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(POLICY_SCHEMA_PATH, text);
      say(`${POLICY_SCHEMA_PATH}: written`);
    } else process.stdout.write(text);
    return 0;
  }
  if (sub !== 'validate' || rest.length > 0) {
    process.stderr.write('usage: policy validate [FILE] | policy schema [--write]\n');
    return 2;
  }
  const path = file ?? loadConfig().policyFile ?? DEFAULT_POLICY_PATH;
  const policy = await loadPolicyFile(path);
  say(`${path}: valid (sha256 ${policy.hash})`);
  for (const [id, c] of Object.entries(policy.controls)) {
    const when = Object.entries(c.requireApprovalWhenTagged).map(([k, v]) => `${k}=${v.join('|')}`);
    const ladder = c.escalation;
    say(
      `  ${id}: mode ${c.mode}${when.length ? `, approval when tagged ${when.join(', ')}` : ''}; ladder ${[
        ladder.remindAfterMs ? `remind ${formatDuration(ladder.remindAfterMs)}` : '',
        ladder.escalateAfterMs ? `escalate ${formatDuration(ladder.escalateAfterMs)}` : '',
        `${ladder.timeoutAction} at ${formatDuration(ladder.timeoutAfterMs)}`,
      ]
        .filter(Boolean)
        .join(', ')}; max ${c.guardrails.maxAutoFixesPerHour} automatic fixes/hour, flap at ${c.guardrails.flap.maxFixes} in ${formatDuration(c.guardrails.flap.windowMs)}`,
    );
  }
  for (const w of policyWarnings(policy)) say(`  warning: ${w}`);
  return 0;
}

/** `--as NAME` (a name anyone could type) is gone: the operator's key names them. */
const AS_REMOVED = `--as is no longer accepted: CLI decisions are signed with your key (RECTIFY_OPERATOR_KEY_FILE), and the policy's approvers.keys gives the name they are recorded under. See: npm run cli -- keys show`;

async function main(argv: readonly string[]): Promise<number> {
  const [command = 'up', ...rest] = argv;
  // Controls of one's own (CONTROL_MODULES), before any policy that may name them is read.
  await loadControlModules(controlModulesOf());
  if (['approve', 'reject', 'undo'].includes(command) && rest.some((a) => a === '--as' || a.startsWith('--as='))) {
    process.stderr.write(`${AS_REMOVED}\n`);
    return 2;
  }
  switch (command) {
    case 'up':
      return up(rest);
    case '--no-demo':
    case '--once':
      return up(argv);
    case 'approvals':
      return approvalsCommand(rest);
    case 'held':
      return heldCommand(rest);
    case 'approve':
    case 'reject':
      return decideCommand(command, rest);
    case 'policy':
      return policyCommand(rest);
    case 'controls':
      return controlsCommand(rest);
    case 'evidence':
      return (await import('./evidence.js')).evidenceCommand(rest, withClient);
    case 'undo':
      return undoCommand(rest);
    case 'keys':
      return keysCommand(rest, loadConfig().policyFile, say);
    case 'schedule':
      return scheduleCommand(rest);
    case 'scan':
      if (rest[0] === 'show' && rest.length === 1) return withClient(showLatestScan);
      if (rest[0] !== 'now' || rest.length > 1) {
        process.stderr.write('usage: scan now | scan show\n');
        return 2;
      }
      await withClient((client) => scanScheduleCommand(client, 'trigger'));
      say(`scan started (schedule ${SCAN_SCHEDULE_ID}); follow it in the Temporal UI: WorkflowType = "${loadConfig().scan.accounts ? 'scanOrganization' : 'scanAccount'}"`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      say(USAGE);
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof InvalidInputError) {
      process.stderr.write(`${err.message.split(': ')[0]}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    } else {
      process.stderr.write(`${(err as Error).message}\n`);
    }
    process.exit(1);
  },
);
