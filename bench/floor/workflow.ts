/**
 * The orchestration floor: the least a Temporal workflow can do for one finding. One regular
 * activity does the whole fix (read, re-read, apply, read back); nothing else is recorded.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { FloorActivities } from './worker.js';

const { fixTarget } = proxyActivities<FloorActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

/** Returns when the fix was verified (epoch ms). */
export async function floorFix(target: Parameters<FloorActivities['fixTarget']>[0]): Promise<number> {
  return fixTarget(target);
}
