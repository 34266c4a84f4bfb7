import { afterAll, describe, expect, it } from 'vitest';
import { ListUserTagsCommand } from '@aws-sdk/client-iam';
import { ErrorType } from '../../src/errors.js';
import { ControlId } from '../../src/findings/finding.js';
import { DEFAULT_SETTINGS, enableVirtualMfa, findingFor, makeIamUser } from '../helpers/fixtures.js';
import { unique } from '../helpers/stack.js';
import { activityHarness, failureOf, scanAll } from './harness.js';

const { aws, acts, run } = activityHarness();
const S = DEFAULT_SETTINGS;
afterAll(() => aws.destroy());

const finding = (userName: string) => findingFor(ControlId.IamUserConsoleMfa, userName);

describe('IAM user console MFA against moto', () => {
  it('console access without MFA: non-compliant, not fixable, the plan says what the owner must do', async () => {
    const user = await makeIamUser(aws, { loginProfile: true, tags: { team: 'payments' } });
    const t = await run(acts.triageFinding, finding(user), S);
    expect(t.compliant).toBe(false);
    expect(t.fixable).toBe(false);
    expect(t.before).toEqual({ userName: user, consoleAccess: true, mfaDevices: 0 });
    expect(t.tags).toEqual({ team: 'payments' });
    expect(t.stateSummary).toBe('console access on, 0 MFA devices');
    expect(t.plannedChange?.summary).toBe(`Enable MFA for IAM user ${user} (console access without MFA)`);
    expect(t.plannedChange?.details).toEqual({ userName: user, action: 'enable-mfa', message: `Enable MFA for IAM user ${user} (console access without MFA)` });

    // A notify-only re-check: fails while the owner has not acted, holds once MFA is on.
    const f = await failureOf(run(acts.verifyFix, finding(user), t.before, t.plannedChange!, S));
    expect(f.type).toBe(ErrorType.NotYetCompliant);
    expect(f.message).toContain('still has console access without MFA');
    await enableVirtualMfa(aws, user);
    const v = await run(acts.verifyFix, finding(user), t.before, t.plannedChange!, S);
    expect(v.after).toEqual({ userName: user, consoleAccess: true, mfaDevices: 1 });
  });

  it('console access with MFA is compliant', async () => {
    const user = await makeIamUser(aws, { loginProfile: true, mfa: true });
    const t = await run(acts.triageFinding, finding(user), S);
    expect(t.compliant).toBe(true);
    expect(t.stateSummary).toBe('console access on, 1 MFA device');
  });

  it('no console access (no login profile) is compliant', async () => {
    const user = await makeIamUser(aws);
    const t = await run(acts.triageFinding, finding(user), S);
    expect(t.compliant).toBe(true);
    expect(t.before).toEqual({ userName: user, consoleAccess: false, mfaDevices: 0 });
  });

  it('apply and undo throw a non-retryable UnsupportedControl and change nothing', async () => {
    const user = await makeIamUser(aws, { loginProfile: true });
    const apply = await failureOf(run(acts.applyFix, finding(user), S));
    expect(apply.type).toBe(ErrorType.UnsupportedControl);
    expect(apply.nonRetryable).toBe(true);
    expect(apply.message).toContain('no automatic fix: notify only');
    const t = await run(acts.triageFinding, finding(user), S);
    const undo = await failureOf(run(acts.undoFix, finding(user), t.before, t.plannedChange!));
    expect(undo.type).toBe(ErrorType.UnsupportedControl);
    expect(undo.nonRetryable).toBe(true);
    expect((await run(acts.triageFinding, finding(user), S)).before).toEqual(t.before);
  });

  it('an unknown user is a non-retryable ResourceNotFound (IAM NoSuchEntity, HTTP 404)', async () => {
    const f = await failureOf(run(acts.triageFinding, finding('no-such-user-rectify'), S));
    expect(f.type).toBe(ErrorType.ResourceNotFound);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('NoSuchEntity');
  });

  it('marking exempt tags the user (TagUser) and keeps its other tags', async () => {
    const user = await makeIamUser(aws, { loginProfile: true, tags: { team: 'payments' } });
    expect(await run(acts.markExempt, finding(user), 'rectify:exempt-until', '2031-01-01')).toBe(true);
    const tags = await aws.iam().send(new ListUserTagsCommand({ UserName: user }));
    expect(Object.fromEntries((tags.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({ team: 'payments', 'rectify:exempt-until': '2031-01-01' });
  });

  it('scan pages through the users and reports exactly those with console access and no MFA', async () => {
    const prefix = unique('mfascan');
    const violating = [await makeIamUser(aws, { prefix, loginProfile: true }), await makeIamUser(aws, { prefix, loginProfile: true })];
    await makeIamUser(aws, { prefix, loginProfile: true, mfa: true });
    await makeIamUser(aws, { prefix });
    await makeIamUser(aws, { prefix, mfa: true });
    const { violations, pages, scanned } = await scanAll(aws, ControlId.IamUserConsoleMfa, { region: 'us-east-1', pageSize: 2 });
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(scanned).toBeGreaterThanOrEqual(5);
    const mine = violations.filter((v) => v.resourceId.startsWith(prefix));
    expect(mine.map((v) => v.resourceId).sort()).toEqual([...violating].sort());
    expect(mine.every((v) => v.severity === 'MEDIUM' && v.title === `IAM user ${v.resourceId} has console access without MFA`)).toBe(true);
  });
});
