import { activityInfo } from '@temporalio/activity';
import type { S3Client } from '@aws-sdk/client-s3';
import { archiveRecord, type ArchiveOptions } from '../evidence/archive.js';
import { signRecord, type EvidenceKey, type EvidenceSignature } from '../evidence/signing.js';
import { awsCall } from './aws-errors.js';

/**
 * Evidence activities. The private key lives in the worker only: records go in, signatures come
 * out, so history holds the signature and never the key.
 */
export function createEvidenceActivities(d: { key: EvidenceKey; archive?: { s3: S3Client } & ArchiveOptions }) {
  return {
    /**
     * Ed25519 signature of the record's canonical JSON, with the key id and public key to check
     * it by. With an archive bucket configured, also writes the signed record there (one object
     * per record, under Object Lock retention when the bucket has it) before answering; a write
     * that fails is retried, so a record is never signed without being archived.
     */
    async signEvidence(record: object): Promise<EvidenceSignature> {
      const info = activityInfo();
      // Signed "at" the time the signing was scheduled: a retry produces the very same signature,
      // so archiving stays idempotent.
      const signature = signRecord(record, d.key, new Date(info.scheduledTimestampMs));
      if (d.archive) {
        const { s3, ...o } = d.archive;
        const workflowId = info.workflowExecution?.workflowId ?? 'unknown';
        const runId = info.workflowExecution?.runId ?? 'unknown';
        // A run that took a redelivery while this was signed closes again with a record that
        // includes it: that record is kept beside the first, never in its place.
        await awsCall(`archiving the evidence of ${workflowId}`, () => archiveRecord(s3, o, { ...record, signature }, { workflowId, runId, closedAt: signature.signedAt }, { besideOnConflict: true }));
      }
      return signature;
    },
  };
}
