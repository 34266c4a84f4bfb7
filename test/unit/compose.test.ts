import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { DEFAULTS, ENV_VARS } from '../../src/config.js';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes.js';

/**
 * Keeps docker-compose.yml, the Dockerfile and the code in agreement: ports and env variables
 * with src/config.ts, registered search attributes with src/workflows/search-attributes.ts,
 * commands with package.json. Pure file checks; no Docker needed.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_PATH = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE_PATH = path.join(ROOT, 'Dockerfile');

type EnvValue = string | number | boolean | null;
interface PortObject {
  target: number | string;
  published?: number | string;
  host_ip?: string;
}
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, EnvValue> | string[];
  ports?: (string | number | PortObject)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
}
interface ComposeFile {
  services: Record<string, Service>;
}

const WORKER = 'worker';
const TRIGGERS = 'triggers';
const TEMPORAL = 'temporal';
const UI = 'temporal-ui';
const SETUP = 'temporal-setup';
const REQUIRED_SERVICES = ['postgresql', 'temporal-schema', TEMPORAL, SETUP, UI, WORKER, TRIGGERS];

/** Variables the AWS SDK itself reads; the app services may pass these through besides ENV_VARS. */
const STANDARD_AWS_VARS = new Set([
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ENDPOINT_URL',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
]);

function loadCompose(): { compose: ComposeFile; errors: string[] } {
  const doc = parseDocument(readFileSync(COMPOSE_PATH, 'utf8'), { merge: true, prettyErrors: true });
  const errors = [...doc.errors, ...doc.warnings].map((e) => e.message);
  return { compose: doc.toJS({ maxAliasCount: 100 }) as ComposeFile, errors };
}

const { compose, errors: yamlProblems } = loadCompose();
const services = compose?.services ?? {};

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

function env(s: Service): Record<string, EnvValue> {
  const e = s.environment;
  if (e === undefined) return {};
  if (!Array.isArray(e)) return e;
  return Object.fromEntries(
    e.map((entry) => {
      const i = entry.indexOf('=');
      return i < 0 ? [entry, null] : [entry.slice(0, i), entry.slice(i + 1)];
    }),
  );
}

/** The value a compose variable reference falls back to: `${X:-d}` gives d, a literal gives itself. */
function effectiveDefault(value: EnvValue | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = String(value);
  const m = /^\$\{\w+:?-([^}]*)\}$/.exec(s);
  if (m) return m[1];
  return s.includes('${') ? undefined : s;
}

interface Published {
  hostIp: string | undefined;
  host: number | undefined;
  container: number;
}

function ports(s: Service): Published[] {
  return (s.ports ?? []).map((p): Published => {
    if (typeof p === 'object') {
      return {
        hostIp: p.host_ip,
        host: p.published === undefined ? undefined : Number(p.published),
        container: Number(p.target),
      };
    }
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    const container = Number(parts.pop());
    const host = parts.length > 0 ? Number(parts.pop()) : undefined;
    const hostIp = parts.length > 0 ? parts.join(':') : undefined;
    return { hostIp, host, container };
  });
}

function dependsOn(s: Service): Record<string, string | undefined> {
  const d = s.depends_on;
  if (d === undefined) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v?.condition]));
}

/** Entrypoint and command as the container's shell sees them (compose turns `$$` into `$`). */
function script(s: Service): string {
  const parts = [s.entrypoint ?? [], s.command ?? []].flat();
  return parts.join(' ').replace(/\$\$/g, '$');
}

/** Parses `host:port`, failing the test on anything else. */
function hostPort(address: EnvValue | undefined): { host: string; port: number } {
  const m = /^([^\s:/]+):(\d{1,5})$/.exec(String(address));
  expect(m, `"${String(address)}" is host:port`).not.toBeNull();
  return { host: m![1]!, port: Number(m![2]) };
}

describe('docker-compose.yml', () => {
  it('parses as YAML without errors or warnings', () => {
    expect(yamlProblems).toEqual([]);
    expect(compose).toBeTypeOf('object');
    expect(services).toBeTypeOf('object');
  });

  it('defines the services the stack needs', () => {
    for (const name of REQUIRED_SERVICES) expect(Object.keys(services)).toContain(name);
  });

  it('builds worker and triggers from the repository Dockerfile, and every build points at an existing Dockerfile', () => {
    const built = Object.entries(services).filter(([, s]) => s.build !== undefined);
    expect(built.map(([name]) => name).sort()).toEqual(expect.arrayContaining([TRIGGERS, WORKER]));
    for (const [name, s] of built) {
      const b = typeof s.build === 'string' ? { context: s.build } : s.build!;
      const context = path.resolve(ROOT, b.context ?? '.');
      const dockerfile = path.resolve(context, b.dockerfile ?? 'Dockerfile');
      expect(existsSync(dockerfile), `${name}: ${dockerfile} exists`).toBe(true);
      if (name === WORKER || name === TRIGGERS) expect(dockerfile).toBe(DOCKERFILE_PATH);
    }
  });

  it('pins every image to an explicit tag other than latest', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image === undefined) {
        expect(s.build, `${name} has an image or a build`).toBeDefined();
        continue;
      }
      expect(s.image, `${name}: ${s.image}`).toMatch(/^[a-z0-9][\w./-]*:[\w][\w.-]*(@sha256:[0-9a-f]{64})?$/);
      const tag = s.image.split('@')[0]!.split(':').pop();
      expect(tag, `${name}: ${s.image}`).not.toBe('latest');
    }
  });

  it('runs the Temporal server and its admin tools at the same version', () => {
    const tag = (image: string | undefined) => image?.split(':').pop();
    const server = tag(service(TEMPORAL).image);
    expect(server).toMatch(/^\d+\.\d+\.\d+$/);
    for (const [name, s] of Object.entries(services)) {
      if (s.image?.startsWith('temporalio/admin-tools:')) expect(tag(s.image), name).toBe(server);
    }
  });

  it('publishes the ports src/config.ts defaults to', () => {
    const defaultTemporalPort = Number(DEFAULTS.temporalAddress.split(':').pop());
    expect(defaultTemporalPort).toBe(7233);
    expect(ports(service(TEMPORAL))).toContainEqual(
      expect.objectContaining({ host: defaultTemporalPort, container: 7233 }),
    );
    expect(ports(service(TRIGGERS))).toContainEqual(
      expect.objectContaining({ host: DEFAULTS.httpPort, container: DEFAULTS.httpPort }),
    );
    expect(ports(service(UI)).map((p) => p.host)).toContain(DEFAULTS.temporalUiPort);
  });

  it('makes the trigger server listen on its published container port, on all container interfaces', () => {
    const e = env(service(TRIGGERS));
    expect(e['HOST']).toBe('0.0.0.0');
    const port = Number(e['PORT']);
    expect(Number.isInteger(port)).toBe(true);
    expect(ports(service(TRIGGERS)).map((p) => p.container)).toContain(port);
  });

  it('points every TEMPORAL_ADDRESS at the temporal service frontend', () => {
    const temporalContainerPorts = ports(service(TEMPORAL)).map((p) => p.container);
    for (const name of [WORKER, TRIGGERS, UI, SETUP]) {
      const { host, port } = hostPort(env(service(name))['TEMPORAL_ADDRESS']);
      expect(host, name).toBe(TEMPORAL);
      expect(temporalContainerPorts, name).toContain(port);
    }
  });

  it('gives worker, triggers and the setup job the same namespace, defaulting to the config default', () => {
    const namespaces = [WORKER, TRIGGERS, SETUP].map((name) => env(service(name))['TEMPORAL_NAMESPACE']);
    expect(new Set(namespaces).size).toBe(1);
    expect(effectiveDefault(namespaces[0])).toBe(DEFAULTS.temporalNamespace);
    const queues = [WORKER, TRIGGERS].map((name) => env(service(name))['TEMPORAL_TASK_QUEUE']);
    expect(new Set(queues).size).toBe(1);
    expect(effectiveDefault(queues[0])).toBe(DEFAULTS.taskQueue);
  });

  it('registers every custom search attribute with its type in the setup job, and no others', () => {
    const cmd = script(service(SETUP));
    expect(cmd).toMatch(/temporal operator search-attribute create\b/);
    expect(cmd).toMatch(/--namespace\b/);
    const names = ALL_SEARCH_ATTRIBUTES.map((a) => a.name);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(cmd).toMatch(new RegExp(`(^|[\\s"'])${name}($|[\\s"';:])`));
    const loop = /for (\w+) in ([^;\n]+);\s*do/.exec(cmd);
    expect(loop, 'the setup job loops over the attribute names').not.toBeNull();
    const typeName = (t: string) => t.charAt(0) + t.slice(1).toLowerCase();
    expect(loop![2]!.trim().split(/\s+/).sort()).toEqual(ALL_SEARCH_ATTRIBUTES.map((a) => `${a.name}:${typeName(a.type)}`).sort());
    const body = cmd.slice(loop!.index + loop![0].length);
    expect(body, 'the loop body passes each name and its type').toContain(`register "\${${loop![1]}%%:*}" "\${${loop![1]}##*:}"`);
    expect(cmd).toMatch(/--name "?\$\$?1"? --type "?\$\$?2"?/);
    // an attribute that exists with another type must fail the job, not be ignored
    expect(cmd).toMatch(/already exists/);
    expect(cmd).toMatch(/different type/);
  });

  it('creates the namespace in the setup job when it is missing', () => {
    const cmd = script(service(SETUP));
    expect(cmd).toMatch(/temporal operator namespace describe\b/);
    expect(cmd).toMatch(/temporal operator namespace create\b/);
  });

  it('sets only variables src/config.ts documents or the AWS SDK reads on worker and triggers', () => {
    for (const name of [WORKER, TRIGGERS]) {
      for (const key of Object.keys(env(service(name)))) {
        expect(
          Object.hasOwn(ENV_VARS, key) || STANDARD_AWS_VARS.has(key),
          `${name}: ${key} is in ENV_VARS or a standard AWS variable`,
        ).toBe(true);
      }
    }
    for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION']) {
      expect(Object.keys(env(service(WORKER))), `worker sets ${key}`).toContain(key);
    }
  });

  it('requires WEBHOOK_TOKEN from the environment instead of hard-coding it', () => {
    expect(env(service(TRIGGERS))['WEBHOOK_TOKEN']).toMatch(/^\$\{WEBHOOK_TOKEN:\?[^}]*\}$/);
    expect(Object.keys(env(service(WORKER)))).not.toContain('WEBHOOK_TOKEN');
  });

  it('passes AWS credentials through from the host rather than embedding them', () => {
    for (const name of [WORKER, TRIGGERS]) {
      const e = env(service(name));
      for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
        if (key in e) expect(e[key], `${name}: ${key}`).toBeNull();
      }
    }
  });

  it('only depends on services that exist, with conditions those services can satisfy', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [target, condition] of Object.entries(dependsOn(s))) {
        expect(Object.keys(services), `${name} depends on ${target}`).toContain(target);
        const t = services[target]!;
        if (condition === 'service_healthy') {
          expect(t.healthcheck?.test, `${target} has a healthcheck (${name} waits for it)`).toBeDefined();
          expect(t.healthcheck?.disable).not.toBe(true);
        } else if (condition === 'service_completed_successfully') {
          expect(['always', 'unless-stopped'], `${target} is one-shot (${name} waits for it to exit)`).not.toContain(
            t.restart,
          );
        } else {
          expect(condition === undefined || condition === 'service_started', `${name}: ${condition}`).toBe(true);
        }
      }
    }
  });

  it('starts the app services only after Temporal is set up', () => {
    for (const name of [WORKER, TRIGGERS]) {
      expect(dependsOn(service(name))[SETUP], name).toBe('service_completed_successfully');
    }
  });

  it('runs the same entrypoints as the package.json scripts', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const name of [WORKER, TRIGGERS]) {
      const entry = /^tsx (\S+\.ts)$/.exec(pkg.scripts[name] ?? '');
      expect(entry, `package.json script "${name}" is "tsx <file>"`).not.toBeNull();
      const cmd = service(name).command;
      expect(Array.isArray(cmd) ? cmd : [cmd]).toContain(entry![1]);
    }
  });

  it('health-checks the trigger server on /healthz', () => {
    const test = service(TRIGGERS).healthcheck?.test;
    expect([test ?? []].flat().join(' ')).toContain('/healthz');
  });
});

describe('Dockerfile', () => {
  const instructions = readFileSync(DOCKERFILE_PATH, 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });

  const stages = instructions
    .filter((i) => i.op === 'FROM')
    .map((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const alias = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined;
      return { image: words[0]!, alias };
    });

  it('builds on a glibc Node.js LTS image (22 or 24) in every stage', () => {
    expect(stages.length).toBeGreaterThan(0);
    const aliases = new Set<string>();
    for (const { image, alias } of stages) {
      if (!aliases.has(image)) {
        expect(image).toMatch(/^(docker\.io\/(library\/)?)?node:(22|24)(\.\d+){0,2}-(bookworm|bullseye|trixie)(-slim)?(@sha256:[0-9a-f]{64})?$/);
        expect(image).not.toMatch(/alpine|musl/);
      }
      if (alias) aliases.add(alias);
    }
  });

  it('ships the Node.js version CI tests on', () => {
    const pinned = /NODE_LTS_VERSION = '([\d.]+)'/.exec(readFileSync(path.join(ROOT, 'scripts', 'node-lts.mjs'), 'utf8'))?.[1];
    expect(pinned).toMatch(/^(22|24)\./);
    for (const { image } of stages.filter((s) => s.image.startsWith('node:'))) expect(image).toBe(`node:${pinned}-bookworm-slim`);
  });

  it('runs the final stage as a non-root user', () => {
    const lastFrom = instructions.map((i) => i.op).lastIndexOf('FROM');
    const users = instructions.slice(lastFrom).filter((i) => i.op === 'USER');
    expect(users.length, 'a USER line in the final stage').toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!.trim();
    expect(['root', '0', '']).not.toContain(user);
  });

  it('installs exactly the lockfile with npm ci', () => {
    expect(instructions.some((i) => i.op === 'COPY' && i.args.includes('package-lock.json'))).toBe(true);
    expect(instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(instructions.some((i) => i.op === 'RUN' && /\bnpm (install|i)\b/.test(i.args))).toBe(false);
  });

  it('bakes in no secrets', () => {
    for (const i of instructions.filter((i) => i.op === 'ENV' || i.op === 'ARG')) {
      expect(i.args).not.toMatch(/WEBHOOK_TOKEN|AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)|PASSWORD|SECRET/i);
    }
  });

  it('is paired with a .dockerignore that keeps local state and secrets out of the build context', () => {
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim());
    for (const entry of ['node_modules', '.git', '.rectify', '.env']) expect(ignore).toContain(entry);
  });
});
