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

export interface TriggerServer {
  readonly url: string;
  close(): Promise<void>;
}

/** A Slack Web API client from the configuration; undefined when no bot token is set. */
export function slackClient(config: Config): WebClient | undefined {
  if (!config.slack.botToken) return undefined;
  return new WebClient(config.slack.botToken, { slackApiUrl: config.slack.apiUrl, retryConfig: { retries: 0 } });
}

/** Serves the trigger HTTP API with `client`; resolves once it listens. */
export async function startTriggerServer(config: Config, client: Client, logger: Logger, policy: Policy): Promise<TriggerServer> {
  const token = config.http.webhookToken;
  if (!token) throw new Error('WEBHOOK_TOKEN is not set: the trigger server does not accept unauthenticated events');
  const app = createApp({
    submitter: createSubmitter(client, { taskQueue: config.temporal.taskQueue, verifyDeadlineMs: config.remediation.verifyDeadlineMs, policy }),
    ...(config.slack.signingSecret
      ? { slack: { signingSecret: config.slack.signingSecret, onClick: createClickHandler(client, slackClient(config), logger, { policy, taskQueue: config.temporal.taskQueue }) } }
      : {}),
    webhookToken: token,
    // The codec server needs the keys: a token without them is refused by loadConfig.
    ...(config.http.codecServer && config.payloadEncryption
      ? { codec: { codec: config.payloadEncryption.codec, token: config.http.codecServer.token, corsOrigins: config.http.codecServer.corsOrigins } }
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
