/**
 * Block Kit messages for approvals. Pure module (no Node imports, no clock, no I/O): safe to
 * call from activities and workflows alike.
 *
 * Every untrusted string (titles, resource ids, tags, reasons, states) that lands in `mrkdwn`
 * text has Slack's control characters `&`, `<`, `>` escaped, so it can neither mention
 * (`<!channel>`, `<@U..>`) nor link. `plain_text` (header, button labels, dialog text) is shown
 * literally by Slack and is not escaped. Every text is cut to Block Kit's limits with an
 * ellipsis.
 */
import { InvalidInputError } from '../errors.js';
import { formatDuration } from '../policy/decide.js';

export const APPROVE_ACTION_ID = 'rectify_approve';
export const REJECT_ACTION_ID = 'rectify_reject';
export const APPROVAL_ACTIONS_BLOCK_ID = 'rectify_approval';
/** The Undo button offered in the thread after a verified fix. */
export const UNDO_ACTION_ID = 'rectify_undo';
export const UNDO_ACTIONS_BLOCK_ID = 'rectify_undo_offer';

/** Block Kit limits (docs.slack.dev/reference/block-kit). */
export const SLACK_LIMITS = Object.freeze({
  headerText: 150,
  sectionText: 3000,
  fieldText: 2000,
  fields: 10,
  contextText: 3000,
  buttonText: 75,
  buttonValue: 2000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  /** Fallback `text` of a message; Slack truncates past 40,000, we stay far below. */
  messageText: 3000,
  blocks: 50,
});

export interface ApprovalView {
  readonly workflowId: string;
  readonly runId: string;
  readonly title: string;
  readonly control: string;
  readonly resourceId: string;
  readonly account: string;
  readonly region: string;
  readonly severity: string;
  readonly owner?: string;
  readonly currentState: string;
  readonly proposedChange: string;
  readonly reasons: readonly string[];
  /** Slack user ids to mention as the approvers. */
  readonly approvers: readonly string[];
  /** ISO 8601. */
  readonly deadline?: string;
  readonly timeoutAction?: 'reject' | 'apply';
  /**
   * The digest of the proposed change (`PlannedChange.digest`). The buttons carry it, so the
   * decision the trigger server signs names the plan the approver saw, and no other.
   */
  readonly planDigest?: string;
}

export type Decision = 'approve' | 'reject' | 'timeout-reject' | 'timeout-apply';

export interface DecisionInfo {
  readonly decision: Decision;
  readonly by?: { readonly id: string; readonly name: string };
  /** ISO 8601. */
  readonly at: string;
  readonly reason?: string;
}

export interface SlackMessage {
  readonly text: string;
  readonly blocks: unknown[];
}

// ---------------------------------------------------------------------------------------
// Text helpers

/** Escapes Slack's mrkdwn control characters: `&`, `<`, `>`. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const ELLIPSIS = '…';

/** `s` cut to at most `max` UTF-16 units, ending in an ellipsis when cut; never splits a surrogate pair or an entity (`&amp;`). */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, Math.max(0, max - ELLIPSIS.length));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  cut = cut.replace(/&[a-z]{0,3}$/, '');
  return cut + ELLIPSIS;
}

/** Escaped and cut to `max`. */
const esc = (s: string, max: number) => truncate(escapeMrkdwn(s), max);

/** A code block that untrusted text cannot break out of: backtick runs are split with zero-width spaces. */
function codeBlock(s: string, max: number): string {
  const fenced = (body: string) => '```' + body + '```';
  const safe = escapeMrkdwn(s.length ? s : ' ').replace(/`{3,}/g, (m) => m.split('').join('\u200b'));
  return fenced(truncate(safe, max - 6));
}

const USER_ID = /^[UW][A-Z0-9]{2,20}$/;
const GROUP_ID = /^S[A-Z0-9]{2,20}$/;

/** `<@U123>` for a well-formed user id, the escaped text otherwise (never a raw `<`). */
export function mentionUser(id: string): string {
  return USER_ID.test(id) ? `<@${id}>` : escapeMrkdwn(id);
}

/** `<!subteam^S123>` for a well-formed user group id, the escaped text otherwise. */
export function mentionGroup(id: string): string {
  return GROUP_ID.test(id) ? `<!subteam^${id}>` : escapeMrkdwn(id);
}

/**
 * A date Slack renders in each reader's time zone, with the ISO string as fallback:
 * `<!date^1700000000^{date_short_pretty} at {time}|2023-11-14T22:13:20Z>`.
 */
export function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return escapeMrkdwn(iso);
  const fallback = escapeMrkdwn(iso).replace(/[|^]/g, '');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${fallback}>`;
}

/**
 * The button value: `{"w":workflowId,"r":runId}`, with `"p":planDigest` on approval buttons (the
 * plan shown). Throws when it cannot fit Slack's 2000 characters.
 */
export function encodeButtonValue(workflowId: string, runId: string, planDigest?: string): string {
  const value = JSON.stringify({ w: workflowId, r: runId, ...(planDigest ? { p: planDigest } : {}) });
  if (value.length > SLACK_LIMITS.buttonValue) {
    throw new InvalidInputError('approval view', [`workflow id, run id and plan digest need ${value.length} characters in a button value; Slack allows ${SLACK_LIMITS.buttonValue}`]);
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Blocks

const plain = (text: string, max: number) => ({ type: 'plain_text', text: truncate(text.length ? text : ' ', max), emoji: true });
const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });
const section = (text: string) => ({ type: 'section', text: mrkdwn(truncate(text, SLACK_LIMITS.sectionText)) });
const context = (text: string) => ({ type: 'context', elements: [mrkdwn(truncate(text, SLACK_LIMITS.contextText))] });
const field = (label: string, value: string) => mrkdwn(truncate(`*${label}*\n${value}`, SLACK_LIMITS.fieldText));

function factBlocks(v: ApprovalView): unknown[] {
  const fields = [
    field('Resource', '`' + esc(v.resourceId, 512) + '`'),
    field('Account / region', `${esc(v.account, 64)} / ${esc(v.region, 64)}`),
    field('Owner', v.owner ? esc(v.owner, 512) : '_unknown_'),
    field('Severity', esc(v.severity, 64)),
    field('Control', '`' + esc(v.control, 256) + '`'),
  ];
  const reasons = v.reasons.length ? v.reasons.slice(0, 20).map((r) => `• ${esc(r, 500)}`).join('\n') : '• _no reason recorded_';
  return [
    { type: 'section', fields },
    section(`*Current state*\n${codeBlock(v.currentState, SLACK_LIMITS.sectionText - 20)}`),
    section(`*Proposed change*\n${codeBlock(v.proposedChange, SLACK_LIMITS.sectionText - 20)}`),
    section(`*Why approval is needed*\n${reasons}`),
  ];
}

function approversText(approvers: readonly string[]): string {
  if (approvers.length === 0) return '*Who may approve:* anyone the rectify approval policy allows';
  return `*Who may approve:* ${approvers.slice(0, 50).map(mentionUser).join(', ')}`;
}

function deadlineText(v: ApprovalView): string {
  if (!v.deadline) return ':hourglass_flowing_sand: No deadline: this waits until someone approves or rejects.';
  const outcome = v.timeoutAction === 'apply' ? 'the change is *applied automatically*' : 'the change is *rejected* and nothing changes';
  return `:hourglass_flowing_sand: If nobody decides by ${slackDate(v.deadline)}, ${outcome}.`;
}

function summaryLine(v: ApprovalView): string {
  return `${v.title} on ${v.resourceId} (${v.account}/${v.region})`;
}

/** The approval request: the facts, the exact change, why, who, what happens at the deadline, and Approve / Reject buttons. */
export function approvalRequestMessage(v: ApprovalView): SlackMessage {
  const value = encodeButtonValue(v.workflowId, v.runId, v.planDigest);
  const blocks: unknown[] = [
    { type: 'header', text: plain(`Approval needed: ${v.title}`, SLACK_LIMITS.headerText) },
    ...factBlocks(v),
    section(approversText(v.approvers)),
    context(deadlineText(v)),
    {
      type: 'actions',
      block_id: APPROVAL_ACTIONS_BLOCK_ID,
      elements: [
        {
          type: 'button',
          action_id: APPROVE_ACTION_ID,
          text: plain('Approve', SLACK_LIMITS.buttonText),
          style: 'primary',
          value,
          confirm: {
            title: plain('Apply this change?', SLACK_LIMITS.confirmTitle),
            text: plain(`rectify will change ${v.resourceId} in account ${v.account} (${v.region}) as shown in the proposed change.`, SLACK_LIMITS.confirmText),
            confirm: plain('Apply', SLACK_LIMITS.confirmButton),
            deny: plain('Cancel', SLACK_LIMITS.confirmButton),
            style: 'primary',
          },
        },
        { type: 'button', action_id: REJECT_ACTION_ID, text: plain('Reject', SLACK_LIMITS.buttonText), style: 'danger', value },
      ],
    },
  ];
  return { text: esc(`Approval needed: ${summaryLine(v)}`, SLACK_LIMITS.messageText), blocks };
}

const OUTCOME: Readonly<Record<Decision, { emoji: string; label: string }>> = {
  approve: { emoji: ':white_check_mark:', label: 'Approved' },
  reject: { emoji: ':no_entry_sign:', label: 'Rejected' },
  'timeout-reject': { emoji: ':alarm_clock:', label: 'Rejected: nobody decided before the deadline' },
  'timeout-apply': { emoji: ':alarm_clock:', label: 'Applied automatically: nobody decided before the deadline' },
};

/** The approval message after the decision: no buttons, and who decided what, when. */
export function decidedMessage(v: ApprovalView, d: DecisionInfo): SlackMessage {
  const o = OUTCOME[d.decision];
  const by = d.by ? ` by ${USER_ID.test(d.by.id) ? mentionUser(d.by.id) : esc(d.by.name, 100)}` : '';
  const reason = d.reason ? `\n*Reason:* ${esc(d.reason, 1000)}` : '';
  const blocks: unknown[] = [
    { type: 'header', text: plain(`${o.label.split(':')[0]}: ${v.title}`, SLACK_LIMITS.headerText) },
    section(`${o.emoji} *${o.label}*${by} at ${slackDate(d.at)}${reason}`),
    ...factBlocks(v),
    section(approversText(v.approvers)),
  ];
  const byName = d.by ? ` by ${d.by.name}` : '';
  return { text: esc(`${o.label}${byName}: ${summaryLine(v)}`, SLACK_LIMITS.messageText), blocks };
}

/** A thread reply nudging the approvers. */
export function reminderText(v: ApprovalView, elapsedLabel: string): string {
  const who = v.approvers.length ? `${v.approvers.slice(0, 50).map(mentionUser).join(' ')}: ` : '';
  const deadline = v.deadline ? ` Deadline: ${slackDate(v.deadline)}.` : '';
  return truncate(`:bell: ${who}still waiting for a decision after ${esc(elapsedLabel, 50)} on *${esc(summaryLine(v), 1000)}*. Approve or reject above.${deadline}`, SLACK_LIMITS.messageText);
}

/** A thread reply escalating to more people and user groups. */
export function escalationText(v: ApprovalView, mentions: { readonly users: readonly string[]; readonly groups: readonly string[] }, elapsedLabel: string): string {
  const who = [...mentions.groups.slice(0, 20).map(mentionGroup), ...mentions.users.slice(0, 50).map(mentionUser)].join(' ');
  const deadline = v.deadline ? ` ${deadlineText(v).replace(/^:hourglass_flowing_sand: /, '')}` : '';
  return truncate(`:rotating_light: Escalation${who ? ` to ${who}` : ''}: *${esc(summaryLine(v), 1000)}* has waited ${esc(elapsedLabel, 50)} for approval. Please approve or reject above.${deadline}`, SLACK_LIMITS.messageText);
}

/** The thread reply with how the remediation ended. */
export function resultText(r: { readonly outcome: string; readonly summary: string; readonly reason?: string }): string {
  const summary = esc(r.summary, 1500);
  const reason = r.reason ? ` Reason: ${esc(r.reason, 1000)}` : '';
  let text: string;
  switch (r.outcome) {
    case 'remediated':
    case 'fixed':
      text = `:white_check_mark: Fixed and verified: ${summary}`;
      break;
    case 'already-compliant':
      text = `:information_source: Already compliant: nothing changed. ${summary}`;
      break;
    case 'failed':
      text = `:x: Remediation failed: ${summary}${reason}`;
      break;
    case 'rejected':
    case 'reject':
    case 'timeout-reject':
      text = `:no_entry_sign: Rejected: nothing changed.${summary ? ` ${summary}` : ''}${reason}`;
      break;
    default:
      text = `${esc(r.outcome, 64)}: ${summary}${reason}`;
  }
  return truncate(text, SLACK_LIMITS.messageText);
}

// ---------------------------------------------------------------------------------------
// Undo

export interface UndoOffer {
  readonly workflowId: string;
  readonly runId: string;
  /** What was fixed (untrusted: escaped). */
  readonly summary: string;
  /** ISO 8601: when the undo window closes. */
  readonly until: string;
}

/** `s` without trailing whitespace and periods (the sentence adds its own); linear, no regex backtracking. */
function trimEndPeriods(s: string): string {
  let end = s.length;
  while (end > 0 && (s[end - 1] === '.' || /\s/.test(s[end - 1]!))) end--;
  return s.slice(0, end);
}

/**
 * The thread reply after a verified fix: what was fixed, until when an approver can undo it,
 * and an Undo button (danger, behind a confirm dialog) carrying `{"w","r"}` like the approval buttons.
 */
export function undoOfferMessage(v: UndoOffer): SlackMessage {
  const value = encodeButtonValue(v.workflowId, v.runId);
  const summary = trimEndPeriods(v.summary);
  const line = `Fixed and verified: ${esc(summary, 1500)}. An approver can undo this until ${slackDate(v.until)}.`;
  const blocks: unknown[] = [
    section(`:white_check_mark: ${line}`),
    {
      type: 'actions',
      block_id: UNDO_ACTIONS_BLOCK_ID,
      elements: [
        {
          type: 'button',
          action_id: UNDO_ACTION_ID,
          text: plain('Undo', SLACK_LIMITS.buttonText),
          style: 'danger',
          value,
          confirm: {
            title: plain('Restore the previous state?', SLACK_LIMITS.confirmTitle),
            text: plain(`rectify will put this back as it was before the fix: ${summary}.`, SLACK_LIMITS.confirmText),
            confirm: plain('Undo', SLACK_LIMITS.confirmButton),
            deny: plain('Cancel', SLACK_LIMITS.confirmButton),
            style: 'danger',
          },
        },
      ],
    },
  ];
  return { text: truncate(line, SLACK_LIMITS.messageText), blocks };
}

/** The thread reply after an undo: who undid what, and why when they said. `by` is a Slack user id (mentioned) or a name. */
export function undoneText(r: { readonly by: string; readonly reason?: string; readonly summary: string }): string {
  const by = USER_ID.test(r.by) ? mentionUser(r.by) : esc(r.by, 100);
  const reason = r.reason ? ` Reason: ${esc(r.reason, 1000)}` : '';
  return truncate(`:leftwards_arrow_with_hook: Undone by ${by}: restored the previous state. ${esc(r.summary, 1500)}${reason}`, SLACK_LIMITS.messageText);
}

/** The thread reply when the undo window closes: the fix stays. */
export function undoClosedText(): string {
  return ':lock: The undo window has closed: the fix stays in place.';
}

// ---------------------------------------------------------------------------------------
// Digest of fixes held by the hourly budget

export const APPROVE_HELD_ACTION_ID = 'rectify_approve_held';
export const REJECT_HELD_ACTION_ID = 'rectify_reject_held';
export const DIGEST_ACTIONS_BLOCK_ID = 'rectify_digest';

/** What the held fixes of one control and hour look like now (read from visibility). */
export interface HeldSummary {
  /** Still waiting for a decision. */
  readonly held: number;
  /** Held in this hour in all, decided or not. */
  readonly total: number;
  /** Waiting fixes per account, most first (of the first `listed`). */
  readonly byAccount: readonly { readonly account: string; readonly count: number }[];
  /** Some of the waiting resources. */
  readonly resources: readonly string[];
  /** How many waiting fixes the breakdown was made from (at most a thousand). */
  readonly listed: number;
}

export interface DigestView {
  /** The digest workflow id (the buttons carry it). */
  readonly digestId: string;
  readonly control: string;
  readonly hour: { readonly key: string; readonly start: string; readonly end: string };
  readonly channel?: string;
  readonly timeoutAfterMs: number;
  readonly timeoutAction: 'reject' | 'apply';
}

const n = (x: number) => x.toLocaleString('en-US');

/**
 * One message for every fix of a control that the hourly budget held in an hour: how many, where,
 * which resources, and "Approve all held" / "Reject all held" (each behind a confirm dialog). Once
 * none is waiting the buttons go away. The buttons carry the digest's workflow id.
 */
export function digestMessage(d: DigestView, s: HeldSummary, digestRunId: string): SlackMessage {
  const hour = `${d.hour.start.slice(0, 16).replace('T', ' ')}–${d.hour.end.slice(11, 16)} UTC`;
  const title = `${n(s.total)} automatic fix${s.total === 1 ? '' : 'es'} of ${d.control} held by the hourly budget (${hour})`;
  const accounts = s.byAccount.slice(0, 10).map((a) => `• ${esc(a.account, 64)}: ${n(a.count)}`).join('\n');
  const more = s.held > s.resources.length ? ` and ${n(s.held - s.resources.length)} more` : '';
  const resources = s.resources.slice(0, 20).map((r) => '`' + esc(r, 200) + '`').join(', ');
  const timeout = d.timeoutAction === 'apply' ? 'applied' : 'rejected (nothing changes)';
  const blocks: unknown[] = [
    { type: 'header', text: plain(title, SLACK_LIMITS.headerText) },
    section(
      s.held === 0
        ? `:white_check_mark: All ${n(s.total)} held fix${s.total === 1 ? ' was' : 'es were'} decided.`
        : `*${n(s.held)} waiting for a decision*${s.listed < s.held ? ` (breakdown of the first ${n(s.listed)})` : ''}\n*By account*\n${accounts || '• _none_'}\n*Resources*\n${resources}${more}`,
    ),
    context(`The control's hourly budget of automatic fixes was spent, so these wait for a person instead of one request each. Each one nobody decides within ${formatDuration(d.timeoutAfterMs)} is ${timeout}. Every decision is recorded on each finding as the decider's.`),
  ];
  if (s.held > 0) {
    const value = encodeButtonValue(d.digestId, digestRunId);
    blocks.push({
      type: 'actions',
      block_id: DIGEST_ACTIONS_BLOCK_ID,
      elements: [
        {
          type: 'button',
          action_id: APPROVE_HELD_ACTION_ID,
          text: plain('Approve all held', SLACK_LIMITS.buttonText),
          style: 'primary',
          value,
          confirm: {
            title: plain(`Apply ${n(s.held)} fixes?`, SLACK_LIMITS.confirmTitle),
            text: plain(`rectify will apply every held fix of ${d.control} from this hour (${n(s.held)} now), each as shown in its remediation.`, SLACK_LIMITS.confirmText),
            confirm: plain('Apply all', SLACK_LIMITS.confirmButton),
            deny: plain('Cancel', SLACK_LIMITS.confirmButton),
            style: 'primary',
          },
        },
        {
          type: 'button',
          action_id: REJECT_HELD_ACTION_ID,
          text: plain('Reject all held', SLACK_LIMITS.buttonText),
          style: 'danger',
          value,
          confirm: {
            title: plain(`Reject ${n(s.held)} fixes?`, SLACK_LIMITS.confirmTitle),
            text: plain(`Nothing will change on these resources, and the same fixes are not proposed again while the resources stay as they are.`, SLACK_LIMITS.confirmText),
            confirm: plain('Reject all', SLACK_LIMITS.confirmButton),
            deny: plain('Cancel', SLACK_LIMITS.confirmButton),
            style: 'danger',
          },
        },
      ],
    });
  }
  return { text: truncate(esc(title, SLACK_LIMITS.messageText), SLACK_LIMITS.messageText), blocks };
}

/** The thread reply after a bulk decision on a digest. */
export function bulkDecisionText(r: { readonly decision: 'approve' | 'reject'; readonly by: string; readonly accepted: number; readonly refused: number }): string {
  const by = USER_ID.test(r.by) ? mentionUser(r.by) : esc(r.by, 100);
  const verb = r.decision === 'approve' ? 'Approved' : 'Rejected';
  const refused = r.refused ? ` ${n(r.refused)} could not be decided (already decided or finished).` : '';
  return truncate(`${r.decision === 'approve' ? ':white_check_mark:' : ':no_entry_sign:'} ${verb} ${n(r.accepted)} held fix${r.accepted === 1 ? '' : 'es'}, by ${by}.${refused}`, SLACK_LIMITS.messageText);
}
