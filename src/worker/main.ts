import { loadControlModules } from '../activities/controls/index.js';
import { rm } from 'node:fs/promises';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { workerLogger } from './logging.js';
import { generateEvidenceKeyPem, loadEvidenceKey } from '../evidence/signing.js';
import { createAwsClients, roleSessionName } from '../activities/aws.js';
import { loadConfig } from '../config.js';
import { describePayloadEncryption, withPayloadCodec } from '../codec/encryption.js';
import { InvalidInputError } from '../errors.js';
import { createLogger } from '../log.js';
import { explainConnectFailure, TemporalConnectionError } from '../temporal-connection.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile, policyWarnings } from '../policy/load.js';
import { slackClient } from '../triggers/server.js';
import { bundleWorkflowsApart, createWorker } from './create-worker.js';
import { ensureSearchAttributes } from './search-attributes.js';

/** The remediation worker: check config and policy, connect, register search attributes, run until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const logger = createLogger('worker');
  const config = loadConfig();
  // Controls of one's own, before the policy that may name them.
  await loadControlModules(config.controlModules);
  // The policy travels in each workflow's input (from the trigger); the worker refuses a bad file all the same.
  const policyPath = config.policyFile ?? DEFAULT_POLICY_PATH;
  const policy = await loadPolicyFile(policyPath);
  for (const w of policyWarnings(policy)) logger.warn('policy', { warning: w });

  // Before any connection: the Prometheus endpoint serves the SDK's metrics and the product's.
  Runtime.install({
    logger: workerLogger('INFO'),
    ...(config.metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } } : {}),
  });
  const evidenceKey = loadEvidenceKey(config.evidence.signingKeyPem ?? generateEvidenceKeyPem());
  if (!config.evidence.signingKeyPem) {
    logger.warn('no EVIDENCE_SIGNING_KEY_FILE: evidence is signed with a key generated for this process only; set one to keep verifying across restarts', { keyId: evidenceKey.keyId });
  }
  // One connection, the SDK's native one, for polling and for the client calls activities make
  // (the budget count, the digest): no second gRPC stack in JavaScript.
  // TLS, mTLS or an API key as the environment / profile says (src/temporal-connection.ts).
  const temporal = config.temporal.connection;
  const native = await NativeConnection.connect(temporal.options()).catch(async (err: unknown) => {
    throw await explainConnectFailure(temporal, err);
  });
  await ensureSearchAttributes(native, config.temporal.namespace, logger);
  // Payloads encrypted with the configured keys (src/codec/encryption.ts), for the worker and the client its activities use alike.
  const payloadCodec = withPayloadCodec(config.payloadEncryption);
  const client = new Client({ connection: native, namespace: config.temporal.namespace, ...payloadCodec });
  // Member roles are assumed as "rectify-<task queue>": the member account's CloudTrail names the product and the deployment.
  const aws = createAwsClients(config.aws, {
    roleSessionName: roleSessionName(config.temporal.taskQueue),
    ...(config.securityHub.endpointUrl ? { securityHubEndpoint: config.securityHub.endpointUrl } : {}),
  });
  const slack = slackClient(config);
  try {
    const workflowBundle = await bundleWorkflowsApart();
    const worker = await createWorker({ connection: native, workflowBundle, client, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue, aws, policy, verifyDeadlineMs: config.remediation.verifyDeadlineMs, securityHubWriteBack: config.securityHub.writeBack, evidenceKey, tuning: config.worker, ...payloadCodec, ...(slack ? { slack } : {}),
      ...(config.evidence.archiveBucket
        ? { evidenceArchive: { bucket: config.evidence.archiveBucket, prefix: config.evidence.archivePrefix, retentionDays: config.evidence.retentionDays, region: config.aws.region } }
        : {}),
    });
    await rm(workflowBundle.codePath, { force: true });
    logger.info('worker running', {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      temporal: temporal.address,
      tls: temporal.tls,
      ...(temporal.profile ? { temporalProfile: temporal.profile } : {}),
      aws: config.aws.endpointUrl ?? 'aws',
      accounts: config.aws.memberRole ? `member role ${config.aws.memberRole.arnTemplate}${config.aws.memberRole.externalId ? ' (with external id)' : ''}` : 'this worker\'s credentials only',
      slack: slack ? 'on' : 'off (approvals from the CLI)',
      policy: policyPath,
      policyHash: policy.hash,
      evidenceKeyId: evidenceKey.keyId,
      payloadEncryption: describePayloadEncryption(config.payloadEncryption),
      metrics: config.metricsAddress ? `http://${config.metricsAddress}/metrics` : 'off',
    });
    await worker.run();
  } finally {
    aws.destroy();
    await native.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof InvalidInputError) {
    process.stderr.write(`worker not started, ${err.message.split(': ')[0]}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  } else if (err instanceof TemporalConnectionError) {
    process.stderr.write(`worker not started: ${err.message}\n`);
  } else {
    process.stderr.write(`worker failed: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
