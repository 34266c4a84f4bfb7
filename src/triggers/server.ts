import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import { WebClient } from '@slack/web-api';
import type { Policy } from '../policy/types.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createApp } from './http/app.js';
import { createSubmitter } from './submit.js';
import { createClickHandler } from './slack-clicks.js';
import { loadDecisionKey, publicKeyLine, type DecisionKey } from '../decisions/sign.js';

export interface TriggerServer {
  readonly url: string;
  close(): Promise<void>;
}

/** A Slack Web API client from the configuration; undefined when no bot token is set. */
export function slackClient(config: Config): WebClient | undefined {
  if (!config.slack.botToken) return undefined;
  return new WebClient(config.slack.botToken, { slackApiUrl: config.slack.apiUrl, retryConfig: { retries: 0 } });
}

/**
 * The decision relay key that signs the decisions of Slack clicks, when clicks are accepted
 * (SLACK_SIGNING_SECRET). Throws when there is none, or when the policy does not list it under
 * `decisionRelays`: every Slack decision would then be refused by the workflows, so it is better
 * not to start, and say what to do.
 */
export function decisionRelayKey(config: Config, policy: Policy): DecisionKey | undefined {
  if (!config.slack.signingSecret) return undefined;
  if (!config.slack.decisionSigningKeyPem) {
    throw new Error(
      'DECISION_SIGNING_KEY_FILE is not set: with SLACK_SIGNING_SECRET the trigger server signs every Slack decision it relays, and the workflows accept only signed ones. ' +
        'Make a key with `npm run cli -- keys new --relay --out decision-relay-key.pem`, set DECISION_SIGNING_KEY_FILE to it, and list its public key under decisionRelays in the policy',
    );
  }
  const key = loadDecisionKey(config.slack.decisionSigningKeyPem, 'DECISION_SIGNING_KEY_FILE');
  if (!(policy.decisionRelays ?? []).some((r) => r.keyId === key.keyId)) {
    throw new Error(
      `the decision relay key of DECISION_SIGNING_KEY_FILE (key id ${key.keyId}) is not listed under decisionRelays in the policy (sha256 ${policy.hash.slice(0, 12)}...): every Slack decision would be refused. Add:\ndecisionRelays:\n  - ${publicKeyLine(key, 'trigger-server')}`,
    );
  }
  return key;
}

/** Serves the trigger HTTP API with `client`; resolves once it listens. */
export async function startTriggerServer(config: Config, client: Client, logger: Logger, policy: Policy): Promise<TriggerServer> {
  const token = config.http.webhookToken;
  if (!token) throw new Error('WEBHOOK_TOKEN is not set: the trigger server does not accept unauthenticated events');
  const relayKey = decisionRelayKey(config, policy);
  const app = createApp({
    submitter: createSubmitter(client, { taskQueue: config.temporal.taskQueue, verifyDeadlineMs: config.remediation.verifyDeadlineMs, policy }),
    ...(config.slack.signingSecret && relayKey
      ? { slack: { signingSecret: config.slack.signingSecret, onClick: createClickHandler(client, slackClient(config), logger, { relayKey, policy, taskQueue: config.temporal.taskQueue }) } }
      : {}),
    webhookToken: token,
    // The codec server needs the keys: a token without them is refused by loadConfig.
    ...(config.http.codecServer && config.payloadEncryption
      ? { codec: { codec: config.payloadEncryption.codec, ...config.http.codecServer } }
      : {}),
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger,
    temporalHealthy: async () => {
      await client.connection.withDeadline(Date.now() + 2000, () => client.workflowService.getSystemInfo({}));
      return true;
    },
  });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.http.host, port: config.http.port }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
