import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureMoto, startMoto } from '../src/stack/moto.js';
import { freePort } from '../src/stack/process.js';
import { ensureTemporalCli, startDevServer } from '../src/stack/temporal.js';
import { plainTemporalEnv } from '../src/temporal-connection.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string;
    motoEndpoint: string;
  }
}

/**
 * One Temporal dev server and one moto server for the whole run, on free ports. A missing
 * tool is built or installed here (npm test shows progress); one that cannot be is a failure
 * that says how to fix it, never a skipped test.
 */
export default async function setup(project: TestProject) {
  const say = (l: string) => console.log(`[test stack] ${l}`);
  // Test files and the processes they spawn talk to this run's plain dev server: no TLS, API key or
  // profile from the developer's shell or ~/.config/temporalio/temporal.toml (tests that want them set their own).
  const plain = plainTemporalEnv(process.env);
  for (const k of Object.keys(process.env)) if (!(k in plain)) delete process.env[k];
  process.env['TEMPORAL_CONFIG_FILE'] = plain['TEMPORAL_CONFIG_FILE'];
  const logs = await mkdtemp(join(tmpdir(), 'rectify-test-'));
  const [temporalBin, motoBin] = await Promise.all([ensureTemporalCli(say), ensureMoto(say)]);
  const [temporalPort, uiPort, motoPort] = [await freePort(), await freePort(), await freePort()];
  const [temporal, moto] = await Promise.all([
    startDevServer({ binary: temporalBin, port: temporalPort, uiPort, logFile: join(logs, 'temporal.log') }),
    startMoto({ binary: motoBin, port: motoPort, logFile: join(logs, 'moto.log') }),
  ]);
  say(`temporal ${temporal.address}, moto ${moto.endpoint}, logs in ${logs}`);
  project.provide('temporalAddress', temporal.address);
  project.provide('motoEndpoint', moto.endpoint);
  project.provide('temporalUiUrl', temporal.uiUrl!);
  return async () => {
    await Promise.all([temporal.stop(), moto.stop()]);
    await rm(logs, { recursive: true, force: true });
  };
}
