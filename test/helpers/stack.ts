import { readFileSync } from 'node:fs';
import { DEFAULT_POLICY_PATH, parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { WebClient } from '@slack/web-api';
import { createWorker, type CreateWorkerOptions } from '../../src/worker/create-worker.js';
import { createAwsClients, type AwsClients } from '../../src/activities/aws.js';
import type { Config } from '../../src/config.js';

/** Connections to the run's shared Temporal dev server and moto (started in test/global-setup.ts). */
export function stackAddresses() {
  return { temporalAddress: inject('temporalAddress'), motoEndpoint: inject('motoEndpoint') };
}

export function awsConfig(region = 'us-east-1'): Config['aws'] {
  return {
    region,
    endpointUrl: inject('motoEndpoint'),
    emulatorCredentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' },
  };
}

export function testAws(): AwsClients {
  return createAwsClients(awsConfig());
}

/** A client of the run's dev server; with `dataConverter`, one that encrypts payloads as a worker given the same does. */
export async function temporalClient(dataConverter?: DataConverter): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  return { client: new Client({ connection, namespace: 'default', ...(dataConverter ? { dataConverter } : {}) }), connection };
}

export async function workerConnection(): Promise<NativeConnection> {
  return NativeConnection.connect({ address: inject('temporalAddress') });
}

/** A name no other test uses: task queues, buckets, workflow ids. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

const shipped = parsePolicy(readFileSync(DEFAULT_POLICY_PATH, 'utf8'), DEFAULT_POLICY_PATH);
/**
 * The shipped default policy (auto fixes; approval for production / public-website tags) with the
 * undo window closed, so remediations end as soon as the fix is verified. Same hash as the file.
 */
export const defaultPolicy: Policy = {
  ...shipped,
  controls: Object.fromEntries(Object.entries(shipped.controls).map(([id, c]) => [id, { ...c, undo: { ...c.undo, windowMs: 0 } }])) as unknown as Policy['controls'],
};

export interface TestWorker {
  readonly client: Client;
  readonly aws: AwsClients;
  readonly taskQueue: string;
  readonly native: NativeConnection;
  readonly worker: Worker;
  /** Shuts the worker down and closes every connection and client it opened. */
  stop(): Promise<void>;
}

/** A running worker on its own task queue against the run's dev server and moto, for one test file. */
export async function startTestWorker(
  o: { taskQueue?: string; policy?: Policy; aws?: AwsClients; slack?: WebClient; workflowBundle?: WorkflowBundleWithSourceMap } & Pick<CreateWorkerOptions, 'evidenceKey' | 'evidenceArchive' | 'dataConverter'> = {},
): Promise<TestWorker> {
  const { client, connection } = await temporalClient(o.dataConverter);
  const native = await workerConnection();
  const ownAws = o.aws === undefined;
  const aws = o.aws ?? testAws();
  const taskQueue = o.taskQueue ?? unique('worker');
  const worker = await createWorker({
    connection: native,
    client,
    namespace: 'default',
    taskQueue,
    aws,
    policy: o.policy ?? defaultPolicy,
    ...(o.slack ? { slack: o.slack } : {}),
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : {}),
    ...(o.evidenceKey ? { evidenceKey: o.evidenceKey } : {}),
    ...(o.evidenceArchive ? { evidenceArchive: o.evidenceArchive } : {}),
    ...(o.dataConverter ? { dataConverter: o.dataConverter } : {}),
  });
  const running = worker.run();
  return {
    client,
    aws,
    taskQueue,
    native,
    worker,
    async stop() {
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
      if (ownAws) aws.destroy();
    },
  };
}
