import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GLOBAL_RESOURCE_TYPES, type ControlId } from '../../findings/finding.js';
import type { Control, ControlCatalog } from './control.js';

/**
 * The controls this process knows: the built-in ones (registered by ./index.ts) and any a user
 * adds (`registerControl`, or a module named in CONTROL_MODULES). Everything that needs to know
 * the controls asks here: the webhook normalizers (which control a Security Hub id, a Config rule
 * or a CloudTrail event maps to), the scan, the policy loader (which sections are valid, and each
 * control's settings), `cli controls` and the README's catalog. Workflow code never imports it:
 * what a workflow needs of a control travels in its input (the policy snapshot) or comes from an
 * activity, so registering a control changes no workflow code and no recorded history.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyControl = Control<any, any>;
/** A control that can be registered: one with catalog facts. */
export type CatalogedControl = AnyControl & { readonly catalog: ControlCatalog };

const registry = new Map<string, CatalogedControl>();
/** The first six: src/findings/cloudtrail.ts reads their CloudTrail events itself. */
const builtIn = new Set<string>();

/** Lower-case letters, digits and '-', 3 to 63 characters, starting with a letter: it names workflows and search attributes. */
const ID = /^[a-z][a-z0-9-]{2,62}$/;

export class ControlRegistrationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`control not registered: ${problems.join('; ')}`);
    this.name = 'ControlRegistrationError';
  }
}

/** Every problem that keeps `c` from being registered beside the controls already known. */
export function registrationProblems(c: AnyControl): string[] {
  const problems: string[] = [];
  const id = (c as { id?: unknown }).id;
  const name = typeof id === 'string' ? `control "${id}"` : 'the control';
  if (typeof id !== 'string' || !ID.test(id)) problems.push(`${name}: id must be 3-63 lower-case letters, digits and '-', starting with a letter`);
  if (typeof id === 'string' && registry.has(id) && registry.get(id) !== c) problems.push(`${name}: another control has this id`);
  for (const m of ['read', 'plan', 'apply', 'check', 'undo', 'checkUndo', 'scanPage', 'summarize', 'describe'] as const) {
    if (typeof (c as unknown as Record<string, unknown>)[m] !== 'function') problems.push(`${name}: ${m} must be a function`);
  }
  const cat = c.catalog;
  if (cat === undefined) {
    problems.push(`${name}: catalog is missing (its sources, what it changes, default mode, undo)`);
    return problems;
  }
  if (typeof cat.resourceId !== 'function') problems.push(`${name}: catalog.resourceId must be a function`);
  if (typeof cat.fromCloudTrail !== 'function') problems.push(`${name}: catalog.fromCloudTrail must be a function`);
  if (!['auto', 'approve', 'notify'].includes(cat.defaultMode)) problems.push(`${name}: catalog.defaultMode must be auto, approve or notify`);
  if (!c.fixable && cat.defaultMode !== 'notify') problems.push(`${name}: a control that cannot fix (fixable false) must default to notify`);
  if ((cat.global === true) !== GLOBAL_RESOURCE_TYPES.includes(cat.resourceType)) {
    problems.push(`${name}: catalog.global must be true exactly for the resource types that belong to no region (${GLOBAL_RESOURCE_TYPES.join(', ')})`);
  }
  for (const other of registry.values()) {
    if (other === c || other.id === id) continue;
    for (const sh of cat.securityHub) if (other.catalog.securityHub.includes(sh)) problems.push(`${name}: Security Hub control ${sh} already maps to ${other.id}`);
    for (const rule of cat.configRules) if (other.catalog.configRules.includes(rule.toLowerCase())) problems.push(`${name}: Config rule ${rule} already maps to ${other.id}`);
  }
  return problems;
}

/** Makes `c` known to every part of the product in this process. Throws, naming every problem, when it cannot be. */
export function registerControl(c: AnyControl, o: { builtIn?: boolean } = {}): CatalogedControl {
  const problems = registrationProblems(c);
  if (problems.length > 0) throw new ControlRegistrationError(problems);
  registry.set(c.id, c as CatalogedControl);
  if (o.builtIn) builtIn.add(c.id);
  return c as CatalogedControl;
}

export function getControl(id: string): CatalogedControl | undefined {
  return registry.get(id);
}

/** The control of `id`; throws naming the known ones when there is none. */
export function requireControl(id: string): CatalogedControl {
  const c = registry.get(id);
  if (!c) throw new Error(`unknown control "${id}" (known: ${[...registry.keys()].join(', ')})`);
  return c;
}

export function isRegisteredControl(id: unknown): id is ControlId {
  return typeof id === 'string' && registry.has(id);
}

/** Every registered control, in registration order (built-in ones first). */
export function registeredControls(): readonly CatalogedControl[] {
  return [...registry.values()];
}

export function registeredControlIds(): readonly ControlId[] {
  return [...registry.keys()] as ControlId[];
}

/** The control a Security Hub control id (S3.5, EC2.19...) maps to. */
export function controlForSecurityHubId(securityControlId: string): CatalogedControl | undefined {
  for (const c of registry.values()) if (c.catalog.securityHub.includes(securityControlId)) return c;
  return undefined;
}

/**
 * The control a Config rule name maps to: the name equals a managed rule identifier, or contains
 * it between '-' boundaries or the start / end of the name (case-insensitive), as Config names
 * rules deployed by conformance packs and Security Hub ("securityhub-s3-bucket-ssl-requests-only-abc123").
 */
export function controlForConfigRuleName(ruleName: string): CatalogedControl | undefined {
  const name = ruleName.toLowerCase();
  for (const c of registry.values()) {
    for (const managed of c.catalog.configRules) if (containsRule(name, managed.toLowerCase())) return c;
  }
  return undefined;
}

export function containsRule(name: string, managed: string): boolean {
  for (let from = 0; ; ) {
    const at = name.indexOf(managed, from);
    if (at < 0) return false;
    const end = at + managed.length;
    if ((at === 0 || name[at - 1] === '-') && (end === name.length || name[end] === '-')) return true;
    from = at + 1;
  }
}

/** The controls that read a CloudTrail event themselves (catalog.fromCloudTrail) to check their resource. */
export function controlsForCloudTrailEvent(eventSource: string, eventName: string): readonly CatalogedControl[] {
  return [...registry.values()].filter((c) => !builtIn.has(c.id) && c.catalog.cloudTrail.some((e) => e.eventSource === eventSource && e.eventNames.includes(eventName)));
}

/**
 * Imports the modules named in CONTROL_MODULES (paths, relative to the working directory, or
 * package names) and registers what each exports: `default` (a control, or a list of them) or
 * `controls` (a list). Every worker, trigger server and CLI of a deployment loads the same list, so
 * that the findings, the policy, the scan and the workflows agree. Throws naming the module and
 * every problem.
 */
export async function loadControlModules(specs: readonly string[], cwd: string = process.cwd()): Promise<CatalogedControl[]> {
  const loaded: CatalogedControl[] = [];
  for (const spec of specs) {
    const url = spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolve(cwd, spec)).href : spec;
    let mod: { default?: unknown; controls?: unknown };
    try {
      mod = (await import(url)) as typeof mod;
    } catch (err) {
      throw new ControlRegistrationError([`CONTROL_MODULES: ${spec} could not be loaded: ${(err as Error).message}`]);
    }
    const exported = mod.default ?? mod.controls;
    const list = (Array.isArray(exported) ? exported : exported === undefined ? [] : [exported]) as AnyControl[];
    if (list.length === 0) throw new ControlRegistrationError([`CONTROL_MODULES: ${spec} exports no control (export default a control, or a list of them)`]);
    for (const c of list) {
      // The same module loaded twice (a worker that also serves the CLI) registers once.
      if (registry.get((c as { id?: string }).id ?? '') === c) continue;
      const problems = registrationProblems(c);
      if (problems.length > 0) throw new ControlRegistrationError(problems.map((p) => `CONTROL_MODULES: ${spec}: ${p}`));
      loaded.push(registerControl(c));
    }
  }
  return loaded;
}
