import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../../log.js';

/** The one HTTP error type: a status, a machine-readable code, a message safe to show the caller, and every problem found. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly problems: readonly string[] = [],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Maps any error to a JSON answer. Unexpected errors become a 500 that leaks nothing but a request id. */
export function errorMapper(logger: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json({ error: { code: err.code, message: err.message, ...(err.problems.length ? { problems: err.problems } : {}) } }, err.status);
    }
    const requestId = crypto.randomUUID();
    logger.error('unhandled error', { requestId, error: err.message, path: c.req.path });
    return c.json({ error: { code: 'internal', message: 'internal error', requestId } }, 500);
  };
}
