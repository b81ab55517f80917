#!/usr/bin/env node
// verify-jws.mjs: offline check of a signed_json_evidence_packet artifact.
//
// Usage: node tests/browser/verify-jws.mjs <jwks-url> <packet-file>
//
// Fetches the JWKS (GET /.well-known/jwks.json), verifies the packet's compact
// JWS with jose (compactVerify + createLocalJWKSet, EdDSA only) and checks
// that the verified payload is byte for byte the RFC 8785 canonical form of
// the packet's "payload" member. Prints OK and exits 0, or prints the reason
// on stderr and exits 1 (2 for usage errors). Not a *.test.mjs: scripts/check
// does not run it directly; tests/e2e/test_render.py does.
import { readFile } from 'node:fs/promises';
import { compactVerify, createLocalJWKSet } from 'jose';

const EXPECTED_TYP = 'aispm-evidence-packet+jws';

// RFC 8785 for the JSON the packet holds: objects sorted by UTF-16 code units
// (JavaScript's default sort order), no whitespace; JSON.stringify already
// serialises strings and numbers the way RFC 8785 prescribes.
function canonical(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
}

function fail(msg) {
  process.stderr.write(`verify-jws: ${msg}\n`);
  process.exit(1);
}

async function main() {
  const [jwksUrl, file] = process.argv.slice(2);
  if (!jwksUrl || !file) {
    process.stderr.write('usage: node verify-jws.mjs <jwks-url> <packet-file>\n');
    process.exit(2);
  }
  const res = await fetch(jwksUrl, { headers: { Accept: 'application/json' } });
  if (!res.ok) fail(`GET ${jwksUrl}: HTTP ${res.status}`);
  const jwks = await res.json();
  let packet;
  try {
    packet = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    fail(`${file}: not a JSON document (${e.message})`);
  }
  if (!packet || typeof packet.jws !== 'string' || typeof packet.payload !== 'object' || packet.payload === null)
    fail(`${file}: no "jws" string and "payload" object`);

  const { payload, protectedHeader } = await compactVerify(packet.jws, createLocalJWKSet(jwks), {
    algorithms: ['EdDSA'],
  });
  if (protectedHeader.typ !== EXPECTED_TYP) fail(`unexpected typ ${JSON.stringify(protectedHeader.typ)}`);
  if (packet.kid !== undefined && protectedHeader.kid !== packet.kid)
    fail(`header kid ${protectedHeader.kid} differs from the packet's kid ${packet.kid}`);
  const expected = new TextEncoder().encode(canonical(packet.payload));
  if (payload.length !== expected.length || !payload.every((b, i) => b === expected[i]))
    fail('the signed payload differs from the canonical bytes of the packet payload');
  process.stdout.write('OK\n');
}

main().catch((e) => fail(`${e.code ?? e.name}: ${e.message}`));
