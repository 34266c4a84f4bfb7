import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { registeredControlIds, registeredControls, requireControl } from '../../../src/activities/controls/index.js';
import { InvalidInputError } from '../../../src/errors.js';
import { CONTROL_IDS, ControlId, NOTIFY_ONLY_CONTROLS } from '../../../src/findings/finding.js';
import {
  BUILTIN_DEFAULTS,
  DEFAULT_EXEMPTION_TAG,
  DEFAULT_POLICY_PATH,
  loadPolicyFile,
  parseDuration,
  parsePolicy,
  policyWarnings,
  snapshotFor,
} from '../../../src/policy/load.js';
import type { ControlPolicy, Mode, Policy } from '../../../src/policy/types.js';
import { testOperatorKey, testRelayKey } from '../../helpers/decisions.js';

// ---- helpers (kept local: each test file stands alone) ---------------------------------

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvalidInputError) return e.problems;
    throw e;
  }
  throw new Error('expected an InvalidInputError');
}

async function problemsOfAsync(fn: () => Promise<unknown>): Promise<readonly string[]> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof InvalidInputError) return e.problems;
    throw e;
  }
  throw new Error('expected an InvalidInputError');
}

/** A policy file from an object (version 1 unless the object says otherwise). */
const yamlOf = (doc: Record<string, unknown>) => stringify({ version: 1, ...doc });
const parse = (doc: Record<string, unknown>) => parsePolicy(yamlOf(doc));
const problems = (doc: Record<string, unknown>) => problemsOf(() => parse(doc));

/** The effective policy of `id` (any registered control; the first six are typed as always there). */
function ctl(p: { readonly controls: Readonly<Record<string, ControlPolicy | undefined>> }, id: string): ControlPolicy {
  const c = p.controls[id];
  if (c === undefined) throw new Error(`the policy has no control ${id}`);
  return c;
}

const S3 = ControlId.S3BlockPublicAccess;
const ACL = ControlId.S3PublicAcl;
const ENC = ControlId.S3DefaultEncryption;
const SG = ControlId.SgAdminPortsOpen;
const EBS = ControlId.EbsDefaultEncryption;
const MFA = ControlId.IamUserConsoleMfa;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** The controls registered since the first six, in registration order (src/activities/controls/index.ts). */
const NEW_CONTROLS = [
  's3-bucket-tls-required',
  'ec2-default-sg-closed',
  'ec2-ebs-snapshot-public',
  'rds-snapshot-public',
  'rds-instance-public',
  'ec2-imdsv2-required',
  'iam-access-key-stale',
  'kms-key-rotation',
  'cloudtrail-log-validation',
  'lambda-public-invoke',
  'sns-topic-public',
  'sqs-queue-public',
] as const;
/** Every registered control: the first six, then the new ones. */
const ALL = [...CONTROL_IDS, ...NEW_CONTROLS] as const;
/** The new controls whose catalog default is approve, in registration order: an inherited auto stays approve for them. */
const APPROVE_FIRST = ['ec2-default-sg-closed', 'rds-instance-public', 'ec2-imdsv2-required', 'iam-access-key-stale', 'lambda-public-invoke', 'sns-topic-public', 'sqs-queue-public'] as const;
const RDS = 'rds-instance-public';
const KEYS = 'iam-access-key-stale';
const SUPPORTED = ALL.join(', ');
const NOBODY = 'nobody can approve: no Slack approvers or channel, and no operator keys (approvers.keys) for the CLI';
/** "nobody can approve" for each approve-first control, as policyWarnings words it when nothing is set for them. */
const nobodyForApproveFirst = () => APPROVE_FIRST.map((id) => `controls.${id}: ${NOBODY}`);
/** How much a mode changes without a person (auto > approve > the rest). */
const LATITUDE: Record<Mode, number> = { auto: 2, approve: 1, notify: 0, 'dry-run': 0, off: 0 };
/** The mode a control gets when it inherits `mode` (from defaults or an account group): at most its catalog default. */
function inherited(id: string, mode: Mode): Mode {
  const { fixable, catalog } = requireControl(id);
  if (!fixable && LATITUDE[mode] > 0) return 'notify';
  return LATITUDE[mode] > LATITUDE[catalog.defaultMode] ? catalog.defaultMode : mode;
}
/** The EC2.19 high-risk ports (https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-19). */
const EC2_19_PORTS = [20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300];
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

// ---- the registered controls ----------------------------------------------------------

describe('the controls the policy knows', () => {
  it('are the registered ones: the first six, then the new ones', () => {
    expect(registeredControlIds()).toEqual(ALL);
  });

  it('default to approve exactly for the approve-first controls, to notify exactly for the notify-only one', () => {
    expect(registeredControls().filter((c) => c.catalog.defaultMode === 'approve').map((c) => c.id)).toEqual(APPROVE_FIRST);
    expect(registeredControls().filter((c) => c.catalog.defaultMode === 'notify').map((c) => c.id)).toEqual([MFA]);
  });
});

// ---- the shipped default ---------------------------------------------------------------

describe('the shipped default policy', () => {
  let text: string;
  let policy: Policy;
  beforeAll(async () => {
    text = await readFile(DEFAULT_POLICY_PATH, 'utf8');
    policy = await loadPolicyFile(DEFAULT_POLICY_PATH);
  });

  it('lives at policy/default.yaml, as an absolute path', () => {
    expect(DEFAULT_POLICY_PATH).toMatch(/[/\\]policy[/\\]default\.yaml$/);
    expect(DEFAULT_POLICY_PATH.startsWith('/') || /^[A-Za-z]:\\/.test(DEFAULT_POLICY_PATH)).toBe(true);
  });

  it('loads cleanly with version 1, the documented exemption tag and the hash of its bytes', () => {
    expect(policy.version).toBe(1);
    expect(policy.exemptionTag).toBe('rectify:exempt-until');
    expect(policy.hash).toBe(createHash('sha256').update(text).digest('hex'));
  });

  it('has a policy for every supported control and nothing else', () => {
    expect(Object.keys(policy.controls)).toEqual(registeredControlIds());
    expect(Object.keys(policy.controls).slice(0, CONTROL_IDS.length)).toEqual(CONTROL_IDS);
    for (const id of ALL) expect(ctl(policy, id).control).toBe(id);
  });

  it('has a section for every registered control, in registration order', () => {
    const doc = parseYaml(text) as { controls: Record<string, unknown> };
    expect(Object.keys(doc.controls)).toEqual(registeredControlIds());
  });

  it('puts S3 Block Public Access in auto mode, asking first for public websites', () => {
    const c = policy.controls[S3];
    expect(c.mode).toBe('auto');
    expect(c.requireApprovalWhenTagged).toEqual({ 'public-website': ['true'] });
  });

  it('puts security groups in auto mode, asking first in production', () => {
    const c = policy.controls[SG];
    expect(c.mode).toBe('auto');
    expect(c.requireApprovalWhenTagged).toEqual({ environment: ['production', 'prod'] });
  });

  it.each([
    [S3, 'auto', { 'public-website': ['true'] }],
    [ACL, 'auto', { 'public-website': ['true'] }],
    [ENC, 'auto', {}],
    [SG, 'auto', { environment: ['production', 'prod'] }],
    [EBS, 'auto', {}],
    [MFA, 'notify', {}],
    ['s3-bucket-tls-required', 'auto', {}],
    ['ec2-default-sg-closed', 'approve', {}],
    ['ec2-ebs-snapshot-public', 'auto', {}],
    ['rds-snapshot-public', 'auto', {}],
    ['rds-instance-public', 'approve', {}],
    ['ec2-imdsv2-required', 'approve', {}],
    ['iam-access-key-stale', 'approve', {}],
    ['kms-key-rotation', 'auto', {}],
    ['cloudtrail-log-validation', 'auto', {}],
    ['lambda-public-invoke', 'approve', {}],
    ['sns-topic-public', 'approve', {}],
    ['sqs-queue-public', 'approve', {}],
  ] as const)('gives %s mode %s and its approval conditions', (id, mode, conditions) => {
    expect(ctl(policy, id).mode).toBe(mode);
    expect(ctl(policy, id).requireApprovalWhenTagged).toEqual(conditions);
  });

  it('has the documented settings and undo for every control', () => {
    for (const id of ALL) {
      const c = ctl(policy, id);
      // iam-access-key-stale's own settings are spelled out in its section (Security Hub's 90 days).
      const own = id === KEYS ? { maxKeyAgeDays: 90, maxUnusedDays: 90 } : {};
      expect(c.settings, id).toEqual({ ports: [22, 3389], wideRules: 'split', encryption: { algorithm: 'AES256' }, ...own });
      expect(c.undo, id).toEqual({ windowMs: HOUR, exemptForMs: 7 * DAY });
    }
  });

  it('lists the EC2.19 ports in a comment that loads as written when uncommented', () => {
    const lines = text.split('\n');
    const start = lines.findIndex((l) => /^\s*#\s*ports: \[20, 21,/.test(l));
    expect(start).toBeGreaterThan(-1);
    expect(lines.slice(start - 3, start).join('\n')).toContain('https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-19');
    const example = lines
      .slice(start, start + 2)
      .map((l) => l.replace(/^\s*#\s*/, ''))
      .join(' ');
    const p = parse({ controls: { [SG]: { settings: parseYaml(example) as Record<string, unknown> } } });
    expect(p.controls[SG].settings.ports).toEqual(EC2_19_PORTS);
  });

  it('has a commented KMS example that loads when uncommented', () => {
    const algorithm = /^\s*#\s*algorithm: aws:kms$/m.exec(text);
    const key = /^\s*#\s*kmsKeyId: (\S+)$/m.exec(text);
    expect(algorithm).not.toBeNull();
    expect(key?.[1]).toBeDefined();
    const p = parse({ controls: { [ENC]: { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: key?.[1] } } } } });
    expect(p.controls[ENC].settings.encryption).toEqual({ algorithm: 'aws:kms', kmsKeyId: key?.[1] });
  });

  it('has the documented defaults: everything in scope, no Slack ids, the ladder and guardrails', () => {
    for (const id of ALL) {
      const c = ctl(policy, id);
      expect(c.scope).toEqual({ accounts: [], regions: [], tags: {} });
      expect(c.approvers).toEqual({ users: [], groups: [], keys: [] });
      expect(c.channel).toBeUndefined();
      expect(c.escalation).toEqual({
        remindAfterMs: 30 * MIN,
        escalateAfterMs: 2 * HOUR,
        escalateTo: { users: [], groups: [] },
        timeoutAfterMs: 24 * HOUR,
        timeoutAction: 'reject',
      });
      expect(c.guardrails).toEqual({ maxAutoFixesPerHour: 20, rejectionHoldMs: 7 * DAY, flap: { maxFixes: 3, windowMs: 10 * MIN } });
    }
  });

  it('has the same defaults as the built-in ones (a file saying only version: 1)', () => {
    const minimal = parsePolicy('version: 1\n');
    for (const id of ALL) {
      const schema = requireControl(id).settings;
      const ownKeys = Object.keys(schema?.shape ?? {});
      const { requireApprovalWhenTagged: _a, settings: shippedSettings, ...shipped } = ctl(policy, id);
      const { requireApprovalWhenTagged: _b, settings: builtinSettings, ...builtin } = ctl(minimal, id);
      expect(builtin, id).toEqual(shipped);
      expect(builtinSettings, id).toEqual(Object.fromEntries(Object.entries(shippedSettings).filter(([k]) => !ownKeys.includes(k))));
      // The shipped file spells out a control's own settings; the built-in ones leave them to the control's schema defaults: the same values.
      if (schema) expect(schema.parse(builtinSettings), id).toEqual(schema.parse(shippedSettings));
      // Every control inherits the built-in auto, and gets at most its catalog default: notify for
      // the notify-only control, approve for the approve-first ones.
      expect(minimal.controls[id]).toEqual({ control: id, ...BUILTIN_DEFAULTS, mode: requireControl(id).catalog.defaultMode });
    }
    expect(minimal.exemptionTag).toBe(DEFAULT_EXEMPTION_TAG);
  });

  it('warns that nobody can approve (no Slack ids or operator keys shipped)', () => {
    expect(policyWarnings(policy)).toEqual([
      `controls.${S3}: ${NOBODY}`,
      `controls.${ACL}: ${NOBODY}`,
      `controls.${SG}: ${NOBODY}`,
      `controls.${MFA}: mode is notify but no Slack channel is set: nobody is told in Slack`,
      // The new controls shipped in approve mode.
      ...nobodyForApproveFirst(),
    ]);
  });

  it('documents the schema in its comments', () => {
    const comments = text
      .split('\n')
      .filter((l) => l.trim().startsWith('#'))
      .join('\n');
    for (const phrase of [
      'auto ',
      'approve ',
      'notify ',
      'dry-run ',
      'off ',
      'YYYY-MM-DD',
      'permanent',
      '12-digit',
      'us-east-1',
      '"*"',
      'channel: C0123456789',
      'U012AB3CDE',
      'S012AB3CDE',
      '0 = no reminder',
      '0 = no escalation',
      'escalateTo:',
      'reject',
      'apply',
      'remindAfter <= escalateAfter < timeoutAfter',
      'maxFixes',
      'key by key',
      'settings.ports',
      'settings.encryption',
      '0-65535',
      'AES256',
      'aws:kms',
      'kmsKeyId',
      'alias/',
      'kmsKeyId: null',
      'EC2.19',
      'see `undo`',
      'window: 0',
      'exemptFor',
      'exemption tag',
      'Undo button',
      'no automatic fix',
      'it gets notify instead',
      ...CONTROL_IDS,
    ]) {
      expect(comments, phrase).toContain(phrase);
    }
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.controls[S3].scope.accounts)).toBe(true);
    expect(Object.isFrozen(policy.controls[SG].escalation.escalateTo)).toBe(true);
  });
});

// ---- durations -------------------------------------------------------------------------

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['30m', 30 * MIN],
    ['2h', 2 * HOUR],
    ['1d', 24 * HOUR],
    ['1h30m', 90 * MIN],
    ['1d12h', 36 * HOUR],
    ['1m30s', 90_000],
    ['1s500ms', 1500],
    ['1.5s', 1500],
    ['1.5h', 90 * MIN],
    ['1h 30m', 90 * MIN],
    [' 10m ', 10 * MIN],
    ['0', 0],
    ['0s', 0],
    ['0m', 0],
    ['1d2h3m4s5ms', 93_784_005],
  ])('%s -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', ' ', 'soon', '10', '1.5', 'm', '10 m', '30m1h', '1h1h', '-5m', '+5m', '5 minutes', '5min', '1w', '1y', '1H', 'h1', '1e3s', '.5s', '5.s', 'NaN', 'Infinity', '1h30', '999999999999999999999d'])(
    '%j is not a duration',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

// ---- structure and YAML --------------------------------------------------------------------

describe('parsePolicy: structure', () => {
  it('reports a YAML syntax error with its line and column', () => {
    const text = 'version: 1\ndefaults:\n  mode: auto\n  scope: { accounts: [1,\n  mode: off\n';
    const p = problemsOf(() => parsePolicy(text, 'bad.yaml'));
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]).toMatch(/^YAML syntax error at line \d+, column \d+: /);
  });

  it('reports a duplicate key as a YAML error with the line', () => {
    expect(problemsOf(() => parsePolicy('version: 1\nversion: 1\n'))).toEqual([
      'YAML syntax error at line 2, column 1: Map keys must be unique',
    ]);
  });

  it('names the source in the error message', () => {
    expect(() => parsePolicy('version: 2\n', '/etc/rectify/policy.yaml')).toThrow(/^invalid policy \/etc\/rectify\/policy\.yaml: version: must be 1, got 2$/);
    expect(() => parsePolicy('version: 2\n')).toThrow(/^invalid policy policy: /);
  });

  it('rejects several documents in one file', () => {
    expect(problemsOf(() => parsePolicy('version: 1\n---\nversion: 1\n'))[0]).toMatch(/YAML syntax error at line 2.*multiple documents/);
  });

  it('reports an alias to an anchor that does not exist', () => {
    expect(problemsOf(() => parsePolicy('version: 1\ndefaults: *nope\n'))[0]).toMatch(/^YAML/);
  });

  it('accepts anchors and aliases', () => {
    const p = parsePolicy(
      'version: 1\ncontrols:\n  s3-block-public-access: &strict\n    mode: approve\n  ec2-sg-admin-ports-open: *strict\n',
    );
    expect(p.controls[S3].mode).toBe('approve');
    expect(p.controls[SG].mode).toBe('approve');
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# nothing here\n'],
    ['an explicit null', '~\n'],
  ])('rejects %s', (_name, text) => {
    expect(problemsOf(() => parsePolicy(text))).toEqual(['the policy is empty: it must be a mapping that starts with version: 1']);
  });

  it.each([
    ['a list', '- version: 1\n', 'a list'],
    ['a string', 'hello\n', '"hello"'],
    ['a number', '1\n', '1'],
  ])('rejects a top level that is %s', (_name, text, got) => {
    expect(problemsOf(() => parsePolicy(text))).toEqual([`must be a mapping with keys version, exemptions, defaults, controls, accounts, decisionRelays, got ${got}`]);
  });

  it('requires version', () => {
    expect(problemsOf(() => parsePolicy('defaults: {}\n'))).toEqual(['version: required: must be 1']);
  });

  it.each([[2], [0], ['1'], ['one'], [1.5], [null], [[1]]])('rejects version %j', (version) => {
    const p = problems({ version });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^version: must be 1, got /);
  });

  it('accepts a byte order mark and CRLF line ends', () => {
    const p = parsePolicy('\uFEFFversion: 1\r\ndefaults:\r\n  mode: notify\r\n');
    expect(p.controls[S3].mode).toBe('notify');
  });

  it('accepts empty sections (`defaults:`, `controls:`, a control with nothing under it)', () => {
    const p = parsePolicy('version: 1\ndefaults:\ncontrols:\n');
    expect(p.controls[S3]).toEqual({ control: S3, ...BUILTIN_DEFAULTS });
    const q = parsePolicy('version: 1\ncontrols:\n  s3-block-public-access:\n');
    expect(q.controls[S3]).toEqual({ control: S3, ...BUILTIN_DEFAULTS });
  });
});

describe('parsePolicy: unknown keys and controls', () => {
  it.each([
    [{ verison: 1 }, 'verison: unknown key (did you mean version? expected one of: version, exemptions, defaults, controls, accounts, decisionRelays)'],
    [{ default: {} }, 'default: unknown key (did you mean defaults? expected one of: version, exemptions, defaults, controls, accounts, decisionRelays)'],
    [{ exemptions: { key: 'x' } }, 'exemptions.key: unknown key (expected one of: tag)'],
    [{ defaults: { Mode: 'auto' } }, 'defaults.Mode: unknown key (did you mean mode? '],
    [{ defaults: { scope: { account: [] } } }, 'defaults.scope.account: unknown key (did you mean accounts? expected one of: accounts, regions, tags)'],
    [{ defaults: { approvers: { channel: 'C123' } } }, 'defaults.approvers.channel: unknown key (expected one of: users, groups, keys)'],
    [{ defaults: { escalation: { timeoutAfer: '1h' } } }, 'defaults.escalation.timeoutAfer: unknown key (did you mean timeoutAfter? '],
    [{ defaults: { escalation: { escalateTo: { user: [] } } } }, 'defaults.escalation.escalateTo.user: unknown key (did you mean users? '],
    [{ defaults: { guardrails: { maxAutoFixesPerDay: 1 } } }, 'defaults.guardrails.maxAutoFixesPerDay: unknown key ('],
    [{ defaults: { guardrails: { flap: { windowMs: 1 } } } }, 'defaults.guardrails.flap.windowMs: unknown key (did you mean window? '],
    [{ controls: { [SG]: { scopes: {} } } }, `controls.${SG}.scopes: unknown key (did you mean scope? `],
    [{ controls: { [S3]: { exemptions: {} } } }, `controls.${S3}.exemptions: unknown key (`],
  ])('%j', (doc, problem) => {
    const p = problems(doc);
    expect(p).toHaveLength(1);
    expect(p[0]?.startsWith(problem), `${p[0]} should start with ${problem}`).toBe(true);
  });

  it('rejects an unknown control, naming the supported ones', () => {
    expect(problems({ controls: { 's3-public-access': {} } })).toEqual([`controls.s3-public-access: unknown control (supported: ${SUPPORTED})`]);
    expect(problems({ controls: { 's3-block-public-acess': {} } })).toEqual([
      `controls.s3-block-public-acess: unknown control (did you mean ${S3}? supported: ${SUPPORTED})`,
    ]);
    expect(problems({ controls: { 'iam-user-console-mfaa': {} } })).toEqual([
      `controls.iam-user-console-mfaa: unknown control (did you mean ${MFA}? supported: ${SUPPORTED})`,
    ]);
  });

  it.each([
    [{ controls: [] }, 'controls: must be a mapping of control id to its section, got a list'],
    [{ controls: 's3' }, 'controls: must be a mapping of control id to its section, got "s3"'],
    [{ defaults: [] }, 'defaults: must be a mapping with keys mode, scope, '],
    [{ defaults: 'auto' }, 'defaults: must be a mapping with keys mode, scope, '],
    [{ controls: { [S3]: 'approve' } }, `controls.${S3}: must be a mapping with keys mode, `],
    [{ exemptions: 'rectify:exempt' }, 'exemptions: must be a mapping with keys tag, got "rectify:exempt"'],
    [{ defaults: { scope: [] } }, 'defaults.scope: must be a mapping with keys accounts, regions, tags, got a list'],
    [{ defaults: { escalation: '1h' } }, 'defaults.escalation: must be a mapping with keys remindAfter, '],
    [{ defaults: { guardrails: { flap: 3 } } }, 'defaults.guardrails.flap: must be a mapping with keys maxFixes, window, got 3'],
  ])('rejects a section of the wrong type: %j', (doc, problem) => {
    const p = problems(doc);
    expect(p).toHaveLength(1);
    expect(p[0]?.startsWith(problem), `${p[0]} should start with ${problem}`).toBe(true);
  });
});

// ---- every validation rule ---------------------------------------------------------------

describe('parsePolicy: validation rules', () => {
  /** [what, defaults section, path of the problem, message pattern] */
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['unknown mode', { mode: 'fix' }, 'defaults.mode', /must be one of auto, approve, notify, dry-run, off, got "fix"/],
    ['mode in capitals', { mode: 'AUTO' }, 'defaults.mode', /must be one of/],
    ['mode not a string', { mode: true }, 'defaults.mode', /got true/],
    ['account of 11 digits', { scope: { accounts: ['12345678901'] } }, 'defaults.scope.accounts[0]', /12-digit AWS account id, got "12345678901"/],
    ['account with letters', { scope: { accounts: ['12345678901a'] } }, 'defaults.scope.accounts[0]', /12-digit/],
    ['account of 13 digits', { scope: { accounts: ['1234567890123'] } }, 'defaults.scope.accounts[0]', /12-digit/],
    ['account with dashes', { scope: { accounts: ['1234-5678-9012'] } }, 'defaults.scope.accounts[0]', /12-digit/],
    ['account unquoted that lost its leading zero', { scope: { accounts: [12345678901] } }, 'defaults.scope.accounts[0]', /in quotes, got 12345678901 \(unquoted, leading zeros are lost\)/],
    ['account as a mapping', { scope: { accounts: [{ id: '123456789012' }] } }, 'defaults.scope.accounts[0]', /must be a string, got a mapping/],
    ['accounts not a list', { scope: { accounts: '123456789012' } }, 'defaults.scope.accounts', /must be a list, got "123456789012"/],
    ['region without number', { scope: { regions: ['us-east'] } }, 'defaults.scope.regions[0]', /AWS region like us-east-1, got "us-east"/],
    ['region in capitals', { scope: { regions: ['US-EAST-1'] } }, 'defaults.scope.regions[0]', /AWS region/],
    ['region as an AZ', { scope: { regions: ['us-east-1a'] } }, 'defaults.scope.regions[0]', /AWS region/],
    ['region empty', { scope: { regions: [''] } }, 'defaults.scope.regions[0]', /AWS region/],
    ['scope tag value not a string', { scope: { tags: { public: true } } }, 'defaults.scope.tags.public', /must be a string \(quote values like "true" or "123"\), got true/],
    ['scope tag value a list', { scope: { tags: { env: ['prod'] } } }, 'defaults.scope.tags.env', /must be a string/],
    ['scope tag key too long', { scope: { tags: { ['k'.repeat(129)]: 'v' } } }, `defaults.scope.tags.${'k'.repeat(129)}`, /at most 128 characters, got 129/],
    ['scope tag value too long', { scope: { tags: { k: 'v'.repeat(257) } } }, 'defaults.scope.tags.k', /at most 256 characters, got 257/],
    ['scope tags a list', { scope: { tags: ['env'] } }, 'defaults.scope.tags', /must be a mapping of tag key to value/],
    ['approval condition empty list', { requireApprovalWhenTagged: { environment: [] } }, 'defaults.requireApprovalWhenTagged.environment', /must list at least one tag value/],
    ['approval condition boolean', { requireApprovalWhenTagged: { public: true } }, 'defaults.requireApprovalWhenTagged.public', /must be a list of tag values \(quote values like "true"\), got true/],
    ['approval condition number in a list', { requireApprovalWhenTagged: { tier: [1] } }, 'defaults.requireApprovalWhenTagged.tier[0]', /must be a string, got 1/],
    ['approval condition key too long', { requireApprovalWhenTagged: { ['k'.repeat(129)]: 'v' } }, `defaults.requireApprovalWhenTagged.${'k'.repeat(129)}`, /at most 128/],
    ['approval conditions a list', { requireApprovalWhenTagged: ['environment'] }, 'defaults.requireApprovalWhenTagged', /must be a mapping of tag key to a list of values/],
    ['approver user by name', { approvers: { users: ['alice'] } }, 'defaults.approvers.users[0]', /Slack user id like U012AB3CDE \(not a name or @handle\), got "alice"/],
    ['approver user by handle', { approvers: { users: ['@alice'] } }, 'defaults.approvers.users[0]', /Slack user id/],
    ['approver user lowercase', { approvers: { users: ['u012ab3cde'] } }, 'defaults.approvers.users[0]', /Slack user id/],
    ['approver user too short', { approvers: { users: ['U1'] } }, 'defaults.approvers.users[0]', /Slack user id/],
    ['approver user that is a group', { approvers: { users: ['S012AB3CDE'] } }, 'defaults.approvers.users[0]', /Slack user id/],
    ['approver group that is a user', { approvers: { groups: ['U012AB3CDE'] } }, 'defaults.approvers.groups[0]', /Slack user group id like S012AB3CDE/],
    ['approver group by name', { approvers: { groups: ['@security'] } }, 'defaults.approvers.groups[0]', /Slack user group id/],
    ['approver users not a list', { approvers: { users: 'U012AB3CDE' } }, 'defaults.approvers.users', /must be a list/],
    ['channel by name', { channel: '#security' }, 'defaults.channel', /Slack channel id like C012AB3CDE \(not a #name\), got "#security"/],
    ['channel lowercase', { channel: 'c0123456789' }, 'defaults.channel', /Slack channel id/],
    ['channel that is a user', { channel: 'U0123456789' }, 'defaults.channel', /Slack channel id/],
    ['channel a number', { channel: 123 }, 'defaults.channel', /Slack channel id like C012AB3CDE, got 123/],
    ['remindAfter garbage', { escalation: { remindAfter: 'soon' } }, 'defaults.escalation.remindAfter', /must be a duration like 30m, got "soon"/],
    ['escalateAfter a bare number', { escalation: { escalateAfter: 3600 } }, 'defaults.escalation.escalateAfter', /must be a duration like 30m, got 3600/],
    ['timeoutAfter garbage', { escalation: { timeoutAfter: 'tomorrow' } }, 'defaults.escalation.timeoutAfter', /must be a duration like 30m, got "tomorrow"/],
    ['timeoutAfter zero', { escalation: { timeoutAfter: '0' } }, 'defaults.escalation.timeoutAfter', /must be longer than 0/],
    ['timeoutAfter numeric zero', { escalation: { timeoutAfter: 0 } }, 'defaults.escalation.timeoutAfter', /must be longer than 0/],
    ['timeoutAfter negative', { escalation: { timeoutAfter: '-1h' } }, 'defaults.escalation.timeoutAfter', /must be a duration/],
    ['timeoutAction unknown', { escalation: { timeoutAction: 'approve' } }, 'defaults.escalation.timeoutAction', /must be reject or apply, got "approve"/],
    ['timeoutAction capitalized', { escalation: { timeoutAction: 'Reject' } }, 'defaults.escalation.timeoutAction', /must be reject or apply/],
    ['escalateTo channel by name', { escalation: { escalateTo: { channel: '#oncall' } } }, 'defaults.escalation.escalateTo.channel', /Slack channel id/],
    ['escalateTo user by name', { escalation: { escalateTo: { users: ['bob'] } } }, 'defaults.escalation.escalateTo.users[0]', /Slack user id/],
    ['escalateTo group by name', { escalation: { escalateTo: { groups: ['oncall'] } } }, 'defaults.escalation.escalateTo.groups[0]', /Slack user group id/],
    ['remind after escalate', { escalation: { remindAfter: '3h', escalateAfter: '2h' } }, 'defaults.escalation', /remindAfter \(3h\) must not be after escalateAfter \(2h\)/],
    ['escalate at timeout', { escalation: { escalateAfter: '24h', timeoutAfter: '1d' } }, 'defaults.escalation', /escalateAfter \(1d\) must be before timeoutAfter \(1d\)/],
    ['escalate after timeout', { escalation: { remindAfter: 0, escalateAfter: '2h', timeoutAfter: '1h' } }, 'defaults.escalation', /escalateAfter \(2h\) must be before timeoutAfter \(1h\)/],
    ['remind at timeout with no escalation', { escalation: { remindAfter: '1h', escalateAfter: 0, timeoutAfter: '1h' } }, 'defaults.escalation', /remindAfter \(1h\) must be before timeoutAfter \(1h\)/],
    ['maxAutoFixesPerHour negative', { guardrails: { maxAutoFixesPerHour: -1 } }, 'defaults.guardrails.maxAutoFixesPerHour', /must be an integer >= 0, got -1/],
    ['maxAutoFixesPerHour fractional', { guardrails: { maxAutoFixesPerHour: 2.5 } }, 'defaults.guardrails.maxAutoFixesPerHour', /must be an integer >= 0, got 2.5/],
    ['maxAutoFixesPerHour a string', { guardrails: { maxAutoFixesPerHour: '20' } }, 'defaults.guardrails.maxAutoFixesPerHour', /must be an integer >= 0, got "20"/],
    ['flap maxFixes zero', { guardrails: { flap: { maxFixes: 0 } } }, 'defaults.guardrails.flap.maxFixes', /must be an integer >= 1, got 0/],
    ['flap maxFixes fractional', { guardrails: { flap: { maxFixes: 1.5 } } }, 'defaults.guardrails.flap.maxFixes', /must be an integer >= 1/],
    ['flap window zero', { guardrails: { flap: { window: '0s' } } }, 'defaults.guardrails.flap.window', /must be longer than 0/],
    ['flap window garbage', { guardrails: { flap: { window: 'ten minutes' } } }, 'defaults.guardrails.flap.window', /must be a duration like 30m, got "ten minutes"/],
    ['ports not a list', { settings: { ports: 22 } }, 'defaults.settings.ports', /must be a list of port numbers like \[22, 3389\], got 22/],
    ['ports a comma-separated string', { settings: { ports: '22, 3389' } }, 'defaults.settings.ports', /must be a list of port numbers/],
    ['ports empty', { settings: { ports: [] } }, 'defaults.settings.ports', /must list at least one port/],
    ['port negative', { settings: { ports: [-1] } }, 'defaults.settings.ports[0]', /must be a port number \(an integer from 0 to 65535\), got -1/],
    ['port above 65535', { settings: { ports: [22, 65536] } }, 'defaults.settings.ports[1]', /got 65536/],
    ['port fractional', { settings: { ports: [22.5] } }, 'defaults.settings.ports[0]', /must be a port number/],
    ['port a string', { settings: { ports: ['22'] } }, 'defaults.settings.ports[0]', /must be a port number .*, got "22"/],
    ['port range', { settings: { ports: ['8000-8100'] } }, 'defaults.settings.ports[0]', /must be a port number/],
    ['port listed twice', { settings: { ports: [22, 3389, 22] } }, 'defaults.settings.ports[2]', /port 22 is listed twice \(also at (defaults|controls\.[a-z0-9-]+)\.settings\.ports\[0\]\)/],
    ['encryption not a mapping', { settings: { encryption: 'AES256' } }, 'defaults.settings.encryption', /must be a mapping with keys algorithm, kmsKeyId, got "AES256"/],
    ['encryption unknown key', { settings: { encryption: { kmsKeyID: 'alias/x' } } }, 'defaults.settings.encryption.kmsKeyID', /unknown key \(did you mean kmsKeyId\?/],
    ['encryption algorithm unknown', { settings: { encryption: { algorithm: 'aws:kms:dsse' } } }, 'defaults.settings.encryption.algorithm', /must be AES256 \(keys S3 manages\) or aws:kms \(a KMS key\), got "aws:kms:dsse"/],
    ['encryption algorithm lowercase', { settings: { encryption: { algorithm: 'aes256' } } }, 'defaults.settings.encryption.algorithm', /must be AES256/],
    ['encryption algorithm SSE-S3', { settings: { encryption: { algorithm: 'SSE-S3' } } }, 'defaults.settings.encryption.algorithm', /must be AES256/],
    ['kmsKeyId with AES256', { settings: { encryption: { algorithm: 'AES256', kmsKeyId: 'alias/my-key' } } }, 'defaults.settings.encryption.kmsKeyId', /only applies with algorithm aws:kms, but the algorithm is AES256$/],
    ['kmsKeyId without an algorithm (AES256 by default)', { settings: { encryption: { kmsKeyId: 'alias/my-key' } } }, 'defaults.settings.encryption.kmsKeyId', /only applies with algorithm aws:kms, but the algorithm is AES256 \(inherited\)/],
    ['kmsKeyId a bare name', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'my-key' } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN .*, got "my-key"/],
    ['kmsKeyId an alias with a space', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/my key' } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN/],
    ['kmsKeyId an empty alias', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/' } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN/],
    ['kmsKeyId a key id in capitals', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: '1234ABCD-12AB-34CD-56EF-1234567890AB' } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN/],
    ['kmsKeyId an ARN of another service', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'arn:aws:s3:::my-bucket' } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN/],
    ['kmsKeyId an ARN without account', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'arn:aws:kms:us-east-1::key/1234abcd-12ab-34cd-56ef-1234567890ab' } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN/],
    ['kmsKeyId a number', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 1234 } } }, 'defaults.settings.encryption.kmsKeyId', /must be a KMS key ARN, alias or key id, got 1234/],
    ['undo not a mapping', { undo: '1h' }, 'defaults.undo', /must be a mapping with keys window, exemptFor, got "1h"/],
    ['undo unknown key', { undo: { windowMs: 1 } }, 'defaults.undo.windowMs', /unknown key \(did you mean window\?/],
    ['undo window garbage', { undo: { window: 'an hour' } }, 'defaults.undo.window', /must be a duration like 30m, got "an hour"/],
    ['undo window negative', { undo: { window: '-1h' } }, 'defaults.undo.window', /must be a duration/],
    ['undo window a bare number', { undo: { window: 3600 } }, 'defaults.undo.window', /must be a duration like 30m, got 3600/],
    ['undo exemptFor garbage', { undo: { exemptFor: 'a week' } }, 'defaults.undo.exemptFor', /must be a duration like 30m, got "a week"/],
    ['undo exemptFor in weeks', { undo: { exemptFor: '1w' } }, 'defaults.undo.exemptFor', /must be a duration/],
    ['undo exemptFor 0 with the default window', { undo: { exemptFor: 0 } }, 'defaults.undo', /exemptFor must be longer than 0 when window \(1h\) is not 0/],
    ['undo exemptFor 0s with a window', { undo: { window: '30m', exemptFor: '0s' } }, 'defaults.undo', /exemptFor must be longer than 0 when window \(30m\) is not 0/],
  ];

  it.each(cases)('%s', (_what, defaults, path, message) => {
    const p = problems({ defaults });
    expect(p, JSON.stringify(p)).toHaveLength(1);
    expect(p[0]?.startsWith(`${path}: `), `${p[0]} should start with ${path}`).toBe(true);
    expect(p[0]).toMatch(message);
  });

  it.each(cases)('%s, in a control section', (_what, section, path, message) => {
    const p = problems({ controls: { [SG]: section } });
    const controlPath = path.replace(/^defaults/, `controls.${SG}`);
    expect(p, JSON.stringify(p)).toHaveLength(1);
    expect(p[0]?.startsWith(`${controlPath}: `), `${p[0]} should start with ${controlPath}`).toBe(true);
    expect(p[0]).toMatch(message);
  });

  it.each([
    ['defaults', (s: unknown) => ({ defaults: { settings: s } }), 'defaults', 'ports, wideRules, encryption, maxKeyAgeDays, maxUnusedDays'],
    ['an account group', (s: unknown) => ({ accounts: [{ name: 'prod', ids: ['123456789012'], settings: s }] }), 'accounts[0]', 'ports, wideRules, encryption, maxKeyAgeDays, maxUnusedDays'],
    ['a control without settings of its own', (s: unknown) => ({ controls: { [SG]: { settings: s } } }), `controls.${SG}`, 'ports, wideRules, encryption'],
    ['the control with settings of its own', (s: unknown) => ({ controls: { [KEYS]: { settings: s } } }), `controls.${KEYS}`, 'ports, wideRules, encryption, maxKeyAgeDays, maxUnusedDays'],
    ["an account group's control section", (s: unknown) => ({ accounts: [{ name: 'prod', ids: ['123456789012'], controls: { [SG]: { settings: s } } }] }), `accounts[0].controls.${SG}`, 'ports, wideRules, encryption'],
  ])('names the settings keys %s takes when settings is not a mapping or has an unknown key', (_where, doc, path, keys) => {
    expect(problems(doc([22]))).toEqual([`${path}.settings: must be a mapping with keys ${keys}, got a list`]);
    expect(problems(doc({ port: [22] }))).toEqual([`${path}.settings.port: unknown key (did you mean ports? expected one of: ${keys})`]);
  });

  it.each([
    ['exempt tag empty', { tag: '' }, 'exemptions.tag: must not be empty'],
    ['exempt tag blank', { tag: '   ' }, 'exemptions.tag: must not be empty'],
    ['exempt tag too long', { tag: 't'.repeat(129) }, 'exemptions.tag: a tag key is at most 128 characters, got 129'],
    ['exempt tag a number', { tag: 5 }, 'exemptions.tag: must be a tag key, got 5'],
    ['exempt tag null', { tag: null }, 'exemptions.tag: must be a tag key, got nothing'],
  ])('%s', (_what, exemptions, problem) => {
    expect(problems({ exemptions })).toEqual([problem]);
  });

  it('accepts an exemption tag of exactly 128 characters', () => {
    expect(parse({ exemptions: { tag: 't'.repeat(128) } }).exemptionTag).toBe('t'.repeat(128));
  });

  it.each([
    ['12-digit accounts, quoted and unquoted', { scope: { accounts: ['012345678901', 123456789012] } }],
    ['regions', { scope: { regions: ['us-east-1', 'eu-central-2', 'ap-southeast-3', 'us-gov-west-1', 'cn-northwest-1', 'il-central-1'] } }],
    ['tag selectors incl. "*" and empty values', { scope: { tags: { team: 'platform', owner: '*', note: '' } } }],
    ['Slack ids', { approvers: { users: ['U012AB3CDE', 'W0123ABC'], groups: ['S012AB3CDE'] }, channel: 'C0123456789' }],
    ['private channel and DM ids', { channel: 'G0123ABC', escalation: { escalateTo: { channel: 'D0123ABC' } } }],
    ['skipped reminder', { escalation: { remindAfter: 0, escalateAfter: '1h', timeoutAfter: '2h' } }],
    ['skipped escalation', { escalation: { remindAfter: '1h', escalateAfter: '0s', timeoutAfter: '2h' } }],
    ['only a timeout', { escalation: { remindAfter: '0', escalateAfter: 0, timeoutAfter: '1m' } }],
    ['reminder and escalation at the same moment', { escalation: { remindAfter: '1h', escalateAfter: '1h', timeoutAfter: '2h' } }],
    ['no automatic fixes at all', { guardrails: { maxAutoFixesPerHour: 0 } }],
    ['a flap threshold of one', { guardrails: { flap: { maxFixes: 1, window: '500ms' } } }],
    ['timeoutAction apply', { escalation: { timeoutAction: 'apply' } }],
    ['a string approval condition', { requireApprovalWhenTagged: { environment: 'production' } }],
    ['every mode', { mode: 'dry-run' }],
    ['ports 0 and 65535', { settings: { ports: [0, 65535] } }],
    ['the EC2.19 ports', { settings: { ports: EC2_19_PORTS } }],
    ['aws:kms without a key (the AWS managed key)', { settings: { encryption: { algorithm: 'aws:kms' } } }],
    ['a key ARN', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: KEY_ARN } } }],
    ['a multi-Region key ARN in another partition', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab' } } }],
    ['an alias ARN', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:alias/team/data_key-1' } } }],
    ['an alias', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/my-key' } } }],
    ['the AWS managed alias', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/aws/s3' } } }],
    ['a key id', { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' } } }],
    ['kmsKeyId null', { settings: { encryption: { algorithm: 'AES256', kmsKeyId: null } } }],
    ['no undo window', { undo: { window: 0 } }],
    ['no undo window and no exemption', { undo: { window: '0s', exemptFor: 0 } }],
    ['a long undo window', { undo: { window: '2d', exemptFor: '30d' } }],
    ['empty settings and undo', { settings: {}, undo: {} }],
  ])('accepts %s', (_what, defaults) => {
    expect(() => parse({ defaults })).not.toThrow();
  });

  it.each(['auto', 'approve', 'notify', 'dry-run', 'off'])('accepts mode %s', (mode) => {
    expect(parse({ defaults: { mode } }).controls[S3].mode).toBe(mode);
  });

  it('reads an unquoted 12-digit account id as its digits and drops duplicates', () => {
    expect(parse({ defaults: { scope: { accounts: [123456789012, '123456789012', '210987654321'] } } }).controls[S3].scope.accounts).toEqual([
      '123456789012',
      '210987654321',
    ]);
  });

  it('makes a single approval value a one-element list', () => {
    expect(parse({ defaults: { requireApprovalWhenTagged: { environment: 'production' } } }).controls[SG].requireApprovalWhenTagged).toEqual({
      environment: ['production'],
    });
  });

  it('reports a control ladder made invalid by its own override, under the control', () => {
    expect(problems({ controls: { [SG]: { escalation: { timeoutAfter: '1h' } } } })).toEqual([
      `controls.${SG}.escalation: escalateAfter (2h) must be before timeoutAfter (1h)`,
    ]);
  });

  it('reports a bad default ladder once, under defaults, not again for each control', () => {
    expect(problems({ defaults: { escalation: { remindAfter: '3h' } }, controls: { [SG]: { escalation: { timeoutAfter: '4h' } } } })).toEqual([
      'defaults.escalation: remindAfter (3h) must not be after escalateAfter (2h)',
    ]);
  });

  it('lets a control repair the default ladder for itself', () => {
    // The defaults are wrong, so the file is still rejected, but only for the defaults.
    expect(problems({ defaults: { escalation: { remindAfter: '3h' } }, controls: { [SG]: { escalation: { remindAfter: '1h' } } } })).toEqual([
      'defaults.escalation: remindAfter (3h) must not be after escalateAfter (2h)',
    ]);
  });
});

describe('parsePolicy: many problems at once', () => {
  const text = [
    'version: 2',
    'exemptions: { tag: "" }',
    'defaults:',
    '  mode: fix',
    '  modee: auto',
    '  scope: { accounts: [12345678901, "abc"], regions: [us-east], tags: { a: true } }',
    '  approvers: { users: ["@alice"], groups: [U012AB3CDE] }',
    '  channel: "#sec"',
    '  escalation: { remindAfter: 3h, escalateAfter: 2h, timeoutAfter: soon, timeoutAction: maybe, escalateTo: { channel: X1 } }',
    '  guardrails: { maxAutoFixesPerHour: -1, flap: { maxFixes: 0, window: 0 } }',
    '  settings: { ports: [22, 22, 70000], encryption: { algorithm: kms, kmsKeyId: my-key } }',
    '  undo: { window: 2h, exemptFor: 0 }',
    'controls:',
    '  s3-public: {}',
    '  ec2-sg-admin-ports-open:',
    '    escalation: { timeoutAfter: soon }',
    '    requireApprovalWhenTagged: { environment: [] }',
    '    settings: { ports: [] }',
    '  s3-default-encryption:',
    '    settings: { encryption: { kmsKeyId: alias/my-key } }',
    '  iam-user-console-mfa:',
    '    mode: approve',
    '',
  ].join('\n');

  it('lists every problem, each with its path, in one error', () => {
    let error: unknown;
    try {
      parsePolicy(text, 'many.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    const e = error as InvalidInputError;
    expect(e.message.startsWith('invalid policy many.yaml: ')).toBe(true);
    expect([...e.problems].sort()).toEqual(
      [
        'version: must be 1, got 2',
        'exemptions.tag: must not be empty',
        'defaults.modee: unknown key (did you mean mode? expected one of: mode, scope, requireApprovalWhenTagged, approvers, channel, escalation, guardrails, settings, undo)',
        'defaults.mode: must be one of auto, approve, notify, dry-run, off, got "fix"',
        'defaults.scope.accounts[0]: must be a 12-digit AWS account id in quotes, got 12345678901 (unquoted, leading zeros are lost)',
        'defaults.scope.accounts[1]: must be a 12-digit AWS account id, got "abc"',
        'defaults.scope.regions[0]: must be an AWS region like us-east-1, got "us-east"',
        'defaults.scope.tags.a: must be a string (quote values like "true" or "123"), got true',
        'defaults.approvers.users[0]: must be a Slack user id like U012AB3CDE (not a name or @handle), got "@alice"',
        'defaults.approvers.groups[0]: must be a Slack user group id like S012AB3CDE (not a name or @handle), got "U012AB3CDE"',
        'defaults.channel: must be a Slack channel id like C012AB3CDE (not a #name), got "#sec"',
        'defaults.escalation.timeoutAfter: must be a duration like 30m, got "soon"',
        'defaults.escalation.timeoutAction: must be reject or apply, got "maybe"',
        'defaults.escalation.escalateTo.channel: must be a Slack channel id like C012AB3CDE (not a #name), got "X1"',
        'defaults.guardrails.maxAutoFixesPerHour: must be an integer >= 0, got -1',
        'defaults.guardrails.flap.maxFixes: must be an integer >= 1, got 0',
        'defaults.guardrails.flap.window: must be longer than 0',
        'defaults.escalation: remindAfter (3h) must not be after escalateAfter (2h)',
        'defaults.settings.ports[1]: port 22 is listed twice (also at defaults.settings.ports[0])',
        'defaults.settings.ports[2]: must be a port number (an integer from 0 to 65535), got 70000',
        'defaults.settings.encryption.algorithm: must be AES256 (keys S3 manages) or aws:kms (a KMS key), got "kms"',
        'defaults.settings.encryption.kmsKeyId: must be a KMS key ARN (arn:aws:kms:us-east-1:123456789012:key/...), an alias (alias/my-key), an alias ARN or a key id, got "my-key"',
        'defaults.undo: exemptFor must be longer than 0 when window (2h) is not 0: a reverted resource would be fixed again at once',
        `controls.s3-public: unknown control (supported: ${SUPPORTED})`,
        `controls.${SG}.settings.ports: must list at least one port (to leave the resources alone, set mode: off)`,
        `controls.${ENC}.settings.encryption.kmsKeyId: only applies with algorithm aws:kms, but the algorithm is AES256 (inherited)`,
        `controls.${MFA}.mode: must be notify, dry-run or off: ${MFA} has no automatic fix, got "approve"`,
        `controls.${SG}.escalation.timeoutAfter: must be a duration like 30m, got "soon"`,
        `controls.${SG}.requireApprovalWhenTagged.environment: must list at least one tag value ("*" = any value); remove the key to drop the condition`,
      ].sort(),
    );
    for (const problem of e.problems) expect(e.message).toContain(problem);
  });
});

// ---- merging ---------------------------------------------------------------------------------

describe('parsePolicy: defaults merged with control sections', () => {
  it('gives a control absent from the file the defaults', () => {
    const p = parse({ defaults: { mode: 'notify', channel: 'C0123456789' }, controls: { [S3]: { mode: 'approve' } } });
    expect(p.controls[SG].mode).toBe('notify');
    expect(p.controls[SG].channel).toBe('C0123456789');
    expect(p.controls[S3].mode).toBe('approve');
    expect(p.controls[S3].channel).toBe('C0123456789');
  });

  it('merges nested sections key by key', () => {
    const p = parse({
      defaults: {
        escalation: { remindAfter: '10m', escalateAfter: '1h', timeoutAfter: '8h', escalateTo: { channel: 'C0ONCALL01', groups: ['S0ONCALL01'] } },
        guardrails: { maxAutoFixesPerHour: 5, flap: { maxFixes: 2, window: '30m' } },
      },
      controls: {
        [SG]: {
          escalation: { timeoutAfter: '4h', timeoutAction: 'apply', escalateTo: { users: ['U0BOSS0001'] } },
          guardrails: { flap: { window: '1h' } },
        },
      },
    });
    expect(p.controls[SG].escalation).toEqual({
      remindAfterMs: 10 * MIN,
      escalateAfterMs: HOUR,
      escalateTo: { channel: 'C0ONCALL01', users: ['U0BOSS0001'], groups: ['S0ONCALL01'] },
      timeoutAfterMs: 4 * HOUR,
      timeoutAction: 'apply',
    });
    expect(p.controls[SG].guardrails).toEqual({ rejectionHoldMs: 7 * DAY, maxAutoFixesPerHour: 5, flap: { maxFixes: 2, windowMs: HOUR } });
    expect(p.controls[S3].escalation.timeoutAfterMs).toBe(8 * HOUR);
    expect(p.controls[S3].escalation.timeoutAction).toBe('reject');
  });

  it('replaces lists and tag maps whole', () => {
    const p = parse({
      defaults: {
        scope: { accounts: ['111111111111', '222222222222'], regions: ['us-east-1'], tags: { team: 'platform' } },
        approvers: { users: ['U0AAAAAAAA'], groups: ['S0AAAAAAAA'] },
        requireApprovalWhenTagged: { environment: ['production'] },
      },
      controls: {
        [S3]: {
          scope: { accounts: ['333333333333'], tags: {} },
          approvers: { users: ['U0BBBBBBBB'] },
          requireApprovalWhenTagged: { 'public-website': ['true'] },
        },
      },
    });
    const s3 = p.controls[S3];
    expect(s3.scope).toEqual({ accounts: ['333333333333'], regions: ['us-east-1'], tags: {} });
    expect(s3.approvers).toEqual({ users: ['U0BBBBBBBB'], groups: ['S0AAAAAAAA'], keys: [] });
    expect(s3.requireApprovalWhenTagged).toEqual({ 'public-website': ['true'] });
    expect(p.controls[SG].requireApprovalWhenTagged).toEqual({ environment: ['production'] });
    expect(p.controls[SG].scope.tags).toEqual({ team: 'platform' });
  });

  it('lets a control unset the default channel with null', () => {
    const p = parse({
      defaults: { channel: 'C0123456789', escalation: { escalateTo: { channel: 'C0ONCALL01' } } },
      controls: { [S3]: { channel: null, escalation: { escalateTo: { channel: null } } } },
    });
    expect(p.controls[S3].channel).toBeUndefined();
    expect('channel' in p.controls[S3]).toBe(false);
    expect(p.controls[S3].escalation.escalateTo).toEqual({ users: [], groups: [] });
    expect(p.controls[SG].channel).toBe('C0123456789');
  });

  it('keeps the controls independent of each other (no shared objects)', () => {
    const p = parse({ defaults: { approvers: { users: ['U0AAAAAAAA'] } } });
    expect(p.controls[S3].approvers.users).toEqual(p.controls[SG].approvers.users);
    expect(p.controls[S3].approvers.users).not.toBe(p.controls[SG].approvers.users);
  });

  it('merges settings key by key, replacing the ports list whole', () => {
    const p = parse({
      defaults: { settings: { ports: [22, 3389, 5432], encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' } } },
      controls: {
        [SG]: { settings: { ports: [22] } },
        [ENC]: { settings: { encryption: { kmsKeyId: KEY_ARN } } },
        [EBS]: { settings: {} },
      },
    });
    expect(p.controls[SG].settings).toEqual({ ports: [22], wideRules: 'split', encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' } });
    expect(p.controls[ENC].settings).toEqual({ ports: [22, 3389, 5432], wideRules: 'split', encryption: { algorithm: 'aws:kms', kmsKeyId: KEY_ARN } });
    expect(p.controls[EBS].settings).toEqual({ ports: [22, 3389, 5432], wideRules: 'split', encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' } });
    expect(p.controls[S3].settings).toEqual(p.controls[EBS].settings);
  });

  it('keeps the ports in the order written', () => {
    expect(parse({ defaults: { settings: { ports: [3389, 22, 0] } } }).controls[SG].settings.ports).toEqual([3389, 22, 0]);
  });

  it('keeps an inherited KMS key when a section only repeats aws:kms', () => {
    const p = parse({
      defaults: { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' } } },
      controls: { [ENC]: { settings: { encryption: { algorithm: 'aws:kms' } } } },
    });
    expect(p.controls[ENC].settings.encryption).toEqual({ algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' });
  });

  it('drops an inherited KMS key when a section sets AES256', () => {
    const p = parse({
      defaults: { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' } } },
      controls: { [ENC]: { settings: { encryption: { algorithm: 'AES256' } } } },
    });
    expect(p.controls[ENC].settings.encryption).toEqual({ algorithm: 'AES256' });
    expect('kmsKeyId' in p.controls[ENC].settings.encryption).toBe(false);
  });

  it('unsets an inherited KMS key with kmsKeyId: null (S3 then uses aws/s3)', () => {
    const p = parse({
      defaults: { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/org-key' } } },
      controls: { [ENC]: { settings: { encryption: { kmsKeyId: null } } } },
    });
    expect(p.controls[ENC].settings.encryption).toEqual({ algorithm: 'aws:kms' });
    expect('kmsKeyId' in p.controls[ENC].settings.encryption).toBe(false);
  });

  it('reports a KMS key under the section that set it, when its algorithm is not aws:kms', () => {
    expect(problems({ controls: { [ENC]: { settings: { encryption: { algorithm: 'AES256', kmsKeyId: KEY_ARN } } } } })).toEqual([
      `controls.${ENC}.settings.encryption.kmsKeyId: only applies with algorithm aws:kms, but the algorithm is AES256`,
    ]);
    // The algorithm inherited from defaults decides.
    expect(
      problems({ defaults: { settings: { encryption: { algorithm: 'AES256' } } }, controls: { [ENC]: { settings: { encryption: { kmsKeyId: KEY_ARN } } } } }),
    ).toEqual([`controls.${ENC}.settings.encryption.kmsKeyId: only applies with algorithm aws:kms, but the algorithm is AES256 (inherited)`]);
    expect(
      parse({ defaults: { settings: { encryption: { algorithm: 'aws:kms' } } }, controls: { [ENC]: { settings: { encryption: { kmsKeyId: KEY_ARN } } } } })
        .controls[ENC].settings.encryption,
    ).toEqual({ algorithm: 'aws:kms', kmsKeyId: KEY_ARN });
  });

  it('merges undo key by key', () => {
    const p = parse({
      defaults: { undo: { window: '30m', exemptFor: '3d' } },
      controls: { [SG]: { undo: { window: '2h' } }, [S3]: { undo: { exemptFor: '14d' } }, [EBS]: { undo: { window: 0 } } },
    });
    expect(p.controls[SG].undo).toEqual({ windowMs: 2 * HOUR, exemptForMs: 3 * DAY });
    expect(p.controls[S3].undo).toEqual({ windowMs: 30 * MIN, exemptForMs: 14 * DAY });
    expect(p.controls[EBS].undo).toEqual({ windowMs: 0, exemptForMs: 3 * DAY });
    expect(p.controls[ACL].undo).toEqual({ windowMs: 30 * MIN, exemptForMs: 3 * DAY });
  });

  it('checks undo as merged: a control that opens a window needs an exemption', () => {
    expect(problems({ defaults: { undo: { window: 0, exemptFor: 0 } }, controls: { [SG]: { undo: { window: '1h' } } } })).toEqual([
      `controls.${SG}.undo: exemptFor must be longer than 0 when window (1h) is not 0: a reverted resource would be fixed again at once`,
    ]);
    // ...and a control without a window may have no exemption.
    expect(parse({ controls: { [SG]: { undo: { window: 0, exemptFor: 0 } } } }).controls[SG].undo).toEqual({ windowMs: 0, exemptForMs: 0 });
  });

  it('reports a bad default undo once, under defaults, and lets a control repair it for itself', () => {
    expect(problems({ defaults: { undo: { exemptFor: 0 } }, controls: { [SG]: { undo: { exemptFor: 0 } }, [S3]: { undo: { window: 0 } } } })).toEqual([
      'defaults.undo: exemptFor must be longer than 0 when window (1h) is not 0: a reverted resource would be fixed again at once',
    ]);
  });

  it('uses the exemption tag the file names', () => {
    expect(parse({ exemptions: { tag: 'security:skip-until' } }).exemptionTag).toBe('security:skip-until');
    expect(parse({ exemptions: {} }).exemptionTag).toBe(DEFAULT_EXEMPTION_TAG);
  });
});

// ---- controls without an automatic fix ------------------------------------------------------

describe('parsePolicy: a control without an automatic fix', () => {
  it('is the only notify-only control, so these tests cover them all', () => {
    expect(NOTIFY_ONLY_CONTROLS).toEqual([MFA]);
  });

  it.each(['auto', 'approve'])('rejects mode %s in its own section, saying it has no automatic fix', (mode) => {
    expect(problems({ controls: { [MFA]: { mode } } })).toEqual([
      `controls.${MFA}.mode: must be notify, dry-run or off: ${MFA} has no automatic fix, got "${mode}"`,
    ]);
  });

  it('rejects it even when defaults say the same', () => {
    expect(problems({ defaults: { mode: 'approve' }, controls: { [MFA]: { mode: 'approve' } } })).toEqual([
      `controls.${MFA}.mode: must be notify, dry-run or off: ${MFA} has no automatic fix, got "approve"`,
    ]);
  });

  it.each(['notify', 'dry-run', 'off'] as const)('accepts mode %s in its own section', (mode) => {
    expect(parse({ defaults: { mode: 'approve' }, controls: { [MFA]: { mode } } }).controls[MFA].mode).toBe(mode);
  });

  it.each(['auto', 'approve'] as const)('gets notify when defaults.mode is %s, silently, while the other controls keep it (up to their catalog default)', (mode) => {
    const p = parse({ defaults: { mode } });
    expect(p.controls[MFA].mode).toBe('notify');
    for (const id of CONTROL_IDS) if (id !== MFA) expect(p.controls[id].mode, id).toBe(mode);
    for (const id of NEW_CONTROLS) expect(ctl(p, id).mode, id).toBe((APPROVE_FIRST as readonly string[]).includes(id) ? 'approve' : mode);
  });

  it('gets notify from the built-in auto, keeping every other default', () => {
    const p = parse({});
    expect(p.controls[MFA]).toEqual({ control: MFA, ...BUILTIN_DEFAULTS, mode: 'notify' });
    expect(BUILTIN_DEFAULTS.mode).toBe('auto');
  });

  it.each(['notify', 'dry-run', 'off'] as const)('inherits defaults.mode %s unchanged', (mode) => {
    expect(parse({ defaults: { mode } }).controls[MFA].mode).toBe(mode);
  });

  it('gets notify when its section sets other keys but not the mode', () => {
    const p = parse({ defaults: { mode: 'auto' }, controls: { [MFA]: { channel: 'C0123456789' } } });
    expect(p.controls[MFA].mode).toBe('notify');
    expect(p.controls[MFA].channel).toBe('C0123456789');
  });

  it('reports an invalid mode as any control does (and otherwise gets notify)', () => {
    expect(problems({ controls: { [MFA]: { mode: 'fix' } } })).toEqual([`controls.${MFA}.mode: must be one of auto, approve, notify, dry-run, off, got "fix"`]);
  });
});

// ---- a mode inherited is capped at the control's catalog default ---------------------------

describe('parsePolicy: an inherited mode goes no further than the control catalog default', () => {
  const PROD = '111111111111';
  const OWN = '222222222222';

  it('rds-instance-public defaults to approve (catalog.defaultMode), so these tests are about a real approve-first control', () => {
    expect(requireControl(RDS).catalog.defaultMode).toBe('approve');
    expect(requireControl(RDS).fixable).toBe(true);
  });

  it('gives a control that defaults to approve approve when defaults say auto, and every control at most its catalog default', () => {
    const p = parse({ defaults: { mode: 'auto' } });
    expect(ctl(p, RDS).mode).toBe('approve');
    for (const id of ALL) expect(ctl(p, id).mode, id).toBe(inherited(id, 'auto'));
    // The first six fixable controls all default to auto: the cap changes nothing for them.
    for (const id of CONTROL_IDS) if (id !== MFA) expect(p.controls[id].mode, id).toBe('auto');
  });

  it('caps the built-in auto the same way (a file saying only version: 1)', () => {
    expect(ctl(parse({}), RDS).mode).toBe('approve');
    expect(ctl(parse({ controls: { [RDS]: { channel: 'C0123456789' } } }), RDS).mode).toBe('approve');
  });

  it.each(['approve', 'notify', 'dry-run', 'off'] as const)('keeps an inherited mode %s that is not above the catalog default', (mode) => {
    const p = parse({ defaults: { mode } });
    expect(ctl(p, RDS).mode).toBe(mode);
    for (const id of ALL) expect(ctl(p, id).mode, id).toBe(inherited(id, mode));
  });

  it('gives auto when the control own section says auto, with or without defaults saying so', () => {
    expect(ctl(parse({ controls: { [RDS]: { mode: 'auto' } } }), RDS).mode).toBe('auto');
    const p = parse({ defaults: { mode: 'auto' }, controls: { [RDS]: { mode: 'auto' } } });
    expect(ctl(p, RDS).mode).toBe('auto');
    // ...for that control only.
    for (const id of APPROVE_FIRST) if (id !== RDS) expect(ctl(p, id).mode, id).toBe('approve');
  });

  it.each(['approve', 'notify', 'dry-run', 'off'] as const)('gives the mode %s the control own section says', (mode) => {
    expect(ctl(parse({ defaults: { mode: 'auto' }, controls: { [RDS]: { mode } } }), RDS).mode).toBe(mode);
  });

  it("caps an account group's auto unless the group's own section for the control says auto", () => {
    const p = parse({
      accounts: [
        { name: 'production', ids: [PROD], mode: 'auto' },
        { name: 'own', ids: [OWN], mode: 'auto', controls: { [RDS]: { mode: 'auto' } } },
      ],
    });
    expect(snapshotFor(p, RDS, PROD).control.mode).toBe('approve');
    expect(snapshotFor(p, RDS, OWN).control.mode).toBe('auto');
    // The other approve-first controls of that group stay capped; an auto-first control gets the group's auto.
    for (const id of APPROVE_FIRST) if (id !== RDS) expect(snapshotFor(p, id, OWN).control.mode, id).toBe('approve');
    expect(snapshotFor(p, S3, PROD).control.mode).toBe('auto');
    expect(snapshotFor(p, MFA, PROD).control.mode).toBe('notify');
    // Accounts in no group: the built-in auto, capped.
    expect(snapshotFor(p, RDS, '444444444444').control.mode).toBe('approve');
  });

  it("keeps an account group's lower mode, and the group's own section may lower it further", () => {
    const p = parse({
      defaults: { mode: 'auto' },
      controls: { [RDS]: { mode: 'auto' } },
      accounts: [
        { name: 'careful', ids: [PROD], mode: 'notify' },
        { name: 'off', ids: [OWN], controls: { [RDS]: { mode: 'off' } } },
      ],
    });
    expect(ctl(p, RDS).mode).toBe('auto');
    expect(snapshotFor(p, RDS, PROD).control.mode).toBe('notify');
    expect(snapshotFor(p, RDS, OWN).control.mode).toBe('off');
  });
});

// ---- the controls' own settings --------------------------------------------------------------

describe("parsePolicy: the controls' own settings (their zod settings schemas)", () => {
  const PROD = '111111111111';
  const BASE = { ports: [22, 3389], wideRules: 'split', encryption: { algorithm: 'AES256' } };

  it('iam-access-key-stale declares maxKeyAgeDays and maxUnusedDays, the only control with settings of its own', () => {
    expect(registeredControls().filter((c) => c.settings !== undefined).map((c) => c.id)).toEqual([KEYS]);
    expect(Object.keys(requireControl(KEYS).settings?.shape ?? {})).toEqual(['maxKeyAgeDays', 'maxUnusedDays']);
  });

  it("puts the control's own setting from its section into its effective settings, and nowhere else", () => {
    const p = parse({ controls: { [KEYS]: { settings: { maxKeyAgeDays: 30 } } } });
    expect(ctl(p, KEYS).settings).toEqual({ ...BASE, maxKeyAgeDays: 30 });
    expect(ctl(p, KEYS).settings.maxKeyAgeDays).toBe(30);
    // The control reads it (with its schema's default for the key left out).
    expect(requireControl(KEYS).settings?.parse(ctl(p, KEYS).settings)).toEqual({ maxKeyAgeDays: 30, maxUnusedDays: 90 });
    for (const id of ALL) if (id !== KEYS) expect(ctl(p, id).settings, id).toEqual(BASE);
  });

  it.each([
    [-1, 'Too small: expected number to be >=0'],
    ['x', 'Invalid input: expected number, received string'],
    [1.5, 'Invalid input: expected int, received number'],
    [3651, 'Too big: expected number to be <=3650'],
    [null, 'Invalid input: expected number, received null'],
  ])('reports maxKeyAgeDays %j under its path, as one problem', (value, message) => {
    expect(problems({ controls: { [KEYS]: { settings: { maxKeyAgeDays: value } } } })).toEqual([`controls.${KEYS}.settings.maxKeyAgeDays: ${message}`]);
  });

  it('reports every bad own setting with the other problems of the section', () => {
    expect(problems({ controls: { [KEYS]: { settings: { maxKeyAgeDays: -1, maxUnusedDays: 'x', ports: [] } } } })).toEqual([
      `controls.${KEYS}.settings.maxKeyAgeDays: Too small: expected number to be >=0`,
      `controls.${KEYS}.settings.maxUnusedDays: Invalid input: expected number, received string`,
      `controls.${KEYS}.settings.ports: must list at least one port (to leave the resources alone, set mode: off)`,
    ]);
  });

  it("rejects a control's own setting in another control's section, as an unknown key", () => {
    expect(problems({ controls: { [SG]: { settings: { maxKeyAgeDays: 30 } } } })).toEqual([
      `controls.${SG}.settings.maxKeyAgeDays: unknown key (expected one of: ports, wideRules, encryption)`,
    ]);
    expect(problems({ controls: { [RDS]: { settings: { maxUnusedDays: 30 } } } })).toEqual([
      `controls.${RDS}.settings.maxUnusedDays: unknown key (expected one of: ports, wideRules, encryption)`,
    ]);
    expect(problems({ accounts: [{ name: 'prod', ids: [PROD], controls: { [SG]: { settings: { maxKeyAgeDays: 30 } } } }] })).toEqual([
      `accounts[0].controls.${SG}.settings.maxKeyAgeDays: unknown key (expected one of: ports, wideRules, encryption)`,
    ]);
  });

  it('suggests the own key a typo meant', () => {
    expect(problems({ controls: { [KEYS]: { settings: { maxKeyAgeDay: 30 } } } })).toEqual([
      `controls.${KEYS}.settings.maxKeyAgeDay: unknown key (did you mean maxKeyAgeDays? expected one of: ports, wideRules, encryption, maxKeyAgeDays, maxUnusedDays)`,
    ]);
  });

  it('accepts it in defaults.settings, and it reaches iam-access-key-stale', () => {
    const p = parse({ defaults: { settings: { maxKeyAgeDays: 30 } } });
    expect(ctl(p, KEYS).settings).toEqual({ ...BASE, maxKeyAgeDays: 30 });
    expect(requireControl(KEYS).settings?.parse(ctl(p, KEYS).settings)).toEqual({ maxKeyAgeDays: 30, maxUnusedDays: 90 });
  });

  it('checks it in defaults and account groups too, under their paths', () => {
    expect(problems({ defaults: { settings: { maxKeyAgeDays: -1 } } })).toEqual(['defaults.settings.maxKeyAgeDays: Too small: expected number to be >=0']);
    expect(problems({ accounts: [{ name: 'prod', ids: [PROD], settings: { maxUnusedDays: 'x' } }] })).toEqual([
      'accounts[0].settings.maxUnusedDays: Invalid input: expected number, received string',
    ]);
    expect(problems({ accounts: [{ name: 'prod', ids: [PROD], controls: { [KEYS]: { settings: { maxKeyAgeDays: -1 } } } }] })).toEqual([
      `accounts[0].controls.${KEYS}.settings.maxKeyAgeDays: Too small: expected number to be >=0`,
    ]);
  });

  it('merges key by key: defaults, then the control section, then an account group, then its own section', () => {
    const p = parse({
      defaults: { settings: { maxKeyAgeDays: 60, maxUnusedDays: 45 } },
      controls: { [KEYS]: { settings: { maxKeyAgeDays: 30 } } },
      accounts: [
        { name: 'prod', ids: [PROD], settings: { maxUnusedDays: 10 } },
        { name: 'lab', ids: ['222222222222'], controls: { [KEYS]: { settings: { maxKeyAgeDays: 0 } } } },
      ],
    });
    expect(ctl(p, KEYS).settings).toMatchObject({ maxKeyAgeDays: 30, maxUnusedDays: 45 });
    expect(snapshotFor(p, KEYS, PROD).control.settings).toMatchObject({ maxKeyAgeDays: 30, maxUnusedDays: 10 });
    expect(snapshotFor(p, KEYS, '222222222222').control.settings).toMatchObject({ maxKeyAgeDays: 0, maxUnusedDays: 45 });
  });
});

// ---- hash ------------------------------------------------------------------------------------

describe('parsePolicy: hash', () => {
  it('is the sha256 hex of the text', () => {
    const text = 'version: 1\n';
    expect(parsePolicy(text).hash).toBe(createHash('sha256').update(text).digest('hex'));
    expect(parsePolicy(text).hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is stable for the same text', () => {
    const text = yamlOf({ defaults: { mode: 'approve' } });
    expect(parsePolicy(text).hash).toBe(parsePolicy(text).hash);
    expect(parsePolicy(text, 'a').hash).toBe(parsePolicy(text, 'b').hash);
  });

  it('changes with any change of the text, even a comment', () => {
    const a = parsePolicy('version: 1\n').hash;
    const b = parsePolicy('version: 1\n# a comment\n').hash;
    const c = parsePolicy('version: 1\ndefaults: { mode: off }\n').hash;
    expect(new Set([a, b, c]).size).toBe(3);
  });
});

// ---- files -----------------------------------------------------------------------------------

describe('loadPolicyFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rectify-policy-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a file, hashing its bytes', async () => {
    const path = join(dir, 'ok.yaml');
    const text = '\uFEFFversion: 1\ndefaults:\n  mode: notify # comment é\n';
    await writeFile(path, text, 'utf8');
    const p = await loadPolicyFile(path);
    expect(p.controls[S3].mode).toBe('notify');
    expect(p.hash).toBe(createHash('sha256').update(await readFile(path)).digest('hex'));
  });

  it('names a missing file', async () => {
    const path = join(dir, 'nope.yaml');
    await expect(loadPolicyFile(path)).rejects.toThrow(InvalidInputError);
    expect(await problemsOfAsync(() => loadPolicyFile(path))).toEqual([`${path}: file not found`]);
    await expect(loadPolicyFile(path)).rejects.toThrow(path);
  });

  it('names a path that cannot be read', async () => {
    const problems = await problemsOfAsync(() => loadPolicyFile(dir));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read: `));
  });

  it('rejects a file that is not UTF-8', async () => {
    const path = join(dir, 'latin1.yaml');
    await writeFile(path, Buffer.from([0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x3a, 0x20, 0x31, 0x0a, 0x23, 0xe9, 0x0a]));
    expect(await problemsOfAsync(() => loadPolicyFile(path))).toEqual([`${path}: not valid UTF-8`]);
  });

  it('reports the problems of a file under its path', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'version: 1\ndefaults:\n  mode: sometimes\n');
    await expect(loadPolicyFile(path)).rejects.toThrow(`invalid policy ${path}: defaults.mode: must be one of`);
  });
});

// ---- snapshots and warnings ---------------------------------------------------------------

describe('snapshotFor', () => {
  it('carries the hash, the exemption tag and the control policy', () => {
    const p = parse({ exemptions: { tag: 'skip' }, controls: { [SG]: { mode: 'approve' } } });
    const s = snapshotFor(p, SG);
    expect(s).toEqual({ hash: p.hash, exemptionTag: 'skip', control: p.controls[SG], decisionRelays: [] });
    expect(s.control.control).toBe(SG);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('throws for a control the policy does not have', () => {
    const p = parse({});
    expect(() => snapshotFor(p, 'nope' as ControlId)).toThrow(InvalidInputError);
  });
});

describe('policyWarnings', () => {
  const RELAY = { name: 'trigger-server', publicKey: testRelayKey.publicKey };
  const OPERATOR = { name: 'alice', publicKey: testOperatorKey.publicKey };

  it('is empty when every asking control has Slack approvers and a decision relay vouches for them', () => {
    const p = parse({
      decisionRelays: [RELAY],
      defaults: { approvers: { groups: ['S0SECURITY'] }, channel: 'C0123456789', requireApprovalWhenTagged: { environment: 'production' } },
    });
    expect(policyWarnings(p)).toEqual([]);
  });

  it('says Slack decisions are refused when Slack approvers are listed but no decision relay', () => {
    const p = parse({ defaults: { approvers: { groups: ['S0SECURITY'] }, channel: 'C0123456789' }, controls: { [SG]: { mode: 'approve' } } });
    const refused = 'Slack approvers are listed but the policy has no decisionRelays: their decisions from Slack are refused';
    // SG by its section; the approve-first controls by their catalog default (the built-in auto is capped).
    expect(policyWarnings(p)).toEqual([`controls.${SG}: ${refused}`, ...APPROVE_FIRST.map((id) => `controls.${id}: ${refused}`)]);
  });

  it('is empty for auto mode without approval conditions, dry-run and off', () => {
    // defaults' auto leaves the approve-first controls at approve: they ask, in the channel, and nobody there may approve.
    expect(policyWarnings(parse({ defaults: { mode: 'auto', channel: 'C0123456789' } }))).toEqual(
      APPROVE_FIRST.map(
        (id) => `controls.${id}: nobody can approve: requests go to channel C0123456789 but no Slack approvers are listed, and no operator keys (approvers.keys) for the CLI`,
      ),
    );
    // Their own sections may say auto: then nothing asks, and nothing is warned about.
    expect(policyWarnings(parse({ defaults: { mode: 'auto', channel: 'C0123456789' }, controls: Object.fromEntries(APPROVE_FIRST.map((id) => [id, { mode: 'auto' }])) }))).toEqual([]);
    expect(policyWarnings(parse({ defaults: { mode: 'dry-run' } }))).toEqual([]);
    expect(policyWarnings(parse({ defaults: { mode: 'off', requireApprovalWhenTagged: { a: 'b' } } }))).toEqual([]);
  });

  it('names the notify-only control that inherits auto as notify, when it has no channel', () => {
    expect(policyWarnings(parse({ defaults: { mode: 'auto' } }))).toEqual([
      `controls.${MFA}: mode is notify but no Slack channel is set: nobody is told in Slack`,
      ...nobodyForApproveFirst(),
    ]);
  });

  it('never asks approvals for the notify-only control, even with approval conditions in defaults', () => {
    const p = parse({ defaults: { mode: 'approve', requireApprovalWhenTagged: { environment: 'production' } } });
    const warnings = policyWarnings(p);
    expect(warnings.filter((w) => w.startsWith(`controls.${MFA}:`))).toEqual([
      `controls.${MFA}: mode is notify but no Slack channel is set: nobody is told in Slack`,
    ]);
    expect(warnings.filter((w) => w.includes('nobody can approve'))).toEqual(
      ALL.filter((id) => id !== MFA).map((id) => `controls.${id}: nobody can approve: no Slack approvers or channel, and no operator keys (approvers.keys) for the CLI`),
    );
    expect(warnings).toHaveLength(ALL.length);
  });

  it('names approve-mode controls whose approvals can only come from the CLI', () => {
    const p = parse({ controls: { [SG]: { mode: 'approve', approvers: { keys: [OPERATOR] } }, [MFA]: { channel: 'C0123456789' } } });
    expect(policyWarnings(p).filter((w) => w.startsWith(`controls.${SG}:`))).toEqual([`controls.${SG}: approvals can only be given from the CLI: no Slack approvers or channel`]);
    // The approve-first controls ask too (their catalog default), with nobody to ask.
    expect(policyWarnings(p)).toEqual([`controls.${SG}: approvals can only be given from the CLI: no Slack approvers or channel`, ...nobodyForApproveFirst()]);
  });

  it('names approve-mode controls nobody can approve: no Slack approvers and no operator keys', () => {
    const p = parse({ controls: { [SG]: { mode: 'approve' }, [MFA]: { channel: 'C0123456789' } } });
    expect(policyWarnings(p).filter((w) => w.startsWith(`controls.${SG}:`))).toEqual([`controls.${SG}: ${NOBODY}`]);
    // The new controls in approve mode by their catalog default are named as well, and no other control.
    expect(policyWarnings(p)).toEqual([`controls.${SG}: ${NOBODY}`, ...nobodyForApproveFirst()]);
    for (const id of APPROVE_FIRST) expect(ctl(p, id).mode, id).toBe('approve');
  });

  it('says so when requests go to a channel but nobody there may approve', () => {
    const p = parse({ defaults: { mode: 'approve', channel: 'C0123456789', approvers: { keys: [OPERATOR] } } });
    expect(policyWarnings(p)).toContain(
      `controls.${S3}: approvals can only be given from the CLI: requests go to channel C0123456789 but no Slack approvers are listed`,
    );
  });

  it('names controls whose unanswered approvals are applied', () => {
    const p = parse({
      decisionRelays: [RELAY],
      defaults: { mode: 'approve', channel: 'C0123456789', approvers: { users: ['U0AAAAAAAA'] }, escalation: { timeoutAction: 'apply', timeoutAfter: '8h' } },
    });
    expect(policyWarnings(p)).toEqual(
      ALL.filter((id) => id !== MFA).map((id) => `controls.${id}: an approval request nobody answers is applied after 8h (escalation.timeoutAction: apply)`),
    );
  });

  it('names notify-mode controls with no channel', () => {
    const p = parse({ controls: { [S3]: { mode: 'notify' }, [MFA]: { channel: 'C0123456789' } } });
    expect(policyWarnings(p).filter((w) => w.includes('mode is notify'))).toEqual([`controls.${S3}: mode is notify but no Slack channel is set: nobody is told in Slack`]);
    expect(policyWarnings(p)).toEqual([`controls.${S3}: mode is notify but no Slack channel is set: nobody is told in Slack`, ...nobodyForApproveFirst()]);
  });
});

describe('account groups (per-account policy)', () => {
  const PROD = '111111111111';
  const SANDBOX = '222222222222';
  const yaml = `
version: 1
defaults:
  mode: auto
  approvers: { users: [UDEFAULT01] }
controls:
  s3-block-public-access:
    mode: auto
  ec2-sg-admin-ports-open:
    requireApprovalWhenTagged: { environment: [production] }
accounts:
  - name: production
    ids: ["${PROD}"]
    mode: approve
    approvers: { users: [UPRODAPPR1] }
    controls:
      ec2-sg-admin-ports-open: { mode: notify }
  - name: sandboxes
    ids: ["${SANDBOX}", "333333333333"]
    guardrails: { maxAutoFixesPerHour: 500 }
`;

  it('a production account asks, a sandbox fixes, any other account gets the control as written', () => {
    const p = parsePolicy(yaml, 'groups');
    const prod = snapshotFor(p, ControlId.S3BlockPublicAccess, PROD);
    expect(prod.accountGroup).toBe('production');
    expect(prod.control.mode).toBe('approve');
    expect(prod.control.approvers.users).toEqual(['UPRODAPPR1']);
    // The group's own section for a control comes last.
    expect(snapshotFor(p, ControlId.SgAdminPortsOpen, PROD).control.mode).toBe('notify');
    // Everything else is merged key by key, as for a control's section.
    expect(snapshotFor(p, ControlId.SgAdminPortsOpen, SANDBOX).control.requireApprovalWhenTagged).toEqual({ environment: ['production'] });
    const sandbox = snapshotFor(p, ControlId.S3BlockPublicAccess, SANDBOX);
    expect(sandbox).toMatchObject({ accountGroup: 'sandboxes', control: { mode: 'auto', guardrails: { maxAutoFixesPerHour: 500 } } });
    expect(sandbox.control.approvers.users).toEqual(['UDEFAULT01']);
    const other = snapshotFor(p, ControlId.S3BlockPublicAccess, '444444444444');
    expect(other.accountGroup).toBeUndefined();
    expect(other.control).toEqual(p.controls[ControlId.S3BlockPublicAccess]);
    expect(snapshotFor(p, ControlId.S3BlockPublicAccess).control).toEqual(p.controls[ControlId.S3BlockPublicAccess]);
    // A control with no automatic fix inherits approve from its group as notify.
    expect(snapshotFor(p, ControlId.IamUserConsoleMfa, PROD).control.mode).toBe('notify');
  });

  it('lists every problem of the groups by path', () => {
    const problems = problemsOf(() =>
      parsePolicy(
        `
version: 1
accounts:
  - ids: ["${PROD}"]
    mdoe: auto
  - name: again
    ids: ["${PROD}", "333333333333"]
    controls:
      iam-user-console-mfa: { mode: auto }
      s3-public-bucket: { mode: auto }
  - name: empty
    ids: []
  - name: unquoted
    ids: [22222222222]
`,
        'bad-groups',
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^accounts\[0\]\.mdoe: unknown key \(did you mean mode\?/),
        expect.stringMatching(/^accounts\[0\]\.name: required/),
        `accounts[1].ids: account ${PROD} is already in accounts[0] (accounts[0]): an account belongs to one group`,
        expect.stringMatching(/^accounts\[3\]\.ids\[0\]: must be a 12-digit AWS account id in quotes/),
        expect.stringMatching(/^accounts\[1\]\.controls\.iam-user-console-mfa\.mode: must be notify, dry-run or off/),
        expect.stringMatching(/^accounts\[1\]\.controls\.s3-public-bucket: unknown control/),
        'accounts[2].ids: must name at least one account',
      ]),
    );
    expect(problems.filter((p) => p.includes('mdoe'))).toHaveLength(1);
    expect(problemsOf(() => parsePolicy('version: 1\naccounts: { production: [] }\n'))).toEqual([expect.stringMatching(/^accounts: must be a list of account groups/)]);
  });
});
