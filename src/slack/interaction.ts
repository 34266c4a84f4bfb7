/**
 * Reads an Approve / Reject / Undo click from a Slack interaction request. Pure module.
 *
 * Slack POSTs interactions as `application/x-www-form-urlencoded` with one `payload` field
 * holding JSON (docs.slack.dev/interactivity/handling-user-interaction); for a button the JSON
 * is a `block_actions` payload (docs.slack.dev/reference/interaction-payloads/block_actions-payload).
 * Call this only on a body whose Slack signature was verified.
 */
import { InvalidInputError } from '../errors.js';
import { getOwn, isObject } from '../findings/validate.js';
import { APPROVE_ACTION_ID, APPROVE_HELD_ACTION_ID, REJECT_ACTION_ID, REJECT_HELD_ACTION_ID, UNDO_ACTION_ID } from './blocks.js';

/**
 * `undo` comes from the Undo button offered after a verified fix (`undoOfferMessage`);
 * `approve-held` / `reject-held` from a digest of fixes held by the budget (`digestMessage`),
 * whose button carries the digest's workflow id.
 */
export type ApprovalDecision = 'approve' | 'reject' | 'undo' | 'approve-held' | 'reject-held';

export interface ApprovalClick {
  readonly decision: ApprovalDecision;
  readonly workflowId: string;
  readonly runId: string;
  /** The digest of the plan the approval message showed (Approve / Reject buttons that carry one). */
  readonly planDigest?: string;
  /** Who clicked: Slack user id and (user)name. */
  readonly user: { readonly id: string; readonly name: string };
  /** Channel id of the message clicked (the approval request, or the undo offer in its thread). */
  readonly channel: string;
  /** `ts` of the message clicked (to update it in place). */
  readonly messageTs: string;
  /** When the button was clicked (Slack ts). */
  readonly actionTs: string;
  /** Where Slack accepts a reply to this interaction for 30 minutes, when it gave one. */
  readonly responseUrl?: string;
}

export const INTERACTION_LIMITS = Object.freeze({
  /** A block_actions payload repeats the whole message; ours stays far below this. */
  bodyChars: 512 * 1024,
  buttonValueChars: 2000,
  workflowIdChars: 1000,
  runIdChars: 128,
  userNameChars: 256,
  urlChars: 2048,
});

const WHAT = 'Slack interaction';
const USER_ID = /^[UW][A-Z0-9]{2,30}$/;
const CHANNEL_ID = /^[CDGZ][A-Z0-9]{2,30}$/;
const SLACK_TS = /^[0-9]{1,12}\.[0-9]{1,9}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A plan digest as `digestOf` writes it: sha256, hex. */
const PLAN_DIGEST = /^[0-9a-f]{64}$/;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The Approve / Reject / Undo click in a signed interaction body. Anything else (another payload type, an
 * unknown action, a value we did not write, missing user/channel/message) is an
 * `InvalidInputError` listing every problem found.
 */
export function parseBlockActions(rawBody: string): ApprovalClick {
  if (rawBody.length > INTERACTION_LIMITS.bodyChars) throw new InvalidInputError(WHAT, [`body is larger than ${INTERACTION_LIMITS.bodyChars} characters`]);
  const form = new URLSearchParams(rawBody);
  const payloads = form.getAll('payload');
  if (payloads.length !== 1) throw new InvalidInputError(WHAT, [payloads.length === 0 ? 'no payload field in the form body' : 'more than one payload field']);

  let payload: unknown;
  try {
    payload = JSON.parse(payloads[0]!);
  } catch {
    throw new InvalidInputError(WHAT, ['payload is not valid JSON']);
  }
  if (!isObject(payload)) throw new InvalidInputError(WHAT, ['payload is not a JSON object']);
  const type = getOwn(payload, 'type');
  if (type !== 'block_actions') throw new InvalidInputError(WHAT, [`not a block_actions payload (type ${typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : 'missing'})`]);

  const problems: string[] = [];

  // The action: exactly one, one of ours, with the value we wrote.
  let decision: ApprovalDecision | undefined;
  let workflowId: string | undefined;
  let runId: string | undefined;
  let planDigest: string | undefined;
  let actionTs: string | undefined;
  const actions = getOwn(payload, 'actions');
  if (!Array.isArray(actions) || actions.length === 0) problems.push('actions is missing or empty');
  else if (actions.length > 1) problems.push(`expected one action, got ${actions.length}`);
  else {
    const action: unknown = actions[0];
    const actionId = getOwn(action, 'action_id');
    if (actionId === APPROVE_ACTION_ID) decision = 'approve';
    else if (actionId === REJECT_ACTION_ID) decision = 'reject';
    else if (actionId === UNDO_ACTION_ID) decision = 'undo';
    else if (actionId === APPROVE_HELD_ACTION_ID) decision = 'approve-held';
    else if (actionId === REJECT_HELD_ACTION_ID) decision = 'reject-held';
    else problems.push(`unknown action ${typeof actionId === 'string' ? JSON.stringify(actionId.slice(0, 64)) : '(no action_id)'}`);

    const value = getOwn(action, 'value');
    const parsed = parseButtonValue(value);
    if (typeof parsed === 'string') problems.push(parsed);
    else ({ workflowId, runId, planDigest } = parsed);

    actionTs = str(getOwn(action, 'action_ts'));
    if (!actionTs || !SLACK_TS.test(actionTs)) problems.push('action_ts is missing or not a Slack timestamp');
  }

  // Who clicked.
  const user = getOwn(payload, 'user');
  const userId = str(getOwn(user, 'id'));
  let userName: string | undefined;
  if (!isObject(user)) problems.push('user is missing');
  else if (!userId || !USER_ID.test(userId)) problems.push('user.id is missing or not a Slack user id');
  else {
    const name = str(getOwn(user, 'username')) ?? str(getOwn(user, 'name')) ?? userId;
    userName = name.length > INTERACTION_LIMITS.userNameChars || CONTROL.test(name) ? userId : name;
  }

  // Where the message is.
  const container = getOwn(payload, 'container');
  const channel = str(getOwn(getOwn(payload, 'channel'), 'id')) ?? str(getOwn(container, 'channel_id'));
  if (!channel || !CHANNEL_ID.test(channel)) problems.push('channel is missing or not a Slack channel id');
  const messageTs = str(getOwn(container, 'message_ts')) ?? str(getOwn(getOwn(payload, 'message'), 'ts'));
  if (!messageTs || !SLACK_TS.test(messageTs)) problems.push('message ts is missing or not a Slack timestamp');

  const responseUrlRaw = getOwn(payload, 'response_url');
  let responseUrl: string | undefined;
  if (responseUrlRaw !== undefined) {
    responseUrl = parseResponseUrl(responseUrlRaw);
    if (responseUrl === undefined) problems.push('response_url is not an https URL');
  }

  if (problems.length) throw new InvalidInputError(WHAT, problems);
  return {
    decision: decision!,
    workflowId: workflowId!,
    runId: runId!,
    ...(planDigest ? { planDigest } : {}),
    user: { id: userId!, name: userName! },
    channel: channel!,
    messageTs: messageTs!,
    actionTs: actionTs!,
    ...(responseUrl ? { responseUrl } : {}),
  };
}

/** `{"w": workflowId, "r": runId, "p"?: planDigest}` as written by `encodeButtonValue`, or a problem. */
function parseButtonValue(value: unknown): { workflowId: string; runId: string; planDigest?: string } | string {
  if (typeof value !== 'string' || value.length === 0) return 'button value is missing';
  if (value.length > INTERACTION_LIMITS.buttonValueChars) return `button value is longer than ${INTERACTION_LIMITS.buttonValueChars} characters`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return 'button value is not valid JSON';
  }
  if (!isObject(parsed)) return 'button value is not a JSON object';
  const w = getOwn(parsed, 'w');
  const r = getOwn(parsed, 'r');
  const bad: string[] = [];
  if (typeof w !== 'string' || w.length === 0 || w.length > INTERACTION_LIMITS.workflowIdChars || CONTROL.test(w)) bad.push('w (workflow id)');
  if (typeof r !== 'string' || r.length === 0 || r.length > INTERACTION_LIMITS.runIdChars || CONTROL.test(r)) bad.push('r (run id)');
  const p = getOwn(parsed, 'p');
  if (p !== undefined && (typeof p !== 'string' || !PLAN_DIGEST.test(p))) bad.push('p (plan digest)');
  if (bad.length) return `button value has no valid ${bad.join(' and ')}`;
  return { workflowId: w as string, runId: r as string, ...(p !== undefined ? { planDigest: p as string } : {}) };
}

function parseResponseUrl(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length > INTERACTION_LIMITS.urlChars) return undefined;
  try {
    return new URL(v).protocol === 'https:' ? v : undefined;
  } catch {
    return undefined;
  }
}
