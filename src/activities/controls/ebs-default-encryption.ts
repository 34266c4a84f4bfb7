import { DisableEbsEncryptionByDefaultCommand, EnableEbsEncryptionByDefaultCommand, GetEbsEncryptionByDefaultCommand } from '@aws-sdk/client-ec2';
import { accountId, readByNormalizer } from './resource-ids.js';
import { ControlId, Severity } from '../../findings/finding.js';
import { awsCall } from '../aws-errors.js';
import type { AwsClients } from '../aws.js';
import { assertAccount } from './account.js';
import type { Control } from './control.js';

/** The account's EBS encryption-by-default setting in one region (resource id = the account id). */
export interface EbsEncryptionState {
  readonly enabled: boolean;
}
export interface EnableEbsEncryptionChange {
  readonly enable: true;
}

/** Compliant = new EBS volumes in the region are encrypted by default. */
export function planEbsEncryption(state: EbsEncryptionState): EnableEbsEncryptionChange | null {
  return state.enabled ? null : { enable: true };
}

async function readEbsEncryption(aws: AwsClients, region: string): Promise<EbsEncryptionState> {
  const out = await awsCall(`GetEbsEncryptionByDefault in ${region}`, () => aws.ec2(region).send(new GetEbsEncryptionByDefaultCommand({})));
  return { enabled: out.EbsEncryptionByDefault === true };
}

export const ebsDefaultEncryption: Control<EbsEncryptionState, EnableEbsEncryptionChange> = {
  id: ControlId.EbsDefaultEncryption,
  title: 'EBS encryption by default must be on in every region',
  fixable: true,
  catalog: {
    resourceType: 'AwsAccount',
    severity: Severity.Medium,
    securityHub: ['EC2.7'],
    configRules: ['ec2-ebs-encryption-by-default'],
    cloudTrail: [{ eventSource: 'ec2.amazonaws.com', eventNames: ['DisableEbsEncryptionByDefault'] }],
    changes: "Turns on EBS encryption by default in the finding's region",
    defaultMode: 'auto',
    undo: 'exact: turned off again',
    resourceIdHint: 'an account id (or AWS::::Account:<id>)',
    resourceId: accountId,
    fromCloudTrail: readByNormalizer,
  },

  async read(aws, finding) {
    await assertAccount(aws, finding.region, finding.resource.id, `GetEbsEncryptionByDefault in ${finding.region}`);
    return { state: await readEbsEncryption(aws, finding.region), tags: {} };
  },

  plan: (state) => planEbsEncryption(state),

  async apply(aws, finding) {
    await assertAccount(aws, finding.region, finding.resource.id, `EnableEbsEncryptionByDefault in ${finding.region}`);
    await awsCall(`EnableEbsEncryptionByDefault in ${finding.region}`, () => aws.ec2(finding.region).send(new EnableEbsEncryptionByDefaultCommand({})));
  },

  check: (_before, _change, after) => (after.enabled ? [] : ['EBS encryption by default is still off']),

  /** Turns it off again (a change exists only when it was off before). */
  async undo(aws, finding, before) {
    if (before.enabled) return;
    await assertAccount(aws, finding.region, finding.resource.id, `DisableEbsEncryptionByDefault in ${finding.region}`);
    await awsCall(`DisableEbsEncryptionByDefault in ${finding.region}`, () => aws.ec2(finding.region).send(new DisableEbsEncryptionByDefaultCommand({})));
  },

  checkUndo: (before, _change, after) => (after.enabled === before.enabled ? [] : [`EBS encryption by default is ${after.enabled ? 'on' : 'off'}, expected ${before.enabled ? 'on' : 'off'}`]),

  // No tag: an account's regional setting cannot carry tags.

  /** One "resource" per region: the account's setting there. */
  async scanPage(aws, o) {
    const state = await readEbsEncryption(aws, o.region);
    const violations = planEbsEncryption(state) ? [{ resourceId: o.account, title: `EBS encryption by default is off in ${o.region} (account ${o.account})`, severity: Severity.Medium }] : [];
    return { violations, scanned: 1 };
  },

  describe: (state) => `EBS encryption by default ${state.enabled ? 'on' : 'OFF'}`,

  summarize(_change, finding) {
    return `Turn on EBS encryption by default in ${finding.region} (account ${finding.resource.id})`;
  },
};
