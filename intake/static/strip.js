// Removes identifying metadata (location, camera, dates, text) from JPEG and PNG photos before
// they are sealed, and says what it removed. Mirrors intake/metadata.py byte for byte: change both.
// Never throws and never guesses: on any doubt about the structure the input comes back unchanged.
const CODES = ['gps', 'camera', 'date', 'exif', 'xmp', 'iptc', 'comment', 'text', 'other'];
const TYPES = /^image\/(jpe?g|pjpeg|(x-)?png)$/;
// Make, Model, CameraOwnerName, BodySerialNumber, LensSpecification/Make/Model/SerialNumber
const CAMERA = [0x10f, 0x110, 0xa430, 0xa431, 0xa432, 0xa433, 0xa434, 0xa435];
const DATE = [0x132, 0x9003, 0x9004]; // DateTime, DateTimeOriginal, DateTimeDigitized
const str = (b, s, e) => String.fromCharCode(...b.subarray(s, e));

// Codes for the tags of a TIFF (EXIF) blob b[s..e). The blob is dropped whatever it holds, so a
// malformed one just ends the look (DataView throws RangeError past its end).
function tiff(b, s, e, f) {
  f.add('exif');
  try {
    const v = new DataView(b.buffer, b.byteOffset + s, e - s), bo = v.getUint16(0);
    const le = bo === 0x4949;
    if (!le && bo !== 0x4d4d || v.getUint16(2, le) !== 42) return;
    const ifd = (o, top) => {
      for (let i = 0, n = v.getUint16(o, le); i < n; i++) {
        const p = o + 2 + 12 * i, t = v.getUint16(p, le);
        if (CAMERA.includes(t)) f.add('camera');
        if (DATE.includes(t)) f.add('date');
        if (t === 0x8825) f.add('gps');
        if (t === 0x8769 && top) ifd(v.getUint32(p + 8, le), 0); // Exif sub-IFD, one level only
      }
    };
    ifd(v.getUint32(4, le), 1);
  } catch {}
}

// JPEG: ranges to keep, or undefined when unsure. Stops at SOS; the scan is copied as is.
function jpeg(b, f) {
  const keep = [[0, 2]], n = b.length;
  for (let i = 2; ;) {
    if (b[i] !== 0xff) return;
    while (b[i] === 0xff) i++; // fill bytes are dropped
    const m = b[i], e = i + 1 + (b[i + 1] << 8 | b[i + 2]);
    // standalone markers (TEM, RSTn, SOI, EOI) have no business here
    if (i + 2 >= n || m < 2 || m >= 0xd0 && m <= 0xd9 || e < i + 3 || e > n) return;
    if (m === 0xda) return keep.push([i - 1, n]), keep;
    const id = str(b, i + 3, Math.min(e, i + 39));
    let c = m === 0xfe ? 'comment' : m >> 4 !== 0xe ? 0 : 'other';
    if (m === 0xe0 && /^JF(IF|XX)\0/.test(id) || m === 0xe2 && id.startsWith('ICC_PROFILE\0') ||
        m === 0xee && id.startsWith('Adobe')) c = 0;
    else if (m === 0xe1 && id.startsWith('Exif\0')) tiff(b, i + 9, e, f), c = 'exif';
    else if (m === 0xe1 && /^http:\/\/ns\.adobe\.com\/(xap\/1\.0|xmp\/extension)\/\0/.test(id)) c = 'xmp';
    else if (m === 0xed) c = 'iptc';
    c ? f.add(c) : keep.push([i - 1, e]);
    i = e;
  }
}

// PNG: every chunk but text, eXIf and tIME, with its CRC untouched; nothing after IEND.
function png(b, f) {
  if (str(b, 0, 8) !== '\x89PNG\r\n\x1a\n') return;
  const keep = [[0, 8]], n = b.length;
  for (let i = 8; ;) {
    if (i + 12 > n) return;
    const len = (b[i] << 24 | b[i + 1] << 16 | b[i + 2] << 8 | b[i + 3]) >>> 0, t = str(b, i + 4, i + 8);
    const e = i + 12 + len;
    if (len > 0x7fffffff || e > n || !/^[A-Za-z]{4}$/.test(t) || (i === 8) !== (t === 'IHDR')) return;
    let c = ['tEXt', 'zTXt', 'iTXt'].includes(t) ? 'text' : t === 'tIME' ? 'date' : 0;
    if (t === 'eXIf') {
      const s = i + 8 + (str(b, i + 8, Math.min(i + 14, e - 4)) === 'Exif\0\0' ? 6 : 0);
      tiff(b, s, e - 4, f), c = 'exif';
    }
    c ? f.add(c) : keep.push([i, e]);
    i = e;
    if (t === 'IEND') return i < n && f.add('other'), keep;
  }
}

export function stripMetadata(bytes, type) {
  const same = { bytes, removed: [] };
  try {
    if (!(bytes instanceof Uint8Array) || !TYPES.test(String(type).split(';')[0].trim().toLowerCase())) return same;
    const f = new Set(), keep = (bytes[0] === 0xff && bytes[1] === 0xd8 ? jpeg : png)(bytes, f);
    if (!keep || !f.size) return same;
    const out = new Uint8Array(keep.reduce((k, [s, e]) => k + e - s, 0));
    let o = 0;
    for (const [s, e] of keep) out.set(bytes.subarray(s, e), o), o += e - s;
    return { bytes: out, removed: CODES.filter(c => f.has(c)) };
  } catch {
    return same;
  }
}
