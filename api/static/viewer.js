// The document viewer: a cited document's original text, scrolled to the cited passage with the
// supporting text highlighted. Tables (chunk spans of kind "table") are laid out row by row.

import { docPath, get } from './api.js';
import { appendMarked, h, icon, metaLine, sectionPath, SPACE, tableBox, tableRows } from './dom.js';

const $ = (id) => document.getElementById(id);
// "監(jiān)管": some sources gloss characters with pinyin, which cleaning drops from chunk text.
const GLOSS_CHAR = /[a-zA-Z\u00e0-\u00fc\u0101-\u01dc]/;

let opener = null; // the element to give focus back to
let request = 0; // the latest load, so a slow earlier one cannot overwrite it

export function initViewer() {
  const dlg = $('viewer');
  $('viewer-close').addEventListener('click', () => dlg.close());
  // A click on the backdrop lands on the <dialog> itself.
  dlg.addEventListener('click', (e) => e.target === dlg && dlg.close());
  dlg.addEventListener('close', () => {
    document.documentElement.classList.remove('viewer-open');
    opener?.focus();
  });
  $('viewer-jump').addEventListener('click', () => scrollToCited(true));
}

/** Opens `docId`; with a citation, scrolls to and highlights it. `from` gets focus back on close. */
export async function openViewer(docId, citation = null, from = null) {
  const dlg = $('viewer');
  const body = $('viewer-body');
  const mine = ++request;
  opener = from;
  $('viewer-title').textContent = citation?.title || '正在加载原文…';
  $('viewer-meta').textContent = citation ? metaLine(citation.source, citation.date, citation.region) : '';
  $('viewer-bar').hidden = !citation;
  $('viewer-section').textContent = citation ? sectionPath(citation.section) || '正文' : '';
  body.replaceChildren(h('p', { class: 'status' }, h('span', { class: 'spinner' }), '正在加载原文…'));
  body.setAttribute('aria-busy', 'true');
  if (!dlg.open) {
    dlg.showModal();
    document.documentElement.classList.add('viewer-open');
  }
  $('viewer-close').focus();
  let doc;
  try {
    doc = await get(docPath(docId));
  } catch (e) {
    if (mine !== request) return;
    const retry = h('button', { type: 'button', class: 'btn' }, icon('retry'), '重试');
    retry.addEventListener('click', () => openViewer(docId, citation, from));
    body.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, icon('alert'),
      h('p', {}, e.status === 404 ? '这篇文档已不在知识库中。' : e.message), e.status === 404 ? null : retry));
    body.setAttribute('aria-busy', 'false');
    return;
  }
  if (mine !== request) return;
  $('viewer-title').textContent = doc.title || doc.doc_id;
  $('viewer-meta').textContent = metaLine(doc.source, doc.date, doc.region, doc.kind);
  body.replaceChildren(...renderDocument(doc, citation));
  body.setAttribute('aria-busy', 'false');
  body.scrollTop = 0;
  if (citation) requestAnimationFrame(() => scrollToCited(false));
}

function scrollToCited(smooth) {
  const body = $('viewer-body');
  const target = body.querySelector('mark.support') || body.querySelector('.raw-row.cited, mark.cited');
  // inline: a wide table scrolls sideways to the cited cell too.
  target?.scrollIntoView({ block: 'center', inline: 'center', behavior: smooth ? 'smooth' : 'auto' });
}

/** The raw text as blocks: prose with its whitespace kept, and each table span as rows of cells. */
function renderDocument(doc, citation) {
  const chars = Array.from(doc.raw_text);
  const marks = citation ? citedMarks(chars, citation) : [];
  const tables = doc.chunk_spans.filter((s) => s.kind === 'table').sort((a, b) => a.raw_start - b.raw_start);
  const blocks = [];
  let pos = 0;
  for (const t of tables) {
    if (t.raw_start < pos) continue;
    blocks.push(prose(chars, pos, t.raw_start, marks));
    blocks.push(table(chars, t.raw_start, t.raw_end, marks));
    pos = t.raw_end;
  }
  blocks.push(prose(chars, pos, chars.length, marks));
  return blocks.filter(Boolean);
}

/** The cited span, and inside it each highlighted phrase of the citation, found in the raw text. */
function citedMarks(chars, citation) {
  const [start, end] = citation.doc_offsets;
  const marks = [{ start, end, cls: 'cited' }];
  const text = Array.from(citation.text);
  for (const [s, e] of citation.highlight) {
    const found = findInRaw(chars, start, end, text.slice(s, e));
    if (found) marks.push({ ...found, cls: 'support' });
  }
  return marks;
}

/**
 * Where `phrase` (code points) occurs in chars[start, end), ignoring whitespace and pinyin glosses:
 * citation offsets index the cleaned chunk text, not the raw text, so they cannot be used directly.
 */
function findInRaw(chars, start, end, phrase) {
  const want = phrase.filter((c) => !SPACE.test(c));
  if (!want.length) return null;
  const at = []; // raw positions of the kept characters
  for (let i = start; i < end; i++) {
    if (SPACE.test(chars[i])) continue;
    if (chars[i] === '(') {
      let j = i + 1;
      while (j < end && j - i <= 8 && GLOSS_CHAR.test(chars[j])) j++;
      if (j > i + 1 && chars[j] === ')') { i = j; continue; }
    }
    at.push(i);
  }
  outer: for (let k = 0; k + want.length <= at.length; k++) {
    for (let m = 0; m < want.length; m++) if (chars[at[k + m]] !== want[m]) continue outer;
    return { start: at[k], end: at[k + want.length - 1] + 1 };
  }
  return null;
}

function prose(chars, start, end, marks) {
  while (start < end && /\s/.test(chars[start])) start++;
  while (end > start && /\s/.test(chars[end - 1])) end--;
  if (start >= end) return null;
  const div = h('div', { class: 'raw-text' });
  appendMarked(div, chars, start, end, marks);
  return div;
}

/** A table span, its cited rows marked. */
function table(chars, start, end, marks) {
  const cited = marks.find((m) => m.cls === 'cited');
  const rows = tableRows(chars, start, end, marks);
  for (const r of rows) {
    if (cited && cited.start <= r.start && cited.end >= r.end) r.row.classList.add('cited');
  }
  return tableBox(rows.map((r) => r.row));
}
