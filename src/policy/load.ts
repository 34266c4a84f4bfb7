/**
 * Loads and validates the policy file (YAML; the shipped default, policy/default.yaml,
 * documents every key). Node side only: workflows receive a `PolicySnapshot`, never this module.
 *
 * A policy either loads completely or not at all: every problem in the file is collected, each
 * with its path, and thrown together as one `InvalidInputError`. What each key may hold is the
 * zod schema of src/policy/schema.ts (also the JSON Schema editors check with); this module merges
 * the layers and checks what spans them.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { InvalidInputError } from '../errors.js';
import { registeredControlIds, registeredControls, requireControl } from '../activities/controls/index.js';
import type { ControlId } from '../findings/finding.js';
import { formatDuration } from './decide.js';
import { describe, policyJsonSchema, policySchema, problemsFrom, type Section } from './schema.js';
import type { TrustedKey } from '../decisions/signed.js';
import {
  type AccountGroup,
  type ControlPolicy,
  type ControlSettings,
  type EscalationLadder,
  type Mode,
  type Policy,
  type PolicySnapshot,
  type UndoSettings,
} from './types.js';

export { parseDuration } from './schema.js';

/** The shipped default policy. */
export const DEFAULT_POLICY_PATH = fileURLToPath(new URL('../../policy/default.yaml', import.meta.url));

/** The JSON Schema of policy files with the built-in controls, for editors (`policySchemaText`; a test keeps it current). */
export const POLICY_SCHEMA_PATH = fileURLToPath(new URL('../../policy/policy.schema.json', import.meta.url));

/** The JSON Schema of policy files for the registered controls, as the file policy/policy.schema.json holds it. */
export function policySchemaText(): string {
  return `${JSON.stringify(policyJsonSchema(registeredControls()), null, 2)}\n`;
}

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

// ---- problems ----------------------------------------------------------------------------

class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(path === '' ? message : `${path}: ${message}`);
  }
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

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

const STANDARD_SETTINGS: readonly string[] = ['ports', 'wideRules', 'encryption'];

/** The controls' own settings a section sets (each control's `settings` schema, checked). */
function ownSettings(settings: Section['settings']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings ?? {}).filter(([k, v]) => !STANDARD_SETTINGS.includes(k) && v !== undefined));
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
      remindAfterMs: s.escalation?.remindAfter ?? base.escalation.remindAfterMs,
      escalateAfterMs: s.escalation?.escalateAfter ?? base.escalation.escalateAfterMs,
      escalateTo,
      timeoutAfterMs: s.escalation?.timeoutAfter ?? base.escalation.timeoutAfterMs,
      timeoutAction: s.escalation?.timeoutAction ?? base.escalation.timeoutAction,
    },
    guardrails: {
      maxAutoFixesPerHour: s.guardrails?.maxAutoFixesPerHour ?? base.guardrails.maxAutoFixesPerHour,
      flap: {
        maxFixes: s.guardrails?.flap?.maxFixes ?? base.guardrails.flap.maxFixes,
        windowMs: s.guardrails?.flap?.window ?? base.guardrails.flap.windowMs,
      },
      rejectionHoldMs: s.guardrails?.rejectionHold ?? base.guardrails.rejectionHoldMs,
    },
    settings: {
      ...base.settings,
      ...ownSettings(s.settings),
      ports: s.settings?.ports ?? base.settings.ports,
      wideRules: s.settings?.wideRules ?? base.settings.wideRules,
      encryption: mergeEncryption(base.settings.encryption, s.settings?.encryption),
    },
    undo: {
      windowMs: s.undo?.window ?? base.undo.windowMs,
      exemptForMs: s.undo?.exemptFor ?? base.undo.exemptForMs,
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
  const controlsKnown = registeredControls();
  const strict = policySchema(controlsKnown).safeParse(value);
  if (!strict.success) {
    pb.list.push(...problemsFrom(strict.error.issues));
    // The top level is not even a mapping: nothing to check across layers.
    if (strict.error.issues.some((i) => i.path.length === 0 && i.code !== 'unrecognized_keys')) throw fail();
  }
  // With problems, the checks across layers still run on everything valid, so all are listed at once.
  const top = strict.success ? strict.data : policySchema(controlsKnown, { salvage: true }).parse(value);

  const exemptionTag = top.exemptions?.tag ?? DEFAULT_EXEMPTION_TAG;

  // Every approvers.keys list, by its path, for the checks across the whole policy.
  const keyLists: { path: string; keys: readonly TrustedKey[] }[] = [];
  const noteKeys = (section: Section, path: string): Section => {
    if (section.approvers?.keys) keyLists.push({ path: join(join(path, 'approvers'), 'keys'), keys: section.approvers.keys });
    return section;
  };

  const decisionRelays = top.decisionRelays ?? [];

  const defaultsSection = noteKeys(top.defaults ?? {}, 'defaults');
  const defaults = merge(BUILTIN_DEFAULTS, defaultsSection);
  const defaultLadderProblems = ladderProblems(defaults.escalation);
  for (const problem of defaultLadderProblems) pb.add('defaults.escalation', problem);
  const defaultUndoProblems = undoProblems(defaults.undo);
  for (const problem of defaultUndoProblems) pb.add('defaults.undo', problem);
  kmsKeyProblems(defaultsSection, defaults, 'defaults', pb);

  const known: readonly string[] = registeredControlIds();
  /** The sections of `controls` (top level or an account group's) that the file has, by control id. */
  const sectionsOf = (controls: Readonly<Record<string, Section | undefined>> | undefined, path: string): Map<ControlId, Section> => {
    const out = new Map<ControlId, Section>();
    for (const id of known) {
      const section = controls?.[id];
      if (section !== undefined) out.set(id, noteKeys(section, `${path}.${id}`));
    }
    return out;
  };
  const sections = sectionsOf(top.controls, 'controls');
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
  const seen = new Map<string, string>();
  (top.accounts ?? []).forEach((g, i) => {
    const path = `accounts[${i}]`;
    // In a file with problems, a group's name or ids that did not check out are absent.
    const name = g.name as string | undefined;
    const label = name ?? path;
    const ids = (g.ids as string[] | undefined) ?? [];
    for (const id of ids) {
      const earlier = seen.get(id);
      if (earlier) pb.add(join(path, 'ids'), `account ${id} is already in ${earlier}: an account belongs to one group`);
      else seen.set(id, `accounts[${i}] (${label})`);
    }
    const { name: _name, ids: _ids, controls: groupControlSections, ...rest } = g;
    const groupSection = noteKeys(rest, path);
    const own = sectionsOf(groupControlSections, `${path}.controls`);
    const groupControls = {} as Record<ControlId, ControlPolicy>;
    for (const control of known) {
      const layers = [
        ...(sections.has(control) ? [{ section: sections.get(control)!, path: `controls.${control}` }] : []),
        { section: groupSection, path },
        ...(own.has(control) ? [{ section: own.get(control)!, path: `${path}.controls.${control}` }] : []),
      ];
      groupControls[control] = effectiveControl(control, layers);
    }
    accountGroups.push({ name: label, ids, controls: groupControls });
  });

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
