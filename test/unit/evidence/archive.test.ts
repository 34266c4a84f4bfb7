import { describe, expect, it } from 'vitest';
import { archiveKey } from '../../../src/evidence/archive.js';

describe('archiveKey', () => {
  it('dates the key by the closing day (UTC) and url-encodes the workflow id', () => {
    const key = archiveKey('rectify/', { workflowId: 'finding/123456789012/us-east-1/s3-block-public-access/my bucket', runId: 'r-1' }, new Date('2026-07-02T23:59:59.999Z'));
    expect(key).toBe('rectify/evidence/2026/07/02/finding%2F123456789012%2Fus-east-1%2Fs3-block-public-access%2Fmy%20bucket/r-1.json');
    expect(archiveKey(undefined, { workflowId: 'undo/finding/x', runId: 'r' }, new Date('2026-01-09T00:00:00Z'))).toBe('evidence/2026/01/09/undo%2Ffinding%2Fx/r.json');
  });
  it('refuses a record without a valid date', () => {
    expect(() => archiveKey('', { workflowId: 'w', runId: 'r' }, new Date(Number.NaN))).toThrow(/no valid closing date/);
  });
});
