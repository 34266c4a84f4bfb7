import type { Client } from '@temporalio/client';
import type { AwsClients } from '../../src/activities/aws.js';
import { loadConfig, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import type { Policy } from '../../src/policy/types.js';
import { signSlackRequest } from '../../src/slack/signature.js';
import { slackClient, startTriggerServer, type TriggerServer } from '../../src/triggers/server.js';
import { startSlackStandIn, type SlackStandIn } from './slack-standin.js';
import { stackAddresses, startTestWorker, unique, type TestWorker } from './stack.js';
import { keyFile, testRelayKeyPem } from './decisions.js';

/** A worker and the trigger server wired to the Slack stand-in, on a task queue of their own. */
export interface SlackTestStack {
  readonly slackApi: SlackStandIn;
  readonly config: Config;
  readonly server: TriggerServer;
  readonly worker: TestWorker;
  readonly client: Client;
  readonly aws: AwsClients;
  stop(): Promise<void>;
}

/**
 * The trigger server signs the decisions it relays with the test relay key (`testRelayKey` of
 * ./decisions.ts): `o.policy` must list it under decisionRelays (`DECISION_KEYS_YAML`).
 */
export async function startSlackTestStack(o: { policy: Policy; queuePrefix: string; botToken: string; signingSecret: string; webhookToken: string }): Promise<SlackTestStack> {
  const slackApi = await startSlackStandIn({ token: o.botToken });
  const { temporalAddress, motoEndpoint } = stackAddresses();
  const config = loadConfig({
    TEMPORAL_ADDRESS: temporalAddress,
    AWS_ENDPOINT_URL: motoEndpoint,
    PORT: '0',
    WEBHOOK_TOKEN: o.webhookToken,
    TEMPORAL_TASK_QUEUE: unique(o.queuePrefix),
    SLACK_BOT_TOKEN: o.botToken,
    SLACK_SIGNING_SECRET: o.signingSecret,
    SLACK_API_URL: slackApi.apiUrl,
    DECISION_SIGNING_KEY_FILE: await keyFile(testRelayKeyPem, 'decision-relay-key.pem'),
  });
  const worker = await startTestWorker({ taskQueue: config.temporal.taskQueue, policy: o.policy, slack: slackClient(config)! });
  const server = await startTriggerServer(config, worker.client, silentLogger, o.policy);
  return {
    slackApi,
    config,
    server,
    worker,
    client: worker.client,
    aws: worker.aws,
    async stop() {
      await server.close();
      await worker.stop();
      await slackApi.close();
    },
  };
}

/** Posts an interaction to the trigger server as Slack does: form-encoded, signed with `secret` (or the given signature) at `timestamp`. */
export async function postSlackInteraction(serverUrl: string, secret: string, body: string, o: { timestamp?: number; signature?: string } = {}): Promise<Response> {
  const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = o.signature ?? signSlackRequest(secret, ts, body);
  return fetch(`${serverUrl}/slack/interactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature },
    body,
  });
}

/** Polls `fn` until it returns something other than undefined or false. */
export async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
