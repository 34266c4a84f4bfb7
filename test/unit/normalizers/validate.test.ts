import { describe, expect, it } from 'vitest';
import { CONTROL_IDS, SEVERITIES } from '../../../src/findings/finding.js';
import {
  DEFAULT_SEVERITY,
  Problems,
  bucketNameProblem,
  checkAccountResource,
  checkIamUserName,
  cleanText,
  getOwn,
  getOwnIgnoringCase,
  hasControlChars,
  isAccountId,
  isIamUserName,
  isRegion,
  isSecurityGroupId,
  parseTimestamp,
  severityFromNormalized,
  truncate,
  userNameFromArn,
} from '../../../src/findings/validate.js';

describe('account resources', () => {
  it('accepts the finding\'s own account', () => {
    const problems = new Problems();
    expect(checkAccountResource('123456789012', '123456789012', 'p', problems)).toBe('123456789012');
    expect(problems.count).toBe(0);
  });
  it.each([
    ['210987654321', 'p: must be the finding\'s own account 123456789012, got "210987654321"'],
    ['1234', 'p: must be a 12-digit AWS account id, got "1234"'],
    [undefined, 'p: is missing'],
  ])('rejects %j', (value, problem) => {
    const problems = new Problems();
    expect(checkAccountResource(value, '123456789012', 'p', problems)).toBeUndefined();
    expect(problems.all()).toEqual([problem]);
  });
});

describe('IAM user names', () => {
  it.each(['jane', 'jane.doe@example.com', 'a', 'a'.repeat(64), 'svc_ci+deploy=1,x-y', 'AIDACKCEVSQ6C2EXAMPLE'])('%j is valid', (v) =>
    expect(isIamUserName(v)).toBe(true),
  );
  it.each(['', 'a'.repeat(65), 'jane doe', 'jane/doe', 'jane:doe', 'jané', 'jane\n', 'arn:aws:iam::123456789012:user/jane', 7, null])(
    '%j is not',
    (v) => expect(isIamUserName(v)).toBe(false),
  );
  it('names the rule in the problem', () => {
    const problems = new Problems();
    checkIamUserName('jane doe', 'user', problems);
    checkIamUserName(undefined, 'other', problems);
    expect(problems.all()).toEqual([
      'user: must be an IAM user name (1 to 64 letters, digits and _+=,.@-), got "jane doe"',
      'other: is missing',
    ]);
  });
});

describe('IAM user ARNs', () => {
  it.each([
    ['arn:aws:iam::123456789012:user/jane', 'jane'],
    ['arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/jane', 'jane'],
    ['arn:aws-cn:iam::123456789012:user/jane.doe@example.com', 'jane.doe@example.com'],
  ])('%j -> %j', (arn, name) => expect(userNameFromArn(arn)).toBe(name));
  it.each([
    'arn:aws:iam::123456789012:role/jane',
    'arn:aws:iam::123456789012:user/',
    'arn:aws:iam::123456789012:user/jane/',
    'arn:aws:iam::12345:user/jane',
    'arn:aws:sts::123456789012:assumed-role/r/jane',
    'jane',
    `arn:aws:iam::123456789012:user/${'a/'.repeat(2000)}jane`,
  ])('%j -> none', (arn) => expect(userNameFromArn(arn)).toBeUndefined());
});

describe('default severities', () => {
  it('gives every control a severity', () => {
    for (const control of CONTROL_IDS) expect(SEVERITIES).toContain(DEFAULT_SEVERITY[control]);
  });
});

describe('account ids', () => {
  it.each(['123456789012', '000000000000'])('%j is valid', (v) => expect(isAccountId(v)).toBe(true));
  it.each(['12345678901', '1234567890123', '12345678901a', ' 123456789012', 123456789012, null])('%j is not', (v) =>
    expect(isAccountId(v)).toBe(false),
  );
});

describe('regions', () => {
  it.each(['us-east-1', 'eu-central-1', 'us-gov-west-1', 'cn-northwest-1', 'ap-southeast-2', 'me-central-1', 'us-isob-east-1', 'eusc-de-east-1'])(
    '%j is valid',
    (v) => expect(isRegion(v)).toBe(true),
  );
  it.each(['US-EAST-1', 'us-east', 'useast1', 'us-east-1a', '', 'us--east-1', `us-${'a'.repeat(40)}-1`, 1])('%j is not', (v) =>
    expect(isRegion(v)).toBe(false),
  );
});

describe('security group ids', () => {
  it.each(['sg-0123abcd', 'sg-0123456789abcdef0'])('%j is valid', (v) => expect(isSecurityGroupId(v)).toBe(true));
  it.each(['sg-0123abc', 'sg-0123456789abcdef01', 'sg-0123ABCD', 'sg-0123abcg', 'default', ' sg-0123abcd'])('%j is not', (v) =>
    expect(isSecurityGroupId(v)).toBe(false),
  );
});

describe('bucket names', () => {
  it.each(['abc', 'my-bucket', 'my.bucket.example', 'a'.repeat(63), '1bucket9'])('%j is valid', (v) =>
    expect(bucketNameProblem(v)).toBeUndefined(),
  );
  it.each([
    ['ab', 'must be 3 to 63 characters long'],
    ['Bucket', 'may contain only lowercase letters, digits, dots and hyphens'],
    ['my_bucket', 'may contain only lowercase letters, digits, dots and hyphens'],
    ['bucket-', 'must begin and end with a letter or digit'],
    ['.bucket', 'must begin and end with a letter or digit'],
    ['a..b', 'must not contain two adjacent dots'],
    ['10.0.0.1', 'must not be formatted as an IP address'],
    ['sthree-bucket', 'must not start with the reserved prefix sthree-'],
    ['amzn-s3-demo-bucket', 'must not start with the reserved prefix amzn-s3-demo-'],
    ['bucket--ol-s3', 'must not end with the reserved suffix --ol-s3'],
    ['bucket.mrap', 'must not end with the reserved suffix .mrap'],
    ['bucket--x-s3', 'must not end with the reserved suffix --x-s3'],
  ])('%j: %s', (name, problem) => expect(bucketNameProblem(name)).toBe(problem));
});

describe('timestamps', () => {
  it.each([
    ['2026-11-23T10:00:00Z', '2026-11-23T10:00:00.000Z'],
    ['2026-11-23T10:00:00.5Z', '2026-11-23T10:00:00.500Z'],
    ['2019-08-01T04:41:47.123456789Z', '2019-08-01T04:41:47.123Z'],
    ['2026-11-23T10:00:00+02:00', '2026-11-23T08:00:00.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('%j -> %j', (input, output) => expect(parseTimestamp(input)).toBe(output));
  it.each([
    '2026-11-23',
    '2026-11-23 10:00:00Z',
    '2026-11-23T10:00:00',
    '2026-02-29T00:00:00Z',
    '2026-11-31T00:00:00Z',
    '2026-11-23T24:00:00Z',
    '2026-11-23T10:60:00Z',
    '1969-12-31T23:59:59Z',
    '2026-11-23T10:00:00+25:00',
    'Mon, 23 Nov 2026 10:00:00 GMT',
    `2026-11-23T10:00:00.${'1'.repeat(100)}Z`,
  ])('%j is rejected', (input) => expect(parseTimestamp(input)).toBeUndefined());
});

describe('text', () => {
  it('replaces control and bidi characters, collapses whitespace and trims', () => {
    expect(cleanText('  a\u0000b\r\n\tc\u202ed\u0085e  ', 100)).toBe('a b c d e');
  });
  it('caps without splitting a surrogate pair', () => {
    expect(cleanText('ab😀', 3)).toBe('ab');
    expect(truncate('ab😀c', 4)).toBe('ab😀');
  });
  it('replaces lone surrogates', () => {
    expect(cleanText('a\ud800b', 10)).toBe('a\ufffdb');
  });
  it('detects control characters and lone surrogates', () => {
    expect(hasControlChars('abc')).toBe(false);
    expect(hasControlChars('a😀c')).toBe(false);
    expect(hasControlChars('a\nc')).toBe(true);
    expect(hasControlChars('a\udc00c')).toBe(true);
  });
  it('does work bounded by the cap, not the input', () => {
    const started = Date.now();
    expect(cleanText(' '.repeat(5_000_000) + 'x', 512)).toBe('');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('own-property reads', () => {
  it('never answers from the prototype chain', () => {
    const obj = JSON.parse('{"a": 1}') as object;
    expect(getOwn(obj, 'constructor')).toBeUndefined();
    expect(getOwn(obj, 'toString')).toBeUndefined();
    expect(getOwn(obj, '__proto__')).toBeUndefined();
    expect(getOwn(Object.create({ inherited: 1 }) as object, 'inherited')).toBeUndefined();
    expect(getOwn(JSON.parse('{"__proto__": 5}') as object, '__proto__')).toBe(5);
    expect(getOwn(null, 'a')).toBeUndefined();
    expect(getOwn('string', 'length')).toBeUndefined();
  });
  it('looks keys up ignoring case, exact match first', () => {
    expect(getOwnIgnoringCase({ Key: 1, key: 2 }, 'key')).toBe(2);
    expect(getOwnIgnoringCase({ KEY: 1 }, 'key')).toBe(1);
    expect(getOwnIgnoringCase({ a: 1 }, 'constructor')).toBeUndefined();
  });
});

describe('severity', () => {
  it.each([
    [-1, undefined],
    [101, undefined],
    [Number.NaN, undefined],
    [0.5, 'LOW'],
  ])('%d -> %s', (n, s) => expect(severityFromNormalized(n)).toBe(s));
});

describe('Problems', () => {
  it('caps the list and says how many were left out', () => {
    const p = new Problems();
    for (let i = 0; i < 600; i++) p.add(`f${i}`, 'bad');
    expect(p.count).toBe(600);
    expect(p.all()).toHaveLength(501);
    expect(p.all().at(-1)).toBe('... and 100 more problems');
  });
});
