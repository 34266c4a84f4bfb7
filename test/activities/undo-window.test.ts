import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { createUndoActivities } from '../../src/activities/undo.js';
import { snapshotFor } from '../../src/policy/load.js';
import type { UndoWindowInput } from '../../src/workflows/undo-window.js';
import { s3Finding } from '../helpers/fixtures.js';
import { defaultPolicy, startTestWorker, temporalClient, unique } from '../helpers/stack.js';
import { keyedDefaultPolicy, signedUndo, TEST_OPERATOR } from '../helpers/decisions.js';
import { sendUndo } from '../../src/triggers/decisions.js';

let client: Client;
let connection: Connection;
const opened: string[] = [];

beforeAll(async () => {
  ({ client, connection } = await temporalClient());
});
afterAll(async () => {
  for (const id of opened) await client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
  await connection?.close();
});

function windowInput(remediationWorkflowId: string, runId: string): UndoWindowInput {
  const finding = s3Finding(unique('bucket'));
  return {
    finding,
    remediation: { workflowId: remediationWorkflowId, runId },
    policy: snapshotFor(defaultPolicy, finding.control),
    before: { configured: false },
    change: { summary: 'Turn on Block Public Access', details: {} },
    approvers: [],
    thread: null,
  };
}

describe('openUndoWindow (runs of the first version)', () => {
  it('a retry finds the window its earlier attempt opened and leaves it running; a newer fix of the resource replaces it', async () => {
    // No worker polls this queue: the windows stay open, which is all this needs.
    const acts = createUndoActivities({ client, taskQueue: unique('undo-open') });
    const remediation = unique('finding/123456789012/us-east-1/s3-block-public-access');
    const first = windowInput(remediation, 'run-one');
    const id = await acts.openUndoWindow(first);
    opened.push(id);
    const opening = await client.workflow.getHandle(id).describe();

    // The activity retried after its answer was lost: the same window, not terminated.
    expect(await acts.openUndoWindow(first)).toBe(id);
    const after = await client.workflow.getHandle(id).describe();
    expect(after.runId).toBe(opening.runId);
    expect(after.status.name).toBe('RUNNING');

    // A newer fix of the same resource: its window replaces the older one.
    expect(await acts.openUndoWindow(windowInput(remediation, 'run-two'))).toBe(id);
    const newer = await client.workflow.getHandle(id).describe();
    expect(newer.runId).not.toBe(opening.runId);
    expect(newer.memo?.['remediationRunId']).toBe('run-two');
    expect((await client.workflow.getHandle(id, opening.runId).describe()).status.name).toBe('TERMINATED');
  });

  it('a window whose policy carries decision keys takes only a signed undo', async () => {
    const { policy } = keyedDefaultPolicy();
    const w = await startTestWorker({ policy });
    try {
      const acts = createUndoActivities({ client: w.client, taskQueue: w.taskQueue });
      const base = windowInput(unique('finding/123456789012/us-east-1/s3-block-public-access'), 'run-keyed');
      const input = { ...base, policy: snapshotFor(policy, base.finding.control) };
      const id = await acts.openUndoWindow(input);
      opened.push(id);
      const target = { workflowId: id };
      const unsigned = await sendUndo(w.client, target, { by: { id: TEST_OPERATOR, name: TEST_OPERATOR, via: 'cli' } }, unique('undo'));
      expect(unsigned.ok).toBe(false);
      if (!unsigned.ok) expect(unsigned.message).toMatch(/signed/);
      const run = (await w.client.workflow.getHandle(id).describe()).runId;
      const signed = await sendUndo(w.client, target, signedUndo({ workflowId: id, runId: run }), unique('undo'));
      expect(signed.ok).toBe(true);
    } finally {
      await w.stop();
    }
  });
});
