import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { ListAccountsCommand } from '@aws-sdk/client-organizations';
import { heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { ControlId, Finding } from '../findings/finding.js';
import type { Policy } from '../policy/types.js';
import { controlPolicyFor } from '../policy/load.js';
import { createSubmitter, type SubmitResult } from '../triggers/submit.js';
import { awsCall } from './aws-errors.js';
import type { AwsClients } from './aws.js';
import { registeredControls, requireControl } from './controls/index.js';
import type { ScanPage } from './controls/control.js';

export interface ScanDeps {
  readonly aws: AwsClients;
  readonly client: Client;
  readonly taskQueue: string;
  /** The worker's policy: scanned findings are decided by the same policy as webhook findings. */
  readonly policy: Policy;
  readonly verifyDeadlineMs: number;
}

export function createScanActivities(d: ScanDeps) {
  const submitter = createSubmitter(d.client, { taskQueue: d.taskQueue, verifyDeadlineMs: d.verifyDeadlineMs, policy: d.policy });
  return {
    /**
     * The controls this worker knows (built in and registered), in order, and which are global:
     * what a scan with no list of its own covers, so that a control added to the worker is
     * scanned with no change to the scan workflow.
     */
    async listControls(): Promise<{ id: ControlId; global: boolean }[]> {
      return registeredControls().map((c) => ({ id: c.id, global: c.catalog.global === true }));
    },

    /** The account the worker's credentials belong to (STS GetCallerIdentity). */
    async whoAmI(region: string): Promise<string> {
      const out = await awsCall('GetCallerIdentity', () => d.aws.sts(region).send(new GetCallerIdentityCommand({})));
      return out.Account ?? '';
    },

    /** The active accounts of the AWS Organization, from the hub (organizations:ListAccounts, every page). */
    async listOrganizationAccounts(): Promise<string[]> {
      const accounts: string[] = [];
      let token: string | undefined;
      do {
        const out = await awsCall('ListAccounts', () => d.aws.organizations().send(new ListAccountsCommand({ ...(token ? { NextToken: token } : {}) })));
        for (const a of out.Accounts ?? []) {
          const state = (a as { State?: string }).State ?? a.Status;
          if (a.Id && (state === undefined || state === 'ACTIVE')) accounts.push(a.Id);
        }
        token = out.NextToken;
      } while (token);
      return accounts.sort();
    },

    /** One page of a control's resources in a region, and which of them violate it under the policy's settings. Read-only. */
    async scanControlPage(o: { control: ControlId; account: string; region: string; pageToken?: string; pageSize: number }): Promise<ScanPage> {
      const control = requireControl(o.control);
      const page = await control.scanPage(d.aws.forAccount(o.account), {
        account: o.account,
        region: o.region,
        settings: controlPolicyFor(d.policy, o.control, o.account).settings,
        pageSize: o.pageSize,
        ...(o.pageToken ? { pageToken: o.pageToken } : {}),
      });
      return { ...page, resourceType: control.catalog.resourceType };
    },

    /**
     * Starts (or joins) the remediation of each finding, exactly as the webhook does: same
     * workflow ids, same policy, so an event and a scan of the same finding meet in one workflow.
     */
    async submitFindings(findings: readonly Finding[]): Promise<SubmitResult[]> {
      const out: SubmitResult[] = [];
      const receivedAt = new Date();
      for (const f of findings) {
        out.push(await submitter.submit(f, receivedAt));
        heartbeat(out.length);
      }
      return out;
    },
  };
}
