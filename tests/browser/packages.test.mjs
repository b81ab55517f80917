// Signed export packages checked from node with jose and ajv, against a live
// stack: a token is made with `aispm admin create-token`, two artifacts are
// rendered, a grc_upload package is built and downloaded, and then
//   - manifest.json.jws (detached, RS256) verifies with jose against the JWKS;
//   - manifest.xml's XML-DSig verifies with xml-crypto and the certificate by kid;
//   - evidence-chain.json recomputes and its checkpoints verify (node:crypto);
//   - oscal/assessment-results.json is valid OSCAL 1.0.6 (ajv@8, strict: false, ajv-formats);
//   - the public manifest projection is valid against the CAVRA
//     aispm-report-export-package-manifest schema (ajv/dist/2020);
//   - a manifest with one byte changed no longer verifies.
//
// Run: node --test tests/browser/   (scripts/check runs it against a fresh stack)
// Needs: AISPM_TEST_BASE_URL, AISPM_TEST_CONFIG, AISPM_BIN (exported by scripts/check),
// AISPM_CONTRACTS (default ../shared/contracts), `unzip`.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

import { validateOscal, verifyChain, verifyJws, verifyXml } from './verify-package.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REQUIRED_ENV = ['AISPM_TEST_BASE_URL', 'AISPM_TEST_CONFIG', 'AISPM_BIN'];
const CONTRACTS = process.env.AISPM_CONTRACTS || path.join(HERE, '..', '..', '..', 'shared', 'contracts');
const BASE = process.env.AISPM_TEST_BASE_URL;
const API = '/enterprise/aispm/reports';

function token() {
  const missing = REQUIRED_ENV.filter((k) => !process.env[k]);
  if (missing.length) throw new Error(`missing environment: ${missing.join(', ')} (run through scripts/check)`);
  const logins = readFileSync(process.env.AISPM_TEST_LOGINS || path.join(process.env.AISPM_TEST_STATE, 'demo-logins.txt'), 'utf8');
  const email = logins.split('\n').map((l) => l.trim().split(/\s+/)).find((c) => c[0] === 'grc_analyst')[1];
  return execFileSync(process.env.AISPM_BIN, ['-c', process.env.AISPM_TEST_CONFIG, 'admin', 'create-token', '--tenant', 'acme',
    '--user', email, '--scopes', 'reports:read,reports:write', '--name', 'node-packages'], { encoding: 'utf8' }).trim();
}

async function call(tok, method, p, body, headers = {}) {
  const res = await fetch(`${BASE}${p}`, {
    method,
    headers: { Authorization: `Bearer ${tok}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res;
}

async function render(tok, reportId, format) {
  const r = await call(tok, 'POST', `${API}/render`, { report_id: reportId, format });
  assert.equal(r.status, 202);
  const { render_ref: ref } = await r.json();
  for (let i = 0; i < 300; i++) {
    const s = await (await call(tok, 'GET', `${API}/renders/${ref}`)).json();
    if (s.status === 'succeeded') return s.artifact_ref;
    assert.notEqual(s.status, 'failed', JSON.stringify(s));
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`render ${ref} did not finish`);
}

describe('signed export package (jose, xml-crypto, ajv)', () => {
  let tok, dir, jwks, pkg;
  before(async () => {
    tok = token();
    // reports in a GRC analyst's audience (audit, grc): the retrievability rule also gates packaging
    const arts = [await render(tok, 'evidence_freshness_export', 'csv'), await render(tok, 'soc2_audit_summary', 'markdown')];
    const r = await call(tok, 'POST', `${API}/packages`, { type: 'grc_upload', artifact_refs: arts });
    assert.equal(r.status, 201);
    pkg = await r.json();
    const zip = Buffer.from(await (await call(tok, 'GET', `${API}/packages/${pkg.package_ref}/content`)).arrayBuffer());
    dir = mkdtempSync(path.join(tmpdir(), 'aispm-pkg-'));
    writeFileSync(path.join(dir, 'p.zip'), zip);
    execFileSync('unzip', ['-q', 'p.zip', '-d', 'pkg'], { cwd: dir });
    dir = path.join(dir, 'pkg');
    jwks = await (await fetch(`${BASE}/.well-known/jwks.json`)).json();
  });

  it('verifies the detached JWS of manifest.json with the published key', async () => {
    assert.equal(await verifyJws(dir, jwks), pkg.kid);
    const jwk = jwks.keys.find((k) => k.kid === pkg.kid);
    assert.equal(jwk.kty, 'RSA');
    assert.ok(!('d' in jwk));
  });

  it('rejects a manifest.json with one byte changed', async () => {
    const f = path.join(dir, 'manifest.json');
    const orig = readFileSync(f);
    const bad = Buffer.from(orig);
    bad[30] ^= 1;
    writeFileSync(f, bad);
    try {
      await assert.rejects(verifyJws(dir, jwks));
    } finally {
      writeFileSync(f, orig);
    }
  });

  it('verifies the enveloped XML-DSig of manifest.xml with xml-crypto and the published certificate', async () => {
    assert.equal(await verifyXml(dir, BASE), pkg.kid);
  });

  it('recomputes the evidence-chain excerpt and verifies its checkpoints', () => {
    const r = verifyChain(dir, jwks);
    assert.equal(r.events, 3);
    assert.ok(r.links >= 3);
  });

  it('has OSCAL assessment results valid against NIST 1.0.6 (ajv)', () => {
    assert.equal(validateOscal(dir, path.join(CONTRACTS, 'oscal-1.0.6', 'oscal_assessment-results_schema.json')), 2);
  });

  it('projects a public manifest valid against the CAVRA contract (ajv 2020)', async () => {
    const proj = await (await call(tok, 'GET', `${API}/packages/${pkg.package_ref}/manifest`)).json();
    const schema = JSON.parse(readFileSync(path.join(CONTRACTS, 'cavra', 'schemas',
      'aispm-report-export-package-manifest.schema.json'), 'utf8'));
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    assert.ok(validate(proj), JSON.stringify(validate.errors));
    assert.equal(proj.integrity.manifest_digest_ref, `sha256:${pkg.manifest_digest}`);
    assert.doesNotMatch(JSON.stringify(proj), /@|https?:\/\//);
  });
});
