// Browser-side sealing (docs/protocol.md §5, §6): RFC 9180 HPKE base mode, sender only, on
// WebCrypto. Names are RFC 9180's. Suite: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM
// (AES-128-GCM only to check the RFC's test vectors).
const subtle = globalThis.crypto.subtle;
const EMPTY = new Uint8Array(0);
const P256 = { name: 'ECDH', namedCurve: 'P-256' };
const ascii = text => new TextEncoder().encode(text);

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// I2OSP(n, w), RFC 8017 §4.1, for integers 0 <= n < 2^53.
function I2OSP(n, w) {
  const out = new Uint8Array(w);
  for (let i = w - 1; n > 0; i--, n = Math.floor(n / 256)) out[i] = n % 256;
  return out;
}

// base64url without padding (RFC 4648 §5).
const base64url = bytes =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

// WebCrypto refuses empty HMAC keys; HMAC zero-pads keys, so 32 zero bytes = the empty salt.
async function HMAC(key, message) {
  const raw = key.length ? key : new Uint8Array(32);
  const algorithm = { name: 'HMAC', hash: 'SHA-256' };
  const hmacKey = await subtle.importKey('raw', raw, algorithm, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', hmacKey, message));
}

// RFC 9180 §4. Every L here is <= Nh = 32, so HKDF-Expand is one block: HMAC(prk, info || 0x01).
async function LabeledExtract(suite_id, salt, label, ikm) {
  return HMAC(salt, concat(ascii('HPKE-v1'), suite_id, ascii(label), ikm));
}
async function LabeledExpand(suite_id, prk, label, info, L) {
  const labeled_info = concat(I2OSP(L, 2), ascii('HPKE-v1'), suite_id, ascii(label), info);
  return (await HMAC(prk, concat(labeled_info, [1]))).slice(0, L);
}

// RFC 9180 §4.1, DHKEM(P-256, HKDF-SHA256): the KEM suite_id is "KEM" || I2OSP(kem_id, 2).
const KEM_SUITE_ID = concat(ascii('KEM'), I2OSP(0x0010, 2));
async function ExtractAndExpand(dh, kem_context) {
  const eae_prk = await LabeledExtract(KEM_SUITE_ID, EMPTY, 'eae_prk', dh);
  return LabeledExpand(KEM_SUITE_ID, eae_prk, 'shared_secret', kem_context, 32);
}

// A P-256 scalar and its 65-byte uncompressed point, as WebCrypto imports them.
export const jwk = (sk, pk) => ({
  kty: 'EC', crv: 'P-256', d: base64url(sk), x: base64url(pk.subarray(1, 33)),
  y: base64url(pk.subarray(33)),
});

// RFC 9180 §4.1. `eph` fixes the ephemeral key pair, for test vectors only.
async function Encap(pkR, eph) {
  let skE, enc;
  if (eph) {
    skE = await subtle.importKey('jwk', jwk(eph.sk, eph.pk), P256, false, ['deriveBits']);
    enc = new Uint8Array(eph.pk);
  } else {
    const pair = await subtle.generateKey(P256, false, ['deriveBits']);
    skE = pair.privateKey;
    enc = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  }
  const pk = await subtle.importKey('raw', pkR, P256, true, []);
  const dh = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: pk }, skE, 256));
  const shared_secret = await ExtractAndExpand(dh, concat(enc, pkR));
  return { shared_secret, enc };
}

// RFC 9180 §5.1, mode_base (0x00): psk and psk_id are empty.
async function KeySchedule(shared_secret, info, aead_id = 0x0002) {
  if (aead_id !== 0x0001 && aead_id !== 0x0002) throw Error('unsupported AEAD ' + aead_id);
  const Nk = aead_id * 16;
  const suite_id = concat(ascii('HPKE'), I2OSP(0x0010, 2), I2OSP(0x0001, 2), I2OSP(aead_id, 2));
  const psk_id_hash = await LabeledExtract(suite_id, EMPTY, 'psk_id_hash', EMPTY);
  const info_hash = await LabeledExtract(suite_id, EMPTY, 'info_hash', info);
  const key_schedule_context = concat([0x00], psk_id_hash, info_hash);
  const secret = await LabeledExtract(suite_id, shared_secret, 'secret', EMPTY);
  const key = await LabeledExpand(suite_id, secret, 'key', key_schedule_context, Nk);
  const base_nonce = await LabeledExpand(suite_id, secret, 'base_nonce', key_schedule_context, 12);
  return { key, base_nonce };
}

const aesKey = key => subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
const AESGCM = async (key, iv, additionalData, pt) =>
  new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData }, key, pt));

// RFC 9180 §5.1.1; kem_context = enc || pkR needs the uncompressed point.
async function SetupBaseS(pkR, info, aead_id = 0x0002, eph) {
  if (pkR.length !== 65 || pkR[0] !== 4) throw Error('pkR: need 65-byte uncompressed point');
  const { shared_secret, enc } = await Encap(pkR, eph);
  const { key, base_nonce } = await KeySchedule(shared_secret, info, aead_id);
  const aead = await aesKey(key);
  const context = {
    enc,
    seq: 0,
    // §5.2 Seal; seq is read synchronously, so concurrent seals never share a nonce.
    seal: (aad, pt) => AESGCM(aead, ComputeNonce(base_nonce, context.seq++), aad, pt),
  };
  return context;
}

// RFC 9180 §5.2: base_nonce XOR I2OSP(seq, Nn).
function ComputeNonce(base_nonce, seq) {
  const nonce = I2OSP(seq, 12);
  for (let i = 0; i < 12; i++) nonce[i] ^= base_nonce[i];
  return nonce;
}

// Purpose codes (protocol §5.2).
export const PURPOSES = Object.freeze({
  report: 1, message: 2, 'attachment-manifest': 3, reply: 4, note: 5, 'key-wrap': 6, triage: 7,
  details: 8,
});
export const keyIdOf = async pk => new Uint8Array(await subtle.digest('SHA-256', pk)).slice(0, 8);

// Envelope (§5): "RRE" 0x01 || purpose || key id(8) || enc(65) || ct. One seal with empty aad:
// header, purpose label and context are bound through info.
export async function seal(pkR, purpose, pt, context = EMPTY, eph) {
  if (!Object.hasOwn(PURPOSES, purpose)) throw Error('unknown purpose ' + purpose);
  const header = concat([0x52, 0x52, 0x45, 0x01, PURPOSES[purpose]], await keyIdOf(pkR));
  const info = concat(header, ascii(purpose), [0x00], context);
  const sender = await SetupBaseS(pkR, info, 0x0002, eph);
  return concat(header, sender.enc, await sender.seal(EMPTY, pt));
}

// Attachments (§6): age's STREAM nonce, 11-byte big-endian index || last-chunk flag. Fixed
// nonces are safe as every file has a fresh random key; the flag exposes truncation.
export const CHUNK = 65536;
const randomKey = () => globalThis.crypto.getRandomValues(new Uint8Array(32));
const chunkNonce = (index, last) => concat(I2OSP(index, 11), [last ? 1 : 0]);
export const encryptChunk = async (key, index, last, data) =>
  AESGCM(await aesKey(key), chunkNonce(index, last), EMPTY, data);

// The file key and chunk count travel in a sealed manifest (§6.2).
export async function sealFile(pkR, bytes, name, type, key = randomKey(), eph) {
  if (key.length !== 32 || typeof name != 'string' || typeof type != 'string') {
    throw Error('bad sealFile arguments');
  }
  const count = Math.max(1, Math.ceil(bytes.length / CHUNK));
  const fileKey = await aesKey(key);
  const chunks = [];
  for (let i = 0; i < count; i++) {
    const chunk = bytes.subarray(i * CHUNK, (i + 1) * CHUNK);
    chunks.push(await AESGCM(fileKey, chunkNonce(i, i === count - 1), EMPTY, chunk));
  }
  const manifest = { v: 1, name, type, size: bytes.length, chunks: count, key: base64url(key) };
  const json = ascii(JSON.stringify(manifest));
  return { manifest: await seal(pkR, 'attachment-manifest', json, EMPTY, eph), chunks };
}

// The RFC's steps, for the test vectors (tests/js/vectors.mjs) and the test opener (open.mjs).
export { LabeledExtract, LabeledExpand, ExtractAndExpand, KeySchedule, SetupBaseS };
