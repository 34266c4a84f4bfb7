#!/usr/bin/env node
/**
 * `node scripts/node-lts.mjs [VERSION]`: makes sure a pinned Node.js LTS binary is in the cache
 * directory and prints the directory to put first on PATH. The binary comes from the npm
 * registry (the `node-linux-<arch>` packages the `node` package installs from), so nothing but
 * the registry is needed; `npm pack` checks it against the registry's integrity hash.
 *
 * CI runs the test suite once with the machine's Node and once with this one:
 *   PATH="$(node scripts/node-lts.mjs)":$PATH npm test
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The LTS line the project is tested on besides the machine's own Node (Active LTS in 2026). */
export const NODE_LTS_VERSION = '24.21.0';

const version = process.argv[2] ?? NODE_LTS_VERSION;
if (!/^\d+\.\d+\.\d+$/.test(version)) {
  console.error(`node-lts: "${version}" is not a version like ${NODE_LTS_VERSION}`);
  process.exit(2);
}
if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
  console.error(`node-lts: only linux x64/arm64 builds are fetched; this is ${process.platform} ${process.arch}`);
  process.exit(2);
}
const cache = process.env.RECTIFY_CACHE_DIR || join(homedir(), '.cache', 'rectify');
const dir = join(cache, `node-${version}-${process.arch}`);
const bin = join(dir, 'bin');

if (!existsSync(join(bin, 'node'))) {
  const pkg = `node-linux-${process.arch}@${version}`;
  console.error(`[node-lts] fetching Node.js ${version} (${pkg}) from the npm registry (first run only)...`);
  mkdirSync(cache, { recursive: true });
  // Next to its destination: the final rename stays on one filesystem.
  const work = mkdtempSync(join(cache, '.node-lts-'));
  try {
    execFileSync('npm', ['pack', pkg, '--silent', '--pack-destination', work], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = join(work, `node-linux-${process.arch}-${version}.tgz`);
    execFileSync('tar', ['-xzf', tgz, '-C', work, 'package/bin/node', 'package/LICENSE'], { stdio: 'inherit' });
    const out = execFileSync(join(work, 'package', 'bin', 'node'), ['--version']).toString().trim();
    if (out !== `v${version}`) throw new Error(`the fetched binary says ${out}, expected v${version}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(work, 'package'), dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.error(`[node-lts] Node.js ${version} in ${dir}`);
}
console.log(bin);
