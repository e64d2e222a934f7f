// Voice notes, for reporters who would rather speak than write. app.js imports this module only
// when Record is first tapped, so no page carries it on its first load. The recording lives in this
// page's memory only (nothing is written to cookies, storage or the device's files): once stopped
// it is cleaned (blankWebm), put into the form's audio input (templates/intake/_voice.html) and
// sealed and sent by app.js with the other files (readFiles -> sealAll -> sendFiles).

// A WebM file (Matroska) names the program that wrote it in its Info element (MuxingApp and
// WritingApp: "Chrome" on Chromium) and may carry a title, track names or tags. blankWebm
// overwrites these strings' bytes with zeros in place: an EBML string may be zero-padded, so each
// reads as empty, and no size or offset changes. Everything after the first Cluster is audio.
const SEGMENT = 0x18538067, INFO = 0x1549a966, TRACKS = 0x1654ae6b, TRACK_ENTRY = 0xae;
const TAGS = 0x1254c367, TAG = 0x7373, SIMPLE_TAG = 0x67c8, CLUSTER = 0x1f43b675;
const CONTAINERS = new Set([SEGMENT, INFO, TRACKS, TRACK_ENTRY, TAGS, TAG, SIMPLE_TAG]);
// MuxingApp, WritingApp, Title, a track's Name, a tag's TagName, TagString and TagBinary.
const BLANK = new Set([0x4d80, 0x5741, 0x7ba9, 0x536e, 0x45a3, 0x4487, 0x4485]);

// An EBML variable-length integer at b[i]: an element ID keeps its length marker, a size drops it
// (all ones is "unknown size"). null when the bytes cannot be one.
function vint(b, i, id) {
  if (i >= b.length || !b[i]) return null;
  const len = Math.clz32(b[i]) - 23;
  if (i + len > b.length) return null;
  let v = id ? b[i] : b[i] & (0xff >> len), unknown = v === 0xff >> len;
  for (let k = 1; k < len; k++) { v = v * 256 + b[i + k]; unknown = unknown && b[i + k] === 0xff; }
  return { len, v, unknown: !id && unknown };
}

export function blankWebm(input) {
  const bytes = input.slice();
  let blanked = 0;
  const walk = (start, end) => {
    for (let i = start; i < end;) {
      const id = vint(bytes, i, true), size = id && vint(bytes, i + id.len, false);
      if (!size || id.v === CLUSTER) return;
      const data = i + id.len + size.len, stop = size.unknown ? end : Math.min(data + size.v, end);
      if (CONTAINERS.has(id.v)) walk(data, stop);
      else if (BLANK.has(id.v) && stop > data) { bytes.fill(0, data, stop); blanked++; }
      if (size.unknown) return;
      i = stop;
    }
  };
  walk(0, bytes.length);
  return { bytes, blanked };
}

// Opus in WebM where the browser has it (Chromium, Firefox), else what it records (Safari: MP4).
const TYPES = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4'];
const EXTENSIONS = { 'audio/webm': 'webm', 'audio/ogg': 'ogg', 'audio/mp4': 'm4a' };
const clock = s => Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');

// The recorder in box (the .voice-js block, whose data-* hold its texts); starts recording at once.
export function start(box) {
  const t = box.dataset, input = box.closest('.voice').querySelector('input[type=file]');
  const record = box.querySelector('#voice-record');
  const make = (tag, text) => {
    const e = document.createElement(tag);
    if (text) { e.type = 'button'; e.textContent = text; }
    e.hidden = true;
    return e;
  };
  const stop = make('button', t.stop), audio = make('audio'), again = make('button', t.again), drop = make('button', t.delete);
  const time = document.createElement('span');
  const say = (text, role) => { time.setAttribute('role', role); time.textContent = text; };  // a timer is not read aloud every second
  time.className = 'voice-time';
  audio.controls = true;
  drop.className = 'danger-button';
  record.after(stop, time, audio, again, drop);
  let recorder = null, url = null;
  const show = (...shown) => { for (const e of [record, stop, audio, again, drop]) e.hidden = !shown.includes(e); };
  const changed = () => input.dispatchEvent(new Event('change', { bubbles: true }));

  const clear = () => {
    if (url) URL.revokeObjectURL(url);
    url = null;
    audio.removeAttribute('src');
    input.files = new DataTransfer().files;
    delete input.dataset.clean;
    time.textContent = '';
    changed();
  };

  const keep = async (parts, type, seconds) => {
    const base = (type || 'audio/webm').split(';')[0], raw = new Uint8Array(await new Blob(parts).arrayBuffer());
    const webm = base === 'audio/webm' && raw[0] === 0x1a;
    const file = new File([webm ? blankWebm(raw).bytes : raw], 'voice-message.' + (EXTENSIONS[base] || 'audio'), { type: base });
    const list = new DataTransfer();
    list.items.add(file);
    input.files = list.files;
    if (webm) input.dataset.clean = '1';  // nothing left that names the device: app.js warns of nothing
    changed();
    url = URL.createObjectURL(file);
    audio.src = url;
    say(clock(seconds), 'status');
    show(audio, again, drop);
    again.focus();
  };

  const go = async () => {
    clear();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      say(t.denied, 'alert');
      show(record);
      return;
    }
    const type = TYPES.find(x => MediaRecorder.isTypeSupported(x));
    recorder = new MediaRecorder(stream, { ...(type && { mimeType: type }), audioBitsPerSecond: 32000 });
    const parts = [], began = Date.now(), seconds = () => Math.round((Date.now() - began) / 1000);
    const tick = () => say(t.recording.replace('{t}', clock(seconds())), 'timer');
    const timer = setInterval(tick, 500);
    recorder.ondataavailable = e => { if (e.data.size) parts.push(e.data); };
    recorder.onstop = () => {
      clearInterval(timer);
      for (const track of stream.getTracks()) track.stop();  // the microphone is released at once
      keep(parts, recorder.mimeType || type, seconds()).catch(() => { say(t.denied, 'alert'); show(record); });
    };
    recorder.start(1000);
    tick();
    show(stop);
    stop.focus();
  };

  stop.addEventListener('click', () => { if (recorder && recorder.state !== 'inactive') recorder.stop(); });
  record.addEventListener('click', go);
  again.addEventListener('click', go);
  drop.addEventListener('click', () => { clear(); show(record); record.focus(); });
  go();
}
