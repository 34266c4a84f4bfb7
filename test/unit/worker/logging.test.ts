import { describe, expect, it } from 'vitest';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import { ErrorType } from '../../../src/errors.js';
import { quietRetries, workerLogger } from '../../../src/worker/logging.js';

/** The interceptor around an activity that fails with `err`, on attempt `attempt`; what it rethrows and logs. */
async function run(err: unknown, attempt: number): Promise<{ thrown: unknown; warnings: string[] }> {
  const warnings: string[] = [];
  const ctx = { info: { attempt }, log: { warn: (m: string) => warnings.push(m), info() {}, debug() {}, error() {}, trace() {}, log() {} } } as unknown as Context;
  const execute = quietRetries(ctx).inbound!.execute!;
  const thrown = await execute({ args: [], headers: {} }, () => Promise.reject(err)).then(() => undefined, (e: unknown) => e);
  return { thrown, warnings };
}

describe('quiet retries: one warning line when a transient failure starts, none per retry', () => {
  const throttled = () => ApplicationFailure.create({ type: ErrorType.Throttled, message: 'GetPublicAccessBlock on b failed: SlowDown: reduce your rate', details: [{ awsErrorCode: 'SlowDown' }] });

  it('the first attempt logs one line and rethrows the same failure as BENIGN (the SDK then logs it at debug)', async () => {
    const { thrown, warnings } = await run(throttled(), 1);
    expect(warnings).toEqual(['retrying: Throttled: GetPublicAccessBlock on b failed: SlowDown: reduce your rate']);
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    const f = thrown as ApplicationFailure;
    expect(f).toMatchObject({ type: ErrorType.Throttled, nonRetryable: false, category: ApplicationFailureCategory.BENIGN, details: [{ awsErrorCode: 'SlowDown' }] });
    expect(f.message).toBe('GetPublicAccessBlock on b failed: SlowDown: reduce your rate');
  });

  it('later attempts log nothing', async () => {
    expect((await run(throttled(), 2)).warnings).toEqual([]);
    expect((await run(throttled(), 9)).warnings).toEqual([]);
  });

  it('a fix not visible yet is expected on the way (the workflow says so once): BENIGN and silent', async () => {
    const { thrown, warnings } = await run(ApplicationFailure.create({ type: ErrorType.NotYetCompliant, message: 'b does not hold the fix' }), 1);
    expect(warnings).toEqual([]);
    expect((thrown as ApplicationFailure).category).toBe(ApplicationFailureCategory.BENIGN);
  });

  it('a permanent failure, or any other error, is rethrown untouched (the SDK logs it as a real failure)', async () => {
    const denied = ApplicationFailure.create({ type: ErrorType.AccessDenied, message: 'denied', nonRetryable: true });
    expect(await run(denied, 1)).toEqual({ thrown: denied, warnings: [] });
    const plain = new Error('boom');
    expect(await run(plain, 1)).toEqual({ thrown: plain, warnings: [] });
  });
});

describe('worker log lines', () => {
  const lines = (level: 'INFO' | 'WARN' | 'ERROR', meta: Record<string, unknown>) => {
    const out: string[] = [];
    workerLogger('TRACE', (l) => out.push(l)).log(level, 'Activity failed', meta);
    return out;
  };

  it('are one JSON object per entry, with an error rendered as one line "Type: message"', () => {
    const err = ApplicationFailure.create({ type: ErrorType.AwsUnavailable, message: 'moto is down' });
    const out = lines('WARN', { activityType: 'applyFix', attempt: 2n, error: err });
    expect(out).toHaveLength(1);
    expect(out[0]).not.toContain('\n');
    const entry = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'warn', component: 'worker', msg: 'Activity failed', activityType: 'applyFix', attempt: '2', error: 'AwsUnavailable: moto is down' });
    expect(Date.parse(entry['time'] as string)).not.toBeNaN();
  });

  it('keep the stack of an error logged at error level, for the failures that need a look', () => {
    const entry = JSON.parse(lines('ERROR', { error: new TypeError('bad state') })[0]!) as { error: string };
    expect(entry.error.split('\n')[0]).toBe('TypeError: bad state');
    expect(entry.error).toContain('    at ');
  });

  it('name the cause of a wrapped failure', () => {
    const wrapped = new ApplicationFailure('activity task failed', 'ActivityFailure', false, [], ApplicationFailure.create({ type: ErrorType.Throttled, message: 'slow down' }));
    expect((JSON.parse(lines('WARN', { error: wrapped })[0]!) as { error: string }).error).toBe('ActivityFailure: activity task failed (cause Throttled: slow down)');
  });
});
