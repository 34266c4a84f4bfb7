import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { run } from './process.js';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/**
 * A headless-capable Chromium for the browser tests (the Temporal Web UI, the evidence report):
 * $CHROMIUM_PATH, else a system Chromium, else (as root on Debian) installs the `chromium`
 * package. Throws with instructions otherwise: browser downloads of test tools are not used.
 */
export async function ensureChromium(say: (l: string) => void = () => undefined): Promise<string> {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv) return fromEnv;
  for (const c of CANDIDATES) if (await access(c, constants.X_OK).then(() => true, () => false)) return c;
  const root = process.getuid?.() === 0;
  const apt = await access('/usr/bin/apt-get', constants.X_OK).then(() => true, () => false);
  if (!root || !apt) {
    throw new Error('Chromium is needed for the browser tests: install it (Debian/Ubuntu: apt-get install chromium) or set CHROMIUM_PATH.');
  }
  say('installing Chromium for the browser tests (apt-get install chromium; first run only)...');
  await run('apt-get', ['update', '-qq']);
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return '/usr/bin/chromium';
}

/** Launch flags for a sandboxed CI machine with no network beyond loopback. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
