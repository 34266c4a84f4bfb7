import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { CHROMIUM_ARGS, ensureChromium } from '../../src/stack/chromium.js';
import { createSubmitter } from '../../src/triggers/submit.js';
import { getStatus } from '../../src/workflows/messages.js';
import { makeSecurityGroup, sgFinding, world22 } from '../helpers/fixtures.js';
import { defaultPolicy, startTestWorker, type TestWorker } from '../helpers/stack.js';

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
