import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Security Hub's BatchUpdateFindings, because moto 5.2.5 does not
 * implement it (its securityhub backend has BatchImportFindings and GetFindings only). Tests
 * drive the real `SecurityHubClient` (pointed here with `endpoint`) over genuine HTTP, so the
 * SDK serializes the request and parses the answer and the errors itself.
 *
 * On the wire, as the AWS API reference and the SDK's restJson1 serializer define it:
 * `PATCH /findings/batchupdate`, JSON body `{FindingIdentifiers:[{Id,ProductArn}], Note:{Text,UpdatedBy}, Workflow:{Status}, ...}`,
 * answer 200 `{ProcessedFindings:[{Id,ProductArn}], UnprocessedFindings:[{FindingIdentifier,ErrorCode,ErrorMessage}]}`.
 * Errors carry `x-amzn-ErrorType` and a `{Message, Code}` body (`{message}` for the
 * front-end's TooManyRequestsException).
 *
 * Findings are kept by (Id, ProductArn); an unknown pair comes back in UnprocessedFindings with
 * ErrorCode `FindingNotFound`. Every request is recorded, including refused ones.
 */
export interface StoredFinding {
  readonly Id: string;
  readonly ProductArn: string;
  Workflow: { Status: string };
  Note?: { Text: string; UpdatedBy: string; UpdatedAt: string };
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  /** True when the request carried a SigV4 Authorization header. */
  readonly signed: boolean;
  /** The access key id the request was signed with (SigV4 `Credential=<key>/...`). */
  readonly accessKeyId: string | undefined;
  /** The JSON body as parsed (undefined when it was not JSON). */
  readonly body: unknown;
  /** HTTP status answered. */
  readonly status: number;
  /** Error type answered, when the request failed. */
  readonly error?: string;
}

export type InjectedError = 'AccessDeniedException' | 'TooManyRequestsException' | 'LimitExceededException' | 'InvalidAccessException' | 'InternalException';

export interface SecurityHubStandIn {
  /** Base URL for `new SecurityHubClient({ endpoint })`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Adds a finding (workflow status NEW) that BatchUpdateFindings can then update. */
  addFinding(id: string, productArn: string): void;
  finding(id: string, productArn: string): StoredFinding | undefined;
  /** The next `times` requests fail with `error` (403, 429, 429, 401 or 500 as the service answers). */
  failNext(error: InjectedError, times?: number, message?: string): void;
  close(): Promise<void>;
}

const ERROR_STATUS: Readonly<Record<InjectedError | 'InvalidInputException', number>> = {
  AccessDeniedException: 403,
  TooManyRequestsException: 429,
  LimitExceededException: 429,
  InvalidAccessException: 401,
  InternalException: 500,
  InvalidInputException: 400,
};

const WORKFLOW_STATUSES = new Set(['NEW', 'NOTIFIED', 'RESOLVED', 'SUPPRESSED']);
const NOTE_MAX = 512;
const MAX_IDENTIFIERS = 100;

const key = (id: string, productArn: string) => `${id}\u0000${productArn}`;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonBlank = (v: unknown): v is string => typeof v === 'string' && /\S/.test(v);
/** Length as the service counts it: Unicode code points. */
const chars = (s: string) => [...s].length;

/** Problems with a BatchUpdateFindings body, as the service's input validation would report them. */
function validate(body: unknown): string[] {
  if (!isObj(body)) return ['request body must be a JSON object'];
  const problems: string[] = [];
  const ids = body.FindingIdentifiers;
  if (!Array.isArray(ids) || ids.length === 0) problems.push('FindingIdentifiers is required and must not be empty');
  else if (ids.length > MAX_IDENTIFIERS) problems.push(`FindingIdentifiers allows at most ${MAX_IDENTIFIERS} items`);
  else if (!ids.every((i) => isObj(i) && nonBlank(i.Id) && nonBlank(i.ProductArn))) problems.push('each FindingIdentifier needs Id and ProductArn');
  if (body.Note !== undefined) {
    const n = body.Note;
    if (!isObj(n) || !nonBlank(n.Text) || !nonBlank(n.UpdatedBy)) problems.push('Note needs a non-blank Text and UpdatedBy');
    else {
      if (chars(n.Text) > NOTE_MAX) problems.push(`Note.Text is longer than ${NOTE_MAX} characters`);
      if (chars(n.UpdatedBy) > NOTE_MAX) problems.push(`Note.UpdatedBy is longer than ${NOTE_MAX} characters`);
    }
  }
  if (body.Workflow !== undefined) {
    const w = body.Workflow;
    if (!isObj(w) || (w.Status !== undefined && (typeof w.Status !== 'string' || !WORKFLOW_STATUSES.has(w.Status)))) problems.push('Workflow.Status must be NEW, NOTIFIED, RESOLVED or SUPPRESSED');
  }
  return problems;
}

export async function startSecurityHubStandIn(): Promise<SecurityHubStandIn> {
  const findings = new Map<string, StoredFinding>();
  const requests: RecordedRequest[] = [];
  const failures: { error: InjectedError; message: string | undefined }[] = [];
  let requestSeq = 0;

  function send(res: ServerResponse, status: number, payload: unknown, extra: Record<string, string> = {}) {
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': `standin-${++requestSeq}`,
      ...extra,
    });
    res.end(text);
  }

  function sendError(res: ServerResponse, error: InjectedError | 'InvalidInputException', message: string) {
    const status = ERROR_STATUS[error];
    // The front end's throttle answers with a lower-case `message`; the service's modeled errors with Message and Code.
    const body = error === 'TooManyRequestsException' ? { message } : { Message: message, Code: error };
    // Real responses often qualify the type with a namespace after a colon; the SDK strips it.
    const type = error === 'AccessDeniedException' ? `${error}:http://internal.amazon.com/coral/com.amazon.coral.service/` : error;
    send(res, status, body, { 'x-amzn-errortype': type });
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let body: unknown;
    try {
      body = raw.length ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const record = (status: number, error?: string) =>
      requests.push({ method, path, contentType: req.headers['content-type'], signed: /^AWS4-HMAC-SHA256 /.test(req.headers.authorization ?? ''), accessKeyId: /Credential=([^/,\s]+)\//.exec(req.headers.authorization ?? '')?.[1], body, status, ...(error ? { error } : {}) });

    if (path !== '/findings/batchupdate') {
      record(404, 'UnknownOperation');
      return send(res, 404, { message: `No such operation: ${method} ${path} (this stand-in implements BatchUpdateFindings only)` }, { 'x-amzn-errortype': 'UnknownOperationException' });
    }
    if (method !== 'PATCH') {
      record(405, 'MethodNotAllowed');
      return send(res, 405, { message: `BatchUpdateFindings is PATCH, not ${method}` });
    }
    const failure = failures.shift();
    if (failure) {
      const message =
        failure.message ??
        (failure.error === 'AccessDeniedException'
          ? 'User: arn:aws:sts::123456789012:assumed-role/rectify-worker/session is not authorized to perform: securityhub:BatchUpdateFindings'
          : failure.error === 'TooManyRequestsException'
            ? 'Too Many Requests'
            : failure.error);
      record(ERROR_STATUS[failure.error], failure.error);
      return sendError(res, failure.error, message);
    }
    const problems = validate(body);
    if (problems.length) {
      record(400, 'InvalidInputException');
      return sendError(res, 'InvalidInputException', problems.join('; '));
    }

    const b = body as { FindingIdentifiers: { Id: string; ProductArn: string }[]; Note?: { Text: string; UpdatedBy: string }; Workflow?: { Status?: string } };
    const processed: { Id: string; ProductArn: string }[] = [];
    const unprocessed: { FindingIdentifier: { Id: string; ProductArn: string }; ErrorCode: string; ErrorMessage: string }[] = [];
    const now = new Date().toISOString();
    for (const { Id, ProductArn } of b.FindingIdentifiers) {
      const f = findings.get(key(Id, ProductArn));
      if (!f) {
        unprocessed.push({ FindingIdentifier: { Id, ProductArn }, ErrorCode: 'FindingNotFound', ErrorMessage: 'Finding Not Found' });
        continue;
      }
      if (b.Workflow?.Status) f.Workflow = { Status: b.Workflow.Status };
      if (b.Note) f.Note = { Text: b.Note.Text, UpdatedBy: b.Note.UpdatedBy, UpdatedAt: now };
      processed.push({ Id, ProductArn });
    }
    record(200);
    send(res, 200, { ProcessedFindings: processed, UnprocessedFindings: unprocessed });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addFinding(id, productArn) {
      findings.set(key(id, productArn), { Id: id, ProductArn: productArn, Workflow: { Status: 'NEW' } });
    },
    finding: (id, productArn) => findings.get(key(id, productArn)),
    failNext(error, times = 1, message) {
      for (let i = 0; i < times; i++) failures.push({ error, message });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
