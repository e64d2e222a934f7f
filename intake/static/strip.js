// Removes identifying metadata (location, camera, dates, text) from JPEG and PNG photos before
// they are sealed, and says what it removed. Mirrors cases/metadata.py byte for byte: change both.
// Never throws and never guesses: on any doubt about the structure the input comes back unchanged.
const CODES = ['gps', 'camera', 'date', 'exif', 'xmp', 'iptc', 'comment', 'text', 'other'];
const str = (b, s, e) => String.fromCharCode(...b.subarray(s, e));

// Codes for the tags of a TIFF (EXIF) blob b[s..e). The blob is dropped whatever it holds, so a
// malformed one just ends the look (DataView throws RangeError past its end).
function tiff(b, s, e, f) {
  try {
    const v = new DataView(b.buffer, b.byteOffset + s, e - s), m = v.getUint16(0), le = m === 0x4949;
    if (!le && m !== 0x4d4d || v.getUint16(2, le) !== 42) return;
    const ifd = (o, top) => {
      for (let i = 0, n = v.getUint16(o, le); i < n; i++) {
        const p = o + 2 + 12 * i, t = v.getUint16(p, le);
        // Make, Model, CameraOwnerName, BodySerialNumber, Lens{Specification,Make,Model,SerialNumber}
        if (t === 0x10f || t === 0x110 || t >= 0xa430 && t <= 0xa435) f.add('camera');
        if (t === 0x132 || t === 0x9003 || t === 0x9004) f.add('date'); // DateTime{,Original,Digitized}
        if (t === 0x8825) f.add('gps');
        if (t === 0x8769 && top) ifd(v.getUint32(p + 8, le)); // Exif sub-IFD, one level only
      }
    };
    ifd(v.getUint32(4, le), 1);
  } catch {}
}

// JPEG: ranges to keep, or undefined when unsure. Stops at SOS; the scan is copied as is.
function jpeg(b, f) {
  const k = [[0, 2]], n = b.length;
  for (let i = 2; ;) {
    if (b[i] !== 0xff) return;
    while (b[i] === 0xff) i++; // fill bytes are dropped
    const m = b[i], e = i + 1 + (b[i + 1] << 8 | b[i + 2]);
    // standalone markers (TEM, RSTn, SOI, EOI) have no business here
    // (past the end: m and the length read as undefined/0, caught by e < i + 3 or e > n)
    if (m < 2 || m >= 0xd0 && m <= 0xd9 || e < i + 3 || e > n) return;
    if (m === 0xda) return k.push([i - 1, n]), k;
    const id = str(b, i + 3, Math.min(e, i + 39));
    let c = m === 0xfe ? 'comment' : m >> 4 === 14 && 'other';
    // keep APP0 JFIF/JFXX, APP2 ICC profile, APP14 Adobe (colour transform): needed to decode
    if (/^(224JF(IF|XX)\0|226ICC_PROFILE\0|238Adobe)/.test(m + id)) c = 0;
    else if (m === 0xe1 && id.startsWith('Exif\0')) tiff(b, i + 9, e, f), c = 'exif';
    else if (m === 0xe1 && /^http:\/\/ns\.adobe\.com\/(xap\/1\.0|xmp\/extension)\/\0/.test(id)) c = 'xmp';
    else if (m === 0xed) c = 'iptc';
    c ? f.add(c) : k.push([i - 1, e]);
    i = e;
  }
}

// PNG: every chunk but text, eXIf and tIME, with its CRC untouched; nothing after IEND.
function png(b, f) {
  if (str(b, 0, 8) !== '\x89PNG\r\n\x1a\n') return;
  const k = [[0, 8]], n = b.length;
  for (let i = 8; ;) {
    if (i + 12 > n) return;
    const len = b[i] << 24 | b[i + 1] << 16 | b[i + 2] << 8 | b[i + 3], t = str(b, i + 4, i + 8), e = i + 12 + len;
    // len < 0: over 2^31 - 1, which PNG forbids
    if (len < 0 || e > n || !/^[A-Za-z]{4}$/.test(t) || (i === 8) !== (t === 'IHDR')) return;
    let c = /^(tEXt|zTXt|iTXt)$/.test(t) ? 'text' : t === 'tIME' && 'date';
    if (t === 'eXIf') {
      const s = i + 8 + (str(b, i + 8, Math.min(i + 14, e - 4)) === 'Exif\0\0' ? 6 : 0);
      tiff(b, s, e - 4, f), c = 'exif';
    }
    c ? f.add(c) : k.push([i, e]);
    i = e;
    if (t === 'IEND') return i < n && f.add('other'), k;
  }
}

// -> {bytes, removed}: the input itself, with removed = [], whenever nothing was removed.
export function stripMetadata(bytes, type) {
  const same = { bytes, removed: [] };
  try {
    const t = String(type).split(';')[0].trim().toLowerCase();
    if (!(bytes instanceof Uint8Array) || !/^(image\/(jpe?g|pjpeg|(x-)?png)|application\/octet-stream|)$/.test(t)) return same;
    const f = new Set(), k = (bytes[0] === 0xff && bytes[1] === 0xd8 ? jpeg : png)(bytes, f);
    if (!k || !f.size) return same;
    const out = new Uint8Array(k.reduce((n, [s, e]) => n + e - s, 0));
    let o = 0;
    for (const [s, e] of k) out.set(bytes.subarray(s, e), o), o += e - s;
    return { bytes: out, removed: CODES.filter(c => f.has(c)) };
  } catch {
    return same;
  }
}
