import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through HTTP proxy in front of moto that counts the fixes reaching it, per resource:
 * `PutPublicAccessBlock` on a bucket (S3 REST) and `RevokeSecurityGroupIngress` on a group (EC2
 * query API). "Never applied twice" is then a number: every resource's count is exactly 1.
 */
export interface WriteCounter {
  readonly endpoint: string;
  /** Fixes that reached moto, per resource (bucket name or group id). */
  readonly fixes: Map<string, number>;
  close(): Promise<void>;
}

export async function startWriteCounter(target: string): Promise<WriteCounter> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const fixes = new Map<string, number>();
  const count = (resource: string) => fixes.set(resource, (fixes.get(resource) ?? 0) + 1);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://x');
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
        if ((upRes.statusCode ?? 500) < 300) {
          if (req.method === 'PUT' && url.searchParams.has('publicAccessBlock')) count(url.pathname.split('/')[1] ?? '');
          else if (req.method === 'POST' && body.length < 10_000) {
            const form = new URLSearchParams(body.toString('utf8'));
            if (form.get('Action') === 'RevokeSecurityGroupIngress') count(form.get('GroupId') ?? '');
          }
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      up.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    fixes,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
