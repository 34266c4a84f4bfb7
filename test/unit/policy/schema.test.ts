import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { registeredControlIds, registeredControls } from '../../../src/activities/controls/index.js';
import { InvalidInputError } from '../../../src/errors.js';
import { DEFAULT_POLICY_PATH, parsePolicy, POLICY_SCHEMA_PATH, policySchemaText } from '../../../src/policy/load.js';
import { policyJsonSchema } from '../../../src/policy/schema.js';
import { testOperatorKey, testRelayKey } from '../../helpers/decisions.js';

/**
 * The JSON Schema editors check policy files with is generated from the schema the loader
 * validates with: published as policy/policy.schema.json, named by the shipped policy's
 * yaml-language-server line, and in agreement with the loader (never flags a file the loader
 * loads; flags each mistake in a single value that the loader reports).
 */

let validate: ValidateFunction;
const editorSays = (doc: unknown) => {
  const ok = validate(doc);
  return { ok, errors: (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`) };
};
const loaderSays = (text: string): { ok: boolean; problems: readonly string[] } => {
  try {
    parsePolicy(text);
    return { ok: true, problems: [] };
  } catch (e) {
    if (e instanceof InvalidInputError) return { ok: false, problems: e.problems };
    throw e;
  }
};

beforeAll(async () => {
  const schema = JSON.parse(await readFile(POLICY_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
});

describe('policy/policy.schema.json', () => {
  it('is the schema generated from the registered controls (npm run cli -- policy schema --write updates it)', async () => {
    expect(await readFile(POLICY_SCHEMA_PATH, 'utf8')).toBe(policySchemaText());
  });

  it('is JSON Schema draft 7, which editors read, and names every control and every key of a section', async () => {
    const schema = policyJsonSchema(registeredControls()) as { $schema: string; properties: Record<string, unknown>; definitions: Record<string, unknown> };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    const text = JSON.stringify(schema);
    for (const id of registeredControlIds()) expect(text).toContain(`"${id}":`);
    for (const key of ['mode', 'scope', 'requireApprovalWhenTagged', 'approvers', 'channel', 'escalation', 'guardrails', 'settings', 'undo', 'maxKeyAgeDays']) {
      expect(text).toContain(`"${key}":`);
    }
    // The parts every section shares are written once.
    expect(text.length).toBeLessThan(60_000);
    expect(Object.keys(schema.definitions)).toEqual(expect.arrayContaining(['scope', 'escalation', 'approvers']));
  });

  it('is what the shipped policy names on its first line, beside it', async () => {
    const text = await readFile(DEFAULT_POLICY_PATH, 'utf8');
    const [first] = text.split('\n');
    expect(first).toBe('# yaml-language-server: $schema=./policy.schema.json');
    expect(join(dirname(DEFAULT_POLICY_PATH), 'policy.schema.json')).toBe(POLICY_SCHEMA_PATH);
  });

  it('accepts the shipped policy, and the shipped policy with its commented examples written out', async () => {
    const text = await readFile(DEFAULT_POLICY_PATH, 'utf8');
    expect(editorSays(parseYaml(text))).toEqual({ ok: true, errors: [] });
    const full = {
      version: 1,
      exemptions: { tag: 'rectify:exempt-until' },
      decisionRelays: [{ name: 'relay', publicKey: testRelayKey.publicKey }],
      defaults: {
        mode: 'approve',
        scope: { accounts: ['012345678901', 123456789012], regions: ['us-east-1'], tags: { team: '*' } },
        requireApprovalWhenTagged: { environment: ['production'], public: 'true' },
        approvers: { users: ['U012AB3CDE'], groups: ['S012AB3CDE'], keys: [{ name: 'alice', publicKey: testOperatorKey.publicKey, slack: 'U012AB3CDE' }] },
        channel: 'C012AB3CDE',
        escalation: { remindAfter: '30m', escalateAfter: '2h', timeoutAfter: '1d', timeoutAction: 'reject', escalateTo: { channel: null, users: [], groups: ['S0ONCALL1'] } },
        guardrails: { maxAutoFixesPerHour: 20, flap: { maxFixes: 3, window: '10m' }, rejectionHold: 0 },
        settings: { ports: [22, 3389], wideRules: 'split', encryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/my-key' }, maxKeyAgeDays: 60 },
        undo: { window: '1h30m', exemptFor: '7d' },
      },
      controls: { 'iam-access-key-stale': { settings: { maxUnusedDays: 45 } }, 's3-block-public-access': null },
      accounts: [{ name: 'prod', ids: ['111111111111'], mode: 'approve', controls: { 'ec2-sg-admin-ports-open': { mode: 'auto' } } }],
    };
    expect(loaderSays(stringify(full)).problems).toEqual([]);
    expect(editorSays(full)).toEqual({ ok: true, errors: [] });
  });

  it.each([
    ['a misspelt key', { defaults: { mod: 'auto' } }, 'defaults.mod: unknown key (did you mean mode?'],
    ['an unknown control', { controls: { 's3-public': {} } }, 'controls.s3-public: unknown control'],
    ['an unknown mode', { defaults: { mode: 'fix' } }, 'defaults.mode: must be one of'],
    ['a duration that is not one', { defaults: { escalation: { remindAfter: 'soon' } } }, 'defaults.escalation.remindAfter: must be a duration'],
    ['a bare number as a duration', { defaults: { undo: { window: 3600 } } }, 'defaults.undo.window: must be a duration'],
    ['an account id of 11 digits', { defaults: { scope: { accounts: ['12345678901'] } } }, 'defaults.scope.accounts[0]: must be a 12-digit'],
    ['an unquoted account id that lost its zero', { defaults: { scope: { accounts: [12345678901] } } }, 'in quotes'],
    ['a Slack name for an id', { defaults: { approvers: { users: ['alice'] } } }, 'defaults.approvers.users[0]: must be a Slack user id'],
    ['a port out of range', { defaults: { settings: { ports: [70000] } } }, 'defaults.settings.ports[0]: must be a port number'],
    ['no ports', { defaults: { settings: { ports: [] } } }, 'defaults.settings.ports: must list at least one port'],
    ["a control's own setting out of range", { controls: { 'iam-access-key-stale': { settings: { maxKeyAgeDays: -1 } } } }, 'maxKeyAgeDays: Too small'],
    ["another control's setting in a section", { controls: { 'ec2-sg-admin-ports-open': { settings: { maxKeyAgeDays: 30 } } } }, 'unknown key'],
    ['a section that is a string', { defaults: 'auto' }, 'defaults: must be a mapping'],
    ['an account group without ids', { accounts: [{ name: 'prod' }] }, 'accounts[0].ids: required'],
    ['a KMS key that is no key', { defaults: { settings: { encryption: { algorithm: 'aws:kms', kmsKeyId: 'my-key' } } } }, 'kmsKeyId: must be a KMS key'],
    ['version 2', { version: 2 }, 'version: must be 1'],
  ])('flags %s, as the loader does', (_what, doc, problem) => {
    const file = { version: 1, ...doc };
    const loader = loaderSays(stringify(file));
    expect(loader.ok).toBe(false);
    expect(loader.problems.join('\n')).toContain(problem);
    expect(editorSays(file).ok).toBe(false);
  });

  it('never flags a file the loader loads (random sections, good and bad)', () => {
    const anyValue = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 100000 }), fc.boolean(), fc.constant(null), fc.constantFrom('30m', '0', 0, '1h', 'auto', 'approve', 'notify', 'U012AB3CDE', 'C012AB3CDE', 'us-east-1', '123456789012', 'split', 'AES256'));
    const leafKeys = ['accounts', 'regions', 'users', 'groups', 'tags', 'remindAfter', 'timeoutAfter', 'timeoutAction', 'ports', 'wideRules', 'maxAutoFixesPerHour', 'window', 'exemptFor', 'maxKeyAgeDays', 'x'];
    const inner = fc.dictionary(fc.constantFrom(...leafKeys), fc.oneof(anyValue, fc.array(anyValue, { maxLength: 2 })), { maxKeys: 3 });
    const section = fc.dictionary(
      fc.constantFrom('mode', 'scope', 'channel', 'escalation', 'guardrails', 'approvers', 'settings', 'undo', 'oops'),
      fc.oneof(anyValue, inner),
      { maxKeys: 3 },
    );
    let loaded = 0;
    fc.assert(
      fc.property(section, fc.dictionary(fc.constantFrom(...registeredControlIds().slice(0, 8), 'nope'), fc.oneof(section, fc.constant(null)), { maxKeys: 2 }), (defaults, controls) => {
        const file = { version: 1, defaults, controls };
        const loader = loaderSays(stringify(file));
        if (!loader.ok) return;
        loaded++;
        expect(editorSays(JSON.parse(JSON.stringify(file))), stringify(file)).toEqual({ ok: true, errors: [] });
      }),
      { numRuns: 400 },
    );
    expect(loaded).toBeGreaterThan(20);
  });
});
