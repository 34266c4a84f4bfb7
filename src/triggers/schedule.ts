import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import type { ControlId } from '../findings/finding.js';
import type { ScanInput, scanAccount } from '../workflows/scan-account.js';
import type { OrgScanInput, scanOrganization } from '../workflows/scan-organization.js';

/** The one scan schedule of a deployment; stable, so creating it again updates it. */
export const SCAN_SCHEDULE_ID = 'rectify-scan';

export interface ScanScheduleOptions {
  readonly taskQueue: string;
  readonly intervalMs: number;
  /** How far back missed runs are caught up after an outage (then skipped). */
  readonly catchupWindowMs: number;
  readonly regions: readonly string[];
  /** Many accounts (member roles): the schedule runs `scanOrganization` over them; undefined: `scanAccount` of the worker's own. */
  readonly accounts?: readonly string[] | 'organization';
  readonly controls?: readonly ControlId[];
  readonly pageSize?: number;
  readonly scheduleId?: string;
}

function scheduleOptions(o: ScanScheduleOptions): ScheduleOptions {
  const input: ScanInput = { regions: [...o.regions], ...(o.controls ? { controls: [...o.controls] } : {}), ...(o.pageSize ? { pageSize: o.pageSize } : {}) };
  const org: OrgScanInput | undefined = o.accounts ? { ...input, accounts: o.accounts === 'organization' ? 'organization' : [...o.accounts] } : undefined;
  const which = o.accounts === 'organization' ? 'the organization' : o.accounts ? `${o.accounts.length} account${o.accounts.length === 1 ? '' : 's'}` : '';
  return {
    scheduleId: o.scheduleId ?? SCAN_SCHEDULE_ID,
    spec: { intervals: [{ every: o.intervalMs }] },
    action: {
      type: 'startWorkflow',
      workflowType: org ? ('scanOrganization' satisfies typeof scanOrganization.name) : ('scanAccount' satisfies typeof scanAccount.name),
      taskQueue: o.taskQueue,
      args: [org ?? input],
      workflowId: `scan/${o.scheduleId ?? SCAN_SCHEDULE_ID}`,
      staticSummary: `Scan ${which ? `${which}, ` : ''}${o.regions.join(', ')} for drift`,
    },
    policies: {
      // A scan still running when the next is due: skip the next (the running one covers it).
      overlap: 'SKIP',
      catchupWindow: o.catchupWindowMs,
      pauseOnFailure: false,
    },
    state: { note: 'managed by rectify (npm run cli -- schedule ...)' },
  };
}

/**
 * Creates the scan schedule, or updates it in place when it exists (interval, regions, task
 * queue, policies). Idempotent: running it twice leaves one schedule. Keeps a paused schedule paused.
 */
export async function applyScanSchedule(client: Client, o: ScanScheduleOptions): Promise<'created' | 'updated'> {
  const opts = scheduleOptions(o);
  try {
    await client.schedule.create(opts);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(opts.scheduleId).update((prev) => ({
    ...prev,
    spec: opts.spec,
    action: opts.action,
    policies: { ...prev.policies, ...opts.policies },
    state: { ...prev.state, note: opts.state?.note ?? prev.state.note },
  }));
  return 'updated';
}

export type ScheduleCommand = 'trigger' | 'pause' | 'unpause' | 'describe' | 'delete';

/** Runs a scan now, pauses/unpauses the schedule, shows or deletes it. Throws a clear error when it does not exist. */
export async function scanScheduleCommand(client: Client, cmd: ScheduleCommand, scheduleId = SCAN_SCHEDULE_ID): Promise<ScheduleDescription | undefined> {
  const handle = client.schedule.getHandle(scheduleId);
  try {
    switch (cmd) {
      case 'trigger':
        await handle.trigger();
        return undefined;
      case 'pause':
        await handle.pause('paused from the rectify CLI');
        return undefined;
      case 'unpause':
        await handle.unpause('unpaused from the rectify CLI');
        return undefined;
      case 'delete':
        await handle.delete();
        return undefined;
      case 'describe':
        return await handle.describe();
    }
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new Error(`no schedule "${scheduleId}": create it with  npm run cli -- schedule apply`);
    throw err;
  }
}
