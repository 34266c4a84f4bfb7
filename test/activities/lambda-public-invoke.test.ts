import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddPermissionCommand, CreateFunctionCommand, GetPolicyCommand, RemovePermissionCommand, type AddPermissionRequest } from '@aws-sdk/client-lambda';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import {
  addPermissionFor,
  lambdaPublicInvoke,
  planRemovePublicStatements,
  publicReason,
  statementKey,
  type LambdaPolicyState,
  type PolicyStatement,
} from '../../src/activities/controls/lambda-public-invoke.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor } from '../helpers/fixtures.js';
import { testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';
import { zip } from '../helpers/zip.js';

const aws = testAws();
afterAll(() => aws.destroy());

const C = lambdaPublicInvoke;
const S = DEFAULT_SETTINGS;
// A region no other test file uses: the scan lists every function of the region.
const REGION = 'eu-south-2';
const lambda = aws.lambda(REGION);
const finding = (name: string) => findingFor('lambda-public-invoke' as ControlId, name, { region: REGION, resource: { type: 'AwsLambdaFunction', id: name } });
const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;


let roleArn: string;
beforeAll(async () => {
  // moto checks that the execution role exists.
  const role = await aws.iam().send(
    new CreateRoleCommand({
      RoleName: unique('lambda-exec'),
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  roleArn = role.Role!.Arn!;
});

type Grant = Omit<AddPermissionRequest, 'FunctionName'>;
/** A function (never invoked: creating it needs no container) with these permissions added. */
async function makeFunction(grants: Grant[], prefix = 'fn'): Promise<string> {
  const name = unique(prefix);
  await lambda.send(
    new CreateFunctionCommand({ FunctionName: name, Runtime: 'python3.12', Role: roleArn, Handler: 'index.handler', Code: { ZipFile: zip('index.py', 'def handler(event, context):\n    return 1\n') } }),
  );
  for (const g of grants) await lambda.send(new AddPermissionCommand({ FunctionName: name, ...g }));
  return name;
}
async function liveStatements(name: string): Promise<string[]> {
  const out = await lambda.send(new GetPolicyCommand({ FunctionName: name })).catch((e: unknown) => {
    if ((e as { name?: string }).name === 'ResourceNotFoundException') return { Policy: '{"Statement":[]}' };
    throw e;
  });
  return (JSON.parse(out.Policy!) as { Statement: PolicyStatement[] }).Statement.map(statementKey).sort();
}

const PUBLIC: Grant = { StatementId: 'anyone', Action: 'lambda:InvokeFunction', Principal: '*' };
const S3_OPEN: Grant = { StatementId: 's3-uploads', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com', SourceArn: 'arn:aws:s3:::uploads-bucket' };
const PARTNER: Grant = { StatementId: 'partner', Action: 'lambda:InvokeFunction', Principal: '210987654321' };
const ORG: Grant = { StatementId: 'org', Action: 'lambda:InvokeFunction', Principal: '*', PrincipalOrgID: 'o-a1b2c3d4e5' };
const API: Grant = { StatementId: 'api', Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com', SourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:a1b2c3d4e5/*/POST/orders` };

describe('lambda-public-invoke against moto', () => {
  it('removes exactly the public statements; applying again changes nothing; undo adds them back as they were', async () => {
    const name = await makeFunction([PARTNER, PUBLIC, ORG, S3_OPEN, API]);
    const original = await liveStatements(name);
    expect(original).toHaveLength(5);

    const { state: before, tags } = await C.read(aws, finding(name));
    expect(tags).toEqual({});
    expect(before.functionArn).toBe(`arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`);
    const change = C.plan(before, S)!;
    expect(change.remove.map((s) => s['Sid'])).toEqual(['anyone', 's3-uploads']);
    expect(change.notRestorable).toBeUndefined();
    expect(change.approvalNeeded).toBe(
      'removing s3-uploads stops Amazon S3 event notifications from invoking the function; adding an aws:SourceAccount condition instead (AddPermission --source-account) would keep them',
    );
    expect(C.summarize(change, finding(name))).toBe(`Remove public statements (anyone: * lambda:InvokeFunction; s3-uploads: s3.amazonaws.com lambda:InvokeFunction) from the resource policy of Lambda function ${name}`);
    expect(C.describe(before)).toMatch(/^public: anyone: \* lambda:InvokeFunction \(Principal \* without a condition .*\); s3-uploads: .*; 3 other statements$/);

    await C.apply(aws, finding(name), change);
    const kept = await liveStatements(name);
    expect(kept).toHaveLength(3);
    const { state: after } = await C.read(aws, finding(name));
    expect(after.statements.map((s) => s['Sid']).sort()).toEqual(['api', 'org', 'partner']);
    expect(C.check(before, change, after, S)).toEqual([]);
    expect(C.plan(after, S)).toBeNull();

    // A repeat finds the statements gone and removes nothing else.
    await C.apply(aws, finding(name), change);
    expect(await liveStatements(name)).toEqual(kept);

    await C.undo(aws, finding(name), before, change);
    expect(await liveStatements(name)).toEqual(original);
    const { state: undone } = await C.read(aws, finding(name));
    expect(C.checkUndo(before, change, undone)).toEqual([]);
    // Again: the Sids exist, nothing is added twice.
    await C.undo(aws, finding(name), before, change);
    expect(await liveStatements(name)).toEqual(original);
  });

  it('a function without a policy, or with only restricted statements, is compliant', async () => {
    const bare = await makeFunction([]);
    const { state } = await C.read(aws, finding(bare));
    expect(state.statements).toEqual([]);
    expect(C.plan(state, S)).toBeNull();
    expect(C.describe(state)).toBe('no public statements; 0 other statements');

    const restricted = await makeFunction([PARTNER, ORG, API]);
    const r = await C.read(aws, finding(restricted));
    expect(C.plan(r.state, S)).toBeNull();
  });

  it('statements added or replaced between plan and apply are kept', async () => {
    const name = await makeFunction([PUBLIC, PARTNER]);
    const { state: before } = await C.read(aws, finding(name));
    const change = C.plan(before, S)!;
    expect(change.remove.map((s) => s['Sid'])).toEqual(['anyone']);

    // Meanwhile a person grants API Gateway, and re-uses the Sid "anyone" for a grant to one account.
    await lambda.send(new AddPermissionCommand({ FunctionName: name, ...API }));
    await lambda.send(new RemovePermissionCommand({ FunctionName: name, StatementId: 'anyone' }));
    await lambda.send(new AddPermissionCommand({ FunctionName: name, ...PARTNER, StatementId: 'anyone' }));
    const edited = await liveStatements(name);

    await C.apply(aws, finding(name), change);
    expect(await liveStatements(name)).toEqual(edited);
    const { state: after } = await C.read(aws, finding(name));
    expect(C.check(before, change, after, S)).toEqual([]);
  });

  it('tags the function', async () => {
    const name = await makeFunction([]);
    await C.tag!(aws, finding(name), 'rectify:exempt-until', '2031-01-01');
    expect((await C.read(aws, finding(name))).tags).toEqual({ 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan lists exactly the public functions, over several pages', async () => {
    const open = await makeFunction([PUBLIC, PARTNER], 'scan');
    const s3 = await makeFunction([S3_OPEN], 'scan');
    const closed = await makeFunction([ORG, API], 'scan');
    const bare = await makeFunction([], 'scan');
    const found: string[] = [];
    let pages = 0;
    let scanned = 0;
    let pageToken: string | undefined;
    do {
      const page = await C.scanPage(aws, { account: ACCOUNT, region: REGION, settings: S, pageSize: 1, ...(pageToken ? { pageToken } : {}) });
      expect(page.scanned).toBeLessThanOrEqual(1);
      expect(page.unreadable).toBeUndefined();
      for (const v of page.violations) expect(v.severity).toBe('CRITICAL');
      found.push(...page.violations.map((v) => v.resourceId));
      scanned += page.scanned;
      pages++;
      pageToken = page.nextPageToken;
    } while (pageToken && pages < 1000);
    expect(pages).toBeGreaterThanOrEqual(4);
    expect(scanned).toBeGreaterThanOrEqual(4);
    const mine = new Set([open, s3, closed, bare]);
    expect(found.filter((n) => mine.has(n)).sort()).toEqual([open, s3].sort());
    for (const n of found) expect(C.plan((await C.read(aws, finding(n))).state, S)).not.toBeNull();
  });

  it('a missing function is a non-retryable ResourceNotFound', async () => {
    const f = await failureOf(C.read(aws, finding(unique('missing'))));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
  });
});

const ARN = `arn:aws:lambda:us-east-1:${ACCOUNT}:function:webhook`;
const st = (s: Record<string, unknown>): PolicyStatement => ({ Effect: 'Allow', Resource: ARN, Action: 'lambda:InvokeFunction', ...s });

describe('what counts as public (the Config rule lambda-function-public-access-prohibited)', () => {
  it('a * principal is public unless a condition pins it to fixed accounts, an organization or a source', () => {
    expect(publicReason(st({ Principal: '*' }))).toBeDefined();
    expect(publicReason(st({ Principal: { AWS: '*' } }))).toBeDefined();
    expect(publicReason(st({ Principal: { AWS: ['arn:aws:iam::210987654321:root', '*'] } }))).toBeDefined();
    expect(publicReason(st({ Principal: { AWS: '*' }, Condition: { StringEquals: { 'AWS:SourceAccount': ACCOUNT } } }))).toBeUndefined();
    expect(publicReason(st({ Principal: '*', Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } } }))).toBeUndefined();
    expect(publicReason(st({ Principal: '*', Condition: { ArnLike: { 'AWS:SourceArn': `arn:aws:sns:us-east-1:${ACCOUNT}:topic` } } }))).toBeUndefined();
    // A bucket ARN names no account; wildcards and IfExists operators pin nothing.
    expect(publicReason(st({ Principal: '*', Condition: { ArnLike: { 'AWS:SourceArn': 'arn:aws:s3:::bucket' } } }))).toBeDefined();
    expect(publicReason(st({ Principal: '*', Condition: { StringLike: { 'AWS:SourceAccount': '2109*' } } }))).toBeDefined();
    expect(publicReason(st({ Principal: '*', Condition: { StringEqualsIfExists: { 'AWS:SourceAccount': ACCOUNT } } }))).toBeDefined();
    expect(publicReason(st({ Principal: '*', Condition: { StringNotEquals: { 'AWS:SourceAccount': ACCOUNT } } }))).toBeDefined();
    expect(publicReason(st({ Principal: '*', Effect: 'Deny' }))).toBeUndefined();
    expect(publicReason(st({ NotPrincipal: { AWS: `arn:aws:iam::${ACCOUNT}:root` } }))).toBeDefined();
    expect(publicReason(st({ Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` } }))).toBeUndefined();
  });

  it("a function URL's public statements (auth type NONE) are public: their conditions say how it is called, not who calls", () => {
    expect(publicReason(st({ Sid: 'FunctionURLAllowPublicAccess', Principal: '*', Action: 'lambda:InvokeFunctionUrl', Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'NONE' } } }))).toBeDefined();
    expect(publicReason(st({ Principal: '*', Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } } }))).toBeDefined();
  });

  it('Amazon S3 without aws:SourceAccount is public; with it, or another service, it is not', () => {
    expect(publicReason(st({ Principal: { Service: 's3.amazonaws.com' }, Condition: { ArnLike: { 'AWS:SourceArn': 'arn:aws:s3:::bucket' } } }))).toMatch(/^Amazon S3/);
    expect(
      publicReason(st({ Principal: { Service: 's3.amazonaws.com' }, Condition: { ArnLike: { 'AWS:SourceArn': 'arn:aws:s3:::bucket' }, StringEquals: { 'AWS:SourceAccount': ACCOUNT } } })),
    ).toBeUndefined();
    expect(publicReason(st({ Principal: { Service: 'sns.amazonaws.com' } }))).toBeUndefined();
  });
});

describe('undo with AddPermission', () => {
  it('re-creates what AddPermission can write, function URL conditions included', () => {
    expect(addPermissionFor(st({ Sid: 'u', Principal: '*', Action: 'lambda:InvokeFunctionUrl', Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'NONE' } } }), 'webhook', ARN)).toEqual({
      input: { FunctionName: 'webhook', StatementId: 'u', Action: 'lambda:InvokeFunctionUrl', Principal: '*', FunctionUrlAuthType: 'NONE' },
    });
    expect(addPermissionFor(st({ Sid: 'v', Principal: { AWS: '*' }, Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } } }), 'webhook', ARN)).toEqual({
      input: { FunctionName: 'webhook', StatementId: 'v', Action: 'lambda:InvokeFunction', Principal: '*', InvokedViaFunctionUrl: true },
    });
    expect(
      addPermissionFor(st({ Sid: 's', Principal: { Service: 's3.amazonaws.com' }, Condition: { ArnLike: { 'AWS:SourceArn': 'arn:aws:s3:::b' }, StringEquals: { 'AWS:SourceAccount': ACCOUNT } } }), 'webhook', ARN),
    ).toEqual({ input: { FunctionName: 'webhook', StatementId: 's', Action: 'lambda:InvokeFunction', Principal: 's3.amazonaws.com', SourceArn: 'arn:aws:s3:::b', SourceAccount: ACCOUNT } });
  });

  it('says why it cannot re-create a statement of a JSON policy, and the plan names it', () => {
    const wide = st({ Sid: 'wide', Principal: '*', Action: ['lambda:InvokeFunction', 'lambda:GetFunction'] });
    const ip = st({ Sid: 'ip', Principal: '*', Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } });
    const noSid = st({ Principal: '*' });
    expect(addPermissionFor(wide, 'webhook', ARN)).toEqual({ why: 'AddPermission takes exactly one lambda: action' });
    expect(addPermissionFor(ip, 'webhook', ARN)).toEqual({ why: 'AddPermission cannot write the condition IpAddress aws:SourceIp' });
    const state: LambdaPolicyState = { functionName: 'webhook', functionArn: ARN, statements: [wide, ip, noSid] };
    const change = planRemovePublicStatements(state)!;
    expect(change.remove).toEqual([wide, ip]);
    expect(change.withoutSid).toEqual([noSid]);
    expect(change.notRestorable).toEqual([
      { sid: 'wide', why: 'AddPermission takes exactly one lambda: action' },
      { sid: 'ip', why: 'AddPermission cannot write the condition IpAddress aws:SourceIp' },
    ]);
    expect(change.approvalNeeded).toBe('1 public statement has no Sid, which RemovePermission needs: edit the policy by hand');
    expect(C.summarize(change, finding('webhook'))).toContain('undo cannot re-create wide (AddPermission takes exactly one lambda: action), ip (');
    // Undo promises only what it can do; the statement without a Sid is still public after the fix.
    const after: LambdaPolicyState = { ...state, statements: [noSid] };
    expect(C.checkUndo(state, change, after)).toEqual([]);
    expect(C.check(state, change, after, S)).toEqual(['still public: (no Sid): * lambda:InvokeFunction (Principal * without a condition that limits it to an account, an organization or a source)']);
  });

  it('mentions that a function URL stops answering', () => {
    const url = st({ Sid: 'FunctionURLAllowPublicAccess', Principal: '*', Action: 'lambda:InvokeFunctionUrl', Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'NONE' } } });
    const change = planRemovePublicStatements({ functionName: 'webhook', functionArn: ARN, statements: [url] })!;
    expect(change.approvalNeeded).toBeUndefined();
    expect(C.summarize(change, finding('webhook'))).toBe(
      'Remove public statements (FunctionURLAllowPublicAccess: * lambda:InvokeFunctionUrl) from the resource policy of Lambda function webhook; its function URL stops answering unauthenticated requests',
    );
  });
});

describe('lambda-public-invoke catalog', () => {
  const cat = C.catalog!;

  it('maps Lambda.1 and lambda-function-public-access-prohibited, after AddPermission (as CloudTrail names it)', () => {
    expect(cat.securityHub).toEqual(['Lambda.1']);
    expect(cat.configRules).toEqual(['lambda-function-public-access-prohibited']);
    expect(cat.severity).toBe('CRITICAL');
    expect(cat.defaultMode).toBe('approve');
    expect(cat.resourceType).toBe('AwsLambdaFunction');
    expect(cat.cloudTrail).toEqual([{ eventSource: 'lambda.amazonaws.com', eventNames: ['AddPermission20150331v2', 'AddPermission20150331'] }]);
  });

  it('fromCloudTrail names the function when the statement added is public', () => {
    expect(cat.fromCloudTrail!(fixture('cloudtrail-lambda-add-permission-public'))).toEqual({
      resources: [
        { id: 'orders-api', title: 'Lambda function orders-api: AddPermission made it public (anyone: * lambda:InvokeFunction: Principal * without a condition that limits it to an account, an organization or a source)' },
      ],
    });
    const url = cat.fromCloudTrail!(fixture('cloudtrail-lambda-add-permission-function-url'));
    expect(url).toEqual({ resources: [expect.objectContaining({ id: 'webhook' })] });
    const s3 = cat.fromCloudTrail!(fixture('cloudtrail-lambda-add-permission-s3-no-source-account'));
    expect(s3).toEqual({ resources: [{ id: 'thumbnailer', title: expect.stringContaining('no aws:SourceAccount condition') }] });
  });

  it('fromCloudTrail ignores a statement that is not public, and one on an alias', () => {
    expect(cat.fromCloudTrail!(fixture('cloudtrail-lambda-add-permission-apigateway'))).toEqual({
      ignore: 'adds a statement that is not public (AllowAPIInvoke: apigateway.amazonaws.com lambda:InvokeFunction)',
    });
    expect(cat.fromCloudTrail!(fixture('cloudtrail-lambda-add-permission-org'))).toEqual({ ignore: 'adds a statement that is not public (org-members: * lambda:InvokeFunction)' });
    expect(cat.fromCloudTrail!(fixture('cloudtrail-lambda-add-permission-alias'))).toEqual({
      ignore: "adds to the policy of orders-api:live (a version or alias), not the function's own policy",
    });
    expect(cat.fromCloudTrail!({ eventName: 'AddPermission20150331v2', requestParameters: {} })).toEqual({ ignore: 'the record names no Lambda function' });
    const onAlias = fixture('cloudtrail-lambda-add-permission-public');
    const req = onAlias['requestParameters'] as Record<string, unknown>;
    expect(cat.fromCloudTrail!({ ...onAlias, requestParameters: { ...req, functionName: 'orders-api:7' } })).toEqual({
      ignore: "adds to the policy of orders-api:7 (a version or alias), not the function's own policy",
    });
    expect(cat.fromCloudTrail!({ ...onAlias, requestParameters: { ...req, functionName: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:orders-api:$LATEST` } })).toEqual({
      resources: [expect.objectContaining({ id: 'orders-api' })],
    });
  });

  it('fromCloudTrail rebuilds the statement from the request when the response does not carry it', () => {
    const withoutResponse = (name: string) => ({ ...fixture(name), responseElements: null });
    expect(cat.fromCloudTrail!(withoutResponse('cloudtrail-lambda-add-permission-public'))).toEqual({ resources: [expect.objectContaining({ id: 'orders-api' })] });
    expect(cat.fromCloudTrail!(withoutResponse('cloudtrail-lambda-add-permission-function-url'))).toEqual({ resources: [expect.objectContaining({ id: 'webhook' })] });
    expect(cat.fromCloudTrail!(withoutResponse('cloudtrail-lambda-add-permission-org'))).toEqual({ ignore: expect.stringContaining('not public') });
  });

  it('resourceId takes a function name or ARN (a version or alias ARN names the function)', () => {
    expect(cat.resourceId('orders-api')).toBe('orders-api');
    expect(cat.resourceId(`arn:aws:lambda:eu-west-1:${ACCOUNT}:function:orders-api`)).toBe('orders-api');
    expect(cat.resourceId(`arn:aws:lambda:eu-west-1:${ACCOUNT}:function:orders-api:live`)).toBe('orders-api');
    expect(cat.resourceId(`arn:aws:lambda:eu-west-1:${ACCOUNT}:function:orders-api:$LATEST`)).toBe('orders-api');
    expect(cat.resourceId('orders-api:live')).toBe('orders-api');
    expect(cat.resourceId(`${ACCOUNT}:function:orders-api`)).toBe('orders-api');
    expect(cat.resourceId(`arn:aws:lambda:eu-west-1:${ACCOUNT}:layer:my-layer:3`)).toBeUndefined();
    expect(cat.resourceId(`arn:aws:lambda:eu-west-1:${ACCOUNT}:function:a:b:c`)).toBeUndefined();
    expect(cat.resourceId('arn:aws:s3:::orders-api')).toBeUndefined();
    expect(cat.resourceId('not a name')).toBeUndefined();
    expect(cat.resourceId('x'.repeat(65))).toBeUndefined();
  });
});
