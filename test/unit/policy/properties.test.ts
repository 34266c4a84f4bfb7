import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { registeredControlIds, requireControl } from '../../../src/activities/controls/index.js';
import { InvalidInputError } from '../../../src/errors.js';
import { CONTROL_IDS, ControlId, NOTIFY_ONLY_CONTROLS } from '../../../src/findings/finding.js';
import {
  decide,
  evaluateFix,
  formatDuration,
  ladderSteps,
  parseExemption,
  pruneLedger,
  revertExemptionTag,
  type FixGrant,
} from '../../../src/policy/decide.js';
import { parseDuration, parsePolicy } from '../../../src/policy/load.js';
import { MODES, WIDE_RULES, type ControlSettings, type EscalationLadder, type ControlPolicy, type Guardrails, type Mode, type PolicySnapshot, type UndoSettings } from '../../../src/policy/types.js';

// ---- helpers ------------------------------------------------------------------------------

/** The effective policy of `id` (any registered control; the first six are typed as always there). */
function ctl(p: { readonly controls: Readonly<Record<string, ControlPolicy | undefined>> }, id: string): ControlPolicy {
  const c = p.controls[id];
  if (c === undefined) throw new Error(`the policy has no control ${id}`);
  return c;
}

// ---- arbitraries -------------------------------------------------------------------------

const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);
const HOUR = 3_600_000;

const arbGuardrails: fc.Arbitrary<Guardrails> = fc.record({
  maxAutoFixesPerHour: fc.nat({ max: 30 }),
  flap: fc.record({ maxFixes: fc.integer({ min: 1, max: 6 }), windowMs: fc.integer({ min: 1, max: 6 * HOUR }) }),
});

const arbGrant: fc.Arbitrary<FixGrant> = fc.record({
  resource: fc.constantFrom('sg-1', 'sg-2', 'sg-3', 'bucket-a'),
  at: fc.integer({ min: NOW - 8 * HOUR, max: NOW }),
  automatic: fc.boolean(),
});

const arbLedger = fc.array(arbGrant, { maxLength: 60 });

const arbLadder: fc.Arbitrary<EscalationLadder> = fc.record({
  remindAfterMs: fc.oneof(fc.constant(0), fc.nat({ max: 10 * 24 * HOUR })),
  escalateAfterMs: fc.oneof(fc.constant(0), fc.nat({ max: 10 * 24 * HOUR })),
  escalateTo: fc.constant({ users: [], groups: [] }),
  timeoutAfterMs: fc.integer({ min: 1, max: 10 * 24 * HOUR }),
  timeoutAction: fc.constantFrom('reject' as const, 'apply' as const),
});

const DAY = 24 * HOUR;

const arbPorts: fc.Arbitrary<number[]> = fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 30 });

const arbKmsKeyId = fc.oneof(
  fc.uuid({ version: 4 }).map((u) => u.toLowerCase()),
  fc.stringMatching(/^mrk-[0-9a-f]{32}$/),
  fc.stringMatching(/^alias\/[A-Za-z0-9/_-]{1,40}$/),
  fc
    .tuple(fc.constantFrom('aws', 'aws-cn', 'aws-us-gov'), fc.constantFrom('us-east-1', 'eu-west-2', 'cn-north-1', 'us-gov-west-1'), fc.stringMatching(/^\d{12}$/), fc.uuid({ version: 4 }))
    .map(([partition, region, account, id]) => `arn:${partition}:kms:${region}:${account}:key/${id.toLowerCase()}`),
);

/** Valid settings as the types allow them: a KMS key id only with aws:kms. */
const arbSettings: fc.Arbitrary<ControlSettings> = fc.record({
  ports: arbPorts,
  wideRules: fc.constantFrom(...WIDE_RULES),
  encryption: fc.oneof(
    fc.constant({ algorithm: 'AES256' as const }),
    fc.constant({ algorithm: 'aws:kms' as const }),
    arbKmsKeyId.map((kmsKeyId) => ({ algorithm: 'aws:kms' as const, kmsKeyId })),
  ),
});

/** Valid undo settings: exemptFor > 0 whenever there is a window. */
const arbUndo: fc.Arbitrary<UndoSettings> = fc.oneof(
  fc.record({ windowMs: fc.constant(0), exemptForMs: fc.nat({ max: 30 * DAY }) }),
  fc.record({ windowMs: fc.integer({ min: 1, max: 7 * DAY }), exemptForMs: fc.integer({ min: 1, max: 90 * DAY }) }),
);

const arbTags = fc.dictionary(fc.constantFrom('environment', 'team', 'public-website', 'rectify:exempt-until', 'owner'), fc.string({ maxLength: 12 }), {
  maxKeys: 5,
});

const arbSnapshot: fc.Arbitrary<PolicySnapshot> = fc.record({
  hash: fc.constant('0'.repeat(64)),
  exemptionTag: fc.constant('rectify:exempt-until'),
  control: fc.record({
    control: fc.constantFrom(...CONTROL_IDS),
    mode: fc.constantFrom(...MODES),
    scope: fc.record({
      accounts: fc.constant([]),
      regions: fc.constant([]),
      tags: fc.dictionary(fc.constantFrom('team', 'owner'), fc.constantFrom('*', 'platform', 'x'), { maxKeys: 2 }),
    }),
    requireApprovalWhenTagged: fc.dictionary(fc.constantFrom('environment', 'public-website'), fc.array(fc.constantFrom('production', 'true', '*'), { minLength: 1, maxLength: 2 }), {
      maxKeys: 2,
    }),
    approvers: fc.constant({ users: [], groups: [] }),
    escalation: arbLadder,
    guardrails: arbGuardrails,
    settings: arbSettings,
    undo: arbUndo,
  }),
});

// ---- properties --------------------------------------------------------------------------

describe('guardrail properties', () => {
  it('evaluateFix never denies a fix a person asked for', () => {
    fc.assert(
      fc.property(arbLedger, fc.constantFrom('sg-1', 'sg-2', 'new'), arbGuardrails, (ledger, resource, g) => {
        expect(evaluateFix(ledger, { resource, automatic: false }, g, NOW)).toEqual({ allowed: true });
      }),
    );
  });

  it('evaluateFix denies exactly when a limit is reached, flapping first', () => {
    fc.assert(
      fc.property(arbLedger, fc.constantFrom('sg-1', 'sg-2', 'new'), arbGuardrails, (ledger, resource, g) => {
        const v = evaluateFix(ledger, { resource, automatic: true }, g, NOW);
        const flaps = ledger.filter((e) => e.resource === resource && e.at > NOW - g.flap.windowMs).length >= g.flap.maxFixes;
        const busy = ledger.filter((e) => e.automatic && e.at > NOW - HOUR).length >= g.maxAutoFixesPerHour;
        if (flaps) expect(v).toMatchObject({ allowed: false, kind: 'flapping' });
        else if (busy) expect(v).toMatchObject({ allowed: false, kind: 'rate-limit' });
        else expect(v).toEqual({ allowed: true });
      }),
    );
  });

  it('pruning the ledger never changes a verdict and never grows it', () => {
    fc.assert(
      fc.property(arbLedger, fc.constantFrom('sg-1', 'sg-2', 'new'), fc.boolean(), arbGuardrails, (ledger, resource, automatic, g) => {
        const pruned = pruneLedger(ledger, g, NOW);
        expect(pruned.length).toBeLessThanOrEqual(ledger.length);
        expect(pruneLedger(pruned, g, NOW)).toEqual(pruned);
        expect(evaluateFix(pruned, { resource, automatic }, g, NOW)).toEqual(evaluateFix(ledger, { resource, automatic }, g, NOW));
      }),
    );
  });
});

describe('ladder properties', () => {
  it('ladderSteps is sorted, ends with the timeout, and has no step at 0', () => {
    fc.assert(
      fc.property(arbLadder, (l) => {
        const steps = ladderSteps(l);
        expect(steps.at(-1)).toEqual({ step: 'timeout', atMs: l.timeoutAfterMs });
        expect(steps.filter((s) => s.step === 'timeout')).toHaveLength(1);
        for (let i = 1; i < steps.length; i++) expect((steps[i] as { atMs: number }).atMs).toBeGreaterThanOrEqual((steps[i - 1] as { atMs: number }).atMs);
        for (const s of steps) expect(s.atMs).toBeGreaterThan(0);
        expect(steps.some((s) => s.step === 'remind')).toBe(l.remindAfterMs > 0 && l.remindAfterMs < l.timeoutAfterMs);
        expect(steps.some((s) => s.step === 'escalate')).toBe(l.escalateAfterMs > 0 && l.escalateAfterMs < l.timeoutAfterMs);
      }),
    );
  });
});

describe('exemption properties', () => {
  it('parseExemption never throws on any string, and an unreadable value is exempt', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('2025-02-29', '9999-12-31', '0000-01-01', '2025-06-15T24:00Z')), fc.integer({ min: 0, max: 4e12 }), (value, now) => {
        const e = parseExemption(value, now);
        if (!e.exempt) expect(e.expiredAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
        else expect(e.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it('a date is exempt exactly up to the end of that day, UTC', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2999-12-31T00:00:00Z'), noInvalidDate: true }), fc.integer({ min: -3 * 86_400_000, max: 3 * 86_400_000 }), (d, delta) => {
        const day = d.toISOString().slice(0, 10);
        const end = Date.parse(`${day}T23:59:59.999Z`);
        expect(parseExemption(day, end + delta).exempt).toBe(delta <= 0);
      }),
    );
  });

  it('an ISO date-time round-trips through until / expiredAt', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2999-12-31T00:00:00Z'), noInvalidDate: true }), fc.integer({ min: 0, max: 4e12 }), (d, now) => {
        const iso = d.toISOString();
        const e = parseExemption(iso, now);
        if (e.exempt) expect(e.until).toBe(iso);
        else expect(e.expiredAt).toBe(iso);
      }),
    );
  });
});

describe('decide properties', () => {
  it('never throws, and mode off always leaves the resource alone', () => {
    fc.assert(
      fc.property(arbSnapshot, arbTags, (p, tags) => {
        const d = decide(p, tags, NOW);
        if (p.control.mode === 'off') expect(d).toMatchObject({ action: 'leave', outcome: 'off' });
        if (d.action === 'approve') expect(d.reasons.length).toBeGreaterThan(0);
        if (d.action === 'auto') expect(p.control.mode).toBe('auto');
      }),
    );
  });

  it('never fixes or asks to fix a control without an automatic fix', () => {
    fc.assert(
      fc.property(arbSnapshot, arbTags, (p, tags) => {
        const d = decide(p, tags, NOW);
        if (NOTIFY_ONLY_CONTROLS.includes(p.control.control)) expect(['leave', 'dry-run', 'notify']).toContain(d.action);
      }),
    );
  });

  it('never fixes automatically when a tag requires approval', () => {
    fc.assert(
      fc.property(arbSnapshot, arbTags, (p, tags) => {
        const d = decide(p, tags, NOW);
        const conditionMatches = Object.entries(p.control.requireApprovalWhenTagged).some(
          ([k, values]) => tags[k] !== undefined && values.some((v) => v === '*' || v.toLowerCase() === tags[k]?.toLowerCase()),
        );
        if (conditionMatches) expect(d.action).not.toBe('auto');
      }),
    );
  });
});

describe('undo properties', () => {
  it('a reverted resource is exempt for at least exemptFor and at most a second longer', () => {
    fc.assert(
      fc.property(arbSnapshot, fc.integer({ min: 0, max: 4e12 }), (p, now) => {
        const { key, value } = revertExemptionTag(p, now);
        expect(key).toBe(p.exemptionTag);
        const end = now + p.control.undo.exemptForMs;
        expect(parseExemption(value, end).exempt).toBe(true);
        expect(parseExemption(value, end + 1000).exempt).toBe(false);
      }),
    );
  });
});

describe('duration properties', () => {
  it('parseDuration reads back what formatDuration writes', () => {
    fc.assert(
      fc.property(fc.nat({ max: 400 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });

  it('parseDuration never throws and returns a non-negative safe integer or undefined', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9.]{0,6}(d|h|m|s|ms){0,2}[0-9.]{0,6}(d|h|m|s|ms)?$/)), (s) => {
        const ms = parseDuration(s);
        if (ms !== undefined) {
          expect(Number.isSafeInteger(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });
});

describe('parsePolicy properties', () => {
  it('either loads a whole policy or throws an InvalidInputError, never anything else', () => {
    const anyValue = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }));
    const section = fc.dictionary(
      fc.constantFrom('mode', 'scope', 'channel', 'escalation', 'guardrails', 'approvers', 'requireApprovalWhenTagged', 'settings', 'undo', 'oops'),
      fc.oneof(
        anyValue,
        fc.dictionary(
          fc.constantFrom('accounts', 'users', 'timeoutAfter', 'flap', 'tags', 'ports', 'encryption', 'window', 'exemptFor', 'maxKeyAgeDays', 'maxUnusedDays', 'x'),
          fc.oneof(anyValue, fc.array(fc.integer({ min: -1, max: 70000 }), { maxLength: 3 }), fc.dictionary(fc.constantFrom('algorithm', 'kmsKeyId'), fc.oneof(anyValue, fc.constantFrom('AES256', 'aws:kms', 'alias/k')), { maxKeys: 2 })),
          { maxKeys: 3 },
        ),
      ),
      { maxKeys: 4 },
    );
    const ids = registeredControlIds();
    const latitude: Record<Mode, number> = { auto: 2, approve: 1, notify: 0, 'dry-run': 0, off: 0 };
    fc.assert(
      fc.property(fc.oneof(fc.constant(1), anyValue), section, fc.dictionary(fc.constantFrom(...ids, 'nope'), section, { maxKeys: 2 }), (version, defaults, controls) => {
        let policy;
        try {
          policy = parsePolicy(stringify({ version, defaults, controls }));
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidInputError);
          expect((e as InvalidInputError).problems.length).toBeGreaterThan(0);
          return;
        }
        expect(Object.keys(policy.controls)).toEqual(ids);
        for (const id of ids) {
          const c = ctl(policy, id);
          const l = c.escalation;
          expect(l.timeoutAfterMs).toBeGreaterThan(0);
          expect(ladderSteps(l).at(-1)?.step).toBe('timeout');
          expect(c.settings.ports.length).toBeGreaterThan(0);
          expect(new Set(c.settings.ports).size).toBe(c.settings.ports.length);
          for (const port of c.settings.ports) expect(Number.isInteger(port) && port >= 0 && port <= 65535).toBe(true);
          if (c.settings.encryption.kmsKeyId !== undefined) expect(c.settings.encryption.algorithm).toBe('aws:kms');
          if (c.undo.windowMs > 0) expect(c.undo.exemptForMs).toBeGreaterThan(0);
          if (NOTIFY_ONLY_CONTROLS.includes(id)) expect(['notify', 'dry-run', 'off']).toContain(c.mode);
          const { fixable, catalog, settings } = requireControl(id);
          if (!fixable) expect(['notify', 'dry-run', 'off']).toContain(c.mode);
          // A mode not set in the control's own section goes no further than its catalog default.
          const own = (controls as Record<string, unknown>)[id];
          if (!(typeof own === 'object' && own !== null && 'mode' in own)) expect(latitude[c.mode]).toBeLessThanOrEqual(latitude[catalog.defaultMode]);
          // A control's own settings, when set anywhere, are valid for its schema.
          if (settings) expect(settings.safeParse(c.settings).success).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('loads any valid settings and undo, in defaults or a control section, exactly as written', () => {
    fc.assert(
      fc.property(arbSettings, arbUndo, fc.constantFrom(...registeredControlIds()), fc.boolean(), (settings, undo, id, inDefaults) => {
        const section = {
          settings,
          undo: { window: formatDuration(undo.windowMs), exemptFor: formatDuration(undo.exemptForMs) },
        };
        const policy = parsePolicy(stringify(inDefaults ? { version: 1, defaults: section } : { version: 1, controls: { [id]: section } }));
        expect(ctl(policy, id).settings).toEqual(settings);
        expect(ctl(policy, id).undo).toEqual(undo);
      }),
    );
  });

  it('a control section overrides only the settings and undo keys it sets', () => {
    fc.assert(
      fc.property(arbSettings, arbUndo, fc.option(arbPorts, { nil: undefined }), fc.option(fc.integer({ min: 1, max: 30 * DAY }), { nil: undefined }), (base, baseUndo, ports, exemptForMs) => {
        const defaults = {
          settings: base,
          undo: { window: formatDuration(baseUndo.windowMs), exemptFor: formatDuration(baseUndo.exemptForMs) },
        };
        const own = {
          ...(ports === undefined ? {} : { settings: { ports } }),
          ...(exemptForMs === undefined ? {} : { undo: { exemptFor: formatDuration(exemptForMs) } }),
        };
        const policy = parsePolicy(stringify({ version: 1, defaults, controls: { [ControlId.SgAdminPortsOpen]: own } }));
        const c = policy.controls[ControlId.SgAdminPortsOpen];
        expect(c.settings).toEqual({ ports: ports ?? base.ports, wideRules: base.wideRules, encryption: base.encryption });
        expect(c.undo).toEqual({ windowMs: baseUndo.windowMs, exemptForMs: exemptForMs ?? baseUndo.exemptForMs });
      }),
    );
  });

  it('never throws anything but an InvalidInputError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parsePolicy(text);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidInputError);
        }
      }),
    );
  });

  it('hash is a function of the text only', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MODES), fc.constantFrom(ControlId.S3BlockPublicAccess, ControlId.SgAdminPortsOpen), (mode, id) => {
        const text = stringify({ version: 1, controls: { [id]: { mode } } });
        expect(parsePolicy(text, 'a').hash).toBe(parsePolicy(text, 'b').hash);
      }),
    );
  });
});
