import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createAwsClients } from '../activities/aws.js';
import { loadConfig } from '../config.js';
import { InvalidInputError } from '../errors.js';
import { createLogger } from '../log.js';
import { createWorker } from './create-worker.js';
import { ensureSearchAttributes } from './search-attributes.js';

/** The remediation worker: connect, register search attributes, run until SIGINT/SIGTERM, close. */
async function main(): Promise<void> {
  const logger = createLogger('worker');
  const config = loadConfig();
  const client = await Connection.connect({ address: config.temporal.address });
  await ensureSearchAttributes(client, config.temporal.namespace, logger);
  await client.close();

  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const aws = createAwsClients(config.aws);
  try {
    const worker = await createWorker({ connection, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue, aws });
    logger.info('worker running', { taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, aws: config.aws.endpointUrl ?? 'aws' });
    await worker.run();
  } finally {
    aws.destroy();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  if (err instanceof InvalidInputError) {
    process.stderr.write(`worker not started, ${err.message.split(': ')[0]}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  } else {
    process.stderr.write(`worker failed: ${(err as Error).stack ?? String(err)}\n`);
  }
  process.exit(1);
});
