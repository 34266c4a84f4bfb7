/**
 * The EventBridge envelope, as EventBridge delivers a whole event to an API destination:
 *
 *   { "version": "0", "id": "...", "detail-type": "...", "source": "aws.s3",
 *     "account": "123456789012", "time": "2026-11-23T10:00:00Z", "region": "us-east-1",
 *     "resources": [], "detail": { ... } }
 *
 * Validates the envelope and dispatches on `detail-type` to the per-source normalizer.
 * Pure module: no I/O.
 */
import { InvalidInputError } from '../errors.js';
import type { Finding } from './finding.js';
import { normalizeCloudTrail } from './cloudtrail.js';
import { normalizeConfigCompliance } from './config-rules.js';
import { normalizeSecurityHub } from './securityhub.js';
import type { Ignored, Normalized, Obj, ScanRequest } from './validate.js';
import {
  Problems,
  checkAccount,
  checkId,
  checkRegion,
  checkTimestamp,
  describeType,
  getOwn,
  isObject,
  quote,
} from './validate.js';

export const DetailType = {
  CloudTrailApiCall: 'AWS API Call via CloudTrail',
  SecurityHubFindingsImported: 'Security Hub Findings - Imported',
  ConfigComplianceChange: 'Config Rules Compliance Change',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

export const SUPPORTED_DETAIL_TYPES: readonly string[] = Object.freeze(Object.values(DetailType));

/** What the per-source normalizers may use from the envelope; undefined when invalid or absent. */
export interface Envelope {
  readonly id: string | undefined;
  readonly source: string | undefined;
  readonly account: string | undefined;
  readonly region: string | undefined;
  readonly time: string | undefined;
}

/**
 * What a per-source normalizer returns; its problems go to the shared `Problems`. One event may
 * yield several findings (one per finding in a Security Hub event, one per control a CloudTrail
 * call concerns), each with a distinct id.
 */
export interface DetailResult {
  readonly findings: Finding[];
  readonly ignored: Ignored[];
  readonly scans?: ScanRequest[];
}

const WHAT = 'EventBridge event';

/** CloudTrail events carry the service as source: aws.s3, aws.ec2, aws.iam, ... */
const SERVICE_SOURCE = /^aws\.[a-z0-9-]+(\.[a-z0-9-]+)*$/;

function isDetailType(value: unknown): value is DetailType {
  return typeof value === 'string' && SUPPORTED_DETAIL_TYPES.includes(value);
}

function supportedList(): string {
  return SUPPORTED_DETAIL_TYPES.map((t) => JSON.stringify(t)).join(', ');
}

function checkSource(detailType: DetailType, source: string, problems: Problems): void {
  switch (detailType) {
    case DetailType.CloudTrailApiCall:
      // Any service can appear here (Security Hub's own API calls come as aws.securityhub);
      // cloudtrail.ts checks that the source agrees with detail.eventSource.
      if (!SERVICE_SOURCE.test(source)) {
        problems.add(
          'source',
          `${quote(source)} does not match detail-type ${JSON.stringify(detailType)}; expected the calling service, such as "aws.s3" or "aws.ec2"`,
        );
      }
      return;
    case DetailType.SecurityHubFindingsImported:
      if (source !== 'aws.securityhub') {
        problems.add('source', `${quote(source)} does not match detail-type ${JSON.stringify(detailType)}; expected "aws.securityhub"`);
      }
      return;
    case DetailType.ConfigComplianceChange:
      if (source !== 'aws.config') {
        problems.add('source', `${quote(source)} does not match detail-type ${JSON.stringify(detailType)}; expected "aws.config"`);
      }
      return;
  }
}

/**
 * An EventBridge event exactly as EventBridge delivers it to an API destination (the whole
 * event JSON). Throws InvalidInputError listing every problem.
 */
export function normalizeEventBridgeEvent(body: unknown): Normalized {
  if (!isObject(body)) {
    throw new InvalidInputError(WHAT, [`body: must be a JSON object (an EventBridge event), got ${describeType(body)}`]);
  }
  const problems = new Problems();

  const rawDetailType = getOwn(body, 'detail-type');
  let detailType: DetailType | undefined;
  if (typeof rawDetailType !== 'string') {
    problems.add(
      'detail-type',
      rawDetailType === undefined ? 'is missing' : `must be a string, got ${describeType(rawDetailType)}`,
    );
  } else if (isDetailType(rawDetailType)) {
    detailType = rawDetailType;
  } else {
    problems.add('detail-type', `${quote(rawDetailType)} is not supported; supported: ${supportedList()}`);
  }

  const rawSource = getOwn(body, 'source');
  let source: string | undefined;
  if (typeof rawSource !== 'string' || rawSource === '') {
    problems.add('source', rawSource === undefined ? 'is missing' : `must be a non-empty string, got ${quote(rawSource)}`);
  } else if (rawSource.length > 256) {
    problems.add('source', `must be at most 256 characters, got ${rawSource.length}`);
  } else {
    source = rawSource;
    if (detailType !== undefined) checkSource(detailType, source, problems);
  }

  const id = checkId(getOwn(body, 'id'), 'id', problems, 256);
  const account = checkAccount(getOwn(body, 'account'), 'account', problems);
  const region = checkRegion(getOwn(body, 'region'), 'region', problems);
  const rawTime = getOwn(body, 'time');
  const time = rawTime === undefined ? undefined : checkTimestamp(rawTime, 'time', problems);

  const detail = getOwn(body, 'detail');
  let detailObj: Obj | undefined;
  if (!isObject(detail)) {
    problems.add('detail', detail === undefined ? 'is missing' : `must be an object, got ${describeType(detail)}`);
  } else {
    detailObj = detail;
  }

  const envelope: Envelope = { id, source, account, region, time };
  let result: DetailResult = { findings: [], ignored: [] };
  if (detailType !== undefined && detailObj !== undefined) {
    switch (detailType) {
      case DetailType.CloudTrailApiCall:
        result = normalizeCloudTrail(envelope, detailObj, problems);
        break;
      case DetailType.SecurityHubFindingsImported:
        result = normalizeSecurityHub(envelope, detailObj, problems);
        break;
      case DetailType.ConfigComplianceChange:
        result = normalizeConfigCompliance(envelope, detailObj, problems);
        break;
    }
  }

  if (problems.count > 0) throw new InvalidInputError(WHAT, problems.all());
  return { findings: result.findings, ignored: result.ignored, ...(result.scans?.length ? { scans: result.scans } : {}) };
}
