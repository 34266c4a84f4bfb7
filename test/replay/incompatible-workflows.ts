/**
 * The workflows with one deliberate, incompatible change: remediateFinding starts with a timer
 * the recorded histories never had. Replaying real histories with this bundle must fail; that is
 * how the replay test proves it would catch a careless change to a workflow.
 */
import { sleep } from '@temporalio/workflow';
import { remediateFinding as current } from '../../src/workflows/remediate-finding.js';

export { approvalDigest, fixLedger, revertFix, scanAccount, scanOrganization, undoWindow } from '../../src/workflows/index.js';

export async function remediateFinding(...args: Parameters<typeof current>): ReturnType<typeof current> {
  await sleep('1 second');
  return current(...args);
}
