import { GetLoginProfileCommand, GetUserCommand, ListMFADevicesCommand, ListUsersCommand, TagUserCommand } from '@aws-sdk/client-iam';
import { iamUserName, readByNormalizer } from './resource-ids.js';
import { ApplicationFailure } from '@temporalio/common';
import { ControlId, Severity, type Finding } from '../../findings/finding.js';
import { ErrorType } from '../../errors.js';
import { awsCall, awsErrorCode } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import { assertAccount } from './account.js';
import type { Control, Violation } from './control.js';
import { clamp, judgeEach, nextPage } from './scan-util.js';

export interface IamUserMfaState {
  readonly userName: string;
  /** The user has a console password (a login profile). */
  readonly consoleAccess: boolean;
  /** MFA devices assigned to the user. */
  readonly mfaDevices: number;
}
/** What the owner must do; nothing is changed automatically. */
export interface EnableMfaRequest {
  readonly userName: string;
  readonly action: 'enable-mfa';
  readonly message: string;
}

/** The one definition of compliant: no console access, or at least one MFA device. */
export function isMfaCompliant(state: IamUserMfaState): boolean {
  return !state.consoleAccess || state.mfaDevices > 0;
}

export function planMfa(state: IamUserMfaState): EnableMfaRequest | null {
  if (isMfaCompliant(state)) return null;
  return { userName: state.userName, action: 'enable-mfa', message: `Enable MFA for IAM user ${state.userName} (console access without MFA)` };
}

const isNoSuchEntity = (err: unknown) => {
  const code = awsErrorCode(err);
  return code === 'NoSuchEntity' || code === 'NoSuchEntityException';
};

/** Console access and MFA devices of a user known to exist. */
async function readUserMfa(aws: AwsClients, userName: string): Promise<IamUserMfaState> {
  const iam = aws.iam();
  const [consoleAccess, mfa] = await Promise.all([
    awsCall(`GetLoginProfile for ${userName}`, async () => {
      try {
        await iam.send(new GetLoginProfileCommand({ UserName: userName }));
        return true;
      } catch (err) {
        if (isNoSuchEntity(err)) return false; // no console password (or the user was just deleted: no console access either)
        throw err;
      }
    }),
    awsCall(`ListMFADevices for ${userName}`, () => iam.send(new ListMFADevicesCommand({ UserName: userName }))),
  ]);
  return { userName, consoleAccess, mfaDevices: mfa.MFADevices?.length ?? 0 };
}

function notifyOnly(what: string, finding: Finding): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.UnsupportedControl,
    message: `${what} for IAM user ${finding.resource.id}: ${ControlId.IamUserConsoleMfa} has no automatic fix: notify only`,
    nonRetryable: true,
  });
}

export const iamUserMfa: Control<IamUserMfaState, EnableMfaRequest> = {
  id: ControlId.IamUserConsoleMfa,
  title: 'IAM users with console access must have MFA',
  fixable: false,
  catalog: {
    resourceType: 'AwsIamUser',
    global: true,
    severity: Severity.Medium,
    securityHub: ['IAM.5', 'IAM.19'],
    configRules: ['mfa-enabled-for-iam-console-access', 'iam-user-mfa-enabled'],
    cloudTrail: [{ eventSource: 'iam.amazonaws.com', eventNames: ['CreateLoginProfile', 'DeactivateMFADevice'] }],
    changes: 'Nothing: only the user can enrol an MFA device; the owner is told and chased until it is on',
    defaultMode: 'notify',
    undo: 'nothing to undo (changes nothing)',
    resourceIdHint: 'an IAM user name or ARN',
    resourceId: iamUserName,
    fromCloudTrail: readByNormalizer,
  },

  async read(aws, finding) {
    const userName = finding.resource.id;
    await assertAccount(aws, finding.region, finding.account, `GetUser ${userName}`);
    // GetUser first: NoSuchEntity here means the user is gone (ResourceNotFound: 404), not "no login profile".
    const out = await awsCall(`GetUser ${userName}`, () => aws.iam().send(new GetUserCommand({ UserName: userName })));
    const tags: Record<string, string> = {};
    for (const t of out.User?.Tags ?? []) if (t.Key !== undefined) Object.defineProperty(tags, t.Key, { value: t.Value ?? '', enumerable: true, writable: true, configurable: true });
    return { state: await readUserMfa(aws, userName), tags };
  },

  plan: (state) => planMfa(state),

  apply(_aws, finding) {
    return Promise.reject(notifyOnly('apply', finding));
  },

  check: (_before, _change, after) => (isMfaCompliant(after) ? [] : [`IAM user ${after.userName} still has console access without MFA`]),

  undo(_aws, finding) {
    return Promise.reject(notifyOnly('undo', finding));
  },

  /** Nothing is ever changed, so there is nothing to restore. */
  checkUndo: () => [],

  async tag(aws, finding, key, value) {
    const userName = finding.resource.id;
    await assertAccount(aws, finding.region, finding.account, `TagUser ${userName}`);
    await awsCall(`TagUser ${userName}`, () => aws.iam().send(new TagUserCommand({ UserName: userName, Tags: [{ Key: key, Value: value }] })));
  },

  /** IAM is global: the region only names where the scan runs. ListUsers page, then each user's login profile and MFA devices. */
  async scanPage(aws, o) {
    const page = await nextPage(o.pageToken, o.pageSize, async (marker) => {
      const out = await awsCall('ListUsers', () => aws.iam().send(new ListUsersCommand({ MaxItems: clamp(o.pageSize, 1, 1000), ...(marker ? { Marker: marker } : {}) })));
      return { items: (out.Users ?? []).flatMap((u) => (u.UserName ? [u.UserName] : [])), next: out.IsTruncated ? out.Marker : undefined };
    });
    const judged = await judgeEach(
      page.items,
      (userName) => readUserMfa(aws, userName),
      (userName, state): Violation | null => (planMfa(state) ? { resourceId: userName, title: `IAM user ${userName} has console access without MFA`, severity: Severity.Medium } : null),
    );
    return {
      ...judged,
      scanned: page.items.length,
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    };
  },

  describe: (state) => `console access ${state.consoleAccess ? 'on' : 'off'}, ${state.mfaDevices} MFA device${state.mfaDevices === 1 ? '' : 's'}`,

  summarize: (change) => change.message,
};
