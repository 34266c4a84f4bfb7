/**
 * The policy file's schema: every key, what it may hold, and the exact problem reported when it
 * holds something else. One zod schema is the single source of truth for
 *   - the loader (src/policy/load.ts parses the YAML with it, then merges the layers and checks
 *     what spans them: the ladder's order, undo, the KMS key, modes, keys across lists), and
 *   - the JSON Schema editors use to complete and check policy files (`policyJsonSchema`,
 *     published as policy/policy.schema.json; `npm run cli -- policy schema` prints it with any
 *     controls of one's own).
 * The schema is built from the registered controls: each control's section, and the settings
 * keys it declares (its zod `settings`), come from the control itself.
 */
import { z } from 'zod';
import type { TrustedKey } from '../decisions/signed.js';
import { parseDecisionPublicKey, trustedKey } from './keys.js';
import { MODES, WIDE_RULES } from './types.js';

// ---- messages ----------------------------------------------------------------------------

/** A value as a problem names it: strings quoted, containers by kind. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
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

/** "did you mean X? " when a known key is close to `key`, else "". */
export function suggestion(key: string, known: readonly string[]): string {
  const best = known
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k) }))
    .sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(1, Math.floor(key.length / 4)) ? `did you mean ${best.k}? ` : '';
}

/** A zod error option whose message is made from the rejected value. */
const says = (message: (v: unknown) => string) => ({ error: (iss: { input?: unknown }) => message(iss.input) });

/**
 * Stands in a message for the path of the list the problem is in (`port 22 is listed twice (also
 * at <list>[0])`): a check inside the schema does not know where its list is in the file.
 */
const LIST = '\u0000list\u0000';

// ---- durations ---------------------------------------------------------------------------

const NUM = String.raw`(\d+(?:\.\d+)?)`;
const DURATION_RE = new RegExp(String.raw`^(?:${NUM}d)?\s*(?:${NUM}h)?\s*(?:${NUM}m(?!s))?\s*(?:${NUM}s)?\s*(?:${NUM}ms)?$`);
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1000, 1] as const;
/** What editors are told a duration looks like (the loader reads it with `parseDuration`). */
const DURATION_PATTERN = /^\s*(?:0|(?=\d)(?:\d+(?:\.\d+)?d)?\s*(?:\d+(?:\.\d+)?h)?\s*(?:\d+(?:\.\d+)?m(?!s))?\s*(?:\d+(?:\.\d+)?s)?\s*(?:\d+(?:\.\d+)?ms)?)\s*$/;

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

const durationMessage = (v: unknown) => `must be a duration like 30m, got ${describe(v)}`;

/** A duration (a string, or the number 0), in milliseconds; `positive`: the message when it is 0. */
function duration(description: string, positive?: string) {
  const d = z
    .union([z.literal(0, says(durationMessage)), z.string(says(durationMessage)).regex(DURATION_PATTERN, says(durationMessage))], says(durationMessage))
    .transform((v, ctx) => {
      const ms = v === 0 ? 0 : parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: durationMessage(v) });
        return z.NEVER;
      }
      if (positive !== undefined && ms === 0) {
        ctx.addIssue({ code: 'custom', message: positive });
        return z.NEVER;
      }
      return ms;
    });
  return d.meta({ description: `${description} A duration: 500ms, 10s, 30m, 2h, 1d, 1h30m${positive ? '' : '; 0 = never'}.` });
}

// ---- values ------------------------------------------------------------------------------

const ACCOUNT_RE = /^\d{12}$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const USER_RE = /^[UW][A-Z0-9]{2,}$/;
const GROUP_RE = /^S[A-Z0-9]{2,}$/;
const CHANNEL_RE = /^[CGD][A-Z0-9]{2,}$/;
const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

const PARTITION = String.raw`aws(?:-[a-z]+)*`;
const REGION = String.raw`[a-z]{2}(?:-[a-z]+)+-\d{1,2}`;
const KEY_ID = String.raw`(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})`;
const ALIAS = String.raw`alias/[A-Za-z0-9/_-]{1,250}`;
const KMS_KEY_RE = new RegExp(`^(?:${KEY_ID}|${ALIAS}|arn:${PARTITION}:kms:${REGION}:\\d{12}:(?:key/${KEY_ID}|${ALIAS}))$`);

const mustBeString = says((v) => `must be a string, got ${describe(v)}`);
const userMessage = (v: unknown) => `must be a Slack user id like U012AB3CDE (not a name or @handle), got ${describe(v)}`;
const groupMessage = (v: unknown) => `must be a Slack user group id like S012AB3CDE (not a name or @handle), got ${describe(v)}`;

const unique = <T>(list: readonly T[]): T[] => [...new Set(list)];

/** A list of strings, each checked by `item`; repeats are dropped. */
function stringList(item: z.ZodString, description: string) {
  return z.array(item, says((v) => `must be a list, got ${describe(v)}`)).transform(unique).meta({ description });
}

const regions = () => stringList(z.string(mustBeString).regex(REGION_RE, says((v) => `must be an AWS region like us-east-1, got ${describe(v)}`)), 'Regions in scope (e.g. us-east-1); empty = every region.');
const slackUsers = (description: string) => stringList(z.string(mustBeString).regex(USER_RE, says(userMessage)), description);
const slackGroups = (description: string) => stringList(z.string(mustBeString).regex(GROUP_RE, says(groupMessage)), description);

/** Account ids, quoted; written without quotes they arrive as numbers, accepted only when no leading zero was lost. */
function accountIds(description: string, required?: { missing: string; empty: string }) {
  const unquoted = (v: unknown) => `must be a 12-digit AWS account id in quotes, got ${String(v)} (unquoted, leading zeros are lost)`;
  const id = z.union(
    [
      z.string(mustBeString).regex(ACCOUNT_RE, says((v) => `must be a 12-digit AWS account id, got ${describe(v)}`)),
      z.int(says(unquoted)).min(100_000_000_000, says(unquoted)).max(999_999_999_999, says(unquoted)),
    ],
    mustBeString,
  );
  const listMessage = (v: unknown) => (v === undefined && required !== undefined ? required.missing : `must be a list, got ${describe(v)}`);
  const list = z.array(id, says(listMessage));
  return (required ? list.min(1, required.empty) : list)
    .transform((ids) => unique(ids.map(String)))
    .meta({ description });
}

/** A Slack channel id; null unsets an inherited one. */
function slackChannel(description: string) {
  return z
    .string(says((v) => `must be a Slack channel id like C012AB3CDE, got ${describe(v)}`))
    .regex(CHANNEL_RE, says((v) => `must be a Slack channel id like C012AB3CDE (not a #name), got ${describe(v)}`))
    .nullable()
    .meta({ description });
}

const tagKey = z
  .string()
  .min(1, 'a tag key must not be empty')
  .max(128, says((v) => `a tag key is at most 128 characters, got ${String(v).length}`));
const tagValueMax = says((v) => `a tag value is at most 256 characters, got ${String(v).length}`);

/** A mapping of tag key to value ("*" = any value). */
const tagSelectors = () =>
  z
    .record(tagKey, z.string(says((v) => `must be a string (quote values like "true" or "123"), got ${describe(v)}`)).max(256, tagValueMax), says((v) => `must be a mapping of tag key to value ("*" = any value), got ${describe(v)}`))
    .meta({ description: 'Tags the resource must all carry; value "*" = any value. Empty = no condition.' });

/** A mapping of tag key to the values that make a fix need approval (one value may stand alone). */
const approvalConditions = () =>
  z
    .record(
      tagKey,
      z.union(
        [
          z.string().max(256, tagValueMax),
          z.array(z.string(mustBeString).max(256, tagValueMax)).min(1, 'must list at least one tag value ("*" = any value); remove the key to drop the condition'),
        ],
        says((v) => `must be a list of tag values (quote values like "true"), got ${describe(v)}`),
      ).transform((v) => (typeof v === 'string' ? [v] : unique(v))),
      says((v) => `must be a mapping of tag key to a list of values, got ${describe(v)}`),
    )
    .meta({ description: 'Tag conditions that force approval even in auto mode: any tag key whose value is in the list ("*" = any value).' });

const integer = (min: number, description: string) => {
  const message = says((v) => `must be an integer >= ${min}, got ${describe(v)}`);
  return z.int(message).min(min, message).meta({ description });
};

const isPort = (p: unknown): p is number => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 65535;

/** A non-empty list of distinct TCP/UDP port numbers. */
const portList = () => {
  const port = says((v) => `must be a port number (an integer from 0 to 65535), got ${describe(v)}`);
  return z
    .array(z.int(port).min(0, port).max(65535, port), says((v) => `must be a list of port numbers like [22, 3389], got ${describe(v)}`))
    .min(1, 'must list at least one port (to leave the resources alone, set mode: off)')
    .check(
      // Also when other ports are wrong: every problem at once.
      z.superRefine(
        (ports: unknown, ctx) => {
          if (!Array.isArray(ports)) return;
          ports.forEach((p, i) => {
            const first = ports.indexOf(p);
            if (first !== i && isPort(p)) ctx.addIssue({ code: 'custom', path: [i], message: `port ${p} is listed twice (also at ${LIST}[${first}])` });
          });
        },
        { when: () => true },
      ),
    )
    .meta({ description: 'ec2-sg-admin-ports-open: ports never to be reachable from 0.0.0.0/0 or ::/0. Default [22, 3389].' });
};

const publicKeyRequired = 'required: the Ed25519 public key (npm run cli -- keys show prints it)';

// ---- building ----------------------------------------------------------------------------

/** The controls the schema is built for: their ids, and the settings each declares. */
export interface SchemaControl {
  readonly id: string;
  readonly title?: string;
  readonly settings?: z.ZodObject;
}

/**
 * Builds the schema. `salvage`: a lenient twin for a file with problems, where a key that does not
 * check out is left out instead of failing the whole file, so the checks across layers still run
 * on everything that is valid and every problem is reported at once.
 */
class Builder {
  constructor(
    readonly controls: readonly SchemaControl[],
    readonly salvage: boolean,
  ) {}

  /** An optional key of a mapping (left out when it does not check out, in salvage). */
  field<T extends z.ZodType>(schema: T) {
    return this.salvage ? (schema.optional().catch(undefined) as unknown as z.ZodOptional<T>) : schema.optional();
  }

  /** A required key of a mapping (absent when it does not check out, in salvage: readers allow for it). */
  required<T extends z.ZodType>(schema: T): z.ZodType<z.output<T> | undefined, z.input<T>> {
    return (this.salvage ? schema.optional().catch(undefined) : schema) as unknown as z.ZodType<z.output<T> | undefined, z.input<T>>;
  }

  /**
   * A mapping with exactly the keys of `shape` (validated in the order of `shape`). `known` (the
   * keys in the order problems name them) defaults to the shape's; `unknown` is the problem of a
   * key it does not have.
   */
  mapping<S extends z.ZodRawShape>(shape: S, o: { known?: readonly string[]; what?: (v: unknown) => string; unknown?: (key: string, known: readonly string[]) => string } = {}) {
    const known = o.known ?? Object.keys(shape);
    const what = o.what ?? ((v: unknown) => `must be a mapping with keys ${known.join(', ')}, got ${describe(v)}`);
    const unknown = o.unknown ?? ((key: string) => `unknown key (${suggestion(key, known)}expected one of: ${known.join(', ')})`);
    if (this.salvage) return z.object(shape) as unknown as z.ZodObject<S, z.core.$strict>;
    return z.strictObject(shape, {
      // One problem per unknown key, in order: the loader splits them at the new lines.
      error: (iss) => (iss.code === 'unrecognized_keys' ? iss.keys.map((k) => unknown(k, known)).join('\n') : what(iss.input)),
    });
  }

  /** `approvers.keys` (operators) or `decisionRelays` (trigger servers): each public key normalized to a `TrustedKey`. */
  keyList(kind: 'operator' | 'relay') {
    const what =
      kind === 'operator'
        ? '{ name, publicKey, slack? } (an operator and the public key of their CLI signing key)'
        : '{ name, publicKey } (a trigger server and the public key of its DECISION_SIGNING_KEY_FILE)';
    const who = kind === 'operator' ? 'the operator, recorded as cli:<name> on their decisions' : 'the trigger server';
    /** The public keys that were read (the entries' duplicates are checked also when other entries are wrong). */
    const rawKeys = new WeakSet<object>();
    const read = new WeakSet<object>();
    const nameMessage = says((v) => `required: a name of 1-64 letters, digits and ._@+- (${who}), got ${describe(v)}`);
    const entry = {
      name: z.string(nameMessage).regex(KEY_NAME_RE, nameMessage).meta({ description: kind === 'operator' ? 'The operator; their CLI decisions are recorded as cli:<name>.' : 'The trigger server.' }),
      publicKey: z
        .string(says((v) => (v === undefined ? publicKeyRequired : (parseDecisionPublicKey(v) as { problem: string }).problem)))
        .transform((v, ctx) => {
          const parsed = parseDecisionPublicKey(v);
          if ('problem' in parsed) {
            ctx.addIssue({ code: 'custom', message: parsed.problem });
            return z.NEVER;
          }
          rawKeys.add(parsed.raw);
          return parsed.raw;
        })
        .meta({ description: 'The Ed25519 public key: PEM, base64 SPKI DER or base64 raw (npm run cli -- keys show prints it).' }),
      ...(kind === 'operator'
        ? { slack: z.string(says((v) => `must be the operator's Slack user id, got ${describe(v)}`)).regex(USER_RE, says(userMessage)).optional().meta({ description: "The operator's Slack user id." }) }
        : {}),
    };
    const item = this.mapping(entry)
      .transform((e): TrustedKey => {
        const key = trustedKey(e.publicKey, e.name);
        const slack = (e as { slack?: string }).slack;
        const out = slack ? { ...key, slack } : key;
        read.add(out);
        return out;
      });
    return z
      .array(item, says((v) => `must be a list of ${what}, got ${describe(v)}`))
      .check(
        z.superRefine(
          (list: unknown, ctx) => {
            if (!Array.isArray(list)) return;
            const keys = list.map((k): Pick<TrustedKey, 'name' | 'keyId'> | undefined => {
              if (typeof k !== 'object' || k === null) return undefined;
              if (read.has(k)) return k as TrustedKey;
              // An entry with another problem (a bad slack id) whose name and key did check out counts too.
              const { name, publicKey } = k as { name?: unknown; publicKey?: unknown };
              return typeof name === 'string' && KEY_NAME_RE.test(name) && publicKey instanceof Uint8Array && rawKeys.has(publicKey)
                ? trustedKey(publicKey, name)
                : undefined;
            });
            keys.forEach((k, i) => {
              if (k === undefined) return;
              const sameName = keys.findIndex((o) => o?.name === k.name);
              const sameKey = keys.findIndex((o) => o?.keyId === k.keyId);
              if (sameName < i) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${k.name} is listed twice (also at ${LIST}[${sameName}])` });
              else if (sameKey < i) {
                ctx.addIssue({ code: 'custom', path: [i, 'publicKey'], message: `key ${k.keyId} is listed twice (also at ${LIST}[${sameKey}], as ${keys[sameKey]?.name})` });
              }
            });
          },
          { when: () => true },
        ),
      )
      .nullable()
      .transform((keys) => keys ?? []);
  }

  /**
   * The settings keys the controls declare themselves (each control's zod `settings`): those of
   * `control` in its own section, every control's in defaults and account groups (the first to
   * declare a key decides its schema). A default of the control's is left for the control to
   * fill in when it reads its settings: a section holds only what the file says.
   */
  ownSettings(control: string | undefined): Record<string, z.ZodType> {
    const out: Record<string, z.ZodType> = {};
    for (const c of this.controls) {
      if (control !== undefined && c.id !== control) continue;
      for (const [k, schema] of Object.entries(c.settings?.shape ?? {})) {
        if (Object.hasOwn(out, k)) continue;
        const s = schema as z.ZodType;
        out[k] = s instanceof z.ZodDefault ? (s.unwrap() as z.ZodType).meta({ ...s.meta(), default: s.def.defaultValue }) : s;
      }
    }
    return out;
  }

  settings(control: string | undefined) {
    const own = this.ownSettings(control);
    const algorithm = says((v) => `must be AES256 (keys S3 manages) or aws:kms (a KMS key), got ${describe(v)}`);
    const standard = {
      ports: this.field(portList()),
      wideRules: this.field(
        z
          .enum(WIDE_RULES, says((v) => `must be split (revoke the rule and re-open the rest of it without the ports), revoke (the whole rule) or approve (split once a person approves), got ${describe(v)}`))
          .meta({ description: 'ec2-sg-admin-ports-open: what the fix does with a wide rule (a range or all traffic containing a listed port). Default split.' }),
      ),
      encryption: this.field(
        this.mapping({
          algorithm: this.field(z.enum(['AES256', 'aws:kms'], algorithm).meta({ description: 'AES256 (keys S3 manages) or aws:kms (a KMS key).' })),
          kmsKeyId: this.field(
            z
              .string(says((v) => `must be a KMS key ARN, alias or key id, got ${describe(v)}`))
              .regex(
                KMS_KEY_RE,
                says((v) => `must be a KMS key ARN (arn:aws:kms:us-east-1:123456789012:key/...), an alias (alias/my-key), an alias ARN or a key id, got ${describe(v)}`),
              )
              .nullable()
              .meta({ description: 'With aws:kms: the key (ARN, alias, alias ARN or key id); null = the AWS managed key aws/s3.' }),
          ),
        }).meta({ description: 's3-default-encryption: the default encryption buckets must have. Default AES256.' }),
      ),
    };
    const ownFields = Object.fromEntries(Object.entries(own).map(([k, s]) => [k, this.field(s)])) as Record<string, z.ZodOptional<z.ZodType>>;
    // The controls' own keys are checked first (their problems come first); problems name the standard keys first.
    return this.mapping({ ...ownFields, ...standard }, { known: [...Object.keys(standard), ...Object.keys(own)] }).meta({
      description: 'Settings that change what a control counts as compliant or how it fixes.',
    });
  }

  /** Each part built once and shared, so the JSON Schema names it once ($defs) however often it appears. */
  private readonly memo = new Map<string, unknown>();
  once<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }

  /** The keys of a `defaults`, `controls.<id>` or account group section (`control`: the section's control). */
  sectionShape(control: string | undefined) {
    const { settings: _none, ...common } = this.once('common', () => this.commonFields());
    const { mode, scope, requireApprovalWhenTagged, approvers, channel, escalation, guardrails, undo } = common;
    const settings = this.once(`settings:${control ?? '*'}`, () => this.field(this.settings(control)));
    return { mode, scope, requireApprovalWhenTagged, approvers, channel, escalation, guardrails, settings, undo };
  }

  /** The keys every section has alike (settings differ by control: see `sectionShape`). */
  commonFields() {
    const mode = says((v) => `must be one of ${MODES.join(', ')}, got ${describe(v)}`);
    return {
      mode: this.field(
        z.enum(MODES, mode).meta({
          description: 'auto: fix; approve: ask an approver first; notify: tell, change nothing; dry-run: record what would change; off: leave alone.',
        }),
      ),
      scope: this.field(
        this.mapping({
          accounts: this.field(accountIds('Account ids in scope (12 digits, quoted); empty = every account.')),
          regions: this.field(regions()),
          tags: this.field(tagSelectors()),
        }).meta({ description: 'Where the control acts: findings outside it are left alone.' }),
      ),
      requireApprovalWhenTagged: this.field(approvalConditions()),
      approvers: this.field(
        this.mapping({
          users: this.field(slackUsers('Slack user ids (U... or W...) who may approve.')),
          groups: this.field(slackGroups('Slack user group ids (S...), expanded to their members.')),
          keys: this.field(this.keyList('operator').meta({ description: 'Operators who may decide from the CLI, with the public key their decisions are signed with.' })),
        }).meta({ description: 'Who may approve a fix.' }),
      ),
      channel: this.field(slackChannel('Slack channel id (C...) for approval requests and notifications; null = none.')),
      escalation: this.field(
        this.mapping(
          {
            remindAfter: this.field(duration('Remind the approvers this long after the request.')),
            escalateAfter: this.field(duration('Escalate this long after the request.')),
            timeoutAfter: this.field(duration('Apply the timeout action this long after the request.', 'must be longer than 0: every approval request ends')),
            timeoutAction: this.field(z.enum(['reject', 'apply'], says((v) => `must be reject or apply, got ${describe(v)}`)).meta({ description: 'What an unanswered request ends in.' })),
            escalateTo: this.field(
              this.mapping({
                channel: this.field(slackChannel('Slack channel id to escalate to; null = none.')),
                users: this.field(slackUsers('Slack user ids to mention.')),
                groups: this.field(slackGroups('Slack user group ids to mention (e.g. the on-call group).')),
              }).meta({ description: 'Where escalation goes.' }),
            ),
          },
          { known: ['remindAfter', 'escalateAfter', 'escalateTo', 'timeoutAfter', 'timeoutAction'] },
        ).meta({ description: 'The approval ladder: remindAfter <= escalateAfter < timeoutAfter (a step at 0 is skipped).' }),
      ),
      guardrails: this.field(
        this.mapping({
          maxAutoFixesPerHour: this.field(integer(0, 'At most this many automatic fixes per control per rolling hour; past it, findings wait for approval.')),
          flap: this.field(
            this.mapping({
              maxFixes: this.field(integer(1, 'A resource fixed this many times within the window is flapping.')),
              window: this.field(duration('The flapping window.', 'must be longer than 0')),
            }).meta({ description: 'A resource fixed maxFixes times within window needs a person for the next fix.' }),
          ),
          rejectionHold: this.field(duration('A rejected fix is not proposed again for this long while the resource stays as it was.')),
        }).meta({ description: 'Limits on automatic fixes.' }),
      ),
      settings: undefined,
      undo: this.field(
        this.mapping({
          window: this.field(duration('How long after a verified fix an approver may revert it.')),
          exemptFor: this.field(duration('A reverted resource is exempt for this long.')),
        }).meta({ description: 'Reverting a fix.' }),
      ),
    };
  }

  /** A section: `null` (the key with nothing under it) means "nothing set here". */
  section(control: string | undefined, description: string) {
    return this.mapping(this.sectionShape(control))
      .nullable()
      .transform((s) => s ?? {})
      .meta({ description });
  }

  /** `controls:` (top level or in an account group): a section per registered control. */
  controlSections() {
    return this.once('controls', () => this.makeControlSections());
  }

  makeControlSections() {
    const ids = this.controls.map((c) => c.id);
    const shape = Object.fromEntries(
      this.controls.map((c) => [c.id, this.field(this.section(c.id, `${c.title ?? c.id}: what differs for this control (from defaults; in an account group, from the group).`))]),
    );
    return this.mapping(shape as Record<string, z.ZodOptional<ReturnType<Builder['section']>>>, {
      what: (v) => `must be a mapping of control id to its section, got ${describe(v)}`,
      unknown: (key) => `unknown control (${suggestion(key, ids)}supported: ${ids.join(', ')})`,
    })
      .nullable()
      .transform((c) => c ?? {});
  }

  accountGroup() {
    const groupName = says((v) => `required: a name for the group, e.g. production, got ${describe(v)}`);
    const section = this.sectionShape(undefined);
    const shape = {
      name: this.required(
        z
          .string(groupName)
          .refine((s) => s.trim() !== '', groupName)
          .meta({ description: 'The group, e.g. production.' }),
      ),
      ids: this.required(accountIds('The 12-digit account ids of the group, quoted.', { missing: 'required: the 12-digit account ids of the group, quoted', empty: 'must name at least one account' })),
      controls: this.field(this.controlSections()),
      ...section,
    };
    return this.mapping(shape).meta({ description: 'Accounts with a policy of their own: any key of defaults, and controls for these accounts.' });
  }

  policy() {
    const version = says((v) => (v === undefined ? 'required: must be 1' : `must be 1, got ${describe(v)}`));
    const tagMessage = says((v) => `must be a tag key, got ${describe(v)}`);
    return this.mapping(
      {
        version: this.required(z.literal(1, version).meta({ description: 'The format of this file. Must be 1.' })),
        exemptions: this.field(
          this.mapping({
            tag: this.field(
              z
                .string(tagMessage)
                .refine((t) => t.trim().length > 0, 'must not be empty')
                .refine((t) => t.length <= 128, says((t) => `a tag key is at most 128 characters, got ${String(t).length}`))
                .meta({ description: 'The tag that exempts a resource; value: an expiry date (YYYY-MM-DD or ISO 8601) or "permanent".' }),
            ),
          }).meta({ description: 'Resources a person has exempted.' }),
        ),
        decisionRelays: this.field(this.keyList('relay').meta({ description: 'The trigger servers whose signed Slack decisions are trusted.' })),
        defaults: this.field(this.section(undefined, 'What applies to every control unless its own section says otherwise.')),
        controls: this.field(this.controlSections()),
        accounts: this.field(
          z
            .array(this.accountGroup(), says((v) => `must be a list of account groups ({ name, ids, and any key of defaults }), got ${describe(v)}`))
            .nullable()
            .transform((g) => g ?? [])
            .meta({ description: 'Account groups with policies of their own (an account is in one group at most).' }),
        ),
      },
      { known: ['version', 'exemptions', 'defaults', 'controls', 'accounts', 'decisionRelays'] },
    );
  }
}

type Schema = ReturnType<Builder['policy']>;
/** The schemas last built, and the controls they were built for (building takes tens of milliseconds). */
const built: { controls: readonly SchemaControl[]; strict?: Schema; salvage?: Schema }[] = [];

/** The policy file's schema, for `controls` (the registered ones); `salvage`: see `Builder`. */
export function policySchema(controls: readonly SchemaControl[], o: { salvage?: boolean } = {}): Schema {
  const kind = o.salvage ? 'salvage' : 'strict';
  let entry = built.find((b) => b.controls.length === controls.length && b.controls.every((c, i) => c === controls[i]));
  if (!entry) {
    entry = { controls: [...controls] };
    built.unshift(entry);
    built.length = Math.min(built.length, 4);
  }
  return (entry[kind] ??= new Builder(controls, kind === 'salvage').policy());
}

export type PolicyFile = z.output<ReturnType<typeof policySchema>>;
/** A `defaults`, `controls.<id>` or account group section: only the keys the file sets, values checked and converted (durations in ms). */
export type Section = NonNullable<PolicyFile['defaults']>;

/**
 * The JSON Schema (draft 7, which editors read) of policy files for `controls`: what an editor
 * completes and checks. The checks across layers (the ladder's order, a KMS key with AES256, an
 * account in two groups) are the loader's alone.
 */
export function policyJsonSchema(controls: readonly SchemaControl[]): Record<string, unknown> {
  const schema = tidy(z.toJSONSchema(policySchema(controls), { io: 'input', target: 'draft-7', unrepresentable: 'any' }), new Set(['defaults', ...controls.map((c) => c.id)]));
  return {
    $schema: schema.$schema,
    title: 'rectify policy',
    description: 'What happens to each security finding: the file rectify loads (policy/default.yaml documents every key).',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

type Json = Record<string, unknown>;
const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON Schema as a person reads it: a description beside the type it describes (editors show
 * it on hover), and each large part that repeats (the keys every section has, the controls
 * mapping a group repeats) written once under definitions, named for the key it first appears
 * under.
 */
function tidy(schema: Json, sectionKeys: ReadonlySet<string>): Json {
  const merged = mergeDescriptions(schema) as Json;
  const definitions: Record<string, Json> = {};
  const names = new Set<string>();
  for (;;) {
    // The largest part that appears twice or more.
    const seen = new Map<string, { count: number; key: string; node: Json }>();
    const walk = (node: unknown, key: string): void => {
      if (Array.isArray(node)) return node.forEach((n) => walk(n, key));
      if (!isJson(node)) return;
      const text = JSON.stringify(node);
      if (text.length >= 300) {
        const s = seen.get(text);
        if (s) s.count++;
        else seen.set(text, { count: 1, key, node });
      }
      for (const [k, v] of Object.entries(node)) walk(v, ['properties', 'anyOf', 'allOf', 'items', 'additionalProperties'].includes(k) ? key : k);
    };
    walk(merged, 'policy');
    for (const def of Object.values(definitions)) walk(def, 'part');
    const [text, best] = [...seen].filter(([, s]) => s.count > 1).sort(([a], [b]) => b.length - a.length)[0] ?? [];
    if (text === undefined || best === undefined) break;
    // A control's section (or the defaults) that others share is a section.
    const base = sectionKeys.has(best.key) ? 'section' : best.key;
    let name = base;
    for (let i = 2; names.has(name); i++) name = `${base}${i}`;
    names.add(name);
    const ref = { $ref: `#/definitions/${name}` };
    const replace = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(replace);
      if (!isJson(node)) return node;
      if (JSON.stringify(node) === text) return ref;
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, replace(v)]));
    };
    for (const [k, v] of Object.entries(replace(merged) as Json)) merged[k] = v;
    for (const [k, v] of Object.entries(definitions)) definitions[k] = replace(v) as Json;
    definitions[name] = best.node;
  }
  return Object.keys(definitions).length ? { ...merged, definitions } : merged;
}

/** `{ description, allOf: [schema] }` (how a description on a wrapper comes out) as the schema with its description. */
function mergeDescriptions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(mergeDescriptions);
  if (!isJson(node)) return node;
  const out: Json = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, mergeDescriptions(v)]));
  const allOf = out.allOf;
  if (Array.isArray(allOf) && allOf.length === 1 && isJson(allOf[0]) && Object.keys(out).every((k) => k === 'allOf' || k === 'description')) {
    return { ...allOf[0], ...(out.description === undefined ? {} : { description: out.description }) };
  }
  return out;
}

// ---- problems ----------------------------------------------------------------------------

/** `controls.x.scope.accounts[0]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? String(seg) : `.${String(seg)}`;
  return out;
}

/**
 * A value that fits none of a union's forms: when it is of the type of exactly one of them (a list
 * where a string or a list is allowed), that form's problems, under its path; else the union's.
 */
function flatten(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): z.core.$ZodIssue[] {
  return issues.flatMap((issue): z.core.$ZodIssue[] => {
    const at = { ...issue, path: [...prefix, ...issue.path] } as z.core.$ZodIssue;
    if (issue.code !== 'invalid_union') return [at];
    const ofItsType = issue.errors.filter((option) => !option.every((i) => i.code === 'invalid_type' && i.path.length === 0));
    return ofItsType.length === 1 ? flatten(ofItsType[0] ?? [], at.path) : [at];
  });
}

const under = (path: readonly PropertyKey[], prefix: readonly PropertyKey[]) => prefix.every((seg, i) => path[i] === seg);

/**
 * The schema's issues as problems, `path: message`, each unknown key its own problem. A mapping's
 * unknown keys come before the problems inside it (as the file reads: first what does not belong).
 */
export function problemsFrom(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: { path: readonly PropertyKey[]; text: string }[] = [];
  const line = (path: readonly PropertyKey[], message: string) => {
    let listAt = path.length - 1;
    while (listAt > 0 && typeof path[listAt] !== 'number') listAt--;
    const text = message.replaceAll(LIST, formatPath(path.slice(0, listAt)));
    const where = formatPath(path);
    return { path, text: where === '' ? text : `${where}: ${text}` };
  };
  for (const issue of flatten(issues)) {
    if (issue.code === 'unrecognized_keys') {
      const messages = issue.message.split('\n');
      const lines = issue.keys.map((k, i) => line([...issue.path, k], messages[i] ?? issue.message));
      const at = out.findIndex((o) => under(o.path, issue.path));
      out.splice(at === -1 ? out.length : at, 0, ...lines);
    } else if (issue.code === 'invalid_key') {
      out.push(line(issue.path, issue.issues[0]?.message ?? issue.message));
    } else out.push(line(issue.path, issue.message));
  }
  return out.map((o) => o.text);
}
