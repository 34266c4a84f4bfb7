import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ControlId } from '../../../src/findings/finding.js';
import {
  budgetVerdict,
  checkScope,
  decide,
  evaluateFix,
  flapVerdict,
  hourOf,
  recentFixes,
  rejectionHolds,
  formatDuration,
  isApprover,
  ladderSteps,
  parseExemption,
  pruneLedger,
  revertExemptionTag,
  type FixGrant,
} from '../../../src/policy/decide.js';
import type { ControlPolicy, EscalationLadder, Guardrails, Mode, PolicySnapshot } from '../../../src/policy/types.js';

// ---- helpers (kept local: each test file stands alone) ---------------------------------

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SG = ControlId.SgAdminPortsOpen;
const TAG = 'rectify:exempt-until';
/** 2025-06-15T12:00:00Z */
const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);

type ControlOverrides = Partial<Omit<ControlPolicy, 'scope'>> & { scope?: Partial<ControlPolicy['scope']> };

function snapshot(over: ControlOverrides = {}): PolicySnapshot {
  const { scope, ...rest } = over;
  return {
    hash: 'f'.repeat(64),
    exemptionTag: TAG,
    control: {
      control: SG,
      mode: 'auto',
      requireApprovalWhenTagged: {},
      approvers: { users: [], groups: [] },
      escalation: ladder(),
      guardrails: guardrails(),
      settings: { ports: [22, 3389], encryption: { algorithm: 'AES256' } },
      undo: { windowMs: HOUR, exemptForMs: 7 * DAY },
      ...rest,
      scope: { accounts: [], regions: [], tags: {}, ...scope },
    },
  };
}

function ladder(over: Partial<EscalationLadder> = {}): EscalationLadder {
  return {
    remindAfterMs: 30 * MIN,
    escalateAfterMs: 2 * HOUR,
    escalateTo: { users: [], groups: [] },
    timeoutAfterMs: DAY,
    timeoutAction: 'reject',
    ...over,
  };
}

function guardrails(maxAutoFixesPerHour = 20, maxFixes = 3, windowMs = 10 * MIN): Guardrails {
  return { maxAutoFixesPerHour, flap: { maxFixes, windowMs } };
}

const grant = (resource: string, agoMs: number, automatic = true): FixGrant => ({ resource, at: NOW - agoMs, automatic });

// ---- scope -------------------------------------------------------------------------------

describe('checkScope', () => {
  const f = { account: '123456789012', region: 'us-east-1' };

  it('puts everything in scope when the lists are empty', () => {
    expect(checkScope(snapshot(), f)).toEqual({ inScope: true });
  });

  it('accepts a listed account and region', () => {
    expect(checkScope(snapshot({ scope: { accounts: ['111111111111', '123456789012'], regions: ['eu-west-1', 'us-east-1'] } }), f)).toEqual({
      inScope: true,
    });
  });

  it('rejects an account not listed, naming it and the accounts in scope', () => {
    const r = checkScope(snapshot({ scope: { accounts: ['111111111111'] } }), f);
    expect(r).toEqual({ inScope: false, reason: `account 123456789012 is not in scope of ${SG} (accounts: 111111111111)` });
  });

  it('rejects a region not listed, naming it', () => {
    const r = checkScope(snapshot({ scope: { regions: ['eu-west-1', 'eu-central-1'] } }), f);
    expect(r).toEqual({ inScope: false, reason: `region us-east-1 is not in scope of ${SG} (regions: eu-west-1, eu-central-1)` });
  });

  it('checks the account before the region', () => {
    const r = checkScope(snapshot({ scope: { accounts: ['111111111111'], regions: ['eu-west-1'] } }), f);
    expect(r.inScope).toBe(false);
    if (!r.inScope) expect(r.reason).toMatch(/^account /);
  });

  it('ignores tag selectors (decide checks them)', () => {
    expect(checkScope(snapshot({ scope: { tags: { team: 'platform' } } }), f)).toEqual({ inScope: true });
  });

  it('compares exactly (no prefixes, no case folding)', () => {
    expect(checkScope(snapshot({ scope: { regions: ['us-east-1'] } }), { ...f, region: 'us-east-10' }).inScope).toBe(false);
    expect(checkScope(snapshot({ scope: { accounts: ['123456789012'] } }), { ...f, account: '12345678901' }).inScope).toBe(false);
  });
});

// ---- exemptions --------------------------------------------------------------------------

describe('parseExemption', () => {
  it('is not exempt without a tag', () => {
    expect(parseExemption(undefined, NOW)).toEqual({ exempt: false });
  });

  it.each(['permanent', 'PERMANENT', 'Permanent', ' permanent '])('is exempt forever for %j', (value) => {
    expect(parseExemption(value, NOW)).toEqual({ exempt: true, reason: 'exempt permanently' });
  });

  it('treats a date as exempt through the end of that day, UTC', () => {
    expect(parseExemption('2025-06-15', NOW)).toEqual({ exempt: true, until: '2025-06-15T23:59:59.999Z', reason: 'exempt until 2025-06-15T23:59:59.999Z' });
    const lastMs = Date.UTC(2025, 5, 15, 23, 59, 59, 999);
    expect(parseExemption('2025-06-15', lastMs).exempt).toBe(true);
    expect(parseExemption('2025-06-15', lastMs + 1)).toEqual({ exempt: false, expiredAt: '2025-06-15T23:59:59.999Z' });
  });

  it('is exempt for a future date and not for a past one', () => {
    expect(parseExemption('2030-01-31', NOW)).toMatchObject({ exempt: true, until: '2030-01-31T23:59:59.999Z' });
    expect(parseExemption('2025-06-14', NOW)).toEqual({ exempt: false, expiredAt: '2025-06-14T23:59:59.999Z' });
    expect(parseExemption('2024-02-29', NOW)).toEqual({ exempt: false, expiredAt: '2024-02-29T23:59:59.999Z' });
  });

  it.each([
    ['2025-06-15T13:00:00Z', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15T13:00Z', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15T13:00:00.5Z', '2025-06-15T13:00:00.500Z'],
    ['2025-06-15t13:00:00z', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15T14:00:00+01:00', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15T08:00:00-05:00', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15T14:00:00+0100', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15T13:00:00', '2025-06-15T13:00:00.000Z'],
    ['2025-06-15 13:00:00Z', '2025-06-15T13:00:00.000Z'],
  ])('reads the ISO date-time %s as %s', (value, until) => {
    expect(parseExemption(value, NOW)).toEqual({ exempt: true, until, reason: `exempt until ${until}` });
  });

  it('expires an ISO date-time at that instant', () => {
    expect(parseExemption('2025-06-15T12:00:00Z', NOW).exempt).toBe(true);
    expect(parseExemption('2025-06-15T11:59:59.999Z', NOW)).toEqual({ exempt: false, expiredAt: '2025-06-15T11:59:59.999Z' });
    expect(parseExemption('2025-06-15T13:00:00+02:00', NOW)).toEqual({ exempt: false, expiredAt: '2025-06-15T11:00:00.000Z' });
  });

  it.each([
    'soon',
    'yes',
    'true',
    'forever',
    'permanently',
    '',
    '   ',
    '2025-13-01',
    '2025-02-30',
    '2023-02-29',
    '2025-6-15',
    '15/06/2025',
    '06/15/2025',
    '2025-06-15T25:00:00Z',
    '2025-06-15T12:60Z',
    '2025-06-15T12:00:00+25:00',
    '2025-06-15Z',
    '20250615',
    'June 15, 2025',
    '1718452800000',
    'Sun, 15 Jun 2025 12:00:00 GMT',
  ])('fails closed on %j', (value) => {
    expect(parseExemption(value, NOW)).toEqual({
      exempt: true,
      reason: `exemption tag value ${JSON.stringify(value)} is not a date or "permanent"; treated as exempt until corrected`,
    });
  });
});

// ---- decide ------------------------------------------------------------------------------

describe('decide', () => {
  const modes: Mode[] = ['auto', 'approve', 'notify', 'dry-run', 'off'];

  it('leaves a control in mode off alone, whatever the tags', () => {
    const d = decide(snapshot({ mode: 'off', scope: { tags: { team: 'x' } } }), { [TAG]: 'garbage' }, NOW);
    expect(d).toEqual({ action: 'leave', outcome: 'off', reason: `policy mode is off for ${SG}` });
  });

  it.each([
    ['dry-run', { action: 'dry-run', reason: `policy mode is dry-run for ${SG}: record what would change, change nothing` }],
    ['notify', { action: 'notify', reason: `policy mode is notify for ${SG}: tell the owner, change nothing` }],
    ['approve', { action: 'approve', reasons: [`policy mode is approve for ${SG}`] }],
    ['auto', { action: 'auto' }],
  ] as const)('follows mode %s when nothing else applies', (mode, decision) => {
    expect(decide(snapshot({ mode }), {}, NOW)).toEqual(decision);
  });

  describe('scope tag selectors', () => {
    const p = (tags: Record<string, string>, mode: Mode = 'auto') => snapshot({ mode, scope: { tags } });

    it('is in scope when every selector matches', () => {
      expect(decide(p({ team: 'platform', env: 'prod' }), { team: 'platform', env: 'prod', other: 'x' }, NOW)).toEqual({ action: 'auto' });
    });

    it('names a missing tag', () => {
      expect(decide(p({ team: 'platform' }), {}, NOW)).toEqual({
        action: 'leave',
        outcome: 'out-of-scope',
        reason: 'resource has no tag team (scope requires team=platform)',
      });
    });

    it('names a tag with another value', () => {
      expect(decide(p({ team: 'platform', env: 'prod' }), { team: 'platform', env: 'dev' }, NOW)).toEqual({
        action: 'leave',
        outcome: 'out-of-scope',
        reason: 'resource is tagged env=dev (scope requires env=prod)',
      });
    });

    it('"*" requires the tag to exist, with any value (even empty)', () => {
      expect(decide(p({ owner: '*' }), { owner: 'alice' }, NOW)).toEqual({ action: 'auto' });
      expect(decide(p({ owner: '*' }), { owner: '' }, NOW)).toEqual({ action: 'auto' });
      expect(decide(p({ owner: '*' }), { Owner: 'alice' }, NOW)).toEqual({
        action: 'leave',
        outcome: 'out-of-scope',
        reason: 'resource has no tag owner (scope requires it)',
      });
    });

    it('compares values ignoring case and keys exactly', () => {
      expect(decide(p({ team: 'Platform' }), { team: 'PLATFORM' }, NOW)).toEqual({ action: 'auto' });
      expect(decide(p({ team: 'platform' }), { Team: 'platform' }, NOW)).toMatchObject({ action: 'leave', outcome: 'out-of-scope' });
    });

    it('does not treat inherited object properties as tags', () => {
      expect(decide(p({ constructor: '*' }), {}, NOW)).toMatchObject({ action: 'leave', outcome: 'out-of-scope' });
      expect(decide(p({ toString: '*' }), {}, NOW)).toMatchObject({ action: 'leave', outcome: 'out-of-scope' });
    });

    it.each(modes.filter((m) => m !== 'off'))('applies before mode %s', (mode) => {
      expect(decide(p({ team: 'platform' }, mode), {}, NOW)).toMatchObject({ action: 'leave', outcome: 'out-of-scope' });
    });

    it('applies before the exemption tag', () => {
      expect(decide(p({ team: 'platform' }), { [TAG]: 'permanent' }, NOW)).toMatchObject({ outcome: 'out-of-scope' });
    });
  });

  describe('exemption tag', () => {
    it.each(modes.filter((m) => m !== 'off'))('leaves an exempt resource alone in mode %s', (mode) => {
      expect(decide(snapshot({ mode }), { [TAG]: 'permanent' }, NOW)).toEqual({
        action: 'leave',
        outcome: 'exempt',
        reason: `resource is tagged ${TAG}=permanent: exempt permanently`,
      });
    });

    it('applies before approval conditions', () => {
      const p = snapshot({ requireApprovalWhenTagged: { environment: ['production'] } });
      expect(decide(p, { environment: 'production', [TAG]: '2030-01-01' }, NOW)).toEqual({
        action: 'leave',
        outcome: 'exempt',
        reason: `resource is tagged ${TAG}=2030-01-01: exempt until 2030-01-01T23:59:59.999Z`,
      });
    });

    it('fails closed on an unreadable value', () => {
      expect(decide(snapshot(), { [TAG]: 'next week' }, NOW)).toEqual({
        action: 'leave',
        outcome: 'exempt',
        reason: `resource is tagged ${TAG}=next week: exemption tag value "next week" is not a date or "permanent"; treated as exempt until corrected`,
      });
      expect(decide(snapshot(), { [TAG]: '' }, NOW)).toMatchObject({ action: 'leave', outcome: 'exempt' });
    });

    it('ignores an expired exemption', () => {
      expect(decide(snapshot(), { [TAG]: '2025-06-14' }, NOW)).toEqual({ action: 'auto' });
      expect(decide(snapshot({ mode: 'approve' }), { [TAG]: '2020-01-01' }, NOW)).toMatchObject({ action: 'approve' });
    });

    it('uses the tag the policy names, exactly', () => {
      const p: PolicySnapshot = { ...snapshot(), exemptionTag: 'skip' };
      expect(decide(p, { skip: 'permanent' }, NOW)).toMatchObject({ outcome: 'exempt' });
      expect(decide(p, { [TAG]: 'permanent' }, NOW)).toEqual({ action: 'auto' });
      expect(decide(p, { Skip: 'permanent' }, NOW)).toEqual({ action: 'auto' });
    });
  });

  describe('approval conditions', () => {
    const p = (mode: Mode = 'auto') => snapshot({ mode, requireApprovalWhenTagged: { environment: ['production', 'prod'], 'public-website': ['true'] } });

    it('asks when a tag value is listed', () => {
      expect(decide(p(), { environment: 'production' }, NOW)).toEqual({ action: 'approve', reasons: ['resource is tagged environment=production'] });
    });

    it('compares values ignoring case, reporting the resource value', () => {
      expect(decide(p(), { environment: 'Production' }, NOW)).toEqual({ action: 'approve', reasons: ['resource is tagged environment=Production'] });
      expect(decide(p(), { 'public-website': 'TRUE' }, NOW)).toEqual({ action: 'approve', reasons: ['resource is tagged public-website=TRUE'] });
    });

    it('compares keys exactly', () => {
      expect(decide(p(), { Environment: 'production' }, NOW)).toEqual({ action: 'auto' });
    });

    it('does not ask for values not listed or untagged resources', () => {
      expect(decide(p(), { environment: 'staging', 'public-website': 'false' }, NOW)).toEqual({ action: 'auto' });
      expect(decide(p(), {}, NOW)).toEqual({ action: 'auto' });
      expect(decide(p(), { environment: 'production-like' }, NOW)).toEqual({ action: 'auto' });
    });

    it('gives one reason per matching condition', () => {
      expect(decide(p(), { environment: 'prod', 'public-website': 'true' }, NOW)).toEqual({
        action: 'approve',
        reasons: ['resource is tagged environment=prod', 'resource is tagged public-website=true'],
      });
    });

    it('supports "*" as any value', () => {
      expect(decide(snapshot({ requireApprovalWhenTagged: { 'do-not-touch': ['*'] } }), { 'do-not-touch': 'whatever' }, NOW)).toEqual({
        action: 'approve',
        reasons: ['resource is tagged do-not-touch=whatever'],
      });
    });

    it('only matters in auto mode', () => {
      const tags = { environment: 'production' };
      expect(decide(p('approve'), tags, NOW)).toEqual({ action: 'approve', reasons: [`policy mode is approve for ${SG}`] });
      expect(decide(p('notify'), tags, NOW)).toMatchObject({ action: 'notify' });
      expect(decide(p('dry-run'), tags, NOW)).toMatchObject({ action: 'dry-run' });
      expect(decide(p('off'), tags, NOW)).toMatchObject({ action: 'leave', outcome: 'off' });
    });
  });

  it('does not depend on the clock except through now', () => {
    const p = snapshot();
    const tags = { [TAG]: '2025-06-15' };
    expect(decide(p, tags, NOW)).toMatchObject({ outcome: 'exempt' });
    expect(decide(p, tags, NOW + DAY)).toEqual({ action: 'auto' });
  });

  describe('a control without an automatic fix', () => {
    const MFA = ControlId.IamUserConsoleMfa;
    const notify = { action: 'notify', reason: `${MFA} has no automatic fix: tell the owner, change nothing` };

    it.each(['auto', 'approve'] as const)('notifies when a snapshot says %s (a loaded policy never does)', (mode) => {
      expect(decide(snapshot({ control: MFA, mode }), {}, NOW)).toEqual(notify);
      expect(decide(snapshot({ control: MFA, mode, requireApprovalWhenTagged: { environment: ['production'] } }), { environment: 'production' }, NOW)).toEqual(
        notify,
      );
    });

    it('follows notify, dry-run and off as any control does', () => {
      expect(decide(snapshot({ control: MFA, mode: 'notify' }), {}, NOW)).toEqual({
        action: 'notify',
        reason: `policy mode is notify for ${MFA}: tell the owner, change nothing`,
      });
      expect(decide(snapshot({ control: MFA, mode: 'dry-run' }), {}, NOW)).toMatchObject({ action: 'dry-run' });
      expect(decide(snapshot({ control: MFA, mode: 'off' }), {}, NOW)).toMatchObject({ action: 'leave', outcome: 'off' });
    });

    it('still leaves exempt and out-of-scope resources alone', () => {
      expect(decide(snapshot({ control: MFA, mode: 'auto' }), { [TAG]: 'permanent' }, NOW)).toMatchObject({ action: 'leave', outcome: 'exempt' });
      expect(decide(snapshot({ control: MFA, mode: 'auto', scope: { tags: { team: '*' } } }), {}, NOW)).toMatchObject({
        action: 'leave',
        outcome: 'out-of-scope',
      });
    });
  });
});

// ---- undo ----------------------------------------------------------------------------------

describe('revertExemptionTag', () => {
  it('is the exemption tag with an expiry exemptFor after now, which parseExemption reads back', () => {
    const p = snapshot({ undo: { windowMs: HOUR, exemptForMs: 7 * DAY } });
    const tag = revertExemptionTag(p, NOW);
    expect(tag).toEqual({ key: TAG, value: '2025-06-22T12:00:00Z' });
    expect(parseExemption(tag.value, NOW + 7 * DAY)).toMatchObject({ exempt: true, until: '2025-06-22T12:00:00.000Z' });
    expect(parseExemption(tag.value, NOW + 7 * DAY + 1).exempt).toBe(false);
  });

  it('rounds up to the second, never shortening the exemption', () => {
    const p = snapshot({ undo: { windowMs: HOUR, exemptForMs: 1500 } });
    expect(revertExemptionTag(p, NOW + 1).value).toBe('2025-06-15T12:00:02Z');
    expect(revertExemptionTag(p, NOW - 500).value).toBe('2025-06-15T12:00:01Z');
  });

  it('uses the tag the policy names', () => {
    const p = { ...snapshot(), exemptionTag: 'security:skip-until' };
    expect(revertExemptionTag(p, NOW).key).toBe('security:skip-until');
  });
});

// ---- approvers ---------------------------------------------------------------------------

describe('isApprover', () => {
  it('accepts listed users only, exactly', () => {
    expect(isApprover(['U0AAAAAAAA', 'U0BBBBBBBB'], 'U0BBBBBBBB')).toBe(true);
    expect(isApprover(['U0AAAAAAAA'], 'U0CCCCCCCC')).toBe(false);
    expect(isApprover(['U0AAAAAAAA'], 'u0aaaaaaaa')).toBe(false);
    expect(isApprover(['U0AAAAAAAA'], 'U0AAAAAAA')).toBe(false);
    expect(isApprover(['U0AAAAAAAA'], ' U0AAAAAAAA')).toBe(false);
  });

  it('accepts nobody from an empty list, and never an empty id', () => {
    expect(isApprover([], 'U0AAAAAAAA')).toBe(false);
    expect(isApprover([''], '')).toBe(false);
  });
});

// ---- ladder ------------------------------------------------------------------------------

describe('ladderSteps', () => {
  it('lists remind, escalate and timeout in time order', () => {
    expect(ladderSteps(ladder())).toEqual([
      { step: 'remind', atMs: 30 * MIN },
      { step: 'escalate', atMs: 2 * HOUR },
      { step: 'timeout', atMs: DAY },
    ]);
  });

  it('skips a reminder at 0', () => {
    expect(ladderSteps(ladder({ remindAfterMs: 0 }))).toEqual([
      { step: 'escalate', atMs: 2 * HOUR },
      { step: 'timeout', atMs: DAY },
    ]);
  });

  it('skips an escalation at 0', () => {
    expect(ladderSteps(ladder({ escalateAfterMs: 0 }))).toEqual([
      { step: 'remind', atMs: 30 * MIN },
      { step: 'timeout', atMs: DAY },
    ]);
  });

  it('has only the timeout when both are 0', () => {
    expect(ladderSteps(ladder({ remindAfterMs: 0, escalateAfterMs: 0 }))).toEqual([{ step: 'timeout', atMs: DAY }]);
  });

  it('keeps a reminder and an escalation at the same moment, reminder first', () => {
    expect(ladderSteps(ladder({ remindAfterMs: HOUR, escalateAfterMs: HOUR }))).toEqual([
      { step: 'remind', atMs: HOUR },
      { step: 'escalate', atMs: HOUR },
      { step: 'timeout', atMs: DAY },
    ]);
  });

  it('keeps the timeout last even for a ladder that was not validated', () => {
    expect(ladderSteps(ladder({ remindAfterMs: 3 * HOUR, escalateAfterMs: 2 * HOUR, timeoutAfterMs: 2 * HOUR }))).toEqual([{ step: 'timeout', atMs: 2 * HOUR }]);
    expect(ladderSteps(ladder({ remindAfterMs: 3 * HOUR, escalateAfterMs: HOUR }))).toEqual([
      { step: 'escalate', atMs: HOUR },
      { step: 'remind', atMs: 3 * HOUR },
      { step: 'timeout', atMs: DAY },
    ]);
  });
});

// ---- guardrails --------------------------------------------------------------------------

describe('evaluateFix', () => {
  const g = guardrails(20, 3, 10 * MIN);
  const auto = { resource: 'sg-123', automatic: true };

  it('allows a fix with an empty ledger', () => {
    expect(evaluateFix([], auto, g, NOW)).toEqual({ allowed: true });
  });

  it('allows below the flap threshold', () => {
    expect(evaluateFix([grant('sg-123', MIN), grant('sg-123', 2 * MIN)], auto, g, NOW)).toEqual({ allowed: true });
  });

  it('denies at exactly the flap threshold', () => {
    const ledger = [grant('sg-123', MIN), grant('sg-123', 2 * MIN), grant('sg-123', 3 * MIN)];
    expect(evaluateFix(ledger, auto, g, NOW)).toEqual({
      allowed: false,
      kind: 'flapping',
      reason: 'sg-123 was remediated 3 times in the last 10m: possible loop or a tool fighting the fix',
    });
  });

  it('counts fixes by people towards flapping', () => {
    const ledger = [grant('sg-123', MIN, false), grant('sg-123', 2 * MIN, false), grant('sg-123', 3 * MIN)];
    expect(evaluateFix(ledger, auto, g, NOW)).toMatchObject({ allowed: false, kind: 'flapping' });
  });

  it('does not count a fix just outside the window, and counts one just inside', () => {
    const outside = [grant('sg-123', MIN), grant('sg-123', 2 * MIN), grant('sg-123', 10 * MIN)];
    expect(evaluateFix(outside, auto, g, NOW)).toEqual({ allowed: true });
    const inside = [grant('sg-123', MIN), grant('sg-123', 2 * MIN), grant('sg-123', 10 * MIN - 1)];
    expect(evaluateFix(inside, auto, g, NOW)).toMatchObject({ allowed: false, kind: 'flapping' });
  });

  it('counts only the same resource', () => {
    const ledger = [grant('sg-1', MIN), grant('sg-2', MIN), grant('sg-3', MIN), grant('sg-1234', MIN)];
    expect(evaluateFix(ledger, auto, g, NOW)).toEqual({ allowed: true });
  });

  it('says "1 time" with a threshold of one', () => {
    expect(evaluateFix([grant('sg-123', 1000)], auto, guardrails(20, 1, 30_000), NOW)).toEqual({
      allowed: false,
      kind: 'flapping',
      reason: 'sg-123 was remediated 1 time in the last 30s: possible loop or a tool fighting the fix',
    });
  });

  it('denies at exactly the hourly limit of automatic fixes', () => {
    const ledger = Array.from({ length: 20 }, (_, i) => grant(`sg-${i}`, i * MIN));
    expect(evaluateFix(ledger, auto, g, NOW)).toEqual({
      allowed: false,
      kind: 'rate-limit',
      reason: '20 automatic fixes of this control in the last hour (limit 20)',
    });
    expect(evaluateFix(ledger.slice(1), auto, g, NOW)).toEqual({ allowed: true });
  });

  it('names the control when given', () => {
    const ledger = Array.from({ length: 2 }, (_, i) => grant(`sg-${i}`, i * MIN));
    expect(evaluateFix(ledger, { ...auto, control: SG }, guardrails(2), NOW)).toEqual({
      allowed: false,
      kind: 'rate-limit',
      reason: `2 automatic fixes of ${SG} in the last hour (limit 2)`,
    });
  });

  it('does not count fixes by people, or fixes older than an hour, towards the limit', () => {
    const people = Array.from({ length: 20 }, (_, i) => grant(`sg-${i}`, i * MIN, false));
    expect(evaluateFix(people, auto, g, NOW)).toEqual({ allowed: true });
    const old = Array.from({ length: 20 }, (_, i) => grant(`sg-${i}`, HOUR + i * MIN));
    expect(evaluateFix(old, auto, g, NOW)).toEqual({ allowed: true });
    const edge = Array.from({ length: 20 }, (_, i) => grant(`sg-${i}`, i === 0 ? HOUR : i * MIN));
    expect(evaluateFix(edge, auto, g, NOW)).toEqual({ allowed: true });
  });

  it('denies every automatic fix with a limit of 0', () => {
    expect(evaluateFix([], auto, guardrails(0), NOW)).toEqual({
      allowed: false,
      kind: 'rate-limit',
      reason: '0 automatic fixes of this control in the last hour (limit 0)',
    });
  });

  it('checks flapping before the hourly limit', () => {
    const ledger = Array.from({ length: 20 }, () => grant('sg-123', 1000));
    expect(evaluateFix(ledger, auto, g, NOW)).toMatchObject({ allowed: false, kind: 'flapping' });
  });

  it('never denies a fix a person asked for', () => {
    const ledger = Array.from({ length: 50 }, () => grant('sg-123', 1000));
    expect(evaluateFix(ledger, { resource: 'sg-123', automatic: false }, g, NOW)).toEqual({ allowed: true });
    expect(evaluateFix([], { resource: 'sg-123', automatic: false }, guardrails(0, 1, HOUR), NOW)).toEqual({ allowed: true });
  });
});

describe('pruneLedger', () => {
  it('keeps the last hour when the flap window is shorter', () => {
    const ledger = [grant('a', 0), grant('b', 59 * MIN), grant('c', HOUR), grant('d', 2 * HOUR)];
    expect(pruneLedger(ledger, guardrails(20, 3, 10 * MIN), NOW).map((e) => e.resource)).toEqual(['a', 'b']);
  });

  it('keeps the flap window when it is longer than an hour', () => {
    const ledger = [grant('a', 0), grant('b', 2 * HOUR), grant('c', 3 * HOUR - 1), grant('d', 3 * HOUR)];
    expect(pruneLedger(ledger, guardrails(20, 3, 3 * HOUR), NOW).map((e) => e.resource)).toEqual(['a', 'b', 'c']);
  });

  it('does not change the verdicts', () => {
    const g = guardrails(5, 3, 2 * HOUR);
    const ledger = Array.from({ length: 40 }, (_, i) => grant(`sg-${i % 4}`, i * 7 * MIN, i % 3 !== 0));
    for (const resource of ['sg-0', 'sg-1', 'sg-9']) {
      const req = { resource, automatic: true };
      expect(evaluateFix(pruneLedger(ledger, g, NOW), req, g, NOW)).toEqual(evaluateFix(ledger, req, g, NOW));
    }
  });

  it('does not modify its input', () => {
    const ledger = Object.freeze([grant('a', 0), grant('b', 2 * HOUR)]);
    expect(pruneLedger(ledger, guardrails(), NOW)).toHaveLength(1);
    expect(ledger).toHaveLength(2);
  });
});

// ---- durations ---------------------------------------------------------------------------

describe('formatDuration', () => {
  it.each([
    [600_000, '10m'],
    [5_400_000, '1h30m'],
    [1500, '1.5s'],
    [500, '500ms'],
    [0, '0s'],
    [1000, '1s'],
    [DAY, '1d'],
    [DAY + 2 * HOUR + 3 * MIN + 4000 + 5, '1d2h3m4.005s'],
    [HOUR + 500, '1h500ms'],
    [90 * DAY, '90d'],
    [-MIN, '-1m'],
    [1.4, '1ms'],
  ])('%d -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

// ---- guardrails without a ledger ---------------------------------------------------------

describe('flapVerdict (the resource\'s own recent fixes)', () => {
  const g = guardrails(20, 3, 10 * MIN);
  it('allows while fewer than maxFixes fixes fall in the window', () => {
    expect(flapVerdict([NOW - 9 * MIN, NOW - MIN], g, NOW, 'sg-1')).toEqual({ allowed: true });
    // Fixes older than the window do not count, however many.
    expect(flapVerdict([NOW - 11 * MIN, NOW - 12 * MIN, NOW - 13 * MIN, NOW - MIN], g, NOW, 'sg-1')).toEqual({ allowed: true });
  });
  it('holds the fix for a person at maxFixes, saying how often and over what window', () => {
    expect(flapVerdict([NOW - 9 * MIN, NOW - 5 * MIN, NOW - MIN], g, NOW, 'sg-1')).toEqual({
      allowed: false,
      kind: 'flapping',
      reason: 'sg-1 was remediated 3 times in the last 10m: possible loop or a tool fighting the fix',
    });
    expect(flapVerdict([NOW - MIN], guardrails(20, 1, HOUR), NOW, 'b').allowed).toBe(false);
  });
  it('a fix exactly at the window\'s edge no longer counts', () => {
    expect(flapVerdict([NOW - 10 * MIN, NOW - 5 * MIN, NOW - MIN], g, NOW, 'sg-1').allowed).toBe(true);
  });
});

describe('budgetVerdict (automatic fixes of the control in the last hour, counted in visibility)', () => {
  it('allows below the budget and holds at it, naming the control and the limit', () => {
    expect(budgetVerdict(19, guardrails(20), 's3-block-public-access')).toEqual({ allowed: true });
    expect(budgetVerdict(20, guardrails(20), 's3-block-public-access')).toEqual({
      allowed: false,
      kind: 'rate-limit',
      reason: '20 automatic fixes of s3-block-public-access in the last hour (limit 20)',
    });
    expect(budgetVerdict(1, guardrails(1), 'x')).toMatchObject({ reason: '1 automatic fix of x in the last hour (limit 1)' });
  });
  it('a budget of 0 holds every automatic fix', () => {
    expect(budgetVerdict(0, guardrails(0), 'x').allowed).toBe(false);
  });
});

describe('recentFixes (what a run carries to the next run of the resource)', () => {
  const g = guardrails(20, 3, 10 * MIN);
  it('keeps only fixes the flap window can still count, oldest first, with a new one added', () => {
    expect(recentFixes([NOW - 20 * MIN, NOW - MIN, NOW - 5 * MIN], g, NOW)).toEqual([NOW - 5 * MIN, NOW - MIN]);
    expect(recentFixes([NOW - MIN], g, NOW, NOW)).toEqual([NOW - MIN, NOW]);
    expect(recentFixes([], g, NOW)).toEqual([]);
  });
  it('never grows past what the window holds, however many runs carry it', () => {
    let fixes: number[] = [];
    for (let i = 0; i < 1000; i++) fixes = recentFixes(fixes, g, NOW + i * MIN, NOW + i * MIN);
    expect(fixes.length).toBe(10);
  });
});

describe('rejectionHolds (a rejected fix is not proposed again while nothing changed)', () => {
  const r = { until: new Date(NOW + DAY).toISOString(), stateDigest: 'abc' };
  it('holds for the same state until the hold ends', () => {
    expect(rejectionHolds(r, 'abc', NOW)).toBe(true);
    expect(rejectionHolds(r, 'abc', NOW + DAY + 1)).toBe(false);
  });
  it('a changed resource is asked about again', () => {
    expect(rejectionHolds(r, 'abd', NOW)).toBe(false);
  });
  it('no rejection, no hold', () => {
    expect(rejectionHolds(undefined, 'abc', NOW)).toBe(false);
  });
});

describe('hourOf (the hour a digest of held fixes covers)', () => {
  it('is the UTC hour around the instant, keyed YYYY-MM-DDTHH', () => {
    expect(hourOf(Date.UTC(2026, 10, 25, 16, 59, 59, 999))).toEqual({ key: '2026-11-25T16', start: '2026-11-25T16:00:00.000Z', end: '2026-11-25T17:00:00.000Z' });
    expect(hourOf(Date.UTC(2026, 11, 31, 23, 0, 0)).end).toBe('2027-01-01T00:00:00.000Z');
  });
});

// ---- sandbox safety ----------------------------------------------------------------------

describe('decide.ts stays workflow-safe', () => {
  const source = readFileSync(new URL('../../../src/policy/decide.ts', import.meta.url), 'utf8');
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

  it('imports only the policy types and the (pure) finding model, and only NOTIFY_ONLY_CONTROLS as a value', () => {
    const imports = [...code.matchAll(/^\s*import\s+(.*?)\s+from\s+'([^']+)'/gm)];
    expect(imports.length).toBeGreaterThan(0);
    for (const [, what, from] of imports) {
      expect(['./types.js', '../findings/finding.js']).toContain(from);
      if (from === './types.js') expect(what, from).toMatch(/^type\s/);
      else expect(what, from).toMatch(/^(?:type\s.*|\{\s*NOTIFY_ONLY_CONTROLS(?:,\s*type\s+\w+)*\s*\})$/);
    }
    expect(code).not.toMatch(/\bimport\(|\brequire\(/);
  });

  it('reads no clock, environment or I/O', () => {
    expect(code).not.toMatch(/Date\.now\(/);
    expect(code).not.toMatch(/new Date\(\s*\)/);
    expect(code).not.toMatch(/\bprocess\b/);
    expect(code).not.toMatch(/\bMath\.random\b/);
    expect(code).not.toMatch(/\bsetTimeout\b|\bsetInterval\b/);
    expect(code).not.toMatch(/node:/);
  });
});
