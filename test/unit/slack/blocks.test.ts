import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import {
  APPROVE_ACTION_ID,
  REJECT_ACTION_ID,
  SLACK_LIMITS,
  UNDO_ACTION_ID,
  approvalRequestMessage,
  decidedMessage,
  escalationText,
  escapeMrkdwn,
  reminderText,
  resultText,
  truncate,
  undoClosedText,
  undoneText,
  undoOfferMessage,
  type ApprovalView,
} from '../../../src/slack/blocks.js';

const VIEW: ApprovalView = {
  workflowId: 'finding/123456789012/us-east-1/ec2-sg-admin-ports-open/sg-0abc',
  runId: '0f8fad5b-d9cb-469f-a165-70867728950e',
  title: 'Security group allows SSH from the internet',
  control: 'ec2-sg-admin-ports-open',
  resourceId: 'sg-0abc',
  account: '123456789012',
  region: 'us-east-1',
  severity: 'HIGH',
  owner: 'team-payments',
  currentState: 'tcp/22 from 0.0.0.0/0',
  proposedChange: 'revoke ingress tcp/22 from 0.0.0.0/0',
  reasons: ['production account', 'the group is attached to 3 instances'],
  approvers: ['U0APPROVER', 'U0SECOND'],
  deadline: '2023-11-14T23:13:20.000Z',
  timeoutAction: 'reject',
};

type Block = { type: string; text?: { type: string; text: string }; fields?: { text: string }[]; elements?: Record<string, unknown>[]; block_id?: string };
const blocksOf = (m: { blocks: unknown[] }) => m.blocks as Block[];
/** Every text string anywhere in the blocks, with its text-object type. */
function texts(value: unknown, out: { type: string; text: string }[] = []): { type: string; text: string }[] {
  if (Array.isArray(value)) for (const v of value) texts(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string') out.push({ type: o.type, text: o.text });
    for (const v of Object.values(o)) texts(v, out);
  }
  return out;
}
const allMrkdwn = (m: { text: string; blocks: unknown[] }) => [m.text, ...texts(m.blocks).filter((t) => t.type === 'mrkdwn').map((t) => t.text)].join('\n');

describe('escapeMrkdwn / truncate', () => {
  it('escapes exactly &, < and >', () => {
    expect(escapeMrkdwn('a & b <!channel> <@U1> c>d "q" \'s\'')).toBe('a &amp; b &lt;!channel&gt; &lt;@U1&gt; c&gt;d "q" \'s\'');
  });

  it('cuts with an ellipsis, never mid-entity or mid-surrogate', () => {
    expect(truncate('abcdef', 6)).toBe('abcdef');
    expect(truncate('abcdefg', 6)).toBe('abcde…');
    expect(truncate('abcd&amp;xyz', 7)).toBe('abcd…');
    expect(truncate('abcd😀xyz', 6)).toBe('abcd…');
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.integer({ min: 1, max: 100 }), (s, max) => {
        const out = truncate(escapeMrkdwn(s), max);
        expect(out.length).toBeLessThanOrEqual(Math.max(max, 1));
        expect(out).not.toMatch(/&(?!amp;|lt;|gt;)/);
      }),
    );
  });
});

describe('approvalRequestMessage', () => {
  const m = approvalRequestMessage(VIEW);

  it('has a header, the facts, the current state, the exact change, why, who, the deadline and the buttons', () => {
    const blocks = blocksOf(m);
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Approval needed: Security group allows SSH from the internet', emoji: true } });
    const fields = blocks[1]!.fields!.map((f) => f.text);
    expect(fields).toEqual(['*Resource*\n`sg-0abc`', '*Account / region*\n123456789012 / us-east-1', '*Owner*\nteam-payments', '*Severity*\nHIGH', '*Control*\n`ec2-sg-admin-ports-open`']);
    const body = allMrkdwn(m);
    expect(body).toContain('*Current state*\n```tcp/22 from 0.0.0.0/0```');
    expect(body).toContain('*Proposed change*\n```revoke ingress tcp/22 from 0.0.0.0/0```');
    expect(body).toContain('*Why approval is needed*\n• production account\n• the group is attached to 3 instances');
    expect(body).toContain('*Who may approve:* <@U0APPROVER>, <@U0SECOND>');
    expect(body).toContain('If nobody decides by <!date^1700003600^{date_short_pretty} at {time}|2023-11-14T23:13:20.000Z>, the change is *rejected* and nothing changes.');
    expect(m.text).toBe('Approval needed: Security group allows SSH from the internet on sg-0abc (123456789012/us-east-1)');
  });

  it('has Approve (primary, with a confirm dialog) and Reject (danger) buttons carrying {"w","r"}', () => {
    const actions = blocksOf(m).find((b) => b.type === 'actions')!;
    const [approve, reject] = actions.elements!;
    const value = JSON.stringify({ w: VIEW.workflowId, r: VIEW.runId });
    expect(approve).toMatchObject({ type: 'button', action_id: APPROVE_ACTION_ID, style: 'primary', value, text: { type: 'plain_text', text: 'Approve' } });
    expect(approve!.confirm).toMatchObject({ title: { type: 'plain_text' }, confirm: { text: 'Apply' }, deny: { text: 'Cancel' } });
    expect(reject).toMatchObject({ type: 'button', action_id: REJECT_ACTION_ID, style: 'danger', value, text: { type: 'plain_text', text: 'Reject' } });
    expect(reject).not.toHaveProperty('confirm');
  });

  it('says what happens at the deadline, or that there is none', () => {
    expect(allMrkdwn(approvalRequestMessage({ ...VIEW, timeoutAction: 'apply' }))).toContain('the change is *applied automatically*');
    expect(allMrkdwn(approvalRequestMessage({ ...VIEW, deadline: undefined }))).toContain('No deadline');
    expect(allMrkdwn(approvalRequestMessage({ ...VIEW, deadline: 'tomorrow <!here>' }))).toContain('by tomorrow &lt;!here&gt;,');
  });

  it('escapes every untrusted string in mrkdwn and never lets one mention or link', () => {
    const evil = '<!channel> & <@U0EVIL> <https://evil.example|click>';
    const v: ApprovalView = {
      ...VIEW,
      title: evil,
      resourceId: `bucket${evil}`,
      owner: evil,
      severity: evil,
      control: evil,
      account: evil,
      region: evil,
      currentState: evil,
      proposedChange: evil,
      reasons: [evil],
      approvers: ['U0GOOD', '<!everyone>'],
      deadline: evil,
    };
    for (const msg of [approvalRequestMessage(v), decidedMessage(v, { decision: 'reject', by: { id: 'bad<id>', name: evil }, at: evil, reason: evil })]) {
      const body = allMrkdwn(msg);
      expect(body).not.toContain('<!channel>');
      expect(body).not.toContain('<!everyone>');
      expect(body).not.toContain('<@U0EVIL>');
      expect(body).not.toContain('<https://evil');
      expect(body).not.toMatch(/&(?!amp;|lt;|gt;)/);
      expect(body).toContain('&lt;!channel&gt; &amp; &lt;@U0EVIL&gt;');
      // The only raw "<" are our own mentions and dates.
      for (const m of body.matchAll(/<[^>]*>/g)) expect(m[0]).toMatch(/^<(@U0GOOD|!date\^\d+\^[^|]*\|[^>]*)>$/);
    }
    // plain_text is shown literally by Slack: kept as is (no double escaping).
    expect(blocksOf(approvalRequestMessage(v))[0]!.text!.text).toBe(`Approval needed: ${evil}`);
  });

  it('keeps code blocks closed even when the change contains backticks', () => {
    const body = allMrkdwn(approvalRequestMessage({ ...VIEW, proposedChange: 'a```\n<!here>\n```b' }));
    const change = body.split('*Proposed change*\n')[1]!.split('\n*Why')[0]!;
    expect(change.startsWith('```')).toBe(true);
    expect((change.match(/```/g) ?? []).length).toBe(2);
  });

  it('respects Block Kit limits for huge inputs', () => {
    const huge = 'x&'.repeat(20_000);
    const v: ApprovalView = { ...VIEW, title: huge, resourceId: huge, owner: huge, currentState: huge, proposedChange: huge, reasons: Array(100).fill(huge), approvers: Array(500).fill('U0APPROVER') };
    const msg = approvalRequestMessage(v);
    const blocks = blocksOf(msg);
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(msg.text.length).toBeLessThanOrEqual(SLACK_LIMITS.messageText);
    expect(blocks[0]!.text!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    expect(blocks[0]!.text!.text.endsWith('…')).toBe(true);
    for (const b of blocks) {
      if (b.type === 'section' && b.text) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
      if (b.type === 'context') for (const e of b.elements as { text: string }[]) expect(e.text.length).toBeLessThanOrEqual(SLACK_LIMITS.contextText);
    }
    const change = allMrkdwn(msg).split('*Proposed change*\n')[1]!;
    expect(change).toMatch(/^```[^`]*…```/);
    const actions = blocks.find((b) => b.type === 'actions')!;
    const confirm = (actions.elements![0] as { confirm: { text: { text: string } } }).confirm;
    expect(confirm.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.confirmText);
    for (const e of actions.elements as { value: string }[]) expect(e.value.length).toBeLessThanOrEqual(SLACK_LIMITS.buttonValue);
  });

  it('refuses ids that cannot fit in a button value', () => {
    expect(() => approvalRequestMessage({ ...VIEW, workflowId: 'w'.repeat(2000) })).toThrow(InvalidInputError);
    // The plan digest counts too.
    const fits = 'w'.repeat(2000 - JSON.stringify({ w: '', r: VIEW.runId }).length);
    expect(() => approvalRequestMessage({ ...VIEW, workflowId: fits })).not.toThrow();
    expect(() => approvalRequestMessage({ ...VIEW, workflowId: fits, planDigest: 'a'.repeat(64) })).toThrow(InvalidInputError);
  });

  it('carries the plan digest shown ({"w","r","p"}) on Approve and Reject, so the signed decision names that plan', () => {
    const planDigest = 'ab'.repeat(32);
    const actions = blocksOf(approvalRequestMessage({ ...VIEW, planDigest })).find((b) => b.type === 'actions')!;
    for (const e of actions.elements as { value: string }[]) expect(JSON.parse(e.value)).toEqual({ w: VIEW.workflowId, r: VIEW.runId, p: planDigest });
  });
});

describe('decidedMessage', () => {
  it('is the same message without buttons, saying who decided and when', () => {
    const m = decidedMessage(VIEW, { decision: 'approve', by: { id: 'U0APPROVER', name: 'ana' }, at: '2023-11-14T22:20:00Z' });
    const blocks = blocksOf(m);
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(blocks)).not.toContain(APPROVE_ACTION_ID);
    expect(blocks[0]!.text!.text).toBe('Approved: Security group allows SSH from the internet');
    expect(blocks[1]!.text!.text).toBe(':white_check_mark: *Approved* by <@U0APPROVER> at <!date^1700000400^{date_short_pretty} at {time}|2023-11-14T22:20:00Z>');
    expect(allMrkdwn(m)).toContain('*Proposed change*\n```revoke ingress tcp/22 from 0.0.0.0/0```');
    expect(m.text).toBe('Approved by ana: Security group allows SSH from the internet on sg-0abc (123456789012/us-east-1)');
  });

  it('covers rejection with a reason and both timeouts', () => {
    const rejected = decidedMessage(VIEW, { decision: 'reject', by: { id: 'U0SECOND', name: 'bo' }, at: '2023-11-14T22:20:00Z', reason: 'change freeze' });
    expect(blocksOf(rejected)[1]!.text!.text).toMatch(/^:no_entry_sign: \*Rejected\* by <@U0SECOND> at .*\n\*Reason:\* change freeze$/);
    const tr = decidedMessage(VIEW, { decision: 'timeout-reject', at: '2023-11-14T23:13:20Z' });
    expect(blocksOf(tr)[0]!.text!.text).toBe('Rejected: Security group allows SSH from the internet');
    expect(blocksOf(tr)[1]!.text!.text).toMatch(/^:alarm_clock: \*Rejected: nobody decided before the deadline\* at </);
    const ta = decidedMessage(VIEW, { decision: 'timeout-apply', at: '2023-11-14T23:13:20Z' });
    expect(blocksOf(ta)[0]!.text!.text).toBe('Applied automatically: Security group allows SSH from the internet');
  });
});

describe('thread texts', () => {
  it('reminds the approvers', () => {
    const t = reminderText(VIEW, '2 hours');
    expect(t).toContain('<@U0APPROVER> <@U0SECOND>');
    expect(t).toContain('2 hours');
    expect(t).toContain('Security group allows SSH from the internet on sg-0abc');
  });

  it('escalates to users and user groups', () => {
    const t = escalationText(VIEW, { users: ['U0BOSS'], groups: ['S0SECOPS', '<!here>'] }, '4 hours');
    expect(t).toContain('<!subteam^S0SECOPS>');
    expect(t).toContain('<@U0BOSS>');
    expect(t).toContain('&lt;!here&gt;');
    expect(t).not.toContain('<!here>');
    expect(t).toContain('4 hours');
    expect(t).toContain('rejected');
  });

  it('reports the result', () => {
    expect(resultText({ outcome: 'remediated', summary: 'public access blocked on my-bucket' })).toBe(':white_check_mark: Fixed and verified: public access blocked on my-bucket');
    expect(resultText({ outcome: 'failed', summary: 'could not revoke', reason: 'AccessDenied <x>' })).toBe(':x: Remediation failed: could not revoke Reason: AccessDenied &lt;x&gt;');
    expect(resultText({ outcome: 'rejected', summary: '' })).toBe(':no_entry_sign: Rejected: nothing changed.');
    expect(resultText({ outcome: 'already-compliant', summary: 'ok' })).toContain('nothing changed');
    expect(resultText({ outcome: 'failed', summary: 'x'.repeat(10_000) }).length).toBeLessThanOrEqual(SLACK_LIMITS.messageText);
  });
});

describe('undo', () => {
  const OFFER = { workflowId: VIEW.workflowId, runId: VIEW.runId, summary: 'Revoked 0.0.0.0/0 tcp/22 on sg-0abc', until: '2023-11-15T22:13:20.000Z' };

  it('offers an Undo until the window closes, with the date Slack localizes', () => {
    const m = undoOfferMessage(OFFER);
    const line = 'Fixed and verified: Revoked 0.0.0.0/0 tcp/22 on sg-0abc. An approver can undo this until <!date^1700086400^{date_short_pretty} at {time}|2023-11-15T22:13:20.000Z>.';
    expect(m.text).toBe(line);
    const blocks = blocksOf(m);
    expect(blocks[0]!.text!.text).toBe(`:white_check_mark: ${line}`);
    expect(blocks).toHaveLength(2);
  });

  it('has one Undo button: danger, behind a "Restore the previous state?" dialog, value encoded like the approval buttons', () => {
    const actions = blocksOf(undoOfferMessage(OFFER)).find((b) => b.type === 'actions')!;
    expect(actions.elements).toHaveLength(1);
    const undo = actions.elements![0]!;
    expect(undo).toMatchObject({ type: 'button', action_id: UNDO_ACTION_ID, style: 'danger', text: { type: 'plain_text', text: 'Undo' } });
    expect(UNDO_ACTION_ID).toBe('rectify_undo');
    expect(undo.value).toBe(JSON.stringify({ w: VIEW.workflowId, r: VIEW.runId }));
    const approve = blocksOf(approvalRequestMessage(VIEW)).find((b) => b.type === 'actions')!.elements![0]!;
    expect(undo.value).toBe(approve.value);
    expect(undo.confirm).toMatchObject({
      title: { type: 'plain_text', text: 'Restore the previous state?' },
      text: { type: 'plain_text', text: 'rectify will put this back as it was before the fix: Revoked 0.0.0.0/0 tcp/22 on sg-0abc.' },
      confirm: { type: 'plain_text', text: 'Undo' },
      deny: { type: 'plain_text', text: 'Cancel' },
      style: 'danger',
    });
    expect(actions.block_id).not.toBe('rectify_approval');
  });

  it('does not double the period after a summary that ends with one', () => {
    expect(undoOfferMessage({ ...OFFER, summary: 'Blocked public access on my-bucket. ' }).text).toMatch(/^Fixed and verified: Blocked public access on my-bucket\. An approver/);
  });

  it('escapes the summary in mrkdwn, keeps it literal in plain_text, and stays within limits', () => {
    const evil = '<!channel> & <@U0EVIL> <https://evil.example|x>';
    const m = undoOfferMessage({ ...OFFER, summary: evil, until: 'soon <!here>' });
    const body = allMrkdwn(m);
    expect(body).not.toContain('<!channel>');
    expect(body).not.toContain('<!here>');
    expect(body).not.toContain('<@U0EVIL>');
    expect(body).not.toContain('<https://evil');
    expect(body).toContain('&lt;!channel&gt; &amp; &lt;@U0EVIL&gt;');
    expect(body).toContain('until soon &lt;!here&gt;.');
    const confirm = (blocksOf(m)[1]!.elements![0] as { confirm: { text: { text: string } } }).confirm;
    expect(confirm.text.text).toContain(evil);

    const huge = undoOfferMessage({ ...OFFER, summary: 'x&'.repeat(20_000) });
    expect(huge.text.length).toBeLessThanOrEqual(SLACK_LIMITS.messageText);
    expect(blocksOf(huge)[0]!.text!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    const hugeConfirm = (blocksOf(huge)[1]!.elements![0] as { confirm: { text: { text: string } } }).confirm;
    expect(hugeConfirm.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.confirmText);
    expect(allMrkdwn(huge)).not.toMatch(/&(?!amp;|lt;|gt;)/);
  });

  it('refuses ids that cannot fit in a button value', () => {
    expect(() => undoOfferMessage({ ...OFFER, runId: 'r'.repeat(2000) })).toThrow(InvalidInputError);
  });

  it('says who undid what and why', () => {
    expect(undoneText({ by: 'U0APPROVER', summary: 'Revoked 0.0.0.0/0 tcp/22 on sg-0abc', reason: 'broke the bastion' })).toBe(
      ':leftwards_arrow_with_hook: Undone by <@U0APPROVER>: restored the previous state. Revoked 0.0.0.0/0 tcp/22 on sg-0abc Reason: broke the bastion',
    );
    const t = undoneText({ by: 'cli:ana <!here>', summary: 's <@U0EVIL>' });
    expect(t).toContain('Undone by cli:ana &lt;!here&gt;:');
    expect(t).toContain('s &lt;@U0EVIL&gt;');
    expect(t).not.toContain('Reason');
    expect(undoneText({ by: 'U0APPROVER', summary: 'x'.repeat(10_000), reason: 'y'.repeat(10_000) }).length).toBeLessThanOrEqual(SLACK_LIMITS.messageText);
  });

  it('says when the window has closed', () => {
    expect(undoClosedText()).toBe(':lock: The undo window has closed: the fix stays in place.');
  });
});
