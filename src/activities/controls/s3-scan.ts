import { ListBucketsCommand } from '@aws-sdk/client-s3';
import type { ControlSettings } from '../../policy/types.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { ScanPage, Violation } from './control.js';
import { judgeEach, nextPage } from './scan-util.js';

/**
 * Buckets per ListBuckets call. Not the scan's page size: moto (5.2.5) truncates at MaxBuckets
 * without returning a ContinuationToken, so listing with the scan's small page size would end the
 * scan early. The listed page is sliced to the scan's page size instead (see `nextPage`).
 */
const LIST_BUCKETS_PAGE = 1000;

export interface BucketScan<S> {
  readonly aws: AwsClients;
  readonly o: { readonly region: string; readonly settings: ControlSettings; readonly pageToken?: string; readonly pageSize: number };
  /** Reads the control's state of one bucket. */
  readState(bucket: string): Promise<S>;
  /** The violation when `state` is not compliant, else null. */
  violation(bucket: string, state: S): Violation | null;
}

/** One page of the buckets in a region (ListBuckets with BucketRegion), each read and judged by the control. */
export async function scanBuckets<S>(s: BucketScan<S>): Promise<ScanPage> {
  const { region } = s.o;
  const page = await nextPage(s.o.pageToken, s.o.pageSize, async (token) => {
    const out = await awsCall(`ListBuckets in ${region}`, () =>
      s.aws.s3(region).send(new ListBucketsCommand({ BucketRegion: region, MaxBuckets: LIST_BUCKETS_PAGE, ...(token ? { ContinuationToken: token } : {}) })),
    );
    return { items: (out.Buckets ?? []).flatMap((b) => (b.Name ? [b.Name] : [])), next: out.ContinuationToken };
  });
  return {
    ...(await judgeEach(page.items, (bucket) => s.readState(bucket), (bucket, state) => s.violation(bucket, state))),
    scanned: page.items.length,
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
  };
}
