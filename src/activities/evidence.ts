import { signRecord, type EvidenceKey, type EvidenceSignature } from '../evidence/signing.js';

/**
 * Evidence activities. The private key lives in the worker only: records go in, signatures come
 * out, so history holds the signature and never the key.
 */
export function createEvidenceActivities(d: { key: EvidenceKey }) {
  return {
    /** Ed25519 signature of the record's canonical JSON, with the key id and public key to check it by. */
    async signEvidence(record: object): Promise<EvidenceSignature> {
      return signRecord(record, d.key);
    },
  };
}
