import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { loadTemplate, resolve, sampleValues, type Template, type Values } from '../helpers/cfn.js';

/**
 * Least privilege, kept exact. The IAM actions the product needs are DERIVED from the source:
 * every `new <Name>Command(...)` of an @aws-sdk/client-* module under src/, mapped to the IAM
 * action(s) it needs, split by who makes the call:
 *   member side: src/activities/controls/** and src/activities/remediation.ts, which run with the
 *                member role in the finding's account (AwsClients.forAccount);
 *   hub side:    everything else under src/, with the worker's own credentials;
 *   both:        src/activities/securityhub.ts (the write-back goes to the Security Hub holding the
 *                finding: the hub's as administrator, or a member's own through its role).
 * deploy/member-role.yaml must grant exactly the member-side actions and deploy/hub-policy.yaml
 * exactly the hub-side ones: a new call without its permission fails here, and so does a
 * permission no code uses. Both templates also pass cfn-lint, and their policies parliament.
 */

const MEMBER_TEMPLATE = 'deploy/member-role.yaml';
const HUB_TEMPLATE = 'deploy/hub-policy.yaml';

/** Source files whose AWS calls run in the member account, by path. */
const isMemberSide = (file: string) => file.startsWith('src/activities/controls/') || file === 'src/activities/remediation.ts';

/** Source files whose calls run on either side, depending on where the resource lives. */
const BOTH_SIDES: Record<string, string> = {
  'src/activities/securityhub.ts': "writes back to the Security Hub holding the finding: the hub's (administrator) or a member's own",
};

/**
 * Source files that only ever talk to the local AWS emulator: no deployed identity needs their
 * calls. src/cli/demo.ts creates the misconfigured demo resources in moto (`rectify demo`).
 */
const EMULATOR_ONLY: Record<string, string> = {
  'src/cli/demo.ts': 'creates the demo resources in the local emulator (moto), never in AWS',
};

/** Calls that need no IAM permission: granting them would be noise, and is refused here. */
const NO_PERMISSION_NEEDED: Record<string, string> = {
  // "No permissions are required to perform this operation" (STS API reference); an explicit deny cannot block it either.
  'sts:GetCallerIdentity': 'needs no IAM permission',
};

/** SDK module -> IAM service prefix. For all but S3 the action is the command's name without `Command`. */
const SERVICE_PREFIX: Record<string, string> = {
  cloudtrail: 'cloudtrail',
  ec2: 'ec2',
  iam: 'iam',
  kms: 'kms',
  lambda: 'lambda',
  organizations: 'organizations',
  rds: 'rds',
  s3: 's3',
  securityhub: 'securityhub',
  sns: 'sns',
  sqs: 'sqs',
  sts: 'sts',
};

interface S3Mapping {
  readonly actions: readonly string[];
  /** Extra actions a request parameter needs, when the call sets it (e.g. Object Lock retention). */
  readonly byParameter?: Record<string, string>;
}

/**
 * S3 operation -> IAM action(s): S3's action names often differ from its API's
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
 * gives the permission each operation needs). An S3 command missing here fails the test.
 */
const S3_ACTIONS: Record<string, S3Mapping> = {
  CreateBucket: { actions: ['s3:CreateBucket'] },
  ListBuckets: { actions: ['s3:ListAllMyBuckets'] },
  HeadBucket: { actions: ['s3:ListBucket'] },
  ListObjectsV2: { actions: ['s3:ListBucket'] },
  GetBucketLocation: { actions: ['s3:GetBucketLocation'] },
  GetBucketAcl: { actions: ['s3:GetBucketAcl'] },
  PutBucketAcl: { actions: ['s3:PutBucketAcl'] },
  GetPublicAccessBlock: { actions: ['s3:GetBucketPublicAccessBlock'] },
  PutPublicAccessBlock: { actions: ['s3:PutBucketPublicAccessBlock'] },
  DeletePublicAccessBlock: { actions: ['s3:PutBucketPublicAccessBlock'] },
  GetBucketEncryption: { actions: ['s3:GetEncryptionConfiguration'] },
  PutBucketEncryption: { actions: ['s3:PutEncryptionConfiguration'] },
  DeleteBucketEncryption: { actions: ['s3:PutEncryptionConfiguration'] },
  GetBucketTagging: { actions: ['s3:GetBucketTagging'] },
  PutBucketTagging: { actions: ['s3:PutBucketTagging'] },
  DeleteBucketTagging: { actions: ['s3:PutBucketTagging'] },
  GetBucketPolicy: { actions: ['s3:GetBucketPolicy'] },
  GetBucketPolicyStatus: { actions: ['s3:GetBucketPolicyStatus'] },
  PutBucketPolicy: { actions: ['s3:PutBucketPolicy'] },
  DeleteBucketPolicy: { actions: ['s3:DeleteBucketPolicy'] },
  GetBucketOwnershipControls: { actions: ['s3:GetBucketOwnershipControls'] },
  PutBucketOwnershipControls: { actions: ['s3:PutBucketOwnershipControls'] },
  GetBucketVersioning: { actions: ['s3:GetBucketVersioning'] },
  PutBucketVersioning: { actions: ['s3:PutBucketVersioning'] },
  GetBucketLogging: { actions: ['s3:GetBucketLogging'] },
  PutBucketLogging: { actions: ['s3:PutBucketLogging'] },
  GetObjectLockConfiguration: { actions: ['s3:GetBucketObjectLockConfiguration'] },
  PutObjectLockConfiguration: { actions: ['s3:PutBucketObjectLockConfiguration'] },
  // Without s3:ListBucket S3 answers a missing key with 403 AccessDenied instead of 404 NoSuchKey,
  // and the callers (src/evidence/archive.ts) tell "absent" from "refused" by that status.
  GetObject: { actions: ['s3:GetObject', 's3:ListBucket'] },
  HeadObject: { actions: ['s3:GetObject', 's3:ListBucket'] },
  DeleteObject: { actions: ['s3:DeleteObject'] },
  PutObject: {
    actions: ['s3:PutObject'],
    byParameter: {
      ObjectLockMode: 's3:PutObjectRetention',
      ObjectLockRetainUntilDate: 's3:PutObjectRetention',
      ObjectLockLegalHoldStatus: 's3:PutObjectLegalHold',
      Tagging: 's3:PutObjectTagging',
      ACL: 's3:PutObjectAcl',
      GrantFullControl: 's3:PutObjectAcl',
      GrantRead: 's3:PutObjectAcl',
      GrantReadACP: 's3:PutObjectAcl',
      GrantWriteACP: 's3:PutObjectAcl',
    },
  },
};

interface Call {
  readonly site: string; // file:line
  readonly file: string;
  readonly service: string;
  readonly operation: string;
  /** The request parameters the call may set (top-level keys of its input literal); undefined when the input is not a literal. */
  readonly params: ReadonlySet<string> | undefined;
}

function sourceFiles(dir = 'src'): string[] {
  return readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : /\.(c|m)?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [`${dir}/${e.name}`] : []))
    .sort();
}

/** Top-level keys an input object literal may set, through spreads and conditionals; undefined when not a literal. */
function literalKeys(e: ts.Expression | undefined): Set<string> | undefined {
  if (e === undefined) return new Set();
  if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) return literalKeys(e.expression);
  if (ts.isConditionalExpression(e)) return union(literalKeys(e.whenTrue), literalKeys(e.whenFalse));
  if (ts.isBinaryExpression(e) && [ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.QuestionQuestionToken].includes(e.operatorToken.kind)) {
    return union(e.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ? new Set() : literalKeys(e.left), literalKeys(e.right));
  }
  if (!ts.isObjectLiteralExpression(e)) return undefined;
  let keys: Set<string> | undefined = new Set();
  for (const p of e.properties) {
    if (ts.isSpreadAssignment(p)) keys = union(keys, literalKeys(p.expression));
    else if (p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) keys?.add(p.name.text);
    else keys = undefined; // a computed key
  }
  return keys;
}

function union(a: Set<string> | undefined, b: Set<string> | undefined): Set<string> | undefined {
  return a && b ? new Set([...a, ...b]) : undefined;
}

/** Every AWS SDK call in src/, and what the scan could not understand (each a test failure). */
async function scanSource(): Promise<{ calls: Call[]; problems: string[] }> {
  const calls: Call[] = [];
  const problems: string[] = [];
  const moduleExports = new Map<string, Set<string>>();
  for (const file of sourceFiles()) {
    const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
    if (!text.includes('@aws-sdk/')) continue;
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const at = (n: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    const commands = new Map<string, { service: string; operation: string; constructed: boolean; site: string }>();
    const paginators = new Map<string, { service: string; operation: string }>();
    for (const st of sf.statements) {
      if (ts.isExportDeclaration(st) && !st.isTypeOnly && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) && st.moduleSpecifier.text.startsWith('@aws-sdk/')) {
        problems.push(`${at(st)} re-exports ${st.moduleSpecifier.text}: import the commands from the SDK where they are sent, so the test can see the calls`);
      }
      if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
      const spec = st.moduleSpecifier.text;
      const clause = st.importClause;
      if (!spec.startsWith('@aws-sdk/') || !clause || clause.isTypeOnly) continue;
      const service = /^@aws-sdk\/client-([\w-]+)$/.exec(spec)?.[1];
      if (!service) {
        problems.push(`${at(st)} imports ${spec}: the test does not know which IAM actions it needs; import commands from @aws-sdk/client-* or teach test/unit/permissions.test.ts`);
        continue;
      }
      const named = clause.namedBindings;
      if (clause.name || !named || !ts.isNamedImports(named)) {
        problems.push(`${at(st)} imports ${spec} whole: import the commands by name (import { XCommand } from '${spec}') so the test can see them`);
        continue;
      }
      if (!moduleExports.has(spec)) moduleExports.set(spec, new Set(Object.keys((await import(spec)) as object)));
      for (const el of named.elements) {
        if (el.isTypeOnly) continue;
        const imported = (el.propertyName ?? el.name).text;
        const local = el.name.text;
        if (imported.endsWith('Command') && imported !== 'Command') commands.set(local, { service, operation: imported.slice(0, -'Command'.length), constructed: false, site: at(el) });
        else if (/^paginate[A-Z]/.test(imported)) paginators.set(local, { service, operation: imported.slice('paginate'.length) });
        else if (/^waitUntil|^waitFor/.test(imported)) problems.push(`${at(el)} uses the waiter ${imported}: map the operations it polls in test/unit/permissions.test.ts`);
        else if (moduleExports.get(spec)?.has(`${imported}Client`)) problems.push(`${at(el)} uses the aggregated client ${imported} from ${spec}: send XCommand objects through ${imported}Client so the test can see the calls`);
      }
    }
    const visit = (n: ts.Node): void => {
      if (ts.isNewExpression(n) && ts.isIdentifier(n.expression)) {
        const c = commands.get(n.expression.text);
        if (c) {
          c.constructed = true;
          calls.push({ site: at(n), file, service: c.service, operation: c.operation, params: literalKeys(n.arguments?.[0]) });
        }
      } else if (ts.isCallExpression(n) && ts.isIdentifier(n.expression)) {
        const p = paginators.get(n.expression.text);
        if (p) calls.push({ site: at(n), file, service: p.service, operation: p.operation, params: literalKeys(n.arguments[1]) });
        if (n.expression.text === 'require' && n.arguments.some((a) => ts.isStringLiteral(a) && a.text.startsWith('@aws-sdk/'))) problems.push(`${at(n)} requires an AWS SDK module: use a static import so the test can see its commands`);
      } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments.some((a) => ts.isStringLiteral(a) && a.text.startsWith('@aws-sdk/'))) {
        problems.push(`${at(n)} imports an AWS SDK module dynamically: use a static import so the test can see its commands`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
    for (const [local, c] of commands) if (!c.constructed) problems.push(`${c.site} imports ${local} but never constructs it with new: the test cannot see how it is sent`);
  }
  return { calls, problems };
}

/** The IAM actions one call needs (sorted, unique), or a problem. */
function actionsFor(c: Call): string[] | string {
  const prefix = SERVICE_PREFIX[c.service];
  if (!prefix) return `${c.site}: ${c.operation} of @aws-sdk/client-${c.service}: add the service's IAM prefix to SERVICE_PREFIX in test/unit/permissions.test.ts`;
  if (prefix !== 's3') return [`${prefix}:${c.operation}`];
  const m = S3_ACTIONS[c.operation];
  if (!m) {
    return `${c.site}: the S3 command ${c.operation}Command is not in S3_ACTIONS (test/unit/permissions.test.ts). S3's IAM action names often differ from its API's: add it with the permission(s) the S3 API reference names for ${c.operation}.`;
  }
  const out = new Set(m.actions);
  if (m.byParameter) {
    if (!c.params) return `${c.site}: ${c.operation}Command's input is not an object literal; some of its parameters need extra permissions (${[...new Set(Object.values(m.byParameter))].join(', ')}), so pass the input inline`;
    for (const p of c.params) if (m.byParameter[p]) out.add(m.byParameter[p]);
  }
  return [...out].sort();
}

type Side = 'member' | 'hub';
/** action -> the call sites that need it, per side. */
type Needs = Record<Side, Map<string, string[]>>;

async function derive(): Promise<{ needs: Needs; problems: string[] }> {
  const { calls, problems } = await scanSource();
  const needs: Needs = { member: new Map(), hub: new Map() };
  for (const c of calls) {
    if (EMULATOR_ONLY[c.file]) continue;
    const actions = actionsFor(c);
    if (typeof actions === 'string') {
      problems.push(actions);
      continue;
    }
    const sides: Side[] = BOTH_SIDES[c.file] ? ['member', 'hub'] : isMemberSide(c.file) ? ['member'] : ['hub'];
    for (const a of actions) {
      if (NO_PERMISSION_NEEDED[a]) continue;
      for (const side of sides) {
        const sites = needs[side].get(a) ?? [];
        sites.push(`${c.site} ${c.operation}Command`);
        needs[side].set(a, sites);
      }
    }
  }
  return { needs, problems };
}

interface Statement {
  Sid?: string;
  Effect?: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: string | string[];
  Condition?: unknown;
  Principal?: unknown;
}
interface PolicyDocument {
  Version?: string;
  Statement: Statement | Statement[];
}

const statements = (d: PolicyDocument): Statement[] => (Array.isArray(d.Statement) ? d.Statement : [d.Statement]);
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The identity-based policy documents a template creates, resolved with `values`. */
function permissionPolicies(t: Template, values: Values): { name: string; doc: PolicyDocument }[] {
  const out: { name: string; doc: PolicyDocument }[] = [];
  for (const [id, r] of Object.entries(t.Resources)) {
    const props = (r.Properties ?? {}) as Record<string, unknown>;
    if (r.Type === 'AWS::IAM::Role') {
      // A managed policy attached to the role would grant what this test cannot see.
      if (props['ManagedPolicyArns'] !== undefined) throw new Error(`${id}: ManagedPolicyArns grants permissions the test cannot check; put them in Policies`);
      for (const p of (props['Policies'] ?? []) as { PolicyName: unknown; PolicyDocument: unknown }[]) {
        out.push({ name: `${id}/${String(resolve(t, p.PolicyName, values))}`, doc: resolve(t, p.PolicyDocument, values) as PolicyDocument });
      }
    } else if (['AWS::IAM::ManagedPolicy', 'AWS::IAM::Policy', 'AWS::IAM::RolePolicy', 'AWS::IAM::UserPolicy', 'AWS::IAM::GroupPolicy'].includes(r.Type)) {
      out.push({ name: id, doc: resolve(t, props['PolicyDocument'], values) as PolicyDocument });
    }
  }
  return out;
}

/** action (lower case) -> as written, over every Allow statement; wildcards and NotAction are refused. */
function grantedActions(docs: { name: string; doc: PolicyDocument }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const { name, doc } of docs) {
    for (const s of statements(doc)) {
      if (s.NotAction !== undefined) throw new Error(`${name} ${s.Sid ?? ''}: NotAction grants what the test cannot enumerate`);
      if (s.Effect !== 'Allow') continue;
      for (const a of list(s.Action)) {
        if (a.includes('*') || a.includes('?')) throw new Error(`${name} ${s.Sid ?? ''}: the wildcard action ${a} grants more than the code calls; list the actions`);
        out.set(a.toLowerCase(), a);
      }
    }
  }
  return out;
}

/** A failure message naming the missing and the extra actions (with the code that calls the missing ones); '' when equal. */
function compare(template: string, needs: Map<string, string[]>, granted: Map<string, string>, side: string): string {
  const needed = new Map([...needs].map(([a, sites]) => [a.toLowerCase(), { a, sites }]));
  const missing = [...needed].filter(([k]) => !granted.has(k)).map(([, v]) => v);
  const extra = [...granted].filter(([k]) => !needed.has(k)).map(([, a]) => a);
  const noPermission = [...granted.values()].filter((a) => NO_PERMISSION_NEEDED[a]);
  const lines: string[] = [];
  if (missing.length) {
    lines.push(`${template} lacks ${missing.length} permission(s) the ${side}-side code calls:`);
    for (const m of missing.sort((x, y) => x.a.localeCompare(y.a))) lines.push(`  ${m.a}  <- ${m.sites.join(', ')}`);
  }
  if (extra.length) {
    lines.push(`${template} grants ${extra.length} permission(s) no ${side}-side code calls (remove them, or the code that needed them is gone):`);
    for (const a of extra.sort()) lines.push(`  ${a}${NO_PERMISSION_NEEDED[a] ? ` (${NO_PERMISSION_NEEDED[a]})` : ''}`);
  }
  if (noPermission.length && !extra.length) lines.push(`${template} grants ${noPermission.join(', ')}, which needs no permission`);
  return lines.join('\n');
}

/** Sample parameter values that switch every optional statement on. */
const MEMBER_VALUES = { HubAccountId: '111122223333', ExternalId: 'sample-external-id', 'AWS::AccountId': '444455556666' };
const HUB_VALUES = { 'AWS::AccountId': '111122223333', EvidenceBucket: 'example-evidence-bucket', WorkerRoleName: 'rectify-worker' };

let derivation: ReturnType<typeof derive> | undefined;
const derived = () => (derivation ??= derive());
const member = loadTemplate(path.join(REPO_ROOT, MEMBER_TEMPLATE));
const hub = loadTemplate(path.join(REPO_ROOT, HUB_TEMPLATE));
const memberValues = sampleValues(member, MEMBER_VALUES);
const hubValues = sampleValues(hub, HUB_VALUES);

const dump = (m: Map<string, string[]>) => [...m.keys()].sort();

describe('least privilege: the deploy/ policies grant exactly what the code calls', () => {
  it('the source scan understands every AWS SDK use under src/', async () => {
    const { problems } = await derived();
    if (problems.length) expect.fail(`test/unit/permissions.test.ts cannot derive the IAM actions of:\n  ${problems.join('\n  ')}`);
    for (const f of Object.keys(EMULATOR_ONLY)) expect(sourceFiles().includes(f), `EMULATOR_ONLY lists ${f}, which is gone`).toBe(true);
  });

  it(`${MEMBER_TEMPLATE} grants exactly the member-side actions`, async () => {
    const { needs } = await derived();
    console.log(`member-side actions (${needs.member.size}): ${dump(needs.member).join(' ')}`);
    expect(needs.member.size).toBeGreaterThan(0);
    const diff = compare(MEMBER_TEMPLATE, needs.member, grantedActions(permissionPolicies(member, memberValues)), 'member');
    if (diff) expect.fail(diff);
  });

  it(`${HUB_TEMPLATE} grants exactly the hub-side actions (sts:GetCallerIdentity needs none)`, async () => {
    const { needs } = await derived();
    console.log(`hub-side actions (${needs.hub.size}): ${dump(needs.hub).join(' ')}`);
    expect(needs.hub.size).toBeGreaterThan(0);
    const diff = compare(HUB_TEMPLATE, needs.hub, grantedActions(permissionPolicies(hub, hubValues)), 'hub');
    if (diff) expect.fail(diff);
  });

  it('the member role trusts only the hub, and only with the external id', () => {
    for (const [values, principal] of [
      [memberValues, 'arn:aws:iam::111122223333:root'],
      [{ ...memberValues, HubPrincipalName: 'rectify-worker' }, 'arn:aws:iam::111122223333:role/rectify-worker'],
    ] as const) {
      const roles = Object.values(member.Resources).filter((r) => r.Type === 'AWS::IAM::Role');
      expect(roles).toHaveLength(1);
      const trust = resolve(member, roles[0]!.Properties!['AssumeRolePolicyDocument'], values) as PolicyDocument;
      expect(statements(trust)).toEqual([
        { Sid: expect.any(String), Effect: 'Allow', Principal: { AWS: principal }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'sample-external-id' } } },
      ]);
    }
    const p = member.Parameters!;
    expect(p['HubAccountId']?.AllowedPattern).toBe('^\\d{12}$');
    expect(p['ExternalId']).toMatchObject({ NoEcho: true, MinLength: 2 });
    // The hub assumes the role by the name the member template gives it.
    expect(hub.Parameters!['MemberRoleName']?.Default).toBe(p['RoleName']?.Default);
    expect(p['RoleName']?.Default).toBe('rectify-remediator');
  });
});

/** A tool installed by `npm test` (src/stack/pytools.ts); never skipped when missing. */
function tool(env: 'CFN_LINT_PATH' | 'PARLIAMENT_PATH'): string {
  const p = process.env[env];
  if (!p) expect.fail(`${env} is not set: run this test through npm test (npm test -- test/unit/permissions.test.ts), which installs cfn-lint and parliament from tools/lint/requirements.txt and passes their paths`);
  return p;
}

function exec(bin: string, args: string[], input?: string) {
  const r = spawnSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000, ...(input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input }) });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * Parliament findings accepted for a reason, each by policy, issue and detail. Nothing else is.
 */
const ACCEPTED_FINDINGS: { policy: string; issue: string; detail: RegExp; why: string }[] = [
  {
    // "Possible resource policy privilege escalation ... due to s3:GetObject / s3:PutObject /
    // s3:DeleteObject not being allowed, but does allow s3:PutBucketAcl": writing bucket ACLs IS
    // the s3-public-acl control's fix (and undo). The role has no object access; the
    // s3:ResourceAccount condition keeps the ACL writes to buckets of the role's own account.
    policy: MEMBER_TEMPLATE,
    issue: 'RESOURCE_POLICY_PRIVILEGE_ESCALATION',
    detail: /^Possible resource policy privilege escalation on arn:aws:s3:::\* due to s3:(GetObject|PutObject|DeleteObject) not being allowed, but does allow s3:PutBucketAcl$/,
    why: 's3-public-acl rewrites bucket ACLs by design',
  },
  {
    // The same for bucket policies: adding the TLS deny statement (and taking it out on undo) IS
    // the s3-bucket-tls-required control's fix; same ResourceAccount condition, no object access.
    policy: MEMBER_TEMPLATE,
    issue: 'RESOURCE_POLICY_PRIVILEGE_ESCALATION',
    detail: /^Possible resource policy privilege escalation on arn:aws:s3:::\* due to s3:(GetObject|PutObject|DeleteObject) not being allowed, but does allow s3:PutBucketPolicy$/,
    why: 's3-bucket-tls-required writes bucket policies by design',
  },
];

interface Finding {
  issue: string;
  title: string;
  severity: string;
  detail: unknown;
  location: unknown;
}

/** Parliament's findings for a policy. The policy goes in on stdin: parliament refuses --file whenever stdin is not a terminal. */
function parliament(doc: PolicyDocument): { code: number | null; findings: Finding[]; output: string } {
  const { code, stdout, output } = exec(tool('PARLIAMENT_PATH'), ['--json'], JSON.stringify(doc, null, 2));
  const findings: Finding[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    try {
      findings.push(JSON.parse(line) as Finding);
    } catch {
      expect.fail(`parliament printed something other than JSON findings (exit ${code}):\n${output}`);
    }
  }
  return { code, findings, output };
}

describe('deploy/ passes cfn-lint and parliament', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'rectify-permissions-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('cfn-lint finds nothing in deploy/*.yaml (and does catch a broken template)', () => {
    const cfnLint = tool('CFN_LINT_PATH');
    const templates = readdirSync(path.join(REPO_ROOT, 'deploy'))
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => `deploy/${f}`);
    expect(templates).toEqual(expect.arrayContaining([MEMBER_TEMPLATE, HUB_TEMPLATE]));
    const r = exec(cfnLint, templates);
    if (r.code !== 0) expect.fail(`cfn-lint ${templates.join(' ')} exited ${r.code}:\n${r.output}`);
    // The linter is live: a role without its trust policy is an error.
    const broken = path.join(tmp, 'broken.yaml');
    writeFileSync(broken, "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: x\n");
    const b = exec(cfnLint, [broken]);
    expect(b.code, b.output).not.toBe(0);
    expect(b.output).toContain('AssumeRolePolicyDocument');
  });

  it('parliament finds nothing in the permissions policies (and does catch a bad one)', () => {
    const policies = [
      ...permissionPolicies(member, memberValues).map((p) => ({ template: MEMBER_TEMPLATE, ...p })),
      ...permissionPolicies(hub, hubValues).map((p) => ({ template: HUB_TEMPLATE, ...p })),
      // The hub policy as deployed without an evidence bucket.
      ...permissionPolicies(hub, { ...hubValues, EvidenceBucket: '' }).map((p) => ({ template: HUB_TEMPLATE, ...p, name: `${p.name} (no EvidenceBucket)` })),
    ];
    expect(policies.length).toBeGreaterThanOrEqual(3);
    const failures: string[] = [];
    const accepted = new Set<(typeof ACCEPTED_FINDINGS)[number]>();
    for (const { template, name, doc } of policies) {
      const { code, findings, output } = parliament(doc);
      const unexplained = findings.filter((f) => {
        const a = ACCEPTED_FINDINGS.find((a) => a.policy === template && a.issue === f.issue && a.detail.test(String(f.detail)));
        if (a) accepted.add(a);
        return !a;
      });
      if (unexplained.length || (code !== 0 && findings.length === 0)) {
        const found = unexplained.length ? unexplained.map((f) => `  ${f.severity} ${f.issue}: ${f.title} - ${JSON.stringify(f.detail)}`).join('\n') : output;
        failures.push(`parliament on ${template} ${name} exited ${code}:\n${found}\nthe policy, resolved with sample values:\n${JSON.stringify(doc, null, 2)}`);
      }
    }
    if (failures.length) expect.fail(failures.join('\n\n'));
    for (const a of accepted) console.log(`parliament: accepted ${a.issue} on ${a.policy}: ${a.why}`);
    // An accepted finding that no longer occurs is an exception nobody needs: remove it.
    for (const a of ACCEPTED_FINDINGS) expect(accepted.has(a), `ACCEPTED_FINDINGS: parliament no longer reports ${a.issue} on ${a.policy}; remove the entry`).toBe(true);
    // Parliament is live: an unknown action and a needless Resource * are findings.
    for (const [action, issue] of [['s3:NoSuchAction', 'UNKNOWN_ACTION'], ['s3:GetBucketAcl', 'RESOURCE_STAR']]) {
      const bad = parliament({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });
      expect(bad.code, bad.output).not.toBe(0);
      expect(bad.findings.map((f) => f.issue)).toEqual([issue]);
    }
  });
});
