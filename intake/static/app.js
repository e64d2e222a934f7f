// Progressive enhancement for the pages that seal (the report form, the status page, the details
// page). Everything works without this file; with it, reports, messages and files are sealed on the
// device (seal.js) before they are sent, and files upload chunk by chunk and resume after a
// dropped connection. It runs after common.js, in the same module ($, enc, unb64u, solve and
// printButton are there). Nothing is written to cookies, localStorage, sessionStorage or IndexedDB.
import { seal, sealFile } from './seal.js';

const sleep = ms => new Promise(r => setTimeout(r, ms));
const b64u = b => {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const fill = (t, v) => (t || '').replace(/\{(\w+)\}/g, (_, k) => v[k]);
const strings = $('#strings') ? $('#strings').dataset : {};
const say = (t, v = {}) => { const p = $('#progress'); if (p) p.textContent = fill(t || '', v); };

// A reporter's mistake is shown next to its field, as the server shows it (_errors.html): a message
// with the id "<name>-error" that the field names in aria-describedby, the field marked invalid,
// focused (which scrolls it into view). An empty text takes the message away. Returns '' (to throw: the
// message is shown already, so nothing more is said).
function showError(f, text) {
  const id = f.name + '-error', d = 'aria-describedby', ids = (f.getAttribute(d) || '').split(' ').filter(i => i && i != id);
  let p = $('#' + id);
  if (text) {
    if (!p) { p = document.createElement('p'); p.id = id; p.className = 'error'; p.setAttribute('role', 'alert'); f.before(p); }
    p.textContent = text;
    ids.push(id);
    f.setAttribute('aria-invalid', 'true');
    f.focus();
  } else { p?.remove(); f.removeAttribute('aria-invalid'); }
  ids.length ? f.setAttribute(d, ids.join(' ')) : f.removeAttribute(d);
  return '';
}

// Every empty field marked data-required gets its message, the first one last so it has the focus.
function checkRequired(form) {
  let empty = false;
  for (const f of [...form.querySelectorAll('[data-required]')].reverse()) {
    const v = f.value.trim();
    showError(f, v ? '' : f.dataset.required);
    empty ||= !v;
  }
  if (empty) throw '';
}

// 503 + Retry-After: the server is saturated (or its disk is full) and kept nothing; wait as it
// asks (a little more, at random, so waiting browsers do not all return at once), then resend.
async function busy(r) {
  const s = Math.min(Math.max(parseInt(r.headers.get('Retry-After'), 10) || 20, 1), 300) * (1 + Math.random() / 4);
  const j = await r.json().catch(() => ({}));
  say(strings.busy ? fill(strings.busy, { s: Math.ceil(s) }) : j.error || strings.retry);
  await sleep(s * 1000);
}

async function upload(u, chunks, n, total) {
  const h = { 'X-Upload-Secret': u.secret };
  for (let wait = 1000; ;) {
    try {
      const r = await fetch('/api/upload/' + u.id, { headers: h });
      if (r.status === 404) throw new Error('gone');
      if (r.status === 503) throw r;
      if (!r.ok) throw 0;
      const have = new Set((await r.json()).have);
      for (let i = 0; i < chunks.length; i++) {
        if (have.has(i)) continue;
        const p = await fetch('/api/upload/' + u.id + '/' + i, { method: 'PUT', headers: h, body: chunks[i] });
        if (p.status === 503) throw p;
        if (!p.ok) throw 0;
        have.add(i);
        say(strings.file, { n, total, pct: Math.round(100 * have.size / chunks.length) });
      }
      return;
    } catch (e) {
      if (e instanceof Error && e.message === 'gone') throw e;
      if (e instanceof Response) { await busy(e); continue; }
      say(strings.retry);
      await sleep(wait);
      wait = Math.min(wait * 2, 30000);
    }
  }
}

// Photos (JPEG, PNG) are cleaned here; anything else but plain text (videos, audio, PDFs, office
// documents...) often names who made it, where and when, and the reporter is told so plainly.
const PHOTO = /^(image\/(jpe?g|pjpeg|(x-)?png)|application\/octet-stream|)$/;
const isPhoto = (f, b) => PHOTO.test(f.type) && (b[0] === 0xff && b[1] === 0xd8 || b[0] === 0x89 && b[1] === 0x50);

// Files: strip photo metadata unless the reporter keeps the original, check limits, seal.
async function readFiles(form, notes) {
  const keep = form.elements.keep_original?.checked, d = form.dataset, mb = 1048576, out = [];
  // Every input named files: the files chosen, and the voice note (marked clean once voice.js blanked it).
  const files = [...form.querySelectorAll('input[type=file][name=files]')].flatMap(i => [...i.files].map(f => Object.assign(f, { clean: !!i.dataset.clean })));
  // Errors about files show next to the file input (the voice note's input is hidden with JS).
  const input = $('#f-files', form);
  let sum = 0, lines = [];
  if (input) showError(input, '');
  if (files.length > +(d.maxFiles || 99)) throw showError(input, fill(strings.tooMany, { count: d.maxFiles }));
  for (const f of files) {
    if (f.size > d.maxFile * mb) throw showError(input, fill(strings.tooBig, { name: f.name, mb: d.maxFile }));
    sum += f.size;
    let bytes = new Uint8Array(await f.arrayBuffer());
    if (!isPhoto(f, bytes)) { if (!/^text\/(plain|csv)$/.test(f.type) && !f.clean) lines.push(fill(strings.kept, { name: f.name })); }
    else {
      const { stripMetadata } = await import('./strip.js');
      const r = stripMetadata(bytes, f.type);
      lines.push(r.removed.length ? fill(strings.removed, { name: f.name }) + ' ' + r.removed.map(c => strings[c] || c).join(', ')
        : fill(strings.nothing, { name: f.name }));
      if (!keep) bytes = r.bytes;
    }
    out.push({ f, bytes });
  }
  if (notes) notes.textContent = lines.join('\n');
  if (sum > (d.maxTotal || 1e9) * mb) throw showError(input, fill(strings.total, { mb: d.maxTotal }));
  return out;
}

async function post(form, body) {
  for (let attempt = 0; ;) {
    await solve(form);
    Object.assign(body, { challenge: form.elements.challenge.value, solution: form.elements.solution.value });
    const headers = { 'Content-Type': 'application/json', 'X-CSRFToken': form.elements.csrf.value };
    const r = await fetch(form.dataset.api, { method: 'POST', headers, body: JSON.stringify(body) });
    if (r.status === 503) { await busy(r); continue; }  // same nonce: a resend files one case
    const fresh = r.headers.get('X-New-Challenge');
    if (fresh && attempt++ < 2) { form.elements.challenge.value = fresh; continue; }
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw j.error || strings.failed;
    return j;
  }
}

async function sealAll(key, files) {
  const out = [];
  for (const { f, bytes } of files) out.push(await sealFile(key, bytes, f.name, f.type || 'application/octet-stream'));
  return out;
}

async function sendFiles(uploads, sealed) {
  for (let i = 0; i < uploads.length; i++) await upload(uploads[i], sealed[i].chunks, i + 1, uploads.length);
  if (uploads.length) say(strings.done);
}

function guard(form, run) {
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const btn = $('button[type=submit]', form);
    if (btn.disabled) return;
    btn.disabled = true;
    try { await run(); } catch (err) { say(typeof err === 'string' ? err : strings.failed); btn.disabled = false; }
  });
}

// Emergency help is open in the HTML (a page without JavaScript cannot open it on an answer);
// here it opens only while an answer it names (data-when="name=value ...") is chosen.
function emergencyHelp(form) {
  const boxes = [...form.querySelectorAll('details.sos[data-when]')];
  const update = () => {
    for (const box of boxes) {
      box.open = box.dataset.when.split(' ').some(w => { const [n, v] = w.split('='); return !!form.querySelector(`input[name="${n}"][value="${v}"]:checked`); });
    }
  };
  update();
  form.addEventListener('change', e => { if (e.target.type === 'radio') update(); });
}

function fileNotes(form) {
  form.addEventListener('change', e => {
    if (e.target.name === 'files' || e.target.name === 'keep_original') readFiles(form, $('#file-notes', form)).then(() => say(''), m => say(m));
  });
}

// Voice notes: where the browser can record, the recorder replaces the audio file input (kept, hidden:
// the recording goes into it), and voice.js loads only when Record is first tapped.
for (const v of document.querySelectorAll('.voice')) if (window.MediaRecorder && navigator.mediaDevices) {
  const rec = $('#voice-record', v), load = () => import('./voice.js').then(m => { rec.removeEventListener('click', load); m.start($('.voice-js', v)); }, () => say(strings.failed));
  $('.voice-nojs', v).hidden = true; $('.voice-js', v).hidden = false;
  rec.addEventListener('click', load);
}

// A form's answers in the report's JSON layout (docs/protocol.md §14.1): the report and the details.
function answersOf(form) {
  const answers = {};
  for (const el of form.elements) {
    if (!el.name || el.type === 'hidden' || el.type === 'file' || el.name === 'keep_original') continue;
    if (el.type === 'checkbox') { if (el.checked) (answers[el.name] ||= []).push(el.value); }
    else if (el.type === 'radio') { if (el.checked) answers[el.name] = el.value; }
    else if (el.value.trim()) answers[el.name] = el.value.replace(/\r\n/g, '\n').trim();
  }
  return answers;
}

const report = $('#report');
if (report) {
  emergencyHelp(report);
  fileNotes(report);
  guard(report, async () => {
    checkRequired(report);
    say(strings.sealing);
    const answers = answersOf(report);
    const key = unb64u(report.dataset.key);
    const files = await readFiles(report, $('#file-notes'));
    const body = { v: 1, lang: document.documentElement.lang, answers };
    const envelope = await seal(key, 'report', enc.encode(JSON.stringify(body)));
    const sealed = await sealAll(key, files);
    say(strings.sending);
    const j = await post(report, {
      nonce: report.elements.nonce.value, urgent: answers.danger === 'yes', report: b64u(envelope),
      files: sealed.map(s => ({ manifest: b64u(s.manifest), chunks: s.chunks.length })),
    });
    // End on a real page: the receipt, posted with this submission's nonce (POST /<lang>/receipt),
    // so a reload or Back shows the token again from the receipt box; nothing is kept on the device.
    const onwards = extra => {
      const f = Object.assign(document.createElement('form'), { method: 'post', action: report.dataset.receipt });
      const fields = { csrf: report.elements.csrf.value, nonce: report.elements.nonce.value, ...extra };
      for (const [name, value] of Object.entries(fields)) f.append(Object.assign(document.createElement('input'), { type: 'hidden', name, value }));
      document.body.append(f);
      f.submit();
    };
    if (!j.receipt) return onwards({});
    // Files follow: the receipt the answer carries is shown while they upload.
    const main = $('#main'), progress = $('#progress');
    main.innerHTML = j.receipt;
    main.append(progress);
    // The page's own language links would lose the token: the receipt brings a switch that keeps it.
    $('body > nav.langs')?.remove();
    document.title = $('#receipt').dataset.title;
    printButton();
    const answered = Date.now();
    await sendFiles(j.uploads, sealed);
    // The box shows the token for 30 minutes (crypto/receipt.py SHOW_AGAIN_SECONDS): after slow
    // uploads that took longer, moving on would lose it, so the page stays as it is.
    if (Date.now() - answered < 25 * 60 * 1000) {  // 30 minutes, less a margin
      onwards({ files: 'sent' });
    }
  });
}

const followUp = $('#follow-up');
if (followUp) {
  fileNotes(followUp);
  guard(followUp, async () => {
    const d = followUp.dataset, text = followUp.elements.message.value.trim(), ctx = enc.encode(d.context);
    const files = await readFiles(followUp, $('#file-notes'));
    const box = followUp.elements.message;
    showError(box, text || files.length ? '' : box.dataset.empty);
    if (!text && !files.length) throw '';
    const msg = enc.encode(text || '📎');
    const key = unb64u(d.key), sealed = await sealAll(key, files);
    const j = await post(followUp, {
      token: followUp.elements.token.value, team: b64u(await seal(key, 'message', msg, ctx)),
      mine: b64u(await seal(unb64u(d.mine), 'message', msg, ctx)),
      files: sealed.map(s => ({ manifest: b64u(s.manifest), chunks: s.chunks.length })),
    });
    await sendFiles(j.uploads, sealed);
    const refresh = $('#refresh');
    await solve(refresh);
    refresh.submit();
  });
}

// Details added later (§14.8): sealed here to the intake key, bound to the case; then the status page.
const details = $('#details');
if (details) {
  emergencyHelp(details);
  guard(details, async () => {
    const answers = answersOf(details), d = details.dataset;
    if (!Object.keys(answers).length) return details.submit();  // the server says what is missing
    say(strings.sealing);
    const body = { v: 1, lang: document.documentElement.lang, answers };
    const sealed = await seal(unb64u(d.key), 'details', enc.encode(JSON.stringify(body)), enc.encode(d.context));
    say(strings.sending);
    await post(details, { token: details.elements.token.value, details: b64u(sealed) });
    const done = $('#details-added');
    await solve(done);
    done.submit();
  });
}

