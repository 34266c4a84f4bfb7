import { access, mkdir, rename, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { cacheDir, REPO_ROOT } from './paths.js';
import { run, startProcess, waitUntilReady, type Managed } from './process.js';

/** The pinned Temporal CLI (dev server + Web UI). Newer tags carry a go.mod replace directive and cannot be built as a module. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const MODULE_DIR = join(REPO_ROOT, 'tools', 'temporal-cli');
const MIN_GO = [1, 25] as const;

type Say = (line: string) => void;

async function isExecutable(p: string): Promise<boolean> {
  return access(p, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function whichOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return undefined;
}

/**
 * The path of a Temporal CLI binary: $TEMPORAL_CLI_PATH, else the pinned build in the cache,
 * else `temporal` on PATH, else builds the pinned version with Go (a few minutes, once).
 * Throws with installation instructions when none of these is possible.
 */
export async function ensureTemporalCli(say: Say = () => undefined): Promise<string> {
  const fromEnv = process.env['TEMPORAL_CLI_PATH'];
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return fromEnv;
    throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
  }
  const cached = join(cacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
  if (await isExecutable(cached)) return cached;
  const onPath = await whichOnPath('temporal');
  if (onPath) {
    say(`using the temporal CLI on PATH: ${onPath}`);
    return onPath;
  }
  await buildTemporalCli(cached, say);
  return cached;
}

async function buildTemporalCli(target: string, say: Say): Promise<void> {
  const go = await whichOnPath('go');
  if (!go) {
    throw new Error(
      [
        'The Temporal CLI is needed for the local Temporal server and none was found.',
        `Either install Go ${MIN_GO.join('.')} or newer (it builds the pinned CLI v${TEMPORAL_CLI_VERSION} once, into ${target}),`,
        'or install the Temporal CLI yourself and put `temporal` on PATH, or set TEMPORAL_CLI_PATH to its binary.',
      ].join('\n'),
    );
  }
  const version = await run(go, ['env', 'GOVERSION']);
  const m = /go(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) < MIN_GO[0] || (Number(m[1]) === MIN_GO[0] && Number(m[2]) < MIN_GO[1])) {
    throw new Error(`Go ${MIN_GO.join('.')} or newer is needed to build the Temporal CLI v${TEMPORAL_CLI_VERSION}; found ${version.trim()}. Upgrade Go, or set TEMPORAL_CLI_PATH.`);
  }
  say(`building the Temporal CLI v${TEMPORAL_CLI_VERSION} with ${version.trim()} (first run only, takes a few minutes)...`);
  await mkdir(join(target, '..'), { recursive: true });
  const tmp = `${target}.build-${process.pid}`;
  const started = Date.now();
  let phase = 'downloading modules (pinned by tools/temporal-cli/go.sum)';
  const ticker = setInterval(() => say(`  still building the Temporal CLI: ${phase} (${Math.round((Date.now() - started) / 1000)}s)`), 20_000);
  try {
    await run(go, ['mod', 'download'], { cwd: MODULE_DIR });
    phase = 'compiling';
    await run(go, ['build', '-trimpath', '-o', tmp, 'github.com/temporalio/cli/cmd/temporal'], {
      cwd: MODULE_DIR,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
    });
    await rename(tmp, target);
  } finally {
    clearInterval(ticker);
    await rm(tmp, { force: true });
  }
  say(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)}s: ${target}`);
}

/** `temporal server start-dev --search-attribute Name=Type` spelling of each attribute type the product uses. */
const DEV_SERVER_TYPE: Readonly<Record<string, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.DATETIME]: 'Datetime',
};

export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly process: Managed;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  readonly binary: string;
  readonly port: number;
  /** Web UI port; undefined runs headless. */
  readonly uiPort?: number;
  /** SQLite file that keeps history across restarts; undefined keeps everything in memory. */
  readonly dbFile?: string;
  readonly namespace?: string;
  readonly logFile?: string;
  readonly readyTimeoutMs?: number;
}

/** Starts `temporal server start-dev` with the product's search attributes registered and waits until it serves. */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(o.port),
    '--namespace', o.namespace ?? 'default',
    '--log-level', 'warn',
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    // A fix activity scheduled by a workflow task goes straight back to the worker that completed it.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    ...ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${DEV_SERVER_TYPE[k.type]}`]),
    ...(o.uiPort !== undefined ? ['--ui-port', String(o.uiPort)] : ['--headless']),
    // On a file: write-ahead log, and fsync at checkpoints rather than at every commit. A crash of
    // the server loses nothing; only an OS crash or power loss can lose the last commits.
    ...(o.dbFile ? ['--db-filename', o.dbFile, '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'] : []),
  ];
  const proc = startProcess('temporal dev server', o.binary, args, o.logFile ? { logFile: o.logFile } : {});
  const address = `127.0.0.1:${o.port}`;
  await waitUntilReady(proc, () => temporalReachable(address), o.readyTimeoutMs ?? 60_000);
  return {
    address,
    uiUrl: o.uiPort !== undefined ? `http://localhost:${o.uiPort}` : undefined,
    process: proc,
    stop: () => proc.stop(),
  };
}

/** True when a Temporal frontend answers at `address`. */
export async function temporalReachable(address: string, timeoutMs = 2000): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    await conn.withDeadline(Date.now() + timeoutMs, () => conn!.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}
