// How an answer and its citations look: the key figure, the supporting sentence, and a card per
// cited passage with the supporting text highlighted. Pure rendering: no requests here.

import { appendMarked, h, icon, metaLine, sectionPath, tableBox, tableRows } from './dom.js';

const EXCERPT = 170; // characters of a card's excerpt, centred on its highlights
const EXCERPT_LEAD = 20; // context kept before highlights too long to centre
const EXCERPT_PLAIN = 110; // characters shown of a passage with nothing highlighted
const KEY_FIGURE_MAX = 24; // an answer longer than this is a sentence, not a figure to headline
const SHOWN_CARDS = 3; // more citations hide behind "显示全部"
const SHOWN_ROWS = 5; // of a whole-table citation

/** Code-point index of `needle` in `text`, or -1 (the API's offsets count code points). */
function cpIndexOf(text, needle) {
  const i = text.indexOf(needle);
  return i < 0 ? -1 : Array.from(text.slice(0, i)).length;
}

export const highlightMarks = (c) => c.highlight.map(([start, end]) => ({ start, end, cls: 'hl' }));

/**
 * A table row's text, "专栏1 …｜类别: 营商环境｜指标名称: …｜2025年: 650", as
 * [{key: [s, e] | null, value: [s, e]}] in code points; a piece with no "key: " is the caption.
 */
function rowCells(chars) {
  const cells = [];
  let start = 0;
  for (let i = 0; i <= chars.length; i++) {
    if (i < chars.length && chars[i] !== '｜') continue;
    let sep = -1;
    for (let j = start; j + 1 < i; j++) {
      if (chars[j] === ':' && chars[j + 1] === ' ') { sep = j; break; }
    }
    cells.push(sep < 0 ? { key: null, value: [start, i] } : { key: [start, sep], value: [sep + 2, i] });
    start = i + 1;
  }
  return cells;
}

const isRow = (text) => text.includes('｜') && text.includes(': ');

/** A table row as a two-column key/value table; the caption is left out (the section path names it).
 *  The rows holding a mark are `hit`. The card and the viewer's cited row both show it. */
export function rowTable(chars, marks) {
  const body = h('tbody');
  for (const { key, value } of rowCells(chars)) {
    if (!key) continue;
    const th = h('th', { scope: 'row' });
    const td = h('td');
    appendMarked(th, chars, key[0], key[1], marks);
    appendMarked(td, chars, value[0], value[1], marks);
    body.append(h('tr', { class: td.querySelector('mark') ? 'hit' : null }, th, td));
  }
  return h('table', { class: 'kv' }, body);
}

/** A table row inline, for the answer sentence: "指标名称 全省市场主体数(万户) · 2025年 650". */
function rowInline(chars, marks) {
  const line = h('span', { class: 'row-inline' });
  for (const { key, value } of rowCells(chars)) {
    if (!key) continue;
    const k = h('span', { class: 'k' });
    const v = h('span', { class: 'v' });
    appendMarked(k, chars, key[0], key[1], marks);
    appendMarked(v, chars, value[0], value[1], marks);
    line.append(h('span', { class: 'cell' }, k, v));
  }
  return line;
}

/**
 * [start, end) of the excerpt shown of a passage: centred on its highlights (the answer's figure,
 * or the best sentence of a nearest passage); highlights longer than the excerpt start near its top.
 */
function excerptWindow(length, marks) {
  if (!marks.length) return [0, Math.min(length, EXCERPT_PLAIN)];
  const from = Math.min(...marks.map((m) => m.start));
  const to = Math.max(...marks.map((m) => m.end));
  let start = to - from >= EXCERPT ? from - EXCERPT_LEAD : Math.floor((from + to - EXCERPT) / 2);
  start = Math.max(0, Math.min(start, length - EXCERPT));
  return [start, Math.min(length, start + EXCERPT)];
}

/** A passage, cut around its highlights, with a button to show it whole. */
function passage(chars, marks) {
  const p = h('p', { class: 'passage' });
  const [start, end] = excerptWindow(chars.length, marks);
  const render = (whole) => {
    p.replaceChildren();
    p.classList.toggle('whole', whole);
    if (!whole && start > 0) p.append('…');
    appendMarked(p, chars, whole ? 0 : start, whole ? chars.length : end, marks);
    if (!whole && end < chars.length) p.append('…');
  };
  render(false);
  if (start === 0 && end === chars.length) return p;
  const toggle = h('button', { type: 'button', class: 'link more', 'aria-expanded': 'false' }, '展开全文');
  toggle.addEventListener('click', () => {
    const whole = toggle.getAttribute('aria-expanded') !== 'true';
    render(whole);
    toggle.setAttribute('aria-expanded', String(whole));
    toggle.textContent = whole ? '收起' : '展开全文';
  });
  return h('div', { class: 'passage-wrap' }, p, toggle);
}

/** A whole-table citation: `SHOWN_ROWS` rows centred on its first marked row, with a button to show them all. */
function tablePreview(chars, marks) {
  const rows = tableRows(chars, 0, chars.length, marks).map((r) => r.row);
  const box = tableBox(rows);
  if (rows.length <= SHOWN_ROWS) return h('div', { class: 'passage-wrap' }, box);
  const marked = Math.max(0, rows.findIndex((r) => r.querySelector('mark')));
  const first = Math.max(0, Math.min(marked - Math.floor(SHOWN_ROWS / 2), rows.length - SHOWN_ROWS));
  const outside = (i) => i < first || i >= first + SHOWN_ROWS;
  rows.forEach((r, i) => { r.hidden = outside(i); });
  const toggle = h('button', { type: 'button', class: 'link more', 'aria-expanded': 'false' }, `展开全部 ${rows.length} 行`);
  toggle.addEventListener('click', () => {
    const whole = toggle.getAttribute('aria-expanded') !== 'true';
    rows.forEach((r, i) => { r.hidden = !whole && outside(i); });
    toggle.setAttribute('aria-expanded', String(whole));
    toggle.textContent = whole ? '收起' : `展开全部 ${rows.length} 行`;
  });
  return h('div', { class: 'passage-wrap' }, box, toggle);
}

function cardBody(c, chars, marks) {
  if (c.kind === 'table_row' && isRow(c.text)) return rowTable(chars, marks);
  if (c.kind === 'table') return tablePreview(chars, marks);
  return passage(chars, marks);
}

const KIND_LABEL = { table_row: '表格行', table: '表格' };

/** The section path, unless it only repeats the title (a short document's one heading is its title). */
const sectionOf = (c) => (c.section && c.section !== c.title ? sectionPath(c.section) : '');

/**
 * One citation card; the whole card opens the document viewer (the title button is stretched over it).
 * `answerDoc`: the answering passage's document; a card from any other one says so, since its
 * numbers are not the answer's.
 */
export function citationCard(c, onOpen, answerDoc = null) {
  const chars = Array.from(c.text);
  const marks = highlightMarks(c);
  const open = h('button', { type: 'button', class: 'card-open', title: '查看原文' }, c.title || c.doc_id);
  open.addEventListener('click', () => onOpen(c, open));
  return h('article', { class: `cite-card kind-${c.kind}`, 'data-rank': c.rank }, // the [n] of a generated answer
    h('header', { class: 'cite-head' },
      h('span', { class: 'rank', 'aria-label': `出处 ${c.rank}` }, String(c.rank)),
      h('h3', { class: 'cite-title' }, open),
      KIND_LABEL[c.kind] && h('span', { class: 'tag' }, KIND_LABEL[c.kind]),
      answerDoc && c.doc_id !== answerDoc && h('span', { class: 'tag other-doc' }, '其他文档')),
    h('p', { class: 'cite-meta' }, metaLine(c.source, c.date, c.region, c.location)), // location: 第3页, 工作表“指标”第12行
    sectionOf(c) && h('p', { class: 'cite-section' }, sectionOf(c)),
    cardBody(c, chars, marks),
    h('p', { class: 'cite-foot', 'aria-hidden': 'true' }, '查看原文', icon('right')));
}

/** A group of cards under a heading; beyond the first `shown` the rest wait behind a button. */
export function citationGroup(title, citations, onOpen, { className = '', shown = SHOWN_CARDS, answerDoc = null } = {}) {
  const list = h('div', { class: 'cards' });
  citations.forEach((c, i) => {
    const card = citationCard(c, onOpen, answerDoc);
    card.hidden = i >= shown;
    list.append(card);
  });
  const group = h('section', { class: `sources ${className}` },
    h('h2', { class: 'sources-title' }, title, h('span', { class: 'count' }, `${citations.length}`)), list);
  if (citations.length > shown) {
    const more = h('button', { type: 'button', class: 'btn subtle show-all' },
      shown ? `显示全部 ${citations.length} 条` : `展开 ${citations.length} 条`, icon('down'));
    more.addEventListener('click', () => {
      for (const card of list.children) card.hidden = false;
      more.remove();
      list.children[shown].querySelector('.card-open').focus();
    });
    group.append(more);
  }
  return group;
}

/** The citation that supports the answer sentence (it has highlights and contains the sentence). */
function supporting(answer, citations) {
  return citations.find((c) => c.highlight.length && c.text.includes(answer.answer_sentence))
    || citations.find((c) => c.highlight.length) || null;
}

/** The answer sentence with the key figure marked: the citation's own highlights when it holds the sentence. */
function sentence(answer, support) {
  const text = answer.answer_sentence;
  const chars = Array.from(text);
  let marks = [];
  const at = support ? cpIndexOf(support.text, text) : -1;
  if (at >= 0) {
    marks = support.highlight.map(([s, e]) => ({ start: s - at, end: e - at, cls: 'key' }))
      .filter((m) => m.end > 0 && m.start < chars.length);
  } else {
    // No citation holds the sentence verbatim: mark the answer itself, or its number.
    const figure = text.includes(answer.answer) ? answer.answer : (answer.answer.match(/\d+(?:\.\d+)?/) || [''])[0];
    const i = figure ? cpIndexOf(text, figure) : -1;
    if (i >= 0) marks = [{ start: i, end: i + Array.from(figure).length, cls: 'key' }];
  }
  if (isRow(text)) return rowInline(chars, marks);
  const span = h('span');
  appendMarked(span, chars, 0, chars.length, marks);
  return span;
}

/**
 * Fills `el` with a found answer: the key figure, the sentence it comes from, and a link to its
 * source; with "no sure answer" when the nearest passages are close (`status` "unsure": their
 * best sentences are marked on the cards); or with the polite not-found message.
 */
export function renderAnswer(el, answer, citations, onOpen) {
  el.replaceChildren();
  el.classList.toggle('notfound', !answer.found);
  el.classList.toggle('unsure', answer.status === 'unsure');
  if (answer.status === 'unsure') {
    el.append(
      h('p', { class: 'nf-title' }, icon('target'), h('span', {}, answer.answer)),
      h('p', { class: 'nf-hint' }, '每个片段中标出了与问题最相关的一句，请核对原文后再采用。'));
    return;
  }
  if (!answer.found) {
    el.append(
      h('p', { class: 'nf-title' }, icon('search'), h('span', {}, answer.answer)),
      h('p', { class: 'nf-hint' },
        citations.length ? '可以换个说法再问，或看看下面这些最接近的片段。' : '可以换个说法再问。'));
    return;
  }
  const support = supporting(answer, citations);
  const short = Array.from(answer.answer).length <= KEY_FIGURE_MAX && answer.answer !== answer.answer_sentence;
  if (short) el.append(h('p', { class: 'key-figure' }, answer.answer));
  if (answer.answer_sentence) {
    el.append(h('p', { class: short ? 'support' : 'answer-text' }, sentence(answer, support)));
  }
  if (support) {
    const link = h('button', { type: 'button', class: 'source-link' }, icon('doc'),
      h('span', {}, support.title || support.doc_id));
    link.addEventListener('click', () => onOpen(support, link));
    el.append(h('p', { class: 'from' }, h('span', { class: 'from-label' }, '出自'), link,
      sectionOf(support) && h('span', { class: 'from-section' }, sectionOf(support).split(' › ').pop())));
  }
}

/** The answer as plain text, for the copy button. */
export function answerText(done) {
  const lines = [done.answer];
  if (done.found && done.answer_sentence && done.answer_sentence !== done.answer) {
    lines.push(done.answer_sentence);
  }
  const cited = done.found ? done.citations.filter((c) => c.highlight.length) : [];
  if (cited.length) {
    lines.push('', '出处：');
    for (const c of cited) {
      const meta = [c.source, c.date].filter(Boolean).join('，');
      lines.push(`《${c.title}》${meta ? `（${meta}）` : ''}${sectionOf(c) ? ` ${sectionOf(c)}` : ''}`);
    }
  }
  return lines.join('\n');
}
