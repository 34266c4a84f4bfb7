/** Helpers shared by the normalizer tests in this folder. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import type { Finding } from '../../../src/findings/finding.js';
import { normalizeEventBridgeEvent } from '../../../src/findings/index.js';

/** A path into a JSON value: object keys and array indexes. */
export type Path = readonly (string | number)[];

/** Pass as the value to `edit` to delete the key instead of setting it. */
export const REMOVE = Symbol('remove');

/** The folder of the event and generic-finding fixtures. */
export const FIXTURES = new URL('../../fixtures/events/', import.meta.url);

/** A fixture from test/fixtures/events, parsed. */
export function load(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as Record<string, unknown>;
}

/** A deep copy of `base` with the value at `path` replaced (or removed with REMOVE). */
export function edit(base: unknown, path: Path, value: unknown): Record<string, unknown> {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}

/** The problems of the InvalidInputError that `fn` throws; fails if it throws nothing or anything else. */
export function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvalidInputError) return e.problems;
    throw e;
  }
  throw new Error('expected an InvalidInputError');
}

/**
 * The one finding an EventBridge event normalizes to, asserting nothing was ignored but EC2.2's
 * note on an inbound rule added by group id (which does not say the group is a VPC's default one).
 */
export function only(body: unknown): Finding {
  const result = normalizeEventBridgeEvent(body);
  expect(result.ignored.filter((i) => !/^ec2-default-sg-closed: names sg-[0-9a-f]+ by id only/.test(i.reason))).toEqual([]);
  expect(result.findings).toHaveLength(1);
  return result.findings[0] as Finding;
}

/**
 * The findings an EventBridge event normalizes to, keyed by control, asserting one finding per
 * control with distinct ids and the expected ignored entries (none by default).
 */
export function byControl(body: unknown, ignored: readonly unknown[] = []): Record<string, Finding> {
  const result = normalizeEventBridgeEvent(body);
  expect(result.ignored).toEqual(ignored);
  const out: Record<string, Finding> = {};
  for (const f of result.findings) {
    expect(out).not.toHaveProperty(f.control);
    out[f.control] = f;
  }
  expect(new Set(result.findings.map((f) => f.id)).size).toBe(result.findings.length);
  return out;
}
