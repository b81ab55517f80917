// Browser journey through the AISPM Report Center portal, as a tenant
// administrator would take it: sign in, complete the four-step delivery setup
// wizard (including two rejected submissions), land on the report catalog,
// sign out.
//
// Run: node --test tests/browser/   (scripts/check runs it against a fresh stack)
// Needs: AISPM_TEST_BASE_URL, AISPM_TEST_STATE, AISPM_TEST_LOGINS (exported by
// scripts/check); Debian's chromium (AISPM_TEST_CHROMIUM, default
// /usr/bin/chromium); `npm ci` in tests/browser for playwright-core.
//
// The journey works on a stack whose wizard was already (partly) completed by
// another suite: where the server legitimately redirects to a different step
// than the next one in order, the test checks that redirect against the
// stepper it was shown and then opens the step it wants through the stepper.
//
// Every page visited is watched for console errors, uncaught exceptions and
// Content-Security-Policy violations; the only console errors tolerated are
// Chromium's "Failed to load resource ... 422" lines for the two submissions
// this test deliberately makes invalid.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

const REQUIRED_ENV = ['AISPM_TEST_BASE_URL', 'AISPM_TEST_STATE', 'AISPM_TEST_LOGINS'];
const CHROMIUM = process.env.AISPM_TEST_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

const STEPS = ['organization_profile', 'delivery_provider', 'recipient_governance', 'schedule_and_audit'];
const CATALOG_DONE = '/portal/catalog?setup=done';
const EXPECTED_REPORT_IDS = [
  'executive_risk_brief', 'board_kpi_pack', 'soc2_audit_summary', 'control_coverage_export',
  'evidence_freshness_export', 'agent_risk_register', 'pdf_board_pack', 'xlsx_evidence_workbook',
  'docx_audit_narrative', 'signed_json_evidence_packet', 'siem_jsonl_export', 'grc_upload_package',
];
// A raw credential typed where only a reference (env:NAME / file:/path) belongs.
const RAW_SECRET = `CANARY-SECRET-${randomBytes(12).toString('hex')}`;

/** Reads the environment; throws one error naming everything that is missing. */
function loadEnv() {
  const missing = REQUIRED_ENV.filter((k) => !process.env[k]);
  if (missing.length) {
    throw new Error(
      `missing environment: ${missing.join(', ')}. These tests run against a live stack: use scripts/check, ` +
        'or start one with scripts/up --port N --state DIR --skip-packages and export AISPM_TEST_BASE_URL, ' +
        'AISPM_TEST_STATE and AISPM_TEST_LOGINS (DIR/demo-logins.txt)',
    );
  }
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set AISPM_TEST_CHROMIUM)`);
  const base = process.env.AISPM_TEST_BASE_URL.replace(/\/+$/, '');
  const state = process.env.AISPM_TEST_STATE;
  if (!statSync(state, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`AISPM_TEST_STATE=${state} is not a directory`);
  return { base, state, login: demoLogin(process.env.AISPM_TEST_LOGINS, 'tenant_admin') };
}

/** Finds ROLE's email and password in the demo-logins file ("role email password" lines after a header). */
function demoLogin(file, role) {
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    const [r, email, password, ...rest] = line.trim().split(/\s+/);
    if (r === role && email?.includes('@') && password && rest.length === 0) return { email, password };
  }
  throw new Error(`no "${role} EMAIL PASSWORD" line in ${file}`);
}

describe('portal: sign in, setup wizard, catalog, sign out', { concurrency: false }, () => {
  let env;
  let browser;
  let context;
  let page;
  const consoleErrors = []; // {text, url}
  const cspViolations = []; // {directive, blocked, url}
  const pageErrors = []; // {message, url}
  const expected422 = new Set(); // page URLs where this test provoked a 422 on purpose
  let failedStep = null;

  // A step of the journey: once one fails, the later ones fail at once
  // (naming the step that broke) instead of timing out on the wrong page.
  function step(name, fn) {
    it(name, { timeout: 60_000 }, async () => {
      if (failedStep) assert.fail(`not run: the earlier step "${failedStep}" failed`);
      try {
        await fn();
      } catch (err) {
        failedStep = name;
        throw err;
      }
    });
  }

  const url = (p) => env.base + p;
  const here = () => {
    const u = new URL(page.url());
    return u.pathname + u.search;
  };

  /** Clicks a submit button and returns the response to its form's POST (before any redirect). */
  async function submit(buttonName) {
    const button = page.getByRole('button', { name: buttonName, exact: true });
    const formPath = new URL(await button.evaluate((b) => b.form.action)).pathname;
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === formPath),
      button.click(),
    ]);
    await page.waitForLoadState('load');
    return resp;
  }

  /** The stepper's view of the wizard: [{id, complete, current}] in order. */
  async function stepper() {
    const items = page.locator('nav.stepper-nav .step');
    const n = await items.count();
    const out = [];
    for (let i = 0; i < n; i++) {
      const li = items.nth(i);
      const href = await li.locator('a.step-link').getAttribute('href');
      const cls = (await li.getAttribute('class')) ?? '';
      out.push({ id: href.replace('/portal/setup/', ''), complete: /\bis-complete\b/.test(cls), current: /\bis-current\b/.test(cls) });
    }
    return out;
  }

  /** Opens STEP_ID (through the stepper when shown) unless already there; checks the page is that step's form. */
  async function openStep(stepId) {
    const target = `/portal/setup/${stepId}`;
    if (new URL(page.url()).pathname !== target) {
      const link = page.locator(`nav.stepper-nav a[href="${target}"]`);
      if (await link.count()) await Promise.all([page.waitForURL(url(target)), link.click()]);
      else await page.goto(url(target)); // e.g. on the catalog, after the wizard was already complete
    }
    const form = page.locator('form.wizard-form');
    assert.equal(await form.getAttribute('action'), `/portal/setup/${stepId}`);
    assert.equal(await page.locator('nav.stepper-nav a[aria-current="step"]').getAttribute('href'), `/portal/setup/${stepId}`);
  }

  /**
   * Saves the current step (the form must be valid) and checks where the server
   * sends us: the first step still incomplete (other than this one), or the
   * catalog once all are complete. Then opens NEXT_STEP (if given).
   */
  async function saveStep(stepId, nextStep) {
    const before = await stepper();
    assert.deepEqual(before.map((s) => s.id), STEPS, 'the stepper lists the four steps in order');
    const pending = before.filter((s) => !s.complete && s.id !== stepId);
    const expected = pending.length ? `/portal/setup/${pending[0].id}` : CATALOG_DONE;
    const resp = await submit('Save and continue');
    assert.equal(resp.status(), 303, `saving ${stepId} answers 303 (got ${resp.status()}: ${await resp.text().catch(() => '')})`);
    assert.equal(resp.headers().location, expected, `after ${stepId} the server redirects to the next incomplete step`);
    await page.waitForURL(url(expected));
    assert.equal(here(), expected);
    if (nextStep) await openStep(nextStep);
  }

  /** Checks the 422 page: status, alert, the named fields marked invalid with their messages, others not. */
  async function assertFieldErrors(resp, invalid, messageParts) {
    assert.equal(resp.status(), 422, 'an invalid step is answered with 422');
    expected422.add(page.url());
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'Please correct the highlighted fields' }).waitFor());
    const marked = await page.locator('form.wizard-form [aria-invalid="true"]').evaluateAll((els) => els.map((e) => e.id).sort());
    assert.deepEqual(marked, [...invalid].sort(), 'exactly the invalid fields carry aria-invalid="true"');
    for (const [i, name] of invalid.entries()) {
      const err = page.locator(`[id="${name}-error"]`);
      assert.ok(await err.isVisible(), `${name} shows its field error`);
      assert.match(await err.textContent(), messageParts[i]);
      const describedBy = (await page.locator(`[id="${name}"]`).getAttribute('aria-describedby')).split(/\s+/);
      assert.ok(describedBy.includes(`${name}-error`), `${name} is described by its error message`);
      // the error summary links to the field
      assert.equal(await page.locator(`.error-list a[href="#${name}"]`).count(), 1, `the error summary links to ${name}`);
    }
  }

  after(async () => {
    await browser?.close();
  });

  // Environment and browser start are a step of their own: a missing variable
  // fails this test (and, through the guard, every later one) by name.
  step('starts Chromium with a fresh context against the stack', async () => {
    env = loadEnv();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // CSP violations, reported from inside every document (init scripts and
    // bindings are installed by the DevTools protocol, outside the page's CSP).
    await context.exposeBinding('__aispmCspViolation', ({ page: p }, v) => {
      cspViolations.push({ ...v, url: p.url() });
    });
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__aispmCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber });
      });
    });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push({ text: m.text(), url: m.location()?.url || page.url() });
    });
    page.on('pageerror', (e) => pageErrors.push({ message: String(e), url: page.url() }));
    assert.equal((await context.cookies()).length, 0, 'the context starts without cookies');
  });

  step('signs in as the tenant admin and lands on the home page', async () => {
    const resp = await page.goto(url('/portal/login'));
    assert.equal(resp.status(), 200);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in');
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0, 'an anonymous page has no Sign out button');
    await page.locator('#email').fill(env.login.email);
    await page.locator('#password').fill(env.login.password);
    const post = await submit('Sign in');
    assert.equal(post.status(), 303, 'a correct sign-in redirects');
    await page.waitForURL(url('/portal/'));
    assert.equal(here(), '/portal/');
    assert.match(await page.getByRole('heading', { level: 1 }).textContent(), /^Welcome, \S/);
    assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible(), 'the header offers Sign out');
    assert.ok(await page.locator('#setup-heading').isVisible(), 'a tenant admin sees the delivery setup card');
  });

  step('opens the setup wizard from the home page', async () => {
    await page.locator('section[aria-labelledby="setup-heading"] a[href="/portal/setup"]').click();
    await page.waitForURL(/\/portal\/setup\/[a-z_]+$/);
    const steps = await stepper();
    assert.deepEqual(steps.map((s) => s.id), STEPS);
    // /portal/setup opens the first incomplete step (the first step when all are complete)
    const expected = steps.find((s) => !s.complete)?.id ?? STEPS[0];
    assert.equal(here(), `/portal/setup/${expected}`);
    await openStep('organization_profile');
  });

  step('step 1 rejects an unknown time zone with a field error (422)', async () => {
    await page.locator('#CAVRA_REPORT_FROM_ADDRESS').fill('reports@acme.example');
    await page.locator('#CAVRA_REPORT_DEFAULT_TIMEZONE').fill('Mars/Olympus_Mons');
    await page.locator('#CAVRA_REPORT_RETENTION_DAYS').fill('365');
    const resp = await submit('Save and continue');
    await assertFieldErrors(resp, ['CAVRA_REPORT_DEFAULT_TIMEZONE'], [/IANA time zone/]);
    assert.equal(here(), '/portal/setup/organization_profile', 'the 422 page is the same step');
    // what was valid is kept, so the user fixes only the broken field
    assert.equal(await page.locator('#CAVRA_REPORT_FROM_ADDRESS').inputValue(), 'reports@acme.example');
    assert.equal(await page.locator('#CAVRA_REPORT_RETENTION_DAYS').inputValue(), '365');
    assert.equal(await page.locator('#CAVRA_REPORT_DEFAULT_TIMEZONE').inputValue(), 'Mars/Olympus_Mons');
  });

  step('step 1 (organization_profile) saves once the time zone is fixed', async () => {
    await page.locator('#CAVRA_REPORT_DEFAULT_TIMEZONE').fill('Europe/Berlin');
    await saveStep('organization_profile', 'delivery_provider');
  });

  step('step 2 rejects a raw secret in a *_REF field and does not echo it back', async () => {
    await page.locator('#CAVRA_REPORT_DELIVERY_MODE').selectOption('smtp');
    await page.locator('#CAVRA_REPORT_SMTP_HOST').fill('smtp.acme.example');
    await page.locator('#CAVRA_REPORT_SMTP_PORT').fill('587');
    await page.locator('#CAVRA_REPORT_SMTP_PASSWORD_REF').fill(RAW_SECRET);
    const resp = await submit('Save and continue');
    await assertFieldErrors(resp, ['CAVRA_REPORT_SMTP_PASSWORD_REF'], [/secret reference.*never a secret value/]);
    const body = await resp.text();
    assert.equal(await page.locator('#CAVRA_REPORT_SMTP_PASSWORD_REF').inputValue(), '', 'the rejected value is not put back into the input');
    assert.equal(await page.locator('#CAVRA_REPORT_SMTP_PASSWORD_REF').getAttribute('value'), '');
    assert.ok(!body.includes(RAW_SECRET), 'the raw secret appears nowhere in the 422 response');
    assert.ok(!(await page.content()).includes(RAW_SECRET), 'the raw secret appears nowhere in the page');
    // the other, valid fields are kept
    assert.equal(await page.locator('#CAVRA_REPORT_DELIVERY_MODE').inputValue(), 'smtp');
    assert.equal(await page.locator('#CAVRA_REPORT_SMTP_HOST').inputValue(), 'smtp.acme.example');
    assert.equal(await page.locator('#CAVRA_REPORT_SMTP_PORT').inputValue(), '587');
  });

  step('step 2 (delivery_provider) saves with a secret reference', async () => {
    await page.locator('#CAVRA_REPORT_SMTP_PASSWORD_REF').fill('env:SMTP_PASSWORD');
    await saveStep('delivery_provider', 'recipient_governance');
  });

  step('step 3 (recipient_governance) saves domains and the approval gate', async () => {
    await page.locator('#CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS').fill('acme.example');
    await page.locator('#CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED').check();
    await saveStep('recipient_governance', 'schedule_and_audit');
  });

  step('step 4 (schedule_and_audit) completes the wizard and lands on the catalog', async () => {
    await page.locator('#CAVRA_REPORT_DEFAULT_SCHEDULE').fill('weekly');
    await page.locator('#CAVRA_REPORT_RETRY_POLICY').fill('exponential:5');
    await page.locator('#CAVRA_REPORT_DELIVERY_AUDIT_RETENTION_DAYS').fill('2555');
    await page.locator('#CAVRA_REPORT_AUDIT_EXPORT_REF').fill('file:/var/lib/aispm/audit-exports');
    const resp = await submit('Save and continue');
    assert.equal(resp.status(), 303);
    assert.equal(resp.headers().location, CATALOG_DONE, 'the last step leads to the catalog');
    await page.waitForURL(url(CATALOG_DONE));
  });

  step('the catalog shows the setup-complete banner and the 12 reports', async () => {
    assert.equal(here(), CATALOG_DONE);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Report catalog');
    const banner = page.getByRole('status').filter({ hasText: 'Setup complete' });
    assert.ok(await banner.isVisible(), 'the setup-complete banner is shown');
    const reports = page.locator('.report');
    assert.equal(await reports.count(), 12, '12 report elements');
    const ids = await reports.evaluateAll((els) => els.map((e) => e.getAttribute('data-report-id')));
    assert.deepEqual([...ids].sort(), [...EXPECTED_REPORT_IDS].sort(), 'each report once, by data-report-id');
    const pdf = page.locator('.report[data-report-id="pdf_board_pack"]');
    assert.equal(await pdf.count(), 1);
    assert.ok(await pdf.isVisible());
    assert.match(await pdf.textContent(), /PDF Board Pack/);
    const shots = path.join(env.state, 'screenshots');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'catalog.png'), fullPage: true });
    // the banner belongs to the redirect after setup only
    await page.goto(url('/portal/catalog'));
    assert.equal(await page.getByRole('status').filter({ hasText: 'Setup complete' }).count(), 0, 'no banner on a plain catalog visit');
    assert.equal(await page.locator('.report').count(), 12);
  });

  step('the saved settings are shown again in the wizard and on the home page', async () => {
    await page.goto(url('/portal/setup/organization_profile'));
    assert.equal(await page.locator('#CAVRA_REPORT_FROM_ADDRESS').inputValue(), 'reports@acme.example');
    assert.equal(await page.locator('#CAVRA_REPORT_DEFAULT_TIMEZONE').inputValue(), 'Europe/Berlin');
    assert.equal(await page.locator('#CAVRA_REPORT_RETENTION_DAYS').inputValue(), '365');
    await page.goto(url('/portal/setup/delivery_provider'));
    assert.equal(await page.locator('#CAVRA_REPORT_DELIVERY_MODE').inputValue(), 'smtp');
    assert.equal(await page.locator('#CAVRA_REPORT_SMTP_PASSWORD_REF').inputValue(), 'env:SMTP_PASSWORD');
    await page.goto(url('/portal/setup/recipient_governance'));
    assert.equal(await page.locator('#CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS').inputValue(), 'acme.example');
    assert.ok(await page.locator('#CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED').isChecked());
    await page.goto(url('/portal/setup/schedule_and_audit'));
    assert.equal(await page.locator('#CAVRA_REPORT_RETRY_POLICY').inputValue(), 'exponential:5');
    assert.equal(await page.locator('#CAVRA_REPORT_AUDIT_EXPORT_REF').inputValue(), 'file:/var/lib/aispm/audit-exports');
    assert.ok((await stepper()).every((s) => s.complete), 'all four steps are marked complete');
    await page.goto(url('/portal/'));
    const card = page.locator('section[aria-labelledby="setup-heading"]');
    assert.match(await card.textContent(), /4\s*of 4 steps complete/);
    assert.ok(await card.locator('.badge', { hasText: 'Complete' }).isVisible());
  });

  step('signs out with the Sign out button and lands on the sign-in page', async () => {
    const resp = await submit('Sign out');
    assert.equal(resp.status(), 303);
    await page.waitForURL(/\/portal\/login(\?|$)/);
    assert.equal(new URL(page.url()).pathname, '/portal/login');
    assert.ok(await page.locator('#email').isVisible(), 'the sign-in form is shown');
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
  });

  step('after signing out, /portal/ redirects to the sign-in page', async () => {
    const resp = await page.goto(url('/portal/'));
    assert.equal(resp.status(), 200);
    const u = new URL(page.url());
    assert.equal(u.pathname, '/portal/login');
    assert.equal(u.searchParams.get('next'), '/portal/');
    assert.equal(resp.request().redirectedFrom()?.url(), url('/portal/'), 'reached through a redirect from /portal/');
    assert.ok(await page.locator('#email').isVisible());
    // the old session cookie no longer opens a protected page
    const catalog = await page.goto(url('/portal/catalog'));
    assert.equal(new URL(catalog.url()).pathname, '/portal/login');
  });

  step('no console errors, uncaught exceptions or CSP violations on any page', async () => {
    const unexpected = consoleErrors.filter(
      (e) => !(/^Failed to load resource: the server responded with a status of 422\b/.test(e.text) && expected422.has(e.url)),
    );
    assert.deepEqual(unexpected, [], 'console errors');
    assert.deepEqual(pageErrors, [], 'uncaught exceptions');
    assert.deepEqual(cspViolations, [], 'CSP violations');
  });

  step('the raw secret typed into the portal is in no log file of the stack', async () => {
    const logs = path.join(env.state, 'logs');
    const files = readdirSync(logs).map((f) => path.join(logs, f)).filter((f) => statSync(f).isFile());
    assert.ok(files.some((f) => f.endsWith('.log')), `no *.log in ${logs}`);
    // positive control: the portal requests of this run are in the access log
    const all = files.map((f) => readFileSync(f, 'latin1')).join('\n');
    assert.match(all, /\/portal\/setup\/delivery_provider/, 'the access log records the wizard requests');
    for (const f of files) assert.ok(!readFileSync(f, 'latin1').includes(RAW_SECRET), `${f} contains the raw secret`);
  });

  // Guards the guard: the watchers above must see a violation when there is one.
  it('the CSP is enforced and its violations are seen by the watchers', { timeout: 30_000 }, async () => {
    if (!context) assert.fail('not run: the browser did not start (see the first test)');
    const p = await context.newPage();
    const errors = [];
    p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    try {
      const resp = await p.goto(url('/portal/login'));
      const csp = resp.headers()['content-security-policy'] ?? '';
      assert.match(csp, /script-src 'self'/, 'the portal sends a Content-Security-Policy');
      const seen = cspViolations.length;
      const ran = await p.evaluate(async () => {
        window.__inlineRan = false;
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true';
        document.head.append(s);
        await new Promise((r) => setTimeout(r, 200));
        return window.__inlineRan;
      });
      assert.equal(ran, false, 'an injected inline script is blocked');
      await p.waitForTimeout(100);
      const mine = cspViolations.slice(seen);
      cspViolations.length = seen; // not a finding about the portal
      assert.ok(mine.some((v) => v.directive.startsWith('script-src')), `a script-src violation was reported: ${JSON.stringify(mine)}`);
      assert.ok(errors.some((t) => /Content Security Policy/.test(t)), 'and logged as a console error');
    } finally {
      await p.close();
    }
  });
});
