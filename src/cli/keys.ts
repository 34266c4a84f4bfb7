import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateDecisionKeyPem, loadDecisionKey, publicKeyLine, type DecisionKey } from '../decisions/sign.js';
import { DEFAULT_POLICY_PATH, loadPolicyFile, operatorKeys } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { REPO_ROOT } from '../stack/paths.js';

export const KEYS_USAGE = `usage: keys new --out FILE [--name NAME] [--relay]
                                write a new Ed25519 private key to FILE (mode 0600; never overwrites)
                                and print the policy entry of its public key: under approvers.keys
                                for an operator (then set RECTIFY_OPERATOR_KEY_FILE=FILE), or with
                                --relay under decisionRelays (then set DECISION_SIGNING_KEY_FILE=FILE
                                for the trigger server)
       keys show [--file FILE]  the key id and public key of RECTIFY_OPERATOR_KEY_FILE (or FILE), and
                                the name the policy gives it`;

/** Where the local stack (`npm start`) keeps its data: its operator key and effective policy. */
export const localDataDir = () => process.env['RECTIFY_DATA_DIR'] ?? join(REPO_ROOT, '.rectify');
/** The local stack's operator key and effective policy (src/cli/local-stack.ts writes both). */
export const LOCAL_OPERATOR_KEY = 'operator-key.pem';
export const LOCAL_POLICY = 'policy.yaml';
/** The names the local stack's keys are listed under in its effective policy. */
export const LOCAL_OPERATOR = 'local-operator';
export const LOCAL_RELAY = 'local-trigger-server';

const NO_KEY = `no operator key: CLI decisions are signed with your own Ed25519 key, and the key names you.
  1. npm run cli -- keys new --out ~/.config/rectify/operator-key.pem --name <your name>
  2. add the printed entry under approvers.keys in the policy (defaults, a control or an account group)
  3. export RECTIFY_OPERATOR_KEY_FILE=~/.config/rectify/operator-key.pem
(npm start makes one for the local stack in ${join('.rectify', LOCAL_OPERATOR_KEY)}, used when RECTIFY_OPERATOR_KEY_FILE is unset)`;

/** The operator's key file: RECTIFY_OPERATOR_KEY_FILE, else the local stack's when there is one. */
export function operatorKeyFile(): { file: string; local: boolean } | undefined {
  const set = process.env['RECTIFY_OPERATOR_KEY_FILE']?.trim();
  if (set) return { file: set, local: false };
  const local = join(localDataDir(), LOCAL_OPERATOR_KEY);
  return existsSync(local) ? { file: local, local: true } : undefined;
}

export interface Operator {
  readonly key: DecisionKey;
  /** The name the policy lists the key under: what decisions are recorded as (`cli:<name>`). */
  readonly name: string;
  readonly policy: Policy;
  readonly policyPath: string;
}

/**
 * The operator at this terminal: their key (RECTIFY_OPERATOR_KEY_FILE) and the name the policy
 * (POLICY_FILE; with the local stack's key, the local stack's effective policy) lists it under.
 * Throws, saying what to do, when there is no key or the policy does not list it: the workflows
 * would refuse its decisions anyway.
 */
export async function currentOperator(policyFile: string | undefined): Promise<Operator> {
  const where = operatorKeyFile();
  if (!where) throw new Error(NO_KEY);
  const key = loadDecisionKey(where.file, 'RECTIFY_OPERATOR_KEY_FILE');
  const localPolicy = join(localDataDir(), LOCAL_POLICY);
  const policyPath = policyFile ?? (where.local && existsSync(localPolicy) ? localPolicy : DEFAULT_POLICY_PATH);
  const policy = await loadPolicyFile(policyPath);
  const listed = operatorKeys(policy).find((k) => k.keyId === key.keyId);
  if (!listed) {
    throw new Error(
      `your operator key ${key.keyId} (${where.file}) is not listed in the policy ${policyPath}, so the workflows would refuse its decisions. ` +
        `Add it under approvers.keys (of defaults, a control or an account group), with your name:\n  - ${publicKeyLine(key, 'your-name')}`,
    );
  }
  return { key, name: listed.name, policy, policyPath };
}

/** `keys new` / `keys show`: see KEYS_USAGE. */
export async function keysCommand(args: readonly string[], policyFile: string | undefined, say: (l: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'new') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { out: { type: 'string' }, name: { type: 'string' }, relay: { type: 'boolean' } } });
    if (!values.out || positionals.length > 0) {
      process.stderr.write(`${KEYS_USAGE}\n`);
      return 2;
    }
    const out = resolve(values.out);
    const pem = generateDecisionKeyPem();
    try {
      await writeFile(out, pem, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(code === 'EEXIST' ? `${out} exists: keys new never overwrites a key (choose another --out)` : `cannot write ${out}: ${code ?? (err as Error).message}`);
    }
    await chmod(out, 0o600);
    const key = loadDecisionKey(out);
    const name = values.name ?? (values.relay ? 'trigger-server' : 'your-name');
    say(`wrote a new Ed25519 private key to ${out} (mode 0600; key id ${key.keyId}). Keep it private.`);
    if (values.relay) {
      say('List its public key in the policy, so the workflows trust the Slack decisions this trigger server relays:');
      say('decisionRelays:');
      say(`  - ${publicKeyLine(key, name)}`);
      say(`and run the trigger server with DECISION_SIGNING_KEY_FILE=${out}`);
    } else {
      say('List its public key in the policy under approvers.keys (of defaults, a control or an account group), with your name:');
      say('  approvers:');
      say('    keys:');
      say(`      - ${publicKeyLine(key, name)}`);
      say(`then: export RECTIFY_OPERATOR_KEY_FILE=${out}`);
    }
    return 0;
  }
  if (sub === 'show') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { file: { type: 'string' } } });
    if (positionals.length > 0) {
      process.stderr.write(`${KEYS_USAGE}\n`);
      return 2;
    }
    const where = values.file ? { file: values.file, local: false } : operatorKeyFile();
    if (!where) throw new Error(NO_KEY);
    const key = loadDecisionKey(where.file, values.file ? values.file : 'RECTIFY_OPERATOR_KEY_FILE');
    say(`key file    ${where.file}${where.local ? ' (the local stack\'s)' : ''}`);
    say(`key id      ${key.keyId}`);
    say(`public key  ${key.publicKey}`);
    const policyPath = policyFile ?? (where.local && existsSync(join(localDataDir(), LOCAL_POLICY)) ? join(localDataDir(), LOCAL_POLICY) : DEFAULT_POLICY_PATH);
    const policy = await loadPolicyFile(policyPath);
    const listed = operatorKeys(policy).find((k) => k.keyId === key.keyId);
    const relay = policy.decisionRelays?.find((k) => k.keyId === key.keyId);
    if (listed) say(`policy      ${policyPath}: operator ${listed.name}`);
    else if (relay) say(`policy      ${policyPath}: decision relay ${relay.name}`);
    else say(`policy      ${policyPath} does not list it; add:  - ${publicKeyLine(key, 'your-name')}`);
    return 0;
  }
  process.stderr.write(`${KEYS_USAGE}\n`);
  return 2;
}
