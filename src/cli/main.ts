import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { InvalidInputError } from '../errors.js';
import { createLogger } from '../log.js';
import { REPO_ROOT } from '../stack/paths.js';
import { runDemo } from './demo.js';
import { startLocalStack } from './local-stack.js';

const USAGE = `usage: npm start [-- --no-demo] [-- --once]
       npm run cli -- up [--no-demo] [--once]

  up          start the local stack (Temporal dev server + Web UI, AWS emulator, worker,
              trigger server), print where everything is, then run the demo; Ctrl-C stops it all
  --no-demo   bring the stack up without the demo
  --once      stop after the demo (exit code 0 when every finding was remediated and verified)
`;

const say = (line: string) => process.stdout.write(`${line}\n`);
// The pinned AWS SDK supports Node 20; its notice about future SDK releases would interrupt the demo.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

async function up(args: readonly string[]): Promise<number> {
  const demo = !args.includes('--no-demo');
  const once = args.includes('--once');
  // Worker logs at WARN so the demo's own progress stays readable; Ctrl-C is ours to handle.
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const dataDir = process.env['RECTIFY_DATA_DIR'] ?? join(REPO_ROOT, '.rectify');
  const stack = await startLocalStack({ dataDir, say, logger: createLogger('triggers', 'warn') });
  let stopping: Promise<never> | undefined;
  const shutdown = (code: number) =>
    (stopping ??= (async () => {
      say('\nstopping the local stack...');
      await stack.stop();
      say('stopped.');
      process.exit(code);
    })());
  process.on('SIGINT', () => void shutdown(130));
  process.on('SIGTERM', () => void shutdown(143));

  const ns = stack.config.temporal.namespace;
  say('');
  say('rectify local stack is up');
  say(`  Temporal Web UI   ${stack.temporal.uiUrl}/namespaces/${ns}/workflows`);
  say(`  Temporal server   ${stack.temporal.address} (namespace ${ns}, task queue ${stack.config.temporal.taskQueue})`);
  say(`  Webhook           ${stack.trigger.url}/v1/events  and  ${stack.trigger.url}/v1/findings`);
  say(`  Webhook token     in ${stack.tokenFile} (send as Authorization: Bearer <token>)`);
  say(`  AWS emulator      ${stack.moto.endpoint} (moto; export AWS_ENDPOINT_URL=${stack.moto.endpoint} to use it)`);
  say(`  Data and logs     ${dataDir}`);
  say('');

  let ok = true;
  if (demo) {
    ok = await runDemo({ aws: stack.aws, client: stack.client, webhookUrl: stack.trigger.url, webhookToken: stack.webhookToken, region: stack.config.aws.region, say });
    say(`\nSee them in the Temporal Web UI: ${stack.temporal.uiUrl}/namespaces/${ns}/workflows?query=${encodeURIComponent('RemediationStatus="Remediated"')}`);
  }
  if (once) return shutdown(ok ? 0 : 1);
  say('Press Ctrl-C to stop everything.');
  await stack.workerDone;
  // The worker stops first during a shutdown; let the rest of it finish.
  if (stopping) await stopping;
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command = 'up', ...rest] = argv;
  switch (command) {
    case 'up':
      return up(rest);
    case '--no-demo':
    case '--once':
      return up(argv);
    case 'help':
    case '--help':
    case '-h':
      say(USAGE);
      return 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof InvalidInputError) {
      process.stderr.write(`${err.message.split(': ')[0]}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    } else {
      process.stderr.write(`${(err as Error).message}\n`);
    }
    process.exit(1);
  },
);
