import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { devNull, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { InvalidInputError } from '../../src/errors.js';
import { loadTemporalConnection, plainTemporalEnv, resolveTemporalConnection } from '../../src/temporal-connection.js';
import { createTestCa } from '../helpers/tls-certs.js';

/**
 * The one place the worker, the trigger server and the CLI get their Temporal connection from:
 * the variables and TOML profiles of @temporalio/envconfig, checked up front, secrets kept out of
 * every description and error. The real TLS / mTLS / API key connections are in
 * test/integration/temporal-tls.test.ts.
 */

const API_KEY = 'tmprl-api-key-0123456789-SECRET';
let dir: string;
let files: { ca: string; cert: string; key: string; otherKey: string; garbageKey: string };
let pem: { ca: string; cert: string; key: string };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadTemporalConnection(env);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    return (e as InvalidInputError).problems;
  }
  return [];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'temporal-connection-'));
  const ca = await createTestCa();
  const client = await ca.issue({ commonName: 'rectify-worker', usage: 'client' });
  const other = await ca.issue({ commonName: 'someone-else', usage: 'client' });
  pem = { ca: ca.certPem, cert: client.certPem, key: client.keyPem };
  files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem'), otherKey: join(dir, 'other-key.pem'), garbageKey: join(dir, 'garbage-key.pem') };
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.cert, client.certPem);
  await writeFile(files.key, client.keyPem, { mode: 0o600 });
  await writeFile(files.otherKey, other.keyPem, { mode: 0o600 });
  await writeFile(files.garbageKey, `-----BEGIN PRIVATE KEY-----\n${API_KEY}\n-----END PRIVATE KEY-----\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Temporal connection settings', () => {
  it('with nothing set: a plain connection to 127.0.0.1:7233, namespace default, no profile', () => {
    const c = loadTemporalConnection({});
    expect(c.address).toBe('127.0.0.1:7233');
    expect(c.namespace).toBe('default');
    expect(c.tls).toBe('off');
    expect(c.profile).toBeUndefined();
    expect(c.options()).toEqual({ address: '127.0.0.1:7233' });
    // Empty variables (compose's `${X:-}`) are unset ones.
    expect(loadTemporalConnection({ TEMPORAL_API_KEY: '', TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_PROFILE: '' }).options()).toEqual({ address: '127.0.0.1:7233' });
  });

  it('is part of loadConfig, which keeps its address and namespace', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'security', TEMPORAL_TLS: 'true' });
    expect(config.temporal.address).toBe('temporal.internal:7233');
    expect(config.temporal.namespace).toBe('security');
    expect(config.temporal.connection.tls).toBe('TLS (system CAs)');
    expect(config.temporal.connection.options()).toEqual({ address: 'temporal.internal:7233', tls: expect.objectContaining({}) });
  });

  it('an API key turns TLS on, goes into the options of both connection kinds, and into no description', () => {
    const env = { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: API_KEY };
    const c = loadTemporalConnection(env);
    expect(c.options()).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: API_KEY });
    expect(c.tls).toBe('api key (TLS, system CAs)');
    const config = loadConfig(env);
    expect(config.temporal.connection.options().apiKey).toBe(API_KEY);
    // What a log line or an error could show: the config, the connection, its description.
    expect(JSON.stringify(config)).not.toContain(API_KEY);
    expect(JSON.stringify(c)).not.toContain(API_KEY);
    expect(`${c.tls} ${c.address} ${c.namespace}`).not.toContain(API_KEY);
  });

  it('mTLS from files: certificate pair, server CA and server name in the options; the description names the certificate file only', async () => {
    const c = loadTemporalConnection({
      TEMPORAL_ADDRESS: 'temporal.example.com:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: files.key,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    const tls = c.options().tls as { serverNameOverride?: string; serverRootCACertificate?: Uint8Array; clientCertPair?: { crt: Uint8Array; key: Uint8Array } };
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe(pem.cert);
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe(pem.key);
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe(pem.ca);
    expect(tls.serverNameOverride).toBe('temporal.internal');
    expect(c.tls).toBe(`mTLS (client cert ${files.cert}, server CA ${files.ca}, server name temporal.internal)`);
    expect(c.tls).not.toContain('PRIVATE KEY');
    // Each call gets its own copy: nobody can change the next connection's settings.
    expect(c.options().tls).not.toBe(c.options().tls);
  });

  it('mTLS from inline data names the variables, not the contents', () => {
    const c = loadTemporalConnection({ TEMPORAL_TLS_CLIENT_CERT_DATA: pem.cert, TEMPORAL_TLS_CLIENT_KEY_DATA: pem.key });
    expect(c.tls).toBe('mTLS (client cert from TEMPORAL_TLS_CLIENT_CERT_DATA, system CAs)');
    expect(Buffer.from((c.options().tls as { clientCertPair: { key: Uint8Array } }).clientCertPair.key).toString()).toBe(pem.key);
  });

  it('lists every problem at once, with the variable and the file, never a key or the API key', async () => {
    const problems = problemsOf({
      TEMPORAL_ADDRESS: 'no-port',
      TEMPORAL_TLS: 'yes',
      TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true',
      TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'missing.pem'),
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.garbageKey,
      TEMPORAL_PROFILE: 'prod',
      TEMPORAL_CONFIG_FILE: join(dir, 'no-such.toml'),
      TEMPORAL_API_KEY: `${API_KEY} with spaces`,
    });
    const text = problems.join('\n');
    expect(text).toContain('TEMPORAL_TLS must be true or false, got "yes"');
    expect(text).toContain('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is not supported');
    expect(text).toContain(`TEMPORAL_CONFIG_FILE: cannot read ${join(dir, 'no-such.toml')} (ENOENT)`);
    expect(text).toContain('TEMPORAL_ADDRESS must be host:port, got "no-port"');
    expect(text).toContain(`TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read the client certificate ${join(dir, 'missing.pem')} (ENOENT)`);
    expect(text).toContain('TEMPORAL_TLS_SERVER_CA_CERT_PATH: not a PEM server CA certificate');
    expect(text).toContain('TEMPORAL_TLS_CLIENT_CERT_PATH gives a client certificate but no key');
    expect(text).toContain('TEMPORAL_API_KEY must be one token');
    expect(problems.length).toBeGreaterThanOrEqual(8);
    expect(text).not.toContain(API_KEY);
  });

  it('refuses a key without a certificate, a key that is not one, a pair that does not match: the key never quoted', () => {
    expect(problemsOf({ TEMPORAL_TLS_CLIENT_KEY_PATH: files.key })).toEqual([expect.stringContaining('TEMPORAL_TLS_CLIENT_KEY_PATH gives a client key but no certificate')]);
    const garbage = problemsOf({ TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.garbageKey });
    expect(garbage).toEqual(['TEMPORAL_TLS_CLIENT_KEY_PATH: not a usable PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1)']);
    expect(problemsOf({ TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.otherKey })).toEqual([
      'the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH) and the client key (TEMPORAL_TLS_CLIENT_KEY_PATH) do not belong together',
    ]);
    const inline = problemsOf({ TEMPORAL_TLS_CLIENT_CERT_DATA: pem.cert, TEMPORAL_TLS_CLIENT_KEY_DATA: `not a key ${API_KEY}` });
    expect(inline.join('\n')).not.toContain(API_KEY);
    expect(problemsOf({ TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_CERT_DATA: pem.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.key })).toEqual([
      'set TEMPORAL_TLS_CLIENT_CERT_PATH or TEMPORAL_TLS_CLIENT_CERT_DATA, not both',
    ]);
  });

  it('never sends an API key or a client certificate over a connection with TLS turned off', () => {
    expect(problemsOf({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: API_KEY })).toEqual(['TEMPORAL_API_KEY is set but TLS is off (TEMPORAL_TLS=false): an API key is never sent unencrypted']);
    expect(problemsOf({ TEMPORAL_TLS: '0', TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: files.key })).toEqual(['a client certificate is set but TLS is off (TEMPORAL_TLS=false)']);
    expect(loadTemporalConnection({ TEMPORAL_TLS: 'FALSE' }).tls).toBe('off');
    expect(loadTemporalConnection({ TEMPORAL_TLS: 'TRUE' }).options().tls).toBeTruthy();
  });

  it('gRPC headers from TEMPORAL_GRPC_META_*: in the options, not in the description', () => {
    const c = loadTemporalConnection({ TEMPORAL_GRPC_META_X_TENANT: 'blue', TEMPORAL_TLS: 'true' });
    expect(c.options().metadata).toEqual({ 'x-tenant': 'blue' });
    expect(c.tls).not.toContain('blue');
  });
});

describe('Temporal config file (TOML profiles, as written by `temporal config`)', () => {
  const toml = (f: typeof files) => `
[profile.default]
address = "127.0.0.1:7233"

[profile.cloud]
address = "ns.acct.tmprl.cloud:7233"
namespace = "ns.acct"
api_key = "${API_KEY}"

[profile.selfhosted]
address = "temporal.internal:7233"
namespace = "security"
[profile.selfhosted.tls]
client_cert_path = "${f.cert}"
client_key_path = "${f.key}"
server_ca_cert_path = "${f.ca}"
server_name = "temporal.internal"
[profile.selfhosted.grpc_meta]
x-team = "secops"
`;

  it('TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE pick a profile; the environment overrides it; loadConfig takes its namespace', async () => {
    const file = join(dir, 'temporal.toml');
    await writeFile(file, toml(files));
    const c = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'selfhosted' });
    expect(c.address).toBe('temporal.internal:7233');
    expect(c.namespace).toBe('security');
    expect(c.profile).toBe(`selfhosted (${file})`);
    expect(c.tls).toBe(`mTLS (client cert ${files.cert}, server CA ${files.ca}, server name temporal.internal)`);
    expect(c.options().metadata).toEqual({ 'x-team': 'secops' });
    expect(loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'selfhosted' }).temporal.namespace).toBe('security');
    expect(loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'selfhosted', TEMPORAL_NAMESPACE: 'other' }).namespace).toBe('other');

    const cloud = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
    expect(cloud.options()).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: API_KEY });
    expect(cloud.tls).toBe('api key (TLS, system CAs)');
    // No TEMPORAL_PROFILE: the default profile.
    expect(loadTemporalConnection({ TEMPORAL_CONFIG_FILE: file }).profile).toBe(`default (${file})`);
  });

  it('an unknown profile lists the ones there are; a broken file says where, without quoting it', async () => {
    const file = join(dir, 'profiles.toml');
    await writeFile(file, toml(files));
    expect(problemsOf({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' })).toEqual([`TEMPORAL_PROFILE: no profile "prod" in ${file} (it has "default", "cloud", "selfhosted")`]);
    const broken = join(dir, 'broken.toml');
    await writeFile(broken, `[profile.cloud]\napi_key = "${API_KEY}\n`);
    const problems = problemsOf({ TEMPORAL_CONFIG_FILE: broken, TEMPORAL_PROFILE: 'cloud' });
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^the Temporal config file ${broken} is not valid TOML \\(line 2, column \\d+\\)$`))]);
    expect(problems.join('\n')).not.toContain(API_KEY);
    const badPaths = join(dir, 'bad-paths.toml');
    await writeFile(badPaths, `[profile.x.tls]\nclient_cert_path = "${join(dir, 'gone.pem')}"\nclient_key_path = "${files.key}"\n`);
    expect(problemsOf({ TEMPORAL_CONFIG_FILE: badPaths, TEMPORAL_PROFILE: 'x' })).toEqual([
      `tls.client_cert_path in the profile "x" of ${badPaths}: cannot read the client certificate ${join(dir, 'gone.pem')} (ENOENT)`,
    ]);
  });

  it('reads the default file (~/.config/temporalio/temporal.toml) like the temporal CLI; an empty or profile-less one is no profile', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.config', 'temporalio'), { recursive: true });
    await writeFile(join(home, '.config', 'temporalio', 'temporal.toml'), '[profile.default]\naddress = "from-home:7233"\nnamespace = "home-ns"\n');
    if (process.platform === 'linux') {
      const c = loadTemporalConnection({ HOME: home });
      expect([c.address, c.namespace]).toEqual(['from-home:7233', 'home-ns']);
    }
    expect(loadTemporalConnection({ HOME: join(dir, 'nobody') }).address).toBe('127.0.0.1:7233');
    expect(loadTemporalConnection({ TEMPORAL_CONFIG_FILE: devNull }).address).toBe('127.0.0.1:7233');
    const comments = join(dir, 'comments.toml');
    await writeFile(comments, '# nothing yet\n');
    expect(loadTemporalConnection({ TEMPORAL_CONFIG_FILE: comments }).tls).toBe('off');
    expect(problemsOf({ TEMPORAL_CONFIG_FILE: comments, TEMPORAL_PROFILE: 'x' })).toEqual([`TEMPORAL_PROFILE: no profile "x" in ${comments} (it has none)`]);
  });

  it('plainTemporalEnv leaves out every TLS, API key and profile setting (the local stack talks to its own dev server)', async () => {
    const file = join(dir, 'cloud.toml');
    await writeFile(file, toml(files));
    const env = plainTemporalEnv({ TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_API_KEY: API_KEY, TEMPORAL_TLS: 'true', TEMPORAL_TLS_CLIENT_CERT_PATH: files.cert, TEMPORAL_PROFILE: 'cloud', TEMPORAL_CONFIG_FILE: file, TEMPORAL_GRPC_META_X: 'y', AWS_REGION: 'eu-west-1' });
    expect(env).toEqual({ TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_CONFIG_FILE: devNull, AWS_REGION: 'eu-west-1' });
    expect(resolveTemporalConnection(env)).toEqual({ connection: expect.objectContaining({ tls: 'off', profile: undefined }), problems: [] });
  });
});
