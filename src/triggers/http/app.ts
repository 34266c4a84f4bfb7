import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { InvalidInputError } from '../../errors.js';
import { normalizeEventBridgeEvent, normalizeGenericFindings, type Normalized } from '../../findings/index.js';
import type { Logger } from '../../log.js';
import type { ScanRequestResult, SubmitResult, Submitter } from '../submit.js';
import { parseBlockActions, type ApprovalClick } from '../../slack/interaction.js';
import { requireToken } from './auth.js';
import { HttpError, errorMapper } from './errors.js';
import { requireSlackSignature, type SlackEnv } from './slack-auth.js';
import { serveCodec, type CodecServerOptions } from '../../codec/http.js';

export interface AppOptions {
  readonly submitter: Submitter;
  readonly webhookToken: string;
  readonly bodyLimitBytes: number;
  /** True when Temporal answers. */
  readonly temporalHealthy: () => Promise<boolean>;
  readonly logger: Logger;
  /** Slack interactivity (Approve / Reject clicks); absent when no signing secret is configured. */
  readonly slack?: {
    readonly signingSecret: string;
    /** Delivers a verified click; runs after Slack has been answered. Must not throw. */
    readonly onClick: (click: ApprovalClick) => Promise<void>;
  };
  /** The codec server for the Temporal Web UI and CLI (src/codec/http.ts); absent when no CODEC_SERVER_TOKEN is configured. */
  readonly codec?: Omit<CodecServerOptions, 'limit' | 'logger'>;
}

/**
 * The trigger HTTP API:
 * - `POST /v1/events`: an EventBridge event as an API destination delivers it;
 * - `POST /v1/findings`: one generic finding, or `{ "findings": [...] }`;
 * - `POST /slack/interactions`: Approve / Reject clicks, signature-checked before anything else;
 * - `POST /codec/encode`, `/codec/decode`: the codec server of encrypted payloads, for the Temporal Web UI and CLI;
 * - `GET /healthz`.
 * Answers 202 with the workflows started or joined (remediations, and the scans account-level
 * findings ask for); 4xx naming every problem for bad input.
 */
export function createApp(o: AppOptions): Hono<SlackEnv> {
  const app = new Hono<SlackEnv>();
  app.onError(errorMapper(o.logger));
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', async (c) => {
    const temporal = await o.temporalHealthy().catch(() => false);
    return c.json({ status: temporal ? 'ok' : 'degraded', temporal: temporal ? 'reachable' : 'unreachable' }, temporal ? 200 : 503);
  });

  const auth = requireToken(o.webhookToken);
  const limit = bodyLimit({
    maxSize: o.bodyLimitBytes,
    onError: () => {
      throw new HttpError(413, 'body_too_large', `request body exceeds ${o.bodyLimitBytes} bytes`);
    },
  });

  const ingest = (normalize: (body: unknown) => Normalized) => async (c: Context) => {
    const body = await readJson(c);
    let normalized: Normalized;
    try {
      normalized = normalize(body);
    } catch (err) {
      if (err instanceof InvalidInputError) throw new HttpError(422, 'invalid_event', err.message, err.problems);
      throw err;
    }
    const receivedAt = new Date();
    const results: SubmitResult[] = [];
    for (const finding of normalized.findings) {
      try {
        results.push(await o.submitter.submit(finding, receivedAt));
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        o.logger.error('could not start remediation', { findingId: finding.id, error: (err as Error).message, ...(cause ? { cause: cause.message } : {}) });
        // 503 makes EventBridge (and well-behaved senders) retry; starts are idempotent, so a retry is safe.
        throw new HttpError(503, 'temporal_unavailable', 'could not reach the workflow service; retry later', [], { 'Retry-After': '5' });
      }
    }
    const scans: ScanRequestResult[] = [];
    for (const request of normalized.scans ?? []) {
      try {
        scans.push(await o.submitter.requestScan(request));
      } catch (err) {
        o.logger.error('could not start scan', { control: request.control, account: request.account, region: request.region, error: (err as Error).message });
        throw new HttpError(503, 'temporal_unavailable', 'could not reach the workflow service; retry later', [], { 'Retry-After': '5' });
      }
    }
    for (const r of results) o.logger.info('finding accepted', { findingId: r.findingId, workflowId: r.workflowId, status: r.status });
    for (const s of scans) o.logger.info('scan requested', { workflowId: s.workflowId, status: s.status });
    for (const i of normalized.ignored) o.logger.info('event ignored', { reason: i.reason, ref: i.ref });
    return c.json({ accepted: results.length, findings: results, ignored: normalized.ignored, ...(scans.length ? { scans } : {}) }, 202);
  };

  app.post('/v1/events', auth, limit, ingest(normalizeEventBridgeEvent));
  app.post('/v1/findings', auth, limit, ingest(normalizeGenericFindings));

  serveCodec(app, o.codec ? { ...o.codec, limit, logger: o.logger } : undefined);

  if (o.slack) {
    const { onClick } = o.slack;
    app.post('/slack/interactions', limit, requireSlackSignature({ signingSecret: o.slack.signingSecret }), async (c) => {
      let click: ApprovalClick;
      try {
        click = parseBlockActions(c.get('rawBody'));
      } catch (err) {
        if (err instanceof InvalidInputError) throw new HttpError(400, 'invalid_interaction', err.message, err.problems);
        throw err;
      }
      o.logger.info('approval click', { workflowId: click.workflowId, decision: click.decision, user: click.user.id });
      // Slack wants an answer within 3 seconds; the decision travels on after it, and its outcome
      // reaches the person as the message updated in place or an ephemeral reply.
      void onClick(click).catch((err: unknown) => o.logger.error('approval click not delivered', { workflowId: click.workflowId, error: (err as Error).message }));
      return c.body(null, 200);
    });
  } else {
    app.post('/slack/interactions', () => {
      throw new HttpError(404, 'slack_not_configured', 'Slack interactivity is not configured (SLACK_SIGNING_SECRET is unset)');
    });
  }
  return app;
}

async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type');
  if (type && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', `content-type must be application/json, got "${type}"`);
  }
  const text = await c.req.text();
  if (text.trim() === '') throw new HttpError(400, 'empty_body', 'request body is empty; expected a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}
