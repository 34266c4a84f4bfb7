import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddTagsCommand, CreateTrailCommand, GetTrailCommand, ListTagsCommand, UpdateTrailCommand } from '@aws-sdk/client-cloudtrail';
import type { ScanPage, Violation } from '../../src/activities/controls/control.js';
import { cloudTrailLogValidation, parseTrailArn } from '../../src/activities/controls/cloudtrail-log-validation.js';
import { ErrorType } from '../../src/errors.js';
import type { ControlId, Finding, ResourceType } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor, makeBucket } from '../helpers/fixtures.js';
import { testAws, unique } from '../helpers/stack.js';
import { failureOf } from './harness.js';

const aws = testAws();
afterAll(() => aws.destroy());
const S = DEFAULT_SETTINGS;
const c = cloudTrailLogValidation;
const catalog = c.catalog!;

// Regions no other test file uses for trails; the scan still looks only at this file's trails.
const REGION = 'eu-west-3';
const OTHER = 'ap-south-1';
let bucket: string;
beforeAll(async () => {
  bucket = await makeBucket(aws, undefined, {}, { prefix: 'trail-logs' });
});

const finding = (arn: string, region = parseTrailArn(arn)?.region ?? REGION): Finding =>
  findingFor('cloudtrail-log-validation' as ControlId, arn, { region, resource: { type: 'AwsCloudTrailTrail' as ResourceType, id: arn } });

async function makeTrail(o: { validation?: boolean; multiRegion?: boolean; region?: string; tags?: Record<string, string> } = {}): Promise<string> {
  const out = await aws.cloudTrail(o.region ?? REGION).send(
    new CreateTrailCommand({
      Name: unique('trail'),
      S3BucketName: bucket,
      EnableLogFileValidation: o.validation ?? false,
      IsMultiRegionTrail: o.multiRegion ?? false,
      ...(o.tags ? { TagsList: Object.entries(o.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
    }),
  );
  return out.TrailARN!;
}
const live = async (arn: string) => (await aws.cloudTrail(parseTrailArn(arn)!.region).send(new GetTrailCommand({ Name: arn }))).Trail!;
const tagsOf = async (arn: string) =>
  Object.fromEntries(
    ((await aws.cloudTrail(parseTrailArn(arn)!.region).send(new ListTagsCommand({ ResourceIdList: [arn] }))).ResourceTagList?.[0]?.TagsList ?? []).map((t) => [t.Key, t.Value]),
  );
const fixture = (name: string) => (JSON.parse(readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8')) as { detail: Record<string, unknown> }).detail;

async function scanAll(region: string, pageSize: number) {
  const violations: Violation[] = [];
  let pages = 0;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const page: ScanPage = await c.scanPage(aws, { account: ACCOUNT, region, settings: S, pageSize, ...(pageToken ? { pageToken } : {}) });
    expect(page.scanned).toBeLessThanOrEqual(pageSize);
    violations.push(...page.violations);
    scanned += page.scanned;
    pages++;
    pageToken = page.nextPageToken;
  } while (pageToken && pages < 1000);
  return { violations, pages, scanned };
}

describe('CloudTrail log file validation against moto', () => {
  it('validation off: plans exactly turning it on, fix holds, a second apply changes nothing, undo turns it off again', async () => {
    const arn = await makeTrail({ multiRegion: true, tags: { team: 'security' } });
    const name = parseTrailArn(arn)!.name;
    const { state: before, tags } = await c.read(aws, finding(arn));
    expect(before).toEqual({ trailArn: arn, name, homeRegion: REGION, multiRegion: true, organizationTrail: false, logFileValidation: false });
    expect(tags).toEqual({ team: 'security' });
    expect(c.describe(before)).toBe('log file validation OFF, multi-Region trail');
    const change = c.plan(before, S);
    expect(change).toEqual({ trailArn: arn, enableLogFileValidation: true });
    expect(c.summarize(change!, finding(arn))).toBe(`Turn on log file validation for CloudTrail trail ${name} (${REGION})`);

    await c.apply(aws, finding(arn), change!);
    expect((await live(arn)).LogFileValidationEnabled).toBe(true);
    const { state: after } = await c.read(aws, finding(arn));
    expect(after).toEqual({ ...before, logFileValidation: true });
    expect(c.check(before, change!, after, S)).toEqual([]);
    expect(c.plan(after, S)).toBeNull();

    await c.apply(aws, finding(arn), change!);
    expect((await c.read(aws, finding(arn))).state).toEqual(after);

    await c.undo(aws, finding(arn), before, change!);
    const { state: undone } = await c.read(aws, finding(arn));
    expect(undone).toEqual(before);
    expect(c.checkUndo(before, change!, undone)).toEqual([]);
    await c.undo(aws, finding(arn), before, change!);
    expect((await live(arn)).LogFileValidationEnabled).toBe(false);
    expect((await live(arn)).IsMultiRegionTrail).toBe(true);
    expect(await tagsOf(arn)).toEqual({ team: 'security' });
  });

  it('check and checkUndo name what does not hold', async () => {
    const arn = await makeTrail();
    const { state } = await c.read(aws, finding(arn));
    const change = c.plan(state, S)!;
    expect(c.check(state, change, state, S)).toEqual([`log file validation of trail ${arn} is still off`]);
    expect(c.checkUndo(state, change, { ...state, logFileValidation: true })).toEqual([`log file validation of trail ${arn} is on, expected off`]);
  });

  it('validation on: compliant', async () => {
    const arn = await makeTrail({ validation: true });
    const { state } = await c.read(aws, finding(arn));
    expect(c.plan(state, S)).toBeNull();
    expect(c.describe(state)).toBe('log file validation on');
  });

  it('a finding raised in another region acts on the trail in its home region', async () => {
    const arn = await makeTrail({ multiRegion: true });
    const f = finding(arn, 'us-east-1');
    const { state } = await c.read(aws, f);
    await c.apply(aws, f, c.plan(state, S)!);
    expect((await live(arn)).LogFileValidationEnabled).toBe(true);
  });

  it('an edit between plan and apply (another setting, a tag) is kept', async () => {
    const arn = await makeTrail({ tags: { team: 'security' } });
    const { state } = await c.read(aws, finding(arn));
    const change = c.plan(state, S)!;
    await aws.cloudTrail(REGION).send(new UpdateTrailCommand({ Name: arn, S3KeyPrefix: 'edited-meanwhile' }));
    await aws.cloudTrail(REGION).send(new AddTagsCommand({ ResourceId: arn, TagsList: [{ Key: 'owner', Value: 'jane' }] }));
    await c.apply(aws, finding(arn), change);
    const trail = await live(arn);
    expect(trail.LogFileValidationEnabled).toBe(true);
    expect(trail.S3KeyPrefix).toBe('edited-meanwhile');
    expect(trail.S3BucketName).toBe(bucket);
    expect(await tagsOf(arn)).toEqual({ team: 'security', owner: 'jane' });
  });

  it('marking exempt tags the trail and keeps its other tags', async () => {
    const arn = await makeTrail({ tags: { team: 'security' } });
    await c.tag!(aws, finding(arn), 'rectify:exempt-until', '2031-01-01');
    expect(await tagsOf(arn)).toEqual({ team: 'security', 'rectify:exempt-until': '2031-01-01' });
  });

  it('an unknown trail is a non-retryable ResourceNotFound', async () => {
    const arn = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/${unique('no-such-trail')}`;
    const f = await failureOf(c.read(aws, finding(arn)));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('TrailNotFoundException');
  });

  it("a trail of another account (an organization trail seen from a member) is refused, non-retryable, before any call", async () => {
    const arn = `arn:aws:cloudtrail:${REGION}:210987654321:trail/org-trail`;
    for (const p of [c.read(aws, finding(arn)), c.apply(aws, finding(arn), { trailArn: arn, enableLogFileValidation: true })]) {
      const f = await failureOf(p);
      expect(f.type).toBe(ErrorType.AccessDenied);
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toContain('belongs to account 210987654321');
    }
  });

  it('scan pages through the trails homed in the region and reports exactly those without validation, each once', async () => {
    const violating = [await makeTrail(), await makeTrail({ multiRegion: true }), await makeTrail()];
    const compliant = await makeTrail({ validation: true });
    // Homed elsewhere: a multi-Region trail shows in every region, but is reported only by its home region.
    const elsewhere = await makeTrail({ region: OTHER, multiRegion: true });
    const mine = new Set([...violating, compliant, elsewhere]);

    const { violations, pages, scanned } = await scanAll(REGION, 2);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(scanned).toBeGreaterThanOrEqual(4);
    const found = violations.filter((v) => mine.has(v.resourceId));
    expect(found.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(found.every((v) => v.severity === 'LOW' && v.title === `CloudTrail trail ${parseTrailArn(v.resourceId)!.name} (${REGION}): log file validation is off`)).toBe(true);
    expect(new Set(violations.map((v) => v.resourceId)).size).toBe(violations.length);

    const other = await scanAll(OTHER, 1);
    expect(other.violations.filter((v) => mine.has(v.resourceId)).map((v) => v.resourceId)).toEqual([elsewhere]);
  });
});

describe('CloudTrail log file validation catalog', () => {
  const arn = `arn:aws:cloudtrail:eu-west-1:${ACCOUNT}:trail/management-events`;

  it('states its sources and what it changes', () => {
    expect(catalog).toMatchObject({
      resourceType: 'AwsCloudTrailTrail',
      severity: 'LOW',
      securityHub: ['CloudTrail.4'],
      configRules: ['cloud-trail-log-file-validation-enabled'],
      cloudTrail: [{ eventSource: 'cloudtrail.amazonaws.com', eventNames: ['CreateTrail', 'UpdateTrail'] }],
      defaultMode: 'auto',
    });
  });

  it('resourceId takes trail ARNs only (a bare name names no home region or account)', () => {
    expect(catalog.resourceId(arn)).toBe(arn);
    expect(catalog.resourceId(`arn:aws-us-gov:cloudtrail:us-gov-west-1:${ACCOUNT}:trail/my_trail.1`)).toBe(`arn:aws-us-gov:cloudtrail:us-gov-west-1:${ACCOUNT}:trail/my_trail.1`);
    for (const bad of [
      'management-events',
      '',
      `arn:aws:cloudtrail:eu-west-1:${ACCOUNT}:eventdatastore/abc`,
      `arn:aws:cloudtrail:eu-west-1:${ACCOUNT}:trail/-bad-`,
      `arn:aws:cloudtrail:eu-west-1:${ACCOUNT}:trail/ab`,
      `arn:aws:s3:::management-events`,
      `arn:aws:cloudtrail:eu-west-1:12345:trail/management-events`,
    ]) {
      expect(catalog.resourceId(bad)).toBeUndefined();
    }
  });

  it('fromCloudTrail: a trail created or updated without validation is checked', () => {
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-cloudtrail-create-trail'))).toEqual({
      resources: [{ id: arn, title: 'CloudTrail trail management-events was created without log file validation' }],
    });
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-cloudtrail-update-trail-validation-off'))).toEqual({
      resources: [{ id: arn, title: 'CloudTrail trail management-events was updated and has no log file validation' }],
    });
  });

  it('fromCloudTrail: a call that leaves validation on is ignored', () => {
    expect(catalog.fromCloudTrail!(fixture('cloudtrail-cloudtrail-update-trail-validation-on'))).toEqual({ ignore: 'log file validation is on' });
  });

  it('fromCloudTrail: without a response, the ARN comes from the name, the region and the account of the record', () => {
    const record = fixture('cloudtrail-cloudtrail-update-trail-validation-off');
    expect(catalog.fromCloudTrail!({ ...record, responseElements: null })).toEqual({
      resources: [{ id: arn, title: 'CloudTrail trail management-events was updated and has no log file validation' }],
    });
    expect(catalog.fromCloudTrail!({ ...record, responseElements: null, requestParameters: { name: 'x', enableLogFileValidation: true } })).toEqual({
      ignore: 'log file validation is on',
    });
    expect(catalog.fromCloudTrail!({ ...record, responseElements: null, requestParameters: {} })).toEqual({ resources: [] });
  });
});
