// Negative known-answer vectors: inputs every reader MUST refuse, each naming its failure
// (docs/protocol.md §12). Built from tests/vectors/envelope-kat.json, so nothing here is random.
//   node tests/js/negative.mjs write tests/vectors/negative-kat.json   (generate)
//   node tests/js/negative.mjs check tests/vectors/negative-kat.json   (regenerate, compare, and
//                                                                        refuse each with open.mjs)
// A chunk in a stream vector is {"kat": [stream, chunk]} (that chunk of the KAT file), optionally
// with "flip": [byte, bit] or "cut": n (drop the last n bytes), or {"hex": sealed chunk}.
import { readFileSync, writeFileSync } from 'node:fs';
import { seal, encryptChunk } from '../../intake/static/seal.js';
import { open, openFile, parseToken, hex, unhex } from './open.mjs';
import { keyPair, pattern } from './fixtures.mjs';

const KAT_FILE = new URL('../vectors/envelope-kat.json', import.meta.url);
const te = new TextEncoder();
const b64u = b => Buffer.from(b).toString('base64url');

const FAILURES = {
  'truncated': 'shorter than the 94 bytes of an empty envelope',
  'bad-magic': 'does not start with "RRE"',
  'unsupported-version': 'an envelope version other than 1',
  'unknown-purpose': 'a purpose code no version-1 reader knows',
  'wrong-purpose': 'a valid envelope of another purpose than the one expected',
  'unknown-key': 'sealed to a key id the reader does not hold',
  'authentication': 'HPKE open fails: the enc point is invalid or the AEAD tag does not verify',
  'manifest': 'the manifest opens but breaks the rules of §6.2',
  'chunk-authentication': 'a chunk does not verify under its index and last-chunk flag',
  'chunk-size': 'a chunk verifies but its length is not the one its place and the manifest allow',
  'extra-chunk': 'more chunks than the manifest declares',
  'truncated-stream': 'fewer chunks than the manifest declares',
  'typo': 'a 20-digit token whose Damm check fails',
  'length': 'not 20 digits once separators are dropped',
  'not-digit': 'a character that is neither a digit nor a separator',
};

const flip = (bytes, at, bit = 0) => {
  const out = Uint8Array.from(bytes);
  out[at < 0 ? out.length + at : at] ^= 1 << bit;
  return out;
};
const withByte = (bytes, at, value) => {
  const out = Uint8Array.from(bytes);
  out[at] = value;
  return out;
};

async function generate() {
  const kat = JSON.parse(readFileSync(KAT_FILE, 'utf8'));
  const pkR = unhex(kat.recipient.pk);
  const report = unhex(kat.envelopes[0].envelope); // purpose report, empty context, 151 bytes
  const message = unhex(kat.envelopes[3].envelope); // purpose message, context "case:0001"
  const other = await keyPair('rre-negative/other-recipient');
  const eph = async name => keyPair(`rre-negative/eph/${name}`);
  const ctx = s => hex(te.encode(s));

  const env = (name, description, purpose, context, bytes, expect) =>
    ({ name, description, purpose, context, envelope: hex(bytes), expect });
  const envelopes = [
    env('truncated-header', 'the 13-byte header alone', 'report', '', report.subarray(0, 13), 'truncated'),
    env('truncated-93', 'envelopes[0] cut to 93 bytes', 'report', '',
      report.subarray(0, 93), 'truncated'),
    env('bad-magic', 'byte 0 flipped ("SRE")', 'report', '', flip(report, 0, 0), 'bad-magic'),
    env('version-2', 'version byte 0x02', 'report', '', withByte(report, 3, 2), 'unsupported-version'),
    env('purpose-code-0', 'purpose code 0x00', 'report', '', withByte(report, 4, 0), 'unknown-purpose'),
    env('purpose-code-9', 'purpose code 0x09', 'report', '', withByte(report, 4, 9), 'unknown-purpose'),
    env('wrong-purpose', 'a report opened as a message', 'message', '', report, 'wrong-purpose'),
    env('purpose-rewritten', 'a report whose header says message, opened as a message: the header '
      + 'is in info, so the tag fails', 'message', '', withByte(report, 4, 2), 'authentication'),
    env('key-id-flipped', 'a bit of the key id flipped (byte 5)', 'report', '', flip(report, 5, 7), 'unknown-key'),
    env('other-recipient', 'envelopes[0].pt sealed to another key', 'report', '',
      await seal(other.pk, 'report', unhex(kat.envelopes[0].pt), new Uint8Array(0), await eph('other')),
      'unknown-key'),
    env('enc-prefix', 'enc starts 0x05 instead of 0x04 (byte 13)', 'report', '', flip(report, 13, 0),
      'authentication'),
    env('enc-flipped', 'a bit of enc\'s X flipped (byte 40): not a point on P-256', 'report', '',
      flip(report, 40, 3), 'authentication'),
    env('enc-replaced', 'enc replaced by another valid point (the recipient\'s own key)', 'report', '',
      Uint8Array.from([...report.subarray(0, 13), ...pkR, ...report.subarray(78)]), 'authentication'),
    env('ciphertext-flipped', 'first ciphertext byte flipped (byte 78)', 'report', '', flip(report, 78, 0),
      'authentication'),
    env('tag-flipped', 'last tag byte flipped', 'report', '', flip(report, -1, 7), 'authentication'),
    env('tag-cut', 'the last byte of the tag removed', 'report', '', report.subarray(0, report.length - 1),
      'authentication'),
    env('byte-appended', 'one zero byte appended', 'report', '', Uint8Array.from([...report, 0]),
      'authentication'),
    env('context-added', 'envelopes[0] (empty context) opened with context "x"', 'report', ctx('x'), report,
      'authentication'),
    env('wrong-context', 'envelopes[3] (context "case:0001") opened with "case:0002"', 'message',
      ctx('case:0002'), message, 'authentication'),
    env('context-dropped', 'envelopes[3] opened with an empty context', 'message', '', message,
      'authentication'),
  ];

  // Manifests sealed afresh to the recipient: anyone holding the public key can write one, so a
  // reader must check what they say.
  const s3 = kat.streams[3]; // 65537 bytes: two chunks
  const key3 = unhex(s3.key);
  const sealManifest = async (name, body, purpose = 'attachment-manifest') =>
    hex(await seal(pkR, purpose, te.encode(typeof body === 'string' ? body : JSON.stringify(body)),
      new Uint8Array(0), await eph(`manifest/${name}`)));
  const manifest = (size, chunks, key = key3, v = 1) =>
    ({ v, name: 'kat.bin', type: 'application/octet-stream', size, chunks, key: b64u(key) });
  const k = (stream, chunk, extra = {}) => ({ kat: [stream, chunk], ...extra });
  const str = (name, description, manifestHex, chunks, expect) =>
    ({ name, description, manifest: manifestHex, chunks, expect });
  const streams = [
    str('reordered', 'streams[4] with chunks 0 and 1 swapped', kat.streams[4].manifest,
      [k(4, 1), k(4, 0), k(4, 2)], 'chunk-authentication'),
    str('last-dropped', 'streams[3] without its last chunk', s3.manifest, [k(3, 0)], 'truncated-stream'),
    str('no-chunks', 'streams[0] (the empty file) with no chunk at all', kat.streams[0].manifest, [],
      'truncated-stream'),
    str('middle-dropped', 'streams[4] without chunk 1', kat.streams[4].manifest, [k(4, 0), k(4, 2)],
      'chunk-authentication'),
    str('last-repeated', 'streams[3] with its last chunk sent twice', s3.manifest, [k(3, 0), k(3, 1), k(3, 1)],
      'extra-chunk'),
    str('chunk-flipped', 'streams[3], a bit of chunk 0\'s ciphertext flipped', s3.manifest,
      [k(3, 0, { flip: [100, 2] }), k(3, 1)], 'chunk-authentication'),
    str('chunk-tag-flipped', 'streams[3], the last tag byte of chunk 1 flipped', s3.manifest,
      [k(3, 0), k(3, 1, { flip: [16, 0] })], 'chunk-authentication'),
    str('chunk-cut', 'streams[3], chunk 1 one byte short', s3.manifest, [k(3, 0), k(3, 1, { cut: 1 })],
      'chunk-authentication'),
    str('foreign-chunk', 'streams[3] with chunk 0 of streams[4] (another file key)', s3.manifest,
      [k(4, 0), k(3, 1)], 'chunk-authentication'),
    str('inner-chunk-as-last', 'streams[3]\'s key in a manifest of one 65536-byte chunk, given streams[3] '
      + 'chunk 0: it was sealed with last = 0', await sealManifest('as-last', manifest(65536, 1)), [k(3, 0)],
    'chunk-authentication'),
    str('short-inner-chunk', 'a 10-byte chunk 0 sealed with last = 0, then streams[3] chunk 1',
      await sealManifest('short-inner', manifest(65537, 2)),
      [{ hex: hex(await encryptChunk(key3, 0, false, pattern(10))) }, k(3, 1)], 'chunk-size'),
    str('long-last-chunk', 'streams[3] chunk 0, then a last chunk of 2 bytes where the manifest allows 1',
      await sealManifest('long-last', manifest(65537, 2)),
      [k(3, 0), { hex: hex(await encryptChunk(key3, 1, true, pattern(2))) }], 'chunk-size'),
    str('manifest-v2', 'a manifest with "v":2', await sealManifest('v2', manifest(65537, 2, key3, 2)),
      [k(3, 0), k(3, 1)], 'manifest'),
    str('manifest-count', 'a manifest whose chunk count does not follow from its size (3 for 65537)',
      await sealManifest('count', manifest(65537, 3)), [k(3, 0), k(3, 1)], 'manifest'),
    str('manifest-short-key', 'a manifest whose key is 16 bytes', await sealManifest('short-key',
      manifest(65537, 2, key3.subarray(0, 16))), [k(3, 0), k(3, 1)], 'manifest'),
    str('manifest-not-json', 'a manifest that is not JSON', await sealManifest('not-json', 'kat.bin'),
      [k(3, 0), k(3, 1)], 'manifest'),
    str('manifest-as-report', 'streams[3]\'s manifest sealed as a report', await sealManifest('as-report',
      s3.manifest_plaintext, 'report'), [k(3, 0), k(3, 1)], 'wrong-purpose'),
    str('manifest-flipped', 'streams[3] with a bit of its manifest\'s ciphertext flipped',
      hex(flip(unhex(s3.manifest), 100, 0)), [k(3, 0), k(3, 1)], 'authentication'),
  ];

  const tok = (name, description, token, expect) => ({ name, description, token, expect });
  const tokens = [
    tok('check-digit', 'the example token of §10.1 with its check digit changed (1 -> 0)',
      '1234 5678 9012 3456 7890', 'typo'),
    tok('single-digit', 'one digit of the body changed (7 -> 1)', '1234 5618 9012 3456 7891', 'typo'),
    tok('transposition', 'two adjacent digits swapped (56 -> 65)', '1234 6578 9012 3456 7891', 'typo'),
    tok('arabic-indic-typo', 'Arabic-Indic digits with a changed check digit', '١٢٣٤ ٥٦٧٨ ٩٠١٢ ٣٤٥٦ ٧٨٩٠', 'typo'),
    tok('nineteen-digits', 'a group of three', '1234 5678 9012 3456 789', 'length'),
    tok('twenty-one-digits', 'one digit too many', '1234 5678 9012 3456 78910', 'length'),
    tok('empty', 'nothing typed', '   ', 'length'),
    tok('letter-o', 'the letter O for a zero', '1234 5678 9O12 3456 7891', 'not-digit'),
    tok('underscore', 'an underscore is not a separator', '1234_5678_9012_3456_7891', 'not-digit'),
  ];
  return {
    description: 'Inputs every reader MUST refuse, each with the failure it must report. Recipient: '
      + 'tests/vectors/envelope-kat.json. Generated by tests/js/negative.mjs; see docs/protocol.md §12.',
    failures: FAILURES, envelopes, streams, tokens,
  };
}
const serialise = o => JSON.stringify(o, null, 2) + '\n';

// The chunks a stream vector lists, resolved against the KAT file.
function chunksOf(vector, kat) {
  return vector.chunks.map(c => {
    if (c.hex !== undefined) return unhex(c.hex);
    let bytes = unhex(kat.streams[c.kat[0]].chunks[c.kat[1]]);
    if (c.flip) bytes = flip(bytes, c.flip[0], c.flip[1]);
    if (c.cut) bytes = bytes.subarray(0, bytes.length - c.cut);
    return bytes;
  });
}

const [mode, file] = process.argv.slice(2);
if (!['write', 'check'].includes(mode) || !file) {
  console.error('usage: node tests/js/negative.mjs write|check FILE.json');
  process.exit(2);
}
const gen = await generate();
if (mode === 'write') {
  writeFileSync(file, serialise(gen));
  console.log(`wrote ${file}: ${gen.envelopes.length} envelopes, ${gen.streams.length} streams, `
    + `${gen.tokens.length} tokens`);
  process.exit(0);
}

let passed = 0, failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
}
// Runs `attempt` and returns the failure code it reported, or a description of what went wrong.
async function refusal(attempt) {
  try {
    await attempt();
    return 'accepted';
  } catch (err) {
    return err.code ?? `uncoded error: ${err.message}`;
  }
}
const text = readFileSync(file, 'utf8');
const vectors = JSON.parse(text);
const kat = JSON.parse(readFileSync(KAT_FILE, 'utf8'));
const skR = unhex(kat.recipient.sk), pkR = unhex(kat.recipient.pk);
for (const v of vectors.envelopes) {
  const got = await refusal(() => open(skR, pkR, v.purpose, unhex(v.envelope), unhex(v.context)));
  check(`envelope ${v.name}: ${v.expect}`, got === v.expect, got);
}
for (const v of vectors.streams) {
  const got = await refusal(() => openFile(skR, pkR, unhex(v.manifest), chunksOf(v, kat)));
  check(`stream ${v.name}: ${v.expect}`, got === v.expect, got);
}
for (const v of vectors.tokens) {
  const got = await refusal(() => parseToken(v.token));
  check(`token ${v.name}: ${v.expect}`, got === v.expect, got);
}
const every = [...vectors.envelopes, ...vectors.streams, ...vectors.tokens];
check('every vector names a known failure', every.every(v => Object.hasOwn(FAILURES, v.expect)));
check('every failure has a vector', Object.keys(FAILURES).every(f => every.some(v => v.expect === f)));
check('file is byte-for-byte identical to regenerated output', text === serialise(gen));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
