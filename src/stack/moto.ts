import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';
import { startProcess, waitUntilReady, type Managed } from './process.js';
import { ensureVenv } from './pytools.js';

/** The pinned AWS API emulator; every dependency is pinned in tools/moto/requirements.txt. */
export const MOTO_VERSION = '5.2.5';
const REQUIREMENTS = join(REPO_ROOT, 'tools', 'moto', 'requirements.txt');

type Say = (line: string) => void;

/**
 * The `moto_server` executable of a virtualenv in the cache directory, created on first use
 * with Python 3 and pip. Throws with instructions when Python 3 is missing.
 */
export async function ensureMoto(say: Say = () => undefined): Promise<string> {
  const bins = await ensureVenv({ dir: `moto-${MOTO_VERSION}`, what: `moto ${MOTO_VERSION} (AWS API emulator)`, requirements: REQUIREMENTS, bins: ['moto_server'], minPython: [3, 11] /* the pinned networkx needs 3.11+ */ }, say);
  return bins.moto_server;
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
