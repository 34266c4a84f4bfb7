/**
 * The policy as the rest of the product sees it, after the YAML file is loaded and validated.
 * Pure types: safe in workflow code. Durations are milliseconds.
 */
import type { ControlId } from '../findings/finding.js';
import type { TrustedKey } from '../decisions/signed.js';

export const Mode = {
  /** Fix without asking. */
  Auto: 'auto',
  /** Ask an approver first; fix only when approved (or when the ladder's timeout action is apply). */
  Approve: 'approve',
  /** Never change anything: tell the owner, chase on the ladder, re-check; close when compliant. */
  Notify: 'notify',
  /** Triage and guardrails, record exactly what would change, change nothing. */
  DryRun: 'dry-run',
  /** Record the finding and leave it alone. */
  Off: 'off',
} as const;
export type Mode = (typeof Mode)[keyof typeof Mode];
export const MODES: readonly Mode[] = Object.values(Mode);

export interface Approvers {
  /** Slack user ids (U...). */
  readonly users: readonly string[];
  /** Slack user group ids (S...), expanded to their members when an approval starts. */
  readonly groups: readonly string[];
  /**
   * The operators who may decide from the CLI, each with the public key their decisions are
   * signed with (src/decisions/signed.ts); a CLI decision is recorded under the key's name.
   * Optional in snapshots taken before it existed (no operator may decide from the CLI).
   */
  readonly keys?: readonly TrustedKey[];
}

export interface EscalationLadder {
  /** Remind the approvers this long after the request (0 = no reminder). */
  readonly remindAfterMs: number;
  /** Escalate this long after the request (0 = no escalation). */
  readonly escalateAfterMs: number;
  /** Where escalation goes: a channel and/or people/groups to mention (e.g. the on-call group). */
  readonly escalateTo: { readonly channel?: string; readonly users: readonly string[]; readonly groups: readonly string[] };
  /** Apply the timeout action this long after the request. Always > escalateAfterMs >= remindAfterMs. */
  readonly timeoutAfterMs: number;
  readonly timeoutAction: 'reject' | 'apply';
}

export interface Guardrails {
  /** At most this many automatic fixes per control per rolling hour; past it, findings wait for approval. */
  readonly maxAutoFixesPerHour: number;
  /** A resource fixed `maxFixes` times within `windowMs` is flapping: the next fix needs a person. */
  readonly flap: { readonly maxFixes: number; readonly windowMs: number };
  /**
   * A fix a person (or the timeout) rejected is not proposed again for this long, as long as the
   * resource stays exactly as it was when rejected (0 = ask again every time). Optional in
   * snapshots taken before it existed.
   */
  readonly rejectionHoldMs?: number;
}

export interface Scope {
  /** Account ids in scope; empty = every account. */
  readonly accounts: readonly string[];
  /** Regions in scope; empty = every region. */
  readonly regions: readonly string[];
  /** Tag selectors the resource must all match; value "*" = the tag must exist. Empty = no condition. */
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * ec2-sg-admin-ports-open: what the fix does with a world-open rule that reaches a listed port
 * among others (a port range such as tcp 0-65535, or all traffic), where revoking the whole rule
 * would also close the public service behind it (80, 443, ...).
 */
export const WideRules = {
  /** Revoke the rule and re-open the same source, protocol and description on what remains without the listed ports. */
  Split: 'split',
  /** Revoke the whole rule. */
  Revoke: 'revoke',
  /** Plan the split, and have a person approve it first. */
  Approve: 'approve',
} as const;
export type WideRules = (typeof WideRules)[keyof typeof WideRules];
export const WIDE_RULES: readonly WideRules[] = Object.values(WideRules);

/** Settings that change what a control counts as compliant or how it fixes. Each control reads the ones it knows. */
export interface ControlSettings {
  /** ec2-sg-admin-ports-open: ports never to be reachable from 0.0.0.0/0 or ::/0 (EC2.19-style list). Default [22, 3389]. */
  readonly ports: readonly number[];
  /**
   * ec2-sg-admin-ports-open: how a wide rule (a range or all traffic that contains a listed port)
   * is fixed. Default split; optional in snapshots taken before it existed (they split too).
   */
  readonly wideRules?: WideRules;
  /** s3-default-encryption: the default encryption buckets must have. Default SSE-S3 (AES256). */
  readonly encryption: { readonly algorithm: 'AES256' | 'aws:kms'; readonly kmsKeyId?: string };
  /** The other controls' own settings (each control's `settings` schema), by key, as checked by the loader. */
  readonly [own: string]: unknown;
}

export interface UndoSettings {
  /** How long after a verified fix an approver may revert it; 0 closes the workflow right after verification. Default 1h. */
  readonly windowMs: number;
  /** A reverted resource is tagged exempt (the exemption tag) for this long, so the fix is not re-applied at once. Default 7d. */
  readonly exemptForMs: number;
}

/** The effective policy of one control (defaults merged with the control's own section). */
export interface ControlPolicy {
  readonly control: ControlId;
  readonly mode: Mode;
  readonly scope: Scope;
  /** Tag conditions that force approval even in auto mode: any tag key whose value is in the list. */
  readonly requireApprovalWhenTagged: Readonly<Record<string, readonly string[]>>;
  readonly approvers: Approvers;
  /** Slack channel id for approval requests and notifications. */
  readonly channel?: string;
  readonly escalation: EscalationLadder;
  readonly guardrails: Guardrails;
  readonly settings: ControlSettings;
  readonly undo: UndoSettings;
}

export interface Policy {
  readonly version: 1;
  /** sha256 of the file's bytes, hex: recorded on every workflow and in every evidence record. */
  readonly hash: string;
  /** Name of the tag that exempts a resource; value: an expiry date (YYYY-MM-DD or ISO 8601) or "permanent". */
  readonly exemptionTag: string;
  readonly controls: Readonly<Record<ControlId, ControlPolicy>>;
  /** Account groups with policies of their own (first listed wins; an account is in one group at most). */
  readonly accounts?: readonly AccountGroup[];
  /** The trigger servers whose signed Slack decisions are trusted (`decisionRelays`); always set by the loader. */
  readonly decisionRelays?: readonly TrustedKey[];
}

/** Accounts that get a policy of their own (e.g. production: approve; sandboxes: auto). */
export interface AccountGroup {
  readonly name: string;
  readonly ids: readonly string[];
  /** The effective policy of each control for these accounts: defaults, the control's section, the group's, the group's section for the control. */
  readonly controls: Readonly<Record<ControlId, ControlPolicy>>;
}

/** What a workflow receives: the policy of its control, with the policy's hash and exemption tag. */
export interface PolicySnapshot {
  readonly hash: string;
  readonly exemptionTag: string;
  readonly control: ControlPolicy;
  /** The account group whose policy this is, when the resource's account is in one. */
  readonly accountGroup?: string;
  /**
   * The trigger servers whose signed Slack decisions are trusted (the policy's `decisionRelays`).
   * Optional in snapshots taken before it existed (no Slack decision can be proven).
   */
  readonly decisionRelays?: readonly TrustedKey[];
}
