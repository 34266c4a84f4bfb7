import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ControlId } from '../../../src/findings/finding.js';
import { DEFAULT_POLICY_PATH, operatorKeys, parsePolicy, snapshotFor } from '../../../src/policy/load.js';
import { parseDecisionPublicKey, withDecisionKeys } from '../../../src/policy/keys.js';
import { otherOperatorKey, otherOperatorTrusted, testOperatorKey, testOperatorTrusted, testRelayKey, testRelayTrusted, withTestDecisionKeys } from '../../helpers/decisions.js';
import { problemsOf } from '../normalizers/helpers.js';


const parse = (doc: Record<string, unknown>) => parsePolicy(stringify({ version: 1, ...doc }));
const problems = (doc: Record<string, unknown>) => problemsOf(() => parse(doc));

const raw = Buffer.from(testOperatorKey.publicKey, 'base64');
const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
const FORMS = {
  'base64 of the raw 32 bytes': testOperatorKey.publicKey,
  'base64 SPKI DER': pub.export({ format: 'der', type: 'spki' }).toString('base64'),
  'a PEM SPKI block': pub.export({ format: 'pem', type: 'spki' }).toString(),
};
const S3 = ControlId.S3BlockPublicAccess;
const SG = ControlId.SgAdminPortsOpen;

describe('approvers.keys and decisionRelays', () => {
  it.each(Object.entries(FORMS))('reads a public key as %s, normalized to the raw key and its key id', (_form, publicKey) => {
    const p = parse({ decisionRelays: [{ name: 'relay', publicKey: testRelayKey.publicKey }], defaults: { approvers: { keys: [{ name: 'test-operator', publicKey }] } } });
    expect(p.controls[S3].approvers.keys).toEqual([testOperatorTrusted]);
    expect(p.decisionRelays).toEqual([{ ...testRelayTrusted, name: 'relay' }]);
  });

  it('keeps the Slack id linked to an operator key', () => {
    const p = parse({ defaults: { approvers: { users: ['U012AB3CDE'], keys: [{ name: 'alice', publicKey: testOperatorKey.publicKey, slack: 'U012AB3CDE' }] } } });
    expect(p.controls[SG].approvers).toEqual({ users: ['U012AB3CDE'], groups: [], keys: [{ ...testOperatorTrusted, name: 'alice', slack: 'U012AB3CDE' }] });
  });

  it('merges like approvers.users: a control\'s or an account group\'s keys replace the defaults\' whole', () => {
    const p = parse({
      defaults: { approvers: { keys: [{ name: 'alice', publicKey: testOperatorKey.publicKey }] } },
      controls: { [SG]: { approvers: { keys: [{ name: 'bob', publicKey: otherOperatorKey.publicKey }] } }, [S3]: { approvers: { users: ['U012AB3CDE'] } } },
      accounts: [{ name: 'prod', ids: ['111111111111'], approvers: { keys: [] } }],
    });
    expect(p.controls[S3].approvers.keys?.map((k) => k.name)).toEqual(['alice']);
    expect(p.controls[SG].approvers.keys?.map((k) => k.name)).toEqual(['bob']);
    expect(snapshotFor(p, S3, '111111111111').control.approvers.keys).toEqual([]);
    expect(operatorKeys(p).map((k) => k.name).sort()).toEqual(['alice', 'bob']);
  });

  it('carries the decision relays in every snapshot', () => {
    const p = parsePolicy(withTestDecisionKeys('version: 1\n'));
    expect(snapshotFor(p, S3).decisionRelays).toEqual([testRelayTrusted]);
    expect(snapshotFor(p, S3).control.approvers.keys).toEqual([testOperatorTrusted]);
    expect(parse({}).decisionRelays).toEqual([]);
  });

  it('lists every problem by its path, without echoing key material', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const privatePem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const out = problems({
      decisionRelays: [{ name: 'relay', publicKey: testRelayKey.publicKey, slack: 'U012AB3CDE' }, 'relay-2'],
      defaults: {
        approvers: {
          keys: [
            { name: 'alice', publicKey: Buffer.alloc(31, 1).toString('base64') },
            { name: 'bob', publicKey: 'not base64!' },
            { name: 'carol', publicKey: rsa },
            { name: 'dave', publicKey: privatePem },
            { name: 'erin' },
            { publicKey: testOperatorKey.publicKey },
            { name: 'frank', publicKey: testOperatorKey.publicKey, slack: 'frank' },
            { name: 'frank', publicKey: otherOperatorKey.publicKey },
            { name: 'gina', publicKey: testOperatorKey.publicKey },
          ],
        },
      },
    });
    expect(out).toEqual([
      'decisionRelays[0].slack: unknown key (expected one of: name, publicKey)',
      'decisionRelays[1]: must be a mapping with keys name, publicKey, got "relay-2"',
      'defaults.approvers.keys[0].publicKey: has the wrong length: an Ed25519 public key is 32 bytes raw or 44 bytes SPKI DER, got 31 bytes',
      expect.stringMatching(/^defaults\.approvers\.keys\[1\]\.publicKey: must be base64 \(a PEM block/),
      'defaults.approvers.keys[2].publicKey: must be an Ed25519 public key, got rsa',
      'defaults.approvers.keys[3].publicKey: is a private key: list only the public key (npm run cli -- keys show prints it), and keep the private key out of the policy',
      'defaults.approvers.keys[4].publicKey: required: the Ed25519 public key (npm run cli -- keys show prints it)',
      expect.stringMatching(/^defaults\.approvers\.keys\[5\]\.name: required: a name of 1-64 letters/),
      'defaults.approvers.keys[6].slack: must be a Slack user id like U012AB3CDE (not a name or @handle), got "frank"',
      'defaults.approvers.keys[7].name: frank is listed twice (also at defaults.approvers.keys[6])',
      `defaults.approvers.keys[8].publicKey: key ${testOperatorKey.keyId} is listed twice (also at defaults.approvers.keys[6], as frank)`,
    ]);
    expect(out.join('\n')).not.toContain(privatePem.split('\n')[1]);
  });

  it('refuses a key named differently in two places, and a relay key listed as an operator key', () => {
    expect(
      problems({
        decisionRelays: [{ name: 'relay', publicKey: testRelayKey.publicKey }],
        defaults: { approvers: { keys: [{ name: 'alice', publicKey: testOperatorKey.publicKey }] } },
        controls: { [SG]: { approvers: { keys: [{ name: 'mallory', publicKey: testOperatorKey.publicKey }, { name: 'relay', publicKey: testRelayKey.publicKey }] } } },
      }),
    ).toEqual([
      `controls.${SG}.approvers.keys[0].name: key ${testOperatorKey.keyId} is listed as alice at defaults.approvers.keys[0]: one key names one operator`,
      `controls.${SG}.approvers.keys[1].publicKey: key ${testRelayKey.keyId} is the decision relay relay's (decisionRelays): an operator needs a key of their own`,
    ]);
  });

  it('a point that is not on the curve is no key', () => {
    const bad = parseDecisionPublicKey(Buffer.from('02' + '00'.repeat(31), 'hex').toString('base64'));
    expect(bad).toEqual({ problem: 'is not a valid Ed25519 public key (not a point of the curve)' });
  });
});

describe('withDecisionKeys', () => {
  it('adds the operator to the defaults and to every section with keys of its own, the relay at the top, keeping the rest', () => {
    const text = `# my policy\nversion: 1\ndefaults:\n  approvers: { users: [U012AB3CDE] }  # the team\ncontrols:\n  ${SG}:\n    approvers:\n      keys:\n        - { name: bob, publicKey: ${otherOperatorKey.publicKey} }\naccounts:\n  - name: prod\n    ids: ["111111111111"]\n    approvers: { keys: [] }\n`;
    const out = withDecisionKeys(text, { operators: [{ name: 'local', publicKey: testOperatorKey.publicKey }], relays: [{ name: 'relay', publicKey: testRelayKey.publicKey }] }, '# generated');
    expect(out.startsWith('# generated\n# my policy\n')).toBe(true);
    expect(out).toContain('# the team');
    const p = parsePolicy(out);
    expect(p.decisionRelays?.map((k) => k.name)).toEqual(['relay']);
    expect(p.controls[S3].approvers).toMatchObject({ users: ['U012AB3CDE'], keys: [{ name: 'local' }] });
    expect(p.controls[SG].approvers.keys?.map((k) => k.name)).toEqual(['bob', 'local']);
    expect(snapshotFor(p, S3, '111111111111').control.approvers.keys?.map((k) => k.name)).toEqual(['local']);
    // Adding the same keys again changes nothing.
    expect(parsePolicy(withDecisionKeys(out, { operators: [{ name: 'local', publicKey: testOperatorKey.publicKey }], relays: [{ name: 'relay', publicKey: testRelayKey.publicKey }] })).controls).toEqual(p.controls);
  });

  it('the shipped policy documents both, and its commented examples load as written when uncommented', () => {
    const text = readFileSync(DEFAULT_POLICY_PATH, 'utf8');
    const relay = /^#\s+- (\{ name: trigger-server, publicKey: \S+ \})$/m.exec(text)?.[1];
    const operator = /^\s*#\s+- (\{ name: alice, publicKey: \S+, slack: U012AB3CDE \})$/m.exec(text)?.[1];
    expect(relay).toBeDefined();
    expect(operator).toBeDefined();
    const p = parsePolicy(`version: 1\ndecisionRelays:\n  - ${relay}\ndefaults:\n  approvers:\n    keys:\n      - ${operator}\n`);
    expect(p.decisionRelays).toHaveLength(1);
    expect(p.controls[S3].approvers.keys).toMatchObject([{ name: 'alice', slack: 'U012AB3CDE' }]);
    expect(otherOperatorTrusted.keyId).toMatch(/^[0-9a-f]{16}$/);
  });
});
