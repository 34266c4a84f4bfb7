import { describe, expect, it } from 'vitest';
import {
  addStatements,
  applyRemoval,
  appliesToEveryone,
  checkRemoval,
  checkRemovalUndone,
  containsStatement,
  describeStatement,
  documentAfterRemoval,
  hasRestrictingCondition,
  isEveryone,
  isFixedValue,
  isNarrowCidr,
  isPublicStatement,
  parsePolicy,
  partitionOf,
  planRemovePublic,
  publicStatements,
  removeStatements,
  sameDocument,
  sameStatement,
  statementKey,
  statementsOf,
  tryParsePolicy,
  undoRemoval,
  withStatements,
  type PolicyStatement,
} from '../../src/activities/controls/policy-statements.js';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:orders';
const allowAll: PolicyStatement = { Sid: 'Open', Effect: 'Allow', Principal: '*', Action: 'sns:Publish', Resource: TOPIC };
const ownerOnly: PolicyStatement = {
  Sid: '__default_statement_ID',
  Effect: 'Allow',
  Principal: { AWS: '*' },
  Action: ['SNS:Publish', 'SNS:Subscribe'],
  Resource: TOPIC,
  Condition: { StringEquals: { 'AWS:SourceOwner': '123456789012' } },
};
const partner: PolicyStatement = { Sid: 'Partner', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::210987654321:root' }, Action: 'sns:Publish', Resource: TOPIC };
const doc = (...statements: PolicyStatement[]) => JSON.stringify({ Version: '2012-10-17', Id: 'p1', Statement: statements });

describe('documents and statements', () => {
  it('reads Statement as an object or an array, and none without a document', () => {
    expect(statementsOf(parsePolicy(JSON.stringify({ Statement: allowAll })))).toEqual([allowAll]);
    expect(statementsOf(parsePolicy(doc(allowAll, partner)))).toEqual([allowAll, partner]);
    expect(statementsOf(parsePolicy(JSON.stringify({ Version: '2012-10-17' })))).toEqual([]);
    expect(statementsOf(undefined)).toEqual([]);
    expect(parsePolicy(undefined)).toBeUndefined();
    expect(parsePolicy('  ')).toBeUndefined();
    expect(() => parsePolicy('[1]')).toThrow(/JSON object/);
    expect(tryParsePolicy('{not json')).toBeUndefined();
    expect(tryParsePolicy(42)).toBeUndefined();
  });

  it('writes statements as an array and keeps the other top-level fields; a new document gets Version 2012-10-17', () => {
    expect(withStatements(parsePolicy(doc(allowAll)), [partner])).toEqual({ Version: '2012-10-17', Id: 'p1', Statement: [partner] });
    expect(withStatements(undefined, [partner])).toEqual({ Version: '2012-10-17', Statement: [partner] });
  });

  it('compares statements by content: key order, list order, one-element lists, action case, account id vs root ARN, "*" vs {AWS: "*"}', () => {
    const a: PolicyStatement = { Effect: 'Allow', Principal: { AWS: ['111122223333', 'arn:aws:iam::444455556666:root'] }, Action: ['sqs:SendMessage', 'SQS:ReceiveMessage'], Resource: ['arn:aws:sqs:us-east-1:1:q'] };
    const b: PolicyStatement = { Resource: 'arn:aws:sqs:us-east-1:1:q', Action: ['sqs:receivemessage', 'SQS:SendMessage'], Principal: { AWS: ['arn:aws:iam::444455556666:root', 'arn:aws:iam::111122223333:root'] }, Effect: 'Allow' };
    expect(sameStatement(a, b)).toBe(true);
    expect(statementKey({ ...allowAll, Principal: '*' })).toBe(statementKey({ ...allowAll, Principal: { AWS: '*' } }));
    expect(sameStatement(ownerOnly, { ...ownerOnly, Condition: { StringEquals: { 'aws:SourceOwner': '123456789012' } } })).toBe(true);
    expect(sameStatement(allowAll, { ...allowAll, Sid: 'Other' })).toBe(false);
    expect(sameStatement(allowAll, { ...allowAll, Action: 'sns:Subscribe' })).toBe(false);
  });

  it('removes by content as a multiset and adds only what is missing', () => {
    const { kept, removed } = removeStatements([allowAll, partner, { ...allowAll }], [{ ...allowAll, Principal: { AWS: '*' } }]);
    expect(kept).toEqual([partner, allowAll]);
    expect(removed).toEqual([allowAll]);
    expect(addStatements([partner], [partner, allowAll])).toEqual([partner, allowAll]);
    expect(containsStatement([partner], allowAll)).toBe(false);
  });

  it('sameDocument: statements as a multiset, other fields compared, absent only equals absent', () => {
    expect(sameDocument(parsePolicy(doc(allowAll, partner)), parsePolicy(doc(partner, allowAll)))).toBe(true);
    expect(sameDocument(parsePolicy(doc(allowAll)), parsePolicy(JSON.stringify({ Version: '2012-10-17', Id: 'p2', Statement: [allowAll] })))).toBe(false);
    expect(sameDocument(undefined, undefined)).toBe(true);
    expect(sameDocument(undefined, parsePolicy(doc(allowAll)))).toBe(false);
  });

  it('partitions of regions', () => {
    expect([partitionOf('eu-west-1'), partitionOf('cn-north-1'), partitionOf('us-gov-west-1')]).toEqual(['aws', 'aws-cn', 'aws-us-gov']);
  });
});

describe('public statements', () => {
  it('principal forms: "*", {AWS: "*"}, {AWS: [..., "*"]} are everyone; a list of accounts or a service is not; NotPrincipal applies to everyone', () => {
    expect(isEveryone('*')).toBe(true);
    expect(isEveryone({ AWS: '*' })).toBe(true);
    expect(isEveryone({ AWS: ['111122223333', '*'] })).toBe(true);
    expect(isEveryone({ AWS: ['111122223333'] })).toBe(false);
    expect(isEveryone({ Service: 's3.amazonaws.com' })).toBe(false);
    expect(isEveryone(undefined)).toBe(false);
    expect(appliesToEveryone({ Effect: 'Allow', NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: '*' })).toBe(true);
    expect(isPublicStatement({ Effect: 'Allow', NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'sqs:*' })).toBe(true);
  });

  it('an Allow for everyone without a narrowing condition is public; a Deny never is', () => {
    expect(isPublicStatement(allowAll)).toBe(true);
    expect(isPublicStatement({ ...allowAll, Principal: { AWS: ['*'] } })).toBe(true);
    expect(isPublicStatement({ ...allowAll, Effect: 'Deny' })).toBe(false);
    expect(isPublicStatement(partner)).toBe(false);
    expect(isPublicStatement({ ...allowAll, Principal: { Service: 'events.amazonaws.com' } })).toBe(false);
  });

  it.each([
    ['aws:SourceOwner', 'StringEquals', '123456789012'],
    ['AWS:SourceOwner', 'StringEquals', '123456789012'],
    ['aws:SourceAccount', 'StringEquals', '123456789012'],
    ['aws:SourceArn', 'ArnEquals', 'arn:aws:s3:::my-bucket'],
    ['aws:SourceArn', 'ArnLike', 'arn:aws:s3:::my-bucket'],
    ['aws:PrincipalOrgID', 'StringEquals', 'o-abc123'],
    ['aws:PrincipalArn', 'ArnEquals', 'arn:aws:iam::111122223333:role/app'],
    ['aws:PrincipalAccount', 'StringEquals', '111122223333'],
    ['aws:SourceVpce', 'StringEquals', 'vpce-0123456789abcdef0'],
    ['aws:SourceVpc', 'StringEquals', 'vpc-91237329'],
    ['aws:userid', 'StringEquals', 'AIDAEXAMPLE'],
    ['aws:SourceIp', 'IpAddress', '203.0.113.0/24'],
    ['aws:SourceArn', 'ForAnyValue:StringEquals', 'arn:aws:s3:::my-bucket'],
  ])('a fixed %s (%s) makes a statement for everyone non-public', (key, operator, value) => {
    expect(isPublicStatement({ ...allowAll, Condition: { [operator]: { [key]: value } } })).toBe(false);
    expect(isPublicStatement({ ...allowAll, Condition: { [operator]: { [key]: [value, value] } } })).toBe(false);
  });

  it.each([
    ['a wildcard value', { ArnLike: { 'aws:SourceArn': 'arn:aws:s3:::*' } }],
    ['a ? wildcard', { StringLike: { 'aws:SourceAccount': '12345678901?' } }],
    ['a policy variable', { StringEquals: { 'aws:SourceAccount': '${aws:PrincipalAccount}' } }],
    ['a negated operator', { StringNotEquals: { 'aws:SourceAccount': '123456789012' } }],
    ['an IfExists operator', { StringEqualsIfExists: { 'aws:SourceArn': 'arn:aws:s3:::my-bucket' } }],
    ['a ForAllValues operator', { 'ForAllValues:StringEquals': { 'aws:PrincipalOrgID': 'o-abc123' } }],
    ['a key that does not name who calls', { Bool: { 'aws:SecureTransport': 'true' } }],
    ['a broad source IP range', { IpAddress: { 'aws:SourceIp': '0.0.0.0/1' } }],
    ['one broad range among narrow ones', { IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '10.0.0.0/7'] } }],
    ['a broad IPv6 range', { IpAddress: { 'aws:SourceIp': '2001:db8::/16' } }],
    ['an empty value list', { StringEquals: { 'aws:SourceAccount': [] } }],
  ])('a statement for everyone stays public with %s', (_what, condition) => {
    expect(hasRestrictingCondition({ ...allowAll, Condition: condition })).toBe(false);
    expect(isPublicStatement({ ...allowAll, Condition: condition })).toBe(true);
  });

  it('fixed values and CIDR widths', () => {
    expect(isFixedValue('o-abc')).toBe(true);
    expect(isFixedValue('a*')).toBe(false);
    expect(isFixedValue('${aws:username}')).toBe(false);
    expect(isFixedValue('')).toBe(false);
    expect(isNarrowCidr('10.0.0.0/8')).toBe(true);
    expect(isNarrowCidr('10.0.0.0/7')).toBe(false);
    expect(isNarrowCidr('203.0.113.7')).toBe(true);
    expect(isNarrowCidr('2001:db8::/32')).toBe(true);
    expect(isNarrowCidr('2001:db8::/31')).toBe(false);
    expect(isNarrowCidr('not-an-ip')).toBe(false);
  });

  it('lists the public statements of a document and describes one for people', () => {
    expect(publicStatements(parsePolicy(doc(ownerOnly, allowAll, partner)))).toEqual([allowAll]);
    expect(describeStatement(allowAll)).toBe('"Open" Allow * sns:Publish');
    expect(describeStatement(partner)).toBe('"Partner" Allow arn:aws:iam::210987654321:root sns:Publish');
  });
});

describe('removing public statements', () => {
  const before = doc(ownerOnly, allowAll, partner);

  it('plans exactly the public statements; null when there are none', () => {
    expect(planRemovePublic(before)).toEqual({ remove: [allowAll] });
    expect(planRemovePublic(doc(ownerOnly, partner))).toBeNull();
    expect(planRemovePublic(undefined)).toBeNull();
  });

  it('when every statement is public: the replacement when the service needs one (SNS), else nothing (the policy goes)', () => {
    expect(planRemovePublic(doc(allowAll), [ownerOnly])).toEqual({ remove: [allowAll], add: [ownerOnly] });
    expect(planRemovePublic(before, [ownerOnly])).toEqual({ remove: [allowAll] });
    expect(planRemovePublic(doc(allowAll))).toEqual({ remove: [allowAll] });
  });

  it('apply removes by content from the policy as it is now, keeping a statement added since; a repeat writes nothing', () => {
    const change = planRemovePublic(before)!;
    const added: PolicyStatement = { Sid: 'AddedSince', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::333333333333:root' }, Action: 'sns:Subscribe', Resource: TOPIC };
    // SNS stores "*" as {"AWS": "*"} and one-element lists as their value: still the same statement.
    const now = doc(ownerOnly, partner, { ...allowAll, Principal: { AWS: '*' } }, added);
    const write = applyRemoval(now, change);
    expect(write).not.toBeNull();
    const written = parsePolicy((write as { put: string }).put);
    expect(statementsOf(written)).toEqual([ownerOnly, partner, added]);
    expect(written?.['Id']).toBe('p1');
    expect(applyRemoval((write as { put: string }).put, change)).toBeNull();
    expect(applyRemoval(undefined, change)).toBeNull();
  });

  it('apply deletes the policy when nothing is left and there is no replacement, and puts the replacement when there is one', () => {
    expect(applyRemoval(doc(allowAll), { remove: [allowAll] })).toEqual({ delete: true });
    const withDefault = applyRemoval(doc(allowAll), { remove: [allowAll], add: [ownerOnly] });
    expect(statementsOf(parsePolicy((withDefault as { put: string }).put))).toEqual([ownerOnly]);
    expect(documentAfterRemoval(doc(allowAll), { remove: [allowAll] })).toBeUndefined();
  });

  it('check: a public statement left, or a statement that was to stay gone', () => {
    const change = planRemovePublic(before)!;
    expect(checkRemoval(before, change, doc(ownerOnly, partner))).toEqual([]);
    expect(checkRemoval(before, change, doc(ownerOnly, partner, allowAll))).toEqual(['public statement still present: "Open" Allow * sns:Publish']);
    expect(checkRemoval(before, change, doc(ownerOnly))).toEqual(['statement that should have stayed is gone: "Partner" Allow arn:aws:iam::210987654321:root sns:Publish']);
  });

  it('undo puts back the exact previous document when the policy is still what the fix left', () => {
    const change = planRemovePublic(before)!;
    const fixed = (applyRemoval(before, change) as { put: string }).put;
    expect(undoRemoval(before, fixed, change)).toEqual({ put: before });
    // After the fix deleted the policy (SQS), the exact document comes back too.
    expect(undoRemoval(doc(allowAll), undefined, { remove: [allowAll] })).toEqual({ put: doc(allowAll) });
    // Already undone: nothing to write.
    expect(undoRemoval(before, before, change)).toBeNull();
  });

  it('undo after a later edit re-adds only the removed statements and takes out the replacement the fix added', () => {
    const later: PolicyStatement = { Sid: 'Later', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::333333333333:root' }, Action: 'sns:Subscribe', Resource: TOPIC };
    const change = planRemovePublic(before)!;
    const write = undoRemoval(before, doc(ownerOnly, partner, later), change);
    expect(statementsOf(parsePolicy((write as { put: string }).put))).toEqual([ownerOnly, partner, later, allowAll]);

    const snsChange = { remove: [allowAll], add: [ownerOnly] };
    const undone = undoRemoval(doc(allowAll), doc(ownerOnly, later), snsChange);
    expect(statementsOf(parsePolicy((undone as { put: string }).put))).toEqual([later, allowAll]);
    expect(checkRemovalUndone(doc(allowAll), snsChange, (undone as { put: string }).put)).toEqual([]);
  });

  it('checkUndo: a removed statement not back, or the replacement still there', () => {
    const snsChange = { remove: [allowAll], add: [ownerOnly] };
    expect(checkRemovalUndone(doc(allowAll), snsChange, doc(allowAll))).toEqual([]);
    expect(checkRemovalUndone(doc(allowAll), snsChange, doc(ownerOnly))).toEqual([
      'removed statement not restored: "Open" Allow * sns:Publish',
      'statement the fix added is still present: "__default_statement_ID" Allow * SNS:Publish, SNS:Subscribe',
    ]);
    // A replacement statement the policy already had before is not the fix's to take out.
    expect(checkRemovalUndone(doc(ownerOnly, allowAll), { remove: [allowAll], add: [ownerOnly] }, doc(ownerOnly, allowAll))).toEqual([]);
  });
});
