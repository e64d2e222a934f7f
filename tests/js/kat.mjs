// Project known-answer vectors for the envelope format and the chunked file stream.
//   node tests/js/kat.mjs write tests/vectors/envelope-kat.json   (generate)
//   node tests/js/kat.mjs check tests/vectors/envelope-kat.json   (regenerate, compare byte-for-byte)
// All private scalars are fixed (SHA-256 of a label), so the output is deterministic.
import { readFileSync, writeFileSync } from 'node:fs';
import { seal, sealFile, encryptChunk, keyIdOf, PURPOSES, CHUNK } from '../../intake/static/seal.js';
import { open, openFile, hex, unhex } from './open.mjs';
import { keyPair, pattern, sha256 } from './fixtures.mjs';

const SUITE = 'DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM';
const te = new TextEncoder();
const infoOf = (env, purpose, ctx) => new Uint8Array([...env.subarray(0, 13), ...te.encode(purpose), 0, ...ctx]);

const ENVELOPE_CASES = [
  ['report', '', 'Something happened in building 4 on the night of 3 March.'],
  ['report', '', ''],
  ['report', 'case:0001', { bytes: 1000 }],
  ['message', 'case:0001', 'Can you tell us more about who was present?'],
  ['attachment-manifest', '', '{"v":1,"name":"a.txt","type":"text/plain","size":0,"chunks":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'],
  ['reply', 'thread:42', 'Thank you, we have received your report.'],
  ['note', 'case:0001', ''],
  ['key-wrap', 'caseworker:alice', { bytes: 32 }],
  ['triage', 'case:0001', '{"severity":"high","assignee":"alice"}'],
  ['details', 'case:0001/details', '{"v":1,"lang":"fr","answers":{"when":"mai","consent_authorities":"no"}}'],
];

async function generate() {
  const R = await keyPair('rre-kat/recipient');
  const recipient = { sk: hex(R.sk), pk: hex(R.pk), key_id: hex(await keyIdOf(R.pk)) };
  const envelopes = [];
  for (const [i, [purpose, ctxStr, p]] of ENVELOPE_CASES.entries()) {
    const eph = await keyPair(`rre-kat/eph/${i}`);
    const ctx = te.encode(ctxStr);
    const pt = typeof p === 'string' ? te.encode(p) : pattern(p.bytes);
    const env = await seal(R.pk, purpose, pt, ctx, eph);
    envelopes.push({
      purpose, context: hex(ctx), eph_sk: hex(eph.sk), eph_pk: hex(eph.pk),
      pt: hex(pt), info: hex(infoOf(env, purpose, ctx)), envelope: hex(env),
    });
  }
  const streams = [];
  for (const size of [0, 1, 65536, 65537, 150000]) {
    const key = await sha256(`rre-kat/stream-key/${size}`);
    const eph = await keyPair(`rre-kat/manifest-eph/${size}`);
    const { manifest, chunks } = await sealFile(R.pk, pattern(size), 'kat.bin', 'application/octet-stream', key, eph);
    const manifestPt = JSON.stringify({
      v: 1, name: 'kat.bin', type: 'application/octet-stream', size,
      chunks: chunks.length, key: Buffer.from(key).toString('base64url'),
    });
    streams.push({
      key: hex(key), size, pattern: 'byte i = i % 251', name: 'kat.bin', type: 'application/octet-stream',
      manifest_plaintext: manifestPt, manifest_eph_sk: hex(eph.sk), manifest_eph_pk: hex(eph.pk),
      manifest: hex(manifest), chunks: chunks.map(hex),
    });
  }
  return { suite: SUITE, recipient, envelopes, streams };
}
const serialise = o => JSON.stringify(o, null, 2) + '\n';

const [mode, file] = process.argv.slice(2);
if (!['write', 'check'].includes(mode) || !file) {
  console.error('usage: node tests/js/kat.mjs write|check FILE.json');
  process.exit(2);
}
const gen = await generate();
if (mode === 'write') {
  writeFileSync(file, serialise(gen));
  console.log(`wrote ${file}: ${gen.envelopes.length} envelopes, ${gen.streams.length} streams`);
  process.exit(0);
}

let passed = 0, failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
}
const text = readFileSync(file, 'utf8');
const kat = JSON.parse(text);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

check('suite', kat.suite === SUITE, kat.suite);
check('recipient', same(kat.recipient, gen.recipient));
check('purposes covered', Object.keys(PURPOSES).every(p => kat.envelopes.some(e => e.purpose === p)));
check('envelope count', kat.envelopes.length === gen.envelopes.length);
const skR = unhex(kat.recipient.sk), pkR = unhex(kat.recipient.pk);
for (const [i, e] of kat.envelopes.entries()) {
  const g = gen.envelopes[i];
  check(`envelope[${i}] ${e.purpose} regenerated`, same(e, g));
  // Recompute from the file's own inputs as well, so a reordered file is caught here too.
  const env = await seal(pkR, e.purpose, unhex(e.pt), unhex(e.context), { sk: unhex(e.eph_sk), pk: unhex(e.eph_pk) });
  check(`envelope[${i}] ${e.purpose} seal(inputs) == envelope`, hex(env) === e.envelope);
  let pt;
  try { pt = hex(await open(skR, pkR, e.purpose, unhex(e.envelope), unhex(e.context))); } catch (err) { pt = err.message; }
  check(`envelope[${i}] ${e.purpose} opens to pt`, pt === e.pt, pt);
}
check('stream count', kat.streams.length === gen.streams.length);
for (const [i, s] of kat.streams.entries()) {
  const g = gen.streams[i];
  check(`stream[${i}] size ${s.size} regenerated`, same(s, g));
  const key = unhex(s.key), n = s.chunks.length;
  const data = pattern(s.size);
  let ok = n === Math.max(1, Math.ceil(s.size / CHUNK));
  for (let j = 0; ok && j < n; j++) {
    const c = await encryptChunk(key, j, j === n - 1, data.subarray(j * CHUNK, (j + 1) * CHUNK));
    ok = hex(c) === s.chunks[j];
  }
  check(`stream[${i}] size ${s.size} encryptChunk == chunks`, ok);
  let r;
  try { r = await openFile(skR, pkR, unhex(s.manifest), s.chunks.map(unhex)); } catch (err) { r = { err: err.message }; }
  check(`stream[${i}] size ${s.size} openFile`, r.data !== undefined && hex(r.data) === hex(data) && r.name === s.name && r.type === s.type, r.err);
  let mpt;
  try { mpt = new TextDecoder().decode(await open(skR, pkR, 'attachment-manifest', unhex(s.manifest))); } catch (err) { mpt = err.message; }
  check(`stream[${i}] size ${s.size} manifest plaintext`, mpt === s.manifest_plaintext, mpt);
}
check('file is byte-for-byte identical to regenerated output', text === serialise(gen));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
