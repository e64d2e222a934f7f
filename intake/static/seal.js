// Browser-side sealing: RFC 9180 HPKE base mode (sender only) on WebCrypto, no dependencies.
// Suite: DHKEM(P-256, HKDF-SHA256) 0x0010 / HKDF-SHA256 0x0001 / AES-256-GCM 0x0002
// (AES-128-GCM 0x0001 only so the RFC 9180 test vectors can be checked).
const C = globalThis.crypto, S = C.subtle, E = new Uint8Array(0);
const u8 = b => new Uint8Array(b), T = s => new TextEncoder().encode(s);
const cat = (...a) => {
  const o = u8(a.reduce((n, x) => n + x.length, 0));
  let i = 0;
  for (const x of a) o.set(x, i), i += x.length;
  return o;
};
// I2OSP(n, w) for integers 0 <= n < 2^53
const i2 = (n, w) => {
  const o = u8(w);
  for (let i = w - 1; n > 0; i--, n = Math.floor(n / 256)) o[i] = n % 256;
  return o;
};
const b64u = b => btoa(String.fromCharCode(...b)).replace(/[+/=]/g, c => ({ '+': '-', '/': '_' }[c] || ''));
const P = { name: 'ECDH', namedCurve: 'P-256' }, DB = ['deriveBits'];
// WebCrypto rejects empty HMAC keys; HMAC zero-pads short keys, so 32 zero bytes == RFC 5869's empty salt.
const hmac = async (k, m) => u8(await S.sign('HMAC', await S.importKey('raw', k.length ? k : u8(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']), m));
const V1 = T('HPKE-v1'), KEM = cat(T('KEM'), [0, 16]);
export const labeledExtract = (s, salt, l, ikm) => hmac(salt, cat(V1, s, T(l), ikm));
// HKDF-Expand as a single block: every length used here is <= 32 (Nh).
export const labeledExpand = async (s, prk, l, info, L) => (await hmac(prk, cat([0, L], V1, s, T(l), info, [1]))).slice(0, L);
export const extractAndExpand = async (dh, kc) => labeledExpand(KEM, await labeledExtract(KEM, E, 'eae_prk', dh), 'shared_secret', kc, 32);
export const keySchedule = async (ss, info, a = 2) => {
  if (a !== 1 && a !== 2) throw Error('unsupported AEAD ' + a);
  const s = cat(T('HPKE'), [0, 16, 0, 1, 0, a]);
  const c = cat([0], await labeledExtract(s, E, 'psk_id_hash', E), await labeledExtract(s, E, 'info_hash', info));
  const x = await labeledExtract(s, ss, 'secret', E);
  return { key: await labeledExpand(s, x, 'key', c, a * 16), baseNonce: await labeledExpand(s, x, 'base_nonce', c, 12) };
};
// JWK for a P-256 private scalar + its 65-byte uncompressed public point
export const jwk = (sk, pk) => ({ kty: 'EC', crv: 'P-256', d: b64u(sk), x: b64u(pk.subarray(1, 33)), y: b64u(pk.subarray(33)) });
const aes = k => S.importKey('raw', k, 'AES-GCM', false, ['encrypt']);
const gcm = async (k, iv, ad, pt) => u8(await S.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, k, pt));
export const setupS = async (pkR, info, a = 2, eph) => {
  // kem_context = enc || pkR needs the uncompressed serialisation
  if (pkR.length !== 65 || pkR[0] !== 4) throw Error('pkR: need 65-byte uncompressed point');
  const g = eph ? { privateKey: await S.importKey('jwk', jwk(eph.sk, eph.pk), P, false, DB) } : await S.generateKey(P, false, DB);
  const enc = u8(eph ? eph.pk : await S.exportKey('raw', g.publicKey));
  const dh = u8(await S.deriveBits({ name: 'ECDH', public: await S.importKey('raw', pkR, P, true, []) }, g.privateKey, 256));
  const { key, baseNonce } = await keySchedule(await extractAndExpand(dh, cat(enc, pkR)), info, a);
  const k = await aes(key), c = {
    enc, seq: 0,
    // nonce = base_nonce XOR I2OSP(seq, 12); seq is read synchronously so concurrent seals never share a nonce
    seal: (aad, pt) => { const n = i2(c.seq++, 12); for (let i = 0; i < 12; i++) n[i] ^= baseNonce[i]; return gcm(k, n, aad, pt); }
  };
  return c;
};
export const PURPOSES = Object.freeze({ report: 1, message: 2, 'attachment-manifest': 3, reply: 4, note: 5, 'key-wrap': 6, triage: 7 });
export const keyIdOf = async pk => u8(await S.digest('SHA-256', pk)).slice(0, 8);
// Envelope: "RRE" 0x01 | purpose | key id(8) | enc(65) | ct. Single-shot (seq 0, empty aad):
// header, purpose label and caller context are all bound through info.
export const seal = async (pkR, purpose, pt, ctx = E, eph) => {
  if (!Object.hasOwn(PURPOSES, purpose)) throw Error('unknown purpose ' + purpose);
  const h = cat([82, 82, 69, 1, PURPOSES[purpose]], await keyIdOf(pkR));
  const c = await setupS(pkR, cat(h, T(purpose), [0], ctx), 2, eph);
  return cat(h, c.enc, await c.seal(E, pt));
};
export const CHUNK = 65536;
// STREAM as in age: nonce = 11-byte big-endian chunk index || last flag. Fixed nonces are safe
// because every file gets a fresh random key; the flag makes truncation detectable.
const cn = (i, l) => cat(i2(i, 11), [l ? 1 : 0]);
export const encryptChunk = async (k, i, l, d) => gcm(await aes(k), cn(i, l), E, d);
export const sealFile = async (pkR, b, name, type, key = C.getRandomValues(u8(32)), eph) => {
  if (key.length !== 32 || typeof name != 'string' || typeof type != 'string') throw Error('bad sealFile arguments');
  const n = Math.max(1, Math.ceil(b.length / CHUNK)), k = await aes(key), chunks = [];
  for (let i = 0; i < n; i++) chunks.push(await gcm(k, cn(i, i === n - 1), E, b.subarray(i * CHUNK, (i + 1) * CHUNK)));
  const m = T(JSON.stringify({ v: 1, name, type, size: b.length, chunks: n, key: b64u(key) }));
  return { manifest: await seal(pkR, 'attachment-manifest', m, E, eph), chunks };
};
