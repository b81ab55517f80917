// The operations dashboard in Chromium: the page (server-drawn SVG charts, no
// inline script or style) refreshes itself through static/operations.js when
// the dashboard's data changes — here, when a schedule is created through the
// API with the same session: without a navigation by the test, the page comes
// to show the new count. Watches for CSP violations and page errors.
//
// Run: node --test tests/browser/   (scripts/check runs it against a fresh stack)
// Needs: AISPM_TEST_BASE_URL, AISPM_TEST_LOGINS; Chromium at AISPM_TEST_CHROMIUM.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

import { chromium } from 'playwright-core';

const CHROMIUM = process.env.AISPM_TEST_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'];

function login(file, role) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [r, email, password, ...rest] = line.trim().split(/\s+/);
    if (r === role && email?.includes('@') && password && rest.length === 0) return { email, password };
  }
  throw new Error(`no ${role} login in ${file}`);
}

describe('portal: the operations dashboard refreshes itself', { concurrency: false }, () => {
  let browser;
  after(async () => { await browser?.close(); });

  it('reloads when the data changes, without CSP violations', async () => {
    for (const k of ['AISPM_TEST_BASE_URL', 'AISPM_TEST_LOGINS']) assert.ok(process.env[k], `${k} must be set`);
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}`);
    const base = process.env.AISPM_TEST_BASE_URL.replace(/\/+$/, '');
    const who = login(process.env.AISPM_TEST_LOGINS, 'tenant_admin');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const context = await browser.newContext();
    const violations = [];
    await context.exposeBinding('__csp', (_src, v) => violations.push(v));
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.__csp(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    await page.goto(`${base}/portal/login`);
    await page.locator('#email').fill(who.email);
    await page.locator('#password').fill(who.password);
    await Promise.all([page.waitForURL(`${base}/portal/`), page.getByRole('button', { name: 'Sign in' }).click()]);

    const resp = await page.goto(`${base}/portal/operations?refresh=5`);
    assert.equal(resp.status(), 200);
    assert.ok(await page.locator('svg.chart rect').count() > 0, 'the queue chart is drawn on the server');
    assert.equal(await page.locator('#operations').getAttribute('data-refresh-seconds'), '5');
    const before = Number(await page.locator('.stat-value').nth(1).textContent());
    // other suites may change this tenant's dashboard at the same time (node
    // --test runs files concurrently), so the test waits for its own change to
    // show instead of asserting that nothing reloads
    await page.evaluate(() => { window.__marker = 'same page'; });

    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const created = await page.request.post(`${base}/enterprise/aispm/reports/schedules`, {
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' },
      data: { name: 'browser refresh check', report_ids: ['board_kpi_pack'], formats: ['json'], cadence: 'daily' },
    });
    assert.equal(created.status(), 201, await created.text());
    const ref = (await created.json()).schedule_ref;
    await page.waitForFunction((n) => window.__marker === undefined &&
      Number(document.querySelectorAll('.stat-value')[1]?.textContent) === n, before + 1, { timeout: 20_000 });
    assert.equal(Number(await page.locator('.stat-value').nth(1).textContent()), before + 1,
      'the page reloaded by itself and counts the new schedule');
    const del = await page.request.delete(`${base}/enterprise/aispm/reports/schedules/${ref}`, {
      headers: { 'X-CSRF-Token': csrf },
    });
    assert.equal(del.status(), 204);
    assert.deepEqual(violations, [], 'no CSP violations');
    assert.deepEqual(errors, [], 'no page errors');
  });
});
