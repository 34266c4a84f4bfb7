import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of moto that injects real AWS-shaped failures, so the AWS SDK parses
 * genuine error responses (no in-process SDK mocks). Each fault matches requests by a predicate
 * and fires `times` times; `afterForward` faults let the request reach moto first and then lose
 * the response, as a dropped connection or a worker crash would.
 */
export interface Fault {
  readonly match: (req: { method: string; url: string; headers: IncomingMessage['headers']; body: string }) => boolean;
  readonly status: number;
  readonly code: string;
  readonly message?: string;
  /** Query-style (EC2) or REST-XML (S3) error body. */
  readonly protocol: 's3' | 'ec2';
  times: number;
  readonly afterForward?: boolean;
}

/** A request held back `ms` before it is forwarded (a slow service), `times` times. */
export interface Delay {
  readonly match: Fault['match'];
  readonly ms: number;
  times: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly faults: Fault[];
  readonly delays: Delay[];
  /** Requests being held back by a delay right now. */
  readonly held: () => number;
  /** Requests that reached moto, as "METHOD url". */
  readonly forwarded: string[];
  close(): Promise<void>;
}

function errorBody(f: Fault): string {
  const msg = f.message ?? f.code;
  if (f.protocol === 's3') return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${f.code}</Code><Message>${msg}</Message><RequestId>FAULT0001</RequestId><HostId>fault</HostId></Error>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${f.code}</Code><Message>${msg}</Message></Error></Errors><RequestID>fault-0001</RequestID></Response>`;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const faults: Fault[] = [];
  const delays: Delay[] = [];
  let held = 0;
  const forwarded: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const info = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: body.toString('utf8') };
      const fault = faults.find((f) => f.times > 0 && f.match(info));
      if (fault) fault.times--;
      const fail = () => {
        res.writeHead(fault!.status, { 'content-type': 'application/xml' });
        res.end(errorBody(fault!));
      };
      if (fault && !fault.afterForward) return fail();
      const forward = () => {
        forwarded.push(`${info.method} ${info.url}`);
        const up = request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (upRes) => {
            const parts: Buffer[] = [];
            upRes.on('data', (c: Buffer) => parts.push(c));
            upRes.on('end', () => {
              if (fault) return fail();
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              res.end(Buffer.concat(parts));
            });
          },
        );
        up.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        up.end(body);
      };
      const delay = fault ? undefined : delays.find((d) => d.times > 0 && d.match(info));
      if (!delay) return forward();
      delay.times--;
      held++;
      setTimeout(() => {
        held--;
        forward();
      }, delay.ms);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    faults,
    delays,
    held: () => held,
    forwarded,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** S3 REST calls are told apart by method and subresource: `?publicAccessBlock` on a bucket path. */
export const s3Call = (method: string, bucket: string, subresource: string) => (r: { method: string; url: string }) =>
  r.method === method && r.url.startsWith(`/${bucket}`) && new URL(r.url, 'http://x').searchParams.has(subresource);
