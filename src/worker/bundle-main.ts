/**
 * `node --import tsx src/worker/bundle-main.ts <file>`: bundles the workflow code into `file`.
 * Run by the worker in a process of its own (`bundleWorkflowsApart`), so webpack's memory goes
 * away with it instead of staying in the worker for its whole life.
 */
import { writeFile } from 'node:fs/promises';
import { bundleWorkflows } from './create-worker.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: bundle-main.ts <output file>\n');
  process.exit(2);
}
const { code } = await bundleWorkflows();
await writeFile(out, code);
