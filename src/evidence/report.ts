import type { Decider, RemediationRecord } from '../workflows/messages.js';
import type { UndoRecord } from '../workflows/undo-window.js';
import type { ExportedRecord, ExportResult, OpenFinding } from './export.js';

/**
 * The auditor's report of an evidence export: one self-contained HTML file (inline CSS and SVG,
 * no script, nothing fetched; a Content-Security-Policy forbids both). Every string that comes
 * from a record is escaped. Pure: the same export and meta give the same bytes.
 */
export interface ReportMeta {
  readonly from: Date;
  readonly to: Date;
  readonly generatedAt: Date;
  /** Policy file hashes in force; default: the ones the records name. */
  readonly policyHashes?: readonly string[];
  /** Key ids the signatures were checked against, when pinned. */
  readonly trustedKeyIds?: readonly string[];
}

// ---- numbers ---------------------------------------------------------------------------------

/** Nearest-rank percentile: the smallest value with at least p% of the values at or below it. Undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export interface TtrStats {
  readonly n: number;
  readonly p50?: number;
  readonly p90?: number;
  readonly max?: number;
}

export function ttrStats(values: readonly number[]): TtrStats {
  if (values.length === 0) return { n: 0 };
  return { n: values.length, p50: percentile(values, 50)!, p90: percentile(values, 90)!, max: Math.max(...values) };
}

/** A duration for people: 850 ms, 12.3 s, 4.5 min, 2.1 h, 3.2 d. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  const one = (v: number, unit: string) => `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${unit}`;
  if (a < 1000) return `${Math.round(ms)} ms`;
  if (a < 60_000) return one(ms / 1000, 's');
  if (a < 3_600_000) return one(ms / 60_000, 'min');
  if (a < 86_400_000) return one(ms / 3_600_000, 'h');
  return one(ms / 86_400_000, 'd');
}

const DAY_MS = 86_400_000;
const dayOf = (t: number) => new Date(Math.floor(t / DAY_MS) * DAY_MS).toISOString().slice(0, 10);

/** UTC days of [from, to): the first day is from's, the last the day of the period's last millisecond. */
export function periodDays(from: Date, to: Date): string[] {
  const days: string[] = [];
  const last = Math.floor((to.getTime() - 1) / DAY_MS);
  for (let d = Math.floor(from.getTime() / DAY_MS); d <= last && days.length < 3700; d++) days.push(dayOf(d * DAY_MS));
  return days;
}

// ---- html ------------------------------------------------------------------------------------

/** Escapes text for HTML element content and quoted attribute values (and SVG text). */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const isoShort = (iso: string | undefined) => {
  if (!iso) return '–';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z').replace(/:\d\dZ$/, 'Z');
};
/** A period boundary: the date alone at midnight UTC, else the instant to the second (or millisecond). */
const boundary = (d: Date) => {
  const iso = d.toISOString();
  if (iso.endsWith('T00:00:00.000Z')) return iso.slice(0, 10);
  return iso.replace('T', ' ').replace(/\.000Z$/, 'Z');
};
const num = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;
const decider = (d: Decider | undefined) => (d ? `${d.name} (${d.via}${d.via === 'slack' || d.via === 'cli' ? `:${d.id}` : ''})` : '–');

function table(head: readonly string[], rows: readonly string[][], o: { numeric?: readonly number[]; cls?: string } = {}): string {
  const numeric = new Set(o.numeric ?? []);
  const th = head.map((h, i) => `<th${numeric.has(i) ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${o.cls ? ` class="${o.cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A resource id in a table: kept on one line when short (ids break badly at their hyphens), wrapped when long. */
const resourceCode = (id: string) => `<code${id.length <= 32 ? ' class="nowrap"' : ''}>${esc(id)}</code>`;

const none = (what: string) => `<p class="none">${esc(what)}</p>`;

// ---- the chart ---------------------------------------------------------------------------------

interface DayPoint {
  readonly day: string;
  readonly p50?: number;
  readonly p90?: number;
  readonly n: number;
}

/** A y axis for durations: a unit, a nice step and the top, for values up to `max` ms. */
function durationAxis(max: number): { unit: string; unitMs: number; step: number; top: number } {
  const units: [string, number][] = [
    ['ms', 1],
    ['s', 1000],
    ['min', 60_000],
    ['h', 3_600_000],
    ['d', DAY_MS],
  ];
  let [unit, unitMs] = units[0]!;
  for (const [u, m] of units) if (max >= 2 * m || (u === 's' && max >= 1000)) [unit, unitMs] = [u, m];
  const inUnit = Math.max(max / unitMs, 1e-9);
  const rough = inUnit / 4;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * pow).find((s) => s >= rough) ?? 10 * pow;
  const top = Math.max(step, Math.ceil(inUnit / step) * step);
  return { unit, unitMs, step, top };
}

export function ttrChart(points: readonly DayPoint[], o: { width?: number; height?: number } = {}): string {
  const W = o.width ?? 920;
  const H = o.height ?? 300;
  const m = { left: 72, right: 24, top: 40, bottom: 56 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const withData = points.filter((p) => p.n > 0);
  const max = Math.max(0, ...withData.map((p) => p.p90 ?? 0));
  const axis = durationAxis(max > 0 ? max : 1000);
  const x = (i: number) => (points.length <= 1 ? m.left + pw / 2 : m.left + (i / (points.length - 1)) * pw);
  const y = (ms: number) => m.top + ph - (ms / axis.unitMs / axis.top) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="ttr-title" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`,
    `<title id="ttr-title">Time to remediate per day, p50 and p90</title>`,
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="#fbfcfd" stroke="#d5dbe1"/>`,
  );
  // y axis: grid lines and labels
  for (let v = 0; v <= axis.top + 1e-9; v += axis.step) {
    const yy = y(v * axis.unitMs).toFixed(1);
    const label = `${Number(v.toFixed(3))} ${axis.unit}`;
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${yy}" y2="${yy}" stroke="#e3e8ed"/>`);
    parts.push(`<text x="${m.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" class="tick">${esc(label)}</text>`);
  }
  parts.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis-label">time to remediate</text>`);
  // x axis: at most ~10 date labels
  const every = Math.max(1, Math.ceil(points.length / 10));
  points.forEach((p, i) => {
    if (i % every !== 0 && i !== points.length - 1) return;
    // The last day gets a label too, unless it would crowd the previous one.
    if (i === points.length - 1 && i % every !== 0 && i % every <= every / 2) return;
    const xx = x(i).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#8a96a3"/>`);
    parts.push(`<text x="${xx}" y="${m.top + ph + 20}" text-anchor="middle" class="tick">${esc(points.length > 1 ? p.day.slice(5) : p.day)}</text>`);
  });
  const first = points[0]?.day;
  const last = points[points.length - 1]?.day;
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle" class="axis-label">day (UTC)${first && last && first !== last ? `, ${esc(first)} to ${esc(last)}` : ''}</text>`);
  // series
  const series: [keyof Pick<DayPoint, 'p50' | 'p90'>, string, string][] = [
    ['p90', '#d9480f', 'p90'],
    ['p50', '#1c64c4', 'p50'],
  ];
  for (const [key, color, name] of series) {
    let d = '';
    let pen = false;
    points.forEach((p, i) => {
      const v = p[key];
      if (v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
    });
    const only = points.length === 1 ? points[0]![key] : undefined;
    // A one-day period: the day is the whole x axis, so its value is a level line across it.
    if (only !== undefined) d = `M${m.left} ${y(only).toFixed(1)} L${m.left + pw} ${y(only).toFixed(1)}`;
    if (d) parts.push(`<path class="series series-${name}" d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round"/>`);
    const label = withData.length <= 12; // few points: print the values (the page may be printed)
    points.forEach((p, i) => {
      const v = p[key];
      if (v === undefined) return;
      if (label) {
        const dy = key === 'p90' ? -9 : 16;
        parts.push(`<text x="${x(i).toFixed(1)}" y="${(y(v) + dy).toFixed(1)}" text-anchor="middle" class="value value-${name}" fill="${color}">${esc(formatMs(v))}</text>`);
      }
      parts.push(`<circle class="point-${name}" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${p.day} ${name} ${formatMs(v)} (${plural(p.n, 'fix', 'fixes')})`)}</title></circle>`);
    });
  }
  if (withData.length === 0) {
    parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle" dominant-baseline="middle" class="empty">No verified fixes in this period</text>`);
  }
  // legend
  const lx = m.left + pw - 190;
  parts.push(
    `<g class="legend" transform="translate(${lx} 12)">`,
    `<line x1="0" x2="22" y1="8" y2="8" stroke="#1c64c4" stroke-width="2.5"/><circle cx="11" cy="8" r="3.5" fill="#1c64c4"/><text x="28" y="8" dominant-baseline="middle" class="tick">p50 (median)</text>`,
    `<line x1="112" x2="134" y1="8" y2="8" stroke="#d9480f" stroke-width="2.5"/><circle cx="123" cy="8" r="3.5" fill="#d9480f"/><text x="140" y="8" dominant-baseline="middle" class="tick">p90</text>`,
    `</g>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

// ---- the report --------------------------------------------------------------------------------

type Rem = ExportedRecord & { kind: 'remediation'; record: RemediationRecord };
type Und = ExportedRecord & { kind: 'undo'; record: UndoRecord };

const OUTCOME_ORDER = ['remediated', 'already-compliant', 'failed', 'rejected', 'exempt', 'dry-run', 'resolved', 'unresolved', 'out-of-scope', 'off'];

/** When an `exempt` record's exemption ends: an ISO instant, 'permanent', or undefined when the reason does not say. */
function exemptionExpiry(reason: string | undefined): string | undefined {
  if (!reason) return undefined;
  if (/exempt permanently/.test(reason)) return 'permanent';
  return /exempt until (\S+)/.exec(reason)?.[1];
}

export function renderReport(r: ExportResult, meta: ReportMeta): string {
  const rems = r.records.filter((x): x is Rem => x.kind === 'remediation' && x.record !== null);
  const undos = r.records.filter((x): x is Und => x.kind === 'undo' && x.record !== null);
  const missing = r.records.filter((x) => x.record === null);
  const failedVerification = r.records.filter((x) => !x.verified);
  const now = meta.generatedAt.getTime();
  const period = `${boundary(meta.from)} to ${boundary(meta.to)}`;
  const policyHashes = meta.policyHashes ?? [...new Set(rems.map((x) => x.record.policyHash).filter(Boolean))].sort();

  // outcomes per control
  const controls = [...new Set([...rems.map((x) => x.record.control), ...missing.filter((x) => x.kind === 'remediation').map((x) => x.control || '(unknown)')])].sort();
  const outcomes = OUTCOME_ORDER.filter((o) => rems.some((x) => x.record.outcome === o));
  for (const x of rems) if (!outcomes.includes(x.record.outcome)) outcomes.push(x.record.outcome);
  const noRecordCol = missing.some((x) => x.kind === 'remediation');
  const count = (c: string, o: string) => rems.filter((x) => x.record.control === c && x.record.outcome === o).length;
  const countMissing = (c: string) => missing.filter((x) => x.kind === 'remediation' && (x.control || '(unknown)') === c).length;
  const cell = (n: number) => (n === 0 ? '<span class="zero">0</span>' : num(n));
  const outcomeRows = controls.map((c) => [
    `<code>${esc(c)}</code>`,
    ...outcomes.map((o) => cell(count(c, o))),
    ...(noRecordCol ? [countMissing(c) ? `<span class="bad">${num(countMissing(c))}</span>` : cell(0)] : []),
    `<strong>${num(rems.filter((x) => x.record.control === c).length + (noRecordCol ? countMissing(c) : 0))}</strong>`,
  ]);
  if (controls.length > 1) {
    outcomeRows.push([
      '<strong>all controls</strong>',
      ...outcomes.map((o) => `<strong>${num(rems.filter((x) => x.record.outcome === o).length)}</strong>`),
      ...(noRecordCol ? [`<strong>${num(missing.filter((x) => x.kind === 'remediation').length)}</strong>`] : []),
      `<strong>${num(rems.length + (noRecordCol ? missing.filter((x) => x.kind === 'remediation').length : 0))}</strong>`,
    ]);
  }
  const outcomeHead = ['Control', ...outcomes, ...(noRecordCol ? ['no record'] : []), 'Total'];
  const outcomeNumeric = outcomeHead.map((_, i) => i).slice(1);

  const failures = rems.filter((x) => x.record.outcome === 'failed');
  const failureRows = failures.map((x) => [
    esc(isoShort(x.record.timestamps?.closed ?? x.closedAt)),
    `${resourceCode(x.record.resource.id)}<div class="sub">${esc(x.record.control)}</div>`,
    esc(x.record.reason ?? ''),
    x.record.change?.applied ? 'yes' : 'no',
  ]);

  // time to remediate
  const ttrOf = (xs: readonly Rem[]) => xs.flatMap((x) => (typeof x.record.timeToRemediateMs === 'number' && Number.isFinite(x.record.timeToRemediateMs) ? [Math.max(0, x.record.timeToRemediateMs)] : []));
  const overall = ttrStats(ttrOf(rems));
  const ttrRows = [
    ['<strong>all controls</strong>', num(overall.n), formatMs(overall.p50), formatMs(overall.p90), formatMs(overall.max)],
    ...controls
      .map((c) => [c, ttrStats(ttrOf(rems.filter((x) => x.record.control === c)))] as const)
      .filter(([, s]) => s.n > 0)
      .map(([c, s]) => [`<code>${esc(c)}</code>`, num(s.n), formatMs(s.p50), formatMs(s.p90), formatMs(s.max)]),
  ];
  const byDay = new Map<string, number[]>();
  for (const x of rems) {
    const ms = x.record.timeToRemediateMs;
    if (typeof ms !== 'number' || !Number.isFinite(ms)) continue;
    const at = Date.parse(x.record.timestamps?.verified ?? x.closedAt);
    const day = dayOf(Number.isNaN(at) ? Date.parse(x.closedAt) : at);
    byDay.set(day, [...(byDay.get(day) ?? []), Math.max(0, ms)]);
  }
  const points = periodDays(meta.from, meta.to).map((day): DayPoint => {
    const vs = byDay.get(day) ?? [];
    return vs.length ? { day, n: vs.length, p50: percentile(vs, 50)!, p90: percentile(vs, 90)! } : { day, n: 0 };
  });

  // decisions
  const asked = rems.filter((x) => x.record.approval);
  const approvalRows = asked.map((x) => {
    const a = x.record.approval!;
    const decision = a.decision ? `<span class="${a.decision === 'approve' ? 'ok' : 'bad'}">${esc(a.decision === 'approve' ? 'approved' : 'rejected')}</span>` : '<span class="muted">undecided</span>';
    return [
      `${resourceCode(x.record.resource.id)}<div class="sub">${esc(x.record.control)}</div>`,
      esc(a.reasons.join('; ')),
      `${decision}<div class="sub">${esc(isoShort(a.decidedAt))}</div>`,
      esc(decider(a.by)),
      esc(a.reason ?? ''),
      esc(x.record.outcome),
    ];
  });
  const perDecider = new Map<string, { who: string; via: string; approve: number; reject: number }>();
  for (const x of rems) {
    const d = x.record.approval?.by ?? x.record.decidedBy;
    if (!d) continue;
    const key = `${d.via}\u0000${d.id}`;
    const e = perDecider.get(key) ?? { who: d.via === 'policy' ? d.name : `${d.name} (${d.id})`, via: d.via, approve: 0, reject: 0 };
    const rejected = x.record.approval?.decision === 'reject' || (x.record.approval?.decision === undefined && x.record.outcome === 'rejected');
    if (rejected) e.reject++;
    else e.approve++;
    perDecider.set(key, e);
  }
  const deciderRows = [...perDecider.values()]
    .sort((a, b) => b.approve + b.reject - (a.approve + a.reject) || a.who.localeCompare(b.who))
    .map((d) => [esc(d.who), esc(d.via), num(d.approve), num(d.reject), num(d.approve + d.reject)]);

  // undo
  const reverted = undos.filter((x) => x.record.outcome === 'reverted' && x.record.undo);
  const undoRows = reverted.map((x) => {
    const u = x.record.undo!;
    return [
      esc(isoShort(u.at)),
      `${resourceCode(x.record.resource.id)}<div class="sub">${esc(x.record.control)}</div>`,
      esc(decider(u.by)),
      u.reason ? esc(u.reason) : '<span class="muted">no reason given</span>',
      u.exemptUntil ? esc(isoShort(u.exemptUntil)) : '<span class="muted">not tagged exempt</span>',
      `<code class="small">${esc(x.record.remediation.workflowId)}</code>`,
    ];
  });
  const windowsClosed = undos.filter((x) => x.record.outcome === 'window-closed').length;

  // exemptions in force at generation time: latest per resource
  const exemptions = new Map<string, { control: string; resource: string; until: string; source: string; since: string; note: string }>();
  for (const x of rems) {
    if (x.record.outcome !== 'exempt') continue;
    const until = exemptionExpiry(x.record.reason);
    if (until && until !== 'permanent' && Date.parse(until) <= now) continue;
    exemptions.set(`${x.record.control}\u0000${x.record.resource.id}`, {
      control: x.record.control,
      resource: x.record.resource.id,
      until: until ?? 'unknown (see reason)',
      source: 'resource tagged exempt',
      since: x.record.timestamps?.closed ?? x.closedAt,
      note: x.record.reason ?? '',
    });
  }
  for (const x of reverted) {
    const until = x.record.undo!.exemptUntil;
    if (!until || Date.parse(until) <= now) continue;
    exemptions.set(`${x.record.control}\u0000${x.record.resource.id}`, {
      control: x.record.control,
      resource: x.record.resource.id,
      until,
      source: `fix undone by ${decider(x.record.undo!.by)}`,
      since: x.record.undo!.at,
      note: x.record.undo!.reason ?? '',
    });
  }
  const exemptionRows = [...exemptions.values()]
    .sort((a, b) => a.until.localeCompare(b.until))
    .map((e) => [
      `${resourceCode(e.resource)}<div class="sub">${esc(e.control)}</div>`,
      esc(e.until === 'permanent' || e.until.startsWith('unknown') ? e.until : isoShort(e.until)),
      esc(e.source),
      esc(isoShort(e.since)),
      esc(e.note),
    ]);

  const openRows = r.open.map((o: OpenFinding) => [
    `${resourceCode(o.resource)}<div class="sub">${esc(o.control)}</div>`,
    esc(o.status || 'unknown'),
    esc(o.severity),
    `${esc(o.account)}<div class="sub">${esc(o.region)}</div>`,
    esc(isoShort(o.since)),
    esc(formatMs(now - Date.parse(o.since))),
    `<code class="small">${esc(o.workflowId)}</code>`,
  ]);

  // signatures
  const keyIds = [...new Set(r.records.flatMap((x) => (x.verified && x.keyId ? [x.keyId] : [])))].sort();
  const allGood = failedVerification.length === 0;
  const sigSummary = allGood
    ? `<div class="verdict good"><strong>${r.records.length === 0 ? 'No records to verify.' : `All ${plural(r.records.length, 'record')} verified.`}</strong> ${
        keyIds.length ? `Ed25519 signatures by key${keyIds.length === 1 ? '' : 's'} ${keyIds.map((k) => `<code>${esc(k)}</code>`).join(', ')}` : ''
      }${meta.trustedKeyIds ? `; trusted keys pinned: ${meta.trustedKeyIds.map((k) => `<code>${esc(k)}</code>`).join(', ') || 'none'}.` : r.records.length ? '; no keys were pinned: pin yours with --trust.' : ''}</div>`
    : `<div class="verdict badbox"><strong>${plural(failedVerification.length, 'record')} of ${num(r.records.length)} failed verification or ${failedVerification.length === 1 ? 'has' : 'have'} no record.</strong>${
        meta.trustedKeyIds ? ` Trusted keys: ${meta.trustedKeyIds.map((k) => `<code>${esc(k)}</code>`).join(', ') || 'none'}.` : ''
      }</div>` +
      table(
        ['Execution', 'Closed', 'How it closed', 'Problem'],
        failedVerification.map((x) => [
          `<code class="small">${esc(x.workflowId)}</code><div class="sub">run ${esc(x.runId)}</div>`,
          esc(isoShort(x.closedAt)),
          esc(x.executionStatus),
          `<span class="bad">${esc(x.problem ?? 'not verified')}</span>`,
        ]),
        { cls: 'problems' },
      );

  const allRows = r.records.map((x) => [
    `<span class="nowrap">${esc(isoShort(x.closedAt))}</span>`,
    esc(x.kind),
    `<code class="small">${esc(x.workflowId)}</code>`,
    esc(x.record ? x.record.outcome : `(${x.executionStatus.toLowerCase()})`),
    x.verified ? `<span class="ok">verified</span>` : `<span class="bad">${esc(x.problem ?? 'not verified')}</span>`,
  ]);

  const remediated = rems.filter((x) => x.record.outcome === 'remediated').length;
  const failed = rems.filter((x) => x.record.outcome === 'failed').length;
  const card = (label: string, value: string, cls = '') => `<div class="card ${cls}"><div class="value">${value}</div><div class="label">${esc(label)}</div></div>`;
  const cards = [
    card('closed remediations', num(rems.length + missing.filter((x) => x.kind === 'remediation').length)),
    card('fixed and verified', num(remediated)),
    card('failed', num(failed), failed ? 'warn' : ''),
    card('approval requests', num(asked.length)),
    card('fixes undone', num(reverted.length)),
    card('still open', num(r.open.length), r.open.length ? 'warn' : ''),
    card('TTR p50 / p90', `${esc(formatMs(overall.p50))} <span class="slash">/</span> ${esc(formatMs(overall.p90))}`),
    card('signatures', allGood ? 'all verified' : `${num(failedVerification.length)} failed`, allGood ? 'good' : 'badcard'),
  ].join('\n');

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Remediation evidence, ${esc(period)}</title>
<style>
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1d2630; background: #f3f5f7; }
  main { max-width: 1000px; margin: 0 auto; padding: 28px 32px 48px; background: #fff; min-height: 100vh; }
  header { border-bottom: 3px solid #1d2630; padding-bottom: 14px; margin-bottom: 20px; }
  h1 { font-size: 24px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d5dbe1; }
  h3 { font-size: 14px; margin: 18px 0 8px; }
  .period { font-size: 16px; color: #38434f; }
  .meta { color: #5b6875; font-size: 12.5px; margin-top: 6px; }
  code { font: 12.5px/1.3 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; overflow-wrap: anywhere; }
  code.nowrap, .nowrap { white-space: nowrap; }
  code.small { font-size: 11.5px; color: #4a5562; }
  .cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
  .card { border: 1px solid #d5dbe1; border-radius: 6px; padding: 10px 12px; background: #fbfcfd; }
  .card .value { font-size: 22px; font-weight: 650; white-space: nowrap; }
  .card .label { color: #5b6875; font-size: 12.5px; }
  .card .slash { color: #9aa5b1; font-weight: 400; }
  .card.good { border-color: #8fd19e; background: #f0faf2; } .card.good .value { color: #1e7b34; }
  .card.badcard { border-color: #e5a3a3; background: #fdf1f1; } .card.badcard .value { color: #b42318; }
  .card.warn .value { color: #a15c07; }
  table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; font-size: 13px; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e3e8ed; vertical-align: top; }
  th { background: #eef1f4; font-weight: 600; font-size: 12.5px; white-space: nowrap; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  tbody tr:last-child td { border-bottom: 1px solid #c7cfd7; }
  .sub { color: #6b7785; font-size: 11.5px; }
  .zero, .muted, .none { color: #8a96a3; }
  .none { font-style: italic; margin: 6px 0; }
  .ok { color: #1e7b34; font-weight: 600; }
  .bad { color: #b42318; font-weight: 600; }
  .verdict { padding: 10px 12px; border-radius: 6px; margin: 6px 0 10px; }
  .verdict.good { background: #f0faf2; border: 1px solid #8fd19e; color: #14532d; }
  .verdict.badbox { background: #fdf1f1; border: 1px solid #e5a3a3; color: #b42318; }
  table.problems td { color: #b42318; }
  .chart { width: 100%; height: auto; display: block; }
  .chart .tick { font-size: 11.5px; fill: #4a5562; font-family: inherit; }
  .chart .axis-label { font-size: 12px; fill: #38434f; font-family: inherit; }
  .chart .value { font-size: 11px; font-weight: 600; font-family: inherit; }
  .chart .empty { font-size: 15px; fill: #8a96a3; font-style: italic; }
  .note { color: #5b6875; font-size: 12.5px; }
  details summary { cursor: pointer; color: #1c64c4; margin: 8px 0; }
  footer { margin-top: 32px; padding-top: 10px; border-top: 1px solid #d5dbe1; color: #5b6875; font-size: 12px; }
  @media print { body { background: #fff; } main { padding: 0; max-width: none; } details { display: block; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<header>
  <h1>Remediation evidence report</h1>
  <div class="period">Period <strong>${esc(period)}</strong> <span class="note">(UTC; closed from the start, end excluded)</span></div>
  <div class="meta">Generated ${esc(isoShort(meta.generatedAt.toISOString()))} · ${plural(r.records.length, 'closed execution')} (${plural(rems.length, 'remediation record')}, ${plural(undos.length, 'undo record')}${missing.length ? `, <span class="bad">${plural(missing.length, 'run')} without a record</span>` : ''}) · policy ${
    policyHashes.length ? policyHashes.map((h) => `<code>${esc(h.slice(0, 16))}</code>`).join(', ') : 'none recorded'
  }</div>
</header>

<section id="summary" class="cards">
${cards}
</section>

<section id="signatures">
<h2>Signature verification</h2>
${sigSummary}
</section>

<section id="outcomes">
<h2>Outcomes per control</h2>
${rems.length || noRecordCol ? table(outcomeHead, outcomeRows, { numeric: outcomeNumeric }) : none('No remediation closed in this period.')}
</section>

${
  failures.length
    ? `<section id="failures">
<h3>Failed remediations</h3>
${table(['Closed', 'Resource', 'Why', 'Change applied'], failureRows)}
</section>
`
    : ''
}
<section id="ttr">
<h2>Time to remediate</h2>
<p class="note">From detection to the verified fix, for findings fixed in the period. Percentiles by nearest rank.</p>
${table(['Control', 'Fixes', 'p50', 'p90', 'Max'], ttrRows, { numeric: [1, 2, 3, 4] })}
<h3>p50 and p90 per day</h3>
${ttrChart(points)}
</section>

<section id="approvals">
<h2>Approvals</h2>
${asked.length ? table(['Resource', 'Why a person was asked', 'Decision', 'Decided by', 'Their reason', 'Outcome'], approvalRows) : none('No remediation asked for approval in this period.')}
<h3>Decisions per decider</h3>
${deciderRows.length ? table(['Decider', 'Via', 'Fix approved', 'Rejected', 'Total'], deciderRows, { numeric: [2, 3, 4] }) : none('No decisions recorded.')}
</section>

<section id="undo">
<h2>Fixes undone</h2>
${reverted.length ? table(['When', 'Resource', 'Undone by', 'Why', 'Exempt until', 'Remediation'], undoRows) : none('No fix was undone in this period.')}
<p class="note">${plural(windowsClosed, 'undo window')} closed without an undo.</p>
</section>

<section id="open">
<h2>Findings still open</h2>
<p class="note">Remediations still running when this report was generated.</p>
${openRows.length ? table(['Resource', 'Status', 'Severity', 'Account', 'Open since', 'Open for', 'Workflow'], openRows) : none('No finding is still open.')}
</section>

<section id="exemptions">
<h2>Exemptions in force</h2>
<p class="note">Resources left alone because of an exemption, or tagged exempt when a fix was undone, whose exemption had not expired when this report was generated.</p>
${exemptionRows.length ? table(['Resource', 'Exempt until', 'Why', 'Since', 'Note'], exemptionRows) : none('No exemption in force.')}
</section>

<section id="records">
<h2>All records</h2>
<details>
<summary>${plural(r.records.length, 'closed execution')}, oldest first</summary>
${allRows.length ? table(['Closed', 'Kind', 'Workflow', 'Outcome', 'Signature'], allRows) : none('None.')}
</details>
</section>

<footer>
Each record in <code>evidence.jsonl</code> is signed with Ed25519 over its canonical JSON (keys sorted, no whitespace) without the <code>signature</code> member; the signature carries the public key and its key id (first 16 hex digits of the sha256 of the SPKI DER). <code>evidence.verification.json</code> lists the verification outcome of every execution above.
</footer>
</main>
</body>
</html>
`;
}
