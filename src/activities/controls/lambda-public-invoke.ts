import {
  AddPermissionCommand,
  GetFunctionCommand,
  GetPolicyCommand,
  ListFunctionsCommand,
  RemovePermissionCommand,
  TagResourceCommand,
  type AddPermissionRequest,
  type FunctionUrlAuthType,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { canonicalJson } from '../../evidence/canonical.js';
import { Severity, type ControlId } from '../../findings/finding.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control, ControlCatalog } from './control.js';
import { arnResource } from './resource-ids.js';
import { clamp, judgeEach, nextPage } from './scan-util.js';

/**
 * Lambda.1: a function's resource-based policy must not let the public invoke it (AWS Security
 * Hub controls reference, "[Lambda.1] Lambda function policies should prohibit public access";
 * AWS Config managed rule lambda-function-public-access-prohibited). What counts as public, as
 * the Config rule describes it:
 * - an Allow statement whose principal is or contains a wildcard ("*", {"AWS": "*"}), unless a
 *   condition pins it to fixed values ("values that don't contain a wildcard or ... Variables"):
 *   here aws:SourceAccount, aws:SourceOwner, aws:PrincipalOrgID, aws:PrincipalAccount,
 *   aws:PrincipalArn, or an aws:SourceArn naming an account, under a matching operator
 *   (StringEquals, StringLike, ArnEquals, ArnLike; not ...IfExists, which a request without the key
 *   passes). This includes the statements a function URL with auth type NONE needs
 *   (lambda:InvokeFunctionUrl with lambda:FunctionUrlAuthType NONE, and since October 2025
 *   lambda:InvokeFunction with lambda:InvokedViaFunctionUrl): those conditions say how the function
 *   is called, not who may call it, and Security Hub fails such functions;
 * - "also NON_COMPLIANT if a Lambda function is invoked from Amazon S3, and the policy doesn't
 *   include a condition to limit public access, such as AWS:SourceAccount": an s3.amazonaws.com
 *   statement without aws:SourceAccount (or aws:SourceOwner), since a bucket ARN names no account.
 *
 * The fix removes exactly those statements (RemovePermission by Sid); undo adds them back with
 * AddPermission. The control acts on the function's own (unqualified) policy: an alias or version
 * has a policy of its own, which Security Hub's AWS::Lambda::Function resource does not cover.
 */

/** One statement of the policy, as GetPolicy returned it. */
export type PolicyStatement = Readonly<Record<string, unknown>>;

export interface LambdaPolicyState {
  readonly functionName: string;
  readonly functionArn: string;
  /** The statements of the function's resource-based policy; empty when it has none. */
  readonly statements: readonly PolicyStatement[];
}
export interface RemovePublicStatementsChange {
  readonly functionName: string;
  /** Exactly the public statements that have a Sid, as read: removed by Sid (if still as read), re-created by undo. */
  readonly remove: readonly PolicyStatement[];
  /** Statements of `remove` that AddPermission cannot re-create exactly, with why: undo leaves them out. */
  readonly notRestorable?: readonly { readonly sid: string; readonly why: string }[];
  /** Public statements without a Sid (only a JSON policy has those): RemovePermission cannot name them, so the fix leaves them. */
  readonly withoutSid?: readonly PolicyStatement[];
  /** Why a person must approve this change whatever the mode says (`Triage.approvalNeeded`). */
  readonly approvalNeeded?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A policy element that is a string or a list of strings, as a list (anything else: undefined). */
function strings(v: unknown): string[] | undefined {
  if (typeof v === 'string') return [v];
  if (typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'boolean')) return v.map(String);
  return undefined;
}

/** A value that names exactly one thing: no wildcard, no policy variable. */
const isFixed = (v: string) => v !== '' && !/[*?]|\$\{/.test(v);
/** An ARN whose account field is a fixed account id (an S3 bucket ARN has none). */
const namesAccount = (arn: string) => isFixed(arn) && /^arn:[^:]+:[^:]*:[^:]*:\d{12}:/.test(arn);

const MATCHING_OPERATORS: ReadonlySet<string> = new Set(['stringequals', 'stringequalsignorecase', 'stringlike', 'arnequals', 'arnlike']);
const WHO_KEYS: ReadonlySet<string> = new Set(['aws:sourceaccount', 'aws:sourceowner', 'aws:principalorgid', 'aws:principalaccount', 'aws:principalarn']);
const ACCOUNT_KEYS: ReadonlySet<string> = new Set(['aws:sourceaccount', 'aws:sourceowner']);

/** The statement's condition keys (lower case) that a matching operator pins to fixed values, with those values. */
function pinnedKeys(statement: PolicyStatement): Map<string, string[]> {
  const pinned = new Map<string, string[]>();
  const condition = statement['Condition'];
  if (!isObj(condition)) return pinned;
  for (const [op, block] of Object.entries(condition)) {
    if (!MATCHING_OPERATORS.has(op.toLowerCase()) || !isObj(block)) continue;
    for (const [key, value] of Object.entries(block)) {
      const values = strings(value);
      if (values && values.length > 0 && values.every(isFixed)) pinned.set(key.toLowerCase(), values);
    }
  }
  return pinned;
}

const S3_SERVICE = /^s3\.amazonaws\.com(\.cn)?$/;

/** The principal element's values (every principal type), or undefined when it has none. */
function principals(statement: PolicyStatement): string[] | undefined {
  const p = statement['Principal'];
  if (p === undefined) return undefined;
  if (isObj(p)) return Object.values(p).flatMap((v) => strings(v) ?? []);
  return strings(p) ?? [];
}

/**
 * Why the statement makes the function public, or undefined when it does not (see the module
 * comment for what counts). Pure.
 */
export function publicReason(statement: PolicyStatement): string | undefined {
  if (statement['Effect'] !== 'Allow') return undefined;
  if (statement['NotPrincipal'] !== undefined) return 'NotPrincipal: allows everyone but the principals it lists';
  const who = principals(statement) ?? [];
  const pinned = pinnedKeys(statement);
  if (who.some((p) => p.includes('*'))) {
    const sourceArns = pinned.get('aws:sourcearn');
    const restricted = [...WHO_KEYS].some((k) => pinned.has(k)) || (sourceArns !== undefined && sourceArns.every(namesAccount));
    return restricted ? undefined : 'Principal * without a condition that limits it to an account, an organization or a source';
  }
  if (who.some((p) => S3_SERVICE.test(p)) && ![...ACCOUNT_KEYS].some((k) => pinned.has(k))) {
    return 'Amazon S3 may invoke it on behalf of a bucket in any account (no aws:SourceAccount condition)';
  }
  return undefined;
}

/** The statement in a form where equal meaning is equal JSON: keys and operators case-folded where IAM ignores case, lists sorted, "*" = {"AWS": "*"}. */
export function normalizeStatement(statement: PolicyStatement): unknown {
  const list = (v: unknown) => (strings(v) ?? [v]).slice().sort();
  const norm = ([key, value]: [string, unknown]): [string, unknown] => {
    if (key === 'Principal' || key === 'NotPrincipal') {
      const p = value === '*' ? { AWS: '*' } : value;
      return [key, isObj(p) ? Object.fromEntries(Object.entries(p).map(([t, v]) => [t, list(v)])) : p];
    }
    if (key === 'Action' || key === 'NotAction') return [key, list(value).map((v) => (typeof v === 'string' ? v.toLowerCase() : v))];
    if (key === 'Resource' || key === 'NotResource') return [key, list(value)];
    if (key === 'Condition' && isObj(value)) {
      // Operators and keys are case-insensitive; an operator written twice in different case merges.
      const ops = new Map<string, [string, unknown][]>();
      for (const [op, block] of Object.entries(value)) {
        const entries = isObj(block) ? Object.entries(block).map(([k, v]): [string, unknown] => [k.toLowerCase(), list(v)]) : [];
        ops.set(op.toLowerCase(), [...(ops.get(op.toLowerCase()) ?? []), ...entries]);
      }
      return [key, Object.fromEntries([...ops].map(([op, entries]) => [op, Object.fromEntries(entries)]))];
    }
    return [key, value];
  };
  return Object.fromEntries(Object.entries(statement).map(norm));
}

export const statementKey = (s: PolicyStatement): string => canonicalJson(normalizeStatement(s));
export const sidOf = (s: PolicyStatement): string | undefined => (typeof s['Sid'] === 'string' && s['Sid'] !== '' ? s['Sid'] : undefined);

/** "pub: * lambda:InvokeFunction" */
export function describeStatement(s: PolicyStatement): string {
  const p = s['Principal'];
  const who = p === '*' ? '*' : isObj(p) ? Object.values(p).flatMap((v) => strings(v) ?? []).join(',') : (strings(p) ?? ['?']).join(',');
  const what = (strings(s['Action']) ?? strings(s['NotAction'])?.map((a) => `not ${a}`) ?? ['?']).join(',');
  return `${sidOf(s) ?? '(no Sid)'}: ${who} ${what}`;
}

/** A statement that only serves a function URL (its action, or a function-URL condition). */
function servesFunctionUrl(s: PolicyStatement): boolean {
  const key = statementKey(s);
  return key.includes('lambda:invokefunctionurl') || key.includes('lambda:functionurlauthtype') || key.includes('lambda:invokedviafunctionurl');
}

/**
 * The AddPermission request that re-creates `statement` exactly on `functionName`, or why there
 * is none: AddPermission writes one Allow statement with one principal, one lambda: action, the
 * function's ARN as resource and only the conditions its parameters make (SourceArn as ArnLike
 * AWS:SourceArn, SourceAccount / PrincipalOrgID / FunctionUrlAuthType / EventSourceToken as
 * StringEquals, InvokedViaFunctionUrl as Bool). "*" and {"AWS": "*"} are the same principal.
 */
export function addPermissionFor(statement: PolicyStatement, functionName: string, functionArn: string): { readonly input: AddPermissionRequest } | { readonly why: string } {
  const sid = sidOf(statement);
  if (!sid) return { why: 'it has no Sid' };
  const extra = Object.keys(statement).filter((k) => !['Sid', 'Effect', 'Principal', 'Action', 'Resource', 'Condition'].includes(k));
  if (extra.length > 0) return { why: `AddPermission cannot write ${extra.join(', ')}` };
  if (statement['Effect'] !== 'Allow') return { why: 'AddPermission writes Allow statements only' };
  const p = statement['Principal'];
  const pv = isObj(p) ? Object.entries(p).map(([t, v]) => [t, strings(v)] as const) : undefined;
  const principal =
    p === '*' ? '*' : pv && pv.length === 1 && pv[0]![1]?.length === 1 && ['AWS', 'Service'].includes(pv[0]![0]) ? pv[0]![1][0] : undefined;
  if (principal === undefined) return { why: 'AddPermission takes exactly one AWS or service principal' };
  const action = strings(statement['Action']);
  if (!action || action.length !== 1 || !action[0]!.startsWith('lambda:')) return { why: 'AddPermission takes exactly one lambda: action' };
  const resource = strings(statement['Resource']);
  if (!resource || resource.length !== 1 || resource[0] !== functionArn) return { why: `AddPermission writes the function's ARN (${functionArn}) as the resource` };
  const input: AddPermissionRequest = { FunctionName: functionName, StatementId: sid, Action: action[0]!, Principal: principal };
  const cond = statement['Condition'];
  if (cond !== undefined) {
    if (!isObj(cond)) return { why: 'its condition is not an object' };
    for (const [op, block] of Object.entries(cond)) {
      if (!isObj(block)) return { why: `its ${op} condition is not an object` };
      for (const [key, value] of Object.entries(block)) {
        const v = strings(value);
        if (!v || v.length !== 1) return { why: `its ${op} ${key} condition has several values` };
        const o = op.toLowerCase();
        const k = key.toLowerCase();
        const set = (field: 'SourceArn' | 'SourceAccount' | 'PrincipalOrgID' | 'EventSourceToken') => {
          if (input[field] !== undefined) return false;
          input[field] = v[0]!;
          return true;
        };
        let ok = false;
        if (o === 'arnlike' && k === 'aws:sourcearn') ok = set('SourceArn');
        else if (o === 'stringequals' && k === 'aws:sourceaccount') ok = set('SourceAccount');
        else if (o === 'stringequals' && k === 'aws:principalorgid') ok = set('PrincipalOrgID');
        else if (o === 'stringequals' && k === 'lambda:eventsourcetoken') ok = set('EventSourceToken');
        else if (o === 'stringequals' && k === 'lambda:functionurlauthtype' && (v[0] === 'NONE' || v[0] === 'AWS_IAM') && input.FunctionUrlAuthType === undefined) {
          input.FunctionUrlAuthType = v[0] as FunctionUrlAuthType;
          ok = true;
        } else if (o === 'bool' && k === 'lambda:invokedviafunctionurl' && v[0] === 'true' && input.InvokedViaFunctionUrl === undefined) {
          input.InvokedViaFunctionUrl = true;
          ok = true;
        }
        if (!ok) return { why: `AddPermission cannot write the condition ${op} ${key}` };
      }
    }
  }
  return { input };
}

/** The change that closes the function to the public, or null when no statement makes it public. */
export function planRemovePublicStatements(state: LambdaPolicyState): RemovePublicStatementsChange | null {
  const open = state.statements.filter((s) => publicReason(s) !== undefined);
  if (open.length === 0) return null;
  const remove = open.filter((s) => sidOf(s) !== undefined);
  const withoutSid = open.filter((s) => sidOf(s) === undefined);
  const notRestorable = remove.flatMap((s) => {
    const r = addPermissionFor(s, state.functionName, state.functionArn);
    return 'why' in r ? [{ sid: sidOf(s)!, why: r.why }] : [];
  });
  const needs: string[] = [];
  const s3 = remove.filter((s) => publicReason(s)?.startsWith('Amazon S3'));
  if (s3.length > 0) {
    needs.push(
      `removing ${s3.map((s) => sidOf(s)).join(', ')} stops Amazon S3 event notifications from invoking the function; adding an aws:SourceAccount condition instead (AddPermission --source-account) would keep them`,
    );
  }
  if (withoutSid.length > 0) needs.push(`${withoutSid.length} public statement${withoutSid.length === 1 ? ' has' : 's have'} no Sid, which RemovePermission needs: edit the policy by hand`);
  return {
    functionName: state.functionName,
    remove,
    ...(notRestorable.length > 0 ? { notRestorable } : {}),
    ...(withoutSid.length > 0 ? { withoutSid } : {}),
    ...(needs.length > 0 ? { approvalNeeded: needs.join('; ') } : {}),
  };
}

/** Problems with `after`: a public statement left, or a statement that was to stay gone. */
export function checkRemoved(before: LambdaPolicyState, change: RemovePublicStatementsChange, after: LambdaPolicyState): string[] {
  const problems = after.statements.filter((s) => publicReason(s) !== undefined).map((s) => `still public: ${describeStatement(s)} (${publicReason(s)})`);
  const removed = new Set(change.remove.map(statementKey));
  const live = new Set(after.statements.map(statementKey));
  for (const s of before.statements) if (!removed.has(statementKey(s)) && !live.has(statementKey(s))) problems.push(`statement that should have stayed is gone: ${describeStatement(s)}`);
  return problems;
}

/** Problems with `after` as the undo: every removed statement AddPermission can re-create is back, as it was. */
export function checkRestored(change: RemovePublicStatementsChange, after: LambdaPolicyState): string[] {
  const skipped = new Set((change.notRestorable ?? []).map((n) => n.sid));
  const live = new Set(after.statements.map(statementKey));
  return change.remove.filter((s) => !skipped.has(sidOf(s)!) && !live.has(statementKey(s))).map((s) => `removed statement not restored: ${describeStatement(s)}`);
}

export function describePolicy(state: LambdaPolicyState): string {
  const open = state.statements.filter((s) => publicReason(s) !== undefined);
  const rest = state.statements.length - open.length;
  const others = `${rest} other statement${rest === 1 ? '' : 's'}`;
  return open.length === 0 ? `no public statements; ${others}` : `public: ${open.map((s) => `${describeStatement(s)} (${publicReason(s)})`).join('; ')}; ${others}`;
}

export function summarizeRemove(change: RemovePublicStatementsChange): string {
  const parts = [
    change.remove.length > 0
      ? `Remove public statements (${change.remove.map(describeStatement).join('; ')}) from the resource policy of Lambda function ${change.functionName}`
      : `Nothing RemovePermission can remove from the resource policy of Lambda function ${change.functionName}`,
  ];
  if (change.remove.some(servesFunctionUrl)) parts.push('its function URL stops answering unauthenticated requests');
  if (change.notRestorable?.length) parts.push(`undo cannot re-create ${change.notRestorable.map((n) => `${n.sid} (${n.why})`).join(', ')}`);
  if (change.withoutSid?.length) parts.push(`left in place, without a Sid: ${change.withoutSid.map(describeStatement).join('; ')}`);
  return parts.join('; ');
}

const NAME = '[A-Za-z0-9_-]{1,64}';
const QUALIFIER = '[A-Za-z0-9$_-]{1,128}';
/**
 * The function and the version or alias that Lambda's FunctionName forms name: a name, a name
 * with a qualifier (name:live), a partial ARN (123456789012:function:name) or a full ARN, each
 * with or without a qualifier.
 */
function functionRef(raw: string): { readonly name: string; readonly qualifier?: string } | undefined {
  const res = arnResource(raw, 'lambda');
  const m =
    res !== undefined
      ? new RegExp(`^function:(${NAME})(?::(${QUALIFIER}))?$`).exec(res)
      : new RegExp(`^(?:\\d{12}:function:)?(${NAME})(?::(${QUALIFIER}))?$`).exec(raw);
  if (!m) return undefined;
  return { name: m[1]!, ...(m[2] !== undefined ? { qualifier: m[2] } : {}) };
}

/** The function name in what a source gives: a name or an ARN (a version's or alias's names its function). */
export function lambdaFunctionName(raw: string): string | undefined {
  return functionRef(raw)?.name;
}

/**
 * What CloudTrail's Lambda AddPermission record names (logged with the API version in its name:
 * AddPermission20150331v2, and AddPermission20150331 for the older path): the function
 * (`requestParameters.functionName`, a name or an ARN) and the statement added
 * (`responseElements.statement`, a JSON string). A statement that is not public, or one added to
 * a version's or alias's policy (`requestParameters.qualifier`), changes nothing this control
 * judges. Without the response, the statement is rebuilt from the request parameters as
 * AddPermission writes it. Pure.
 */
export function functionsFromCloudTrail(record: Readonly<Record<string, unknown>>): { readonly resources: readonly { readonly id: string; readonly title: string }[] } | { readonly ignore: string } {
  const req = isObj(record['requestParameters']) ? record['requestParameters'] : undefined;
  const ref = typeof req?.['functionName'] === 'string' ? functionRef(req['functionName']) : undefined;
  if (ref === undefined) return { ignore: 'the record names no Lambda function' };
  const name = ref.name;
  const qualifier = typeof req?.['qualifier'] === 'string' ? req['qualifier'] : ref.qualifier;
  // $LATEST is the unpublished function itself, whose policy is the function's own.
  if (qualifier !== undefined && qualifier !== '$LATEST') return { ignore: `adds to the policy of ${name}:${qualifier.slice(0, 128)} (a version or alias), not the function's own policy` };
  const statement = statementFromRecord(record, req!);
  const why = publicReason(statement);
  if (why === undefined) return { ignore: `adds a statement that is not public (${describeStatement(statement).slice(0, 200)})` };
  return { resources: [{ id: name, title: `Lambda function ${name}: AddPermission made it public (${describeStatement(statement).slice(0, 200)}: ${why})` }] };
}

/** The statement the record's AddPermission added: from the response, or rebuilt from the request. */
function statementFromRecord(record: Readonly<Record<string, unknown>>, req: Obj): PolicyStatement {
  const res = record['responseElements'];
  const raw = isObj(res) ? res['statement'] : undefined;
  if (typeof raw === 'string') {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (isObj(parsed)) return parsed;
    } catch {
      // fall back to the request
    }
  }
  const str = (k: string) => (typeof req[k] === 'string' ? (req[k] as string) : undefined);
  const principal = str('principal') ?? '';
  const cond: Record<string, Record<string, string>> = {};
  const add = (op: string, key: string, v: string | undefined) => {
    if (v !== undefined) cond[op] = { ...cond[op], [key]: v };
  };
  add('ArnLike', 'AWS:SourceArn', str('sourceArn'));
  add('StringEquals', 'AWS:SourceAccount', str('sourceAccount'));
  add('StringEquals', 'aws:PrincipalOrgID', str('principalOrgID'));
  add('StringEquals', 'lambda:FunctionUrlAuthType', str('functionUrlAuthType'));
  if (req['invokedViaFunctionUrl'] === true) add('Bool', 'lambda:InvokedViaFunctionUrl', 'true');
  return {
    ...(str('statementId') ? { Sid: str('statementId') } : {}),
    Effect: 'Allow',
    Principal: principal === '*' ? '*' : principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
    Action: str('action') ?? '',
    ...(Object.keys(cond).length > 0 ? { Condition: cond } : {}),
  };
}

/** The function's statements, or none when it has no policy (GetPolicy answers ResourceNotFoundException then too). */
async function readStatements(lambda: LambdaClient, functionName: string): Promise<PolicyStatement[]> {
  const policy = await awsCall(`GetPolicy on ${functionName}`, async () => {
    try {
      return (await lambda.send(new GetPolicyCommand({ FunctionName: functionName }))).Policy;
    } catch (err) {
      if (awsErrorCode(err) === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  });
  if (policy === undefined) return [];
  const doc: unknown = JSON.parse(policy);
  const st = isObj(doc) ? doc['Statement'] : undefined;
  return (Array.isArray(st) ? st : isObj(st) ? [st] : []).filter(isObj);
}

/** The function (GetFunction: ResourceNotFound when it does not exist), its tags, and its policy. */
async function readFunction(aws: AwsClients, region: string, functionName: string): Promise<{ state: LambdaPolicyState; tags: Record<string, string> }> {
  const lambda = aws.lambda(region);
  const fn = await awsCall(`GetFunction on ${functionName}`, () => lambda.send(new GetFunctionCommand({ FunctionName: functionName })));
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(fn.Tags ?? {})) Object.defineProperty(tags, k, { value: v, enumerable: true, writable: true, configurable: true });
  const functionArn = fn.Configuration?.FunctionArn ?? '';
  return { state: { functionName, functionArn, statements: await readStatements(lambda, functionName) }, tags };
}

export const lambdaPublicInvokeCatalog: ControlCatalog = {
  resourceType: 'AwsLambdaFunction',
  severity: Severity.Critical,
  securityHub: ['Lambda.1'],
  configRules: ['lambda-function-public-access-prohibited'],
  cloudTrail: [{ eventSource: 'lambda.amazonaws.com', eventNames: ['AddPermission20150331v2', 'AddPermission20150331'] }],
  changes:
    "Removes, by Sid, the function policy's statements that let anyone invoke it (a * principal without a condition pinning an account, organization or source, including a function URL's public statements) and Amazon S3's without aws:SourceAccount; every other statement stays",
  defaultMode: 'approve',
  undo:
    'exact for every statement AddPermission can write (one principal, one lambda: action, the function as resource, conditions from its parameters); {"AWS": "*"} comes back as "*", the same principal. A statement from a JSON policy that AddPermission cannot write (several principals or actions, other conditions, Deny) is not re-created, and the plan names it',
  resourceIdHint: 'a Lambda function name or ARN',
  resourceId: lambdaFunctionName,
  fromCloudTrail: functionsFromCloudTrail,
};

export const lambdaPublicInvoke: Control<LambdaPolicyState, RemovePublicStatementsChange> = {
  id: 'lambda-public-invoke' as ControlId,
  title: 'Lambda function policies must not let the public invoke the function',
  fixable: true,
  catalog: lambdaPublicInvokeCatalog,

  read: (aws, finding) => readFunction(aws, finding.region, finding.resource.id),

  plan: (state) => planRemovePublicStatements(state),

  /**
   * Re-reads the policy and removes each planned statement still there as planned (same Sid, same
   * content); a statement whose Sid now says something else is someone's new statement and stays,
   * and one already gone counts as done. Every other statement is untouched: RemovePermission
   * names one Sid.
   */
  async apply(aws, finding, change) {
    const lambda = aws.lambda(finding.region);
    const live = await readStatements(lambda, change.functionName);
    for (const planned of change.remove) {
      const sid = sidOf(planned)!;
      if (!live.some((s) => sidOf(s) === sid && statementKey(s) === statementKey(planned))) continue;
      await awsCall(`RemovePermission ${sid} on ${change.functionName}`, async () => {
        try {
          await lambda.send(new RemovePermissionCommand({ FunctionName: change.functionName, StatementId: sid }));
        } catch (err) {
          // Removed meanwhile (an earlier attempt whose answer was lost, or a person).
          if (awsErrorCode(err) !== 'ResourceNotFoundException') throw err;
        }
      });
    }
  },

  check: (before, change, after) => checkRemoved(before, change, after),

  /**
   * Adds back each removed statement AddPermission can write, unless it is there already (a
   * repeat, or a person); a statement now using the Sid for something else is left alone (and
   * checkUndo reports the removed one missing).
   */
  async undo(aws, finding, before, change) {
    const lambda = aws.lambda(finding.region);
    const live = await readStatements(lambda, change.functionName);
    for (const s of change.remove) {
      const sid = sidOf(s)!;
      if (live.some((l) => sidOf(l) === sid)) continue;
      const r = addPermissionFor(s, change.functionName, before.functionArn);
      if ('why' in r) continue;
      await awsCall(`AddPermission ${sid} on ${change.functionName}`, async () => {
        try {
          await lambda.send(new AddPermissionCommand(r.input));
        } catch (err) {
          // The Sid exists (added meanwhile): checkUndo judges what it says.
          if (awsErrorCode(err) !== 'ResourceConflictException') throw err;
        }
      });
    }
  },

  checkUndo: (_before, change, after) => checkRestored(change, after),

  async tag(aws, finding, key, value) {
    const name = finding.resource.id;
    const lambda = aws.lambda(finding.region);
    const fn = await awsCall(`GetFunction on ${name}`, () => lambda.send(new GetFunctionCommand({ FunctionName: name })));
    const arn = fn.Configuration?.FunctionArn ?? name;
    await awsCall(`TagResource on ${name}`, () => lambda.send(new TagResourceCommand({ Resource: arn, Tags: { [key]: value } })));
  },

  /** The region's functions (ListFunctions), each policy read (GetPolicy) and judged. */
  async scanPage(aws, o) {
    const lambda = aws.lambda(o.region);
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`ListFunctions in ${o.region}`, () => lambda.send(new ListFunctionsCommand({ MaxItems: clamp(o.pageSize, 1, 50), ...(token ? { Marker: token } : {}) })));
      return { items: (out.Functions ?? []).flatMap((f) => (f.FunctionName ? [{ name: f.FunctionName, arn: f.FunctionArn ?? '' }] : [])), next: out.NextMarker };
    });
    const arns = new Map(page.items.map((f) => [f.name, f.arn]));
    return {
      ...(await judgeEach(
        page.items.map((f) => f.name),
        async (name): Promise<LambdaPolicyState> => ({ functionName: name, functionArn: arns.get(name) ?? '', statements: await readStatements(lambda, name) }),
        (name, state) => {
          const change = planRemovePublicStatements(state);
          const open = change ? [...change.remove, ...(change.withoutSid ?? [])] : [];
          return change && { resourceId: name, title: `Lambda function ${name}: its policy lets the public invoke it (${open.map(describeStatement).join('; ')})`, severity: Severity.Critical };
        },
      )),
      scanned: page.items.length,
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    };
  },

  describe: describePolicy,

  summarize: (change) => summarizeRemove(change),
};
