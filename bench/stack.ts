/**
 * The embedded stack as the benchmark runs it: the Temporal dev server on a SQLite file (as
 * `npm start` runs it), moto, and the worker and the trigger server as processes of their own
 * (`npm run worker`, `npm run triggers`), so each one's memory and CPU can be read, and the
 * worker or the server can be killed and restarted mid-run.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createAwsClients, type AwsClients } from '../src/activities/aws.js';
import { loadConfig, type Config } from '../src/config.js';
import { generateEvidenceKeyPem } from '../src/evidence/signing.js';
import { generateDecisionKeyPem, loadDecisionKey } from '../src/decisions/sign.js';
import { withDecisionKeys } from '../src/policy/keys.js';
import { plainTemporalEnv } from '../src/temporal-connection.js';
import { ensureMoto, startMoto, type MotoServer } from '../src/stack/moto.js';
import { REPO_ROOT } from '../src/stack/paths.js';
import { freePort, startProcess, waitUntilReady, type Managed } from '../src/stack/process.js';
import { ensureTemporalCli, startDevServer, type DevServer } from '../src/stack/temporal.js';
import { startWriteCounter, type WriteCounter } from './write-counter.js';

export interface BenchStack {
  readonly dir: string;
  readonly config: Config;
  readonly client: Client;
  /** AWS clients straight to moto (resource setup, final checks). */
  readonly aws: AwsClients;
  /** AWS clients through the write counter, as the worker's: the bare loop uses these. */
  readonly awsCounted: AwsClients;
  /** Counts the fixes (writes) that reach moto, per resource: the worker's AWS calls go through it. */
  readonly writes: WriteCounter;
  readonly webhook: { readonly url: string; readonly token: string };
  /** What the CLI needs to decide as the bench's operator: its key and the policy listing it. */
  readonly cliEnv: Readonly<Record<string, string>>;
  temporal: DevServer;
  readonly moto: MotoServer;
  worker: Managed;
  trigger: Managed;
  /** Kills the worker with SIGKILL (no shutdown) and starts a new one. */
  killAndRestartWorker(): Promise<void>;
  /** Kills the dev server with SIGKILL and starts it again on the same port and database. */
  killAndRestartTemporal(): Promise<void>;
  /** CPU seconds each process of the stack has used so far (Temporal server, moto, worker, trigger server, this process). */
  cpu(): Promise<Record<string, number>>;
  /** Lines the worker and the trigger server wrote since the last call. */
  takeLogs(): Promise<{ worker: string[]; trigger: string[] }>;
  stop(): Promise<void>;
}

const say = (l: string) => console.log(`[bench] ${l}`);

/**
 * The shipped policy with the hourly budget of automatic fixes raised out of the way (the
 * guardrails still run), and the bench's operator key (`bench`) listed, so its CLI decisions are signed ones.
 */
async function benchPolicy(dir: string): Promise<{ file: string; operatorKeyFile: string }> {
  const shipped = await readFile(join(REPO_ROOT, 'policy', 'default.yaml'), 'utf8');
  const raised = shipped.replace(/maxAutoFixesPerHour: \d+/, 'maxAutoFixesPerHour: 1000000');
  if (raised === shipped) throw new Error('policy/default.yaml has no maxAutoFixesPerHour to raise');
  const operatorKeyFile = join(dir, 'operator-key.pem');
  await writeFile(operatorKeyFile, generateDecisionKeyPem(), { mode: 0o600 });
  const file = join(dir, 'policy.yaml');
  await writeFile(file, withDecisionKeys(raised, { operators: [{ name: 'bench', publicKey: loadDecisionKey(operatorKeyFile).publicKey }] }));
  return { file, operatorKeyFile };
}

export async function startBenchStack(dir: string): Promise<BenchStack> {
  const [temporalBin, motoBin] = await Promise.all([ensureTemporalCli(say), ensureMoto(say)]);
  const temporalPort = await freePort();
  const dbFile = join(dir, 'temporal.db');
  const startTemporal = () => startDevServer({ binary: temporalBin, port: temporalPort, dbFile, logFile: join(dir, 'temporal.log') });
  const [temporal, moto] = await Promise.all([startTemporal(), startMoto({ binary: motoBin, port: await freePort(), logFile: join(dir, 'moto.log') })]);
  const writes = await startWriteCounter(moto.endpoint);
  const keyFile = join(dir, 'evidence-key.pem');
  await writeFile(keyFile, generateEvidenceKeyPem(), { mode: 0o600 });
  const token = 'bench-token-0123456789abcdef';
  const httpPort = await freePort();
  const policy = await benchPolicy(dir);
  const env: NodeJS.ProcessEnv = {
    // The bench's own dev server: none of the user's Temporal TLS, API key or profile settings.
    ...plainTemporalEnv(),
    TEMPORAL_ADDRESS: temporal.address,
    AWS_ENDPOINT_URL: writes.endpoint,
    POLICY_FILE: policy.file,
    SECURITYHUB_WRITEBACK: 'off',
    EVIDENCE_SIGNING_KEY_FILE: keyFile,
    WEBHOOK_TOKEN: token,
    PORT: String(httpPort),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const config = loadConfig({ ...env, AWS_ENDPOINT_URL: moto.endpoint });
  const logs = { worker: join(dir, 'worker.log'), trigger: join(dir, 'trigger.log') };
  const offsets = { worker: 0, trigger: 0 };

  // BENCH_PROFILE=<dir>: the worker and the trigger server write V8 CPU profiles there when they stop.
  const profile = process.env['BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROFILE']}`] : [];
  const node = (script: string) => [...profile, '--import', 'tsx', join(REPO_ROOT, script)];
  const startWorker = async () => {
    const p = startProcess('worker', process.execPath, node('src/worker/main.ts'), { env, logFile: logs.worker, cwd: REPO_ROOT });
    await waitUntilReady(p, async () => (await readFile(logs.worker, 'utf8').catch(() => '')).slice(offsets.worker).includes('worker running'), 120_000);
    return p;
  };
  const startTrigger = async () => {
    const p = startProcess('trigger server', process.execPath, node('src/triggers/main.ts'), { env, logFile: logs.trigger, cwd: REPO_ROOT });
    await waitUntilReady(p, async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined))?.ok === true, 60_000);
    return p;
  };
  say('starting the worker and the trigger server...');
  const [worker, trigger] = await Promise.all([startWorker(), startTrigger()]);
  const connection = await Connection.connect({ address: temporal.address });

  const stack: BenchStack = {
    dir,
    config,
    client: new Client({ connection }),
    aws: createAwsClients(config.aws),
    awsCounted: createAwsClients({ ...config.aws, endpointUrl: writes.endpoint }),
    writes,
    webhook: { url: `http://127.0.0.1:${httpPort}`, token },
    cliEnv: { POLICY_FILE: policy.file, RECTIFY_OPERATOR_KEY_FILE: policy.operatorKeyFile },
    temporal,
    moto,
    worker,
    trigger,
    async killAndRestartWorker() {
      stack.worker.child.kill('SIGKILL');
      await stack.worker.stop();
      offsets.worker = (await readFile(logs.worker, 'utf8').catch(() => '')).length;
      stack.worker = await startWorker();
    },
    async killAndRestartTemporal() {
      stack.temporal.process.child.kill('SIGKILL');
      await stack.temporal.stop();
      stack.temporal = await startTemporal();
    },
    async cpu() {
      const of = async (p: { child: { pid?: number } }) => (p.child.pid ? cpuSeconds(p.child.pid).catch(() => 0) : 0);
      const self = process.cpuUsage();
      return {
        temporal: await of(stack.temporal.process),
        moto: await of(moto.process),
        worker: await of(stack.worker),
        trigger: await of(stack.trigger),
        bench: (self.user + self.system) / 1e6,
      };
    },
    async takeLogs() {
      const read = async (k: 'worker' | 'trigger') => {
        const all = await readFile(logs[k], 'utf8').catch(() => '');
        const fresh = all.slice(offsets[k]);
        offsets[k] = all.length;
        return fresh.split('\n').filter((l) => l.trim() !== '');
      };
      return { worker: await read('worker'), trigger: await read('trigger') };
    },
    async stop() {
      await Promise.all([stack.worker.stop(), stack.trigger.stop()]);
      await connection.close();
      stack.aws.destroy();
      stack.awsCounted.destroy();
      await writes.close();
      await Promise.all([stack.temporal.stop(), moto.stop()]);
    },
  };
  return stack;
}

/** Resident memory of a process, from /proc (Linux), in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
