import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, REPO_ROOT } from './paths.js';
import { run } from './process.js';

type Say = (line: string) => void;

export interface VenvSpec<B extends string> {
  /** The virtualenv's directory name in the cache directory; change it to build a fresh one. */
  readonly dir: string;
  /** What is installed, for progress lines and errors, e.g. "moto 5.2.5 (AWS API emulator)". */
  readonly what: string;
  /** A pip requirements file pinning every package, dependencies included. */
  readonly requirements: string;
  /** The executables the caller needs, by name in the virtualenv's bin directory. */
  readonly bins: readonly B[];
  /** The oldest Python the packages support (default 3.9). */
  readonly minPython?: readonly [number, number];
}

const exists = (path: string, mode = constants.R_OK) => access(path, mode).then(() => true, () => false);

/**
 * A virtualenv in the cache directory with `requirements` installed, created on first use with
 * Python 3 ($PYTHON, else python3) and pip, showing progress. Returns the path of each of `bins`.
 * A marker file is written last, so an interrupted install is redone rather than half-used.
 * Throws with instructions when Python is missing or too old.
 */
export async function ensureVenv<B extends string>(spec: VenvSpec<B>, say: Say = () => undefined): Promise<Record<B, string>> {
  const venv = join(cacheDir(), spec.dir);
  const bins = Object.fromEntries(spec.bins.map((b) => [b, join(venv, 'bin', b)])) as Record<B, string>;
  const marker = join(venv, '.installed');
  if (await exists(marker)) return bins;
  const python = process.env['PYTHON'] ?? 'python3';
  const [major, minor] = spec.minPython ?? [3, 9];
  try {
    await run(python, ['-c', `import sys, venv; assert sys.version_info >= (${major}, ${minor})`]);
  } catch {
    throw new Error(`${spec.what} needs Python ${major}.${minor}+ with the venv module; "${python}" is not usable. Install Python 3 (e.g. apt-get install python3 python3-venv) or set PYTHON.`);
  }
  say(`installing ${spec.what} into ${venv} (first run only)...`);
  await rm(venv, { recursive: true, force: true });
  await mkdir(cacheDir(), { recursive: true });
  await run(python, ['-m', 'venv', venv]);
  let n = 0;
  await run(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', '-r', spec.requirements], {
    onLine: (l) => {
      if (l.startsWith('Collecting') && ++n % 10 === 0) say(`  ${n} packages fetched...`);
    },
  });
  for (const b of Object.values<string>(bins)) if (!(await exists(b, constants.X_OK))) throw new Error(`installing ${spec.what} from ${spec.requirements} did not provide ${b}`);
  await writeFile(marker, `${spec.dir}\n`);
  say(`installed ${spec.what}`);
  return bins;
}

/** Pinned, with every dependency, in tools/lint/requirements.txt. */
export const CFN_LINT_VERSION = '1.58.0';
export const PARLIAMENT_VERSION = '1.6.4';
const LINT_REQUIREMENTS = join(REPO_ROOT, 'tools', 'lint', 'requirements.txt');

export interface LintTools {
  /** The `cfn-lint` executable (CloudFormation templates). */
  readonly cfnLint: string;
  /** The `parliament` executable (IAM policy documents). */
  readonly parliament: string;
}

/**
 * cfn-lint and parliament in a virtualenv in the cache directory (test/unit/permissions.test.ts
 * lints deploy/ with them). The directory is named after a hash of tools/lint/requirements.txt,
 * so changing a pin installs afresh.
 */
export async function ensureLintTools(say: Say = () => undefined): Promise<LintTools> {
  const hash = createHash('sha256').update(await readFile(LINT_REQUIREMENTS)).digest('hex').slice(0, 12);
  const bins = await ensureVenv(
    {
      dir: `lint-${hash}`,
      what: `cfn-lint ${CFN_LINT_VERSION} and parliament ${PARLIAMENT_VERSION} (template and IAM policy linters)`,
      requirements: LINT_REQUIREMENTS,
      bins: ['cfn-lint', 'parliament'],
      minPython: [3, 11], // the pinned networkx, jsonpatch and regex need 3.11+
    },
    say,
  );
  return { cfnLint: bins['cfn-lint'], parliament: bins.parliament };
}
