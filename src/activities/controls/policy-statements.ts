/**
 * IAM-style resource policy documents (S3 bucket policies, SNS topic policies, SQS queue
 * policies): which statements make a resource public, and adding or removing statements by their
 * content, keeping every other statement as it is. Pure module: no I/O.
 *
 * A document's `Statement` may be one statement object or an array of them (IAM User Guide, "IAM
 * JSON policy element reference: Statement"); documents written here always carry an array.
 * Statements are compared by content, not by Sid or position: services rewrite what they store
 * (SNS and SQS turn a bare account id principal into `arn:aws:iam::<id>:root` and may collapse a
 * one-element list to its value), so two statements are the same when their canonical forms
 * (`statementKey`) are.
 *
 * "Public" follows the definition AWS applies to resource policies (Amazon S3 User Guide,
 * "Blocking public access to your Amazon S3 storage", "The meaning of public"; the AWS Config
 * rules sns-topic-no-public-access and sqs-queue-no-public-access and Security Hub SNS.4 and
 * SQS.3 apply the same rule: "To be considered non-public, an SNS policy must grant access only to
 * fixed values. This means values that don't contain a wildcard or ... Variables"): an Allow
 * statement for every principal (`"*"`, `{"AWS": "*"}`, a list holding `"*"`, or a `NotPrincipal`)
 * is public unless a condition pins one of these keys to fixed values: `aws:SourceArn`,
 * `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`, `aws:SourceAccount`, `aws:SourceIp` (CIDRs
 * no broader than /8 for IPv4 and /32 for IPv6), `aws:userid` and the principal keys
 * `aws:PrincipalOrgID`, `aws:PrincipalArn`, `aws:PrincipalAccount`. A value is fixed when it holds
 * no `*`, `?` or `${...}` policy variable. Only positive operators narrow (StringEquals,
 * StringEqualsIgnoreCase, StringLike, ArnEquals, ArnLike, IpAddress, and their ForAnyValue forms);
 * negated operators, `...IfExists` forms (true when the key is absent, as aws:SourceArn is on a
 * direct call) and ForAllValues forms (true for an absent key) narrow nothing.
 */
import { getOwn, isObject } from '../../findings/validate.js';

/** One policy statement, as parsed from JSON. */
export type PolicyStatement = Readonly<Record<string, unknown>>;

/** A policy document: `Version`, `Id`, `Statement` (one object or an array) and whatever else it carries. */
export type PolicyDocument = Readonly<Record<string, unknown>>;

/** The document in `text`; undefined when there is none (absent or empty text). Throws on text that is not a JSON object. */
export function parsePolicy(text: string | undefined): PolicyDocument | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const doc: unknown = JSON.parse(text);
  if (!isObject(doc)) throw new Error('a policy document must be a JSON object');
  return doc;
}

/** Like `parsePolicy`, but undefined for text that is not a policy document (untrusted input such as a CloudTrail record). */
export function tryParsePolicy(text: unknown): PolicyDocument | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return parsePolicy(text);
  } catch {
    return undefined;
  }
}

/** The document's statements: its `Statement` object or array (non-objects dropped); none without a document. */
export function statementsOf(doc: PolicyDocument | undefined): PolicyStatement[] {
  const s = getOwn(doc, 'Statement');
  return asList(s).filter(isObject);
}

/** A copy of `doc` (every other top-level field kept) with exactly `statements`, as an array; a new document (Version 2012-10-17) when there is none. */
export function withStatements(doc: PolicyDocument | undefined, statements: readonly PolicyStatement[]): PolicyDocument {
  return { ...(doc ?? { Version: '2012-10-17' }), Statement: [...statements] };
}

export function serializePolicy(doc: PolicyDocument): string {
  return JSON.stringify(doc);
}

/** A policy element's values: a scalar as a one-element list, a list as it is, nothing as none. */
export function asList(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** The partition of a region's ARNs ('aws', 'aws-cn', 'aws-us-gov', ...), for the ARNs a policy names. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}

// ---------------------------------------------------------------------------------------
// Identity by content

const ACCOUNT_ROOT = /^arn:[a-z-]+:iam::(\d{12}):root$/;

/** One value in canonical form: account principals as the bare account id, actions lower-cased (IAM action names are case-insensitive), numbers and booleans as strings. */
function canonicalScalar(v: unknown, kind?: 'action' | 'principal'): unknown {
  if (typeof v === 'string') {
    if (kind === 'principal') return ACCOUNT_ROOT.exec(v)?.[1] ?? v;
    return kind === 'action' ? v.toLowerCase() : v;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return canonicalValue(v);
}

/** A list element (a scalar is a one-element list): sorted, without duplicates, one value standing for itself. */
function canonicalList(v: unknown, kind?: 'action' | 'principal'): unknown {
  const items = asList(v).map((x) => canonicalScalar(x, kind));
  if (items.every((x) => typeof x === 'string')) {
    const unique = [...new Set(items as string[])].sort();
    return unique.length === 1 ? unique[0] : unique;
  }
  return items.map((x) => JSON.stringify(x)).sort().map((x) => JSON.parse(x) as unknown);
}

function canonicalValue(v: unknown): unknown {
  if (Array.isArray(v)) return canonicalList(v);
  if (isObject(v)) return sortedMap(v, (_k, x) => canonicalValue(x));
  return canonicalScalar(v);
}

function sortedMap(o: Readonly<Record<string, unknown>>, f: (key: string, value: unknown) => unknown, key: (k: string) => string = (k) => k): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, mapped] of Object.keys(o).map((k) => [k, key(k)] as const).sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))) out[mapped] = f(k, o[k]);
  return out;
}

/**
 * A statement in canonical form: keys sorted, list elements as sorted sets, `"Principal": "*"` as
 * `{"AWS": "*"}` (what SQS and SNS store it as; IAM treats them alike), account principals as the
 * bare id, condition keys lower-cased (condition keys are case-insensitive).
 */
function canonicalStatement(s: PolicyStatement): Record<string, unknown> {
  return sortedMap(s, (k, v) => {
    if (k === 'Action' || k === 'NotAction') return canonicalList(v, 'action');
    if (k === 'Resource' || k === 'NotResource') return canonicalList(v);
    if (k === 'Principal' || k === 'NotPrincipal') {
      if (v === '*') return { AWS: '*' };
      return isObject(v) ? sortedMap(v, (_t, ids) => canonicalList(ids, 'principal')) : canonicalValue(v);
    }
    if (k === 'Condition' && isObject(v)) {
      return sortedMap(v, (_op, block) => (isObject(block) ? sortedMap(block, (_key, values) => canonicalList(values), (key) => key.toLowerCase()) : canonicalValue(block)));
    }
    return canonicalValue(v);
  });
}

/** The statement's identity: its canonical JSON (Sid included; position, key order, list order and one-element lists aside). */
export function statementKey(s: PolicyStatement): string {
  return JSON.stringify(canonicalStatement(s));
}

export function sameStatement(a: PolicyStatement, b: PolicyStatement): boolean {
  return statementKey(a) === statementKey(b);
}

export function containsStatement(statements: readonly PolicyStatement[], s: PolicyStatement): boolean {
  const key = statementKey(s);
  return statements.some((x) => statementKey(x) === key);
}

/**
 * `statements` without `remove`, by content, each listed statement taking out one equal
 * statement (a multiset difference): `kept` in their order, and the statements taken out.
 */
export function removeStatements(statements: readonly PolicyStatement[], remove: readonly PolicyStatement[]): { kept: PolicyStatement[]; removed: PolicyStatement[] } {
  const wanted = new Map<string, number>();
  for (const r of remove) wanted.set(statementKey(r), (wanted.get(statementKey(r)) ?? 0) + 1);
  const kept: PolicyStatement[] = [];
  const removed: PolicyStatement[] = [];
  for (const s of statements) {
    const k = statementKey(s);
    const n = wanted.get(k) ?? 0;
    if (n > 0) {
      wanted.set(k, n - 1);
      removed.push(s);
    } else kept.push(s);
  }
  return { kept, removed };
}

/** `statements` followed by those of `add` they do not already hold. */
export function addStatements(statements: readonly PolicyStatement[], add: readonly PolicyStatement[]): PolicyStatement[] {
  const out = [...statements];
  for (const s of add) if (!containsStatement(out, s)) out.push(s);
  return out;
}

/** The two documents hold the same statements (as multisets, by content) and the same other top-level fields; absent equals absent only. */
export function sameDocument(a: PolicyDocument | undefined, b: PolicyDocument | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const rest = (d: PolicyDocument) => JSON.stringify(canonicalValue(Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'Statement'))));
  const keys = (d: PolicyDocument) => statementsOf(d).map(statementKey).sort().join('\n');
  return rest(a) === rest(b) && keys(a) === keys(b);
}

// ---------------------------------------------------------------------------------------
// Public statements

/** `Principal` names everyone: `"*"`, or a principal map with `"*"` among its values (`{"AWS": "*"}`, `{"AWS": ["*", ...]}`). */
export function isEveryone(principal: unknown): boolean {
  if (principal === '*') return true;
  if (!isObject(principal)) return false;
  return Object.values(principal).some((v) => asList(v).includes('*'));
}

/** The statement applies to every principal: a `Principal` naming everyone, or a `NotPrincipal` (everyone but those listed). */
export function appliesToEveryone(s: PolicyStatement): boolean {
  return isEveryone(getOwn(s, 'Principal')) || getOwn(s, 'NotPrincipal') !== undefined;
}

/** Condition keys that make a statement for everyone non-public when pinned to fixed values (lower case: condition keys are case-insensitive). */
export const RESTRICTING_KEYS: ReadonlySet<string> = new Set([
  'aws:sourcearn',
  'aws:sourcevpc',
  'aws:sourcevpce',
  'aws:sourceowner',
  'aws:sourceaccount',
  'aws:sourceip',
  'aws:userid',
  'aws:principalorgid',
  'aws:principalarn',
  'aws:principalaccount',
]);
/** Operators that narrow to the values they list (lower case, without a ForAnyValue: prefix). */
const NARROWING_OPERATORS: ReadonlySet<string> = new Set(['stringequals', 'stringequalsignorecase', 'stringlike', 'arnequals', 'arnlike', 'ipaddress']);

/** A value with no wildcard (`*`, `?`) and no policy variable (`${...}`). */
export function isFixedValue(v: unknown): boolean {
  if (typeof v === 'number' || typeof v === 'boolean') return true;
  return typeof v === 'string' && v !== '' && !/[*?]|\$\{/.test(v);
}

/** An IPv4 CIDR no broader than /8 or an IPv6 CIDR no broader than /32 (a bare address counts as a single host). */
export function isNarrowCidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const [addr, bits, extra] = v.split('/');
  if (extra !== undefined || addr === undefined || addr === '') return false;
  const v6 = addr.includes(':');
  if (!v6 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) return false;
  if (v6 && !/^[0-9a-fA-F:.]+$/.test(addr)) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  const n = Number(bits);
  return v6 ? n >= 32 && n <= 128 : n >= 8 && n <= 32;
}

/** The statement's conditions pin a restricting key to fixed values with a narrowing operator (see the module comment). */
export function hasRestrictingCondition(s: PolicyStatement): boolean {
  const condition = getOwn(s, 'Condition');
  if (!isObject(condition)) return false;
  for (const [operator, block] of Object.entries(condition)) {
    const op = operator.toLowerCase().replace(/^foranyvalue:/, '');
    if (!NARROWING_OPERATORS.has(op) || !isObject(block)) continue;
    for (const [key, value] of Object.entries(block)) {
      const k = key.toLowerCase();
      if (!RESTRICTING_KEYS.has(k)) continue;
      const values = asList(value);
      if (values.length === 0 || !values.every(isFixedValue)) continue;
      if (k === 'aws:sourceip' && (op !== 'ipaddress' || !values.every(isNarrowCidr))) continue;
      if (k !== 'aws:sourceip' && op === 'ipaddress') continue;
      return true;
    }
  }
  return false;
}

/** An Allow statement for everyone that no condition narrows (see the module comment): what SNS.4 / SQS.3 count as public. */
export function isPublicStatement(s: PolicyStatement): boolean {
  const effect = getOwn(s, 'Effect');
  return typeof effect === 'string' && effect.toLowerCase() === 'allow' && appliesToEveryone(s) && !hasRestrictingCondition(s);
}

export function publicStatements(doc: PolicyDocument | undefined): PolicyStatement[] {
  return statementsOf(doc).filter(isPublicStatement);
}

/** A statement in a few words for people: `"Sid1" Allow * sns:Publish, sns:Subscribe`. */
export function describeStatement(s: PolicyStatement): string {
  const sid = getOwn(s, 'Sid');
  const effect = typeof getOwn(s, 'Effect') === 'string' ? (getOwn(s, 'Effect') as string) : '?';
  const notPrincipal = getOwn(s, 'NotPrincipal') !== undefined;
  const who = notPrincipal ? 'everyone but NotPrincipal' : isEveryone(getOwn(s, 'Principal')) ? '*' : principalsOf(getOwn(s, 'Principal')).join(', ') || '?';
  const notAction = getOwn(s, 'NotAction') !== undefined;
  const actions = asList(getOwn(s, notAction ? 'NotAction' : 'Action')).filter((a) => typeof a === 'string');
  const what = `${notAction ? 'all but ' : ''}${actions.length > 3 ? `${actions.slice(0, 3).join(', ')} and ${actions.length - 3} more` : actions.join(', ') || '?'}`;
  return `${typeof sid === 'string' && sid !== '' ? `"${sid}" ` : ''}${effect} ${who} ${what}`;
}

function principalsOf(p: unknown): string[] {
  if (typeof p === 'string') return [p];
  if (!isObject(p)) return [];
  return Object.values(p).flatMap((v) => asList(v).filter((x): x is string => typeof x === 'string'));
}

// ---------------------------------------------------------------------------------------
// Removing public statements (SNS, SQS): plan, apply, undo and their checks, as pure steps

/** The fix of a resource policy that grants public access. */
export interface RemoveStatementsChange {
  /** Exactly the public statements, as they were read. */
  readonly remove: readonly PolicyStatement[];
  /**
   * Put in their place when no statement would be left and the service cannot hold a policy
   * without statements (SNS: the topic owner's default statement); absent: the policy is deleted
   * instead (SQS).
   */
  readonly add?: readonly PolicyStatement[];
}

/** What to write to the resource: a new document, no policy at all, or nothing (it already is as wanted). */
export type PolicyWrite = { readonly put: string } | { readonly delete: true } | null;

/** The change that leaves `policy` without public statements, or null when it has none. `whenEmpty`: the statements a service needs when none would be left (SNS). */
export function planRemovePublic(policy: string | undefined, whenEmpty?: readonly PolicyStatement[]): RemoveStatementsChange | null {
  const doc = parsePolicy(policy);
  const statements = statementsOf(doc);
  const remove = statements.filter(isPublicStatement);
  if (remove.length === 0) return null;
  const emptied = remove.length === statements.length;
  return { remove, ...(emptied && whenEmpty && whenEmpty.length > 0 ? { add: [...whenEmpty] } : {}) };
}

/** The statements the fix leaves from `statements`: the planned ones removed by content, and `add` only when nothing else is left. */
function afterRemoval(statements: readonly PolicyStatement[], change: RemoveStatementsChange): { statements: PolicyStatement[]; removed: number } {
  const { kept, removed } = removeStatements(statements, change.remove);
  return { statements: kept.length === 0 && change.add ? addStatements([], change.add) : kept, removed: removed.length };
}

/** The document the fix leaves from `policy` (undefined: no policy at all). */
export function documentAfterRemoval(policy: string | undefined, change: RemoveStatementsChange): PolicyDocument | undefined {
  const doc = parsePolicy(policy);
  if (doc === undefined) return undefined;
  const after = afterRemoval(statementsOf(doc), change).statements;
  return after.length === 0 ? undefined : withStatements(doc, after);
}

/**
 * What applying `change` to the policy as it is now writes: the planned statements removed by
 * content and every other statement kept as it is now (a statement someone added since the plan
 * stays); nothing when none of them is there any more (a repeat, or a person removed them).
 */
export function applyRemoval(current: string | undefined, change: RemoveStatementsChange): PolicyWrite {
  const doc = parsePolicy(current);
  if (doc === undefined) return null;
  const after = afterRemoval(statementsOf(doc), change);
  if (after.removed === 0) return null;
  return after.statements.length === 0 ? { delete: true } : { put: serializePolicy(withStatements(doc, after.statements)) };
}

/**
 * What undoing `change` writes, given the policy `before` the fix and as it is now: the exact
 * previous document when the policy is still what the fix left; otherwise (someone changed it
 * since) the removed statements put back and the statements the fix added taken out, keeping
 * every other statement as it is now. Nothing when that is already so.
 */
export function undoRemoval(before: string | undefined, current: string | undefined, change: RemoveStatementsChange): PolicyWrite {
  const now = parsePolicy(current);
  if (sameDocument(now, documentAfterRemoval(before, change)) && !sameDocument(now, parsePolicy(before))) {
    return before === undefined || before.trim() === '' ? { delete: true } : { put: before };
  }
  const had = statementsOf(parsePolicy(before));
  const added = (change.add ?? []).filter((s) => !containsStatement(had, s));
  const statements = statementsOf(now);
  const { kept } = removeStatements(statements, added.filter((s) => containsStatement(statements, s)));
  const restored = addStatements(kept, change.remove);
  if (restored.length === statements.length && restored.every((s, i) => statements[i] === s)) return null;
  return restored.length === 0 ? { delete: true } : { put: serializePolicy(withStatements(now ?? parsePolicy(before), restored)) };
}

/** Problems with `after` as the result of the fix: a public statement left, or a statement that was to stay gone. */
export function checkRemoval(before: string | undefined, change: RemoveStatementsChange, after: string | undefined): string[] {
  const afterStatements = statementsOf(parsePolicy(after));
  const problems = afterStatements.filter(isPublicStatement).map((s) => `public statement still present: ${describeStatement(s)}`);
  const { kept } = removeStatements(statementsOf(parsePolicy(before)), change.remove);
  for (const s of kept) if (!containsStatement(afterStatements, s)) problems.push(`statement that should have stayed is gone: ${describeStatement(s)}`);
  return problems;
}

/** Problems with `after` as the undo of the fix: a removed statement not back, or a statement the fix added still there. */
export function checkRemovalUndone(before: string | undefined, change: RemoveStatementsChange, after: string | undefined): string[] {
  const afterStatements = statementsOf(parsePolicy(after));
  const had = statementsOf(parsePolicy(before));
  const problems = change.remove.filter((s) => !containsStatement(afterStatements, s)).map((s) => `removed statement not restored: ${describeStatement(s)}`);
  for (const s of change.add ?? []) {
    if (!containsStatement(had, s) && containsStatement(afterStatements, s)) problems.push(`statement the fix added is still present: ${describeStatement(s)}`);
  }
  return problems;
}

/** An access policy in a few words for people: its public statements, and how many others it has. */
export function describePublicStatements(policy: string | undefined): string {
  const doc = parsePolicy(policy);
  const open = publicStatements(doc);
  const rest = statementsOf(doc).length - open.length;
  return `${open.length ? `public statements: ${open.map(describeStatement).join('; ')}` : 'no public statement'}; ${rest} other statement${rest === 1 ? '' : 's'}`;
}
