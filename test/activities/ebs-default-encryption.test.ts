import { afterAll, describe, expect, it } from 'vitest';
import { DisableEbsEncryptionByDefaultCommand, EnableEbsEncryptionByDefaultCommand, GetEbsEncryptionByDefaultCommand } from '@aws-sdk/client-ec2';
import { ErrorType } from '../../src/errors.js';
import { ControlId } from '../../src/findings/finding.js';
import { ACCOUNT, DEFAULT_SETTINGS, findingFor } from '../helpers/fixtures.js';
import { activityHarness, failureOf, scanAll } from './harness.js';

const { aws, acts, run } = activityHarness();
const S = DEFAULT_SETTINGS;
afterAll(() => aws.destroy());

// Regions no other test file uses: the setting is account-wide per region and moto is shared.
const REGION = 'ca-central-1';
const finding = (region = REGION, account = ACCOUNT) => findingFor(ControlId.EbsDefaultEncryption, account, { region, account });
const live = async (region = REGION) => (await aws.ec2(region).send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault;
const set = async (region: string, on: boolean) =>
  aws.ec2(region).send(on ? new EnableEbsEncryptionByDefaultCommand({}) : new DisableEbsEncryptionByDefaultCommand({}));

describe('EBS encryption by default against moto', () => {
  it('off: triage plans turning it on, fix turns it on, verify holds, undo turns it off again', async () => {
    await set(REGION, false);
    const t = await run(acts.triageFinding, finding(), S);
    expect(t.compliant).toBe(false);
    expect(t.before).toEqual({ enabled: false });
    expect(t.tags).toEqual({});
    expect(t.stateSummary).toBe('EBS encryption by default OFF');
    expect(t.plannedChange?.summary).toBe(`Turn on EBS encryption by default in ${REGION} (account ${ACCOUNT})`);

    const fix = await run(acts.applyFix, finding(), S);
    expect(fix.applied).toBe(true);
    expect(await live()).toBe(true);
    expect(await live('us-west-2')).toBe(false); // only the finding's region
    await run(acts.verifyFix, finding(), fix.before, fix.change!, S);
    expect((await run(acts.applyFix, finding(), S)).applied).toBe(false);

    const undone = await run(acts.undoFix, finding(), fix.before, fix.change!);
    expect(undone.after).toEqual({ enabled: false });
    expect(await live()).toBe(false);
    await run(acts.undoFix, finding(), fix.before, fix.change!);
    expect(await live()).toBe(false);
  });

  it('on: compliant', async () => {
    await set('ap-northeast-1', true);
    const t = await run(acts.triageFinding, finding('ap-northeast-1'), S);
    expect(t.compliant).toBe(true);
    expect(t.stateSummary).toBe('EBS encryption by default on');
  });

  it('verification that finds it still off is a retryable NotYetCompliant', async () => {
    await set('ap-northeast-1', false);
    const t = await run(acts.triageFinding, finding('ap-northeast-1'), S);
    const f = await failureOf(run(acts.verifyFix, finding('ap-northeast-1'), t.before, t.plannedChange!, S));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.message).toContain('EBS encryption by default is still off');
  });

  it('cannot be tagged: markExempt answers false', async () => {
    expect(await run(acts.markExempt, finding(), 'rectify:exempt-until', '2031-01-01')).toBe(false);
  });

  it("a finding about another account is a non-retryable AccessDenied and changes nothing in this one", async () => {
    await set('ap-northeast-1', false);
    const f = await failureOf(run(acts.applyFix, finding('ap-northeast-1', '210987654321'), S));
    expect(f.type).toBe(ErrorType.AccessDenied);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('210987654321');
    expect(await live('ap-northeast-1')).toBe(false);
  });

  it('scan reports the account once per region where it is off', async () => {
    await set('sa-east-1', false);
    await set('eu-central-1', true);
    await set('ap-northeast-2', false);
    const found: Record<string, string[]> = {};
    for (const region of ['sa-east-1', 'eu-central-1', 'ap-northeast-2']) {
      const { violations, pages, scanned } = await scanAll(aws, ControlId.EbsDefaultEncryption, { region, pageSize: 1 });
      expect({ pages, scanned }).toEqual({ pages: 1, scanned: 1 });
      found[region] = violations.map((v) => v.resourceId);
      if (violations[0]) expect(violations[0].title).toContain(region);
    }
    expect(found).toEqual({ 'sa-east-1': [ACCOUNT], 'eu-central-1': [], 'ap-northeast-2': [ACCOUNT] });
  });
});
