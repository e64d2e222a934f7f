// TEST-ONLY: run intake/static/strip.js on a file. Usage: node strip_cli.mjs IN TYPE OUT
// Writes the stripped bytes to OUT and prints {"removed": [...]} as JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { stripMetadata } from '../../intake/static/strip.js';

const [input, type, output] = process.argv.slice(2);
if (!input || type === undefined || !output) {
  console.error('usage: node strip_cli.mjs IN TYPE OUT');
  process.exit(2);
}
const { bytes, removed } = stripMetadata(new Uint8Array(readFileSync(input)), type);
writeFileSync(output, bytes);
console.log(JSON.stringify({ removed }));
