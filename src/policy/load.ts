/**
 * Loads and validates the policy file (YAML; the shipped default, policy/default.yaml,
 * documents every key). Node side only: workflows receive a `PolicySnapshot`, never this module.
 *
 * A policy either loads completely or not at all: every problem in the file is collected, each
 * with its path, and thrown together as one `InvalidInputError`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { InvalidInputError } from '../errors.js';
import type { ZodType } from 'zod';
import { registeredControlIds, registeredControls, requireControl } from '../activities/controls/index.js';
import type { ControlId } from '../findings/finding.js';
import { formatDuration } from './decide.js';
import { parseDecisionPublicKey, trustedKey } from './keys.js';
import type { TrustedKey } from '../decisions/signed.js';
import {
  MODES,
  WIDE_RULES,
  type AccountGroup,
  type ControlPolicy,
  type ControlSettings,
  type EscalationLadder,
  type Mode,
  type Policy,
  type PolicySnapshot,
  type UndoSettings,
  type WideRules,
} from './types.js';

/** The shipped default policy. */
export const DEFAULT_POLICY_PATH = fileURLToPath(new URL('../../policy/default.yaml', import.meta.url));

/** The exemption tag when the file names none. */
export const DEFAULT_EXEMPTION_TAG = 'rectify:exempt-until';

type Effective = Omit<ControlPolicy, 'control'>;

/**
 * What applies where the file is silent (a key missing from `defaults`). The same values as
 * policy/default.yaml, so a file that only says `version: 1` behaves like the shipped default
 * minus its per-control approval conditions. (A notify-only control inherits mode `auto` from
 * here like any other, and gets `notify` instead: see `parsePolicy`.)
 */
export const BUILTIN_DEFAULTS: Effective = {
  mode: 'auto',
  scope: { accounts: [], regions: [], tags: {} },
  requireApprovalWhenTagged: {},
  approvers: { users: [], groups: [], keys: [] },
  escalation: {
    remindAfterMs: 30 * 60_000,
    escalateAfterMs: 2 * 3_600_000,
    escalateTo: { users: [], groups: [] },
    timeoutAfterMs: 24 * 3_600_000,
    timeoutAction: 'reject',
  },
  guardrails: { maxAutoFixesPerHour: 20, flap: { maxFixes: 3, windowMs: 10 * 60_000 }, rejectionHoldMs: 7 * 86_400_000 },
  settings: { ports: [22, 3389], wideRules: 'split', encryption: { algorithm: 'AES256' } },
  undo: { windowMs: 3_600_000, exemptForMs: 7 * 86_400_000 },
};

/** Modes that change nothing: the only ones a control without an automatic fix (`fixable: false`) may have. */
const NOTIFY_ONLY_MODES: readonly Mode[] = ['notify', 'dry-run', 'off'];

/** How much a mode changes without a person: auto, then approve, then the modes that change nothing. */
const LATITUDE: Readonly<Record<Mode, number>> = { auto: 2, approve: 1, notify: 0, 'dry-run': 0, off: 0 };

// ---- durations ---------------------------------------------------------------------------

const NUM = String.raw`(\d+(?:\.\d+)?)`;
const DURATION_RE = new RegExp(String.raw`^(?:${NUM}d)?\s*(?:${NUM}h)?\s*(?:${NUM}m(?!s))?\s*(?:${NUM}s)?\s*(?:${NUM}ms)?$`);
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1000, 1] as const;

/**
 * A duration in milliseconds: '500ms', '10s', '30m', '2h', '1d', or units combined largest first
 * ('1h30m', '1m1.5s'); '0' is zero. Undefined when not a duration.
 */
export function parseDuration(s: string): number | undefined {
  const text = s.trim();
  if (text === '0') return 0;
  if (text === '') return undefined;
  const m = DURATION_RE.exec(text);
  if (!m) return undefined;
  let total = 0;
  for (let i = 0; i < UNIT_MS.length; i++) {
    const n = m[i + 1];
    if (n !== undefined) total += Number(n) * (UNIT_MS[i] ?? 0);
  }
  total = Math.round(total);
  return Number.isSafeInteger(total) ? total : undefined;
}

// ---- validation helpers ------------------------------------------------------------------

type Obj = Record<string, unknown>;

class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(path === '' ? message : `${path}: ${message}`);
  }
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Edit distance counting a swap of neighbours as one edit, to suggest the key a typo meant. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

function suggestion(key: string, known: readonly string[]): string {
  const best = known
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k) }))
    .sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(key.length / 4)) ? `did you mean ${best.k}? ` : '';
}

/** The mapping at `path`, with unknown keys reported; undefined (and a problem) when it is not a mapping. */
function mapping(v: unknown, path: string, known: readonly string[], pb: Problems): Obj | undefined {
  if (!isObj(v)) {
    pb.add(path, `must be a mapping with keys ${known.join(', ')}, got ${describe(v)}`);
    return undefined;
  }
  for (const key of Object.keys(v)) {
    if (!known.includes(key)) pb.add(join(path, key), `unknown key (${suggestion(key, known)}expected one of: ${known.join(', ')})`);
  }
  return v;
}

function stringList(v: unknown, path: string, pb: Problems, check: (s: string, index: number) => string | undefined): string[] | undefined {
  if (!Array.isArray(v)) {
    pb.add(path, `must be a list, got ${describe(v)}`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  v.forEach((item: unknown, i) => {
    const problem = typeof item === 'string' ? check(item, i) : `must be a string, got ${describe(item)}`;
    if (problem === undefined) {
      if (!out.includes(item as string)) out.push(item as string);
    } else {
      ok = false;
      pb.add(`${path}[${i}]`, problem);
    }
  });
  return ok ? out : undefined;
}

const ACCOUNT_RE = /^\d{12}$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const USER_RE = /^[UW][A-Z0-9]{2,}$/;
const GROUP_RE = /^S[A-Z0-9]{2,}$/;
const CHANNEL_RE = /^[CGD][A-Z0-9]{2,}$/;

const checkAccount = (s: string) => (ACCOUNT_RE.test(s) ? undefined : `must be a 12-digit AWS account id, got ${describe(s)}`);
const checkRegion = (s: string) => (REGION_RE.test(s) ? undefined : `must be an AWS region like us-east-1, got ${describe(s)}`);
const checkUser = (s: string) =>
  USER_RE.test(s) ? undefined : `must be a Slack user id like U012AB3CDE (not a name or @handle), got ${describe(s)}`;
const checkGroup = (s: string) =>
  GROUP_RE.test(s) ? undefined : `must be a Slack user group id like S012AB3CDE (not a name or @handle), got ${describe(s)}`;
const checkChannel = (s: string) =>
  CHANNEL_RE.test(s) ? undefined : `must be a Slack channel id like C012AB3CDE (not a #name), got ${describe(s)}`;

function checkTagKey(key: string): string | undefined {
  if (key.length === 0) return 'a tag key must not be empty';
  if (key.length > 128) return `a tag key is at most 128 characters, got ${key.length}`;
  return undefined;
}
function checkTagValue(value: string): string | undefined {
  return value.length > 256 ? `a tag value is at most 256 characters, got ${value.length}` : undefined;
}

/** Account ids written without quotes arrive as numbers: accepted only when no leading zero was lost. */
function accountList(v: unknown, path: string, pb: Problems): string[] | undefined {
  if (!Array.isArray(v)) return stringList(v, path, pb, checkAccount);
  const asStrings = v.map((item: unknown) => (typeof item === 'number' ? String(item) : item));
  return stringList(asStrings, path, pb, (s, i) => {
    if (typeof v[i] === 'number' && !ACCOUNT_RE.test(s)) {
      return `must be a 12-digit AWS account id in quotes, got ${s} (unquoted, leading zeros are lost)`;
    }
    return checkAccount(s);
  });
}

function slackChannel(v: unknown, path: string, pb: Problems): string | null | undefined {
  if (v === null) return null;
  if (typeof v !== 'string') {
    pb.add(path, `must be a Slack channel id like C012AB3CDE, got ${describe(v)}`);
    return undefined;
  }
  const problem = checkChannel(v);
  if (problem) pb.add(path, problem);
  return problem ? undefined : v;
}

function duration(v: unknown, path: string, pb: Problems): number | undefined {
  const ms = typeof v === 'string' ? parseDuration(v) : v === 0 ? 0 : undefined;
  if (ms === undefined) pb.add(path, `must be a duration like 30m, got ${describe(v)}`);
  return ms;
}

function integer(v: unknown, path: string, pb: Problems, min: number): number | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    pb.add(path, `must be an integer >= ${min}, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** A non-empty list of distinct TCP/UDP port numbers (integers 0..65535). */
function portList(v: unknown, path: string, pb: Problems): number[] | undefined {
  if (!Array.isArray(v)) {
    pb.add(path, `must be a list of port numbers like [22, 3389], got ${describe(v)}`);
    return undefined;
  }
  if (v.length === 0) {
    pb.add(path, 'must list at least one port (to leave the resources alone, set mode: off)');
    return undefined;
  }
  const out: number[] = [];
  let ok = true;
  v.forEach((item: unknown, i) => {
    const p = `${path}[${i}]`;
    if (typeof item !== 'number' || !Number.isInteger(item) || item < 0 || item > 65535) {
      ok = false;
      pb.add(p, `must be a port number (an integer from 0 to 65535), got ${describe(item)}`);
      return;
    }
    const first = v.indexOf(item);
    if (first !== i) {
      ok = false;
      pb.add(p, `port ${item} is listed twice (also at ${path}[${first}])`);
      return;
    }
    out.push(item);
  });
  return ok ? out : undefined;
}

/** What the fix does with a wide rule: split, revoke or approve. */
function wideRules(v: unknown, path: string, pb: Problems): WideRules | undefined {
  if (typeof v === 'string' && (WIDE_RULES as readonly string[]).includes(v)) return v as WideRules;
  pb.add(
    path,
    `must be split (revoke the rule and re-open the rest of it without the ports), revoke (the whole rule) or approve (split once a person approves), got ${describe(v)}`,
  );
  return undefined;
}

const PARTITION = String.raw`aws(?:-[a-z]+)*`;
const REGION = String.raw`[a-z]{2}(?:-[a-z]+)+-\d{1,2}`;
const KEY_ID = String.raw`(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})`;
const ALIAS = String.raw`alias/[A-Za-z0-9/_-]{1,250}`;
const KMS_KEY_RE = new RegExp(`^(?:${KEY_ID}|${ALIAS}|arn:${PARTITION}:kms:${REGION}:\\d{12}:(?:key/${KEY_ID}|${ALIAS}))$`);

const checkKmsKey = (s: string) =>
  KMS_KEY_RE.test(s)
    ? undefined
    : `must be a KMS key ARN (arn:aws:kms:us-east-1:123456789012:key/...), an alias (alias/my-key), an alias ARN or a key id, got ${describe(s)}`;

// ---- sections ----------------------------------------------------------------------------

/** A `defaults` or `controls.<id>` section, as far as it is valid: only the keys it sets. */
interface Section {
  mode?: Mode;
  scope?: { accounts?: string[]; regions?: string[]; tags?: Record<string, string> };
  requireApprovalWhenTagged?: Record<string, string[]>;
  approvers?: { users?: string[]; groups?: string[]; keys?: TrustedKey[] };
  /** null: no channel (unsets the default's). */
  channel?: string | null;
  escalation?: {
    remindAfterMs?: number;
    escalateAfterMs?: number;
    escalateTo?: { channel?: string | null; users?: string[]; groups?: string[] };
    timeoutAfterMs?: number;
    timeoutAction?: 'reject' | 'apply';
  };
  guardrails?: { maxAutoFixesPerHour?: number; flap?: { maxFixes?: number; windowMs?: number }; rejectionHoldMs?: number };
  settings?: {
    ports?: number[];
    wideRules?: WideRules;
    /** kmsKeyId null: no key (unsets an inherited one: S3 then uses its AWS managed key, aws/s3). */
    encryption?: { algorithm?: ControlSettings['encryption']['algorithm']; kmsKeyId?: string | null };
    /** The controls' own settings (their `settings` schemas), checked. */
    own?: Record<string, unknown>;
  };
  undo?: { windowMs?: number; exemptForMs?: number };
}

const SECTION_KEYS = ['mode', 'scope', 'requireApprovalWhenTagged', 'approvers', 'channel', 'escalation', 'guardrails', 'settings', 'undo'] as const;
const SCOPE_KEYS = ['accounts', 'regions', 'tags'] as const;
const APPROVER_KEYS = ['users', 'groups', 'keys'] as const;
const KEY_ENTRY_KEYS = ['name', 'publicKey', 'slack'] as const;
const RELAY_ENTRY_KEYS = ['name', 'publicKey'] as const;
const ESCALATION_KEYS = ['remindAfter', 'escalateAfter', 'escalateTo', 'timeoutAfter', 'timeoutAction'] as const;
const ESCALATE_TO_KEYS = ['channel', 'users', 'groups'] as const;
const GUARDRAIL_KEYS = ['maxAutoFixesPerHour', 'flap', 'rejectionHold'] as const;
const FLAP_KEYS = ['maxFixes', 'window'] as const;
const SETTINGS_KEYS = ['ports', 'wideRules', 'encryption'] as const;
const ENCRYPTION_KEYS = ['algorithm', 'kmsKeyId'] as const;
const ENCRYPTION_ALGORITHMS = ['AES256', 'aws:kms'] as const;
const UNDO_KEYS = ['window', 'exemptFor'] as const;
const TOP_KEYS = ['version', 'exemptions', 'defaults', 'controls', 'accounts', 'decisionRelays'] as const;
const ACCOUNT_GROUP_KEYS = ['name', 'ids', 'controls', ...SECTION_KEYS] as const;
const EXEMPTION_KEYS = ['tag'] as const;

/** Calls `read` for each key present in `obj`; a defined result is stored under the same key in `out`. */
function each<T extends object>(obj: Obj, out: T, fields: { [K in keyof T & string]-?: (v: unknown) => T[K] | undefined }): void {
  for (const key of Object.keys(fields) as (keyof T & string)[]) {
    if (!Object.hasOwn(obj, key)) continue;
    const value = fields[key](obj[key]);
    if (value !== undefined) out[key] = value;
  }
}

function tagSelectors(v: unknown, path: string, pb: Problems): Record<string, string> | undefined {
  if (!isObj(v)) {
    pb.add(path, `must be a mapping of tag key to value ("*" = any value), got ${describe(v)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  let ok = true;
  for (const [key, value] of Object.entries(v)) {
    const p = join(path, key);
    const problem =
      checkTagKey(key) ??
      (typeof value === 'string' ? checkTagValue(value) : `must be a string (quote values like "true" or "123"), got ${describe(value)}`);
    if (problem) {
      ok = false;
      pb.add(p, problem);
    } else out[key] = value as string;
  }
  return ok ? out : undefined;
}

function approvalConditions(v: unknown, path: string, pb: Problems): Record<string, string[]> | undefined {
  if (!isObj(v)) {
    pb.add(path, `must be a mapping of tag key to a list of values, got ${describe(v)}`);
    return undefined;
  }
  const out: Record<string, string[]> = {};
  let ok = true;
  for (const [key, value] of Object.entries(v)) {
    const p = join(path, key);
    const keyProblem = checkTagKey(key);
    if (keyProblem) {
      ok = false;
      pb.add(p, keyProblem);
      continue;
    }
    if (typeof value === 'string') {
      const problem = checkTagValue(value);
      if (problem) {
        ok = false;
        pb.add(p, problem);
      } else out[key] = [value];
      continue;
    }
    if (!Array.isArray(value)) {
      ok = false;
      pb.add(p, `must be a list of tag values (quote values like "true"), got ${describe(value)}`);
      continue;
    }
    if (value.length === 0) {
      ok = false;
      pb.add(p, 'must list at least one tag value ("*" = any value); remove the key to drop the condition');
      continue;
    }
    const list = stringList(value, p, pb, (s) => checkTagValue(s));
    if (list) out[key] = list;
    else ok = false;
  }
  return ok ? out : undefined;
}

const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/**
 * `approvers.keys` (operators: name, publicKey, slack?) or `decisionRelays` (name, publicKey): each
 * public key read in any accepted form and normalized to a `TrustedKey`. A name or a key listed
 * twice in one list is a problem; so is a list item that is not a mapping.
 */
function keyList(v: unknown, path: string, pb: Problems, kind: 'operator' | 'relay'): TrustedKey[] | undefined {
  const what = kind === 'operator' ? '{ name, publicKey, slack? } (an operator and the public key of their CLI signing key)' : '{ name, publicKey } (a trigger server and the public key of its DECISION_SIGNING_KEY_FILE)';
  if (v === null) return [];
  if (!Array.isArray(v)) {
    pb.add(path, `must be a list of ${what}, got ${describe(v)}`);
    return undefined;
  }
  const out: { key: TrustedKey; index: number }[] = [];
  let ok = true;
  v.forEach((item: unknown, i) => {
    const p = `${path}[${i}]`;
    const o = mapping(item, p, kind === 'operator' ? KEY_ENTRY_KEYS : RELAY_ENTRY_KEYS, pb);
    if (!o) {
      ok = false;
      return;
    }
    const name = o.name;
    const nameOk = typeof name === 'string' && KEY_NAME_RE.test(name);
    if (!nameOk) {
      ok = false;
      pb.add(join(p, 'name'), `required: a name of 1-64 letters, digits and ._@+- (${kind === 'operator' ? 'the operator, recorded as cli:<name> on their decisions' : 'the trigger server'}), got ${describe(name)}`);
    }
    let key: TrustedKey | undefined;
    if (!Object.hasOwn(o, 'publicKey')) {
      ok = false;
      pb.add(join(p, 'publicKey'), `required: the Ed25519 public key (npm run cli -- keys show prints it)`);
    } else {
      const parsed = parseDecisionPublicKey(o.publicKey);
      if ('problem' in parsed) {
        ok = false;
        pb.add(join(p, 'publicKey'), parsed.problem);
      } else if (nameOk) key = trustedKey(parsed.raw, name as string);
    }
    let slack: string | undefined;
    if (Object.hasOwn(o, 'slack')) {
      const problem = typeof o.slack === 'string' ? checkUser(o.slack) : `must be the operator's Slack user id, got ${describe(o.slack)}`;
      if (problem) {
        ok = false;
        pb.add(join(p, 'slack'), problem);
      } else slack = o.slack as string;
    }
    if (!key) return;
    const sameName = out.find((k) => k.key.name === key.name);
    const sameKey = out.find((k) => k.key.keyId === key.keyId);
    if (sameName) {
      ok = false;
      pb.add(join(p, 'name'), `${key.name} is listed twice (also at ${path}[${sameName.index}])`);
    } else if (sameKey) {
      ok = false;
      pb.add(join(p, 'publicKey'), `key ${key.keyId} is listed twice (also at ${path}[${sameKey.index}], as ${sameKey.key.name})`);
    } else out.push({ key: slack ? { ...key, slack } : key, index: i });
  });
  return ok ? out.map((k) => k.key) : undefined;
}

/**
 * Keys across the whole policy: a key names one holder everywhere (the CLI finds its operator's
 * name by the key), and a decision relay's key is nobody's operator key (a relay could otherwise
 * sign CLI decisions).
 */
function keyConsistencyProblems(lists: readonly { path: string; keys: readonly TrustedKey[] }[], relays: readonly TrustedKey[], pb: Problems): void {
  const seen = new Map<string, { name: string; path: string }>();
  for (const { path, keys } of lists) {
    keys.forEach((k, i) => {
      const relay = relays.find((r) => r.keyId === k.keyId);
      if (relay) pb.add(`${path}[${i}].publicKey`, `key ${k.keyId} is the decision relay ${relay.name}'s (decisionRelays): an operator needs a key of their own`);
      const earlier = seen.get(k.keyId);
      if (earlier && earlier.name !== k.name) pb.add(`${path}[${i}].name`, `key ${k.keyId} is listed as ${earlier.name} at ${earlier.path}: one key names one operator`);
      else if (!earlier) seen.set(k.keyId, { name: k.name, path: `${path}[${i}]` });
    });
  }
}

/**
 * The settings keys the controls declare themselves (each control's zod `settings`), with the
 * schema of each: those of `control` for its own section, those of every control for defaults and
 * account groups.
 */
function ownSettingSchemas(control: string | undefined): Map<string, ZodType> {
  const out = new Map<string, ZodType>();
  for (const c of registeredControls()) {
    if (control !== undefined && c.id !== control) continue;
    for (const [k, schema] of Object.entries(c.settings?.shape ?? {})) if (!out.has(k)) out.set(k, schema as ZodType);
  }
  return out;
}

function readSectionAt(v: unknown, path: string, pb: Problems, control?: string): Section {
  // `controls: { s3-block-public-access: }` (an empty section) is allowed and means "the defaults".
  if (v === null) return {};
  const obj = mapping(v, path, SECTION_KEYS, pb);
  if (!obj) return {};
  const out: Section = {};
  each(obj, out, {
    mode: (m) => {
      if (typeof m === 'string' && (MODES as readonly string[]).includes(m)) return m as Mode;
      pb.add(join(path, 'mode'), `must be one of ${MODES.join(', ')}, got ${describe(m)}`);
      return undefined;
    },
    scope: (s) => {
      const p = join(path, 'scope');
      const o = mapping(s, p, SCOPE_KEYS, pb);
      if (!o) return undefined;
      const scope: NonNullable<Section['scope']> = {};
      each(o, scope, {
        accounts: (a) => accountList(a, join(p, 'accounts'), pb),
        regions: (r) => stringList(r, join(p, 'regions'), pb, checkRegion),
        tags: (t) => tagSelectors(t, join(p, 'tags'), pb),
      });
      return scope;
    },
    requireApprovalWhenTagged: (r) => approvalConditions(r, join(path, 'requireApprovalWhenTagged'), pb),
    approvers: (a) => {
      const p = join(path, 'approvers');
      const o = mapping(a, p, APPROVER_KEYS, pb);
      if (!o) return undefined;
      const approvers: NonNullable<Section['approvers']> = {};
      each(o, approvers, {
        users: (u) => stringList(u, join(p, 'users'), pb, checkUser),
        groups: (g) => stringList(g, join(p, 'groups'), pb, checkGroup),
        keys: (k) => keyList(k, join(p, 'keys'), pb, 'operator'),
      });
      return approvers;
    },
    channel: (c) => slackChannel(c, join(path, 'channel'), pb),
    escalation: (e) => {
      const p = join(path, 'escalation');
      const o = mapping(e, p, ESCALATION_KEYS, pb);
      if (!o) return undefined;
      const esc: NonNullable<Section['escalation']> = {};
      const steps = [
        ['remindAfter', 'remindAfterMs'],
        ['escalateAfter', 'escalateAfterMs'],
        ['timeoutAfter', 'timeoutAfterMs'],
      ] as const;
      for (const [key, field] of steps) {
        if (!Object.hasOwn(o, key)) continue;
        const ms = duration(o[key], join(p, key), pb);
        if (ms === 0 && key === 'timeoutAfter') pb.add(join(p, key), 'must be longer than 0: every approval request ends');
        else if (ms !== undefined) esc[field] = ms;
      }
      if (Object.hasOwn(o, 'timeoutAction')) {
        const a = o.timeoutAction;
        if (a === 'reject' || a === 'apply') esc.timeoutAction = a;
        else pb.add(join(p, 'timeoutAction'), `must be reject or apply, got ${describe(a)}`);
      }
      if (Object.hasOwn(o, 'escalateTo')) {
        const tp = join(p, 'escalateTo');
        const to = mapping(o.escalateTo, tp, ESCALATE_TO_KEYS, pb);
        if (to) {
          const target: NonNullable<NonNullable<Section['escalation']>['escalateTo']> = {};
          each(to, target, {
            channel: (c) => slackChannel(c, join(tp, 'channel'), pb),
            users: (u) => stringList(u, join(tp, 'users'), pb, checkUser),
            groups: (g) => stringList(g, join(tp, 'groups'), pb, checkGroup),
          });
          esc.escalateTo = target;
        }
      }
      return esc;
    },
    guardrails: (g) => {
      const p = join(path, 'guardrails');
      const o = mapping(g, p, GUARDRAIL_KEYS, pb);
      if (!o) return undefined;
      const guardrails: NonNullable<Section['guardrails']> = {};
      each(o, guardrails as Omit<typeof guardrails, 'rejectionHoldMs'>, {
        maxAutoFixesPerHour: (n) => integer(n, join(p, 'maxAutoFixesPerHour'), pb, 0),
        flap: (f) => {
          const fp = join(p, 'flap');
          const fo = mapping(f, fp, FLAP_KEYS, pb);
          if (!fo) return undefined;
          const flap: { maxFixes?: number; windowMs?: number } = {};
          if (Object.hasOwn(fo, 'maxFixes')) {
            const n = integer(fo.maxFixes, join(fp, 'maxFixes'), pb, 1);
            if (n !== undefined) flap.maxFixes = n;
          }
          if (Object.hasOwn(fo, 'window')) {
            const ms = duration(fo.window, join(fp, 'window'), pb);
            if (ms === 0) pb.add(join(fp, 'window'), 'must be longer than 0');
            else if (ms !== undefined) flap.windowMs = ms;
          }
          return flap;
        },
      });
      if (Object.hasOwn(o, 'rejectionHold')) {
        const ms = duration(o.rejectionHold, join(p, 'rejectionHold'), pb);
        if (ms !== undefined) guardrails.rejectionHoldMs = ms;
      }
      return guardrails;
    },
    settings: (st) => {
      const p = join(path, 'settings');
      const own = ownSettingSchemas(control);
      const o = mapping(st, p, [...SETTINGS_KEYS, ...own.keys()], pb);
      if (!o) return undefined;
      const settings: NonNullable<Section['settings']> = {};
      for (const [k, schema] of own) {
        if (!Object.hasOwn(o, k)) continue;
        const r = schema.safeParse(o[k]);
        if (r.success) (settings.own ??= {})[k] = r.data;
        else for (const issue of r.error.issues) pb.add([join(p, k), ...issue.path.map(String)].join('.'), issue.message);
      }
      each(o, settings, {
        own: () => undefined,
        ports: (v) => portList(v, join(p, 'ports'), pb),
        wideRules: (w) => wideRules(w, join(p, 'wideRules'), pb),
        encryption: (e) => {
          const ep = join(p, 'encryption');
          const eo = mapping(e, ep, ENCRYPTION_KEYS, pb);
          if (!eo) return undefined;
          const enc: NonNullable<NonNullable<Section['settings']>['encryption']> = {};
          each(eo, enc, {
            algorithm: (a) => {
              if (typeof a === 'string' && (ENCRYPTION_ALGORITHMS as readonly string[]).includes(a)) return a as 'AES256' | 'aws:kms';
              pb.add(join(ep, 'algorithm'), `must be AES256 (keys S3 manages) or aws:kms (a KMS key), got ${describe(a)}`);
              return undefined;
            },
            kmsKeyId: (k) => {
              if (k === null) return null;
              const problem = typeof k === 'string' ? checkKmsKey(k) : `must be a KMS key ARN, alias or key id, got ${describe(k)}`;
              if (problem) pb.add(join(ep, 'kmsKeyId'), problem);
              return problem ? undefined : (k as string);
            },
          });
          return enc;
        },
      });
      return settings;
    },
    undo: (u) => {
      const p = join(path, 'undo');
      const o = mapping(u, p, UNDO_KEYS, pb);
      if (!o) return undefined;
      const undo: NonNullable<Section['undo']> = {};
      if (Object.hasOwn(o, 'window')) {
        const ms = duration(o.window, join(p, 'window'), pb);
        if (ms !== undefined) undo.windowMs = ms;
      }
      if (Object.hasOwn(o, 'exemptFor')) {
        const ms = duration(o.exemptFor, join(p, 'exemptFor'), pb);
        if (ms !== undefined) undo.exemptForMs = ms;
      }
      return undo;
    },
  });
  return out;
}

/** `base` with every key `section` sets replaced, key by key down to the leaves; lists and tag maps are replaced whole. */
function merge(base: Effective, s: Section): Effective {
  const channel = s.channel === undefined ? base.channel : (s.channel ?? undefined);
  const to = s.escalation?.escalateTo;
  const escalateToChannel = to?.channel === undefined ? base.escalation.escalateTo.channel : (to.channel ?? undefined);
  const escalateTo: EscalationLadder['escalateTo'] = {
    ...(escalateToChannel === undefined ? {} : { channel: escalateToChannel }),
    users: to?.users ?? base.escalation.escalateTo.users,
    groups: to?.groups ?? base.escalation.escalateTo.groups,
  };
  return {
    mode: s.mode ?? base.mode,
    scope: {
      accounts: s.scope?.accounts ?? base.scope.accounts,
      regions: s.scope?.regions ?? base.scope.regions,
      tags: s.scope?.tags ?? base.scope.tags,
    },
    requireApprovalWhenTagged: s.requireApprovalWhenTagged ?? base.requireApprovalWhenTagged,
    approvers: {
      users: s.approvers?.users ?? base.approvers.users,
      groups: s.approvers?.groups ?? base.approvers.groups,
      keys: s.approvers?.keys ?? base.approvers.keys ?? [],
    },
    ...(channel === undefined ? {} : { channel }),
    escalation: {
      remindAfterMs: s.escalation?.remindAfterMs ?? base.escalation.remindAfterMs,
      escalateAfterMs: s.escalation?.escalateAfterMs ?? base.escalation.escalateAfterMs,
      escalateTo,
      timeoutAfterMs: s.escalation?.timeoutAfterMs ?? base.escalation.timeoutAfterMs,
      timeoutAction: s.escalation?.timeoutAction ?? base.escalation.timeoutAction,
    },
    guardrails: {
      maxAutoFixesPerHour: s.guardrails?.maxAutoFixesPerHour ?? base.guardrails.maxAutoFixesPerHour,
      flap: {
        maxFixes: s.guardrails?.flap?.maxFixes ?? base.guardrails.flap.maxFixes,
        windowMs: s.guardrails?.flap?.windowMs ?? base.guardrails.flap.windowMs,
      },
      rejectionHoldMs: s.guardrails?.rejectionHoldMs ?? base.guardrails.rejectionHoldMs,
    },
    settings: {
      ...base.settings,
      ...(s.settings?.own ?? {}),
      ports: s.settings?.ports ?? base.settings.ports,
      wideRules: s.settings?.wideRules ?? base.settings.wideRules,
      encryption: mergeEncryption(base.settings.encryption, s.settings?.encryption),
    },
    undo: {
      windowMs: s.undo?.windowMs ?? base.undo.windowMs,
      exemptForMs: s.undo?.exemptForMs ?? base.undo.exemptForMs,
    },
  };
}

/**
 * Encryption merged key by key, with two rules for the key: `kmsKeyId: null` unsets an inherited
 * one, and `algorithm: AES256` drops it (a KMS key means nothing without aws:kms).
 */
function mergeEncryption(
  base: ControlSettings['encryption'],
  s: NonNullable<Section['settings']>['encryption'],
): ControlSettings['encryption'] {
  const algorithm = s?.algorithm ?? base.algorithm;
  const kmsKeyId = s?.kmsKeyId !== undefined ? (s.kmsKeyId ?? undefined) : s?.algorithm === 'AES256' ? undefined : base.kmsKeyId;
  return kmsKeyId === undefined ? { algorithm } : { algorithm, kmsKeyId };
}

/** A KMS key set in `section` whose effective algorithm is not aws:kms. */
function kmsKeyProblems(section: Section, effective: Effective, path: string, pb: Problems): void {
  const key = section.settings?.encryption?.kmsKeyId;
  const { algorithm } = effective.settings.encryption;
  if (typeof key === 'string' && algorithm !== 'aws:kms') {
    const where = section.settings?.encryption?.algorithm === undefined ? ' (inherited)' : '';
    pb.add(`${path}.settings.encryption.kmsKeyId`, `only applies with algorithm aws:kms, but the algorithm is ${algorithm}${where}`);
  }
}

/** What is wrong with the undo settings as a whole (each duration alone was checked when read). */
function undoProblems(u: UndoSettings): string[] {
  if (u.windowMs > 0 && u.exemptForMs === 0) {
    return [
      `exemptFor must be longer than 0 when window (${formatDuration(u.windowMs)}) is not 0: a reverted resource would be fixed again at once`,
    ];
  }
  return [];
}

/** What is wrong with the ladder's order (remindAfter <= escalateAfter < timeoutAfter, steps at 0 left out). */
function ladderProblems(l: EscalationLadder): string[] {
  const f = formatDuration;
  const out: string[] = [];
  if (l.remindAfterMs > 0 && l.escalateAfterMs > 0 && l.remindAfterMs > l.escalateAfterMs) {
    out.push(`remindAfter (${f(l.remindAfterMs)}) must not be after escalateAfter (${f(l.escalateAfterMs)})`);
  }
  if (l.escalateAfterMs > 0 && l.escalateAfterMs >= l.timeoutAfterMs) {
    out.push(`escalateAfter (${f(l.escalateAfterMs)}) must be before timeoutAfter (${f(l.timeoutAfterMs)})`);
  }
  if (l.remindAfterMs > 0 && l.remindAfterMs >= l.timeoutAfterMs) {
    out.push(`remindAfter (${f(l.remindAfterMs)}) must be before timeoutAfter (${f(l.timeoutAfterMs)})`);
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The YAML document's value, or the syntax problems (with line and column). */
function parseYaml(text: string, pb: Problems): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const where = e.linePos?.[0];
      const message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
      pb.add('', `YAML syntax error${where ? ` at line ${where.line}, column ${where.col}` : ''}: ${message}`);
    }
    return undefined;
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    pb.add('', `YAML error: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

// ---- the policy --------------------------------------------------------------------------

/**
 * Parses and validates a policy file's text. Every registered control gets an effective
 * policy: the built-in defaults, then the file's `defaults`, then the control's own section,
 * merged key by key. A mode that is not set in the control's own section (controls.<id>, or an
 * account group's controls.<id>) never goes past the control's catalog default: `defaults: {mode:
 * auto}` leaves a control that defaults to approve at approve, so a policy written before a
 * control existed never lets it change things unasked. A control without an automatic fix only
 * ever gets notify, dry-run or off: `auto` or `approve` in its own section is a problem. Throws
 * one InvalidInputError listing every problem, each with its path.
 */
export function parsePolicy(text: string, source = 'policy'): Policy {
  const pb = new Problems();
  const fail = () => new InvalidInputError(`invalid policy ${source}`, pb.list);
  const value = parseYaml(text, pb);
  if (pb.list.length > 0) throw fail();
  if (value === null || value === undefined) {
    pb.add('', 'the policy is empty: it must be a mapping that starts with version: 1');
    throw fail();
  }
  const top = mapping(value, '', TOP_KEYS, pb);
  if (!top) throw fail();

  if (!Object.hasOwn(top, 'version')) pb.add('version', 'required: must be 1');
  else if (top.version !== 1) pb.add('version', `must be 1, got ${describe(top.version)}`);

  let exemptionTag = DEFAULT_EXEMPTION_TAG;
  if (Object.hasOwn(top, 'exemptions')) {
    const ex = mapping(top.exemptions, 'exemptions', EXEMPTION_KEYS, pb);
    if (ex && Object.hasOwn(ex, 'tag')) {
      const tag = ex.tag;
      const problem =
        typeof tag !== 'string'
          ? `must be a tag key, got ${describe(tag)}`
          : tag.trim().length === 0
            ? 'must not be empty'
            : tag.length > 128
              ? `a tag key is at most 128 characters, got ${tag.length}`
              : undefined;
      if (problem) pb.add('exemptions.tag', problem);
      else exemptionTag = tag as string;
    }
  }

  // Every approvers.keys list, by its path, for the checks across the whole policy.
  const keyLists: { path: string; keys: readonly TrustedKey[] }[] = [];
  const readSection = (v: unknown, path: string, problems: Problems, control?: string): Section => {
    const section = readSectionAt(v, path, problems, control);
    if (section.approvers?.keys) keyLists.push({ path: join(join(path, 'approvers'), 'keys'), keys: section.approvers.keys });
    return section;
  };

  const decisionRelays = Object.hasOwn(top, 'decisionRelays') ? (keyList(top.decisionRelays, 'decisionRelays', pb, 'relay') ?? []) : [];

  const defaultsSection = Object.hasOwn(top, 'defaults') ? readSection(top.defaults, 'defaults', pb) : {};
  const defaults = merge(BUILTIN_DEFAULTS, defaultsSection);
  const defaultLadderProblems = ladderProblems(defaults.escalation);
  for (const problem of defaultLadderProblems) pb.add('defaults.escalation', problem);
  const defaultUndoProblems = undoProblems(defaults.undo);
  for (const problem of defaultUndoProblems) pb.add('defaults.undo', problem);
  kmsKeyProblems(defaultsSection, defaults, 'defaults', pb);

  const known: readonly string[] = registeredControlIds();
  const sections = new Map<ControlId, Section>();
  if (Object.hasOwn(top, 'controls') && top.controls !== null) {
    if (!isObj(top.controls)) {
      pb.add('controls', `must be a mapping of control id to its section, got ${describe(top.controls)}`);
    } else {
      for (const [id, section] of Object.entries(top.controls)) {
        const path = `controls.${id}`;
        if (!known.includes(id)) {
          pb.add(path, `unknown control (${suggestion(id, known)}supported: ${known.join(', ')})`);
          continue;
        }
        sections.set(id as ControlId, readSection(section, path, pb, id));
      }
    }
  }

  /**
   * The effective policy of `control` from layers over the defaults (the control's section, then
   * an account group's, then the group's own section for the control). What is wrong with the
   * defaults' ladder or undo is reported once, under defaults; a layer's own mistakes under its path.
   */
  const effectiveControl = (control: ControlId, layers: readonly { section: Section; path: string }[]): ControlPolicy => {
    let effective = defaults;
    for (const { section, path } of layers) {
      effective = merge(effective, section);
      if (section.escalation) {
        for (const problem of ladderProblems(effective.escalation)) {
          if (!defaultLadderProblems.includes(problem)) pb.add(`${path}.escalation`, problem);
        }
      }
      if (section.undo) {
        for (const problem of undoProblems(effective.undo)) {
          if (!defaultUndoProblems.includes(problem)) pb.add(`${path}.undo`, problem);
        }
      }
      kmsKeyProblems(section, effective, path, pb);
    }
    const { fixable, catalog } = requireControl(control);
    const own = layers.filter((l) => l.path.endsWith(`controls.${control}`) && l.section.mode !== undefined);
    // Where the mode in force was said: the last layer that sets one (none: defaults or built in).
    const modeFrom = [...layers].reverse().find((l) => l.section.mode !== undefined);
    const ownMode = modeFrom !== undefined && modeFrom.path.endsWith(`controls.${control}`);
    if (!fixable && !NOTIFY_ONLY_MODES.includes(effective.mode)) {
      // Said in a section of the control itself: a mistake. Inherited (defaults, an account group, built in): notify.
      for (const l of own) {
        pb.add(`${l.path}.mode`, `must be notify, dry-run or off: ${control} has no automatic fix, got ${describe(l.section.mode)}`);
      }
      effective = { ...effective, mode: 'notify' };
    } else if (!ownMode && LATITUDE[effective.mode] > LATITUDE[catalog.defaultMode]) {
      // Inherited: never more than the control's own default without its own section saying so.
      effective = { ...effective, mode: catalog.defaultMode };
    }
    return structuredClone({ control, ...effective });
  };

  const controls = {} as Record<ControlId, ControlPolicy>;
  for (const control of known) {
    const section = sections.get(control);
    controls[control] = effectiveControl(control, section ? [{ section, path: `controls.${control}` }] : []);
  }

  const accountGroups: AccountGroup[] = [];
  if (Object.hasOwn(top, 'accounts') && top.accounts !== null) {
    if (!Array.isArray(top.accounts)) {
      pb.add('accounts', `must be a list of account groups ({ name, ids, and any key of defaults }), got ${describe(top.accounts)}`);
    } else {
      const seen = new Map<string, string>();
      top.accounts.forEach((g: unknown, i: number) => {
        const path = `accounts[${i}]`;
        const obj = mapping(g, path, ACCOUNT_GROUP_KEYS, pb);
        if (!obj) return;
        const name = obj.name;
        if (typeof name !== 'string' || name.trim() === '') pb.add(join(path, 'name'), `required: a name for the group, e.g. production, got ${describe(name)}`);
        const label = typeof name === 'string' && name.trim() !== '' ? name : path;
        const ids = Object.hasOwn(obj, 'ids') ? accountList(obj.ids, join(path, 'ids'), pb) : undefined;
        if (!Object.hasOwn(obj, 'ids')) pb.add(join(path, 'ids'), 'required: the 12-digit account ids of the group, quoted');
        else if (ids && ids.length === 0) pb.add(join(path, 'ids'), 'must name at least one account');
        for (const id of ids ?? []) {
          const earlier = seen.get(id);
          if (earlier) pb.add(join(path, 'ids'), `account ${id} is already in ${earlier}: an account belongs to one group`);
          else seen.set(id, `accounts[${i}] (${label})`);
        }
        const rest = Object.fromEntries(Object.entries(obj).filter(([k]) => (SECTION_KEYS as readonly string[]).includes(k)));
        const groupSection = readSection(rest, path, pb);
        const own = new Map<ControlId, Section>();
        if (Object.hasOwn(obj, 'controls') && obj.controls !== null) {
          if (!isObj(obj.controls)) pb.add(join(path, 'controls'), `must be a mapping of control id to its section, got ${describe(obj.controls)}`);
          else {
            for (const [id, section] of Object.entries(obj.controls)) {
              const cpath = `${path}.controls.${id}`;
              if (!known.includes(id)) {
                pb.add(cpath, `unknown control (${suggestion(id, known)}supported: ${known.join(', ')})`);
                continue;
              }
              own.set(id as ControlId, readSection(section, cpath, pb, id));
            }
          }
        }
        const groupControls = {} as Record<ControlId, ControlPolicy>;
        for (const control of known) {
          const layers = [
            ...(sections.has(control) ? [{ section: sections.get(control)!, path: `controls.${control}` }] : []),
            { section: groupSection, path },
            ...(own.has(control) ? [{ section: own.get(control)!, path: `${path}.controls.${control}` }] : []),
          ];
          groupControls[control] = effectiveControl(control, layers);
        }
        accountGroups.push({ name: label, ids: ids ?? [], controls: groupControls });
      });
    }
  }

  keyConsistencyProblems(keyLists, decisionRelays, pb);

  if (pb.list.length > 0) throw fail();
  return deepFreeze({
    version: 1,
    hash: createHash('sha256').update(text, 'utf8').digest('hex'),
    exemptionTag,
    decisionRelays,
    controls,
    ...(accountGroups.length ? { accounts: accountGroups } : {}),
  });
}

/**
 * Things in a valid policy that probably are not what was meant, for the CLI and the worker to
 * print at startup: approvals nobody can give (from Slack or the CLI), Slack approvers without a
 * decision relay to vouch for their clicks, unanswered approvals that apply, notify mode with
 * nowhere to notify.
 */
export function policyWarnings(p: Policy): string[] {
  const warnings: string[] = [];
  for (const id of Object.keys(p.controls)) {
    const c = p.controls[id]!;
    const path = `controls.${id}`;
    const asks = c.mode === 'approve' || (c.mode === 'auto' && Object.keys(c.requireApprovalWhenTagged).length > 0);
    const noApprovers = c.approvers.users.length === 0 && c.approvers.groups.length === 0;
    if (asks && noApprovers) {
      const why = c.channel === undefined ? 'no Slack approvers or channel' : `requests go to channel ${c.channel} but no Slack approvers are listed`;
      warnings.push(
        (c.approvers.keys ?? []).length === 0
          ? `${path}: nobody can approve: ${why}, and no operator keys (approvers.keys) for the CLI`
          : `${path}: approvals can only be given from the CLI: ${why}`,
      );
    }
    if (asks && !noApprovers && (p.decisionRelays ?? []).length === 0) {
      warnings.push(`${path}: Slack approvers are listed but the policy has no decisionRelays: their decisions from Slack are refused`);
    }
    if (asks && c.escalation.timeoutAction === 'apply') {
      warnings.push(`${path}: an approval request nobody answers is applied after ${formatDuration(c.escalation.timeoutAfterMs)} (escalation.timeoutAction: apply)`);
    }
    if (c.mode === 'notify' && c.channel === undefined) {
      warnings.push(`${path}: mode is notify but no Slack channel is set: nobody is told in Slack`);
    }
  }
  return warnings;
}

/** Reads and parses a policy file; a missing or unreadable file is an InvalidInputError naming it. */
export async function loadPolicyFile(path: string): Promise<Policy> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`;
    throw new InvalidInputError(`invalid policy ${path}`, [problem]);
  }
  let text: string;
  try {
    // fatal: the hash must be of the file's bytes, so no silent replacement; ignoreBOM: keep it in the hash.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InvalidInputError(`invalid policy ${path}`, [`${path}: not valid UTF-8`]);
  }
  return parsePolicy(text, path);
}

/** The account group `account` belongs to, if the policy has one for it. */
export function accountGroupOf(p: Policy, account: string | undefined): AccountGroup | undefined {
  return account === undefined ? undefined : p.accounts?.find((g) => g.ids.includes(account));
}

/** The effective policy of `control` for a resource of `account` (its account group's, when it is in one). */
export function controlPolicyFor(p: Policy, control: ControlId, account?: string): ControlPolicy {
  const group = accountGroupOf(p, account);
  const c = (group?.controls ?? (p.controls as Partial<Record<string, ControlPolicy>>))[control];
  if (!c) throw new InvalidInputError(`policy ${p.hash.slice(0, 12)}`, [`controls.${control}: no policy for this control`]);
  return c;
}

/** What a workflow of `control` receives, for a resource of `account`. */
export function snapshotFor(p: Policy, control: ControlId, account?: string): PolicySnapshot {
  const group = accountGroupOf(p, account);
  return {
    hash: p.hash,
    exemptionTag: p.exemptionTag,
    control: controlPolicyFor(p, control, account),
    ...(group ? { accountGroup: group.name } : {}),
    decisionRelays: p.decisionRelays ?? [],
  };
}

/**
 * Every operator key the policy lists (any control, any account group), once each: the CLI finds
 * its operator's name here by the key id.
 */
export function operatorKeys(p: Policy): TrustedKey[] {
  const out = new Map<string, TrustedKey>();
  const controls = [...Object.values(p.controls), ...(p.accounts ?? []).flatMap((g) => Object.values(g.controls))];
  for (const c of controls) for (const k of c.approvers.keys ?? []) if (!out.has(k.keyId)) out.set(k.keyId, k);
  return [...out.values()];
}
