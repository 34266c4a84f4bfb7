import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateRoleCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import type { AwsClients } from '../../src/activities/aws.js';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';

/**
 * An HTTP front for moto that judges `sts:AssumeRole` the way STS does and moto does not (moto
 * hands out credentials for any role ARN): the role must exist in the target account's IAM (in
 * moto), trust the hub's account, and, when its trust policy says so, be asked with the right
 * `sts:ExternalId`. Refusals are STS's own 403 AccessDenied. Every other request passes through
 * to moto untouched; the front records AssumeRole calls and S3's expected-bucket-owner header.
 */
export interface TrustFront {
  readonly endpoint: string;
  /** Role ARNs of the AssumeRole calls answered (granted or refused), in order. */
  readonly assumeRoleCalls: { roleArn: string; sessionName: string; granted: boolean }[];
  /** S3 requests on a bucket: the bucket and the `x-amz-expected-bucket-owner` header sent (undefined when none). */
  readonly s3Requests: { bucket: string; method: string; expectedOwner: string | undefined; userAgent: string }[];
  /** From now on, requests signed with any assumed-role key seen so far get `ExpiredToken` (a session that ended early). */
  expireSessions(): void;
  /** Every S3 request on `bucket` is refused with 403 AccessDenied (a bucket policy that shuts the remediator out). */
  denyBucket(bucket: string): void;
  /** EC2 calls of `account` in `region` get 401 AuthFailure, as in a region the account has not enabled. */
  disableRegion(account: string, region: string): void;
  close(): Promise<void>;
}

interface TrustStatement {
  Effect?: string;
  Action?: string | string[];
  Principal?: { AWS?: string | string[] };
  Condition?: { StringEquals?: Record<string, string | string[]> };
}

export async function startTrustFront(motoEndpoint: string, hubAccount: string): Promise<TrustFront> {
  const upstream = new URL(motoEndpoint);
  const agent = new Agent({ keepAlive: true });
  const assumeRoleCalls: TrustFront['assumeRoleCalls'] = [];
  const s3Requests: TrustFront['s3Requests'] = [];
  const seenKeys = new Set<string>();
  const expiredKeys = new Set<string>();
  /** Assumed-role access key -> the account it acts in (read from AssumeRole's answers). */
  const keyAccount = new Map<string, string>();
  const deniedBuckets = new Set<string>();
  const disabledRegions = new Set<string>();
  const creds = { accessKeyId: 'emulator', secretAccessKey: 'emulator' };
  const sts = new STSClient({ region: 'us-east-1', endpoint: motoEndpoint, credentials: creds });

  /** Reads the role from the target account's IAM in moto (as that account) and applies its trust policy. */
  async function judge(roleArn: string, externalId: string | null): Promise<string | undefined> {
    const m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
    if (!m) return `invalid role ARN ${roleArn}`;
    const [, account, roleName] = m;
    const admin = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${account}:role/trust-front-reader`, RoleSessionName: 'trust-front' }));
    const iam = new IAMClient({
      region: 'us-east-1',
      endpoint: motoEndpoint,
      credentials: { accessKeyId: admin.Credentials!.AccessKeyId!, secretAccessKey: admin.Credentials!.SecretAccessKey!, sessionToken: admin.Credentials!.SessionToken! },
    });
    try {
      const role = await iam.send(new GetRoleCommand({ RoleName: roleName })).catch(() => undefined);
      const denied = `User: arn:aws:iam::${hubAccount}:user/hub is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`;
      if (!role?.Role?.AssumeRolePolicyDocument) return denied;
      const doc = JSON.parse(decodeURIComponent(role.Role.AssumeRolePolicyDocument)) as { Statement?: TrustStatement | TrustStatement[] };
      const statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
      const list = (x: string | string[] | undefined) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
      const trusts = statements.some((s) => {
        if (s.Effect !== 'Allow' || !list(s.Action).includes('sts:AssumeRole')) return false;
        if (!list(s.Principal?.AWS).some((p) => p === hubAccount || p.startsWith(`arn:aws:iam::${hubAccount}:`))) return false;
        const wanted = s.Condition?.StringEquals?.['sts:ExternalId'];
        return wanted === undefined || list(wanted).includes(externalId ?? '');
      });
      return trusts ? undefined : denied;
    } finally {
      iam.destroy();
    }
  }

  const pass = (req: IncomingMessage, body: Buffer, res: ServerResponse, read?: (answer: string) => void) => {
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (!read) return void upRes.pipe(res);
      const parts: Buffer[] = [];
      upRes.on('data', (c: Buffer) => parts.push(c));
      upRes.on('end', () => {
        const answer = Buffer.concat(parts);
        read(answer.toString('utf8'));
        res.end(answer);
      });
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    up.end(body);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const key = /Credential=([A-Z0-9]+)\//.exec(req.headers['authorization'] ?? '')?.[1];
      if (key && key !== 'emulator') seenKeys.add(key);
      if (key && expiredKeys.has(key)) {
        const s3 = req.headers['authorization']?.includes('/s3/aws4_request');
        res.writeHead(s3 ? 400 : 403, { 'content-type': 'text/xml' });
        res.end(
          s3
            ? '<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>'
            : '<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>trust-front</RequestId></ErrorResponse>',
        );
        return;
      }
      const auth = req.headers['authorization'] ?? '';
      const scope = /Credential=[A-Z0-9]+\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\//.exec(auth);
      const [region, service] = [scope?.[1] ?? '', scope?.[2] ?? ''];
      if (service === 'ec2' && key && disabledRegions.has(`${keyAccount.get(key) ?? ''}/${region}`)) {
        res.writeHead(401, { 'content-type': 'text/xml' });
        res.end('<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>trust-front</RequestID></Response>');
        return;
      }
      if (service === 's3') {
        const bucket = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.split('/')[1] ?? '');
        if (deniedBuckets.has(bucket)) {
          res.writeHead(403, { 'content-type': 'application/xml' });
          res.end('<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
          return;
        }
      }
      const form = req.method === 'POST' && body.length < 100_000 ? new URLSearchParams(body.toString('utf8')) : undefined;
      if (form?.get('Action') === 'AssumeRole') {
        const roleArn = form.get('RoleArn') ?? '';
        void judge(roleArn, form.get('ExternalId')).then(
          (refusal) => {
            assumeRoleCalls.push({ roleArn, sessionName: form.get('RoleSessionName') ?? '', granted: refusal === undefined });
            const account = /^arn:aws:iam::(\d{12}):/.exec(roleArn)?.[1] ?? '';
            if (refusal === undefined) return pass(req, body, res, (answer) => {
              const key = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(answer)?.[1];
              if (key) keyAccount.set(key, account);
            });
            res.writeHead(403, { 'content-type': 'text/xml' });
            res.end(
              `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${refusal}</Message></Error><RequestId>trust-front</RequestId></ErrorResponse>`,
            );
          },
          () => {
            res.writeHead(500);
            res.end();
          },
        );
        return;
      }
      // S3 (path-style against the emulator): the first path segment is the bucket.
      if (!form?.get('Action') && req.headers['authorization']?.includes('/s3/aws4_request')) {
        const bucket = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.split('/')[1] ?? '');
        if (bucket) s3Requests.push({ bucket, method: req.method ?? '', expectedOwner: req.headers['x-amz-expected-bucket-owner'] as string | undefined, userAgent: req.headers['user-agent'] ?? '' });
      }
      pass(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    assumeRoleCalls,
    s3Requests,
    expireSessions() {
      for (const k of seenKeys) expiredKeys.add(k);
    },
    denyBucket(bucket) {
      deniedBuckets.add(bucket);
    },
    disableRegion(account, region) {
      disabledRegions.add(`${account}/${region}`);
    },
    async close() {
      sts.destroy();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * The member role `rectify-remediator` in `account` (through `setup`, clients straight to moto
 * that can act as any account), trusting `hub`, with the external id condition when one is given.
 */
export async function createMemberRole(setup: AwsClients, account: string, hub: string, externalId?: string): Promise<void> {
  await setup.forAccount(account).iam().send(
    new CreateRoleCommand({
      RoleName: 'rectify-remediator',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${hub}:root` }, Action: 'sts:AssumeRole', ...(externalId ? { Condition: { StringEquals: { 'sts:ExternalId': externalId } } } : {}) },
        ],
      }),
    }),
  );
}
