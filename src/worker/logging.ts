import { ApplicationFailure, ApplicationFailureCategory, type LogLevel, type LogMetadata } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import { DefaultLogger, type ActivityInterceptorsFactory } from '@temporalio/worker';
import { ErrorType } from '../errors.js';

/** Failures that go away by themselves and are retried: worth one line when they start, not one per attempt. */
const TRANSIENT: ReadonlySet<string> = new Set([ErrorType.Throttled, ErrorType.AwsUnavailable, ErrorType.SlackUnavailable]);
/** Expected on the way to success (the workflow re-reads a fix until it shows, and says so once itself): no line at all. */
const EXPECTED: ReadonlySet<string> = new Set([ErrorType.NotYetCompliant]);

/**
 * Activities failing with a transient catalogue error (throttling, an AWS or Slack outage, a fix
 * not yet visible) log one warning line on their first attempt and none on the retries: the
 * failure is rethrown as BENIGN, which the SDK logs at debug. The retry policy and the history
 * are unchanged. A failure that is not transient (access denied, not found) is logged as before.
 */
export const quietRetries: ActivityInterceptorsFactory = (ctx: Context) => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        if (!(err instanceof ApplicationFailure) || err.nonRetryable || err.category === ApplicationFailureCategory.BENIGN) throw err;
        const type = err.type ?? '';
        if (!TRANSIENT.has(type) && !EXPECTED.has(type)) throw err;
        if (TRANSIENT.has(type) && ctx.info.attempt === 1) ctx.log.warn(`retrying: ${type}: ${err.message}`);
        throw new ApplicationFailure(err.message, err.type, err.nonRetryable, err.details as unknown[] | undefined, err.cause, err.nextRetryDelay, ApplicationFailureCategory.BENIGN);
      }
    },
  },
});

/** An error as one line: `Type: message` (the catalogue type of an ApplicationFailure), the stack only at error level. */
function renderError(e: Error, level: LogLevel): string {
  const type = e instanceof ApplicationFailure ? (e.type ?? 'ApplicationFailure') : e.name;
  const cause = (e as { cause?: unknown }).cause;
  const head = `${type}: ${e.message}${cause instanceof Error ? ` (cause ${cause instanceof ApplicationFailure ? cause.type : cause.name}: ${cause.message})` : ''}`;
  return level === 'ERROR' && e.stack ? `${head}\n${e.stack}` : head;
}

/**
 * The worker's log (SDK, workflows, activities): one JSON line per entry on stderr, in the shape
 * of the trigger server's log (`src/log.ts`). Errors in the metadata are one line unless the
 * entry is an error.
 */
export function workerLogger(level: LogLevel = 'INFO', write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): DefaultLogger {
  return new DefaultLogger(level, (entry) => {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((entry.meta ?? {}) as LogMetadata)) fields[k] = v instanceof Error ? renderError(v, entry.level) : v;
    const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    write(JSON.stringify({ time, level: entry.level.toLowerCase(), component: 'worker', msg: entry.message, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  });
}
