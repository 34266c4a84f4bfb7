// Runs before `npm start` and `npm test`: installs the npm dependencies when they are missing
// or older than package-lock.json, so a fresh clone needs no separate `npm install`.
// Plain Node on purpose: it runs before any dependency exists.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
};
const installed = mtime('node_modules/.package-lock.json');
if (installed < 0 || installed < mtime('package-lock.json') || installed < mtime('package.json')) {
  console.log('[setup] installing npm dependencies (npm install)...');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
