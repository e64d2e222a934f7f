// Checks intake/static/seal.js against the RFC 9180 base-mode test vectors for
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
// Usage: node tests/js/vectors.mjs /path/to/rfc9180-base-mode.json
import { readFileSync } from 'node:fs';
import { SetupBaseS, ExtractAndExpand, KeySchedule, jwk } from '../../intake/static/seal.js';
import { hex, unhex, concat } from './open.mjs';

const path = process.argv[2];
if (!path) {
  console.error('usage: node tests/js/vectors.mjs VECTORS.json');
  process.exit(2);
}
const suites = JSON.parse(readFileSync(path, 'utf8'));
let passed = 0, failed = 0;
function check(name, got, want) {
  const ok = got === want;
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${ok ? '' : `\n  got  ${got}\n  want ${want}`}`);
}

let matched = 0;
for (const [idx, v] of suites.entries()) {
  if (Number(v.kem_id) !== 16 || Number(v.kdf_id) !== 1 || Number(v.aead_id) !== 1) continue;
  if (v.mode !== undefined && Number(v.mode) !== 0) continue;
  matched++;
  const tag = `suite[${idx}]`;
  const pkR = unhex(v.pkRm);
  const info = unhex(v.info);
  // Intermediate values, where the vector provides them.
  if (v.shared_secret) {
    const P = { name: 'ECDH', namedCurve: 'P-256' };
    const skE = await crypto.subtle.importKey('jwk', jwk(unhex(v.skEm), unhex(v.pkEm)), P, false, ['deriveBits']);
    const pub = await crypto.subtle.importKey('raw', pkR, P, true, []);
    const dh = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, skE, 256));
    check(`${tag} shared_secret`, hex(await ExtractAndExpand(dh, concat(unhex(v.enc), pkR))), v.shared_secret);
    const { key, base_nonce: baseNonce } = await KeySchedule(unhex(v.shared_secret), info, 1);
    if (v.key) check(`${tag} key_schedule key`, hex(key), v.key);
    if (v.base_nonce) check(`${tag} key_schedule base_nonce`, hex(baseNonce), v.base_nonce);
  }
  const ctx = await SetupBaseS(pkR, info, 1, { sk: unhex(v.skEm), pk: unhex(v.pkEm) });
  check(`${tag} enc`, hex(ctx.enc), v.enc);
  for (const e of v.encryptions) {
    ctx.seq = Number(e.sequence_number);
    const ct = await ctx.seal(unhex(e.aad), unhex(e.pt));
    check(`${tag} seq ${e.sequence_number} ct`, hex(ct), e.ct);
  }
}
if (matched === 0) {
  console.log('FAIL no P-256/HKDF-SHA256/AES-128-GCM base-mode suites found');
  failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
