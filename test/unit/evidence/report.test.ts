import { describe, expect, it } from 'vitest';
import { formatMs, percentile, periodDays, renderReport, ttrStats } from '../../../src/evidence/report.js';
import type { ExportedRecord, ExportResult } from '../../../src/evidence/export.js';
import { exported, exportedUndo, key, remediation, undoRecord } from './fixtures.js';

const from = new Date('2026-07-01T00:00:00Z');
const to = new Date('2026-07-08T00:00:00Z');
const generatedAt = new Date('2026-07-09T12:00:00Z');
const A = 's3-block-public-access';
const B = 'ec2-sg-admin-ports-open';

/** Text of a section, tags stripped, whitespace collapsed: what a reader sees. */
function sectionText(html: string, id: string): string {
  const m = new RegExp(`<section id="${id}"[^>]*>([\\s\\S]*?)</section>`).exec(html);
  expect(m, `section ${id}`).not.toBeNull();
  return m![1]!.replace(/<title>[\s\S]*?<\/title>/g, '').replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();
}

/** The cells of the row of `table` html whose first cell contains `first`. */
function row(html: string, id: string, first: string): string[] {
  const m = new RegExp(`<section id="${id}"[^>]*>([\\s\\S]*?)</section>`).exec(html)![1]!;
  for (const tr of m.match(/<tr>[\s\S]*?<\/tr>/g) ?? []) {
    const cells = [...tr.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
    if (cells[0]?.includes(first)) return cells;
  }
  throw new Error(`no row ${first} in ${id}`);
}

function knownData(): ExportResult {
  const records: ExportedRecord[] = [];
  // Control A: ten fixes of 1..10 s over two days, two failures, one already compliant.
  for (let i = 1; i <= 10; i++) records.push(exported(remediation({ control: A, ttrMs: i * 1000, closed: i <= 4 ? '2026-07-02T10:00:00.000Z' : '2026-07-05T10:00:00.000Z' })));
  records.push(exported(remediation({ control: A, outcome: 'failed', reason: 'ResourceNotFound: NoSuchBucket' })));
  records.push(exported(remediation({ control: A, outcome: 'failed', reason: 'NotYetCompliant' })));
  records.push(exported(remediation({ control: A })));
  // Control B: one approved fix of 1 min, one rejection.
  records.push(
    exported(
      remediation({
        control: B,
        ttrMs: 60_000,
        closed: '2026-07-05T12:00:00.000Z',
        approval: { reasons: ['resource is tagged environment=production'], requestedAt: '2026-07-05T11:59:10.000Z', decision: 'approve', by: { id: 'alice', name: 'Alice', via: 'cli' }, decidedAt: '2026-07-05T11:59:30.000Z', reason: 'CHG-1' },
        decidedBy: { id: 'alice', name: 'Alice', via: 'cli' },
      }),
    ),
  );
  records.push(
    exported(
      remediation({
        control: B,
        outcome: 'rejected',
        approval: { reasons: ['resource is tagged environment=production'], requestedAt: '2026-07-03T10:00:00.000Z', decision: 'reject', by: { id: 'U0BOB', name: 'Bob', via: 'slack' }, decidedAt: '2026-07-03T10:05:00.000Z' },
        decidedBy: { id: 'U0BOB', name: 'Bob', via: 'slack' },
      }),
    ),
  );
  // A control B remediation that was terminated: no record.
  records.push({ kind: 'remediation', workflowId: 'finding/killed', runId: 'k1', closedAt: '2026-07-04T00:00:00.000Z', executionStatus: 'TERMINATED', control: B, resource: 'sg-9', verified: false, problem: 'terminated: the run ended without an evidence record', record: null });
  // Exemptions: one in force, one expired; an undo with an exemption in force.
  records.push(exported(remediation({ control: A, resource: { type: 'AwsS3Bucket', id: 'exempt-bucket' }, outcome: 'exempt', reason: 'resource is tagged rectify:exempt-until=2030-01-01: exempt until 2030-01-01T23:59:59.999Z' })));
  records.push(exported(remediation({ control: A, resource: { type: 'AwsS3Bucket', id: 'expired-bucket' }, outcome: 'exempt', reason: 'resource is tagged rectify:exempt-until=2026-07-01: exempt until 2026-07-01T23:59:59.999Z' })));
  records.push(
    exportedUndo(
      undoRecord({
        resource: { type: 'AwsS3Bucket', id: 'reverted-bucket' },
        outcome: 'reverted',
        undo: { by: { id: 'carol', name: 'Carol', via: 'cli' }, at: '2026-07-06T09:00:00.000Z', reason: 'broke the website', restored: {}, exemptUntil: '2026-07-13T09:00:00Z' },
      }),
    ),
  );
  records.push(exportedUndo(undoRecord()));
  return {
    records,
    open: [{ workflowId: 'finding/open', runId: 'o1', findingId: 'f-o', control: B, resource: 'sg-open', account: '123456789012', region: 'us-east-1', severity: 'HIGH', status: 'AwaitingApproval', since: '2026-07-09T11:00:00.000Z' }],
    problems: ['finding/killed (run k1): terminated: the run ended without an evidence record'],
  };
}

describe('numbers', () => {
  it('percentiles by nearest rank', () => {
    const v = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    expect(percentile(v, 50)).toBe(5);
    expect(percentile(v, 90)).toBe(9);
    expect(percentile(v, 100)).toBe(10);
    expect(percentile([42], 50)).toBe(42);
    expect(percentile([42], 90)).toBe(42);
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 60], 50)).toBe(6);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 60], 90)).toBe(10);
    expect(ttrStats([3, 1, 2])).toEqual({ n: 3, p50: 2, p90: 3, max: 3 });
    expect(ttrStats([])).toEqual({ n: 0 });
  });
  it('durations and days', () => {
    expect([formatMs(850), formatMs(5000), formatMs(12_345), formatMs(60_000), formatMs(5_400_000), formatMs(3 * 86_400_000), formatMs(undefined)]).toEqual(['850 ms', '5 s', '12.3 s', '1 min', '1.5 h', '3 d', '–']);
    expect(periodDays(from, to)).toEqual(['2026-07-01', '2026-07-02', '2026-07-03', '2026-07-04', '2026-07-05', '2026-07-06', '2026-07-07']);
    expect(periodDays(new Date('2026-07-01T10:00:00Z'), new Date('2026-07-01T11:00:00Z'))).toEqual(['2026-07-01']);
  });
});

describe('renderReport', () => {
  const html = renderReport(knownData(), { from, to, generatedAt, trustedKeyIds: [key.keyId] });

  it('is one self-contained document: no script, no external resource', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html.match(/https?:\/\/[^\s"'<]+/g)?.filter((u) => u !== 'http://www.w3.org/2000/svg') ?? []).toEqual([]);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/NaN|undefined|Infinity|\[object/);
  });

  it('shows the period and totals', () => {
    expect(html).toContain('Period <strong>2026-07-01 to 2026-07-08</strong>');
    const odd = renderReport({ records: [], open: [], problems: [] }, { from: new Date('2026-07-01T06:30:15.250Z'), to: new Date('2026-07-01T07:00:00Z'), generatedAt });
    expect(odd).toContain('Period <strong>2026-07-01 06:30:15.250Z to 2026-07-01 07:00:00Z</strong>');
    const summary = sectionText(html, 'summary');
    expect(summary).toContain('18 closed remediations');
    expect(summary).toContain('11 fixed and verified');
    expect(summary).toContain('2 failed');
    expect(summary).toContain('2 approval requests');
    expect(summary).toContain('1 fixes undone');
    expect(summary).toContain('1 still open');
    expect(summary).toContain('6 s / 10 s TTR p50 / p90');
  });

  it('counts outcomes per control', () => {
    const head = /<section id="outcomes">[\s\S]*?<thead><tr>([\s\S]*?)<\/tr>/.exec(html)![1]!.replace(/<[^>]+>/g, ' ').trim().split(/\s+/);
    expect(head).toEqual(['Control', 'remediated', 'already-compliant', 'failed', 'rejected', 'exempt', 'no', 'record', 'Total']);
    expect(row(html, 'outcomes', A)).toEqual([A, '10', '1', '2', '0', '2', '0', '15']);
    expect(row(html, 'outcomes', B)).toEqual([B, '1', '0', '0', '1', '0', '1', '3']);
    expect(row(html, 'outcomes', 'all controls')).toEqual(['all controls', '11', '1', '2', '1', '2', '1', '18']);
  });

  it('lists the failed remediations with their reason', () => {
    expect(sectionText(html, 'failures')).toContain('ResourceNotFound: NoSuchBucket');
    expect(sectionText(html, 'failures')).toContain('NotYetCompliant');
    expect(renderReport({ records: [], open: [], problems: [] }, { from, to, generatedAt })).not.toContain('id="failures"');
  });

  it('computes time to remediate overall and per control', () => {
    expect(row(html, 'ttr', 'all controls')).toEqual(['all controls', '11', '6 s', '10 s', '1 min']);
    expect(row(html, 'ttr', A)).toEqual([A, '10', '5 s', '9 s', '10 s']);
    expect(row(html, 'ttr', B)).toEqual([B, '1', '1 min', '1 min', '1 min']);
  });

  it('charts p50 and p90 per day over the whole period', () => {
    const svg = /<svg[\s\S]*?<\/svg>/.exec(html)![0];
    expect(svg).toContain('class="series series-p50"');
    expect(svg).toContain('class="series series-p90"');
    // 2026-07-02: 1..4 s -> p50 2 s, p90 4 s; 2026-07-05: 5..10 s and 60 s -> p50 8 s, p90 60 s.
    expect(svg).toContain('<title>2026-07-02 p50 2 s (4 fixes)</title>');
    expect(svg).toContain('<title>2026-07-02 p90 4 s (4 fixes)</title>');
    expect(svg).toContain('<title>2026-07-05 p50 8 s (7 fixes)</title>');
    expect(svg).toContain('<title>2026-07-05 p90 1 min (7 fixes)</title>');
    expect(svg.match(/<circle class="point-p50"/g)).toHaveLength(2);
    // few points: their values are printed next to them
    expect(svg).toContain('class="value value-p90" fill="#d9480f">1 min</text>');
    expect(svg).toContain('class="value value-p50" fill="#1c64c4">2 s</text>');
    // every day of the period on the x axis, a legend, axis titles
    for (const d of ['07-01', '07-04', '07-07']) expect(svg).toContain(`>${d}</text>`);
    expect(svg).toContain('p50 (median)');
    expect(svg).toContain('time to remediate');
    expect(svg).toContain('day (UTC), 2026-07-01 to 2026-07-07');
  });

  it('lists approvals and counts decisions per decider', () => {
    const text = sectionText(html, 'approvals');
    expect(text).toContain('resource is tagged environment=production');
    expect(text).toContain('Alice (cli:alice)');
    expect(text).toContain('Bob (slack:U0BOB)');
    expect(text).toContain('CHG-1');
    expect(row(html, 'approvals', 'policy (automatic)')).toEqual(['policy (automatic)', 'policy', '10', '0', '10']);
    expect(row(html, 'approvals', 'Alice (alice)')).toEqual(['Alice (alice)', 'cli', '1', '0', '1']);
    expect(row(html, 'approvals', 'Bob (U0BOB)')).toEqual(['Bob (U0BOB)', 'slack', '0', '1', '1']);
  });

  it('lists undone fixes, open findings and the exemptions still in force', () => {
    expect(row(html, 'undo', '2026-07-06 09:00Z')).toEqual(['2026-07-06 09:00Z', 'reverted-bucket s3-block-public-access', 'Carol (cli:carol)', 'broke the website', '2026-07-13 09:00Z', 'finding/123456789012/us-east-1/s3-block-public-access/b1']);
    expect(sectionText(html, 'undo')).toContain('1 undo window closed without an undo');
    expect(row(html, 'open', 'sg-open')).toEqual(['sg-open ec2-sg-admin-ports-open', 'AwaitingApproval', 'HIGH', '123456789012 us-east-1', '2026-07-09 11:00Z', '1 h', 'finding/open']);
    const ex = sectionText(html, 'exemptions');
    expect(ex).toContain('exempt-bucket');
    expect(ex).toContain('2030-01-01 23:59Z');
    expect(ex).toContain('reverted-bucket');
    expect(ex).toContain('fix undone by Carol (cli:carol)');
    expect(ex).not.toContain('expired-bucket');
  });

  it('shows signature failures in red, with the reason', () => {
    const sig = /<section id="signatures">([\s\S]*?)<\/section>/.exec(html)![1]!;
    expect(sig).toContain('class="verdict badbox"');
    expect(sig).toContain('1 record of 20 failed verification or has no record.');
    expect(sig).toContain('<code class="small">finding/killed</code>');
    expect(sig).toContain('<span class="bad">terminated: the run ended without an evidence record</span>');
    expect(sectionText(html, 'summary')).toContain('1 failed signatures');
  });

  it('says all verified, with the keys, when everything verifies', () => {
    const data = knownData();
    const ok = { ...data, records: data.records.filter((r) => r.verified), problems: [] };
    const out = renderReport(ok, { from, to, generatedAt });
    const sig = sectionText(out, 'signatures');
    expect(sig).toContain(`All 19 records verified. Ed25519 signatures by key ${key.keyId}`);
    expect(out).not.toContain('class="verdict badbox"');
  });

  it('escapes every string from the records', () => {
    const evil = `<script>alert(1)</script>"><img src=x onerror=alert(2)>'`;
    const data: ExportResult = {
      records: [
        exported(
          remediation({
            control: evil,
            resource: { type: 'AwsS3Bucket', id: evil },
            ttrMs: 1000,
            policyHash: evil,
            approval: { reasons: [evil], requestedAt: evil, decision: 'approve', by: { id: evil, name: evil, via: 'cli' }, decidedAt: evil, reason: evil },
            decidedBy: { id: evil, name: evil, via: 'cli' },
          }),
          { problem: evil, verified: false, workflowId: evil, runId: evil },
        ),
        exported(remediation({ resource: { type: 'AwsS3Bucket', id: evil }, outcome: 'exempt', reason: `${evil} exempt until 2099-01-01T00:00:00.000Z` })),
        exportedUndo(undoRecord({ control: evil, resource: { type: 'x', id: evil }, outcome: 'reverted', undo: { by: { id: evil, name: evil, via: 'slack' }, at: evil, reason: evil, restored: evil, exemptUntil: '2099-01-01T00:00:00Z' }, remediation: { workflowId: evil, runId: evil } })),
      ],
      open: [{ workflowId: evil, runId: evil, findingId: evil, control: evil, resource: evil, account: evil, region: evil, severity: evil, status: evil, since: '2026-07-02T00:00:00.000Z' }],
      problems: [evil],
    };
    const out = renderReport(data, { from, to, generatedAt, policyHashes: [evil], trustedKeyIds: [evil] });
    expect(out).not.toContain('<script');
    expect(out).not.toContain('<img');
    expect(out).not.toMatch(/"><img|onerror=alert\(2\)>/);
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;');
    // Only our own markup: every tag name is one the report uses.
    const tags = new Set([...out.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
    const allowed = ['html', 'head', 'meta', 'title', 'style', 'body', 'main', 'header', 'h1', 'h2', 'h3', 'div', 'span', 'strong', 'code', 'section', 'p', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'svg', 'rect', 'line', 'text', 'path', 'circle', 'g', 'details', 'summary', 'footer'];
    expect([...tags].filter((t) => !allowed.includes(t))).toEqual([]);
  });

  it('renders an empty period plainly', () => {
    const out = renderReport({ records: [], open: [], problems: [] }, { from, to, generatedAt });
    expect(out).toContain('No records to verify.');
    expect(out).toContain('No remediation closed in this period.');
    expect(out).toContain('No verified fixes in this period');
    expect(out).toContain('No finding is still open.');
    expect(out).toContain('No exemption in force.');
    expect(out).toContain('<svg');
    expect(out).not.toMatch(/NaN|undefined|Infinity/);
    expect(row(out, 'ttr', 'all controls')).toEqual(['all controls', '0', '–', '–', '–']);
  });

  it('charts a one-day period as points', () => {
    const day = { from: new Date('2026-07-02T00:00:00Z'), to: new Date('2026-07-03T00:00:00Z'), generatedAt };
    const out = renderReport({ records: [exported(remediation({ ttrMs: 1500, closed: '2026-07-02T10:00:00.000Z' }))], open: [], problems: [] }, day);
    const svg = /<svg[\s\S]*?<\/svg>/.exec(out)![0];
    expect(svg).toContain('<title>2026-07-02 p50 1.5 s (1 fix)</title>');
    expect(svg).toContain('>2026-07-02</text>');
    // the day's level drawn across the axis, so each series is a visible line
    expect(svg).toMatch(/<path class="series series-p50" d="M72 [\d.]+ L896 [\d.]+"/);
    expect(svg).toMatch(/<path class="series series-p90" d="M72 [\d.]+ L896 [\d.]+"/);
    expect(svg).not.toMatch(/NaN/);
  });
});
