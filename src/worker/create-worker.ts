import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { WebClient } from '@slack/web-api';
import { createActivities } from '../activities/index.js';
import type { AwsClients } from '../activities/aws.js';
import type { Policy } from '../policy/types.js';
import { DEFAULTS, type Config } from '../config.js';
import { quietRetries } from './logging.js';
import { generateEvidenceKeyPem, loadEvidenceKey, type EvidenceKey } from '../evidence/signing.js';

/** The workflow entry module; webpack bundles it from source, whatever runs the worker. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles the workflow code once; pass the result to several workers (tests, restarts) to skip rebundling. */
export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

/**
 * Bundles the workflow code in a short-lived process of its own and returns the bundle's path:
 * the worker then never holds webpack's memory (about 100 MB it would keep for its whole life).
 * Throws with the bundler's output when bundling fails.
 */
export async function bundleWorkflowsApart(): Promise<{ codePath: string }> {
  const codePath = join(tmpdir(), `rectify-workflows-${process.pid}-${Date.now()}.js`);
  const script = fileURLToPath(new URL('./bundle-main.ts', import.meta.url));
  await new Promise<void>((resolve, reject) => {
    // Whatever runs this process (node --import tsx, tsx) runs the bundler the same way.
    const child = spawn(process.execPath, [...process.execArgv, script, codePath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bundling the workflow code failed (exit ${code}):\n${err.slice(-4000)}`))));
  });
  return { codePath };
}

export interface CreateWorkerOptions {
  readonly connection: NativeConnection;
  /** Client for the activities that talk to Temporal (the budget count, the digest, undo lookups; the ledger of first-version runs). */
  readonly client: Client;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly aws: AwsClients;
  readonly slack?: WebClient;
  /** The policy scans decide by (webhook findings carry theirs from the trigger). */
  readonly policy: Policy;
  readonly verifyDeadlineMs?: number;
  readonly securityHubWriteBack?: boolean;
  /** Signs evidence records; default: a key generated for this worker only (records verify, but the key is not kept). */
  readonly evidenceKey?: EvidenceKey;
  readonly evidenceArchive?: { readonly bucket: string; readonly prefix: string; readonly retentionDays: number; readonly region: string };
  /** A bundle made earlier (`bundleWorkflows`, or the path from `bundleWorkflowsApart`); default: bundle here. */
  readonly workflowBundle?: WorkflowBundleWithSourceMap | { readonly codePath: string };
  /** Cache and concurrency (WORKER_* settings); the defaults of `DEFAULTS` otherwise. */
  readonly tuning?: Config['worker'];
  /** Payload encryption (`withPayloadCodec`, src/codec/encryption.ts); the same as the clients'. Default: none. */
  readonly dataConverter?: DataConverter;
}

/** A worker running the remediation, digest, scan and undo workflows and their activities on `taskQueue`. */
export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const tuning = opts.tuning ?? { cachedWorkflows: DEFAULTS.workerCachedWorkflows, workflowSlots: DEFAULTS.workerWorkflowSlots, activitySlots: DEFAULTS.workerActivitySlots };
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    // Waiting remediations leave the cache and are replayed (a few dozen events) when they wake:
    // memory stays flat however many wait.
    maxCachedWorkflows: tuning.cachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: tuning.workflowSlots,
    maxConcurrentActivityTaskExecutions: tuning.activitySlots,
    maxConcurrentLocalActivityExecutions: tuning.activitySlots,
    interceptors: { activity: [quietRetries] },
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({
      aws: opts.aws,
      ...(opts.slack ? { slack: opts.slack } : {}),
      ledger: { client: opts.client, taskQueue: opts.taskQueue },
      policy: opts.policy,
      verifyDeadlineMs: opts.verifyDeadlineMs ?? DEFAULTS.verifyDeadlineMs,
      ...(opts.securityHubWriteBack === false ? { securityHubWriteBack: false } : {}),
      evidenceKey: opts.evidenceKey ?? loadEvidenceKey(generateEvidenceKeyPem()),
      ...(opts.evidenceArchive ? { evidenceArchive: opts.evidenceArchive } : {}),
    }),
  });
}

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
