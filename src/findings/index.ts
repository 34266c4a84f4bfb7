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
 * product does not act on. One input may yield several findings: a Security Hub event or a
 * generic batch holds several, and one CloudTrail call may concern several controls
 * (CreateBucket: public access block and default encryption), one Finding per control, each
 * with its own id. A result may hold findings and ignored entries together.
 */
export type { Ignored, Normalized } from './validate.js';
export { normalizeEventBridgeEvent, SUPPORTED_DETAIL_TYPES, DetailType } from './eventbridge.js';
export { normalizeGenericFindings, type GenericOptions } from './generic.js';
