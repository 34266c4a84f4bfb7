/**
 * What the policy says about one finding, computed from the policy snapshot, the resource's
 * tags and the time. PURE and sandbox-safe: imported by Temporal workflow code, so no Node
 * modules, no I/O, no environment and no clock of its own (every function takes `now`, in ms).
 */
import { NOTIFY_ONLY_CONTROLS, type ControlId } from '../findings/finding.js';
import type { EscalationLadder, Guardrails, PolicySnapshot } from './types.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

// ---- scope -----------------------------------------------------------------------------

/** Whether the finding's account and region are in the control's scope (tag selectors are checked by `decide`). */
export function checkScope(
  p: PolicySnapshot,
  f: { account: string; region: string },
): { inScope: true } | { inScope: false; reason: string } {
  const { accounts, regions } = p.control.scope;
  if (accounts.length > 0 && !accounts.includes(f.account)) {
    return { inScope: false, reason: `account ${f.account} is not in scope of ${p.control.control} (accounts: ${accounts.join(', ')})` };
  }
  if (regions.length > 0 && !regions.includes(f.region)) {
    return { inScope: false, reason: `region ${f.region} is not in scope of ${p.control.control} (regions: ${regions.join(', ')})` };
  }
  return { inScope: true };
}

// ---- exemptions ------------------------------------------------------------------------

export type Exemption = { exempt: false; expiredAt?: string } | { exempt: true; until?: string; reason: string };

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

/** ms since the epoch of a calendar date-time in UTC, or undefined when any field is out of range (no rollover: Feb 30 is invalid). */
function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const check = new Date(t);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return undefined;
  return t;
}

/** The instant an exemption tag value ends (inclusive), or undefined when it is not a date. */
function exemptionEnd(value: string): number | undefined {
  const date = DATE_RE.exec(value);
  if (date) {
    const start = utcMs(Number(date[1]), Number(date[2]), Number(date[3]));
    // A date means "through that day", UTC: exempt until its last millisecond.
    return start === undefined ? undefined : start + DAY_MS - 1;
  }
  const dt = DATETIME_RE.exec(value);
  if (!dt) return undefined;
  const [, y, mo, d, h, mi, s, frac, , sign, oh, om] = dt;
  const fracMs = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  const local = utcMs(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s ?? 0), fracMs);
  if (local === undefined) return undefined;
  // No offset: read as UTC (a workflow has no local time zone, and guessing one would be worse).
  if (!sign) return local;
  const offH = Number(oh);
  const offM = Number(om);
  if (offH > 23 || offM > 59) return undefined;
  const offset = (offH * 60 + offM) * 60_000;
  return sign === '+' ? local - offset : local + offset;
}

/**
 * Reads an exemption tag value. `undefined` (no tag): not exempt. `permanent` (any case): exempt.
 * `YYYY-MM-DD`: exempt through the end of that day, UTC. ISO 8601 date-time (offset optional,
 * UTC when absent): exempt until then. A past expiry: not exempt (`expiredAt` says since when).
 * Anything else fails closed: exempt, with a reason saying the tag must be corrected.
 */
export function parseExemption(value: string | undefined, now: number): Exemption {
  if (value === undefined) return { exempt: false };
  const v = value.trim();
  if (v.toLowerCase() === 'permanent') return { exempt: true, reason: 'exempt permanently' };
  const end = exemptionEnd(v);
  if (end === undefined || !Number.isFinite(end) || Math.abs(end) > 8.64e15) {
    return {
      exempt: true,
      reason: `exemption tag value ${JSON.stringify(value)} is not a date or "permanent"; treated as exempt until corrected`,
    };
  }
  const iso = new Date(end).toISOString();
  if (now > end) return { exempt: false, expiredAt: iso };
  return { exempt: true, until: iso, reason: `exempt until ${iso}` };
}

// ---- the decision ----------------------------------------------------------------------

export type Decision =
  | { action: 'leave'; outcome: 'off' | 'out-of-scope' | 'exempt'; reason: string }
  | { action: 'dry-run'; reason: string }
  | { action: 'notify'; reason: string }
  | { action: 'approve'; reasons: string[] }
  | { action: 'auto' };

const sameValue = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Why the resource's tags do not match the scope's tag selectors, or undefined when they all match. */
function tagScopeMismatch(selectors: Readonly<Record<string, string>>, tags: Readonly<Record<string, string>>): string | undefined {
  for (const [key, wanted] of Object.entries(selectors)) {
    const actual = Object.hasOwn(tags, key) ? tags[key] : undefined;
    if (actual === undefined) {
      return wanted === '*' ? `resource has no tag ${key} (scope requires it)` : `resource has no tag ${key} (scope requires ${key}=${wanted})`;
    }
    if (wanted !== '*' && !sameValue(actual, wanted)) return `resource is tagged ${key}=${actual} (scope requires ${key}=${wanted})`;
  }
  return undefined;
}

/** Reasons the resource's tags force approval: one per matching `requireApprovalWhenTagged` key. */
function approvalTagReasons(
  conditions: Readonly<Record<string, readonly string[]>>,
  tags: Readonly<Record<string, string>>,
): string[] {
  const reasons: string[] = [];
  for (const [key, values] of Object.entries(conditions)) {
    const actual = Object.hasOwn(tags, key) ? tags[key] : undefined;
    if (actual === undefined) continue;
    if (values.some((v) => v === '*' || sameValue(v, actual))) reasons.push(`resource is tagged ${key}=${actual}`);
  }
  return reasons;
}

/**
 * What to do with a finding whose account and region are in scope (see `checkScope`), in this
 * order: mode off; scope tag selectors; the exemption tag; mode dry-run / notify / approve;
 * in auto mode, tags that require approval; else fix automatically.
 * Tag keys are case-sensitive (as in AWS); tag values are compared case-insensitively.
 * A control without an automatic fix (NOTIFY_ONLY_CONTROLS) is never fixed or sent for approval:
 * a loaded policy never gives it auto or approve, and should a snapshot say so anyway, it is notify.
 */
export function decide(p: PolicySnapshot, tags: Readonly<Record<string, string>>, now: number): Decision {
  const c = p.control;
  if (c.mode === 'off') return { action: 'leave', outcome: 'off', reason: `policy mode is off for ${c.control}` };
  const mismatch = tagScopeMismatch(c.scope.tags, tags);
  if (mismatch !== undefined) return { action: 'leave', outcome: 'out-of-scope', reason: mismatch };
  const tagValue = Object.hasOwn(tags, p.exemptionTag) ? tags[p.exemptionTag] : undefined;
  const exemption = parseExemption(tagValue, now);
  if (exemption.exempt) {
    return { action: 'leave', outcome: 'exempt', reason: `resource is tagged ${p.exemptionTag}=${tagValue ?? ''}: ${exemption.reason}` };
  }
  if ((c.mode === 'auto' || c.mode === 'approve') && NOTIFY_ONLY_CONTROLS.includes(c.control)) {
    return { action: 'notify', reason: `${c.control} has no automatic fix: tell the owner, change nothing` };
  }
  switch (c.mode) {
    case 'dry-run':
      return { action: 'dry-run', reason: `policy mode is dry-run for ${c.control}: record what would change, change nothing` };
    case 'notify':
      return { action: 'notify', reason: `policy mode is notify for ${c.control}: tell the owner, change nothing` };
    case 'approve':
      return { action: 'approve', reasons: [`policy mode is approve for ${c.control}`] };
    case 'auto': {
      const reasons = approvalTagReasons(c.requireApprovalWhenTagged, tags);
      return reasons.length > 0 ? { action: 'approve', reasons } : { action: 'auto' };
    }
  }
}

/**
 * The exemption tag to put on a resource whose fix was reverted (undo), so the fix is not
 * re-applied at once: the policy's exemption tag with an ISO 8601 expiry `undo.exemptForMs`
 * after `now`, rounded up to the second. `parseExemption` reads it back as exempt until then.
 */
export function revertExemptionTag(p: PolicySnapshot, now: number): { key: string; value: string } {
  const until = Math.ceil((now + p.control.undo.exemptForMs) / 1000) * 1000;
  return { key: p.exemptionTag, value: new Date(until).toISOString().replace('.000Z', 'Z') };
}

/** Whether `userId` may decide: it is one of `allowed` (Slack user ids, groups already expanded). */
export function isApprover(allowed: readonly string[], userId: string): boolean {
  return userId !== '' && allowed.includes(userId);
}

// ---- the escalation ladder ---------------------------------------------------------------

export type LadderStep = { step: 'remind' | 'escalate' | 'timeout'; atMs: number };

/**
 * The ladder's steps in time order, as offsets from the request. Reminder and escalation are
 * left out when 0 (or, in a ladder that was not validated, when not before the timeout); the
 * timeout is always the last step.
 */
export function ladderSteps(l: EscalationLadder): LadderStep[] {
  const steps: LadderStep[] = [];
  if (l.remindAfterMs > 0 && l.remindAfterMs < l.timeoutAfterMs) steps.push({ step: 'remind', atMs: l.remindAfterMs });
  if (l.escalateAfterMs > 0 && l.escalateAfterMs < l.timeoutAfterMs) steps.push({ step: 'escalate', atMs: l.escalateAfterMs });
  // Stable sort: a reminder and an escalation at the same moment keep that order.
  steps.sort((a, b) => a.atMs - b.atMs);
  steps.push({ step: 'timeout', atMs: l.timeoutAfterMs });
  return steps;
}

// ---- guardrails --------------------------------------------------------------------------

/** One fix let through by a control's guardrail ledger. */
export interface FixGrant {
  readonly resource: string;
  /** When it was granted, ms since the epoch. */
  readonly at: number;
  /** Made by policy without a person deciding. */
  readonly automatic: boolean;
}

export type GuardrailVerdict = { allowed: true } | { allowed: false; kind: 'flapping' | 'rate-limit'; reason: string };

/**
 * Whether a fix may run now, given the control's recent grants. Only automatic fixes are ever
 * denied (a person who approved has already looked). Flapping is checked first: the resource
 * was fixed `flap.maxFixes` times (by anyone) within `flap.windowMs`. Then the hourly budget of
 * automatic fixes. `req.control` only names the control in the reason.
 */
export function evaluateFix(
  ledger: readonly FixGrant[],
  req: { resource: string; automatic: boolean; control?: ControlId | string },
  g: Guardrails,
  now: number,
): GuardrailVerdict {
  if (!req.automatic) return { allowed: true };
  const flapSince = now - g.flap.windowMs;
  const recentFixes = ledger.filter((e) => e.resource === req.resource && e.at > flapSince).length;
  if (recentFixes >= g.flap.maxFixes) {
    return {
      allowed: false,
      kind: 'flapping',
      reason: `${req.resource} was remediated ${recentFixes} time${recentFixes === 1 ? '' : 's'} in the last ${formatDuration(g.flap.windowMs)}: possible loop or a tool fighting the fix`,
    };
  }
  const hourAgo = now - HOUR_MS;
  const automaticLastHour = ledger.filter((e) => e.automatic && e.at > hourAgo).length;
  if (automaticLastHour >= g.maxAutoFixesPerHour) {
    return {
      allowed: false,
      kind: 'rate-limit',
      reason: `${automaticLastHour} automatic fix${automaticLastHour === 1 ? '' : 'es'} of ${req.control ?? 'this control'} in the last hour (limit ${g.maxAutoFixesPerHour})`,
    };
  }
  return { allowed: true };
}

/** The grants that can still count: younger than the longer of an hour and the flap window. */
export function pruneLedger(ledger: readonly FixGrant[], g: Guardrails, now: number): FixGrant[] {
  const since = now - Math.max(HOUR_MS, g.flap.windowMs);
  return ledger.filter((e) => e.at > since);
}

/**
 * Flap detection from the resource's own recent fixes (ms since the epoch): the resource was fixed
 * `flap.maxFixes` times within `flap.windowMs`. Exact per resource: the fixes travel with the
 * resource's workflow id from run to run, so no shared ledger is needed.
 */
export function flapVerdict(fixes: readonly number[], g: Guardrails, now: number, resource: string): GuardrailVerdict {
  const recent = fixes.filter((at) => at > now - g.flap.windowMs).length;
  if (recent < g.flap.maxFixes) return { allowed: true };
  return {
    allowed: false,
    kind: 'flapping',
    reason: `${resource} was remediated ${recent} time${recent === 1 ? '' : 's'} in the last ${formatDuration(g.flap.windowMs)}: possible loop or a tool fighting the fix`,
  };
}

/**
 * The hourly budget of automatic fixes, given how many the control made in the last hour (counted
 * by the caller in Temporal visibility). With several fixes checked at the same moment the budget
 * can be overshot by at most the number of fixes in flight; 0 holds every fix.
 */
export function budgetVerdict(automaticLastHour: number, g: Guardrails, control: string): GuardrailVerdict {
  if (automaticLastHour < g.maxAutoFixesPerHour) return { allowed: true };
  return {
    allowed: false,
    kind: 'rate-limit',
    reason: `${automaticLastHour} automatic fix${automaticLastHour === 1 ? '' : 'es'} of ${control} in the last hour (limit ${g.maxAutoFixesPerHour})`,
  };
}

/** The fixes flap detection can still count at `now` (plus `at`, a fix made now), oldest first. */
export function recentFixes(fixes: readonly number[], g: Guardrails, now: number, at?: number): number[] {
  const kept = fixes.filter((t) => t > now - g.flap.windowMs);
  if (at !== undefined) kept.push(at);
  return kept.sort((a, b) => a - b);
}

/**
 * Whether an earlier rejection still answers for this finding: it has not expired and the
 * resource is exactly as it was when the fix was rejected (same state digest). A changed resource,
 * or an expired hold, is asked about again.
 */
export function rejectionHolds(r: { until: string; stateDigest: string } | undefined, stateDigest: string, now: number): boolean {
  return r !== undefined && Date.parse(r.until) > now && r.stateDigest === stateDigest;
}

/** The UTC hour `now` falls in: digests of held fixes are one per control and hour. */
export function hourOf(now: number): { key: string; start: string; end: string } {
  const start = Math.floor(now / HOUR_MS) * HOUR_MS;
  const iso = new Date(start).toISOString();
  return { key: iso.slice(0, 13), start: iso, end: new Date(start + HOUR_MS).toISOString() };
}

// ---- durations ---------------------------------------------------------------------------

const UNITS: readonly (readonly [string, number])[] = [
  ['d', DAY_MS],
  ['h', HOUR_MS],
  ['m', 60_000],
];

/** A duration for people, in the policy file's notation: 600000 -> '10m', 5400000 -> '1h30m', 1500 -> '1.5s', 0 -> '0s'. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let out = '';
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  if (rest > 0) out += rest % 1000 === 0 || rest >= 1000 ? `${rest / 1000}s` : `${rest}ms`;
  return out;
}
