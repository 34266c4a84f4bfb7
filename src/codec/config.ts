import type { OidcOptions } from './auth.js';

/** The codec server's settings: who may call it, from where, and for how long a browser stays signed in. */
export interface CodecServerConfig {
  /** The bearer token (`temporal --codec-auth`) and the sign-in secret of `/codec/login`. */
  readonly token: string;
  /** Web UI origins answered for CORS, and the only ones a session cookie counts from. */
  readonly corsOrigins: readonly string[];
  readonly sessionTtlMs: number;
  readonly oidc?: OidcOptions;
}

export const CODEC_SERVER_ENV_VARS = Object.freeze({
  CODEC_SERVER_TOKEN:
    'token of the codec server (POST /codec/encode, /codec/decode on the trigger server): the bearer the temporal CLI sends, and what an operator enters at /codec/login for a browser session; at least 16 characters, not the webhook token; unset: no codec server (404); needs payload encryption keys',
  CODEC_SERVER_CORS_ORIGINS:
    'comma-separated origins of the Temporal Web UI allowed to call the codec server from the browser, e.g. http://localhost:8233; a session cookie counts only from these; unset: no CORS (the temporal CLI needs none)',
  CODEC_SERVER_SESSION_HOURS: 'how long a browser signed in at /codec/login stays signed in, 1 to 168 hours (default 8)',
  CODEC_SERVER_OIDC_ISSUER:
    "accept operators' OIDC access tokens, as the Web UI forwards them with TEMPORAL_CODEC_PASS_ACCESS_TOKEN: the issuer (iss) they must carry, an https URL; its discovery document names the signing keys",
  CODEC_SERVER_OIDC_AUDIENCE: 'the audience (aud) those tokens must carry; required with CODEC_SERVER_OIDC_ISSUER',
  CODEC_SERVER_OIDC_JWKS_URL: "the issuer's signing keys (JWKS) when not found through its discovery document",
  CODEC_SERVER_OIDC_ALLOW: 'comma-separated claim=value, of which a token must match one, e.g. groups=temporal-operators (a string claim equal, or an array claim containing it); unset: any valid token',
});

const DEFAULT_SESSION_HOURS = 8;

/** https, or http on a loopback host (a local identity provider). */
function secureUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === 'https:' || (u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname));
  } catch {
    return false;
  }
}

/** Reads the codec server's settings; every problem is listed, no secret is echoed. */
export function resolveCodecServer(env: Readonly<Record<string, string | undefined>>, webhookToken: string | undefined): { codecServer: CodecServerConfig | undefined; problems: string[] } {
  const problems: string[] = [];
  const token = env['CODEC_SERVER_TOKEN']?.trim() || undefined;
  if (token !== undefined) {
    if (token.length < 16) problems.push('CODEC_SERVER_TOKEN must be at least 16 characters');
    // Who may send findings is not thereby allowed to read every history.
    if (token === webhookToken?.trim()) problems.push('CODEC_SERVER_TOKEN must differ from WEBHOOK_TOKEN');
    const keysSet = Boolean(env['PAYLOAD_ENCRYPTION_KEYS']?.trim() || env['PAYLOAD_ENCRYPTION_KEYS_FILE']?.trim());
    if (!keysSet) problems.push('CODEC_SERVER_TOKEN is set but no payload encryption key is (PAYLOAD_ENCRYPTION_KEYS or PAYLOAD_ENCRYPTION_KEYS_FILE): there is nothing to decode');
  }
  const corsOrigins = [...new Set((env['CODEC_SERVER_CORS_ORIGINS'] ?? '').split(',').map((o) => o.trim()).filter(Boolean))];
  for (const o of corsOrigins) {
    let origin: string | undefined;
    try {
      const u = new URL(o);
      if (u.protocol === 'http:' || u.protocol === 'https:') origin = u.origin;
    } catch {
      origin = undefined;
    }
    if (o === '*') problems.push('CODEC_SERVER_CORS_ORIGINS: "*" is refused; name the Temporal Web UI\'s origin, e.g. http://localhost:8233');
    else if (origin !== o) problems.push(`CODEC_SERVER_CORS_ORIGINS: "${o}" is not an origin like http://localhost:8233 (scheme, host and port; no path or trailing slash)`);
  }

  const hoursRaw = env['CODEC_SERVER_SESSION_HOURS']?.trim() || undefined;
  const hours = hoursRaw === undefined ? DEFAULT_SESSION_HOURS : Number(hoursRaw);
  if (!Number.isInteger(hours) || hours < 1 || hours > 168) problems.push(`CODEC_SERVER_SESSION_HOURS must be an integer from 1 to 168, got "${hoursRaw}"`);

  const issuer = env['CODEC_SERVER_OIDC_ISSUER']?.trim() || undefined;
  const audience = env['CODEC_SERVER_OIDC_AUDIENCE']?.trim() || undefined;
  const jwksUrl = env['CODEC_SERVER_OIDC_JWKS_URL']?.trim() || undefined;
  const allowRaw = env['CODEC_SERVER_OIDC_ALLOW']?.trim() || undefined;
  const allow: { claim: string; value: string }[] = [];
  for (const rule of (allowRaw ?? '').split(',').map((r) => r.trim()).filter(Boolean)) {
    const i = rule.indexOf('=');
    if (i <= 0 || i === rule.length - 1) problems.push(`CODEC_SERVER_OIDC_ALLOW: "${rule}" is not claim=value, e.g. groups=temporal-operators`);
    else allow.push({ claim: rule.slice(0, i).trim(), value: rule.slice(i + 1).trim() });
  }
  if (issuer !== undefined) {
    if (!secureUrl(issuer)) problems.push(`CODEC_SERVER_OIDC_ISSUER must be an https URL (http only on localhost), got "${issuer}"`);
    if (audience === undefined) problems.push('CODEC_SERVER_OIDC_AUDIENCE is required with CODEC_SERVER_OIDC_ISSUER: a token issued for another application must not open the codec server');
    if (jwksUrl !== undefined && !secureUrl(jwksUrl)) problems.push(`CODEC_SERVER_OIDC_JWKS_URL must be an https URL (http only on localhost), got "${jwksUrl}"`);
    if (token === undefined) problems.push('CODEC_SERVER_OIDC_ISSUER is set but CODEC_SERVER_TOKEN is not: there is no codec server');
  } else {
    for (const [name, v] of [['CODEC_SERVER_OIDC_AUDIENCE', audience], ['CODEC_SERVER_OIDC_JWKS_URL', jwksUrl], ['CODEC_SERVER_OIDC_ALLOW', allowRaw]] as const) {
      if (v !== undefined) problems.push(`${name} is set but CODEC_SERVER_OIDC_ISSUER is not`);
    }
  }
  if (corsOrigins.length > 0 && token === undefined) problems.push('CODEC_SERVER_CORS_ORIGINS is set but CODEC_SERVER_TOKEN is not: there is no codec server');

  const oidc: OidcOptions | undefined = issuer !== undefined && audience !== undefined ? { issuer, audience, ...(jwksUrl ? { jwksUrl } : {}), allow } : undefined;
  return {
    codecServer: token !== undefined ? { token, corsOrigins, sessionTtlMs: (Number.isInteger(hours) ? hours : DEFAULT_SESSION_HOURS) * 3_600_000, ...(oidc ? { oidc } : {}) } : undefined,
    problems,
  };
}
