import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../errors.js';
import type { ScanPage, Violation } from './control.js';

/** One page as an AWS list API returned it. */
export interface ListPage<T> {
  readonly items: readonly T[];
  /** The API's token for the next page; undefined on the last page. */
  readonly next?: string | undefined;
}

/** Where a scan is: the AWS list API's own token, and how many items of that API page were already handed out. */
interface Cursor {
  readonly t?: string;
  readonly s?: number;
}

export function encodePageToken(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

export function decodePageToken(token: string | undefined): Cursor {
  if (token === undefined || token === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const c = parsed as { t?: unknown; s?: unknown } | undefined;
  const valid =
    typeof c === 'object' &&
    c !== null &&
    (c.t === undefined || typeof c.t === 'string') &&
    (c.s === undefined || (typeof c.s === 'number' && Number.isSafeInteger(c.s) && c.s >= 0));
  if (!valid) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `invalid scan page token "${token.slice(0, 80)}"`, nonRetryable: true });
  }
  return { ...(c.t !== undefined ? { t: c.t as string } : {}), ...(c.s !== undefined ? { s: c.s as number } : {}) };
}

/**
 * The next `pageSize` items of an AWS list API. `list` fetches one API page (given the API's own
 * token). A page token carries that API token plus how many items of its page were already handed
 * out, so an API that returns more than asked for is sliced here: a scan page never holds more
 * than `pageSize` items and nothing is skipped. (moto ignores MaxResults on DescribeSecurityGroups
 * and MaxItems on ListUsers; real AWS honours them, and then the offset is always 0.)
 */
export async function nextPage<T>(
  pageToken: string | undefined,
  pageSize: number,
  list: (apiToken: string | undefined) => Promise<ListPage<T>>,
): Promise<{ items: T[]; nextPageToken?: string }> {
  const size = validPageSize(pageSize);
  const { t, s = 0 } = decodePageToken(pageToken);
  const page = await list(t);
  const items = page.items.slice(s, s + size);
  if (s + size < page.items.length) return { items, nextPageToken: encodePageToken({ ...(t !== undefined ? { t } : {}), s: s + size }) };
  if (page.next) return { items, nextPageToken: encodePageToken({ t: page.next }) };
  return { items };
}

export function validPageSize(pageSize: number): number {
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `scan page size must be a positive integer, got ${pageSize}`, nonRetryable: true });
  }
  return pageSize;
}

/** `n` limited to [min, max] (an AWS API's accepted range for its page size). */
export function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

/** Maps `items` through `fn`, at most `limit` calls at a time, keeping the order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Per-resource reads in a scan run this many at a time. */
export const SCAN_CONCURRENCY = 8;

/** `p`'s value, or undefined when the resource is gone (deleted between listing it and reading it). */
export async function unlessGone<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApplicationFailure && err.type === ErrorType.ResourceNotFound) return undefined;
    throw err;
  }
}

/**
 * Reads each listed resource (`SCAN_CONCURRENCY` at a time) and judges it. A resource deleted
 * since the listing is skipped; one that cannot be read for good (access denied, say) is listed
 * with the reason and the scan goes on; a passing error (throttling, an outage) fails the page,
 * which is retried.
 */
export async function judgeEach<S>(
  ids: readonly string[],
  read: (id: string) => Promise<S>,
  judge: (id: string, state: S) => Violation | null,
): Promise<Pick<ScanPage, 'violations' | 'unreadable'>> {
  const unreadable: { resourceId: string; reason: string }[] = [];
  const found = await mapLimit(ids, SCAN_CONCURRENCY, async (id) => {
    try {
      const state = await unlessGone(read(id));
      return state === undefined ? null : judge(id, state);
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) {
        unreadable.push({ resourceId: id, reason: err.message });
        return null;
      }
      throw err;
    }
  });
  return { violations: found.filter((v): v is Violation => v !== null), ...(unreadable.length ? { unreadable } : {}) };
}

/** One scan page: what was found among `page`'s items, how many were looked at, and where to go on. */
export function scanPageOf(page: { readonly items: readonly unknown[]; readonly nextPageToken?: string }, found: Pick<ScanPage, 'violations' | 'unreadable'>): ScanPage {
  return { ...found, scanned: page.items.length, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) };
}
