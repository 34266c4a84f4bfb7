import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { exportEvidence, writeJsonl, type ExportResult } from '../evidence/export.js';
import { renderReport } from '../evidence/report.js';
import { auditDecisions } from '../decisions/audit.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile } from '../policy/load.js';

export const EVIDENCE_USAGE = `usage: evidence export --from DATE --to DATE [--control ID]... [--account ID]... [--status S]...
                       [--trust KEYID]... [--out DIR]
  DATE: YYYY-MM-DD (00:00 UTC) or an ISO 8601 date-time; the period is [from, to).
  Writes DIR/evidence.jsonl, DIR/evidence.verification.json and DIR/report.html
  (default DIR: ./evidence-<from>-<to>). Exit code 1 when a record fails verification or a run has none.
       evidence verify-decision FILE [--policy FILE]
  Checks the signed decisions in FILE (one evidence record's JSON, or evidence.jsonl) against the
  keys of the policy (default: POLICY_FILE or policy/default.yaml): each decision a person made
  must be signed by a decision relay (Slack) or an operator key of the record's control (CLI), for
  that remediation, and say what the record says. Exit code 1 when one is missing or fails.`;

type WithClient = <T>(fn: (client: Client) => Promise<T>) => Promise<T>;

/** A CLI date: YYYY-MM-DD is midnight UTC; otherwise an ISO 8601 date-time with an offset or Z. */
export function parseCliDate(value: string, flag: string): Date {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const t = day
    ? Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]))
    : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)
      ? Date.parse(value)
      : Number.NaN;
  const d = new Date(t);
  if (Number.isNaN(t) || (day && d.toISOString().slice(0, 10) !== value)) throw new Error(`${flag}: expected YYYY-MM-DD or an ISO 8601 date-time with a time zone, got "${value}"`);
  return d;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '');

export function formatSummary(r: ExportResult, files: { jsonl: string; verification: string; report: string }): string[] {
  const rem = r.records.filter((x) => x.kind === 'remediation');
  const undo = r.records.filter((x) => x.kind === 'undo');
  const verified = r.records.filter((x) => x.verified).length;
  const lines = [
    `${r.records.length} closed executions: ${rem.length} remediations, ${undo.length} undo windows`,
    `signatures: ${verified}/${r.records.length} verified${r.problems.length ? `, ${r.problems.length} failed or without a record` : ''}`,
    `findings still open: ${r.open.length}`,
  ];
  const outcomes = new Map<string, number>();
  for (const x of rem) if (x.record) outcomes.set(x.record.outcome, (outcomes.get(x.record.outcome) ?? 0) + 1);
  if (outcomes.size) lines.push(`outcomes: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`).join(', ')}`);
  if (r.problems.length) {
    lines.push('problems:');
    for (const p of r.problems.slice(0, 20)) lines.push(`  - ${p}`);
    if (r.problems.length > 20) lines.push(`  ... and ${r.problems.length - 20} more (see ${files.verification})`);
  }
  lines.push(`wrote ${files.jsonl}`, `      ${files.verification}`, `      ${files.report}`);
  return lines;
}

async function exportCommand(args: readonly string[], withClient: WithClient, say: (l: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      control: { type: 'string', multiple: true },
      account: { type: 'string', multiple: true },
      status: { type: 'string', multiple: true },
      trust: { type: 'string', multiple: true },
      out: { type: 'string' },
    },
  });
  if (positionals.length > 0 || !values.from || !values.to) {
    process.stderr.write(`${EVIDENCE_USAGE}\n`);
    return 2;
  }
  const from = parseCliDate(values.from, '--from');
  const to = parseCliDate(values.to, '--to');
  if (from.getTime() >= to.getTime()) throw new Error(`--from ${values.from} must be before --to ${values.to}`);
  const outDir = resolve(values.out ?? `evidence-${safe(values.from)}-${safe(values.to)}`);
  const trustedKeyIds = values.trust?.length ? values.trust : undefined;

  let lastShown = -1;
  const result = await withClient((client) =>
    exportEvidence(
      client,
      { from, to, ...(values.control ? { controls: values.control } : {}), ...(values.account ? { accounts: values.account } : {}), ...(values.status ? { statuses: values.status } : {}) },
      {
        ...(trustedKeyIds ? { trustedKeyIds } : {}),
        onProgress: (done, total) => {
          const step = Math.max(1, Math.ceil(total / 20));
          if ((done === total && done !== lastShown) || (done > 0 && done - lastShown >= step)) {
            lastShown = done;
            process.stderr.write(`exported ${done}/${total}\n`);
          }
        },
      },
    ),
  );

  await mkdir(outDir, { recursive: true });
  const jsonl = join(outDir, 'evidence.jsonl');
  const written = await writeJsonl(jsonl, result.records, trustedKeyIds ? { trustedKeyIds } : {});
  const report = join(outDir, 'report.html');
  await writeFile(report, renderReport(result, { from, to, generatedAt: new Date(), ...(trustedKeyIds ? { trustedKeyIds } : {}) }), 'utf8');
  for (const l of formatSummary(result, { jsonl, verification: written.verificationPath, report })) say(l);
  return result.records.some((x) => !x.verified) ? 1 : 0;
}

/** The records in a file: one JSON value (a record or a list of records), or JSON lines. */
function recordsIn(text: string, file: string): unknown[] {
  const trimmed = text.trim();
  try {
    const one: unknown = JSON.parse(trimmed);
    return Array.isArray(one) ? one : [one];
  } catch {
    return trimmed.split('\n').flatMap((line, i) => {
      if (line.trim() === '') return [];
      try {
        return [JSON.parse(line) as unknown];
      } catch {
        throw new Error(`${file}: line ${i + 1} is not JSON`);
      }
    });
  }
}

async function verifyDecisionCommand(args: readonly string[], say: (l: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { policy: { type: 'string' } } });
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    process.stderr.write(`${EVIDENCE_USAGE}\n`);
    return 2;
  }
  const policyPath = values.policy ?? (process.env['POLICY_FILE'] || DEFAULT_POLICY_PATH);
  const policy = await loadPolicyFile(policyPath);
  const records = recordsIn(await readFile(file, 'utf8'), file);
  let failed = 0;
  for (const record of records) {
    const audit = auditDecisions(record, policy);
    if (!audit.ok) failed++;
    say(`${audit.ok ? 'ok  ' : 'FAIL'} ${audit.workflowId}`);
    for (const line of audit.lines) say(`       ${line}`);
  }
  say(`${records.length - failed}/${records.length} record${records.length === 1 ? '' : 's'} with every decision proven, against the keys of ${policyPath} (sha256 ${policy.hash.slice(0, 12)}...)`);
  return failed > 0 || records.length === 0 ? 1 : 0;
}

/** `evidence export ...`, `evidence verify-decision ...`: see EVIDENCE_USAGE. */
export async function evidenceCommand(args: readonly string[], withClient: WithClient, say: (l: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'export') return exportCommand(rest, withClient, say);
  if (sub === 'verify-decision') return verifyDecisionCommand(rest, say);
  process.stderr.write(`${EVIDENCE_USAGE}\n`);
  return 2;
}
