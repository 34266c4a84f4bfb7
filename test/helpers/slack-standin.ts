import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Slack Web API, so tests drive the real `@slack/web-api` WebClient
 * (pointed here with `slackApiUrl`) against genuine HTTP: form-encoded or JSON bodies, the
 * bearer token, `{ok:false,error}` answers and 429 + Retry-After.
 *
 * Implements chat.postMessage (with message metadata), chat.update, chat.postEphemeral,
 * conversations.history and conversations.replies (metadata with include_all_metadata),
 * usergroups.users.list and auth.test. Every request to a method is recorded in `calls` (token removed, `blocks` /
 * `attachments` JSON-parsed), including the ones that failed (`error` set).
 */
export interface SlackCall {
  readonly method: string;
  readonly args: Record<string, unknown>;
  /** The error answered, when the call failed (`ratelimited` for an injected 429). */
  readonly error?: string;
}

export interface StoredMessage {
  ts: string;
  text: string;
  blocks?: unknown;
  thread_ts?: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

export interface SlackStandIn {
  /** Base URL for `new WebClient(token, { slackApiUrl })`; ends with `/api/`. */
  readonly apiUrl: string;
  readonly calls: SlackCall[];
  /** Messages in a channel (posted and updated in place; not ephemeral ones), oldest first. */
  messages(channel: string): StoredMessage[];
  /**
   * The next `times` calls of `method` fail: `ratelimited` with HTTP 429 + `Retry-After: 1`;
   * `lost`: the call takes effect, then the answer is an HTTP 500 (as if lost on the way back);
   * any other code as `{ok:false,error}`.
   */
  failNext(method: string, times: number, error: 'ratelimited' | 'lost' | string): void;
  close(): Promise<void>;
}

export interface SlackStandInOptions {
  readonly token: string;
  /** User group id -> member user ids, for usergroups.users.list. */
  readonly usergroups?: Record<string, string[]>;
}

const BOT_USER_ID = 'U0RECTIFY';
const BOT_ID = 'B0RECTIFY';
const TEAM_ID = 'T0RECTIFY';
const MAX_BODY = 1024 * 1024;

type Answer = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

export async function startSlackStandIn(opts: SlackStandInOptions): Promise<SlackStandIn> {
  const calls: SlackCall[] = [];
  const channels = new Map<string, StoredMessage[]>();
  const failures = new Map<string, { error: string; times: number }[]>();
  const usergroups = new Map(Object.entries(opts.usergroups ?? {}));
  let tsCounter = 0;
  const nextTs = () => {
    tsCounter += 100;
    return `${1_700_000_000 + Math.floor(tsCounter / 1_000_000)}.${String(tsCounter % 1_000_000).padStart(6, '0')}`;
  };
  const channelMessages = (channel: string) => {
    let list = channels.get(channel);
    if (!list) channels.set(channel, (list = []));
    return list;
  };

  const methods: Record<string, (args: Record<string, unknown>) => Answer> = {
    'auth.test': () => ok({ url: 'https://rectify-test.slack.com/', team: 'rectify-test', user: 'rectify', team_id: TEAM_ID, user_id: BOT_USER_ID, bot_id: BOT_ID }),

    'chat.postMessage': (args) => {
      const channel = asString(args.channel);
      if (!channel) return fail('channel_not_found');
      if (!asString(args.text) && args.blocks === undefined) return fail('no_text');
      const message: StoredMessage = { ts: nextTs(), text: asString(args.text) ?? '' };
      if (args.blocks !== undefined) message.blocks = args.blocks;
      const thread = asString(args.thread_ts);
      if (thread) message.thread_ts = thread;
      const metadata = typeof args.metadata === 'string' ? (JSON.parse(args.metadata) as unknown) : args.metadata;
      if (metadata && typeof metadata === 'object') message.metadata = metadata as StoredMessage['metadata'];
      channelMessages(channel).push(message);
      return ok({ channel, ts: message.ts, message: { type: 'message', user: BOT_USER_ID, bot_id: BOT_ID, ...message } });
    },

    'chat.update': (args) => {
      const channel = asString(args.channel);
      const ts = asString(args.ts);
      if (!channel) return fail('channel_not_found');
      const message = ts ? channels.get(channel)?.find((m) => m.ts === ts) : undefined;
      if (!message) return fail('message_not_found');
      if (args.text !== undefined) message.text = asString(args.text) ?? '';
      if (args.blocks !== undefined) message.blocks = args.blocks;
      return ok({ channel, ts: message.ts, text: message.text, message: { type: 'message', user: BOT_USER_ID, bot_id: BOT_ID, text: message.text, ...(message.blocks !== undefined ? { blocks: message.blocks } : {}) } });
    },

    'chat.postEphemeral': (args) => {
      if (!asString(args.channel)) return fail('channel_not_found');
      if (!asString(args.user)) return fail('user_not_in_channel');
      if (!asString(args.text) && args.blocks === undefined) return fail('no_text');
      return ok({ message_ts: nextTs() });
    },

    'conversations.history': (args) => {
      const channel = asString(args.channel);
      if (!channel) return fail('channel_not_found');
      const all = String(args.include_all_metadata) === 'true';
      const top = channelMessages(channel).filter((m) => !m.thread_ts || m.thread_ts === m.ts);
      return ok({ messages: top.slice(-Number(args.limit ?? 100)).reverse().map((m) => shown(m, all)), has_more: false });
    },

    'conversations.replies': (args) => {
      const channel = asString(args.channel);
      const ts = asString(args.ts);
      if (!channel) return fail('channel_not_found');
      const list = channelMessages(channel);
      const parent = list.find((m) => m.ts === ts);
      if (!parent) return fail('thread_not_found');
      const all = String(args.include_all_metadata) === 'true';
      return ok({ messages: [parent, ...list.filter((m) => m.thread_ts === ts && m.ts !== ts)].map((m) => shown(m, all)), has_more: false });
    },

    'usergroups.users.list': (args) => {
      const group = asString(args.usergroup);
      const users = group ? usergroups.get(group) : undefined;
      if (!users) return fail('no_such_subteam');
      return ok({ users: [...users] });
    },
  };

  const handle = (method: string, headers: IncomingMessage['headers'], args: Record<string, unknown>): Answer => {
    const handler = Object.prototype.hasOwnProperty.call(methods, method) ? methods[method] : undefined;
    if (!handler) return fail('unknown_method');

    const queue = failures.get(method);
    const injected = queue?.[0];
    if (injected) {
      if (--injected.times <= 0) queue.shift();
      if (injected.error === 'lost') {
        handler(args);
        return { status: 500, body: { ok: false, error: 'internal_error' } };
      }
      if (injected.error === 'ratelimited') return { status: 429, headers: { 'Retry-After': '1' }, body: { ok: false, error: 'ratelimited' } };
      return fail(injected.error);
    }

    const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim();
    const token = bearer ?? asString(args.token);
    if (!token) return fail('not_authed');
    if (token !== opts.token) return fail('invalid_auth');
    return handler(args);
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://standin');
      const method = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname)?.[1];
      if (!method) return send(res, { status: 404, body: { ok: false, error: 'unknown_method' } });
      if (size > MAX_BODY) return send(res, { status: 413, body: { ok: false, error: 'request_too_large' } });
      let args: Record<string, unknown>;
      try {
        args = { ...Object.fromEntries(url.searchParams), ...decodeBody(req.headers['content-type'], Buffer.concat(chunks).toString('utf8')) };
      } catch {
        const answer = fail('invalid_json');
        calls.push({ method, args: {}, error: 'invalid_json' });
        return send(res, answer);
      }
      const answer = handle(method, req.headers, args);
      const { token: _token, ...recorded } = args;
      const error = answer.body.ok === false ? String(answer.body.error) : undefined;
      calls.push({ method, args: recorded, ...(error ? { error } : {}) });
      send(res, answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    messages: (channel) => (channels.get(channel) ?? []).map((m) => ({ ...m })),
    failNext(method, times, error) {
      if (times <= 0) return;
      const queue = failures.get(method) ?? [];
      queue.push({ error, times });
      failures.set(method, queue);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A stored message as the API shows it; metadata only when asked for (`include_all_metadata`). */
const shown = (m: StoredMessage, withMetadata: boolean) => {
  const { metadata, ...rest } = m;
  return { type: 'message', user: BOT_USER_ID, bot_id: BOT_ID, ...rest, ...(withMetadata && metadata ? { metadata } : {}) };
};
const ok = (body: Record<string, unknown>): Answer => ({ status: 200, body: { ok: true, ...body } });
const fail = (error: string): Answer => ({ status: 200, body: { ok: false, error } });
const asString = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Form-encoded (what WebClient sends: nested values JSON-encoded as strings) or JSON; `blocks` and `attachments` come back parsed. */
function decodeBody(contentType: string | undefined, text: string): Record<string, unknown> {
  if (text.length === 0) return {};
  let args: Record<string, unknown>;
  if (/^application\/json\b/i.test(contentType ?? '')) {
    const parsed: unknown = JSON.parse(text);
    args = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? { ...(parsed as Record<string, unknown>) } : {};
  } else {
    args = Object.fromEntries(new URLSearchParams(text));
  }
  for (const key of ['blocks', 'attachments']) {
    const v = args[key];
    if (typeof v === 'string') {
      try {
        args[key] = JSON.parse(v) as unknown;
      } catch {
        // Left as sent: Slack would answer invalid_blocks; tests see the raw string.
      }
    }
  }
  return args;
}

function send(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8', ...a.headers });
  res.end(JSON.stringify(a.body));
}
