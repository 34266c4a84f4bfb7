import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import type { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { CHROMIUM_ARGS, ensureChromium } from '../../src/stack/chromium.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus } from '../../src/workflows/messages.js';
import { randomBytes } from 'node:crypto';
import { withPayloadCodec } from '../../src/codec/encryption.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startTriggerServer, type TriggerServer } from '../../src/triggers/server.js';
import { makeSecurityGroup, sgFinding, world22 } from '../helpers/fixtures.js';
import { defaultPolicy, startTestWorker, temporalClient, unique, type TestWorker } from '../helpers/stack.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });

/** The dev server built from the Temporal CLI's Go module must serve the Web UI with its assets, not an empty shell. */
describe('Temporal Web UI of the dev server', () => {
  it('serves the UI page and the JavaScript it loads', async () => {
    const ui = inject('temporalUiUrl');
    const page = await fetch(`${ui}/namespaces/default/workflows`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const modules = [...html.matchAll(/<link rel="modulepreload" href="([^"]+\.js)"/g)].map((m) => m[1]!);
    expect(modules.length).toBeGreaterThan(0);
    for (const src of modules.slice(0, 5)) {
      const res = await fetch(new URL(src, ui));
      expect(res.status, src).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/javascript/);
      expect((await res.text()).length).toBeGreaterThan(20);
    }
  });

  describe('in a real browser', () => {
    let browser: Browser;
    let w: TestWorker;

    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: await ensureChromium(), args: CHROMIUM_ARGS });
      w = await startTestWorker();
    });
    afterAll(async () => {
      await browser?.close();
      await w?.stop();
    });

    it('lists the remediations waiting for approval with a search attribute query and finds the expected one', async () => {
      const { client, aws, taskQueue } = w;
      const groupId = await makeSecurityGroup(aws, [world22], { environment: 'production' });
      const r = await createSubmitter(client, { taskQueue, verifyDeadlineMs: 20_000, policy: defaultPolicy }).submit(sgFinding(groupId));
      const handle = client.workflow.getHandle(r.workflowId, r.runId);
      for (let i = 0; i < 100 && (await handle.query(getStatus)).status !== 'AwaitingApproval'; i++) await new Promise((x) => setTimeout(x, 100));

      const query = `RemediationStatus = "AwaitingApproval" AND FindingResource = "${groupId}"`;
      const url = `${inject('temporalUiUrl')}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      let found = false;
      // Visibility is eventually consistent: reload until the list has it.
      for (let i = 0; i < 6 && !found; i++) {
        await page.goto(url);
        found = await page
          .getByText(r.workflowId)
          .first()
          .waitFor({ state: 'visible', timeout: 10_000 })
          .then(() => true, () => false);
      }
      await page.screenshot({ path: 'test-results/temporal-ui-awaiting-approval.png' });
      expect(found).toBe(true);
      // Exactly this one matches the query.
      await page.getByText('1 Workflow', { exact: true }).waitFor({ state: 'visible', timeout: 10_000 });
      await page.close();
      await handle.terminate('test over');
    }, 90_000);
  });
});

/**
 * The Web UI of the dev server, in a real browser, showing an encrypted workflow input decoded by
 * the trigger server's codec server: the operator signs in at /codec/login, and the UI's browser
 * codec setting (endpoint, "include cross-origin credentials", as its Codec Server dialog stores
 * them) sends the session cookie cross-origin. Without signing in the UI gets 401 and shows no
 * plaintext.
 */
describe('encrypted payloads shown decoded in the Web UI', () => {
  const CODEC_TOKEN = 'codec-token-for-the-web-ui-00001';
  const secret = `payroll-exports-${randomBytes(4).toString('hex')}`;
  let browser: Browser;
  let server: TriggerServer;
  let codecClient: { client: Client; connection: Connection };
  let workflowId: string;
  let codecEndpoint: string;

  beforeAll(async () => {
    const ui = inject('temporalUiUrl');
    const config = loadConfig({
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: unique('ui-codec'),
      HOST: '127.0.0.1',
      PORT: '0',
      WEBHOOK_TOKEN: 'a-webhook-token-of-32-characters',
      PAYLOAD_ENCRYPTION_KEYS: `ui-1:${randomBytes(32).toString('base64')}`,
      CODEC_SERVER_TOKEN: CODEC_TOKEN,
      CODEC_SERVER_CORS_ORIGINS: new URL(ui).origin,
    });
    codecClient = await temporalClient(withPayloadCodec(config.payloadEncryption).dataConverter);
    server = await startTriggerServer(config, codecClient.client, silentLogger, defaultPolicy);
    // The UI is at http://localhost:<port>; the codec server on the same host, another port.
    codecEndpoint = `http://localhost:${new URL(server.url).port}/codec`;
    workflowId = unique('ui-codec');
    // No worker polls this queue: the run keeps its first event, whose input is encrypted.
    await codecClient.client.workflow.start('remediateFinding', { taskQueue: config.temporal.taskQueue, workflowId, args: [{ bucket: secret, owner: 'payroll-team' }] });
    browser = await chromium.launch({ executablePath: await ensureChromium(), args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await codecClient?.client.workflow.getHandle(workflowId).terminate('test over').catch(() => undefined);
    await browser?.close();
    await server?.close();
    await codecClient?.connection.close();
  });

  /** A browser profile whose Web UI uses the codec server with credentials, as set in the UI's Codec Server dialog. */
  async function uiContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const settings = { endpoint: codecEndpoint, passAccessToken: false, includeCredentials: true, overrideRemoteCodecConfiguration: true };
    const origin = JSON.stringify(new URL(inject('temporalUiUrl')).origin);
    await context.addInitScript({
      content: `if (location.origin === ${origin}) for (const [k, v] of Object.entries(${JSON.stringify(settings)})) localStorage.setItem(k, JSON.stringify(v));`,
    });
    return context;
  }

  async function openWorkflow(context: BrowserContext) {
    const page = await context.newPage();
    const decoded = page.waitForResponse((r) => r.url() === `${codecEndpoint}/decode` && r.request().method() === 'POST', { timeout: 30_000 });
    await page.goto(`${inject('temporalUiUrl')}/namespaces/default/workflows/${workflowId}`);
    const res = await decoded;
    return { page, status: res.status() };
  }

  it('shows nothing decoded to a browser that has not signed in (the codec server answers 401)', async () => {
    const context = await uiContext();
    const { page, status } = await openWorkflow(context);
    expect(status).toBe(401);
    await page.getByText(workflowId).first().waitFor({ state: 'visible', timeout: 15_000 });
    await page.waitForTimeout(1000);
    expect(await page.getByText(secret).count()).toBe(0);
    await context.close();
  }, 90_000);

  it('shows the decrypted input once the operator has signed in at /codec/login', async () => {
    const context = await uiContext();
    const login = await context.newPage();
    await login.goto(`${codecEndpoint}/login`);
    await login.getByLabel('Codec server token').fill(CODEC_TOKEN);
    await login.getByRole('button', { name: 'Sign in' }).click();
    await login.getByText('Signed in until').waitFor({ state: 'visible', timeout: 10_000 });
    const cookies = await context.cookies(codecEndpoint);
    expect(cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite, c.path])).toEqual([['rectify_codec_session', true, true, 'None', '/codec']]);

    const { page, status } = await openWorkflow(context);
    expect(status).toBe(200);
    await page.getByText(secret).first().waitFor({ state: 'visible', timeout: 20_000 });
    await page.screenshot({ path: 'test-results/temporal-ui-decoded-input.png' });
    await context.close();
  }, 90_000);
});
