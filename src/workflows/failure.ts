import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES, type ErrorType } from '../errors.js';

/** The most specific message in a failure chain, prefixed by its catalogue type. */
export function failureReason(err: unknown): string {
  let e: unknown = err;
  let best: string | undefined;
  while (e instanceof Error) {
    if (e instanceof ApplicationFailure) best = `${e.type ?? 'Error'}: ${e.message}`;
    else if (!(e instanceof ActivityFailure) && !best) best = e.message;
    e = (e as { cause?: unknown }).cause;
  }
  return best ?? String(err);
}

/** Whether retrying could help: the innermost application failure is neither non-retryable nor of a permanent catalogue type. */
export function retryable(err: unknown): boolean {
  let e: unknown = err;
  let app: ApplicationFailure | undefined;
  while (e instanceof Error) {
    if (e instanceof ApplicationFailure) app = e;
    e = (e as { cause?: unknown }).cause;
  }
  return app !== undefined && !app.nonRetryable && !NON_RETRYABLE_ERROR_TYPES.includes(app.type as ErrorType);
}

/**
 * For steps that are best effort (Slack, Security Hub, approver lookups): the returned function
 * awaits a step and, if it fails, notes `what: reason` in `notes` and yields undefined.
 */
export function noteFailuresIn(notes: string[]) {
  return async <T>(what: string, p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch (err) {
      notes.push(`${what}: ${failureReason(err)}`);
      return undefined;
    }
  };
}
