import { expect } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from '../../src/activities/aws.js';
import type { Violation } from '../../src/activities/controls/control.js';
import { requireControl } from '../../src/activities/controls/index.js';
import { createRemediationActivities } from '../../src/activities/remediation.js';
import type { ControlId } from '../../src/findings/finding.js';
import type { ControlSettings } from '../../src/policy/types.js';
import { ACCOUNT, DEFAULT_SETTINGS } from '../helpers/fixtures.js';
import { testAws } from '../helpers/stack.js';

/** The remediation activities against the run's moto, run under a mock activity context. */
export function activityHarness() {
  const aws = testAws();
  const acts = createRemediationActivities({ aws });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> => env.run<A, R, typeof fn>(fn, ...args);
  return { aws, acts, run };
}

export async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/** Every page of a control's scan in a region: the violations, how many pages it took, and how many resources it looked at. */
export async function scanAll(aws: AwsClients, control: ControlId, o: { region: string; pageSize: number; settings?: ControlSettings }) {
  const violations: Violation[] = [];
  let pages = 0;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const page = await requireControl(control).scanPage(aws, { account: ACCOUNT, region: o.region, settings: o.settings ?? DEFAULT_SETTINGS, pageSize: o.pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(o.pageSize);
    violations.push(...page.violations);
    scanned += page.scanned;
    pages++;
    pageToken = page.nextPageToken;
    expect(pages).toBeLessThan(10_000);
  } while (pageToken);
  return { violations, pages, scanned };
}
