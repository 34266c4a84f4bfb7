/**
 * Small shared validators for the finding normalizers. Pure module: no I/O.
 *
 * Every value read from an untrusted body goes through `getOwn` (own properties only, so
 * `__proto__`, `constructor` and friends on the prototype chain never answer a lookup),
 * and every problem found is collected into a `Problems` list instead of thrown, so that
 * callers can report all of them at once.
 */
import type { Finding } from './finding.js';
import type { ControlCatalog } from '../activities/controls/control.js';
import { ControlId, ResourceType, SEVERITIES, type Severity } from './finding.js';

/** A record the product does not act on: valid input, acknowledged, not an error. */
export interface Ignored {
  readonly reason: string;
  /** The event id / finding id the record concerns. */
  readonly ref?: string;
}

/**
 * A finding on a whole account for a control that acts on resources inside it (Security Hub's
 * EC2.1 names AWS::::Account, not a snapshot): the trigger starts a scan of that control in that
 * account and region, which finds the resources and starts a remediation for each.
 */
export interface ScanRequest {
  readonly control: ControlId;
  readonly account: string;
  readonly region: string;
  readonly reason: string;
  /** The event id / finding id that asked for it. */
  readonly ref?: string;
}

export interface Normalized {
  readonly findings: readonly Finding[];
  readonly ignored: readonly Ignored[];
  /** Scans to start (account-level findings); absent: none. */
  readonly scans?: readonly ScanRequest[];
}

/** A JSON object as parsed from an untrusted body. */
export type Obj = Readonly<Record<string, unknown>>;

/** Limits that keep the work done per body bounded. */
export const LIMITS = Object.freeze({
  /** Findings per Security Hub event or generic batch. */
  maxFindings: 100,
  /** ipPermissions items (and ranges) scanned per CloudTrail event. */
  maxScannedItems: 1000,
  /** ASFF allows at most 32 resources per finding. */
  maxResources: 32,
  /** Keys inspected by a case-insensitive lookup. */
  maxKeysScanned: 200,
  titleChars: 512,
  idChars: 512,
  originChars: 1024,
  reasonValueChars: 128,
  /** Problems reported before the rest are summarised. */
  maxProblems: 500,
});

// ---------------------------------------------------------------------------------------
// Reading untrusted values

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The object's own property `key`, never one inherited from a prototype. */
export function getOwn(obj: unknown, key: string): unknown {
  if (typeof obj !== 'object' || obj === null) return undefined;
  return Object.prototype.hasOwnProperty.call(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** `getOwn` along a path of keys. */
export function getPath(obj: unknown, ...keys: readonly string[]): unknown {
  let current: unknown = obj;
  for (const key of keys) {
    current = getOwn(current, key);
    if (current === undefined) return undefined;
  }
  return current;
}

/** Own property whose name equals `key` ignoring case (exact match preferred). */
export function getOwnIgnoringCase(obj: unknown, key: string): unknown {
  if (!isObject(obj)) return undefined;
  const exact = getOwn(obj, key);
  if (exact !== undefined) return exact;
  const wanted = key.toLowerCase();
  let scanned = 0;
  for (const candidate of Object.keys(obj)) {
    if (++scanned > LIMITS.maxKeysScanned) break;
    if (candidate.toLowerCase() === wanted) return getOwn(obj, candidate);
  }
  return undefined;
}

/** A short description of a value's JSON type, for problem messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (value === undefined) return 'nothing';
  return typeof value;
}

/** A value quoted for a problem message: strings sanitized and shortened, others by type. */
export function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(cleanText(value, 64));
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return describeType(value);
}

// ---------------------------------------------------------------------------------------
// Problems

/** Collects every problem with a path, e.g. `detail.requestParameters.bucketName: ...`. */
export class Problems {
  private readonly list: string[] = [];
  private dropped = 0;

  add(path: string, message: string): void {
    if (this.list.length >= LIMITS.maxProblems) {
      this.dropped++;
      return;
    }
    this.list.push(path === '' ? message : `${path}: ${message}`);
  }

  get count(): number {
    return this.list.length + this.dropped;
  }

  all(): readonly string[] {
    return this.dropped === 0 ? [...this.list] : [...this.list, `... and ${this.dropped} more problems`];
  }
}

/** Joins a path prefix and a key: `join('findings[2]', 'Id')` is `findings[2].Id`. */
export function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

// ---------------------------------------------------------------------------------------
// Strings

// C0 controls, DEL, C1 controls, and the bidirectional formatting characters that can make
// text display differently from what it contains ("Trojan Source").
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const HAS_CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const HAS_LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Cuts a string to at most `max` UTF-16 units without splitting a surrogate pair. */
export function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = max;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return value.slice(0, end);
}

/**
 * Text fit for logs, UIs and Slack: control and bidi characters become spaces, runs of
 * whitespace collapse, lone surrogates become U+FFFD, and the result is capped at `max`.
 */
export function cleanText(value: string, max: number): string {
  // Cap first so the work below is bounded by `max`, not by the input.
  const head = truncate(value, max * 2);
  const cleaned = head
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(CONTROL_CHARS, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return truncate(cleaned, max);
}

export function hasControlChars(value: string): boolean {
  return HAS_CONTROL_CHARS.test(value) || HAS_LONE_SURROGATE.test(value);
}

/**
 * A required identifier: a string of 1..max characters without control characters.
 * Identifiers are keys, so they are rejected rather than silently altered.
 */
export function checkId(value: unknown, path: string, problems: Problems, max: number = LIMITS.idChars): string | undefined {
  if (typeof value !== 'string') {
    problems.add(path, value === undefined ? 'is missing' : `must be a string, got ${describeType(value)}`);
    return undefined;
  }
  if (value.trim() === '') {
    problems.add(path, 'must not be empty');
    return undefined;
  }
  if (value.length > max) {
    problems.add(path, `must be at most ${max} characters, got ${value.length}`);
    return undefined;
  }
  if (hasControlChars(value)) {
    problems.add(path, 'must not contain control characters');
    return undefined;
  }
  return value;
}

/** A required string (any content, capped); problems if missing or of the wrong type. */
export function requireString(value: unknown, path: string, problems: Problems, max: number): string | undefined {
  if (typeof value !== 'string') {
    problems.add(path, value === undefined ? 'is missing' : `must be a string, got ${describeType(value)}`);
    return undefined;
  }
  if (value === '') {
    problems.add(path, 'must not be empty');
    return undefined;
  }
  if (value.length > max) {
    problems.add(path, `must be at most ${max} characters, got ${value.length}`);
    return undefined;
  }
  return value;
}

/** An optional string: undefined when absent or null; a problem when of another type. */
export function optionalString(value: unknown, path: string, problems: Problems): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    problems.add(path, `must be a string, got ${describeType(value)}`);
    return undefined;
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// AWS identifiers

const ACCOUNT_ID = /^\d{12}$/;
// us-east-1, eu-central-1, us-gov-west-1, cn-northwest-1, us-isob-east-1, eusc-de-east-1
const REGION = /^[a-z]{2,4}(-[a-z]+){1,3}-\d{1,2}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;

export function isAccountId(value: unknown): value is string {
  return typeof value === 'string' && ACCOUNT_ID.test(value);
}

export function isRegion(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 32 && REGION.test(value);
}

export function isSecurityGroupId(value: unknown): value is string {
  return typeof value === 'string' && SECURITY_GROUP_ID.test(value);
}

export function checkAccount(value: unknown, path: string, problems: Problems): string | undefined {
  if (isAccountId(value)) return value;
  problems.add(path, value === undefined ? 'is missing' : `must be a 12-digit AWS account id, got ${quote(value)}`);
  return undefined;
}

export function checkRegion(value: unknown, path: string, problems: Problems): string | undefined {
  if (isRegion(value)) return value;
  problems.add(path, value === undefined ? 'is missing' : `must be an AWS region such as us-east-1, got ${quote(value)}`);
  return undefined;
}

export function checkSecurityGroupId(value: unknown, path: string, problems: Problems): string | undefined {
  if (isSecurityGroupId(value)) return value;
  problems.add(
    path,
    value === undefined ? 'is missing' : `must be a security group id (sg- and 8 or 17 hex digits), got ${quote(value)}`,
  );
  return undefined;
}

/**
 * A 12-digit account id that must also be the account the finding belongs to (account-level
 * settings such as EBS encryption by default are identified by the account itself).
 */
export function checkAccountResource(value: unknown, account: string, path: string, problems: Problems): string | undefined {
  const id = checkAccount(value, path, problems);
  if (id === undefined || id === account) return id;
  problems.add(path, `must be the finding's own account ${account}, got ${quote(id)}`);
  return undefined;
}

// IAM user names: 1-64 characters, letters, digits and _+=,.@- (IAM API Reference,
// CreateUser / UserName: Pattern [\w+=,.@-]+, length 1-64). \w is [A-Za-z0-9_] in JavaScript.
const IAM_USER_NAME = /^[\w+=,.@-]{1,64}$/;

export function isIamUserName(value: unknown): value is string {
  return typeof value === 'string' && IAM_USER_NAME.test(value);
}

export function checkIamUserName(value: unknown, path: string, problems: Problems): string | undefined {
  if (isIamUserName(value)) return value;
  problems.add(
    path,
    value === undefined
      ? 'is missing'
      : `must be an IAM user name (1 to 64 letters, digits and _+=,.@-), got ${quote(value)}`,
  );
  return undefined;
}

/**
 * The user name at the end of an IAM user ARN, `arn:aws:iam::123456789012:user/division/jane`
 * -> `jane` (the path, if any, sits between `user/` and the name); undefined for anything else.
 */
export function userNameFromArn(arn: string): string | undefined {
  if (arn.length > 2048) return undefined;
  return /^arn:aws[a-z-]*:iam::\d{12}:user\/(?:[^/]*\/)*([^/]+)$/.exec(arn)?.[1];
}

/**
 * Why `name` is not a valid general purpose S3 bucket name, or undefined if it is.
 * Rules from the Amazon S3 User Guide, "General purpose bucket naming rules".
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may contain only lowercase letters, digits, dots and hyphens';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'must not be formatted as an IP address';
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(prefix)) return `must not start with the reserved prefix ${prefix}`;
  }
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(suffix)) return `must not end with the reserved suffix ${suffix}`;
  }
  return undefined;
}

export function isBucketName(value: unknown): value is string {
  return typeof value === 'string' && bucketNameProblem(value) === undefined;
}

export function checkBucketName(value: unknown, path: string, problems: Problems): string | undefined {
  if (typeof value !== 'string') {
    problems.add(path, value === undefined ? 'is missing' : `must be an S3 bucket name, got ${describeType(value)}`);
    return undefined;
  }
  const problem = bucketNameProblem(value);
  if (problem === undefined) return value;
  problems.add(path, `is not a valid S3 bucket name (${problem}), got ${quote(value)}`);
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Time and severity

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-](\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp (`2026-11-23T10:00:00Z`, fractions, offsets) to a canonical ISO string. */
export function parseTimestamp(value: string): string | undefined {
  if (value.length > 40) return undefined;
  const m = ISO_TIMESTAMP.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone, zh, zm] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (year < 1970 || month < 1 || month > 12 || day < 1) return undefined;
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  if (zh !== undefined && (Number(zh) > 23 || Number(zm) > 59)) return undefined;
  const millis = (frac ?? '').padEnd(3, '0').slice(0, 3);
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}.${millis}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  return new Date(ms).toISOString();
}

export function checkTimestamp(value: unknown, path: string, problems: Problems): string | undefined {
  if (typeof value === 'string') {
    const parsed = parseTimestamp(value);
    if (parsed !== undefined) return parsed;
  }
  problems.add(
    path,
    value === undefined
      ? 'is missing'
      : `must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got ${quote(value)}`,
  );
  return undefined;
}

export function isSeverity(value: unknown): value is Severity {
  return typeof value === 'string' && (SEVERITIES as readonly string[]).includes(value);
}

/**
 * The severity of a finding whose source carries none (CloudTrail, AWS Config): the severity
 * Security Hub gives the control that checks the same thing (S3.8 High, S3.2/S3.3 Critical,
 * S3.17 Medium, EC2.13/EC2.14/EC2.53/EC2.54 High, EC2.7 Medium, IAM.5 Medium; Security Hub
 * CSPM User Guide, controls reference).
 */
export const DEFAULT_SEVERITY: Readonly<Record<ControlId, Severity>> = Object.freeze({
  [ControlId.S3BlockPublicAccess]: 'HIGH',
  [ControlId.S3PublicAcl]: 'CRITICAL',
  [ControlId.S3DefaultEncryption]: 'MEDIUM',
  [ControlId.SgAdminPortsOpen]: 'HIGH',
  [ControlId.EbsDefaultEncryption]: 'MEDIUM',
  [ControlId.IamUserConsoleMfa]: 'MEDIUM',
});

/** The ASFF label for a normalized 0..100 severity (Security Hub API reference, `Severity`). */
export function severityFromNormalized(n: number): Severity | undefined {
  if (!Number.isFinite(n) || n < 0 || n > 100) return undefined;
  if (n === 0) return 'INFORMATIONAL';
  if (n < 40) return 'LOW';
  if (n < 70) return 'MEDIUM';
  if (n < 90) return 'HIGH';
  return 'CRITICAL';
}

/** The resource types the first controls act on, whose ids the normalizers check themselves. */
const BUILT_IN_RESOURCE_TYPES: readonly string[] = Object.values(ResourceType);
export function isBuiltInResourceType(t: string): t is ResourceType {
  return BUILT_IN_RESOURCE_TYPES.includes(t);
}

/** The id a cataloged control acts on, from the resource's Id (an ARN, as a rule). */
export function catalogResourceId(catalog: Pick<ControlCatalog, 'resourceId' | 'resourceIdHint'>, raw: unknown, path: string, problems: Problems): string | undefined {
  const id = typeof raw === 'string' && raw.length <= LIMITS.idChars ? catalog.resourceId(raw) : undefined;
  if (id === undefined) problems.add(path, `must be ${catalog.resourceIdHint}, got ${quote(raw)}`);
  return id;
}
