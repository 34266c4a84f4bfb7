import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { parsePolicy } from '../../../src/policy/load.js';
import { decisionRelayKey } from '../../../src/triggers/server.js';
import { DECISION_KEYS_YAML, keyFile, otherOperatorKeyPem, testRelayKey, testRelayKeyPem } from '../../helpers/decisions.js';
import { problemsOf } from '../normalizers/helpers.js';

const SLACK = { SLACK_BOT_TOKEN: 'xoxb-unit', SLACK_SIGNING_SECRET: 'a-signing-secret-of-16+' };


describe('DECISION_SIGNING_KEY_FILE (the trigger server\'s decision relay key)', () => {
  const policy = parsePolicy(`version: 1\n${DECISION_KEYS_YAML}`);

  it('is read and checked at load; a missing or bad file is a problem that names the file, never its content', async () => {
    const good = await keyFile(testRelayKeyPem);
    expect(loadConfig({ ...SLACK, DECISION_SIGNING_KEY_FILE: good }).slack.decisionSigningKeyPem).toBe(testRelayKeyPem);
    const missing = join(good, '..', 'missing.pem');
    expect(problemsOf(() => loadConfig({ DECISION_SIGNING_KEY_FILE: missing }))).toEqual([`DECISION_SIGNING_KEY_FILE: cannot read ${missing}`]);
    const bad = await keyFile('-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END PRIVATE KEY-----\n');
    const problems = problemsOf(() => loadConfig({ DECISION_SIGNING_KEY_FILE: bad }));
    expect(problems).toEqual([`DECISION_SIGNING_KEY_FILE (${bad}) is not a PEM private key (PKCS#8, -----BEGIN PRIVATE KEY-----)`]);
    expect(problems.join()).not.toContain('c2VjcmV0');
  });

  it('the trigger server does not start with Slack clicks and no key, or with a key the policy does not list', async () => {
    expect(() => decisionRelayKey(loadConfig(SLACK), policy)).toThrow(/^DECISION_SIGNING_KEY_FILE is not set: .*decisionRelays/);
    const other = loadConfig({ ...SLACK, DECISION_SIGNING_KEY_FILE: await keyFile(otherOperatorKeyPem) });
    expect(() => decisionRelayKey(other, policy)).toThrow(/is not listed under decisionRelays in the policy .*every Slack decision would be refused. Add:\ndecisionRelays:\n {2}- \{ name: trigger-server, publicKey: /);
    const ok = loadConfig({ ...SLACK, DECISION_SIGNING_KEY_FILE: await keyFile(testRelayKeyPem) });
    expect(decisionRelayKey(ok, policy)?.keyId).toBe(testRelayKey.keyId);
    // Without Slack clicks there is nothing to relay: no key needed.
    expect(decisionRelayKey(loadConfig({}), parsePolicy('version: 1\n'))).toBeUndefined();
  });
});
