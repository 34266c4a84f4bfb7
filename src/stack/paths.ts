import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json is). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where built tools (the Temporal CLI, the moto virtualenv) are cached, outside the repo so
 * clones and clean checkouts share them: $RECTIFY_CACHE_DIR, else $XDG_CACHE_HOME/rectify,
 * else ~/.cache/rectify.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['RECTIFY_CACHE_DIR']) return env['RECTIFY_CACHE_DIR'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'rectify');
}
