// Deterministic test material shared by the vector generators (kat.mjs, negative.mjs):
// every private scalar and file key is SHA-256 of a label, so regenerating gives the same bytes.
import { hex, publicFromScalar } from './open.mjs';

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n; // P-256 group order
const te = new TextEncoder();
export const sha256 = async s => new Uint8Array(await crypto.subtle.digest('SHA-256', te.encode(s)));

// Fixed valid scalar: SHA-256(label), re-hashed with a counter in the (negligible) case it is 0 or >= n.
export async function scalar(label) {
  for (let i = 0; ; i++) {
    const d = await sha256(i ? `${label}#${i}` : label);
    const v = BigInt('0x' + hex(d));
    if (v > 0n && v < N) return d;
  }
}
export async function keyPair(label) {
  const sk = await scalar(label);
  return { sk, pk: await publicFromScalar(sk) };
}
// Test plaintexts: byte i is i mod 251.
export const pattern = n => Uint8Array.from({ length: n }, (_, i) => i % 251);
