import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, REPO_ROOT } from './paths.js';
import { run, startProcess, waitUntilReady, type Managed } from './process.js';

/** The pinned AWS API emulator; every dependency is pinned in tools/moto/requirements.txt. */
export const MOTO_VERSION = '5.2.5';
const REQUIREMENTS = join(REPO_ROOT, 'tools', 'moto', 'requirements.txt');

type Say = (line: string) => void;

/**
 * The `moto_server` executable of a virtualenv in the cache directory, created on first use
 * with Python 3 and pip. Throws with instructions when Python 3 is missing.
 */
export async function ensureMoto(say: Say = () => undefined): Promise<string> {
  const venv = join(cacheDir(), `moto-${MOTO_VERSION}`);
  const bin = join(venv, 'bin', 'moto_server');
  // Written last, so an interrupted install is redone rather than half-used.
  const marker = join(venv, '.installed');
  if (await access(marker, constants.R_OK).then(() => true, () => false)) return bin;
  const python = process.env['PYTHON'] ?? 'python3';
  try {
    await run(python, ['-c', 'import sys, venv; assert sys.version_info >= (3, 9)']);
  } catch {
    throw new Error(`moto (the AWS API emulator) needs Python 3.9+ with the venv module; "${python}" is not usable. Install Python 3 (e.g. apt-get install python3 python3-venv) or set PYTHON.`);
  }
  say(`installing moto ${MOTO_VERSION} (AWS API emulator) into ${venv} (first run only)...`);
  await rm(venv, { recursive: true, force: true });
  await mkdir(cacheDir(), { recursive: true });
  await run(python, ['-m', 'venv', venv]);
  let n = 0;
  await run(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS], {
    onLine: (l) => {
      if (l.startsWith('Collecting') && ++n % 10 === 0) say(`  ${n} packages fetched...`);
    },
  });
  await writeFile(marker, `${MOTO_VERSION}\n`);
  say(`installed moto ${MOTO_VERSION}`);
  return bin;
}

export interface MotoServer {
  readonly endpoint: string;
  readonly process: Managed;
  stop(): Promise<void>;
}

/** Starts moto in server mode on 127.0.0.1:`port` and waits until it answers. */
export async function startMoto(o: { binary: string; port: number; logFile?: string; readyTimeoutMs?: number }): Promise<MotoServer> {
  const proc = startProcess('moto server', o.binary, ['-H', '127.0.0.1', '-p', String(o.port)], o.logFile ? { logFile: o.logFile } : {});
  const endpoint = `http://127.0.0.1:${o.port}`;
  await waitUntilReady(proc, () => motoReachable(endpoint), o.readyTimeoutMs ?? 60_000);
  return { endpoint, process: proc, stop: () => proc.stop() };
}

export async function motoReachable(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  return res?.ok === true;
}
