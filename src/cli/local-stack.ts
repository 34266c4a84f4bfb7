import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createAwsClients, type AwsClients } from '../activities/aws.js';
import { loadConfig, type Config } from '../config.js';
import { withPayloadCodec } from '../codec/encryption.js';
import { plainTemporalEnv } from '../temporal-connection.js';
import type { Logger } from '../log.js';
import { ensureMoto, startMoto, type MotoServer } from '../stack/moto.js';
import { portOrFree } from '../stack/process.js';
import { ensureTemporalCli, startDevServer, type DevServer } from '../stack/temporal.js';
import { slackClient, startTriggerServer, type TriggerServer } from '../triggers/server.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { bundleWorkflowsApart, createWorker } from '../worker/create-worker.js';
import { ensureSearchAttributes } from '../worker/search-attributes.js';
import { generateEvidenceKeyPem, loadEvidenceKey } from '../evidence/signing.js';
import { generateDecisionKeyPem, loadDecisionKey } from '../decisions/sign.js';
import { withDecisionKeys } from '../policy/keys.js';
import { LOCAL_OPERATOR, LOCAL_OPERATOR_KEY, LOCAL_POLICY, LOCAL_RELAY } from './keys.js';

export interface LocalStack {
  readonly config: Config;
  readonly temporal: DevServer;
  readonly moto: MotoServer;
  readonly trigger: TriggerServer;
  readonly client: Client;
  readonly aws: AwsClients;
  /** The webhook token (kept in `<dataDir>/webhook-token`, never printed). */
  readonly webhookToken: string;
  readonly policy: Policy;
  /** The effective policy the stack runs with: the chosen one plus the local keys (its hash is the one recorded). */
  readonly policyPath: string;
  /** The policy file chosen (POLICY_FILE or the shipped default) that the effective one was made from. */
  readonly sourcePolicyPath: string;
  /** The local operator's key (CLI decisions, as `local-operator`) and the trigger server's decision relay key. */
  readonly operatorKeyFile: string;
  readonly operatorKeyId: string;
  readonly relayKeyFile: string;
  readonly relayKeyId: string;
  readonly evidenceKeyId: string;
  readonly evidenceKeyFile: string;
  readonly tokenFile: string;
  /** Resolves when the worker stops. */
  readonly workerDone: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The embedded local stack: Temporal dev server (SQLite in `dataDir`, Web UI), moto, the
 * remediation worker and the trigger server, all on this machine. Preferred ports come from
 * the environment (7233/8233/5000/3000); busy ones are replaced by free ones.
 */
export async function startLocalStack(o: { dataDir: string; say: (line: string) => void; logger: Logger; env?: NodeJS.ProcessEnv }): Promise<LocalStack> {
  // The embedded dev server is plain: TLS, API key and profile settings (meant for another Temporal) are left out.
  const env = plainTemporalEnv(o.env ?? process.env);
  const base = loadConfig(env);
  const sourcePolicyPath = base.policyFile ?? DEFAULT_POLICY_PATH;
  // Checked as written first, so its own problems are reported against its own path.
  await loadPolicyFile(sourcePolicyPath);
  await mkdir(o.dataDir, { recursive: true });

  // Decisions are accepted only signed: a key for the local operator (the CLI) and one for the
  // trigger server (Slack clicks), made once, and an effective policy that trusts both.
  const operatorKeyFile = join(o.dataDir, LOCAL_OPERATOR_KEY);
  const operatorKey = loadDecisionKey(await readOrCreateSecret(operatorKeyFile, generateDecisionKeyPem, (s) => s.includes('PRIVATE KEY')), 'the local operator key');
  const relayKeyFile = env['DECISION_SIGNING_KEY_FILE'] || join(o.dataDir, 'decision-relay-key.pem');
  const relayKey = env['DECISION_SIGNING_KEY_FILE']
    ? loadDecisionKey(relayKeyFile, 'DECISION_SIGNING_KEY_FILE')
    : loadDecisionKey(await readOrCreateSecret(relayKeyFile, generateDecisionKeyPem, (s) => s.includes('PRIVATE KEY')), 'the local decision relay key');
  const policyPath = join(o.dataDir, LOCAL_POLICY);
  const effective = withDecisionKeys(
    await readFile(sourcePolicyPath, 'utf8'),
    { operators: [{ name: LOCAL_OPERATOR, publicKey: operatorKey.publicKey }], relays: [{ name: LOCAL_RELAY, publicKey: relayKey.publicKey }] },
    `# Written by \`npm start\` from ${sourcePolicyPath}, with the local operator's key (approvers.keys) and the local\n# trigger server's decision relay key (decisionRelays) added. Edit that file, not this one: it is rewritten at every start.`,
  );
  await writeFile(policyPath, effective, 'utf8');
  const policy = await loadPolicyFile(policyPath);

  o.say('checking tools (the first run builds the Temporal CLI and installs moto; later runs reuse them)...');
  const [temporalBin, motoBin] = await Promise.all([ensureTemporalCli(o.say), ensureMoto(o.say)]);

  const wantedTemporal = Number(base.temporal.address.split(':')[1]);
  const ports = {
    temporal: await portOrFree(wantedTemporal),
    ui: await portOrFree(base.local.temporalUiPort),
    moto: await portOrFree(base.local.motoPort),
    http: await portOrFree(base.http.port),
  };
  o.say('starting the Temporal dev server and the AWS emulator...');
  const [temporal, moto] = await Promise.all([
    startDevServer({ binary: temporalBin, port: ports.temporal, uiPort: ports.ui, dbFile: join(o.dataDir, 'temporal.db'), logFile: join(o.dataDir, 'temporal.log') }),
    startMoto({ binary: motoBin, port: ports.moto, logFile: join(o.dataDir, 'moto.log') }),
  ]);

  const tokenFile = join(o.dataDir, 'webhook-token');
  const webhookToken = env['WEBHOOK_TOKEN'] || (await readOrCreateSecret(tokenFile, () => randomBytes(24).toString('hex'), (s) => s.length >= 16));
  const config = loadConfig({
    // moto does not implement BatchUpdateFindings: no write-back on the local stack unless asked for.
    SECURITYHUB_WRITEBACK: 'off',
    ...env,
    TEMPORAL_ADDRESS: temporal.address,
    AWS_ENDPOINT_URL: moto.endpoint,
    PORT: String(ports.http),
    WEBHOOK_TOKEN: webhookToken,
    POLICY_FILE: policyPath,
    DECISION_SIGNING_KEY_FILE: relayKeyFile,
  });

  const evidenceKeyFile = join(o.dataDir, 'evidence-key.pem');
  const evidenceKey = loadEvidenceKey(config.evidence.signingKeyPem ?? (await readOrCreateSecret(evidenceKeyFile, generateEvidenceKeyPem, (s) => s.includes('PRIVATE KEY'))));
  const aws = createAwsClients(config.aws, config.securityHub.endpointUrl ? { securityHubEndpoint: config.securityHub.endpointUrl } : {});
  // Plain (see plainTemporalEnv above), through the same options as every other connection.
  const connection = await Connection.connect(config.temporal.connection.options());
  // A database from an older version may lack newer attributes; the dev server's flags add them only when it creates one.
  await ensureSearchAttributes(connection, config.temporal.namespace, o.logger);
  // Payloads are encrypted only when PAYLOAD_ENCRYPTION_KEYS (or _FILE) is set: off by default here too.
  const payloadCodec = withPayloadCodec(config.payloadEncryption);
  const client = new Client({ connection, namespace: config.temporal.namespace, ...payloadCodec });
  const nativeConnection = await NativeConnection.connect(config.temporal.connection.options());
  const slack = slackClient(config);
  const workflowBundle = await bundleWorkflowsApart();
  const worker: Worker = await createWorker({ connection: nativeConnection, workflowBundle, client, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue, aws, policy, verifyDeadlineMs: config.remediation.verifyDeadlineMs, securityHubWriteBack: config.securityHub.writeBack, evidenceKey, tuning: config.worker, ...payloadCodec, ...(slack ? { slack } : {}) });
  await rm(workflowBundle.codePath, { force: true });
  const workerDone = worker.run();
  const trigger = await startTriggerServer(config, client, o.logger, policy);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await trigger.close();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerDone.catch(() => undefined);
      await nativeConnection.close();
      await connection.close();
      aws.destroy();
      await Promise.all([temporal.stop(), moto.stop()]);
    })());

  return {
    config,
    temporal,
    moto,
    trigger,
    client,
    aws,
    webhookToken,
    tokenFile,
    policy,
    policyPath,
    sourcePolicyPath,
    operatorKeyFile,
    operatorKeyId: operatorKey.keyId,
    relayKeyFile,
    relayKeyId: relayKey.keyId,
    evidenceKeyId: evidenceKey.keyId,
    evidenceKeyFile,
    workerDone,
    stop,
  };
}

/** A secret kept in a 0600 file: read it, or create it once. */
async function readOrCreateSecret(file: string, make: () => string, valid: (s: string) => boolean): Promise<string> {
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (valid(existing)) return existing;
  const secret = make().trim();
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return secret;
}
