// What every reporter page runs (intake/inline.py inlines it alone as the "light" bundle, and
// before app.js, in the same module, as the "full" one): "leave this site quickly", proof-of-work
// for forms that pay with work, and the receipt's print button. Nothing is stored on the device.

const $ = (s, r = document) => r.querySelector(s);
const enc = new TextEncoder();
const unb64u = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));

// Leave quickly: replace (not push) so Back does not return here; Escape twice does the same.
const leave = $('#leave');
const go = e => { e && e.preventDefault(); location.replace(leave.href); };
leave.addEventListener('click', go);
let esc = 0;
addEventListener('keydown', e => { if (e.key === 'Escape' && ++esc > 1) go(); setTimeout(() => { esc = 0; }, 800); });

// A page carries two challenges: the form field's is paid by waiting (no JavaScript), the one in
// data-challenge by work. Only the second is accepted with a solution, and by the JSON routes.
async function solve(form) {
  if (form.dataset.challenge) { form.elements.challenge.value = form.dataset.challenge; delete form.dataset.challenge; }
  const c = form.elements.challenge.value, bits = unb64u(c)[4];
  for (let n = 0; ; n++) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(c + ':' + n)));
    let z = 0, i = 0;
    while (i < d.length && d[i] === 0) { z += 8; i++; }
    if (i < d.length) z += Math.clz32(d[i]) - 24;
    if (z >= bits) { form.elements.solution.value = String(n); return; }
  }
}

for (const form of document.querySelectorAll('form.pow:not(#follow-up)')) {
  form.addEventListener('submit', async e => {
    if (form.elements.solution.value) return;
    e.preventDefault();
    await solve(form);
    // form.submit() ignores the pressed button: carry its formaction (the receipt's two ways on).
    if (e.submitter?.hasAttribute('formaction')) form.action = e.submitter.formAction;
    form.submit();
  });
}

function printButton() {
  const b = $('#print');
  if (b) { b.hidden = false; b.addEventListener('click', () => print()); }
}
printButton();
