import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { createAwsClients } from '../../src/activities/aws.js';
import { parsePolicy } from '../../src/policy/load.js';
import { freePort } from '../../src/stack/process.js';
import { ensureTemporalCli, startDevServer, type DevServer } from '../../src/stack/temporal.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { createWorker } from '../../src/worker/create-worker.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { makeSecurityGroup, REGION, sgFinding, world22 } from '../helpers/fixtures.js';
import { awsConfig, unique } from '../helpers/stack.js';
import { activitiesIn } from '../helpers/history.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

/**
 * The one test with a Temporal server of its own: it restarts the server (SQLite on disk) in the
 * middle of an approval wait, which the shared in-memory server of the run cannot survive.
 */
describe('Temporal server restart while a remediation waits', () => {
  const dirs: string[] = [];
  let server: DevServer | undefined;
  afterAll(async () => {
    await server?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('keeps the approval wait and its timers: the timeout action applies after the restart, once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rectify-restart-'));
    dirs.push(dir);
    const binary = await ensureTemporalCli();
    const port = await freePort();
    const dbFile = join(dir, 'temporal.db');
    server = await startDevServer({ binary, port, dbFile });
    const aws = createAwsClients(awsConfig());
    const policy = parsePolicy(
      `version: 1
defaults:
  undo: { window: 0 }
  escalation: { remindAfter: 2s, escalateAfter: 4s, timeoutAfter: 8s, timeoutAction: apply }
controls:
  ec2-sg-admin-ports-open:
    requireApprovalWhenTagged: { environment: [production] }
`,
      'restart-test',
    );
    const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
    const taskQueue = unique('restart');

    const run = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
      const connection = await Connection.connect({ address: server!.address });
      const native = await NativeConnection.connect({ address: server!.address });
      const client = new Client({ connection });
      const worker = await createWorker({ connection: native, client, namespace: 'default', taskQueue, aws, policy });
      try {
        return await worker.runUntil(fn(client));
      } finally {
        await native.close();
        await connection.close();
      }
    };

    const workflowId = await run(async (client) => {
      const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy }).submit(sgFinding(groupId));
      const h = client.workflow.getHandle(r.workflowId, r.runId);
      for (let i = 0; i < 100 && (await h.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((x) => setTimeout(x, 100));
      expect((await h.query(getStatus)).status).toBe('AwaitingApproval');
      return r.workflowId;
    });

    // Stop the server (and with it every connection) mid-wait, then bring it back on the same database.
    await server.stop();
    server = await startDevServer({ binary, port, dbFile });

    const record: RemediationRecord = await run(async (client) => client.workflow.getHandle(workflowId).result());
    expect(record.outcome).toBe('remediated');
    expect(record.approval?.by?.via).toBe('timeout');
    expect(record.approval?.reminded).toBeDefined();
    const live = await aws.ec2(REGION).send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    expect(live.SecurityGroups![0]!.IpPermissions ?? []).toEqual([]);

    const connection = await Connection.connect({ address: server.address });
    const history = await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory();
    await connection.close();
    expect(activitiesIn(history).filter((a) => a === 'applyFix')).toHaveLength(1);
    expect(history.events!.filter((e) => e.timerFiredEventAttributes)).toHaveLength(3);
    aws.destroy();
  }, 120_000);
});
