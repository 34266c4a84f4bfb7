import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { registeredControlIds } from '../../../src/activities/controls/index.js';
import { CONTROL_IDS, ControlId } from '../../../src/findings/finding.js';
import { BUILTIN_DEFAULTS, parsePolicy, snapshotFor } from '../../../src/policy/load.js';
import { WIDE_RULES, type ControlPolicy } from '../../../src/policy/types.js';
import { problemsOf } from '../normalizers/helpers.js';


const parse = (doc: Record<string, unknown>) => parsePolicy(stringify({ version: 1, ...doc }));
const problems = (doc: Record<string, unknown>) => problemsOf(() => parse(doc));

/** The effective policy of `id` (any registered control; the first six are typed as always there). */
function ctl(p: { readonly controls: Readonly<Record<string, ControlPolicy | undefined>> }, id: string): ControlPolicy {
  const c = p.controls[id];
  if (c === undefined) throw new Error(`the policy has no control ${id}`);
  return c;
}
const SG = ControlId.SgAdminPortsOpen;
const ACCOUNT = '123456789012';

describe('policy settings.wideRules', () => {
  it('defaults to split for every control, in the built-in defaults too', () => {
    expect(BUILTIN_DEFAULTS.settings.wideRules).toBe('split');
    const p = parse({});
    expect(registeredControlIds().slice(0, CONTROL_IDS.length)).toEqual(CONTROL_IDS);
    for (const id of registeredControlIds()) expect(ctl(p, id).settings.wideRules, id).toBe('split');
  });

  it.each(WIDE_RULES)('accepts %s in defaults and in the control section', (value) => {
    expect(parse({ defaults: { settings: { wideRules: value } } }).controls[SG].settings.wideRules).toBe(value);
    expect(parse({ controls: { [SG]: { settings: { wideRules: value } } } }).controls[SG].settings.wideRules).toBe(value);
  });

  it('is merged key by key like ports: the control section overrides only what it sets', () => {
    const p = parse({
      defaults: { settings: { ports: [22, 3389, 3306], wideRules: 'approve' } },
      controls: { [SG]: { settings: { wideRules: 'revoke' } }, [ControlId.S3BlockPublicAccess]: { settings: { ports: [22] } } },
    });
    expect(p.controls[SG].settings).toEqual({ ports: [22, 3389, 3306], wideRules: 'revoke', encryption: { algorithm: 'AES256' } });
    expect(p.controls[ControlId.S3BlockPublicAccess].settings).toEqual({ ports: [22], wideRules: 'approve', encryption: { algorithm: 'AES256' } });
  });

  it('an account group and its own control section override it in turn, and the snapshot carries the result', () => {
    const p = parse({
      controls: { [SG]: { settings: { wideRules: 'revoke' } } },
      accounts: [{ name: 'production', ids: [ACCOUNT], settings: { wideRules: 'approve' } }, { name: 'sandbox', ids: ['210987654321'], controls: { [SG]: { settings: { ports: [22] } } } }],
    });
    expect(snapshotFor(p, SG).control.settings.wideRules).toBe('revoke');
    expect(snapshotFor(p, SG, ACCOUNT).control.settings.wideRules).toBe('approve');
    expect(snapshotFor(p, SG, '210987654321').control.settings).toMatchObject({ ports: [22], wideRules: 'revoke' });
  });

  it.each([
    ['an unknown word', 'close', '"close"'],
    ['a capitalized value', 'Split', '"Split"'],
    ['a list', ['split'], 'a list'],
    ['a boolean', true, 'true'],
    ['nothing', null, 'nothing'],
  ])('rejects %s with one problem naming the path and the values it may take', (_what, value, shown) => {
    const expected = `must be split (revoke the rule and re-open the rest of it without the ports), revoke (the whole rule) or approve (split once a person approves), got ${shown}`;
    expect(problems({ defaults: { settings: { wideRules: value } } })).toEqual([`defaults.settings.wideRules: ${expected}`]);
    expect(problems({ controls: { [SG]: { settings: { wideRules: value } } } })).toEqual([`controls.${SG}.settings.wideRules: ${expected}`]);
    expect(problems({ accounts: [{ name: 'prod', ids: [ACCOUNT], controls: { [SG]: { settings: { wideRules: value } } } }] })).toEqual([
      `accounts[0].controls.${SG}.settings.wideRules: ${expected}`,
    ]);
  });

  it('suggests the key for a misspelt wideRules', () => {
    // defaults take every control's own settings keys as well (iam-access-key-stale's two).
    expect(problems({ defaults: { settings: { wideRule: 'split' } } })).toEqual([
      'defaults.settings.wideRule: unknown key (did you mean wideRules? expected one of: ports, wideRules, encryption, maxKeyAgeDays, maxUnusedDays)',
    ]);
    // A control's own section takes only its own: the security group control declares none.
    expect(problems({ controls: { [SG]: { settings: { wideRule: 'split' } } } })).toEqual([
      `controls.${SG}.settings.wideRule: unknown key (did you mean wideRules? expected one of: ports, wideRules, encryption)`,
    ]);
  });

  it('reports a bad wideRules together with the other problems of the file', () => {
    const p = problems({ defaults: { settings: { ports: [], wideRules: 'never' } } });
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^defaults\.settings\.ports: must list at least one port/);
    expect(p[1]).toMatch(/^defaults\.settings\.wideRules: must be split .* got "never"$/);
  });
});
