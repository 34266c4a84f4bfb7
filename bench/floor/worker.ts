/**
 * A bare-SDK Temporal loop beside the product: `floorFix` (one activity doing what the bare loop
 * does) on a worker with the SDK's default settings, in the benchmark's own process, against the
 * same dev server and the same moto. What it cannot sustain, no workflow can on this machine.
 */
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { AwsClients } from '../../src/activities/aws.js';
import { bareFix, type Target } from '../workload.js';

export interface FloorActivities {
  fixTarget(target: Target): Promise<number>;
}

export interface FloorWorker {
  readonly taskQueue: string;
  stop(): Promise<void>;
}

export async function startFloorWorker(address: string, aws: AwsClients, region: string): Promise<FloorWorker> {
  const taskQueue = `bench-floor-${process.pid}`;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed already (a second floor run in this process)
  }
  const connection = await NativeConnection.connect({ address });
  const activities: FloorActivities = {
    async fixTarget(target) {
      await bareFix(aws, target, region);
      return Date.now();
    },
  };
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./workflow.ts', import.meta.url)),
    activities,
  });
  const running = worker.run();
  return {
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
