// Generated answers on the chat page: the "生成式回答" switch, shown only when the service has a model
// (GET /me says so), and the generated text under the extractive answer, its [n] markers linked to
// the citation cards. Only sentences the server verified against their passages ever arrive here;
// a withheld rest is announced by the server's note, never shown.

import { get } from './api.js';
import { h, icon } from './dom.js';

const STORE = 'qa.generate';
const CITE = /\[(\d{1,3})\]/g;
let available = false;

const toggle = () => document.getElementById('gen-toggle');

/** Asks the service whether it has a model, and shows the switch if it does (on unless turned off here). */
export async function initGenerate() {
  let me = null;
  try {
    me = await get('/me');
  } catch { /* no switch: the extractive answers work as before */ }
  available = Boolean(me && me.generation);
  document.getElementById('gen-switch').hidden = !available;
  const box = toggle();
  box.checked = remembered() !== 'off';
  box.onchange = () => remember(box.checked ? 'on' : 'off');
}

function remembered() {
  try {
    return localStorage.getItem(STORE);
  } catch {
    return null;
  }
}

function remember(value) {
  try {
    localStorage.setItem(STORE, value);
  } catch { /* storage blocked: the switch still works for this page */ }
}

/** True when the next question asks for a generated answer. */
export const generating = () => available && toggle().checked;

/** What the request says about generation: nothing when the service has no model. */
export const generateRequest = () => (available ? { generate: toggle().checked } : {});

/**
 * The generated answer of one turn. `findCard(n)` returns the citation card numbered n (or null).
 */
export class GeneratedView {
  constructor(findCard) {
    this.findCard = findCard;
    this.text = h('p', { class: 'gen-text' });
    this.note = h('p', { class: 'gen-note', role: 'note', hidden: true });
    this.el = h('section', { class: 'generated', 'aria-label': '生成式回答', 'aria-live': 'polite', hidden: true },
      h('p', { class: 'gen-head' }, icon('chat'), h('span', {}, '生成式回答'),
        h('span', { class: 'gen-tag' }, '由模型依据出处撰写，数字已与出处核对')),
      this.text, this.note);
    this.started = false;
  }

  reset() {
    this.el.hidden = true;
    this.el.classList.remove('failed');
    this.text.replaceChildren();
    this.note.hidden = true;
    this.started = false;
  }

  pending() {
    this.reset();
    this.el.hidden = false;
    this.text.replaceChildren(h('span', { class: 'status' }, h('span', { class: 'spinner' }), '正在生成回答…'));
  }

  /** One verified sentence, {text, citations}, appended as it arrives. */
  sentence({ text }) {
    if (!this.started) this.text.replaceChildren();
    this.started = true;
    this.el.hidden = false;
    this.text.append(...this.linked(text));
  }

  /** The summary (`generated` event, or AnswerOut.generated of a stored answer). */
  finish(g) {
    if (!g) {
      this.reset();
      return;
    }
    if (!this.started) {
      this.text.replaceChildren();
      for (const s of g.sentences || []) this.sentence(s);
    }
    this.el.hidden = false;
    this.text.hidden = !this.text.childNodes.length;
    this.el.classList.toggle('failed', !this.started);
    if (g.note) this.note.replaceChildren(icon('alert'), h('span', {}, g.note));
    this.note.hidden = !g.note;
  }

  /** `text` as nodes, each [n] a link to citation card n. */
  linked(text) {
    const nodes = [];
    let last = 0;
    for (const m of text.matchAll(CITE)) {
      if (m.index > last) nodes.push(text.slice(last, m.index));
      const n = Number(m[1]);
      const a = h('a', { href: '#', class: 'gen-cite', 'aria-label': `出处 ${n}`, title: `查看出处 ${n}` }, `[${n}]`);
      a.addEventListener('click', (e) => {
        e.preventDefault();
        this.focusCard(n);
      });
      nodes.push(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) nodes.push(text.slice(last));
    return nodes;
  }

  focusCard(n) {
    const card = this.findCard(n);
    if (!card) return;
    card.hidden = false; // a card beyond the first few waits behind "显示全部"
    const calm = matchMedia('(prefers-reduced-motion: reduce)').matches;
    card.scrollIntoView({ block: 'center', behavior: calm ? 'auto' : 'smooth' });
    card.querySelector('.card-open')?.focus({ preventScroll: true });
    card.classList.remove('flash');
    void card.offsetWidth; // restart the animation on a second click
    card.classList.add('flash');
  }
}
