import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type InstanceMetadataOptionsRequest,
} from '@aws-sdk/client-ec2';
import type { Control, Violation } from '../../src/activities/controls/control.js';
import { ec2Imdsv2Required, type InstanceMetadataState } from '../../src/activities/controls/ec2-imdsv2-required.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor, REGION } from '../helpers/fixtures.js';
import { testAws } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const control = ec2Imdsv2Required;
const catalog = control.catalog!;

const finding = (instanceId: string, o: Partial<Finding> = {}) =>
  findingFor('ec2-imdsv2-required' as ControlId, instanceId, { resource: { type: 'AwsEc2Instance' as ResourceType, id: instanceId }, ...o });
const detail = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

const amis = new Map<string, Promise<string>>();
/** An AMI moto knows in the region (any id works unless moto validates AMIs). */
function ami(region: string): Promise<string> {
  let p = amis.get(region);
  if (!p) {
    p = aws
      .ec2(region)
      .send(new DescribeImagesCommand({ Owners: ['amazon'] }))
      .then((o) => o.Images?.[0]?.ImageId ?? 'ami-0abcdef1234567890');
    amis.set(region, p);
  }
  return p;
}
async function launch(options: InstanceMetadataOptionsRequest, o: { region?: string; tags?: Record<string, string> } = {}): Promise<string> {
  const region = o.region ?? REGION;
  const tags = Object.entries(o.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  const out = await aws.ec2(region).send(
    new RunInstancesCommand({
      ImageId: await ami(region),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      MetadataOptions: options,
      ...(tags.length ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
    }),
  );
  return out.Instances![0]!.InstanceId!;
}
async function liveOptions(id: string, region = REGION) {
  const out = await aws.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const m = out.Reservations![0]!.Instances![0]!.MetadataOptions!;
  return { HttpTokens: m.HttpTokens, HttpEndpoint: m.HttpEndpoint, HttpPutResponseHopLimit: m.HttpPutResponseHopLimit, InstanceMetadataTags: m.InstanceMetadataTags };
}
const V1: InstanceMetadataOptionsRequest = { HttpTokens: 'optional', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled' };

async function scanAll<St, C>(c: Control<St, C>, region: string, pageSize: number) {
  const violations: Violation[] = [];
  let pages = 0;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const page = await c.scanPage(aws, { account: ACCOUNT, region, settings: S, pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(pageSize);
    violations.push(...page.violations);
    scanned += page.scanned;
    pages++;
    pageToken = page.nextPageToken;
  } while (pageToken && pages < 1000);
  return { violations, pages, scanned };
}

describe('EC2 IMDSv2 required against moto', () => {
  it('IMDSv1 allowed: HttpTokens required, the other options and a concurrent change kept, safe to repeat; undo puts optional back', async () => {
    const id = await launch(V1, { tags: { team: 'web' } });
    const f = finding(id);

    const { state: before, tags } = await control.read(aws, f);
    expect(before).toEqual({
      instanceId: id,
      instanceState: 'running',
      httpTokens: 'optional',
      httpEndpoint: 'enabled',
      httpPutResponseHopLimit: 2,
      httpProtocolIpv6: 'disabled',
      instanceMetadataTags: 'enabled',
      optionsState: 'applied',
    });
    expect(tags).toEqual({ team: 'web' });
    expect(control.describe(before)).toBe('IMDSv1 ALLOWED (HttpTokens optional); metadata endpoint on, hop limit 2; instance running');

    const change = control.plan(before, S)!;
    expect(change).toEqual({ instanceId: id, httpTokens: 'required', previousHttpTokens: 'optional' });
    expect(control.summarize(change, f)).toBe(`Require IMDSv2 on EC2 instance ${id} (HttpTokens optional -> required)`);
    expect(control.check(before, change, before, S)).toEqual([`EC2 instance ${id} still allows IMDSv1 (HttpTokens optional)`]);

    // Someone raises the hop limit between the plan and the fix (sending every option: moto resets the ones left out).
    await aws.ec2(REGION).send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, ...V1, HttpPutResponseHopLimit: 3 }));

    await control.apply(aws, f, change);
    expect(await liveOptions(id)).toEqual({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 3, InstanceMetadataTags: 'enabled' });
    const { state: after } = await control.read(aws, f);
    expect(control.check(before, change, after, S)).toEqual([]);
    expect(control.plan(after, S)).toBeNull();
    await control.apply(aws, f, change);
    expect(await liveOptions(id)).toEqual({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 3, InstanceMetadataTags: 'enabled' });

    await control.undo(aws, f, before, change);
    const { state: undone } = await control.read(aws, f);
    expect(control.checkUndo(before, change, undone)).toEqual([]);
    expect(await liveOptions(id)).toEqual({ HttpTokens: 'optional', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 3, InstanceMetadataTags: 'enabled' });
    await control.undo(aws, f, before, change);
    expect(await liveOptions(id)).toEqual({ HttpTokens: 'optional', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 3, InstanceMetadataTags: 'enabled' });
    expect(control.checkUndo(before, change, after)).toEqual([`EC2 instance ${id} has HttpTokens required, expected optional`]);
  });

  it('a change AWS still applies (metadata options state pending) does not hold yet', () => {
    const s: InstanceMetadataState = { instanceId: 'i-0a1b2c3d', instanceState: 'running', httpTokens: 'optional', httpEndpoint: 'enabled', optionsState: 'applied' };
    const change = control.plan(s, S)!;
    expect(control.check(s, change, { ...s, httpTokens: 'required', optionsState: 'pending' }, S)).toEqual(['EC2 instance i-0a1b2c3d: the metadata options change is still pending']);
    expect(control.check(s, change, { ...s, httpTokens: 'required' }, S)).toEqual([]);
  });

  it('IMDSv2 required, or the metadata endpoint off: compliant', async () => {
    for (const options of [{ HttpTokens: 'required', HttpEndpoint: 'enabled' }, { HttpTokens: 'optional', HttpEndpoint: 'disabled' }] as const) {
      const id = await launch(options);
      const { state } = await control.read(aws, finding(id));
      expect(control.plan(state, S)).toBeNull();
    }
  });

  it('tag writes the exemption tag on the instance', async () => {
    const id = await launch(V1, { tags: { team: 'web' } });
    await control.tag!(aws, finding(id), 'rectify:exempt-until', '2031-01-01');
    const out = await aws.ec2(REGION).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(Object.fromEntries((out.Reservations![0]!.Instances![0]!.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({ team: 'web', 'rectify:exempt-until': '2031-01-01' });
  });

  it('a missing or terminated instance is a non-retryable ResourceNotFound', async () => {
    const terminated = await launch(V1);
    await aws.ec2(REGION).send(new TerminateInstancesCommand({ InstanceIds: [terminated] }));
    for (const id of ['i-0123456789abcdef0', terminated]) {
      const f = await failureOf(control.read(aws, finding(id)));
      expect(f.type).toBe(ErrorType.ResourceNotFound);
      expect(f.nonRetryable).toBe(true);
    }
  });

  it('scan finds exactly the instances allowing IMDSv1 (terminated ones aside), across pages', async () => {
    const region = 'ap-southeast-2';
    const open = [await launch(V1, { region }), await launch({ HttpTokens: 'optional' }, { region }), await launch(V1, { region })];
    const closed = [await launch({ HttpTokens: 'required' }, { region }), await launch({ HttpTokens: 'optional', HttpEndpoint: 'disabled' }, { region })];
    const gone = await launch(V1, { region });
    await aws.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
    const { violations, pages, scanned } = await scanAll(control, region, 2);
    const mine = new Set([...open, ...closed, gone]);
    expect(violations.filter((v) => mine.has(v.resourceId)).map((v) => v.resourceId).sort()).toEqual([...open].sort());
    expect(scanned).toBeGreaterThanOrEqual(open.length + closed.length);
    expect(pages).toBeGreaterThan(1);
    for (const v of violations) expect((await liveOptions(v.resourceId, region)).HttpTokens).toBe('optional');
    expect(violations.find((v) => v.resourceId === open[0])).toEqual({ resourceId: open[0], title: `EC2 instance ${open[0]} allows IMDSv1 (HttpTokens optional)`, severity: 'HIGH' });
  });
});

describe('EC2 IMDSv2 required catalog', () => {
  it('facts', () => {
    expect(catalog).toMatchObject({
      resourceType: 'AwsEc2Instance',
      severity: 'HIGH',
      securityHub: ['EC2.8'],
      configRules: ['ec2-imdsv2-check'],
      cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['RunInstances', 'ModifyInstanceMetadataOptions'] }],
      defaultMode: 'approve',
    });
  });

  it('resourceId takes instance ids and ARNs, nothing else', () => {
    expect(catalog.resourceId('i-0a1b2c3d4e5f60718')).toBe('i-0a1b2c3d4e5f60718');
    expect(catalog.resourceId('i-0a1b2c3d')).toBe('i-0a1b2c3d');
    expect(catalog.resourceId('I-0A1B2C3D4E5F60718')).toBe('i-0a1b2c3d4e5f60718');
    expect(catalog.resourceId('arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60718')).toBe('i-0a1b2c3d4e5f60718');
    for (const bad of ['arn:aws:ec2:us-east-1:123456789012:volume/vol-0a1b2c3d', 'i-xyz', 'i-0a1b2c3d4e', 'sg-0a1b2c3d', 'orders-db', 'AWS::::Account:123456789012', '']) {
      expect(catalog.resourceId(bad), bad).toBeUndefined();
    }
  });

  it('fromCloudTrail: instances launched or changed to allow IMDSv1 are named; IMDSv2 and unrelated changes are ignored', () => {
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-run-instances-imdsv1'))).toEqual({
      resources: [
        { id: 'i-0a1b2c3d4e5f60718', title: 'EC2 instance i-0a1b2c3d4e5f60718 launched allowing IMDSv1 (RunInstances)' },
        { id: 'i-0a1b2c3d4e5f60719', title: 'EC2 instance i-0a1b2c3d4e5f60719 launched allowing IMDSv1 (RunInstances)' },
      ],
    });
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-run-instances-imdsv2'))).toEqual({ ignore: 'launched with IMDSv2 required: i-0b1c2d3e4f5a60718' });
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-modify-instance-metadata-options-optional'))).toEqual({
      resources: [{ id: 'i-0c1d2e3f4a5b60718', title: 'EC2 instance i-0c1d2e3f4a5b60718: metadata options changed to allow IMDSv1 (ModifyInstanceMetadataOptions)' }],
    });
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-modify-instance-metadata-options-required'))).toEqual({ ignore: 'requires IMDSv2 on i-0c1d2e3f4a5b60718' });
    expect(catalog.fromCloudTrail(detail('cloudtrail-ec2-modify-instance-metadata-options-hop-limit'))).toEqual({ ignore: 'changes neither HttpTokens nor HttpEndpoint of i-0c1d2e3f4a5b60718' });
  });

  it('fromCloudTrail: an instance launched without logged metadata options is checked', () => {
    const d = detail('cloudtrail-ec2-run-instances-imdsv2');
    const res = d['responseElements'] as { instancesSet: { items: Record<string, unknown>[] } };
    const items = res.instancesSet.items.map(({ metadataOptions: _m, ...rest }) => rest);
    expect(catalog.fromCloudTrail({ ...d, responseElements: { ...res, instancesSet: { items } } })).toEqual({
      resources: [{ id: 'i-0b1c2d3e4f5a60718', title: 'EC2 instance i-0b1c2d3e4f5a60718 launched with metadata options not logged (RunInstances)' }],
    });
    expect(catalog.fromCloudTrail({ ...d, responseElements: null })).toEqual({ ignore: 'no launched instance in the RunInstances record' });
  });
});
