import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createApp } from './http/app.js';
import { createSubmitter } from './submit.js';

export interface TriggerServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the trigger HTTP API with `client`; resolves once it listens. */
export async function startTriggerServer(config: Config, client: Client, logger: Logger): Promise<TriggerServer> {
  const token = config.http.webhookToken;
  if (!token) throw new Error('WEBHOOK_TOKEN is not set: the trigger server does not accept unauthenticated events');
  const app = createApp({
    submitter: createSubmitter(client, { taskQueue: config.temporal.taskQueue, verifyDeadlineMs: config.remediation.verifyDeadlineMs }),
    webhookToken: token,
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
