/**
 * `npm test`: provisions what the suite needs (the pinned Temporal CLI, built with Go on first
 * use, and moto in a virtualenv), showing progress, then runs vitest with any extra arguments.
 * The servers themselves are started once per run by test/global-setup.ts.
 */
import { spawn } from 'node:child_process';
import { ensureMoto } from '../src/stack/moto.js';
import { ensureTemporalCli } from '../src/stack/temporal.js';
import { ensureChromium } from '../src/stack/chromium.js';

const say = (l: string) => console.log(`[npm test] ${l}`);

try {
  const [temporal, moto, chromium] = await Promise.all([ensureTemporalCli(say), ensureMoto(say), ensureChromium(say)]);
  say(`temporal CLI: ${temporal}`);
  say(`moto server: ${moto}`);
  say(`chromium: ${chromium}`);
  process.env['CHROMIUM_PATH'] = chromium;
} catch (err) {
  console.error(`\n[npm test] cannot provision the test stack:\n${(err as Error).message}\n`);
  process.exit(1);
}

const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
