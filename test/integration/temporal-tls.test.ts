import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Connection } from '@temporalio/client';
import { REPO_ROOT } from '../../src/stack/paths.js';
import { plainTemporalEnv } from '../../src/temporal-connection.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus, type RemediationRecord } from '../../src/workflows/messages.js';
import { makeSecurityGroup, sgFinding, world22 } from '../helpers/fixtures.js';
import { stackAddresses, temporalClient, testAws, unique } from '../helpers/stack.js';
import { createTestCa } from '../helpers/tls-certs.js';
import { keyedDefaultPolicy, testOperatorKeyPem } from '../helpers/decisions.js';
import type { AwsClients } from '../../src/activities/aws.js';

/**
 * The worker and the CLI against a Temporal that only takes mTLS: a TLS-terminating proxy
 * (node:tls, client certificates required and checked against our test CA, ALPN h2) in front of
 * the run's dev server, as a self-hosted cluster with mTLS or Temporal Cloud looks to them. The
 * real entry points run as child processes with the TEMPORAL_TLS_* variables, a TOML profile, or
 * an API key (checked by a stand-in gRPC server, which records the header it gets).
 */

const API_KEY = `tmprl-${unique('api-key')}-SECRET`;
/** No connection attempt may take longer than this to fail: refusals are errors, not hangs. */
const REFUSAL_MS = 25_000;

interface TlsProxy {
  readonly address: string;
  /** Connections that presented a certificate our CA signed and were piped to Temporal. */
  accepted: number;
  /** Handshakes the proxy refused, with OpenSSL's reason. */
  readonly refused: string[];
  close(): Promise<void>;
}

/** TLS in front, plain TCP to the dev server behind: what mTLS termination in front of Temporal does. */
async function startTlsProxy(o: { target: string; certPem: string; keyPem: string; caPem: string }): Promise<TlsProxy> {
  const [host, port] = [o.target.slice(0, o.target.lastIndexOf(':')), Number(o.target.slice(o.target.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const proxy: TlsProxy = { address: '', accepted: 0, refused: [], close: async () => undefined };
  const server: TlsServer = createTlsServer({ key: o.keyPem, cert: o.certPem, ca: o.caPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (client) => {
    proxy.accepted++;
    const upstream = netConnect(port, host);
    track(client);
    track(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  server.on('connection', track);
  server.on('tlsClientError', (err) => proxy.refused.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

/** A gRPC server over TLS that refuses every call as UNAUTHENTICATED and keeps the authorization header it was sent. */
async function startApiKeyStandIn(o: { certPem: string; keyPem: string }): Promise<{ address: string; authorizations: string[]; close(): Promise<void> }> {
  const authorizations: string[] = [];
  const server: Http2SecureServer = createSecureServer({ key: o.keyPem, cert: o.certPem });
  server.on('stream', (stream, headers) => {
    authorizations.push(String(headers['authorization'] ?? '(none)'));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'unknown api key' }, { endStream: true });
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    authorizations,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Run {
  readonly output: () => string;
  readonly exited: Promise<{ code: number; out: string; ms: number }>;
  /** Resolves with the first output line containing `text`; rejects when the process exits first or after `timeoutMs`. */
  waitFor(text: string, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

/** An entry point as a child process, with only the Temporal settings given here (none from this shell or ~/.config). */
function run(entry: string, args: readonly string[], env: Record<string, string>): Run {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: REPO_ROOT,
    env: { ...plainTemporalEnv(process.env), AWS_ENDPOINT_URL: stackAddresses().motoEndpoint, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<{ code: number; out: string; ms: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out, ms: Date.now() - started })));
  return {
    output: () => out,
    exited,
    waitFor: (text, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => l.includes(text));
          if (line === undefined) return;
          cleanup();
          resolve(line);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no "${text}" within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then(() => {
          check();
          if (listeners.has(check)) {
            cleanup();
            reject(new Error(`exited before "${text}"; output:\n${out}`));
          }
        });
        check();
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const cli = (args: readonly string[], env: Record<string, string>) => run('src/cli/main.ts', args, env).exited;

let dir: string;
let pems: { clientKey: string; intruderKey: string };
let files: Record<'ca' | 'clientCert' | 'clientKey' | 'intruderCert' | 'intruderKey', string>;
let proxy: TlsProxy;
/** Its certificate names temporal.test only: clients must be told that name (TEMPORAL_TLS_SERVER_NAME / server_name). */
let namedProxy: TlsProxy;
let apiKeyServer: Awaited<ReturnType<typeof startApiKeyStandIn>>;
let plain: { client: Client; connection: Connection };
let aws: AwsClients;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'temporal-tls-'));
  const ca = await createTestCa('rectify test CA');
  const otherCa = await createTestCa('somebody else\'s CA');
  const server = await ca.issue({ commonName: 'temporal', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  const named = await ca.issue({ commonName: 'temporal.test', usage: 'server', dnsNames: ['temporal.test'] });
  const client = await ca.issue({ commonName: 'rectify-worker', usage: 'client' });
  const intruder = await otherCa.issue({ commonName: 'rectify-worker', usage: 'client' });
  pems = { clientKey: client.keyPem, intruderKey: intruder.keyPem };
  files = { ca: join(dir, 'ca.pem'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client-key.pem'), intruderCert: join(dir, 'intruder.pem'), intruderKey: join(dir, 'intruder-key.pem') };
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.clientCert, client.certPem);
  await writeFile(files.clientKey, client.keyPem, { mode: 0o600 });
  await writeFile(files.intruderCert, intruder.certPem);
  await writeFile(files.intruderKey, intruder.keyPem, { mode: 0o600 });
  const target = stackAddresses().temporalAddress;
  proxy = await startTlsProxy({ target, certPem: server.certPem, keyPem: server.keyPem, caPem: ca.certPem });
  namedProxy = await startTlsProxy({ target, certPem: named.certPem, keyPem: named.keyPem, caPem: ca.certPem });
  apiKeyServer = await startApiKeyStandIn({ certPem: server.certPem, keyPem: server.keyPem });
  // Test-side setup and checks go straight to the dev server.
  plain = await temporalClient();
  aws = testAws();
});

afterAll(async () => {
  await proxy?.close();
  await namedProxy?.close();
  await apiKeyServer?.close();
  await plain?.connection.close();
  aws?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const keyBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');

describe('mTLS: a Temporal that takes only client certificates of its CA', () => {
  const mtls = () => ({ TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_CLIENT_CERT_PATH: files.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.clientKey, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca });

  it('the real worker connects with its certificate, logs how (no secret), and runs a remediation that the CLI, also over mTLS, approves', async () => {
    const taskQueue = unique('tls-worker');
    const worker = run('src/worker/main.ts', [], { ...mtls(), TEMPORAL_TASK_QUEUE: taskQueue, VERIFY_DEADLINE_SECONDS: '20' });
    try {
      const line = await worker.waitFor('worker running', 120_000);
      const logged = JSON.parse(line) as Record<string, unknown>;
      expect(logged).toMatchObject({ msg: 'worker running', temporal: proxy.address, namespace: 'default', taskQueue, tls: `mTLS (client cert ${files.clientCert}, server CA ${files.ca})` });
      expect(proxy.accepted).toBeGreaterThan(0);

      // A finding on a production-tagged group waits for a person: the worker ran its workflow through the proxy.
      const account = String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));
      const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
      // The operator's key is listed (as tls-operator) in the policy the workflow gets and the CLI reads.
      const keyed = keyedDefaultPolicy('tls-operator');
      const signing = { POLICY_FILE: join(dir, 'keyed-policy.yaml'), RECTIFY_OPERATOR_KEY_FILE: join(dir, 'operator-key.pem'), RECTIFY_DATA_DIR: dir };
      await writeFile(signing.POLICY_FILE, keyed.text);
      await writeFile(signing.RECTIFY_OPERATOR_KEY_FILE, testOperatorKeyPem, { mode: 0o600 });
      const r = await createSubmitter(plain.client, { taskQueue, verifyDeadlineMs: 20_000, policy: keyed.policy }).submit(sgFinding(groupId, { account }));
      const handle = plain.client.workflow.getHandle(r.workflowId, r.runId);
      for (let i = 0; i < 300 && (await handle.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((x) => setTimeout(x, 100));
      expect((await handle.query(getStatus)).status).toBe('AwaitingApproval');

      let listed = { code: 1, out: '' };
      for (let i = 0; i < 20 && !listed.out.includes(r.workflowId); i++) listed = await cli(['approvals', '--account', account], mtls()); // visibility is eventually consistent
      expect(listed.code).toBe(0);
      expect(listed.out).toContain(r.workflowId);
      const approved = await cli(['approve', r.workflowId, '--reason', 'CHG-443'], { ...mtls(), ...signing });
      expect(approved.out).toContain('Approved by cli:tls-operator');
      expect(approved.code).toBe(0);

      // The fix itself: the worker's activities and the workflow's end, all through the proxy.
      const record: RemediationRecord = await handle.result();
      expect(record.outcome).toBe('remediated');
      expect(record.approval).toMatchObject({ decision: 'approve', by: { id: 'tls-operator', via: 'cli' } });
    } finally {
      await worker.stop();
    }
    // Nothing the worker wrote holds its private key.
    expect(worker.output()).not.toContain(keyBody(pems.clientKey));
    expect(worker.output()).not.toContain(keyBody(pems.clientKey).slice(0, 40));
  });

  it('the real trigger server reaches Temporal with the certificate (GET /healthz), and is unhealthy without it', async () => {
    const token = unique('webhook-token-0123456789');
    const withCert = run('src/triggers/main.ts', [], { ...mtls(), PORT: '0', WEBHOOK_TOKEN: token });
    const withoutCert = run('src/triggers/main.ts', [], { TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca, PORT: '0', WEBHOOK_TOKEN: token });
    try {
      const health = async (r: Run, want: number) => {
        const { url, tls } = JSON.parse(await r.waitFor('trigger server listening', 60_000)) as { url: string; tls: string };
        let res = { status: 0, body: {} as unknown };
        for (let i = 0; i < 20 && res.status !== want; i++) {
          const got = await fetch(`${url}/healthz`);
          res = { status: got.status, body: await got.json() };
          if (res.status !== want) await new Promise((x) => setTimeout(x, 500));
        }
        return { tls, ...res };
      };
      const [ok, refused] = await Promise.all([health(withCert, 200), health(withoutCert, 503)]);
      expect(ok).toEqual({ tls: `mTLS (client cert ${files.clientCert}, server CA ${files.ca})`, status: 200, body: { status: 'ok', temporal: 'reachable' } });
      expect(refused).toEqual({ tls: `TLS (server CA ${files.ca})`, status: 503, body: { status: 'degraded', temporal: 'unreachable' } });
    } finally {
      await Promise.all([withCert.stop(), withoutCert.stop()]);
    }
    expect(withCert.output()).not.toContain(keyBody(pems.clientKey).slice(0, 40));
    expect(withCert.output()).not.toContain(token);
  });

  it('refuses the worker and the CLI without a client certificate, with one of another CA, and without TLS: each fails fast and says why', async () => {
    const refusedBefore = proxy.refused.length;
    const noCert = { TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca };
    const intruder = { TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_CLIENT_CERT_PATH: files.intruderCert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.intruderKey, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca };
    const worker = (env: Record<string, string>) => run('src/worker/main.ts', [], { ...env, TEMPORAL_TASK_QUEUE: unique('refused') }).exited;
    const [workerNoCert, workerIntruder, cliNoCert, cliIntruder, cliNoTls, cliUnknownServer] = await Promise.all([
      worker(noCert),
      worker(intruder),
      cli(['approvals'], noCert),
      cli(['approvals'], intruder),
      cli(['approvals'], { TEMPORAL_ADDRESS: proxy.address }),
      // Our certificate, but the server's CA not given: the system CAs do not know it.
      cli(['approvals'], { TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_CLIENT_CERT_PATH: files.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.clientKey }),
    ]);
    const where = `cannot connect to Temporal at ${proxy.address}`;
    for (const [name, r] of Object.entries({ workerNoCert, workerIntruder, cliNoCert, cliIntruder, cliNoTls, cliUnknownServer })) {
      expect(r.code, `${name}:\n${r.out}`).toBe(1);
      expect(r.out, name).toContain(where);
      expect(r.ms, `${name} failed within ${REFUSAL_MS} ms`).toBeLessThan(REFUSAL_MS);
      expect(r.out, name).not.toContain(keyBody(pems.intruderKey).slice(0, 40));
      expect(r.out, name).not.toContain(keyBody(pems.clientKey).slice(0, 40));
    }
    expect(workerNoCert.out).toContain(`worker not started: ${where} (namespace default, tls: TLS (server CA ${files.ca}))`);
    expect(workerNoCert.out).toContain('the server requires a client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH');
    expect(cliNoCert.out).toContain('the server requires a client certificate');
    expect(workerIntruder.out).toContain(`tls: mTLS (client cert ${files.intruderCert}, server CA ${files.ca})`);
    expect(workerIntruder.out).toContain('the server refused the client certificate');
    expect(cliIntruder.out).toContain('the server refused the client certificate');
    expect(cliNoTls.out).toContain('tls: off');
    expect(cliNoTls.out).toContain('the server speaks TLS but TLS is off here');
    expect(cliUnknownServer.out).toContain('the server\'s certificate is not signed by a CA trusted here: set TEMPORAL_TLS_SERVER_CA_CERT_PATH');
    // The proxy turned them away at the handshake; none reached Temporal.
    expect(proxy.refused.length).toBeGreaterThan(refusedBefore);
  });
});

describe('a TOML profile (TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE), as `temporal config` writes it', () => {
  it('gives the CLI address, namespace, certificates and the server name to expect; a wrong name or profile is a clear error', async () => {
    const file = join(dir, 'temporal.toml');
    await writeFile(
      file,
      [
        '[profile.default]',
        'address = "127.0.0.1:1"',
        '',
        '[profile.selfhosted]',
        `address = "${namedProxy.address}"`,
        'namespace = "default"',
        '[profile.selfhosted.tls]',
        `client_cert_path = "${files.clientCert}"`,
        `client_key_path = "${files.clientKey}"`,
        `server_ca_cert_path = "${files.ca}"`,
        'server_name = "temporal.test"',
        '',
      ].join('\n'),
    );
    const profile = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'selfhosted' };
    const acceptedBefore = namedProxy.accepted;
    const [ok, wrongName, unknownProfile] = await Promise.all([
      cli(['approvals', '--account', '000000000000'], profile),
      cli(['approvals'], { ...profile, TEMPORAL_TLS_SERVER_NAME: 'wrong.test' }),
      cli(['approvals'], { ...profile, TEMPORAL_PROFILE: 'prod' }),
    ]);
    expect(ok.out).toContain('No remediation is waiting for approval.');
    expect(ok.code).toBe(0);
    expect(namedProxy.accepted).toBeGreaterThan(acceptedBefore);

    expect(wrongName.code).toBe(1);
    expect(wrongName.ms).toBeLessThan(REFUSAL_MS);
    expect(wrongName.out).toContain(`profile selfhosted (${file})`);
    expect(wrongName.out).toContain('the server\'s certificate is not for wrong.test: set TEMPORAL_TLS_SERVER_NAME to a name it has');

    expect(unknownProfile.code).toBe(1);
    expect(unknownProfile.out).toContain(`TEMPORAL_PROFILE: no profile "prod" in ${file} (it has "default", "selfhosted")`);
  });
});

describe('API key (Temporal Cloud): sent as a bearer token over TLS, never printed', () => {
  it('the worker and the CLI present TEMPORAL_API_KEY to the server; the refusal is reported without it', async () => {
    const env = { TEMPORAL_ADDRESS: apiKeyServer.address, TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca };
    const [worker, client] = await Promise.all([run('src/worker/main.ts', [], { ...env, TEMPORAL_TASK_QUEUE: unique('api-key') }).exited, cli(['approvals'], env)]);
    for (const [name, r] of Object.entries({ worker, client })) {
      expect(r.code, `${name}:\n${r.out}`).toBe(1);
      expect(r.ms).toBeLessThan(REFUSAL_MS);
      expect(r.out, name).toContain(`cannot connect to Temporal at ${apiKeyServer.address} (namespace ns.acct, tls: api key (TLS, server CA ${files.ca}))`);
      expect(r.out, name).toMatch(/unknown api key/i);
      expect(r.out, name).not.toContain(API_KEY);
    }
    // Both the native (worker) and the JavaScript (CLI) connection sent it, and only as the bearer token.
    expect(apiKeyServer.authorizations.length).toBeGreaterThanOrEqual(2);
    expect(new Set(apiKeyServer.authorizations)).toEqual(new Set([`Bearer ${API_KEY}`]));
  });
});
