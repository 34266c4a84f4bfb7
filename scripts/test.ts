/**
 * `npm test`: provisions what the suite needs (the pinned Temporal CLI, built with Go on first
 * use, moto in a virtualenv, and cfn-lint and parliament in another for the deploy/ templates),
 * showing progress, then runs vitest with any extra arguments.
 * The servers themselves are started once per run by test/global-setup.ts.
 */
import { spawn } from 'node:child_process';
import { ensureMoto } from '../src/stack/moto.js';
import { ensureTemporalCli } from '../src/stack/temporal.js';
import { ensureChromium } from '../src/stack/chromium.js';
import { ensureLintTools } from '../src/stack/pytools.js';

const say = (l: string) => console.log(`[npm test] ${l}`);

try {
  const [temporal, moto, chromium, lint] = await Promise.all([ensureTemporalCli(say), ensureMoto(say), ensureChromium(say), ensureLintTools(say)]);
  say(`temporal CLI: ${temporal}`);
  say(`moto server: ${moto}`);
  say(`chromium: ${chromium}`);
  say(`cfn-lint: ${lint.cfnLint}`);
  say(`parliament: ${lint.parliament}`);
  process.env['CHROMIUM_PATH'] = chromium;
  process.env['CFN_LINT_PATH'] = lint.cfnLint;
  process.env['PARLIAMENT_PATH'] = lint.parliament;
} catch (err) {
  console.error(`\n[npm test] cannot provision the test stack:\n${(err as Error).message}\n`);
  process.exit(1);
}

const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
