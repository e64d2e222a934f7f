// TEST-ONLY recipient side for intake/static/seal.js. Never served to browsers:
// the real recipient is the Python caseworker side. Reuses the HPKE key schedule from
// seal.js but re-derives the envelope layout, info string and chunk nonces independently.
import { PURPOSES, keyIdOf, ExtractAndExpand, KeySchedule, jwk, CHUNK } from '../../intake/static/seal.js';

const S = globalThis.crypto.subtle;
const EMPTY = new Uint8Array(0);
const MAGIC = [0x52, 0x52, 0x45, 0x01];
const HDR = 13, ENC = 65, TAG = 16;

export const hex = b => Buffer.from(b).toString('hex');
export const unhex = h => {
  if (typeof h !== 'string' || h.length % 2 || !/^[0-9a-fA-F]*$/.test(h)) throw new Error(`invalid hex: ${String(h).slice(0, 40)}`);
  return new Uint8Array(Buffer.from(h, 'hex'));
};
export const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
};
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// Every refusal carries a code, the failure names of tests/vectors/negative-kat.json.
export class OpenError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const fail = (code, message) => { throw new OpenError(code, message); };

// P-256 public key (65-byte uncompressed) for a 32-byte private scalar, WebCrypto only:
// import a PKCS#8 DER that omits the public key, then export as JWK to read x, y.
export async function publicFromScalar(sk) {
  if (sk.length !== 32) throw new Error('scalar must be 32 bytes');
  const der = concat(
    Uint8Array.from([0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13,
      0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
      0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
      0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20]),
    sk);
  const key = await S.importKey('pkcs8', der, { name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const j = await S.exportKey('jwk', key);
  return concat([4], Buffer.from(j.x, 'base64url'), Buffer.from(j.y, 'base64url'));
}

// Recipient-side HPKE base-mode open of a single-shot envelope (seq 0, empty aad).
export async function open(skR, pkR, purpose, envelope, context = EMPTY) {
  if (!Object.hasOwn(PURPOSES, purpose)) throw new Error(`unknown purpose: ${purpose}`);
  if (envelope.length < HDR + ENC + TAG) fail('truncated', `envelope too short (${envelope.length} bytes)`);
  if (!eq(envelope.subarray(0, 3), MAGIC.slice(0, 3))) fail('bad-magic', 'not an RRE envelope');
  if (envelope[3] !== MAGIC[3]) fail('unsupported-version', `unsupported envelope version ${envelope[3]}`);
  if (!Object.values(PURPOSES).includes(envelope[4])) fail('unknown-purpose', `unknown purpose code ${envelope[4]}`);
  if (envelope[4] !== PURPOSES[purpose]) {
    fail('wrong-purpose', `wrong purpose: expected ${purpose} (${PURPOSES[purpose]}), envelope has code ${envelope[4]}`);
  }
  if (!eq(envelope.subarray(5, 13), await keyIdOf(pkR))) {
    fail('unknown-key', `unknown key id ${hex(envelope.subarray(5, 13))}`);
  }
  const header = envelope.subarray(0, HDR);
  const enc = envelope.subarray(HDR, HDR + ENC);
  const ct = envelope.subarray(HDR + ENC);
  const info = concat(header, new TextEncoder().encode(purpose), [0], context);

  let pkE;
  try {
    pkE = await S.importKey('raw', enc, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
  } catch {
    fail('authentication', 'invalid ephemeral public key in envelope');
  }
  const sk = await S.importKey('jwk', jwk(skR, pkR), { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const dh = new Uint8Array(await S.deriveBits({ name: 'ECDH', public: pkE }, sk, 256));
  const ss = await ExtractAndExpand(dh, concat(enc, pkR));
  const { key, base_nonce: baseNonce } = await KeySchedule(ss, info, 2);
  const k = await S.importKey('raw', key, 'AES-GCM', false, ['decrypt']);
  try {
    return new Uint8Array(await S.decrypt({ name: 'AES-GCM', iv: baseNonce, additionalData: EMPTY }, k, ct));
  } catch {
    fail('authentication', 'authentication failed: envelope corrupted, wrong key, or wrong context');
  }
}

// STREAM chunk nonce: 11-byte big-endian index || last flag (0x01 on the final chunk).
function chunkNonce(index, last) {
  const n = new Uint8Array(12);
  let i = index;
  for (let p = 10; p >= 0; p--) { n[p] = i % 256; i = Math.floor(i / 256); }
  n[11] = last ? 1 : 0;
  return n;
}

export async function decryptChunk(keyBytes, index, last, data) {
  const k = await S.importKey('raw', keyBytes, 'AES-GCM', false, ['decrypt']);
  try {
    return new Uint8Array(await S.decrypt({ name: 'AES-GCM', iv: chunkNonce(index, last), additionalData: EMPTY }, k, data));
  } catch {
    fail('chunk-authentication', `chunk ${index} failed authentication (corrupted, reordered, or truncated stream)`);
  }
}

// Opens chunks in order, as a streaming reader would, so a stream that is both reordered and
// short fails on the first bad chunk, like crypto/stream.py.
export async function openFile(skR, pkR, manifestEnvelope, chunks) {
  const text = await open(skR, pkR, 'attachment-manifest', manifestEnvelope);
  let m;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text));
  } catch {
    fail('manifest', 'malformed manifest: not JSON');
  }
  if (m === null || typeof m !== 'object' || m.v !== 1 || typeof m.name !== 'string' || typeof m.type !== 'string' ||
      !Number.isSafeInteger(m.size) || m.size < 0 || !Number.isSafeInteger(m.chunks) || typeof m.key !== 'string') {
    fail('manifest', 'malformed manifest');
  }
  const key = new Uint8Array(Buffer.from(m.key, 'base64url'));
  if (key.length !== 32) fail('manifest', 'malformed manifest: key must be 32 bytes');
  const n = Math.max(1, Math.ceil(m.size / CHUNK));
  if (m.chunks !== n) fail('manifest', `manifest inconsistent: size ${m.size} needs ${n} chunks, says ${m.chunks}`);
  const parts = [];
  for (const [i, chunk] of chunks.entries()) {
    if (i >= n) fail('extra-chunk', `more chunks than the ${n} the manifest declares`);
    const last = i === n - 1;
    const pt = await decryptChunk(key, i, last, chunk);
    const want = last ? m.size - (n - 1) * CHUNK : CHUNK;
    if (pt.length !== want) fail('chunk-size', `chunk ${i} has ${pt.length} bytes, expected ${want}`);
    parts.push(pt);
  }
  if (parts.length < n) fail('truncated-stream', `stream is truncated: ${parts.length} of ${n} chunks`);
  return { name: m.name, type: m.type, data: concat(...parts) };
}

// Reporter token (protocol §10.2): drop separators, map every Unicode decimal digit to ASCII,
// require 20 digits whose Damm interim is 0. Written apart from crypto/token.py on purpose.
const DAMM = [[0, 3, 1, 7, 5, 9, 8, 6, 4, 2], [7, 0, 9, 2, 1, 5, 4, 8, 6, 3], [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6], [6, 1, 2, 3, 0, 4, 5, 9, 7, 8], [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4], [8, 9, 4, 5, 3, 6, 2, 0, 1, 7], [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0]];
const SEPARATORS = new Set(['-', '.', '\u2010', '\u2011', '\u2012', '\u2013', '\u2212']);
const isDigit = ch => /^\p{Nd}$/u.test(ch);
// Unicode lays decimal digits out in runs of ten, zero first, so a digit's value is its distance
// from the start of its run of Nd characters, modulo 10.
function digitValue(ch) {
  let start = ch.codePointAt(0);
  while (isDigit(String.fromCodePoint(start - 1))) start--;
  return (ch.codePointAt(0) - start) % 10;
}
export function parseToken(text) {
  let digits = '';
  for (const ch of text) {
    if (/^\s$/u.test(ch) || SEPARATORS.has(ch)) continue;
    if (!isDigit(ch)) fail('not-digit', 'a token contains only digits');
    digits += digitValue(ch);
  }
  if (digits.length !== 20) fail('length', `a token has 20 digits; this has ${digits.length}`);
  if ([...digits].reduce((interim, d) => DAMM[interim][+d], 0) !== 0) fail('typo', 'this token has a typo');
  return digits;
}
