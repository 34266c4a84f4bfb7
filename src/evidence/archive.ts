import { createHash } from 'node:crypto';
import { GetObjectCommand, GetObjectLockConfigurationCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { canonicalJson } from './canonical.js';
import type { ExportedRecord } from './export.js';

export interface ArchiveOptions {
  readonly bucket: string;
  /** Key prefix, e.g. "rectify/" (used as given; end it with "/" for a folder). */
  readonly prefix?: string;
  /** Object Lock retention when the bucket has Object Lock enabled, in days (default 2555, 7 years). */
  readonly retentionDays?: number;
  /** The clock, for tests. */
  readonly now?: () => Date;
}

export interface ArchiveResult {
  readonly key: string;
  /** `written`: a new object; `already-archived`: the same bytes were there already (nothing written). */
  readonly status: 'written' | 'already-archived';
  /** The key of the earlier record of the same run this one was written beside (`besideOnConflict`). */
  readonly beside?: string;
  /** The Object Lock retention set (COMPLIANCE), when the bucket has Object Lock. */
  readonly retainUntil?: string;
}

export const DEFAULT_RETENTION_DAYS = 2555;

/** Where a record is archived: `<prefix>evidence/<yyyy>/<mm>/<dd>/<url-encoded workflow id>/<run id>.json`, dated by when it closed (UTC). */
export function archiveKey(prefix: string | undefined, ids: { workflowId: string; runId: string }, closedAt: Date): string {
  if (Number.isNaN(closedAt.getTime())) throw new Error(`cannot archive ${ids.workflowId}: no valid closing date`);
  const d = closedAt.toISOString();
  return `${prefix ?? ''}evidence/${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/${encodeURIComponent(ids.workflowId)}/${encodeURIComponent(ids.runId)}.json`;
}

const lockCache = new WeakMap<S3Client, Map<string, Promise<boolean>>>();

/** Whether the bucket has Object Lock enabled (asked once per client and bucket). */
export function bucketHasObjectLock(s3: S3Client, bucket: string): Promise<boolean> {
  let perBucket = lockCache.get(s3);
  if (!perBucket) lockCache.set(s3, (perBucket = new Map()));
  let p = perBucket.get(bucket);
  if (!p) {
    p = s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })).then(
      (out) => out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled',
      (err: unknown) => {
        if ((err as { name?: string }).name === 'ObjectLockConfigurationNotFoundError') return false;
        throw err;
      },
    );
    const cache = perBucket;
    void p.catch(() => cache.delete(bucket)); // ask again next time
    perBucket.set(bucket, p);
  }
  return p;
}

async function existing(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await out.Body?.transformToString('utf8');
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw err;
  }
}

/** The identity and closing date of a record: a remediation record names them; an undo record's ids come from `ids`. */
function identify(record: object, ids?: { workflowId: string; runId: string; closedAt?: string | Date }): { workflowId: string; runId: string; closedAt: Date } {
  const r = record as { workflowId?: unknown; runId?: unknown; timestamps?: { closed?: unknown }; closedAt?: unknown };
  const workflowId = ids?.workflowId ?? (typeof r.workflowId === 'string' ? r.workflowId : undefined);
  const runId = ids?.runId ?? (typeof r.runId === 'string' ? r.runId : undefined);
  if (!workflowId || !runId) throw new Error('cannot archive a record without its workflow id and run id');
  // The record's own closing time first, so the same record always gets the same key.
  const closed = typeof r.timestamps?.closed === 'string' ? r.timestamps.closed : typeof r.closedAt === 'string' ? r.closedAt : ids?.closedAt;
  return { workflowId, runId, closedAt: closed === undefined ? new Date(Number.NaN) : new Date(closed) };
}

/**
 * Archives one signed record to S3 as its canonical JSON (the bytes its signature covers, plus
 * the signature), under `archiveKey`. When the bucket has Object Lock enabled the object is
 * locked in COMPLIANCE mode for `retentionDays`: nobody, not even the account root, can delete or
 * overwrite that version until then. Idempotent: the same record archived again writes nothing;
 * a different record already at the key is an error (evidence is never replaced), or with
 * `besideOnConflict` is written beside it, under `<run id>.<sha256 prefix of its bytes>.json`.
 * The worker signs that way: a run that took more input (a redelivery signalled) while its record
 * was being signed closes again with a record that includes it, and both signed records are kept.
 * `ids` names the execution when the record does not (undo records).
 */
export async function archiveRecord(
  s3: S3Client,
  o: ArchiveOptions,
  record: object,
  ids?: { workflowId: string; runId: string; closedAt?: string | Date },
  opts: { besideOnConflict?: boolean } = {},
): Promise<ArchiveResult> {
  const who = identify(record, ids);
  const first = archiveKey(o.prefix, who, who.closedAt);
  const body = canonicalJson(record);
  let key = first;
  const already = await existing(s3, o.bucket, key);
  if (already !== undefined) {
    if (already === body) return { key, status: 'already-archived' };
    if (!opts.besideOnConflict) throw new Error(`s3://${o.bucket}/${key} already holds a different record for ${who.workflowId} run ${who.runId}; not replacing evidence`);
    key = first.replace(/\.json$/, `.${createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 16)}.json`);
    const there = await existing(s3, o.bucket, key);
    if (there === body) return { key, status: 'already-archived', beside: first };
    if (there !== undefined) throw new Error(`s3://${o.bucket}/${key} already holds a different record for ${who.workflowId} run ${who.runId}; not replacing evidence`);
  }
  const locked = await bucketHasObjectLock(s3, o.bucket);
  const days = o.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (!(days > 0)) throw new Error(`retentionDays must be positive, got ${days}`);
  const retainUntil = locked ? new Date((o.now?.() ?? new Date()).getTime() + days * 86_400_000) : undefined;
  await s3.send(
    new PutObjectCommand({
      Bucket: o.bucket,
      Key: key,
      Body: body,
      ContentType: 'application/json',
      // Object Lock puts must carry an integrity check; MD5 is what every S3 implementation takes.
      ContentMD5: createHash('md5').update(body, 'utf8').digest('base64'),
      ...(retainUntil ? { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: retainUntil } : {}),
    }),
  );
  return { key, status: 'written', ...(key !== first ? { beside: first } : {}), ...(retainUntil ? { retainUntil: retainUntil.toISOString() } : {}) };
}

/** Archives an exported record (nothing for a run without a record). */
export async function archiveExported(s3: S3Client, o: ArchiveOptions, e: ExportedRecord): Promise<ArchiveResult | undefined> {
  if (e.record === null) return undefined;
  return archiveRecord(s3, o, e.record, { workflowId: e.workflowId, runId: e.runId, closedAt: e.closedAt });
}
