import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';

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
});
