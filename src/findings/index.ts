/**
 * Pure normalizers: untrusted bodies in, `Finding`s out. No I/O, no Temporal, no AWS SDK.
 *
 * - `normalizeEventBridgeEvent`: a whole EventBridge event as delivered to an API
 *   destination ('AWS API Call via CloudTrail', 'Security Hub Findings - Imported',
 *   'Config Rules Compliance Change').
 * - `normalizeGenericFindings`: the generic format for Prowler and other scanners.
 *
 * Both throw `InvalidInputError` listing every problem found. `findings` may hold findings
 * in state 'resolved' (record them, never act on them); `ignored` lists valid input the
 * product does not act on.
 */
export type { Ignored, Normalized } from './validate.js';
export { normalizeEventBridgeEvent, SUPPORTED_DETAIL_TYPES, DetailType } from './eventbridge.js';
export { normalizeGenericFindings, type GenericOptions } from './generic.js';
