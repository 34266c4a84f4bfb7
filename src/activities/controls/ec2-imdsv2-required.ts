import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  ModifyInstanceMetadataOptionsCommand,
  type HttpTokensState,
  type Instance,
  type InstanceMetadataEndpointState,
  type InstanceMetadataProtocolState,
  type InstanceMetadataTagsState,
} from '@aws-sdk/client-ec2';
import { ApplicationFailure } from '@temporalio/common';
import { Severity, type ControlId } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import type { Control, ControlCatalog, Violation } from './control.js';
import { clamp, nextPage, scanPageOf } from './scan-util.js';

/** An instance's metadata options (DescribeInstances MetadataOptions). */
export interface InstanceMetadataState {
  readonly instanceId: string;
  /** pending, running, stopping, stopped (terminated instances are not found). */
  readonly instanceState: string;
  /** 'optional' (IMDSv1 answers) or 'required' (IMDSv2 only). */
  readonly httpTokens: string;
  /** 'enabled' or 'disabled': with the endpoint off, no version of IMDS answers. */
  readonly httpEndpoint: string;
  readonly httpPutResponseHopLimit?: number;
  readonly httpProtocolIpv6?: string;
  readonly instanceMetadataTags?: string;
  /** 'pending' while a change of the options is being applied, 'applied' after. */
  readonly optionsState: string;
}
export interface RequireImdsv2Change {
  readonly instanceId: string;
  readonly httpTokens: 'required';
  /** What it was, for undo. */
  readonly previousHttpTokens: string;
}

const REQUIRED = 'required';
const ENDPOINT_DISABLED = 'disabled';
/** Instances in these states exist for this control; shutting-down and terminated ones are gone. */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/**
 * The one definition of compliant: IMDSv2 is required, or the metadata endpoint is off (no
 * version answers, so there is nothing to fix without turning it on). Security Hub EC2.8 and the
 * ec2-imdsv2-check rule look at HttpTokens alone, so they may still fail an instance whose
 * endpoint is off.
 */
export function isImdsv2Compliant(state: InstanceMetadataState): boolean {
  return state.httpTokens === REQUIRED || state.httpEndpoint === ENDPOINT_DISABLED;
}

export function planRequireImdsv2(state: InstanceMetadataState): RequireImdsv2Change | null {
  return isImdsv2Compliant(state) ? null : { instanceId: state.instanceId, httpTokens: REQUIRED, previousHttpTokens: state.httpTokens };
}

const INSTANCE_ID = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
/** arn:aws:ec2:us-east-1:123456789012:instance/i-0abc */
const INSTANCE_ARN = /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/(i-[0-9a-fA-F]+)$/;

export function instanceIdOf(raw: string): string | undefined {
  const s = raw.trim();
  const id = (INSTANCE_ARN.exec(s)?.[1] ?? s).toLowerCase();
  return INSTANCE_ID.test(id) ? id : undefined;
}

function tagsOf(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) Object.defineProperty(out, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
  return out;
}

export function metadataState(i: Instance): InstanceMetadataState {
  const m = i.MetadataOptions ?? {};
  return {
    instanceId: i.InstanceId ?? '',
    instanceState: i.State?.Name ?? '',
    // An instance described without options has the defaults of its launch (IMDSv1 allowed, endpoint on).
    httpTokens: m.HttpTokens ?? 'optional',
    httpEndpoint: m.HttpEndpoint ?? 'enabled',
    ...(m.HttpPutResponseHopLimit !== undefined ? { httpPutResponseHopLimit: m.HttpPutResponseHopLimit } : {}),
    ...(m.HttpProtocolIpv6 ? { httpProtocolIpv6: m.HttpProtocolIpv6 } : {}),
    ...(m.InstanceMetadataTags ? { instanceMetadataTags: m.InstanceMetadataTags } : {}),
    optionsState: m.State ?? 'applied',
  };
}

async function describeInstance(aws: AwsClients, region: string, instanceId: string): Promise<Instance> {
  const action = `DescribeInstances on ${instanceId}`;
  const out = await awsCall(action, () => aws.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
  const i = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((x) => x.InstanceId === instanceId);
  if (!i || !LIVE_STATES.includes(i.State?.Name ?? '')) {
    throw ApplicationFailure.create({
      type: ErrorType.ResourceNotFound,
      message: `${action} failed: EC2 instance ${instanceId} ${i ? `is ${i.State?.Name ?? 'gone'}` : 'not found'} in ${region}`,
      nonRetryable: true,
    });
  }
  return i;
}

/**
 * Sets HttpTokens and sends the other options as they are now, just read: AWS keeps options a
 * request leaves out, but moto 5.2.5 resets every one not sent (HttpEndpoint to null, the hop
 * limit to 1), so naming them keeps them on both.
 */
async function setHttpTokens(aws: AwsClients, region: string, now: InstanceMetadataState, httpTokens: string): Promise<void> {
  await awsCall(`ModifyInstanceMetadataOptions HttpTokens=${httpTokens} on ${now.instanceId}`, () =>
    aws.ec2(region).send(
      new ModifyInstanceMetadataOptionsCommand({
        InstanceId: now.instanceId,
        HttpTokens: httpTokens as HttpTokensState,
        HttpEndpoint: now.httpEndpoint as InstanceMetadataEndpointState,
        ...(now.httpPutResponseHopLimit !== undefined ? { HttpPutResponseHopLimit: now.httpPutResponseHopLimit } : {}),
        ...(now.httpProtocolIpv6 ? { HttpProtocolIpv6: now.httpProtocolIpv6 as InstanceMetadataProtocolState } : {}),
        ...(now.instanceMetadataTags ? { InstanceMetadataTags: now.instanceMetadataTags as InstanceMetadataTagsState } : {}),
      }),
    ),
  );
}

function describeMetadata(state: InstanceMetadataState): string {
  const tokens = state.httpTokens === REQUIRED ? 'IMDSv2 required' : 'IMDSv1 ALLOWED (HttpTokens optional)';
  const endpoint = state.httpEndpoint === ENDPOINT_DISABLED ? 'metadata endpoint off' : 'metadata endpoint on';
  const hop = state.httpPutResponseHopLimit !== undefined ? `, hop limit ${state.httpPutResponseHopLimit}` : '';
  return `${tokens}; ${endpoint}${hop}; instance ${state.instanceState || 'unknown'}${state.optionsState === 'pending' ? ', options change pending' : ''}`;
}

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

/**
 * RunInstances: the launched instances are `responseElements.instancesSet.items[].instanceId`,
 * each with its `metadataOptions.{httpTokens, httpEndpoint, state}` when CloudTrail logs them;
 * instances launched with IMDSv2 required (or the endpoint off) are left alone, the others
 * checked (an absent value proves nothing: the AMI or the account default may require IMDSv2).
 * ModifyInstanceMetadataOptions is logged as `requestParameters.ModifyInstanceMetadataOptionsRequest
 * .{InstanceId, HttpTokens, HttpEndpoint, ...}`: a request setting HttpTokens required or turning
 * the endpoint off, or touching neither, cannot make the instance non-compliant.
 */
function fromInstanceEvent(record: Readonly<Record<string, unknown>>): { resources: { id: string; title: string }[] } | { ignore: string } {
  const req = obj(record['requestParameters']);
  if (record['eventName'] === 'ModifyInstanceMetadataOptions') {
    const r = obj(req['ModifyInstanceMetadataOptionsRequest'] ?? req);
    const rawId = r['InstanceId'] ?? r['instanceId'];
    const id = typeof rawId === 'string' ? instanceIdOf(rawId) : undefined;
    if (!id) return { ignore: 'no EC2 instance id in the ModifyInstanceMetadataOptions record' };
    const tokens = r['HttpTokens'] ?? r['httpTokens'];
    const endpoint = r['HttpEndpoint'] ?? r['httpEndpoint'];
    if (tokens === REQUIRED) return { ignore: `requires IMDSv2 on ${id}` };
    if (endpoint === ENDPOINT_DISABLED) return { ignore: `turns the metadata endpoint of ${id} off` };
    if (tokens === undefined && endpoint === undefined) return { ignore: `changes neither HttpTokens nor HttpEndpoint of ${id}` };
    return { resources: [{ id, title: `EC2 instance ${id}: metadata options changed to allow IMDSv1 (ModifyInstanceMetadataOptions)` }] };
  }
  const items = obj(obj(record['responseElements'])['instancesSet'])['items'];
  const launched = (Array.isArray(items) ? items : []).map(obj).flatMap((i) => {
    const id = typeof i['instanceId'] === 'string' ? instanceIdOf(i['instanceId']) : undefined;
    return id ? [{ id, options: obj(i['metadataOptions']) }] : [];
  });
  if (launched.length === 0) return { ignore: 'no launched instance in the RunInstances record' };
  const open = launched.filter((l) => l.options['httpTokens'] !== REQUIRED && l.options['httpEndpoint'] !== ENDPOINT_DISABLED);
  if (open.length === 0) return { ignore: `launched with IMDSv2 required: ${launched.map((l) => l.id).join(', ')}` };
  return {
    resources: open.map((l) => ({
      id: l.id,
      title: `EC2 instance ${l.id} launched ${l.options['httpTokens'] === 'optional' ? 'allowing IMDSv1' : 'with metadata options not logged'} (RunInstances)`,
    })),
  };
}

export const ec2Imdsv2RequiredCatalog: ControlCatalog = {
  resourceType: 'AwsEc2Instance',
  severity: Severity.High,
  securityHub: ['EC2.8'],
  configRules: ['ec2-imdsv2-check'],
  configResourceType: 'AWS::EC2::Instance',
  cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['RunInstances', 'ModifyInstanceMetadataOptions'] }],
  changes:
    'Sets HttpTokens to required (ModifyInstanceMetadataOptions): the metadata service answers IMDSv2 requests only; the endpoint, hop limit, IPv6 and tags-in-metadata settings stay as they are. Software on the instance that still uses IMDSv1 loses access to the metadata (including role credentials)',
  defaultMode: 'approve',
  undo: 'exact: HttpTokens back to its previous value (optional); fails where an account or organization policy enforces IMDSv2',
  resourceIdHint: 'an EC2 instance id (i-...) or its ARN (arn:aws:ec2:<region>:<account>:instance/i-...)',
  resourceId: instanceIdOf,
  fromCloudTrail: fromInstanceEvent,
};

export const ec2Imdsv2Required: Control<InstanceMetadataState, RequireImdsv2Change> = {
  id: 'ec2-imdsv2-required' as ControlId,
  title: 'EC2 instances must require IMDSv2 (HttpTokens required)',
  fixable: true,
  catalog: ec2Imdsv2RequiredCatalog,

  async read(aws, finding) {
    const i = await describeInstance(aws, finding.region, finding.resource.id);
    return { state: metadataState(i), tags: tagsOf(i.Tags) };
  },

  plan: (state) => planRequireImdsv2(state),

  /** Re-reads the options; nothing to do when IMDSv2 is already required (or the endpoint went off meanwhile). */
  async apply(aws, finding, change) {
    const now = metadataState(await describeInstance(aws, finding.region, finding.resource.id));
    if (isImdsv2Compliant(now)) return;
    await setHttpTokens(aws, finding.region, now, change.httpTokens);
  },

  check(_before, change, after) {
    if (after.httpTokens !== change.httpTokens) return [`EC2 instance ${after.instanceId} still allows IMDSv1 (HttpTokens ${after.httpTokens})`];
    if (after.optionsState === 'pending') return [`EC2 instance ${after.instanceId}: the metadata options change is still pending`];
    return [];
  },

  /** Puts HttpTokens back as it was, keeping the other options as they are now. */
  async undo(aws, finding, _before, change) {
    const now = metadataState(await describeInstance(aws, finding.region, finding.resource.id));
    if (now.httpTokens === change.previousHttpTokens) return;
    await setHttpTokens(aws, finding.region, now, change.previousHttpTokens);
  },

  checkUndo(_before, change, after) {
    if (after.httpTokens !== change.previousHttpTokens) return [`EC2 instance ${after.instanceId} has HttpTokens ${after.httpTokens}, expected ${change.previousHttpTokens}`];
    if (after.optionsState === 'pending') return [`EC2 instance ${after.instanceId}: the metadata options change is still pending`];
    return [];
  },

  async tag(aws, finding, key, value) {
    const id = finding.resource.id;
    await awsCall(`CreateTags on ${id}`, () => aws.ec2(finding.region).send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: key, Value: value }] })));
  },

  /** DescribeInstances (not shutting-down or terminated) says all: one call per page. */
  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async (token) => {
      const out = await awsCall(`DescribeInstances in ${o.region}`, () =>
        aws.ec2(o.region).send(
          new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: LIVE_STATES }], MaxResults: clamp(o.pageSize, 5, 1000), ...(token ? { NextToken: token } : {}) }),
        ),
      );
      const instances = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).filter((i) => i.InstanceId && LIVE_STATES.includes(i.State?.Name ?? ''));
      return { items: instances, next: out.NextToken };
    });
    const violations: Violation[] = page.items
      .map(metadataState)
      .filter((s) => !isImdsv2Compliant(s))
      .map((s) => ({ resourceId: s.instanceId, title: `EC2 instance ${s.instanceId} allows IMDSv1 (HttpTokens ${s.httpTokens})`, severity: Severity.High }));
    return scanPageOf(page, { violations });
  },

  describe: describeMetadata,

  summarize: (change) => `Require IMDSv2 on EC2 instance ${change.instanceId} (HttpTokens ${change.previousHttpTokens} -> required)`,
};
