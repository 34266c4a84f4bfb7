import { readFileSync } from 'node:fs';
import { parse, type CollectionTag, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml';

/**
 * CloudFormation templates for tests: YAML with the short intrinsic tags (!Sub, !Ref, !If...)
 * read as their long forms ({"Fn::Sub": ...}), and a resolver that evaluates the intrinsics a
 * policy document uses against sample parameter values.
 */

const FUNCTIONS = ['And', 'Base64', 'Cidr', 'Equals', 'FindInMap', 'GetAtt', 'GetAZs', 'If', 'ImportValue', 'Join', 'Not', 'Or', 'Select', 'Split', 'Sub', 'Transform', 'Length', 'ToJsonString'];

const longName = (fn: string) => (fn === 'Ref' || fn === 'Condition' ? fn : `Fn::${fn}`);

function tagsFor(fn: string): (ScalarTag | CollectionTag)[] {
  const key = longName(fn);
  const scalar: ScalarTag = {
    tag: `!${fn}`,
    // !GetAtt Resource.Attribute is the short form of ["Resource", "Attribute"].
    resolve: (s: string) => ({ [key]: fn === 'GetAtt' ? [s.slice(0, s.indexOf('.')), s.slice(s.indexOf('.') + 1)] : s }),
  };
  const seq: CollectionTag = { tag: `!${fn}`, collection: 'seq', resolve: (v: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [key]: v.toJSON() }) };
  const map: CollectionTag = { tag: `!${fn}`, collection: 'map', resolve: (v: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [key]: v.toJSON() }) };
  return [scalar, seq, map];
}

const CFN_TAGS = ['Ref', 'Condition', ...FUNCTIONS].flatMap(tagsFor);

export interface Template {
  readonly Parameters?: Record<string, { Type: string; Default?: unknown; AllowedPattern?: string; NoEcho?: boolean; MinLength?: number }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Resources: Record<string, { Type: string; Condition?: string; Properties?: Record<string, unknown> }>;
  readonly Outputs?: Record<string, { Value: unknown }>;
}

export function loadTemplate(path: string): Template {
  const t = parse(readFileSync(path, 'utf8'), { customTags: CFN_TAGS }) as Template;
  if (!t || typeof t !== 'object' || !t.Resources) throw new Error(`${path} is not a CloudFormation template (no Resources)`);
  return t;
}

/** Sample values: parameters (defaults unless given) and pseudo parameters. */
export type Values = Record<string, string>;

export function sampleValues(t: Template, given: Values = {}): Values {
  const out: Values = { 'AWS::Partition': 'aws', 'AWS::AccountId': '111122223333', 'AWS::Region': 'us-east-1', 'AWS::StackName': 'rectify', 'AWS::URLSuffix': 'amazonaws.com' };
  for (const [name, p] of Object.entries(t.Parameters ?? {})) if (p.Default !== undefined) out[name] = String(p.Default);
  Object.assign(out, given);
  return out;
}

const NO_VALUE = Symbol('AWS::NoValue');

/**
 * `value` with the intrinsics evaluated: Ref, Fn::Sub, Fn::If (with the template's
 * Conditions), Fn::Join, Fn::Select, Fn::Split, AWS::NoValue. Refs to resources and Fn::GetAtt
 * become placeholder strings. Anything else throws: the test would otherwise read a policy the
 * template does not produce.
 */
export function resolve(t: Template, value: unknown, values: Values): unknown {
  const r = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(r).filter((x) => x !== NO_VALUE);
    if (v === null || typeof v !== 'object') return v;
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 1) {
      const [k, arg] = entries[0]!;
      if (k === 'Ref') return ref(arg as string);
      if (k === 'Fn::Sub') return sub(arg);
      if (k === 'Fn::If') {
        const [cond, yes, no] = arg as [string, unknown, unknown];
        return r(condition(cond) ? yes : no);
      }
      if (k === 'Fn::Join') {
        const [sep, parts] = arg as [string, unknown];
        return (r(parts) as unknown[]).map(String).join(sep);
      }
      if (k === 'Fn::Select') {
        const [i, list] = arg as [unknown, unknown];
        return (r(list) as unknown[])[Number(r(i))];
      }
      if (k === 'Fn::Split') {
        const [sep, s] = arg as [string, unknown];
        return String(r(s)).split(sep);
      }
      if (k === 'Fn::GetAtt') return `{${(arg as string[]).join('.')}}`;
      if (k.startsWith('Fn::') || k === 'Condition') throw new Error(`resolve: ${k} is not supported`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) {
      const y = r(x);
      if (y !== NO_VALUE) out[k] = y;
    }
    return out;
  };
  const ref = (name: string): unknown => {
    if (name === 'AWS::NoValue') return NO_VALUE;
    if (name in values) return values[name];
    if (t.Resources[name]) return `{${name}}`;
    throw new Error(`resolve: no value for Ref ${name}`);
  };
  const sub = (arg: unknown): string => {
    const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_, bang: string, name: string) => {
      if (bang) return `\${${name}}`; // ${!Literal} is the text ${Literal}
      if (name in vars) return String(r(vars[name]));
      if (name.includes('.')) return `{${name}}`;
      return String(ref(name));
    });
  };
  const condition = (name: string): boolean => {
    const c = t.Conditions?.[name];
    if (c === undefined) throw new Error(`resolve: no condition ${name}`);
    return evaluate(c);
  };
  const evaluate = (c: unknown): boolean => {
    const [[k, arg]] = Object.entries(c as Record<string, unknown>) as [[string, unknown]];
    const args = arg as unknown[];
    if (k === 'Fn::Equals') return String(r(args[0])) === String(r(args[1]));
    if (k === 'Fn::Not') return !evaluate(args[0]);
    if (k === 'Fn::And') return args.every(evaluate);
    if (k === 'Fn::Or') return args.some(evaluate);
    if (k === 'Condition') return condition(arg as string);
    throw new Error(`resolve: condition function ${k} is not supported`);
  };
  const out = r(value);
  if (out === NO_VALUE) throw new Error('resolve: the value is AWS::NoValue');
  return out;
}
