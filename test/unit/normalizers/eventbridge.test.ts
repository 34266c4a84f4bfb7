import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { SUPPORTED_DETAIL_TYPES, normalizeEventBridgeEvent } from '../../../src/findings/index.js';
import { REMOVE, edit, load, problemsOf } from './helpers.js';

const s3Event = load('cloudtrail-s3-create-bucket.json');

describe('normalizeEventBridgeEvent: envelope', () => {
  it('lists the supported detail types', () => {
    expect(SUPPORTED_DETAIL_TYPES).toEqual([
      'AWS API Call via CloudTrail',
      'Security Hub Findings - Imported',
      'Config Rules Compliance Change',
    ]);
  });

  it.each([
    ['null', null],
    ['an array', [s3Event]],
    ['a string', 'hello'],
    ['a number', 42],
    ['a boolean', true],
  ])('rejects a body that is %s', (type, body) => {
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems).toEqual([`body: must be a JSON object (an EventBridge event), got ${type}`]);
  });

  it('throws InvalidInputError whose message names the problems', () => {
    expect(() => normalizeEventBridgeEvent(edit(s3Event, ['account'], '12345'))).toThrow(InvalidInputError);
    expect(() => normalizeEventBridgeEvent(edit(s3Event, ['account'], '12345'))).toThrow(
      /EventBridge event: account: must be a 12-digit AWS account id, got "12345"/,
    );
  });

  it('rejects an unknown detail-type, naming it and the supported ones', () => {
    const problems = problemsOf(() => normalizeEventBridgeEvent(edit(s3Event, ['detail-type'], 'GuardDuty Finding')));
    expect(problems).toEqual([
      'detail-type: "GuardDuty Finding" is not supported; supported: "AWS API Call via CloudTrail", "Security Hub Findings - Imported", "Config Rules Compliance Change"',
    ]);
  });

  it.each([
    ['detail-type', 'detail-type: is missing'],
    ['source', 'source: is missing'],
    ['detail', 'detail: is missing'],
    ['account', 'account: is missing'],
    ['region', 'region: is missing'],
    ['id', 'id: is missing'],
  ])('requires %s', (field, problem) => {
    const problems = problemsOf(() => normalizeEventBridgeEvent(edit(s3Event, [field], REMOVE)));
    expect(problems).toContain(problem);
  });

  it.each([
    ['detail-type', 7, 'detail-type: must be a string, got a number'],
    ['detail', 'x', 'detail: must be an object, got a string'],
    ['detail', [], 'detail: must be an object, got an array'],
    ['account', 123456789012, 'account: must be a 12-digit AWS account id, got 123456789012'],
    ['account', '1234567890123', 'account: must be a 12-digit AWS account id, got "1234567890123"'],
    ['region', 'US-EAST-1', 'region: must be an AWS region such as us-east-1, got "US-EAST-1"'],
    ['region', 'useast1', 'region: must be an AWS region such as us-east-1, got "useast1"'],
    ['id', '', 'id: must not be empty'],
    ['time', 'yesterday', 'time: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "yesterday"'],
  ])('rejects %s = %j', (field, value, problem) => {
    expect(problemsOf(() => normalizeEventBridgeEvent(edit(s3Event, [field], value)))).toContain(problem);
  });

  it('lists every envelope problem at once', () => {
    let body = edit(s3Event, ['account'], 'abc');
    body = edit(body, ['region'], 'mars-1');
    body = edit(body, ['id'], REMOVE);
    body = edit(body, ['time'], '2026-13-01T00:00:00Z');
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems).toEqual([
      'id: is missing',
      'account: must be a 12-digit AWS account id, got "abc"',
      'region: must be an AWS region such as us-east-1, got "mars-1"',
      'time: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "2026-13-01T00:00:00Z"',
    ]);
  });

  it('lists envelope and detail problems together', () => {
    let body = edit(s3Event, ['account'], 'abc');
    body = edit(body, ['detail', 'eventTime'], 'not a time');
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems).toEqual([
      'account: must be a 12-digit AWS account id, got "abc"',
      'detail.eventTime: must be an ISO 8601 timestamp such as 2026-11-23T10:00:00Z, got "not a time"',
    ]);
  });

  it.each([
    ['Security Hub Findings - Imported', 'aws.config', 'expected "aws.securityhub"'],
    ['Config Rules Compliance Change', 'aws.securityhub', 'expected "aws.config"'],
    ['AWS API Call via CloudTrail', 'custom.app', 'expected the calling service, such as "aws.s3" or "aws.ec2"'],
  ])('rejects detail-type %j with source %j', (detailType, source, expected) => {
    const body = edit(edit(s3Event, ['detail-type'], detailType), ['source'], source);
    const problems = problemsOf(() => normalizeEventBridgeEvent(body));
    expect(problems.some((p) => p.startsWith(`source: "${source}" does not match detail-type`) && p.includes(expected))).toBe(
      true,
    );
  });

  it('accepts regions of every partition', () => {
    for (const region of ['us-east-1', 'eu-central-1', 'us-gov-west-1', 'cn-northwest-1', 'ap-southeast-2']) {
      const body = edit(edit(s3Event, ['region'], region), ['detail', 'awsRegion'], REMOVE);
      expect(normalizeEventBridgeEvent(body).findings[0]?.region).toBe(region);
    }
  });

  it('passes on every finding of an event: one CloudTrail call may concern several controls', () => {
    const { findings, ignored } = normalizeEventBridgeEvent(s3Event);
    expect(ignored).toEqual([]);
    expect(findings.map((f) => [f.id, f.control])).toEqual([
      ['0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60#s3-block-public-access', 's3-block-public-access'],
      ['0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60#s3-default-encryption', 's3-default-encryption'],
      ['0d6f2a4e-3b1c-4f8a-9e7d-2c5b8a1f3e60#s3-bucket-tls-required', 's3-bucket-tls-required'],
    ]);
  });

  it('passes on findings and ignored entries of one event together', () => {
    const { findings, ignored } = normalizeEventBridgeEvent(load('cloudtrail-s3-put-bucket-acl-owner-only.json'));
    expect(findings.map((f) => f.control)).toEqual(['s3-block-public-access']);
    expect(ignored.map((i) => i.ref)).toEqual(['8e0a2c4e-1b3d-4f5a-9c7e-0b2d4f6a8c0e#s3-bucket-public-acl']);
  });

  it('accepts aws.iam as the source of IAM CloudTrail events', () => {
    expect(normalizeEventBridgeEvent(load('cloudtrail-iam-create-login-profile.json')).findings).toHaveLength(1);
  });

  it('ignores unknown envelope fields and tolerates a missing time', () => {
    const body = edit(edit(s3Event, ['time'], REMOVE), ['replay-name'], 'x');
    expect(normalizeEventBridgeEvent(body)).toEqual(normalizeEventBridgeEvent(s3Event));
  });
});
