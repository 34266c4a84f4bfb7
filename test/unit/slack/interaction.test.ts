import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../src/errors.js';
import { encodeButtonValue, undoOfferMessage } from '../../../src/slack/blocks.js';
import { parseBlockActions } from '../../../src/slack/interaction.js';

const WF = 'finding/123456789012/us-east-1/s3-block-public-access/my-bucket';
const RUN = '0f8fad5b-d9cb-469f-a165-70867728950e';

/** A block_actions payload shaped like the ones Slack sends for a button in a channel message. */
function payload(overrides: Record<string, unknown> = {}, action: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: 'U0123ABCD', username: 'ana', name: 'ana', team_id: 'T0RECTIFY' },
    api_app_id: 'A0RECTIFY',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0APPROVE', is_ephemeral: false },
    trigger_id: '12345.98765.abcd2358fdea',
    team: { id: 'T0RECTIFY', domain: 'rectify' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: 'C0APPROVE', name: 'approvals' },
    message: { type: 'message', ts: '1700000000.000100', text: 'Approval needed', bot_id: 'B0RECTIFY', blocks: [] },
    state: { values: {} },
    response_url: 'https://hooks.slack.com/actions/T0RECTIFY/1/abcdef',
    actions: [
      {
        action_id: 'rectify_approve',
        block_id: 'rectify_approval',
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        value: encodeButtonValue(WF, RUN),
        style: 'primary',
        type: 'button',
        action_ts: '1700000042.123456',
        ...action,
      },
    ],
    ...overrides,
  };
}

const form = (p: unknown) => new URLSearchParams({ payload: typeof p === 'string' ? p : JSON.stringify(p) }).toString();

function problemsOf(rawBody: string): readonly string[] {
  try {
    parseBlockActions(rawBody);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems;
  }
  throw new Error('expected InvalidInputError');
}

describe('parseBlockActions', () => {
  it('reads an Approve click', () => {
    expect(parseBlockActions(form(payload()))).toEqual({
      decision: 'approve',
      workflowId: WF,
      runId: RUN,
      user: { id: 'U0123ABCD', name: 'ana' },
      channel: 'C0APPROVE',
      messageTs: '1700000000.000100',
      actionTs: '1700000042.123456',
      responseUrl: 'https://hooks.slack.com/actions/T0RECTIFY/1/abcdef',
    });
  });

  it('reads a Reject click', () => {
    const click = parseBlockActions(form(payload({}, { action_id: 'rectify_reject', style: 'danger' })));
    expect(click.decision).toBe('reject');
    expect(click.workflowId).toBe(WF);
  });

  it('reads an Undo click from the undo offer', () => {
    const click = parseBlockActions(form(payload({}, { action_id: 'rectify_undo', block_id: 'rectify_undo_offer', style: 'danger', text: { type: 'plain_text', text: 'Undo', emoji: true } })));
    expect(click).toEqual({
      decision: 'undo',
      workflowId: WF,
      runId: RUN,
      user: { id: 'U0123ABCD', name: 'ana' },
      channel: 'C0APPROVE',
      messageTs: '1700000000.000100',
      actionTs: '1700000042.123456',
      responseUrl: 'https://hooks.slack.com/actions/T0RECTIFY/1/abcdef',
    });
  });

  it('reads the button of a real undoOfferMessage', () => {
    const offer = undoOfferMessage({ workflowId: WF, runId: RUN, summary: 'Blocked public access on my-bucket', until: '2023-11-15T22:13:20Z' });
    const actions = (offer.blocks as { type: string; block_id?: string; elements?: Record<string, unknown>[] }[]).find((b) => b.type === 'actions')!;
    const button = actions.elements![0]!;
    // Slack echoes the clicked element (without its confirm dialog) with the block id and an action_ts.
    const { confirm: _confirm, ...clicked } = button;
    const click = parseBlockActions(form(payload({}, { ...clicked, block_id: actions.block_id, action_ts: '1700000099.000001' })));
    expect(click).toMatchObject({ decision: 'undo', workflowId: WF, runId: RUN, actionTs: '1700000099.000001' });
  });

  it('an undo value is checked like any other: a value we did not write is refused', () => {
    expect(problemsOf(form(payload({}, { action_id: 'rectify_undo', value: '{"w":"x"}' })))).toEqual(['button value has no valid r (run id)']);
  });

  it('falls back to container.channel_id / message.ts, and to name or id for the user name', () => {
    const p = payload({ channel: undefined, container: { type: 'message', channel_id: 'C0OTHER' }, user: { id: 'W0ENTERPRISE' } });
    const click = parseBlockActions(form(p));
    expect(click.channel).toBe('C0OTHER');
    expect(click.messageTs).toBe('1700000000.000100');
    expect(click.user).toEqual({ id: 'W0ENTERPRISE', name: 'W0ENTERPRISE' });
    expect(parseBlockActions(form(payload({ user: { id: 'U0123ABCD', name: 'ana.b' } }))).user.name).toBe('ana.b');
  });

  it('omits responseUrl when Slack sent none', () => {
    const p = payload();
    delete p.response_url;
    expect(parseBlockActions(form(p))).not.toHaveProperty('responseUrl');
  });

  it('refuses bodies without exactly one payload field', () => {
    expect(problemsOf('')).toEqual(['no payload field in the form body']);
    expect(problemsOf('foo=bar')).toEqual(['no payload field in the form body']);
    expect(problemsOf(`${form(payload())}&${form(payload())}`)).toEqual(['more than one payload field']);
  });

  it('refuses a payload that is not JSON or not an object', () => {
    expect(problemsOf(form('{not json'))).toEqual(['payload is not valid JSON']);
    expect(problemsOf(form('[1,2]'))).toEqual(['payload is not a JSON object']);
    expect(problemsOf(form('null'))).toEqual(['payload is not a JSON object']);
  });

  it('refuses other interaction types', () => {
    expect(problemsOf(form(payload({ type: 'view_submission' })))).toEqual(['not a block_actions payload (type "view_submission")']);
    expect(problemsOf(form(payload({ type: undefined })))).toEqual(['not a block_actions payload (type missing)']);
  });

  it('refuses unknown actions and several actions', () => {
    expect(problemsOf(form(payload({}, { action_id: 'something_else' })))).toEqual(['unknown action "something_else"']);
    const two = payload();
    two.actions = [...(two.actions as unknown[]), ...(two.actions as unknown[])];
    expect(problemsOf(form(two))).toEqual(['expected one action, got 2']);
    expect(problemsOf(form(payload({ actions: [] })))).toEqual(['actions is missing or empty']);
    expect(problemsOf(form(payload({ actions: 'nope' })))).toEqual(['actions is missing or empty']);
  });

  it('reads the plan digest an approval button carries', () => {
    const planDigest = '0123456789abcdef'.repeat(4);
    expect(parseBlockActions(form(payload({}, { value: encodeButtonValue(WF, RUN, planDigest) })))).toMatchObject({ decision: 'approve', workflowId: WF, runId: RUN, planDigest });
    expect(parseBlockActions(form(payload()))).not.toHaveProperty('planDigest');
    const bad = (p: unknown) => problemsOf(form(payload({}, { value: JSON.stringify({ w: WF, r: RUN, p }) })));
    expect(bad('not-a-digest')).toEqual(['button value has no valid p (plan digest)']);
    expect(bad('A'.repeat(64))).toEqual(['button value has no valid p (plan digest)']);
    expect(bad(42)).toEqual(['button value has no valid p (plan digest)']);
  });

  it('refuses button values we did not write', () => {
    const bad = (value: unknown) => problemsOf(form(payload({}, { value })));
    expect(bad(undefined)).toEqual(['button value is missing']);
    expect(bad('not json')).toEqual(['button value is not valid JSON']);
    expect(bad('"a string"')).toEqual(['button value is not a JSON object']);
    expect(bad(JSON.stringify({ w: WF }))).toEqual(['button value has no valid r (run id)']);
    expect(bad(JSON.stringify({ w: 1, r: [] }))).toEqual(['button value has no valid w (workflow id) and r (run id)']);
    expect(bad(JSON.stringify({ w: 'a\nb', r: RUN }))).toEqual(['button value has no valid w (workflow id)']);
    expect(bad('x'.repeat(2001))).toEqual(['button value is longer than 2000 characters']);
  });

  it('lists every problem at once', () => {
    const p = payload({ user: { id: 'nobody' }, channel: { id: '#general' }, container: {}, message: {}, response_url: 'http://evil.example/' }, { action_id: 'x', value: '{}', action_ts: 'now' });
    expect(problemsOf(form(p))).toEqual([
      'unknown action "x"',
      'button value has no valid w (workflow id) and r (run id)',
      'action_ts is missing or not a Slack timestamp',
      'user.id is missing or not a Slack user id',
      'channel is missing or not a Slack channel id',
      'message ts is missing or not a Slack timestamp',
      'response_url is not an https URL',
    ]);
  });

  it('refuses a missing user', () => {
    expect(problemsOf(form(payload({ user: undefined })))).toEqual(['user is missing']);
    expect(problemsOf(form(payload({ user: 'U0123ABCD' })))).toEqual(['user is missing']);
  });

  it('reads own properties only: __proto__ and inherited keys neither answer nor pollute', () => {
    const hostile = `{"__proto__":{"type":"block_actions","polluted":true},"constructor":{"prototype":{"polluted":true}}}`;
    expect(problemsOf(form(hostile))).toEqual(['not a block_actions payload (type missing)']);
    const withProtoUser = JSON.stringify(payload({ user: undefined })).replace('{', '{"__proto__":{"user":{"id":"U0EVIL"}},');
    expect(problemsOf(form(withProtoUser))).toEqual(['user is missing']);
    const protoValue = JSON.stringify({ __proto__: null }).replace('{', '{"__proto__":{"w":"x","r":"y"}');
    expect(problemsOf(form(payload({}, { value: protoValue })))).toEqual(['button value has no valid w (workflow id) and r (run id)']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('caps the body size', () => {
    expect(problemsOf('payload=' + 'a'.repeat(600 * 1024))).toEqual([expect.stringMatching(/larger than/)]);
  });

  it('property: any JSON payload either parses to a well-formed click or throws InvalidInputError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify({ ...payload(), actions: [{ ...((payload().actions as unknown[])[0] as object), value: v }] }))), (json) => {
        try {
          const click = parseBlockActions(form(json));
          expect(['approve', 'reject', 'undo']).toContain(click.decision);
          expect(typeof click.workflowId).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidInputError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
