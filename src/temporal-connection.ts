import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { devNull, platform } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { loadClientConfigFromToml, loadClientConfigProfile, toClientOptions, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';
import { InvalidInputError } from './errors.js';

/**
 * How the worker, the trigger server and the CLI reach Temporal: address, namespace, TLS / mTLS
 * and API key, from the same environment variables and TOML profile file as the `temporal` CLI
 * and every Temporal SDK (@temporalio/envconfig). Nothing set: a plain connection to
 * 127.0.0.1:7233, namespace default.
 *
 * Secrets (the API key, private keys, gRPC metadata values) stay inside `options()`: they are in no
 * description, log field or error message made here.
 */

export const TEMPORAL_DEFAULTS = Object.freeze({ address: '127.0.0.1:7233', namespace: 'default' });

/** The variables read here (besides TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE), with their meaning, for ENV_VARS. */
export const TEMPORAL_CONNECTION_ENV_VARS = Object.freeze({
  TEMPORAL_API_KEY: 'API key for Temporal Cloud (or any server that takes one); turns TLS on; never logged',
  TEMPORAL_TLS: 'true: connect with TLS (the system CAs unless a server CA is given); false: never, even when a profile says so',
  TEMPORAL_TLS_CLIENT_CERT_PATH: 'client certificate (PEM) for mTLS; needs the key too',
  TEMPORAL_TLS_CLIENT_CERT_DATA: 'the client certificate inline (PEM), instead of the path',
  TEMPORAL_TLS_CLIENT_KEY_PATH: 'private key (PEM) of the client certificate; never logged',
  TEMPORAL_TLS_CLIENT_KEY_DATA: 'the private key inline (PEM), instead of the path; never logged',
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: 'CA certificate (PEM) that signed the server\'s certificate; default: the system CAs',
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'the server CA inline (PEM), instead of the path',
  TEMPORAL_TLS_SERVER_NAME: 'name to expect in the server\'s certificate (and send as SNI) instead of the address\'s host',
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'not supported by the TypeScript SDK: true is refused; use TEMPORAL_TLS_SERVER_NAME',
  TEMPORAL_PROFILE: 'profile of the Temporal config file to use (default: default)',
  TEMPORAL_CONFIG_FILE: 'Temporal config file (TOML, as written by `temporal config`); default ~/.config/temporalio/temporal.toml',
  'TEMPORAL_GRPC_META_<NAME>': 'extra gRPC header <name> (lower case, _ as -) on every call; values never logged',
});

type Env = Readonly<Record<string, string | undefined>>;

/** What NativeConnection.connect (worker) and Connection.connect / Connection.lazy (clients) take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean | undefined;
  apiKey?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface TemporalConnection {
  readonly address: string;
  readonly namespace: string;
  /** How the connection is secured, for logs and errors: `off`, `TLS (system CAs)`, `mTLS (client cert /etc/x/client.pem)`, `api key (TLS, system CAs)`... No secret. */
  readonly tls: string;
  /** The profile the settings came from, `name (file)`; undefined when none was used. */
  readonly profile: string | undefined;
  /** Fresh options for NativeConnection.connect and Connection.connect / Connection.lazy. Holds the secrets: never log it. */
  options(): TemporalConnectionOptions;
}

/** Connecting failed; the message says where, how and (as far as can be told) why, without secrets. */
export class TemporalConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalConnectionError';
  }
}

const BOOL_VARS = ['TEMPORAL_TLS', 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'] as const;
const MATERIAL = [
  { field: 'clientCert', env: 'TEMPORAL_TLS_CLIENT_CERT', toml: 'client_cert', what: 'client certificate' },
  { field: 'clientKey', env: 'TEMPORAL_TLS_CLIENT_KEY', toml: 'client_key', what: 'client key' },
  { field: 'serverCACert', env: 'TEMPORAL_TLS_SERVER_CA_CERT', toml: 'server_ca_cert', what: 'server CA certificate' },
] as const;

/**
 * Resolves the connection from the environment (and the profile file it names, or the default one):
 * returns every problem found instead of throwing, so that loadConfig can list them with its own.
 */
export function resolveTemporalConnection(rawEnv: Env = process.env): { connection: TemporalConnection; problems: string[] } {
  const problems: string[] = [];
  // An empty variable is an unset one (compose's `${X:-}`); booleans are normalized for envconfig, which only knows "true" and "1".
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawEnv)) if (v !== undefined && v.trim() !== '') env[k] = v;
  for (const name of BOOL_VARS) {
    const v = env[name];
    if (v === undefined) continue;
    if (/^(true|1)$/i.test(v.trim())) env[name] = 'true';
    else if (/^(false|0)$/i.test(v.trim())) env[name] = 'false';
    else {
      problems.push(`${name} must be true or false, got "${v}"`);
      delete env[name];
    }
  }
  if (env['TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'] === 'true') {
    problems.push('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is not supported by the Temporal TypeScript SDK (the server\'s certificate is always checked); set TEMPORAL_TLS_SERVER_NAME to a name the certificate has');
  }
  for (const m of MATERIAL) {
    if (env[`${m.env}_PATH`] !== undefined && env[`${m.env}_DATA`] !== undefined) {
      problems.push(`set ${m.env}_PATH or ${m.env}_DATA, not both`);
      delete env[`${m.env}_DATA`];
    }
  }

  // The profile file: TEMPORAL_CONFIG_FILE, else the default location, which may well not exist.
  const explicitFile = env['TEMPORAL_CONFIG_FILE'];
  const file = explicitFile ?? defaultConfigFile(env);
  let text: string | undefined;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      if (explicitFile !== undefined) problems.push(`TEMPORAL_CONFIG_FILE: cannot read ${file} (${code})`);
      else if (code !== 'ENOENT') problems.push(`cannot read the Temporal config file ${file} (${code}); fix it or set TEMPORAL_CONFIG_FILE`);
    }
  }
  let profiles: Record<string, ClientConfigProfile> = {};
  let unusable = false;
  if (text !== undefined && text.trim() !== '') {
    try {
      profiles = loadClientConfigFromToml(Buffer.from(text), { strict: false }).profiles;
    } catch (err) {
      const e = err as Error & { line?: unknown; column?: unknown };
      // A TypeError: a valid TOML file without [profile.*] tables, which envconfig does not expect: no profiles.
      unusable = !(err instanceof TypeError);
      // Never the parser's message: it quotes the file, and the file may hold an API key.
      if (typeof e.line === 'number') problems.push(`the Temporal config file ${file} is not valid TOML (line ${e.line}, column ${String(e.column)})`);
      else if (/^Cannot specify both \w+ and \w+$/.test(e.message)) problems.push(`the Temporal config file ${file}: ${e.message}`);
      else if (unusable) problems.push(`the Temporal config file ${file} cannot be read as a Temporal config file`);
    }
  }
  const requested = env['TEMPORAL_PROFILE'];
  const profileName = requested ?? 'default';
  const fromFile = Object.hasOwn(profiles, profileName);
  if (requested !== undefined && !fromFile && !unusable) {
    const names = Object.keys(profiles);
    if (text !== undefined) problems.push(`TEMPORAL_PROFILE: no profile "${requested}" in ${file} (${names.length > 0 ? `it has ${names.map((n) => `"${n}"`).join(', ')}` : 'it has none'})`);
    else if (explicitFile === undefined) problems.push(`TEMPORAL_PROFILE is "${requested}" but there is no Temporal config file${file ? ` at ${file}` : ''}; set TEMPORAL_CONFIG_FILE`);
  }
  const profileLabel = `profile "${profileName}" of ${file}`;

  // Environment over profile, exactly as envconfig merges them for every SDK and the CLI.
  let profile: ClientConfigProfile = {};
  try {
    profile = loadClientConfigProfile(
      fromFile && text !== undefined
        ? { configSource: { data: text }, profile: profileName, overrideEnvVars: env }
        : { disableFile: true, overrideEnvVars: env },
    );
  } catch (err) {
    const message = (err as Error).message;
    problems.push(/^Cannot specify both \w+ and \w+$/.test(message) ? `${message} (between the ${profileLabel} and the TEMPORAL_TLS_* variables): use one` : `Temporal connection settings: ${message}`);
  }
  const from = (envName: string, tomlKey: string) => (env[envName] !== undefined ? envName : `${tomlKey} in the ${profileLabel}`);

  const address = (profile.address ?? TEMPORAL_DEFAULTS.address).trim();
  if (!/^[^\s:/]+:\d{1,5}$/.test(address)) problems.push(`${env['TEMPORAL_ADDRESS'] !== undefined ? 'TEMPORAL_ADDRESS' : `address in the ${profileLabel}`} must be host:port, got "${address}"`);
  const namespace = (profile.namespace ?? TEMPORAL_DEFAULTS.namespace).trim();

  const apiKeyLabel = from('TEMPORAL_API_KEY', 'api_key');
  const apiKey = profile.apiKey?.trim() || undefined;
  // Never echoed: the key is a secret.
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) problems.push(`${apiKeyLabel} must be one token of printable characters, without spaces or line breaks`);

  // TLS material: read and checked here, so a bad file is a listed problem and not an SDK error at connect time.
  const tls = profile.tls;
  const loaded: Partial<Record<(typeof MATERIAL)[number]['field'], { bytes: Buffer; label: string; shown: string }>> = {};
  for (const m of MATERIAL) {
    const source: ConfigDataSource | undefined = tls?.[m.field];
    if (source === undefined) continue;
    if ('path' in source) {
      const label = from(`${m.env}_PATH`, `tls.${m.toml}_path`);
      try {
        loaded[m.field] = { bytes: readFileSync(source.path), label, shown: source.path };
      } catch (err) {
        problems.push(`${label}: cannot read the ${m.what} ${source.path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      }
    } else {
      const label = from(`${m.env}_DATA`, `tls.${m.toml}_data`);
      loaded[m.field] = { bytes: Buffer.from(source.data), label, shown: `from ${label}` };
    }
  }
  const { clientCert, clientKey, serverCACert } = loaded;
  const certificate = (x: { bytes: Buffer; label: string } | undefined, what: string): X509Certificate | undefined => {
    if (x === undefined) return undefined;
    try {
      const cert = new X509Certificate(x.bytes);
      if (Date.parse(cert.validTo) < Date.now()) problems.push(`${x.label}: the ${what} expired on ${new Date(cert.validTo).toISOString()}`);
      return cert;
    } catch {
      problems.push(`${x.label}: not a PEM ${what} (-----BEGIN CERTIFICATE-----)`);
      return undefined;
    }
  };
  const cert = certificate(clientCert, 'client certificate');
  certificate(serverCACert, 'server CA certificate');
  let key: KeyObject | undefined;
  if (clientKey !== undefined) {
    try {
      key = createPrivateKey(clientKey.bytes);
    } catch {
      // Never the key or the crypto library's words about it.
      problems.push(`${clientKey.label}: not a usable PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1)`);
    }
  }
  const certSet = tls?.clientCert !== undefined;
  const keySet = tls?.clientKey !== undefined;
  if (certSet && !keySet) problems.push(`${from('TEMPORAL_TLS_CLIENT_CERT_PATH', 'tls.client_cert_path')} gives a client certificate but no key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA) too`);
  if (keySet && !certSet) problems.push(`${from('TEMPORAL_TLS_CLIENT_KEY_PATH', 'tls.client_key_path')} gives a client key but no certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) too`);
  if (cert !== undefined && key !== undefined && !cert.checkPrivateKey(key)) problems.push(`the client certificate (${clientCert!.label}) and the client key (${clientKey!.label}) do not belong together`);

  const tlsOff = tls?.disabled === true;
  const tlsOffLabel = env['TEMPORAL_TLS'] === 'false' ? 'TEMPORAL_TLS=false' : `tls.disabled in the ${profileLabel}`;
  if (tlsOff && apiKey !== undefined) problems.push(`${apiKeyLabel} is set but TLS is off (${tlsOffLabel}): an API key is never sent unencrypted`);
  if (tlsOff && (certSet || keySet)) problems.push(`a client certificate is set but TLS is off (${tlsOffLabel})`);

  // The SDK's own mapping (TLS on with a tls section or an API key), with the material read above.
  const data = (x: { bytes: Buffer } | undefined): ConfigDataSource | undefined => (x ? { data: new Uint8Array(x.bytes) } : undefined);
  const { connectionOptions } = toClientOptions({
    ...profile,
    address,
    namespace,
    apiKey,
    ...(tls ? { tls: { ...tls, clientCert: data(clientCert), clientKey: data(clientKey), serverCACert: data(serverCACert) } } : {}),
  });
  const tlsOption = connectionOptions.tls ?? undefined;
  const metadata = profile.grpcMeta && Object.keys(profile.grpcMeta).length > 0 ? { ...profile.grpcMeta } : undefined;

  const details = [
    serverCACert ? `server CA ${serverCACert.shown}` : 'system CAs',
    ...(tls?.serverName ? [`server name ${tls.serverName}`] : []),
  ].join(', ');
  const description = !tlsOption
    ? 'off'
    : clientCert && clientKey
      ? `mTLS (client cert ${clientCert.shown}, ${details})${apiKey ? ' and api key' : ''}`
      : apiKey
        ? `api key (TLS, ${details})`
        : `TLS (${details})`;

  const connection: TemporalConnection = {
    address,
    namespace,
    tls: description,
    profile: fromFile ? `${profileName} (${file})` : undefined,
    options: () => ({
      address,
      ...(tlsOption === undefined ? {} : { tls: typeof tlsOption === 'object' ? { ...tlsOption } : tlsOption }),
      ...(apiKey ? { apiKey } : {}),
      ...(metadata ? { metadata: { ...metadata } } : {}),
    }),
  };
  return { connection, problems };
}

/** The connection settings, or an InvalidInputError listing every problem. */
export function loadTemporalConnection(env: Env = process.env): TemporalConnection {
  const { connection, problems } = resolveTemporalConnection(env);
  if (problems.length > 0) throw new InvalidInputError('invalid Temporal connection settings', problems);
  return connection;
}

/** Where envconfig (and the `temporal` CLI) look when TEMPORAL_CONFIG_FILE is unset. */
function defaultConfigFile(env: Env): string | undefined {
  let dir: string | undefined;
  if (platform() === 'win32') dir = env['APPDATA'];
  else if (platform() === 'darwin') dir = env['HOME'] ? join(env['HOME'], 'Library', 'Application Support') : undefined;
  else {
    const xdg = env['XDG_CONFIG_HOME'];
    dir = xdg ? (xdg.startsWith('/') ? xdg : undefined) : env['HOME'] ? join(env['HOME'], '.config') : undefined;
  }
  return dir === undefined ? undefined : join(dir, 'temporalio', 'temporal.toml');
}

/**
 * The environment for a process that must talk plainly to the embedded dev server (`npm start`,
 * the demo's CLI calls): every TLS, API key and profile setting removed, and no profile file read.
 */
export function plainTemporalEnv(env: Env = process.env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^TEMPORAL_(API_KEY|TLS|TLS_\w+|PROFILE|CONFIG_FILE|GRPC_META_\w+|CODEC_\w+)$/.test(k)) continue;
    out[k] = v;
  }
  // An empty file (the null device) has no profile: neither this product nor the temporal CLI reads ~/.config/temporalio/temporal.toml.
  out['TEMPORAL_CONFIG_FILE'] = devNull;
  return out;
}

/**
 * Why connecting failed, as well as can be told without secrets: a TLS handshake made the same way
 * (same CA, client certificate, server name) names what the gRPC error often does not, e.g. the
 * server asking for a client certificate, or a server certificate from an unknown CA.
 */
export async function explainConnectFailure(connection: TemporalConnection, err: unknown, timeoutMs = 3000): Promise<TemporalConnectionError> {
  const where = `cannot connect to Temporal at ${connection.address} (namespace ${connection.namespace}, tls: ${connection.tls}${connection.profile ? `, profile ${connection.profile}` : ''})`;
  // The client's ServiceError keeps the gRPC status (UNAUTHENTICATED, PERMISSION_DENIED...) in its cause.
  const cause = (err as { cause?: unknown })?.cause;
  const sdkMessage = scrub(connection, [(err as Error)?.message ?? String(err), ...(cause instanceof Error ? [cause.message] : [])].join(': '));
  const reason = await probeTls(connection, timeoutMs).catch(() => undefined);
  return new TemporalConnectionError(`${where}: ${reason ?? sdkMessage}`);
}

/** Removes any secret of the connection that an SDK error might quote. */
function scrub(connection: TemporalConnection, message: string): string {
  const o = connection.options();
  const secrets = [o.apiKey, ...Object.values(o.metadata ?? {})].filter((s): s is string => typeof s === 'string' && s.length >= 4);
  let out = message;
  for (const s of secrets) out = out.split(s).join('[redacted]');
  return out;
}

/** OpenSSL's "805C...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/...": the reason only. */
function opensslReason(message: string): string {
  const m = /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):/.exec(message);
  return (m ? m[1]! : message).trim();
}

async function probeTls(connection: TemporalConnection, timeoutMs: number): Promise<string | undefined> {
  const o = connection.options();
  const i = connection.address.lastIndexOf(':');
  const host = connection.address.slice(0, i);
  const port = Number(connection.address.slice(i + 1));
  const tlsConfig = typeof o.tls === 'object' ? o.tls : o.tls ? {} : undefined;
  const attempt = (opts: { tls: boolean }) =>
    new Promise<{ ok: true } | { ok: false; message: string; code: string | undefined; secured: boolean }>((resolve) => {
      const servername = tlsConfig?.serverNameOverride ?? (isIP(host) ? undefined : host);
      const socket = tlsConnect({
        host,
        port,
        ALPNProtocols: ['h2'],
        ...(servername ? { servername } : {}),
        ...(opts.tls && tlsConfig?.serverRootCACertificate ? { ca: Buffer.from(tlsConfig.serverRootCACertificate) } : {}),
        ...(opts.tls && tlsConfig?.clientCertPair ? { cert: Buffer.from(tlsConfig.clientCertPair.crt), key: Buffer.from(tlsConfig.clientCertPair.key) } : {}),
        // The plain probe only asks "does it speak TLS at all?".
        rejectUnauthorized: opts.tls,
      });
      let secured = false;
      const done = (r: { ok: true } | { ok: false; message: string; code: string | undefined; secured: boolean }) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done(secured ? { ok: true } : { ok: false, message: `no TLS handshake within ${timeoutMs} ms`, code: 'ETIMEDOUT', secured }), timeoutMs);
      socket.on('secureConnect', () => {
        secured = true;
        if (!opts.tls) return done({ ok: true });
        // TLS 1.3: the server judges the client certificate after the handshake; its refusal arrives as an alert.
        clearTimeout(timer);
        setTimeout(() => done({ ok: true }), Math.min(1000, timeoutMs)).unref();
      });
      socket.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, message: opensslReason(e.message), code: e.code, secured }));
      socket.on('close', () => done(secured ? { ok: false, message: 'the server closed the connection after the TLS handshake', code: undefined, secured } : { ok: false, message: 'the server closed the connection during the TLS handshake', code: undefined, secured }));
      socket.resume();
    });

  if (!tlsConfig) {
    const r = await attempt({ tls: false });
    if (r.ok) return `the server speaks TLS but TLS is off here: set TEMPORAL_TLS=true, or the client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH) or TEMPORAL_API_KEY it expects`;
    if (r.code === 'ECONNREFUSED') return `nothing listens there (connection refused); is Temporal up? check TEMPORAL_ADDRESS`;
    return undefined;
  }
  const r = await attempt({ tls: true });
  if (r.ok) return undefined;
  const m = r.message;
  const hint =
    r.code === 'ECONNREFUSED' ? 'nothing listens there (connection refused); is Temporal up? check TEMPORAL_ADDRESS'
    : /certificate required/i.test(m) ? 'the server requires a client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH'
    : /alert (unknown ca|bad certificate|certificate unknown|unsupported certificate|access denied)/i.test(m) || (r.secured && /closed|reset|hang up/i.test(m)) ? 'the server refused the client certificate (is it signed by a CA the server trusts, and for client authentication?)'
    : /self[- ]signed|unable to (get|verify)|unknown issuer|UNABLE_TO/i.test(m) || /SELF_SIGNED|UNABLE_TO/.test(r.code ?? '') ? `the server's certificate is not signed by a CA trusted here: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to its CA`
    : /does not match|altnames|ERR_TLS_CERT_ALTNAME/i.test(`${m} ${r.code ?? ''}`) ? `the server's certificate is not for ${tlsConfig.serverNameOverride ?? host}: set TEMPORAL_TLS_SERVER_NAME to a name it has`
    : /wrong version number|packet length|unknown protocol/i.test(m) ? 'the server does not speak TLS: unset the TLS settings (or TEMPORAL_TLS=false) for a plain server'
    : /expired/i.test(m) ? 'a certificate has expired'
    : undefined;
  return hint ? `${hint} (TLS: ${m})` : `TLS handshake failed: ${m}`;
}
