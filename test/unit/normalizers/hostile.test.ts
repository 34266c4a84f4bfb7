/**
 * Hostile input: whatever JSON arrives, the normalizers either return a valid result or
 * throw InvalidInputError; they never pollute prototypes, never read inherited keys, and
 * do bounded work.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { getControl } from '../../../src/activities/controls/index.js';
import { SEVERITIES, type Finding } from '../../../src/findings/finding.js';
import {
  SUPPORTED_DETAIL_TYPES,
  normalizeEventBridgeEvent,
  normalizeGenericFindings,
  type Normalized,
} from '../../../src/findings/index.js';
import {
  hasControlChars,
  isAccountId,
  isBucketName,
  isIamUserName,
  isRegion,
  isSecurityGroupId,
  parseTimestamp,
} from '../../../src/findings/validate.js';
import { FIXTURES, REMOVE, edit, load, type Path } from './helpers.js';

/**
 * `edit` for the random paths of `mutate`: it also replaces the root (path []) and leaves the
 * copy unchanged where the path runs through a value that is not an object.
 */
function editLeniently(base: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value === REMOVE ? undefined : value;
  const copy = structuredClone(base) as Record<string, unknown>;
  let node: unknown = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return copy;
    node = (node as Record<string | number, unknown>)[key];
  }
  if (typeof node !== 'object' || node === null) return copy;
  const last = path[path.length - 1] as string | number;
  if (value === REMOVE) delete (node as Record<string | number, unknown>)[last];
  else (node as Record<string | number, unknown>)[last] = value;
  return copy;
}

/** Every path into a JSON value (the root included). */
function pathsOf(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  }
  return out;
}

const eventFixtures = readdirSync(FIXTURES)
  .filter((n) => n.endsWith('.json') && !n.startsWith('generic-'))
  .sort();
const genericFixtures = readdirSync(FIXTURES)
  .filter((n) => n.startsWith('generic-'))
  .sort();

/** Runs `fn`; returns its result, or undefined if it threw InvalidInputError; fails on anything else. */
function attempt(fn: () => Normalized): Normalized | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InvalidInputError) {
      expect(e.problems.length).toBeGreaterThan(0);
      for (const p of e.problems) expect(typeof p).toBe('string');
      return undefined;
    }
    throw e;
  }
}

/** Every finding returned is valid whatever the input was. */
function assertValid(result: Normalized | undefined): void {
  if (result === undefined) return;
  for (const f of result.findings) assertValidFinding(f);
  for (const i of result.ignored) {
    expect(typeof i.reason).toBe('string');
    expect(i.reason.length).toBeLessThanOrEqual(1024);
    expect(hasControlChars(i.reason)).toBe(false);
    if (i.ref !== undefined) expect(typeof i.ref).toBe('string');
  }
}

function assertValidFinding(f: Finding): void {
  expect(f.id.length).toBeGreaterThan(0);
  expect(f.id.length).toBeLessThanOrEqual(768);
  expect(hasControlChars(f.id)).toBe(false);
  const control = getControl(f.control);
  expect(control, f.control).toBeDefined();
  expect(isAccountId(f.account)).toBe(true);
  expect(isRegion(f.region)).toBe(true);
  expect(f.resource.type).toBe(control!.catalog.resourceType);
  switch (f.resource.type) {
    case 'AwsS3Bucket':
      expect(isBucketName(f.resource.id)).toBe(true);
      break;
    case 'AwsEc2SecurityGroup':
      expect(isSecurityGroupId(f.resource.id)).toBe(true);
      break;
    case 'AwsAccount':
      // An account setting is always the finding's own account.
      expect(f.resource.id).toBe(f.account);
      break;
    case 'AwsIamUser':
      expect(isIamUserName(f.resource.id)).toBe(true);
      break;
    default:
      // The catalog's controls: the id is already what the control acts on.
      expect(control!.catalog.resourceId(f.resource.id)).toBe(f.resource.id);
      expect(hasControlChars(f.resource.id)).toBe(false);
  }
  expect(SEVERITIES).toContain(f.severity);
  expect(f.title.length).toBeGreaterThan(0);
  expect(f.title.length).toBeLessThanOrEqual(512);
  expect(hasControlChars(f.title)).toBe(false);
  expect(parseTimestamp(f.observedAt)).toBe(f.observedAt);
  expect(['active', 'resolved']).toContain(f.state);
  expect(Object.getPrototypeOf(f.origin)).toBe(Object.prototype);
  for (const [k, v] of Object.entries(f.origin)) {
    expect(['eventName', 'eventSource', 'eventId', 'actor', 'productArn', 'findingId', 'securityControlId', 'generatorId', 'securityHubAccount', 'configRuleName', 'configRuleArn', 'scanner']).toContain(k);
    expect(typeof v).toBe('string');
  }
}

const interesting = fc.constantFrom<unknown>(
  '',
  ' ',
  '0.0.0.0/0',
  '::/0',
  '__proto__',
  'constructor',
  'toString',
  'PASSED',
  'FAILED',
  'ARCHIVED',
  'SUPPRESSED',
  'NON_COMPLIANT',
  'COMPLIANT',
  'S3.8',
  'S3.2',
  'S3.17',
  'EC2.19',
  'EC2.7',
  'IAM.5',
  'AwsS3Bucket',
  'AwsEc2SecurityGroup',
  'AwsAccount',
  'AwsIamUser',
  'AWS::S3::Bucket',
  'AWS::EC2::SecurityGroup',
  'AWS::::Account',
  'AWS::IAM::User',
  'AWS::::Account:123456789012',
  'AWS::::Account:210987654321',
  'arn:aws:iam::123456789012:user/a/jane',
  'AIDACKCEVSQ6C2EXAMPLE',
  'CreateBucket',
  'PutBucketAcl',
  'PutBucketEncryption',
  'PutBucketPublicAccessBlock',
  'AuthorizeSecurityGroupIngress',
  'DisableEbsEncryptionByDefault',
  'CreateLoginProfile',
  'DeactivateMFADevice',
  's3.amazonaws.com',
  'ec2.amazonaws.com',
  'iam.amazonaws.com',
  'aws.s3',
  'aws.iam',
  'public-read',
  ['public-read'],
  'http://acs.amazonaws.com/groups/global/AllUsers',
  { Grantee: { URI: 'http://acs.amazonaws.com/groups/global/AllUsers' } },
  'sg-0123456789abcdef0',
  '123456789012',
  '210987654321',
  'us-east-1',
  '2026-11-23T10:00:00Z',
  'x'.repeat(100_000),
  '\u0000\u001b[2J\u202e',
  '\ud800',
  1e308,
  -1,
  0,
  true,
  null,
  [],
  {},
  { items: [] },
  { __proto__: null },
);

const replacement = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: interesting },
  { weight: 2, arbitrary: fc.constant<unknown>(REMOVE) },
);

const mutations = fc.array(fc.record({ at: fc.nat(), value: replacement }), { minLength: 1, maxLength: 4 });

function mutate(base: unknown, ms: readonly { at: number; value: unknown }[]): unknown {
  let body: unknown = base;
  for (const m of ms) {
    const paths = pathsOf(body);
    body = editLeniently(body, paths[m.at % paths.length] ?? [], m.value);
  }
  return body;
}

afterEach(() => {
  // No test may leave anything on Object.prototype.
  expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
});

describe('property: any JSON value', () => {
  it('normalizeEventBridgeEvent returns or throws InvalidInputError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        assertValid(attempt(() => normalizeEventBridgeEvent(body)));
      }),
      { numRuns: 500 },
    );
  });

  it('normalizeGenericFindings returns or throws InvalidInputError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        assertValid(attempt(() => normalizeGenericFindings(body)));
      }),
      { numRuns: 500 },
    );
  });

  it('an envelope of a supported type around any detail returns or throws InvalidInputError', () => {
    const detailKeys = fc.constantFrom(
      'eventID', 'eventName', 'eventSource', 'eventTime', 'requestParameters', 'responseElements', 'errorCode',
      'userIdentity', 'resources', 'findings', 'configRuleName', 'resourceId', 'resourceType', 'awsRegion',
      'awsAccountId', 'newEvaluationResult', 'messageType', '__proto__', 'constructor',
    );
    const envelope = fc.record({
      'detail-type': fc.constantFrom(...SUPPORTED_DETAIL_TYPES),
      source: fc.constantFrom('aws.s3', 'aws.ec2', 'aws.iam', 'aws.securityhub', 'aws.config'),
      account: fc.constant('123456789012'),
      region: fc.constant('us-east-1'),
      id: fc.constant('e1'),
      detail: fc.dictionary(detailKeys, fc.oneof(fc.jsonValue({ maxDepth: 4 }), interesting)),
    });
    fc.assert(
      fc.property(envelope, (body) => {
        assertValid(attempt(() => normalizeEventBridgeEvent(body)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('property: mutated valid fixtures', () => {
  it.each(eventFixtures)('%s', (name) => {
    const base = load(name);
    assertValid(normalizeEventBridgeEvent(base));
    fc.assert(
      fc.property(mutations, (ms) => {
        assertValid(attempt(() => normalizeEventBridgeEvent(mutate(base, ms))));
      }),
      { numRuns: 200 },
    );
  });

  it.each(genericFixtures)('%s', (name) => {
    const base = load(name);
    assertValid(normalizeGenericFindings(base));
    fc.assert(
      fc.property(mutations, (ms) => {
        assertValid(attempt(() => normalizeGenericFindings(mutate(base, ms))));
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * `text` (JSON) with `members` added as the first members of every object. Braces inside
 * strings (a JSON document embedded in a string, as ASFF does for S3 ACLs) are left alone.
 */
function addToEveryObject(text: string, members: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    out += c;
    if (inString) {
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{') {
      out += /^\s*\}/.test(text.slice(i + 1)) ? members : `${members}, `;
    }
  }
  return out;
}

describe('prototype pollution', () => {
  const pollute = '{"polluted": "yes", "toString": "x"}';

  it('addToEveryObject adds the members to every object, not inside strings', () => {
    expect(JSON.parse(addToEveryObject('{"a": {}, "b": "{x}", "c": [{"d": "\\"{"}]}', '"k": 1'))).toEqual({
      k: 1,
      a: { k: 1 },
      b: '{x}',
      c: [{ k: 1, d: '"{' }],
    });
  });

  it.each(eventFixtures)('__proto__ and constructor keys at every level of %s change nothing', (name) => {
    const text = readFileSync(new URL(name, FIXTURES), 'utf8');
    const hostile = addToEveryObject(text, `"__proto__": ${pollute}, "constructor": {"prototype": ${pollute}}`);
    const body = JSON.parse(hostile) as unknown;
    const original = normalizeEventBridgeEvent(load(name));
    const result = normalizeEventBridgeEvent(body);
    // Nothing is lost, nothing is read from a prototype. The one change allowed is the careful
    // one: a logged policy document with keys a policy has no business holding is no longer
    // proof that it already complies, so the resource is read instead of the event ignored.
    expect(result.findings).toEqual(expect.arrayContaining([...original.findings]));
    const extra = result.findings.filter((f) => !original.findings.some((o) => o.id === f.id));
    for (const f of extra) expect(original.ignored.map((i) => i.ref)).toContain(f.origin['eventId']);
    expect(result.ignored.length + extra.length).toBe(original.ignored.length);
  });

  it('__proto__ keys in generic findings change nothing', () => {
    const body = JSON.parse(
      `{"__proto__": {"polluted": 1, "findings": []}, "findings": [{"__proto__": {"control": "x", "polluted": 1},
        "id": "a1", "control": "s3-block-public-access", "account": "123456789012", "region": "us-east-1",
        "resource": {"__proto__": {"type": "AwsEc2SecurityGroup"}, "id": "my-bucket"}, "severity": "LOW"}]}`,
    ) as unknown;
    const [f] = normalizeGenericFindings(body).findings;
    expect(f?.resource).toEqual({ type: 'AwsS3Bucket', id: 'my-bucket' });
  });

  it('values reachable only through the prototype are not read', () => {
    expect(() => normalizeEventBridgeEvent(Object.create(load('cloudtrail-s3-create-bucket.json')))).toThrow(
      InvalidInputError,
    );
    expect(() => normalizeGenericFindings(Object.create(load('generic-prowler-s3.json')))).toThrow(InvalidInputError);
  });

  it('a public access block configuration given only under __proto__ is not trusted', () => {
    const full = load('cloudtrail-s3-put-bucket-public-access-block-full.json');
    const config = JSON.parse(
      '{"__proto__": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}',
    ) as unknown;
    const body = edit(full, ['detail', 'requestParameters', 'PublicAccessBlockConfiguration'], config);
    expect(normalizeEventBridgeEvent(body).findings).toHaveLength(1);
  });

  it('an ACL grant to AllUsers given only under __proto__ is not trusted either way', () => {
    const owner = load('cloudtrail-s3-put-bucket-acl-owner-only.json');
    const acl = JSON.parse(
      '{"__proto__": {"Grant": {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}}}}',
    ) as unknown;
    const body = edit(owner, ['detail', 'requestParameters', 'AccessControlPolicy', 'AccessControlList'], acl);
    const f = normalizeEventBridgeEvent(body).findings.find((x) => x.control === 's3-bucket-public-acl');
    expect(f?.title).toBe('The ACL of S3 bucket acme-reports-2026 was changed; it must be checked for public grants');
  });

  it('a user name given only under __proto__ is not read', () => {
    const mfa = load('cloudtrail-iam-deactivate-mfa-device.json');
    const params = JSON.parse('{"__proto__": {"userName": "jane"}, "serialNumber": "arn:aws:iam::123456789012:mfa/x"}') as unknown;
    expect(normalizeEventBridgeEvent(edit(mfa, ['detail', 'requestParameters'], params)).findings).toEqual([]);
  });

  it('keys shadowing Object.prototype methods do not break reading', () => {
    let body = edit(load('securityhub-s3-8-failed.json'), ['hasOwnProperty'], 1);
    body = edit(body, ['detail', 'findings', 0, 'hasOwnProperty'], 'x');
    body = edit(body, ['detail', 'findings', 0, 'valueOf'], null);
    expect(normalizeEventBridgeEvent(body).findings).toHaveLength(1);
  });
});

describe('bounded work', () => {
  it('rejects 100 000 Security Hub findings without looking at them', () => {
    const findings = new Array<unknown>(100_000).fill({});
    const body = edit(load('securityhub-s3-8-failed.json'), ['detail', 'findings'], findings);
    const started = Date.now();
    expect(() => normalizeEventBridgeEvent(body)).toThrow('detail.findings: must hold 1 to 100 findings, got 100000');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects 100 000 generic findings without looking at them', () => {
    const started = Date.now();
    expect(() => normalizeGenericFindings({ findings: new Array<unknown>(100_000).fill({}) })).toThrow(
      'findings: must hold 1 to 100 findings, got 100000',
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('caps huge strings in the output and in problem messages', () => {
    const huge = 'a'.repeat(1_000_000);
    const body = edit(load('securityhub-s3-8-failed.json'), ['detail', 'findings', 0, 'Title'], huge);
    expect(normalizeEventBridgeEvent(body).findings[0]?.title).toHaveLength(512);

    const bad = edit(load('cloudtrail-s3-create-bucket.json'), ['region'], huge);
    const error = (() => {
      try {
        normalizeEventBridgeEvent(bad);
      } catch (e) {
        return e as InvalidInputError;
      }
      throw new Error('expected a throw');
    })();
    expect(error.message.length).toBeLessThan(300);
  });

  it('rejects huge identifiers', () => {
    const body = edit(load('cloudtrail-s3-create-bucket.json'), ['detail', 'eventID'], 'e'.repeat(10_000));
    expect(() => normalizeEventBridgeEvent(body)).toThrow('detail.eventID: must be at most 512 characters, got 10000');
  });

  it('scans a bounded number of grants and grant header values', () => {
    const owner = load('cloudtrail-s3-put-bucket-acl-owner-only.json');
    const grants = new Array<unknown>(200_000).fill({ Grantee: { ID: 'abc' } });
    let body = edit(owner, ['detail', 'requestParameters', 'AccessControlPolicy', 'AccessControlList', 'Grant'], grants);
    body = edit(body, ['detail', 'requestParameters', 'x-amz-grant-read'], new Array<string>(200_000).fill('id="abc"'));
    const started = Date.now();
    expect(normalizeEventBridgeEvent(body).findings.map((f) => f.control)).toContain('s3-bucket-public-acl');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('ignores deeply nested values it does not need', () => {
    const deep = JSON.parse(`${'['.repeat(5000)}1${']'.repeat(5000)}`) as unknown;
    const createBucket = load('cloudtrail-s3-create-bucket.json');
    const body = edit(createBucket, ['detail', 'additionalEventData'], deep);
    expect(normalizeEventBridgeEvent(body)).toEqual(normalizeEventBridgeEvent(createBucket));
  });

  it('reads sparse arrays (holes where a test deleted an element) without failing', () => {
    const createPublic = load('cloudtrail-s3-create-bucket-public-read.json');
    const acl = ['public-read'];
    delete acl[0];
    const body = edit(createPublic, ['detail', 'requestParameters', 'x-amz-acl'], acl);
    expect(normalizeEventBridgeEvent(body).findings.map((f) => f.control)).not.toContain('s3-bucket-public-acl');
  });

  it('reports the problems of all 100 findings of a full batch', () => {
    const findings = Array.from({ length: 100 }, () => ({ Id: '', AwsAccountId: 'x' }));
    const body = edit(load('securityhub-s3-8-failed.json'), ['detail', 'findings'], findings);
    try {
      normalizeEventBridgeEvent(body);
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidInputError);
      expect((e as InvalidInputError).problems).toHaveLength(200);
    }
  });
});
