import { AddTagsCommand, DescribeTrailsCommand, GetTrailCommand, ListTagsCommand, UpdateTrailCommand, type Trail } from '@aws-sdk/client-cloudtrail';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../errors.js';
import { Severity, type ControlId } from '../../findings/finding.js';
import { getOwn, getPath, isObject } from '../../findings/validate.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import { assertAccount } from './account.js';
import type { Control, ControlCatalog, Violation } from './control.js';
import { nextPage, scanPageOf } from './scan-util.js';

/**
 * CloudTrail.4 / cloud-trail-log-file-validation-enabled: a trail delivers signed digest files
 * (log file integrity validation).
 *
 * The resource id is the trail ARN, `arn:aws:cloudtrail:<home region>:<account>:trail/<name>`, as
 * Security Hub gives it: it names the trail's home Region, the only Region where it can be changed
 * (CloudTrail API Reference, UpdateTrail: "UpdateTrail must be called from the Region in which the
 * trail was created; otherwise, an InvalidHomeRegionException is thrown"), and its account. A
 * multi-Region trail also shows in every other Region as a shadow trail, and an organization trail
 * shows in the member accounts; the scan lists only the trails whose home is the scanned Region and
 * account (DescribeTrails with includeShadowTrails false: "If you do not include shadow trails,
 * organization trails in a member account and Region replication trails will not be returned"), so
 * each trail is reported once, by the account and Region that can change it.
 */

export interface TrailValidationState {
  readonly trailArn: string;
  readonly name: string;
  readonly homeRegion: string;
  readonly multiRegion: boolean;
  readonly organizationTrail: boolean;
  readonly logFileValidation: boolean;
}
export interface EnableLogFileValidationChange {
  readonly trailArn: string;
  readonly enableLogFileValidation: true;
}

export function planLogFileValidation(state: TrailValidationState): EnableLogFileValidationChange | null {
  return state.logFileValidation ? null : { trailArn: state.trailArn, enableLogFileValidation: true };
}

// Trail names: 3-128 letters, digits, periods, underscores and dashes, starting and ending with a
// letter or digit (CloudTrail API Reference, CreateTrail: Name).
const TRAIL_ARN = /^arn:(aws[a-z-]*):cloudtrail:([a-z]{2,4}(?:-[a-z]+)+-\d+):(\d{12}):trail\/([A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9])$/;

/** The parts of a trail ARN, or undefined when `raw` is not one. */
export function parseTrailArn(raw: string): { partition: string; region: string; account: string; name: string } | undefined {
  const m = TRAIL_ARN.exec(raw);
  return m ? { partition: m[1]!, region: m[2]!, account: m[3]!, name: m[4]! } : undefined;
}

/** The trail ARN, or undefined: a bare trail name names no home Region or account, so it is not enough to act on. */
export function trailArn(raw: string): string | undefined {
  return parseTrailArn(raw) ? raw : undefined;
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

function stateOf(t: Trail, arn: string): TrailValidationState {
  const parts = parseTrailArn(t.TrailARN ?? arn);
  return {
    trailArn: t.TrailARN ?? arn,
    name: t.Name ?? parts?.name ?? '',
    homeRegion: t.HomeRegion ?? parts?.region ?? '',
    multiRegion: t.IsMultiRegionTrail === true,
    organizationTrail: t.IsOrganizationTrail === true,
    logFileValidation: t.LogFileValidationEnabled === true,
  };
}

/** The trail's settings, read in its home Region. */
async function readTrail(aws: AwsClients, arn: string): Promise<TrailValidationState> {
  const parts = parseTrailArn(arn);
  if (!parts) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `"${arn.slice(0, 200)}" is not a CloudTrail trail ARN`, nonRetryable: true });
  }
  const out = await awsCall(`GetTrail ${arn}`, () => aws.cloudTrail(parts.region).send(new GetTrailCommand({ Name: arn })));
  if (!out.Trail) {
    throw ApplicationFailure.create({ type: ErrorType.ResourceNotFound, message: `GetTrail ${arn} returned no trail`, nonRetryable: true });
  }
  return stateOf(out.Trail, arn);
}

/**
 * Refuses (non-retryable AccessDenied) a trail of another account than the finding's: an
 * organization trail, seen from a member account, can only be changed from the management account.
 */
async function assertOwnTrail(aws: AwsClients, arn: string, account: string, what: string): Promise<{ region: string }> {
  const parts = parseTrailArn(arn);
  if (!parts) {
    throw ApplicationFailure.create({ type: ErrorType.InvalidAwsRequest, message: `${what}: "${arn.slice(0, 200)}" is not a CloudTrail trail ARN`, nonRetryable: true });
  }
  if (parts.account !== account) {
    throw ApplicationFailure.create({
      type: ErrorType.AccessDenied,
      message: `${what}: the trail belongs to account ${parts.account}, not to the finding's account ${account} (an organization trail is changed from its management account)`,
      nonRetryable: true,
    });
  }
  await assertAccount(aws, parts.region, account, what);
  return { region: parts.region };
}

async function setValidation(aws: AwsClients, arn: string, region: string, on: boolean): Promise<void> {
  // Only EnableLogFileValidation is sent: UpdateTrail changes nothing it is not given.
  await awsCall(`UpdateTrail ${arn}`, () => aws.cloudTrail(region).send(new UpdateTrailCommand({ Name: arn, EnableLogFileValidation: on })));
}

/**
 * CreateTrail and UpdateTrail log the request (`requestParameters.name`, a name or ARN, and
 * `enableLogFileValidation` when given) and the resulting trail (`responseElements.trailARN`,
 * `logFileValidationEnabled`, ...), as in the CloudTrail User Guide's CreateTrail record. A call
 * that leaves validation on changes nothing this control cares about. Both calls are made in the
 * trail's home Region, so a bare name resolves against the record's awsRegion and account.
 */
function fromCloudTrail(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const eventName = getOwn(record, 'eventName');
  if (eventName !== 'CreateTrail' && eventName !== 'UpdateTrail') return { ignore: `event ${String(eventName)} is not one this control reads` };
  const response = getOwn(record, 'responseElements');
  const validation = isObject(response) ? getOwn(response, 'logFileValidationEnabled') : getPath(record, 'requestParameters', 'enableLogFileValidation');
  if (validation === true) return { ignore: 'log file validation is on' };

  let arn: string | undefined;
  const fromResponse = isObject(response) ? getOwn(response, 'trailARN') : undefined;
  const name = getPath(record, 'requestParameters', 'name');
  if (typeof fromResponse === 'string' && parseTrailArn(fromResponse)) arn = fromResponse;
  else if (typeof name === 'string' && parseTrailArn(name)) arn = name;
  else if (typeof name === 'string') {
    const region = getOwn(record, 'awsRegion');
    const account = getOwn(record, 'recipientAccountId');
    if (typeof region === 'string' && typeof account === 'string') {
      const built = `arn:${partitionOf(region)}:cloudtrail:${region}:${account}:trail/${name}`;
      if (parseTrailArn(built)) arn = built;
    }
  }
  if (arn === undefined) return { resources: [] };
  const trailName = parseTrailArn(arn)!.name;
  return {
    resources: [
      {
        id: arn,
        title: eventName === 'CreateTrail' ? `CloudTrail trail ${trailName} was created without log file validation` : `CloudTrail trail ${trailName} was updated and has no log file validation`,
      },
    ],
  };
}

export const cloudTrailLogValidationCatalog: ControlCatalog = {
  resourceType: 'AwsCloudTrailTrail',
  severity: Severity.Low,
  securityHub: ['CloudTrail.4'],
  configRules: ['cloud-trail-log-file-validation-enabled'],
  cloudTrail: [{ eventSource: 'cloudtrail.amazonaws.com', eventNames: ['CreateTrail', 'UpdateTrail'] }],
  changes: "Turns on log file integrity validation (signed digest files) on the trail, in its home Region; the trail's other settings are not touched",
  defaultMode: 'auto',
  undo: 'exact for the setting: validation is turned off again; the digest files CloudTrail delivered meanwhile stay in the bucket',
  resourceIdHint: 'a CloudTrail trail ARN (arn:aws:cloudtrail:<home region>:<account>:trail/<name>)',
  resourceId: trailArn,
  fromCloudTrail,
};

export const cloudTrailLogValidation: Control<TrailValidationState, EnableLogFileValidationChange> = {
  id: 'cloudtrail-log-validation' as ControlId,
  title: 'CloudTrail trails must validate their log files (signed digest files)',
  fixable: true,
  catalog: cloudTrailLogValidationCatalog,

  async read(aws, finding) {
    const arn = finding.resource.id;
    const { region } = await assertOwnTrail(aws, arn, finding.account, `GetTrail ${arn}`);
    const state = await readTrail(aws, arn);
    const out = await awsCall(`ListTags ${arn}`, () => aws.cloudTrail(region).send(new ListTagsCommand({ ResourceIdList: [arn] })));
    const tags: Record<string, string> = {};
    for (const t of out.ResourceTagList?.find((r) => r.ResourceId === arn)?.TagsList ?? []) {
      if (t.Key !== undefined) Object.defineProperty(tags, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
    }
    return { state, tags };
  },

  plan: (state) => planLogFileValidation(state),

  async apply(aws, finding, change) {
    const { region } = await assertOwnTrail(aws, change.trailArn, finding.account, `UpdateTrail ${change.trailArn}`);
    if ((await readTrail(aws, change.trailArn)).logFileValidation) return;
    await setValidation(aws, change.trailArn, region, true);
  },

  check: (_before, change, after) => (after.logFileValidation ? [] : [`log file validation of trail ${change.trailArn} is still off`]),

  /** Turns validation off again (a change exists only when it was off before). */
  async undo(aws, finding, before, change) {
    if (before.logFileValidation) return;
    const { region } = await assertOwnTrail(aws, change.trailArn, finding.account, `UpdateTrail ${change.trailArn}`);
    await setValidation(aws, change.trailArn, region, false);
  },

  checkUndo: (before, change, after) =>
    after.logFileValidation === before.logFileValidation
      ? []
      : [`log file validation of trail ${change.trailArn} is ${after.logFileValidation ? 'on' : 'off'}, expected ${before.logFileValidation ? 'on' : 'off'}`],

  async tag(aws, finding, key, value) {
    const arn = finding.resource.id;
    const { region } = await assertOwnTrail(aws, arn, finding.account, `AddTags ${arn}`);
    await awsCall(`AddTags ${arn}`, () => aws.cloudTrail(region).send(new AddTagsCommand({ ResourceId: arn, TagsList: [{ Key: key, Value: value }] })));
  },

  /**
   * The trails whose home is this Region and account (DescribeTrails without shadow trails; it
   * has no paging, so the one answer is sliced into pages), judged from what it returns.
   */
  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async () => {
      const out = await awsCall(`DescribeTrails in ${o.region}`, () => aws.cloudTrail(o.region).send(new DescribeTrailsCommand({ includeShadowTrails: false })));
      const own = (out.trailList ?? []).filter((t) => {
        const parts = t.TrailARN ? parseTrailArn(t.TrailARN) : undefined;
        return parts !== undefined && parts.account === o.account && (t.HomeRegion ?? parts.region) === o.region;
      });
      return { items: own.map((t) => stateOf(t, t.TrailARN!)) };
    });
    const violations = page.items.flatMap((s): Violation[] =>
      planLogFileValidation(s) ? [{ resourceId: s.trailArn, title: `CloudTrail trail ${s.name} (${o.region}): log file validation is off`, severity: Severity.Low }] : [],
    );
    return scanPageOf(page, { violations });
  },

  describe: (state) => `log file validation ${state.logFileValidation ? 'on' : 'OFF'}${state.multiRegion ? ', multi-Region trail' : ''}${state.organizationTrail ? ', organization trail' : ''}`,

  summarize(change) {
    const parts = parseTrailArn(change.trailArn);
    return `Turn on log file validation for CloudTrail trail ${parts?.name ?? change.trailArn}${parts ? ` (${parts.region})` : ''}`;
  },
};
