import { loadControlModules } from '../activities/controls/index.js';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config.js';
import { describePayloadEncryption, withPayloadCodec } from '../codec/encryption.js';
import { InvalidInputError } from '../errors.js';
import { createLogger } from '../log.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile, policyWarnings } from '../policy/load.js';
import { decisionRelayKey, startTriggerServer } from './server.js';

/** The trigger server process: webhook API in front of Temporal. */
async function main(): Promise<void> {
  const logger = createLogger('triggers');
  const config = loadConfig();
  // Controls of one's own, before the policy that may name them.
  await loadControlModules(config.controlModules);
  const policyPath = config.policyFile ?? DEFAULT_POLICY_PATH;
  const policy = await loadPolicyFile(policyPath);
  for (const w of policyWarnings(policy)) logger.warn('policy', { warning: w });
  // Lazy: the server starts (and /healthz says "unreachable") even while Temporal is still coming up.
  // TLS, mTLS or an API key as the environment / profile says (src/temporal-connection.ts).
  const connection = Connection.lazy(config.temporal.connection.options());
  // Payloads encrypted with the configured keys (src/codec/encryption.ts), as the worker's.
  const client = new Client({ connection, namespace: config.temporal.namespace, ...withPayloadCodec(config.payloadEncryption) });
  const server = await startTriggerServer(config, client, logger, policy);
  logger.info('trigger server listening', {
    url: server.url,
    temporal: config.temporal.address,
    namespace: config.temporal.namespace,
    tls: config.temporal.connection.tls,
    ...(config.temporal.connection.profile ? { temporalProfile: config.temporal.connection.profile } : {}),
    policy: policyPath,
    policyHash: policy.hash,
    slackInteractions: config.slack.signingSecret ? `on (decisions signed with relay key ${decisionRelayKey(config, policy)?.keyId ?? ''})` : 'off',
    payloadEncryption: describePayloadEncryption(config.payloadEncryption),
    codecServer: config.http.codecServer ? `${server.url}/codec${config.http.codecServer.corsOrigins.length ? ` (CORS: ${config.http.codecServer.corsOrigins.join(', ')})` : ''}` : 'off',
  });
  const stop = async () => {
    await server.close();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  if (err instanceof InvalidInputError) {
    process.stderr.write(`trigger server not started, ${err.message.split(': ')[0]}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  } else {
    process.stderr.write(`trigger server failed: ${(err as Error).message}\n`);
  }
  process.exit(1);
});
