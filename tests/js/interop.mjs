// JSON-over-stdin CLI so the Python tests can drive intake/static/seal.js (and the
// test-only opener). Reads one JSON object from stdin, writes one JSON object to stdout.
// All binary values are hex. Ops:
//   {"op":"seal","pk","purpose","context"?,"pt","eph_sk"?,"eph_pk"?} -> {"envelope"}
//   {"op":"open","sk","pk","purpose","context"?,"envelope"}          -> {"pt"} | {"error"}
//   {"op":"sealFile","pk","name","type","data","key"?}                -> {"manifest","chunks":[...]}
//   {"op":"openFile","sk","pk","manifest","chunks":[...]}             -> {"name","type","data"} | {"error"}
//   {"op":"keyId","pk"}                                               -> {"keyId"}
// Failures are reported as {"error": message}; exit status is 0 for open/openFile failures
// (an expected outcome) and 1 for bad requests or failures of the other ops.
import { seal, sealFile, keyIdOf } from '../../intake/static/seal.js';
import { open, openFile, hex, unhex, publicFromScalar } from './open.mjs';

const EMPTY = new Uint8Array(0);
const opt = h => (h === undefined || h === null ? undefined : unhex(h));

async function run(req) {
  switch (req.op) {
    case 'seal': {
      let eph;
      if (req.eph_sk) {
        const sk = unhex(req.eph_sk);
        eph = { sk, pk: req.eph_pk ? unhex(req.eph_pk) : await publicFromScalar(sk) };
      }
      const env = await seal(unhex(req.pk), req.purpose, unhex(req.pt), opt(req.context) ?? EMPTY, eph);
      return { envelope: hex(env) };
    }
    case 'open': {
      const pt = await open(unhex(req.sk), unhex(req.pk), req.purpose, unhex(req.envelope), opt(req.context) ?? EMPTY);
      return { pt: hex(pt) };
    }
    case 'sealFile': {
      const r = await sealFile(unhex(req.pk), unhex(req.data), req.name, req.type, opt(req.key));
      return { manifest: hex(r.manifest), chunks: r.chunks.map(hex) };
    }
    case 'openFile': {
      if (!Array.isArray(req.chunks)) throw new Error('chunks must be a list of hex strings');
      const r = await openFile(unhex(req.sk), unhex(req.pk), unhex(req.manifest), req.chunks.map(unhex));
      return { name: r.name, type: r.type, data: hex(r.data) };
    }
    case 'keyId':
      return { keyId: hex(await keyIdOf(unhex(req.pk))) };
    default:
      throw new Error(`unknown op: ${req.op}`);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;

let req;
try {
  req = JSON.parse(input);
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new Error('request must be a JSON object');
} catch (e) {
  req = null;
  process.stdout.write(JSON.stringify({ error: `bad request: ${e.message}` }) + '\n');
  process.exitCode = 1;
}
if (req) {
  try {
    process.stdout.write(JSON.stringify(await run(req)) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
    process.exitCode = req.op === 'open' || req.op === 'openFile' ? 0 : 1;
  }
}
