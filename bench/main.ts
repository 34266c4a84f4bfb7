/**
 * `npm run bench [-- --only burst,steady,waiting,restarts,server-restart] [--burst N] [--rate R]
 * [--sustained R] [--seconds S] [--waiting N] [--restarts N]`: the product on the embedded stack against the
 * targets of docs (README, "Performance"), each figure next to a bare loop of the same AWS calls
 * through the SDK against the same moto in the same run (and, in the steady streams, next to a
 * bare-SDK Temporal loop: one workflow and one activity per finding). Prints a table and one
 * `json` line.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../src/stack/paths.js';
import { plainTemporalEnv } from '../src/temporal-connection.js';
import { billableActions } from './cost.js';
import { count, logStats, postEvent, records, waitFor, type Closed } from './driver.js';
import { cpuSeconds, rssMiB, startBenchStack } from './stack.js';
import { startFloorWorker } from './floor/worker.js';
import { bareFix, bareLoop, createTargets, eventFor, pct, pool, workflowIdOf, type Target } from './workload.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const SCENARIOS = ['burst', 'steady', 'restarts', 'server-restart', 'waiting'] as const;
type Scenario = (typeof SCENARIOS)[number];
const onlyArg = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] ?? '' : SCENARIOS.join(',');
const only = new Set(onlyArg.split(',').map((s) => s.trim()));
for (const s of only) if (!SCENARIOS.includes(s as Scenario)) throw new Error(`--only: unknown scenario "${s}" (${SCENARIOS.join(', ')})`);
const sizes = {
  burst: opt('burst', 1000),
  rate: opt('rate', 20),
  /** A second steady stream, at a rate the stack should sustain on this machine (see the README). */
  sustained: opt('sustained', 6),
  seconds: opt('seconds', 60),
  waiting: opt('waiting', 10_000),
  restarts: opt('restarts', 300),
};

const say = (l: string) => console.log(`[bench] ${l}`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const results: Record<string, unknown> = {};
const table: [string, string, string, string][] = [];
const row = (figure: string, target: string, measured: string, ok: boolean | undefined) => {
  table.push([figure, target, measured, ok === undefined ? '' : ok ? 'met' : 'NOT MET']);
  say(`${figure}: ${measured}${target ? ` (target ${target})` : ''}`);
};

const dir = await mkdtemp(join(tmpdir(), 'rectify-bench-'));
say(`working directory ${dir}`);
const stack = await startBenchStack(dir);
const region = stack.config.aws.region;

try {
  if (only.has('burst')) await burst(sizes.burst);
  if (only.has('steady')) {
    await steady(sizes.rate, sizes.seconds, true);
    await steady(sizes.sustained, sizes.seconds, false);
  }
  if (only.has('restarts')) await restarts('worker', sizes.restarts);
  if (only.has('server-restart')) await restarts('server', sizes.restarts);
  if (only.has('waiting')) await waiting(sizes.waiting);
} finally {
  await stack.stop();
}

console.log('');
const w = [0, 1, 2].map((c) => Math.max(...table.map((r) => r[c]!.length)));
for (const r of table) console.log(`${r[0].padEnd(w[0]!)}  ${r[1].padEnd(w[1]!)}  ${r[2].padEnd(w[2]!)}  ${r[3]}`);
console.log(`json ${JSON.stringify(results)}`);
await rm(dir, { recursive: true, force: true });
if (table.some((r) => r[3] === 'NOT MET')) process.exitCode = 1;

// ---- scenarios ----------------------------------------------------------------------------

/** Posts one event per target, `concurrency` at a time; returns the post time (epoch ms) per workflow id. */
async function postAll(targets: readonly Target[], concurrency: number): Promise<Map<string, number>> {
  const postedAt = new Map<string, number>();
  await pool(targets, concurrency, async (t) => {
    postedAt.set(workflowIdOf(t, region), Date.now());
    await postEvent(stack, eventFor(t, region));
  });
  return postedAt;
}

/** Every product target fixed exactly once (by the write counter) and compliant now. */
async function appliedOnce(targets: readonly Target[]): Promise<{ once: number; twice: number; never: number }> {
  let once = 0;
  let twice = 0;
  let never = 0;
  for (const t of targets) {
    const n = stack.writes.fixes.get(t.id) ?? 0;
    if (n === 1) once++;
    else if (n === 0) never++;
    else twice++;
  }
  return { once, twice, never };
}

function sealed(c: Closed): boolean {
  return c.record?.outcome === 'remediated' && c.record.signature !== undefined && c.record.timestamps.verified !== undefined;
}

async function burst(n: number): Promise<void> {
  say(`burst: creating ${n} + ${n} misconfigured resources (half buckets, half security groups)...`);
  const half = Math.floor(n / 2);
  const targets = await createTargets(stack.aws, region, 'burst', { buckets: half, groups: n - half });
  // The bare loop runs before and after the product, each on resources of its own; the faster run
  // is the reference (the stricter ratio), so a passing hiccup of the machine cannot flatter it.
  const bareTargets = await createTargets(stack.aws, region, 'bare', { buckets: half, groups: n - half });
  const bareAfterTargets = await createTargets(stack.aws, region, 'bare2', { buckets: half, groups: n - half });
  say(`burst: bare loop over ${n} resources, 32 at a time...`);
  const bareBefore = await bareLoop(stack.awsCounted, bareTargets, region, 32);
  say(`burst: bare loop ${round(bareBefore.perSecond)} fixes/s`);
  await stack.takeLogs();

  say(`burst: posting ${n} CloudTrail events to the webhook, 32 in flight...`);
  const cpu0 = await stack.cpu();
  const t0 = new Date();
  const postedAt = await postAll(targets, 32);
  const postSeconds = (Date.now() - t0.getTime()) / 1000;
  say(`burst: posted in ${round(postSeconds)} s; waiting for every remediation to close...`);
  await waitFor(stack.client, t0, n, 30 * 60_000);
  const cpu1 = await stack.cpu();
  say('burst: bare loop again, over other resources...');
  const bareAfter = await bareLoop(stack.awsCounted, bareAfterTargets, region, 32);
  say(`burst: bare loop ${round(bareAfter.perSecond)} fixes/s`);
  const bare = bareAfter.perSecond > bareBefore.perSecond ? bareAfter : bareBefore;
  const cpuMsPerFinding = Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, Math.round(((v - (cpu0[k] ?? 0)) / n) * 1000 * 10) / 10]));
  const closed = await records(stack.client, t0);
  const ok = closed.filter(sealed);
  const lastClose = Math.max(...closed.map((c) => Date.parse(c.record?.timestamps.closed ?? '')).filter(Number.isFinite));
  const perSecond = ok.length / ((lastClose - t0.getTime()) / 1000);
  const ratio = perSecond / bare.perSecond;
  const latency = ok.map((c) => Date.parse(c.record!.timestamps.verified!) - (postedAt.get(c.workflowId) ?? NaN)).filter(Number.isFinite);
  const writes = await appliedOnce(targets);
  const logs = await stack.takeLogs();
  const wlog = logStats(logs.worker);
  const tlog = logStats(logs.trigger);

  // Cost: events and billable actions of the automatic fixes' histories, plus whatever other workflows they started.
  const sample = ok.slice(0, 100);
  const events: number[] = [];
  const actions: number[] = [];
  await pool(sample, 16, async (c) => {
    const h = await stack.client.workflow.getHandle(c.workflowId, c.runId).fetchHistory();
    events.push(h.events?.length ?? 0);
    actions.push(billableActions(h));
  });
  const others = await count(stack.client, `WorkflowType != "remediateFinding" AND StartTime >= "${t0.toISOString()}"`);
  // Other workflows the findings started (undo windows, digests): a sample of their histories, scaled up.
  const otherRuns: { workflowId: string; runId: string }[] = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowType != "remediateFinding" AND StartTime >= "${t0.toISOString()}"` })) {
    otherRuns.push({ workflowId: wf.workflowId, runId: wf.runId });
    if (otherRuns.length >= 100) break;
  }
  let sampledActions = 0;
  await pool(otherRuns, 16, async (r) => {
    sampledActions += billableActions(await stack.client.workflow.getHandle(r.workflowId, r.runId).fetchHistory());
  });
  const otherActions = otherRuns.length ? (sampledActions / otherRuns.length) * others : 0;

  results['burst'] = {
    findings: n,
    sealed: ok.length,
    failed: closed.filter((c) => c.failure).length,
    postSeconds: round(postSeconds),
    perSecond: round(perSecond),
    bare: { perSecond: round(bare.perSecond), before: round(bareBefore.perSecond), after: round(bareAfter.perSecond), p50: round(pct(bare.latencies, 50)), p99: round(pct(bare.latencies, 99)) },
    ratio: round(ratio, 3),
    postToVerifiedMs: { p50: pct(latency, 50), p99: pct(latency, 99), max: Math.max(...latency) },
    appliedOnce: writes,
    logs: { worker: wlog, trigger: tlog },
    cpuMsPerFinding,
  };
  results['cost'] = {
    historyEvents: { min: Math.min(...events), p50: pct(events, 50), max: Math.max(...events) },
    billableActions: { min: Math.min(...actions), p50: pct(actions, 50), max: Math.max(...actions) },
    otherWorkflows: others,
    otherActionsPerFinding: round(otherActions / n, 2),
  };
  row('burst: findings fixed, verified, sealed', `${n} of ${n}`, `${ok.length} of ${n}`, ok.length === n);
  row('burst: end-to-end rate vs bare loop', '>= 40%', `${round(perSecond)}/s vs ${round(bare.perSecond)}/s = ${Math.round(ratio * 100)}% (bare loop ${round(bareBefore.perSecond)}/s before, ${round(bareAfter.perSecond)}/s after)`, ratio >= 0.4);
  row('burst: post to verified', '', `p50 ${pct(latency, 50)} ms, p99 ${pct(latency, 99)} ms`, undefined);
  row('burst: CPU per finding (ms)', '', Object.entries(cpuMsPerFinding).map(([k, v]) => `${k} ${v}`).join(', '), undefined);
  row('burst: fixes applied exactly once', `${n}`, `${writes.once} (twice ${writes.twice}, never ${writes.never})`, writes.once === n);
  row('cost: history events, automatic fix', '<= 40', `${Math.max(...events)} (p50 ${pct(events, 50)})`, Math.max(...events) <= 40);
  row('cost: billable actions per finding', 'stated', `${pct(actions, 50)} in its workflow + ${round(otherActions / n, 2)} in ${others} other workflows`, undefined);
  row('quiet logs: stack traces in the burst', '0', `worker ${wlog.stackTraces}, trigger ${tlog.stackTraces} (${wlog.lines + tlog.lines} lines, ${wlog.warnings + tlog.warnings} warnings)`, wlog.stackTraces + tlog.stackTraces === 0);
}

async function steady(rate: number, seconds: number, target: boolean): Promise<void> {
  const n = Math.round(rate * seconds);
  const name = `steady${rate}`;
  say(`steady: creating ${n} + ${n} misconfigured resources...`);
  const targets = await createTargets(stack.aws, region, name, { buckets: Math.floor(n / 2), groups: n - Math.floor(n / 2) });
  const bareTargets = await createTargets(stack.aws, region, `${name}bare`, { buckets: Math.floor(n / 2), groups: n - Math.floor(n / 2) });
  const interval = 1000 / rate;

  say(`steady: bare loop at ${rate}/s for ${seconds} s...`);
  const bareLatency: number[] = [];
  const b0 = performance.now();
  await Promise.all(
    bareTargets.map(async (t, i) => {
      const due = b0 + i * interval;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      await bareFix(stack.awsCounted, t, region);
      bareLatency.push(performance.now() - due);
    }),
  );

  // The orchestration floor at the same rate: a one-activity workflow per target through the bare SDK.
  const floorTargets = await createTargets(stack.aws, region, `${name}floor`, { buckets: Math.floor(n / 2), groups: n - Math.floor(n / 2) });
  say(`steady: bare-SDK Temporal loop (one workflow, one activity per target) at ${rate}/s for ${seconds} s...`);
  const floor = await startFloorWorker(stack.temporal.address, stack.awsCounted, region);
  const floorDone: { due: number; done: number }[] = [];
  const floorCpu0 = await stack.cpu();
  const f0 = performance.now();
  const fw0 = Date.now();
  try {
    await Promise.all(
      floorTargets.map(async (t, i) => {
        const due = f0 + i * interval;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
        const h = await stack.client.workflow.start('floorFix', { taskQueue: floor.taskQueue, workflowId: `floor/${t.id}`, args: [t] });
        floorDone.push({ due: fw0 + (due - f0), done: await h.result() });
      }),
    );
  } finally {
    await floor.stop();
  }
  const floorCpu1 = await stack.cpu();
  const floorCpu = Object.fromEntries(['temporal', 'moto', 'bench'].map((k) => [k, round((((floorCpu1[k] ?? 0) - (floorCpu0[k] ?? 0)) / n) * 1000)]));
  const floorLatency = floorDone.map((d) => d.done - d.due);
  const floorBacklog = floorDone.filter((d) => d.due <= fw0 + seconds * 1000 && d.done > fw0 + seconds * 1000).length;
  say(`steady: bare-SDK Temporal loop p50 ${round(pct(floorLatency, 50))} ms, p99 ${round(pct(floorLatency, 99))} ms, backlog at the end ${floorBacklog}; CPU per finding (ms): temporal ${floorCpu['temporal']}, moto ${floorCpu['moto']}, bench (its worker, client and the AWS calls) ${floorCpu['bench']}`);

  say(`steady: posting ${rate} findings/s for ${seconds} s...`);
  const t0 = new Date();
  const start = performance.now();
  const scheduled = new Map<string, number>();
  await Promise.all(
    targets.map(async (t, i) => {
      const due = start + i * interval;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      scheduled.set(workflowIdOf(t, region), t0.getTime() + (due - start));
      await postEvent(stack, eventFor(t, region));
    }),
  );
  await waitFor(stack.client, t0, n, 30 * 60_000);
  const closed = await records(stack.client, t0);
  const ok = closed.filter(sealed);
  const verifiedAt = ok.map((c) => ({ due: scheduled.get(c.workflowId) ?? NaN, verified: Date.parse(c.record!.timestamps.verified!) }));
  const latency = verifiedAt.map((v) => Math.round(v.verified - v.due)).filter(Number.isFinite);
  // Backlog at the end of the stream: posted but not yet verified.
  const end = t0.getTime() + seconds * 1000;
  const backlogAtEnd = verifiedAt.filter((v) => v.due <= end && v.verified > end).length;
  const firstTen = verifiedAt.filter((v) => v.due - t0.getTime() < 10_000).map((v) => Math.round(v.verified - v.due));
  const lastTen = verifiedAt.filter((v) => end - v.due <= 10_000).map((v) => Math.round(v.verified - v.due));
  await stack.takeLogs();
  const p50 = pct(latency, 50);
  const p99 = pct(latency, 99);
  results[name] = {
    rate,
    seconds,
    sealed: ok.length,
    postToVerifiedMs: { p50, p90: pct(latency, 90), p99, max: Math.max(...latency) },
    firstTenSecondsP50: pct(firstTen, 50),
    lastTenSecondsP50: pct(lastTen, 50),
    backlogAtEnd,
    bare: { p50: round(pct(bareLatency, 50)), p99: round(pct(bareLatency, 99)) },
    floor: { p50: round(pct(floorLatency, 50)), p99: round(pct(floorLatency, 99)), backlogAtEnd: floorBacklog, cpuMsPerFinding: floorCpu },
  };
  // The stream the issue names is judged against its targets; the sustained one is shown for what it is.
  const judged = (ok: boolean) => (target ? ok : undefined);
  const label = `steady ${rate}/s for ${seconds} s`;
  row(`${label}: sealed`, `${n} of ${n}`, `${ok.length} of ${n}`, ok.length === n);
  row(`${label}: post to verified p50`, target ? '<= 300 ms' : '', `${p50} ms (bare loop ${round(pct(bareLatency, 50))} ms, bare-SDK Temporal loop ${round(pct(floorLatency, 50))} ms)`, judged(p50 <= 300));
  row(`${label}: post to verified p99`, target ? '<= 1000 ms' : '', `${p99} ms (bare loop ${round(pct(bareLatency, 99))} ms, bare-SDK Temporal loop ${round(pct(floorLatency, 99))} ms)`, judged(p99 <= 1000));
  row(`${label}: keeps up`, target ? 'no growing backlog' : '', `backlog at the end ${backlogAtEnd} (bare-SDK Temporal loop ${floorBacklog}); p50 first 10 s ${pct(firstTen, 50)} ms, last 10 s ${pct(lastTen, 50)} ms`, judged(backlogAtEnd <= rate && pct(lastTen, 50) <= Math.max(2 * pct(firstTen, 50), 300)));
}

async function restarts(what: 'worker' | 'server', n: number): Promise<void> {
  const label = what === 'worker' ? 'restarts (worker kill -9 x5)' : 'restart (Temporal server kill -9 x1)';
  say(`${label}: creating ${n} misconfigured resources...`);
  const targets = await createTargets(stack.aws, region, what === 'worker' ? 'kill' : 'srvkill', { buckets: Math.floor(n / 2), groups: n - Math.floor(n / 2) });
  const t0 = new Date();
  say(`${label}: posting ${n} events...`);
  const posting = postAll(targets, 16);
  let lastRestart = 0;
  if (what === 'worker') {
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 2500));
      say(`${label}: kill -9 the worker (${i + 1} of 5) and start it again`);
      await stack.killAndRestartWorker();
      lastRestart = Date.now();
    }
  } else {
    await new Promise((r) => setTimeout(r, 3000));
    say(`${label}: kill -9 the Temporal server and start it again`);
    await stack.killAndRestartTemporal();
    lastRestart = Date.now();
  }
  await posting;
  await waitFor(stack.client, t0, n, 10 * 60_000).catch((err: Error) => say(`${label}: ${err.message}`));
  const closed = await records(stack.client, t0);
  const ok = closed.filter(sealed);
  const lastClose = Math.max(...closed.map((c) => Date.parse(c.record?.timestamps.closed ?? '')).filter(Number.isFinite));
  const afterRestart = (lastClose - lastRestart) / 1000;
  const writes = await appliedOnce(targets);
  await stack.takeLogs();
  results[what === 'worker' ? 'workerRestarts' : 'serverRestart'] = { findings: n, sealed: ok.length, lost: n - closed.length, failed: closed.filter((c) => c.failure).length, lastCloseAfterLastRestartSeconds: round(afterRestart), appliedOnce: writes };
  row(`${label}: all complete`, `${n} of ${n}`, `${ok.length} of ${n} (${n - closed.length} lost, ${closed.filter((c) => c.failure).length} failed)`, ok.length === n);
  row(`${label}: last one done after the last restart`, '<= 120 s', `${round(afterRestart)} s`, afterRestart <= 120);
  row(`${label}: applied exactly once`, `${n}`, `${writes.once} (twice ${writes.twice}, never ${writes.never})`, writes.once === n);
}

async function waiting(n: number): Promise<void> {
  say(`waiting: creating ${n} buckets tagged public-website=true (the shipped policy asks before fixing those)...`);
  const targets = await createTargets(stack.aws, region, 'wait', { buckets: n, groups: 0 }, { 'public-website': 'true' });
  const t0 = new Date();
  const p0 = performance.now();
  say(`waiting: posting ${n} events...`);
  await postAll(targets, 32);
  const reached = await waitFor(stack.client, t0, n, 60 * 60_000, 'AwaitingApproval');
  const parkRate = n / ((reached - p0) / 1000);
  say(`waiting: ${n} awaiting approval; letting the worker settle...`);
  await new Promise((r) => setTimeout(r, 20_000));
  const pid = stack.worker.child.pid!;
  const rss = await rssMiB(pid);
  const cpu0 = await cpuSeconds(pid);
  await new Promise((r) => setTimeout(r, 15_000));
  const idleCpu = ((await cpuSeconds(pid)) - cpu0) / 15;

  const list = await timedCli(['approvals']);
  const listedAll = list.output.includes(`${n}`);

  say('waiting: kill -9 the worker and start it again, then approve them all from the CLI by query...');
  await stack.killAndRestartWorker();
  let peak = 0;
  const sampler = setInterval(() => void rssMiB(stack.worker.child.pid!).then((m) => (peak = Math.max(peak, m)), () => undefined), 1000);
  const r0 = performance.now();
  const bulk = await timedCli(['approve', '--all', '--control', 's3-block-public-access', '--reason', 'benchmark', '--yes']);
  const done = await waitFor(stack.client, t0, n, 60 * 60_000).finally(() => clearInterval(sampler));
  const resumeSeconds = (done - r0) / 1000;
  const closed = await records(stack.client, t0);
  const ok = closed.filter(sealed);
  await stack.takeLogs();
  results['waiting'] = {
    findings: n,
    parkedPerSecond: round(parkRate),
    workerRssMiB: round(rss),
    idleCpuPercent: round(idleCpu * 100, 2),
    listSeconds: round(list.seconds, 2),
    bulkApproveCommandSeconds: round(bulk.seconds, 1),
    resumedAndSealed: ok.length,
    resumeSeconds: round(resumeSeconds),
    peakRssWhileResumingMiB: round(peak),
  };
  row(`waiting: ${n} awaiting approval, worker RSS`, '<= 500 MB', `${Math.round(rss)} MiB (reached at ${round(parkRate)}/s)`, rss <= 500);
  row('waiting: worker CPU while idle', 'near zero', `${round(idleCpu * 100, 2)}% of a core`, idleCpu < 0.02);
  row('waiting: `npm run cli -- approvals`', '<= 3 s', `${round(list.seconds, 2)} s (whole command)`, list.seconds <= 3 && listedAll);
  row('waiting: all resume and finish after a restart', `${n} of ${n}`, `${ok.length} of ${n} in ${round(resumeSeconds)} s after a bulk approve (peak RSS ${Math.round(peak)} MiB)`, ok.length === n);
}

/** Runs the CLI as a user would (its own process) and times it. */
async function timedCli(args: string[]): Promise<{ seconds: number; output: string }> {
  const start = performance.now();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...plainTemporalEnv(), TEMPORAL_ADDRESS: stack.temporal.address, ...stack.cliEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`cli ${args.join(' ')} exited ${code}:\n${out.slice(-2000)}`))));
  });
  return { seconds: (performance.now() - start) / 1000, output };
}
