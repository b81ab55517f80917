#!/usr/bin/env node
// verify-package.mjs: offline verification of an extracted signed export
// package with tools nobody on this project wrote (jose, ajv, node:crypto).
//
// Usage: node tests/browser/verify-package.mjs <base-url> <package-dir> [<oscal-json-schema>]
//
// Checks, each reported on its own line of a JSON object printed on stdout:
//   jws    manifest.json.jws is a detached RFC 7515 JWS (RS256) whose header
//          kid names a key of <base-url>/.well-known/jwks.json, verified with
//          jose over the exact bytes of manifest.json;
//   chain  evidence-chain.json: every link digest recomputed as
//          SHA-256(body || "\n" || previous digest), each segment ends in its
//          checkpoint's digest, each checkpoint's Ed25519 signature verifies
//          (node:crypto) with the JWKS key of its kid over the RFC 8785 form of
//          {schema, tenant_ref, seq, digest, signed_at, kid, alg}, and every
//          listed package event lies inside a verified segment;
//   xml    manifest.xml's enveloped XML-DSig verifies with npm xml-crypto and
//          the certificate of its KeyName from
//          <base-url>/.well-known/aispm-signing-cert.pem?kid=<kid>;
//   oscal  (when oscal/assessment-results.json exists and a schema is given)
//          valid against the NIST OSCAL 1.0.6 JSON schema with ajv@8
//          (strict: false, ajv-formats).
// Exit 0 when every check passed, 1 otherwise, 2 for usage errors.
// Not a *.test.mjs: tests/e2e/test_packages.py runs it (also on tampered copies).
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { DOMParser } from '@xmldom/xmldom';
import { base64url, createLocalJWKSet, flattenedVerify } from 'jose';
import { SignedXml } from 'xml-crypto';
import xpath from 'xpath';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

export const JWS_TYP = 'aispm-package-manifest+jws';

// RFC 8785 for the JSON of checkpoints (strings, integers, objects)
export function canonical(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
}

export async function verifyJws(dir, jwks) {
  const jws = readFileSync(path.join(dir, 'manifest.json.jws'), 'utf8').trim();
  const manifest = readFileSync(path.join(dir, 'manifest.json'));
  const parts = jws.split('.');
  if (parts.length !== 3 || parts[1] !== '') throw new Error('not a detached compact JWS');
  const { protectedHeader } = await flattenedVerify(
    { protected: parts[0], payload: base64url.encode(manifest), signature: parts[2] },
    createLocalJWKSet(jwks),
    { algorithms: ['RS256'] },
  );
  if (protectedHeader.typ !== JWS_TYP) throw new Error(`unexpected typ ${protectedHeader.typ}`);
  const m = JSON.parse(manifest.toString('utf8'));
  if (m.signing?.kid !== protectedHeader.kid) throw new Error('manifest kid differs from the JWS kid');
  return protectedHeader.kid;
}

const sha256hex = (s) => createHash('sha256').update(s).digest('hex');

export function verifyChain(dir, jwks) {
  const x = JSON.parse(readFileSync(path.join(dir, 'evidence-chain.json'), 'utf8'));
  const covered = new Set();
  let links = 0;
  for (const seg of x.segments) {
    let prev = seg.prev_digest;
    let seq = seg.start_seq;
    for (const l of seg.links) {
      if (l.seq !== seq) throw new Error(`segment ${seg.start_seq}: seq ${l.seq} where ${seq} was expected`);
      const d = sha256hex(Buffer.concat([Buffer.from(l.body, 'utf8'), Buffer.from('\n'), Buffer.from(prev)]));
      if (d !== l.digest) throw new Error(`link ${l.seq}: digest does not match its body`);
      const body = JSON.parse(l.body);
      covered.add(body.evidence_ref);
      prev = d;
      seq += 1;
      links += 1;
    }
    const cp = seg.checkpoint;
    if (!cp || cp.seq !== seq - 1 || cp.digest !== prev) throw new Error(`segment ${seg.start_seq}: checkpoint does not match the chain`);
    const jwk = jwks.keys.find((k) => k.kid === cp.kid);
    if (!jwk) throw new Error(`checkpoint key ${cp.kid} is not published`);
    const payload = canonical({
      schema: 'aispm.evidence.checkpoint.v1', tenant_ref: x.tenant_ref, seq: cp.seq, digest: cp.digest,
      signed_at: cp.signed_at, kid: cp.kid, alg: cp.alg,
    });
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    if (!cryptoVerify(null, Buffer.from(payload), key, Buffer.from(cp.signature, 'base64url')))
      throw new Error(`checkpoint ${cp.seq}: signature invalid`);
  }
  for (const e of x.events) if (!covered.has(e.evidence_ref)) throw new Error(`event ${e.evidence_ref} is not in a verified segment`);
  return { segments: x.segments.length, links, events: x.events.length };
}

export async function verifyXml(dir, base) {
  const xml = readFileSync(path.join(dir, 'manifest.xml'), 'utf8');
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const ds = "namespace-uri(.)='http://www.w3.org/2000/09/xmldsig#'";
  const sigNode = xpath.select(`//*[local-name(.)='Signature' and ${ds}]`, doc)[0];
  if (!sigNode) throw new Error('no ds:Signature');
  const kid = xpath.select(`string(//*[local-name(.)='KeyName' and ${ds}])`, doc);
  const res = await fetch(`${base}/.well-known/aispm-signing-cert.pem?kid=${encodeURIComponent(kid)}`);
  if (!res.ok) throw new Error(`certificate of ${kid}: HTTP ${res.status}`);
  const sig = new SignedXml({ publicCert: await res.text(), getCertFromKeyInfo: () => null });
  sig.loadSignature(sigNode);
  if (!sig.checkSignature(xml)) throw new Error('XML signature invalid');
  return kid;
}

export function validateOscal(dir, schemaPath) {
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const doc = JSON.parse(readFileSync(path.join(dir, 'oscal', 'assessment-results.json'), 'utf8'));
  if (!validate(doc)) throw new Error(JSON.stringify(validate.errors).slice(0, 600));
  return doc['assessment-results'].results[0].observations.length;
}

async function main() {
  const [base, dir, oscalSchema] = process.argv.slice(2);
  if (!base || !dir) {
    process.stderr.write('usage: node verify-package.mjs <base-url> <package-dir> [<oscal-json-schema>]\n');
    process.exit(2);
  }
  const res = await fetch(`${base}/.well-known/jwks.json`);
  const jwks = await res.json();
  const out = {};
  const run = async (name, f) => {
    try {
      out[name] = { ok: true, result: await f() };
    } catch (e) {
      out[name] = { ok: false, error: `${e.code ?? e.name}: ${e.message}` };
    }
  };
  await run('jws', () => verifyJws(dir, jwks));
  await run('chain', () => verifyChain(dir, jwks));
  await run('xml', () => verifyXml(dir, base));
  if (oscalSchema && existsSync(path.join(dir, 'oscal', 'assessment-results.json')))
    await run('oscal', () => validateOscal(dir, oscalSchema));
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(Object.values(out).every((r) => r.ok) ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
