import { describe, expect, it } from 'vitest';
import { APPROVE_HELD_ACTION_ID, bulkDecisionText, digestMessage, REJECT_HELD_ACTION_ID, SLACK_LIMITS, type DigestView, type HeldSummary } from '../../../src/slack/blocks.js';
import { parseBlockActions } from '../../../src/slack/interaction.js';
import { parseDigestId } from '../../../src/triggers/slack-clicks.js';

const view: DigestView = {
  digestId: 'digest/remediation/s3-block-public-access/2026-11-25T16',
  control: 's3-block-public-access',
  hour: { key: '2026-11-25T16', start: '2026-11-25T16:00:00.000Z', end: '2026-11-25T17:00:00.000Z' },
  channel: 'CAPPROVALS',
  timeoutAfterMs: 24 * 3_600_000,
  timeoutAction: 'reject',
};
const summary = (o: Partial<HeldSummary> = {}): HeldSummary => ({
  held: 2980,
  total: 2980,
  byAccount: [
    { account: '111111111111', count: 2000 },
    { account: '222222222222', count: 980 },
  ],
  resources: Array.from({ length: 20 }, (_, i) => `bucket-${i}`),
  listed: 1000,
  ...o,
});
const buttons = (blocks: unknown[]) => (blocks.find((b) => (b as { type: string }).type === 'actions') as { elements: { action_id: string; value: string; confirm?: { title: { text: string } } }[] } | undefined)?.elements ?? [];

describe('digest of held fixes', () => {
  it('says how many are held, by account and which resources, with "Approve all held" and "Reject all held" behind confirms', () => {
    const m = digestMessage(view, summary(), 'run-1');
    expect(m.text).toBe('2,980 automatic fixes of s3-block-public-access held by the hourly budget (2026-11-25 16:00–17:00 UTC)');
    const all = JSON.stringify(m.blocks);
    expect(all).toContain('*2,980 waiting for a decision* (breakdown of the first 1,000)');
    expect(all).toContain('111111111111: 2,000');
    expect(all).toContain('`bucket-0`');
    expect(all).toContain('and 2,960 more');
    expect(all).toContain('within 1d is rejected (nothing changes)');
    const b = buttons(m.blocks);
    expect(b.map((x) => x.action_id)).toEqual([APPROVE_HELD_ACTION_ID, REJECT_HELD_ACTION_ID]);
    for (const x of b) expect(JSON.parse(x.value)).toEqual({ w: view.digestId, r: 'run-1' });
    expect(b[0]!.confirm?.title.text).toBe('Apply 2,980 fixes?');
  });

  it('loses its buttons once nothing is held any more', () => {
    const m = digestMessage(view, summary({ held: 0, byAccount: [], resources: [], listed: 0 }), 'run-1');
    expect(buttons(m.blocks)).toEqual([]);
    expect(JSON.stringify(m.blocks)).toContain('All 2,980 held fixes were decided.');
  });

  it('escapes resource and account text (no mentions, no links) and stays within Block Kit limits', () => {
    const m = digestMessage(view, summary({ held: 1, total: 1, byAccount: [{ account: '<!channel>', count: 1 }], resources: ['<@U123>&x'], listed: 1 }), 'r');
    const all = JSON.stringify(m.blocks);
    expect(all).not.toContain('<!channel>');
    expect(all).toContain('&lt;!channel&gt;');
    expect(all).toContain('&lt;@U123&gt;&amp;x');
    for (const block of m.blocks as { type: string; text?: { text: string } }[]) if (block.type === 'section') expect(block.text!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
  });

  it('the thread reply after a bulk decision names the decider and what was refused', () => {
    expect(bulkDecisionText({ decision: 'approve', by: 'UAPPROVER1', accepted: 2978, refused: 2 })).toBe(
      ':white_check_mark: Approved 2,978 held fixes, by <@UAPPROVER1>. 2 could not be decided (already decided or finished).',
    );
    expect(bulkDecisionText({ decision: 'reject', by: 'alice', accepted: 1, refused: 0 })).toBe(':no_entry_sign: Rejected 1 held fix, by alice.');
  });
});

describe('digest clicks', () => {
  const click = (actionId: string, value: string) =>
    new URLSearchParams({
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: 'UAPPROVER1', username: 'alice' },
        container: { message_ts: '1700000000.000100', channel_id: 'CAPPROVALS' },
        channel: { id: 'CAPPROVALS' },
        actions: [{ action_id: actionId, value, action_ts: '1700000001.000200' }],
      }),
    }).toString();

  it('"Approve all held" and "Reject all held" parse to bulk decisions on the digest', () => {
    const value = JSON.stringify({ w: view.digestId, r: 'run-1' });
    expect(parseBlockActions(click(APPROVE_HELD_ACTION_ID, value))).toMatchObject({ decision: 'approve-held', workflowId: view.digestId });
    expect(parseBlockActions(click(REJECT_HELD_ACTION_ID, value))).toMatchObject({ decision: 'reject-held', workflowId: view.digestId });
  });

  it('a digest id names its task queue, control and hour; anything else is not a digest', () => {
    expect(parseDigestId('digest/team/queue/s3-block-public-access/2026-11-25T16')).toEqual({
      taskQueue: 'team/queue',
      control: 's3-block-public-access',
      hour: { key: '2026-11-25T16', start: '2026-11-25T16:00:00.000Z', end: '2026-11-25T17:00:00.000Z' },
    });
    for (const bad of ['finding/1/us-east-1/s3-block-public-access/b', 'digest/q/not-a-control/2026-11-25T16', 'digest/q/s3-block-public-access/2026-11-25', 'digest/s3-block-public-access/2026-11-25T16']) {
      expect(parseDigestId(bad), bad).toBeUndefined();
    }
  });
});
