import { readFileSync } from 'node:fs';
import { InvalidInputError } from './errors.js';
import { loadDecisionKey } from './decisions/sign.js';
import { parseDuration } from './policy/load.js';
import { resolveTemporalConnection, TEMPORAL_CONNECTION_ENV_VARS, TEMPORAL_DEFAULTS, type TemporalConnection } from './temporal-connection.js';
import { CODEC_SERVER_ENV_VARS, resolveCodecServer, type CodecServerConfig } from './codec/config.js';
import { PAYLOAD_ENCRYPTION_ENV_VARS, resolvePayloadEncryption, type PayloadEncryption } from './codec/encryption.js';

/** Everything the worker, the trigger server and the CLI read from the environment, parsed once. */
export interface Config {
  readonly temporal: {
    readonly address: string;
    readonly namespace: string;
    readonly taskQueue: string;
    /**
     * How to connect (TLS, mTLS, API key), from the TEMPORAL_* variables and the profile file of
     * @temporalio/envconfig; `connection.options()` feeds NativeConnection and Connection alike.
     */
    readonly connection: TemporalConnection;
  };
  readonly aws: {
    /** Region for clients when a finding names none. */
    readonly region: string;
    /** Override of every AWS endpoint (an emulator); undefined means real AWS. */
    readonly endpointUrl: string | undefined;
    /**
     * Fixed dummy credentials for an emulator endpoint when the environment has none;
     * undefined means the SDK's default credential chain.
     */
    readonly emulatorCredentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
    /**
     * The role every AWS call for a finding of account X is made with (hub and spoke): the ARN
     * template with `{account}`, and the external id its trust policy requires. Undefined: the
     * worker's own credentials serve every finding (one account).
     */
    readonly memberRole?: { readonly arnTemplate: string; readonly externalId?: string | undefined } | undefined;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Shared secret EventBridge (or any sender) presents as `Authorization: Bearer` or `x-api-key`. */
    readonly webhookToken: string | undefined;
    readonly bodyLimitBytes: number;
    /**
     * The codec server for the Temporal Web UI and CLI (`POST /codec/encode`, `/codec/decode`):
     * its token, the Web UI origins it answers CORS requests from, browser sessions and OIDC.
     * Undefined: not served (404).
     */
    readonly codecServer: CodecServerConfig | undefined;
  };
  /**
   * Payloads (workflow inputs and results, activity results, signals, memos...) encrypted at rest in
   * Temporal with AES-256-GCM; undefined: not encrypted. Every Client and the Worker take
   * `withPayloadCodec(payloadEncryption)` (src/codec/encryption.ts). The keys stay inside the
   * codec: this object serializes and logs as key ids only.
   */
  readonly payloadEncryption: PayloadEncryption | undefined;
  /** Path of the policy file; undefined means the shipped default (policy/default.yaml). */
  readonly policyFile: string | undefined;
  /** Modules of controls of one's own (CONTROL_MODULES), registered before the policy is read. */
  readonly controlModules: readonly string[];
  readonly slack: {
    /** Bot token (xoxb-...); undefined disables Slack (approvals from the CLI only). */
    readonly botToken: string | undefined;
    /** Signing secret that authenticates Slack's interaction requests; required to accept clicks. */
    readonly signingSecret: string | undefined;
    /** Base URL of the Slack Web API (ends with /api/). */
    readonly apiUrl: string;
    /**
     * The trigger server's decision relay key (Ed25519, PKCS#8 PEM, from DECISION_SIGNING_KEY_FILE):
     * it signs every decision it relays from a verified Slack click, and the workflows accept Slack
     * decisions only with a signature of a relay the policy lists (`decisionRelays`). Required
     * with SLACK_SIGNING_SECRET by the trigger server.
     */
    readonly decisionSigningKeyPem: string | undefined;
  };
  readonly securityHub: {
    /** Update Security Hub findings (BatchUpdateFindings) with what became of them. */
    readonly writeBack: boolean;
    /** Endpoint for Security Hub calls only; default: AWS_ENDPOINT_URL, else AWS. */
    readonly endpointUrl: string | undefined;
  };
  readonly scan: {
    readonly intervalMs: number;
    readonly catchupWindowMs: number;
    readonly regions: readonly string[];
    /** Accounts the scan covers: undefined = the worker's own; `organization` = every active account of the AWS Organization. */
    readonly accounts: readonly string[] | 'organization' | undefined;
  };
  readonly evidence: {
    /** Ed25519 private key (PKCS#8 PEM) that signs evidence records, from EVIDENCE_SIGNING_KEY or the file EVIDENCE_SIGNING_KEY_FILE. */
    readonly signingKeyPem: string | undefined;
    /** Also write every signed record to this S3 bucket (Object Lock retention when the bucket has it). */
    readonly archiveBucket: string | undefined;
    readonly archivePrefix: string;
    readonly retentionDays: number;
  };
  /** host:port of the worker's Prometheus endpoint; undefined disables it. */
  readonly metricsAddress: string | undefined;
  /** Ports of the embedded local stack (`npm start`); busy ones are replaced by free ones. */
  readonly local: {
    readonly temporalUiPort: number;
    readonly motoPort: number;
  };
  readonly remediation: {
    /** How long verification keeps re-reading a fixed resource before declaring the fix failed, in ms. */
    readonly verifyDeadlineMs: number;
  };
  /** How much one worker process takes on at once. */
  readonly worker: {
    /** Workflows kept in memory between their tasks; the rest are replayed from history when they wake. */
    readonly cachedWorkflows: number;
    /** Workflow tasks run at once. */
    readonly workflowSlots: number;
    /** Activities (the fixes) and local activities (reads, Slack, signing) run at once, each. */
    readonly activitySlots: number;
  };
}

export const DEFAULTS = Object.freeze({
  temporalAddress: TEMPORAL_DEFAULTS.address,
  temporalNamespace: TEMPORAL_DEFAULTS.namespace,
  taskQueue: 'remediation',
  awsRegion: 'us-east-1',
  httpHost: '127.0.0.1',
  httpPort: 3000,
  temporalUiPort: 8233,
  motoPort: 5000,
  /** EventBridge events are at most 256 KiB; leave room for batched generic findings. */
  bodyLimitBytes: 1024 * 1024,
  verifyDeadlineMs: 120_000,
  /** About 0.5 MB each: a few hundred keep the worker small however many remediations wait. */
  workerCachedWorkflows: 150,
  workerWorkflowSlots: 20,
  workerActivitySlots: 40,
});

/** `arn:<partition>:iam::{account}:role/<path/name>`: the member role's ARN, the account left open. */
const MEMBER_ROLE_ARN_PATTERN = /^arn:aws(-[a-z]+)*:iam::\{account\}:role\/[\w+=,.@/-]{1,512}$/;

/** The environment variables read, with their meaning; the README's configuration table mirrors this. */
export const ENV_VARS = Object.freeze({
  TEMPORAL_ADDRESS: `Temporal frontend host:port (default ${DEFAULTS.temporalAddress}, or the profile's)`,
  TEMPORAL_NAMESPACE: `Temporal namespace (default ${DEFAULTS.temporalNamespace}, or the profile's)`,
  ...TEMPORAL_CONNECTION_ENV_VARS,
  TEMPORAL_TASK_QUEUE: `task queue of the remediation worker (default ${DEFAULTS.taskQueue})`,
  AWS_REGION: `default AWS region (default ${DEFAULTS.awsRegion})`,
  AWS_ENDPOINT_URL: 'send every AWS call to this endpoint (an emulator such as moto); unset for real AWS',
  MEMBER_ROLE_ARN: 'role to assume in the finding\'s account for every AWS call made for it, with {account}, e.g. arn:aws:iam::{account}:role/rectify-remediator; unset: the worker\'s own credentials (one account)',
  MEMBER_ROLE_EXTERNAL_ID: 'external id the member role\'s trust policy requires (sts:ExternalId)',
  HOST: `trigger server bind address (default ${DEFAULTS.httpHost})`,
  PORT: `trigger server port (default ${DEFAULTS.httpPort})`,
  WEBHOOK_TOKEN: 'shared secret webhook senders present (Authorization: Bearer or x-api-key); at least 16 characters',
  BODY_LIMIT_BYTES: `largest accepted request body (default ${DEFAULTS.bodyLimitBytes})`,
  ...PAYLOAD_ENCRYPTION_ENV_VARS,
  ...CODEC_SERVER_ENV_VARS,
  POLICY_FILE: 'path of the policy file (default: policy/default.yaml)',
  CONTROL_MODULES: 'comma-separated modules (paths or package names) that each export controls of your own to register beside the built-in ones (docs/controls.md); give every worker, trigger server and CLI the same list',
  SLACK_BOT_TOKEN: 'Slack bot token (xoxb-...); unset: no Slack, approvals from the CLI',
  SLACK_SIGNING_SECRET: 'Slack signing secret; needed to accept Approve/Reject clicks on /slack/interactions',
  SLACK_API_URL: 'Slack Web API base URL (default https://slack.com/api/)',
  DECISION_SIGNING_KEY_FILE: 'trigger server: file with the Ed25519 private key (PKCS#8 PEM) that signs the decisions it relays from Slack clicks; its public key goes under decisionRelays in the policy; required with SLACK_SIGNING_SECRET',
  SECURITYHUB_WRITEBACK: 'on (default) or off: update Security Hub findings with the outcome',
  SECURITYHUB_ENDPOINT_URL: 'endpoint for Security Hub calls only (default: AWS_ENDPOINT_URL)',
  SCAN_INTERVAL: 'how often the scheduled scan runs (default 6h)',
  SCAN_REGIONS: 'comma-separated regions the scan covers (default: AWS_REGION)',
  SCAN_ACCOUNTS: 'accounts the scan covers: comma-separated account ids, or organization for every active account of the AWS Organization (default: the worker\'s own account)',
  SCAN_CATCHUP_WINDOW: 'missed scans within this window run after an outage (default 1h)',
  EVIDENCE_SIGNING_KEY_FILE: 'file with the Ed25519 private key (PKCS#8 PEM) that signs evidence records',
  EVIDENCE_SIGNING_KEY: 'the same key inline (PEM); prefer the file',
  EVIDENCE_BUCKET: 'also archive every signed evidence record to this S3 bucket (one object per record)',
  EVIDENCE_BUCKET_PREFIX: 'key prefix in the evidence bucket (default rectify/)',
  EVIDENCE_RETENTION_DAYS: 'Object Lock retention of archived records, when the bucket has Object Lock (default 2555)',
  METRICS_ADDRESS: 'worker Prometheus endpoint host:port (e.g. 0.0.0.0:9464); unset: off',
  TEMPORAL_UI_PORT: `local stack: Temporal Web UI port (default ${DEFAULTS.temporalUiPort})`,
  MOTO_PORT: `local stack: AWS emulator port (default ${DEFAULTS.motoPort})`,
  VERIFY_DEADLINE_SECONDS: `how long verification re-reads a fixed resource (default ${DEFAULTS.verifyDeadlineMs / 1000})`,
  WORKER_CACHED_WORKFLOWS: `workflows a worker keeps in memory; waiting ones beyond it are replayed when they wake (default ${DEFAULTS.workerCachedWorkflows})`,
  WORKER_WORKFLOW_SLOTS: `workflow tasks a worker runs at once (default ${DEFAULTS.workerWorkflowSlots})`,
  WORKER_ACTIVITY_SLOTS: `activities, and local activities, a worker runs at once, each (default ${DEFAULTS.workerActivitySlots})`,
});

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses the environment. Throws `InvalidInputError` listing every problem at once;
 * returns a deeply frozen object otherwise.
 */
/** CONTROL_MODULES as a list (the CLI reads it before it needs the rest of the configuration). */
export function controlModulesOf(env: Env = process.env): string[] {
  return (env['CONTROL_MODULES'] ?? '').split(',').map((m) => m.trim()).filter(Boolean);
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string, fallback: string): string => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    return v.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };

  // Address, namespace, TLS and API key: the environment over the profile file, as for the temporal CLI.
  const temporal = resolveTemporalConnection(env);
  problems.push(...temporal.problems);

  const endpointRaw = env['AWS_ENDPOINT_URL'];
  let endpointUrl: string | undefined;
  if (endpointRaw !== undefined && endpointRaw !== '') {
    try {
      const u = new URL(endpointRaw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      endpointUrl = endpointRaw.replace(/\/+$/, '');
    } catch {
      problems.push(`AWS_ENDPOINT_URL must be an http(s) URL, got "${endpointRaw}"`);
    }
  }

  const region = str('AWS_REGION', env['AWS_DEFAULT_REGION'] || DEFAULTS.awsRegion);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) problems.push(`AWS_REGION must look like us-east-1, got "${region}"`);

  const roleTemplate = env['MEMBER_ROLE_ARN'] || undefined;
  if (roleTemplate !== undefined && !MEMBER_ROLE_ARN_PATTERN.test(roleTemplate)) {
    problems.push(`MEMBER_ROLE_ARN must be a role ARN with {account} for the account id, like arn:aws:iam::{account}:role/rectify-remediator, got "${roleTemplate}"`);
  }
  const externalId = env['MEMBER_ROLE_EXTERNAL_ID'] || undefined;
  // The value is never echoed: an external id is a shared secret between the hub and the members.
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) problems.push('MEMBER_ROLE_EXTERNAL_ID must be 2-1224 characters of letters, digits and +=,.@:/-');
  if (externalId !== undefined && roleTemplate === undefined) problems.push('MEMBER_ROLE_EXTERNAL_ID is set but MEMBER_ROLE_ARN is not');

  const token = env['WEBHOOK_TOKEN'];
  if (token !== undefined && token !== '' && token.length < 16) {
    problems.push('WEBHOOK_TOKEN must be at least 16 characters');
  }

  // Payload encryption keys: never echoed, in a problem or anywhere else.
  const encryption = resolvePayloadEncryption(env);
  problems.push(...encryption.problems);
  const codec = resolveCodecServer(env, token);
  problems.push(...codec.problems);

  const slackApiUrl = str('SLACK_API_URL', 'https://slack.com/api/');
  try {
    const u = new URL(slackApiUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    problems.push(`SLACK_API_URL must be an http(s) URL, got "${slackApiUrl}"`);
  }
  const botToken = env['SLACK_BOT_TOKEN'] || undefined;
  if (botToken !== undefined && !/^xox[bpe]-/.test(botToken)) problems.push('SLACK_BOT_TOKEN must be a Slack token starting with xoxb-');
  const signingSecret = env['SLACK_SIGNING_SECRET'] || undefined;
  if (signingSecret !== undefined && signingSecret.length < 16) problems.push('SLACK_SIGNING_SECRET must be at least 16 characters');
  // Read and checked here, so a bad key stops the start with the other problems; its content is never echoed.
  let decisionSigningKeyPem: string | undefined;
  const decisionKeyFile = env['DECISION_SIGNING_KEY_FILE']?.trim() || undefined;
  if (decisionKeyFile !== undefined) {
    try {
      decisionSigningKeyPem = readFileSync(decisionKeyFile, 'utf8');
      loadDecisionKey(decisionSigningKeyPem, `DECISION_SIGNING_KEY_FILE (${decisionKeyFile})`);
    } catch (err) {
      decisionSigningKeyPem = undefined;
      problems.push((err as NodeJS.ErrnoException).code ? `DECISION_SIGNING_KEY_FILE: cannot read ${decisionKeyFile}` : (err as Error).message);
    }
  }

  const duration = (name: string, fallback: string): number => {
    const raw = str(name, fallback);
    const ms = parseDuration(raw);
    if (ms === undefined || ms <= 0) {
      problems.push(`${name} must be a duration like 6h or 30m, got "${raw}"`);
      return parseDuration(fallback)!;
    }
    return ms;
  };
  const scanRegions = str('SCAN_REGIONS', region).split(',').map((r) => r.trim()).filter(Boolean);
  // An invalid AWS_REGION is reported once, not again as the scan's default.
  if (env['SCAN_REGIONS']) for (const r of scanRegions) if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(r)) problems.push(`SCAN_REGIONS: "${r}" is not a region like us-east-1`);
  const scanAccountsRaw = (env['SCAN_ACCOUNTS'] ?? '').trim();
  let scanAccounts: readonly string[] | 'organization' | undefined;
  if (scanAccountsRaw.toLowerCase() === 'organization') scanAccounts = 'organization';
  else if (scanAccountsRaw !== '') {
    const ids = [...new Set(scanAccountsRaw.split(',').map((a) => a.trim()).filter(Boolean))];
    for (const a of ids) if (!/^\d{12}$/.test(a)) problems.push(`SCAN_ACCOUNTS: "${a}" is not an account id (12 digits); use a comma-separated list or "organization"`);
    scanAccounts = ids;
  }
  const writeBack = str('SECURITYHUB_WRITEBACK', 'on').toLowerCase();
  if (!['on', 'off', 'true', 'false'].includes(writeBack)) problems.push(`SECURITYHUB_WRITEBACK must be on or off, got "${writeBack}"`);

  let signingKeyPem = env['EVIDENCE_SIGNING_KEY'] || undefined;
  const keyFile = env['EVIDENCE_SIGNING_KEY_FILE'];
  if (keyFile) {
    try {
      signingKeyPem = readFileSync(keyFile, 'utf8');
    } catch {
      problems.push(`EVIDENCE_SIGNING_KEY_FILE: cannot read ${keyFile}`);
    }
  }
  if (signingKeyPem !== undefined && !/-----BEGIN PRIVATE KEY-----/.test(signingKeyPem)) problems.push('the evidence signing key must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)');
  const metricsAddress = env['METRICS_ADDRESS'] || undefined;
  if (metricsAddress !== undefined && !/^[^\s:/]+:\d{1,5}$/.test(metricsAddress)) problems.push(`METRICS_ADDRESS must be host:port, got "${metricsAddress}"`);

  const config: Config = {
    temporal: {
      address: temporal.connection.address,
      namespace: temporal.connection.namespace,
      taskQueue: str('TEMPORAL_TASK_QUEUE', DEFAULTS.taskQueue),
      connection: temporal.connection,
    },
    aws: {
      region,
      endpointUrl,
      emulatorCredentials:
        endpointUrl !== undefined && !env['AWS_ACCESS_KEY_ID'] && !env['AWS_PROFILE']
          ? { accessKeyId: 'emulator', secretAccessKey: 'emulator' }
          : undefined,
      memberRole: roleTemplate ? { arnTemplate: roleTemplate, externalId } : undefined,
    },
    http: {
      host: str('HOST', DEFAULTS.httpHost),
      port: int('PORT', DEFAULTS.httpPort, 0, 65535),
      webhookToken: token === '' ? undefined : token,
      bodyLimitBytes: int('BODY_LIMIT_BYTES', DEFAULTS.bodyLimitBytes, 1024, 64 * 1024 * 1024),
      codecServer: codec.codecServer,
    },
    payloadEncryption: encryption.encryption,
    policyFile: env['POLICY_FILE'] || undefined,
    controlModules: controlModulesOf(env),
    evidence: {
      signingKeyPem,
      archiveBucket: env['EVIDENCE_BUCKET'] || undefined,
      archivePrefix: str('EVIDENCE_BUCKET_PREFIX', 'rectify/'),
      retentionDays: int('EVIDENCE_RETENTION_DAYS', 2555, 1, 36_500),
    },
    metricsAddress,
    securityHub: { writeBack: writeBack === 'on' || writeBack === 'true', endpointUrl: env['SECURITYHUB_ENDPOINT_URL'] || endpointUrl },
    scan: { intervalMs: duration('SCAN_INTERVAL', '6h'), catchupWindowMs: duration('SCAN_CATCHUP_WINDOW', '1h'), regions: scanRegions, accounts: scanAccounts },
    slack: { botToken, signingSecret, apiUrl: slackApiUrl.endsWith('/') ? slackApiUrl : `${slackApiUrl}/`, decisionSigningKeyPem },
    local: {
      temporalUiPort: int('TEMPORAL_UI_PORT', DEFAULTS.temporalUiPort, 1, 65535),
      motoPort: int('MOTO_PORT', DEFAULTS.motoPort, 1, 65535),
    },
    remediation: {
      verifyDeadlineMs: int('VERIFY_DEADLINE_SECONDS', DEFAULTS.verifyDeadlineMs / 1000, 1, 86_400) * 1000,
    },
    worker: {
      cachedWorkflows: int('WORKER_CACHED_WORKFLOWS', DEFAULTS.workerCachedWorkflows, 0, 100_000),
      workflowSlots: int('WORKER_WORKFLOW_SLOTS', DEFAULTS.workerWorkflowSlots, 2, 1000),
      activitySlots: int('WORKER_ACTIVITY_SLOTS', DEFAULTS.workerActivitySlots, 1, 1000),
    },
  };
  if (problems.length > 0) throw new InvalidInputError('invalid configuration', problems);
  return deepFreeze(config);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
