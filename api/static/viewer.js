// The document viewer: a cited document's text, scrolled to the cited passage with the supporting
// text highlighted. Tables (chunk spans of kind "table") are laid out row by row. It shows the
// cleaned text by default (what answers and cards quote: no pinyin glosses, no page chrome), with a
// switch to the text as extracted from the file; and a way to the original file itself. A cited table
// row (a spreadsheet's) is shown first as a table of its columns and cells; a passage from a scanned
// page that OCR read poorly is flagged 识别置信度低.

import { apiUrl, docPath, get, getBlob, hasKey } from './api.js';
import { highlightMarks, rowTable } from './answer.js';
import { appendMarked, h, icon, metaLine, sectionPath, SPACE, tableBox, tableRows } from './dom.js';

const $ = (id) => document.getElementById(id);
// "監(jiān)管": some sources gloss characters with pinyin, which cleaning drops from chunk text.
const GLOSS_CHAR = /[a-zA-Z\u00e0-\u00fc\u0101-\u01dc]/;

let opener = null; // the element to give focus back to
let request = 0; // the latest load, so a slow earlier one cannot overwrite it
let extracted = false; // show the text as extracted (the switch), kept between documents
let shown = null; // {doc, citation} on screen, redrawn when the switch changes
// Formats the browser shows itself: the original opens in a tab, at the cited page.
const OPENABLE = new Set(['application/pdf']);

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
  const raw = $('viewer-raw');
  raw.addEventListener('change', () => {
    extracted = raw.checked;
    if (!shown) return;
    const body = $('viewer-body');
    body.replaceChildren(...renderDocument(shown.doc, shown.citation));
    if (shown.citation) requestAnimationFrame(() => scrollToCited(false));
  });
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
  shown = null;
  $('viewer-tools').hidden = true;
  $('viewer-ocr')?.remove();
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
  shown = { doc, citation };
  showTools(doc, citation);
  showOcrFlag(doc, citation);
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

/**
 * The switch between the cleaned and the extracted text, and the original file: "打开原件" for a PDF
 * (the browser's own viewer, at the cited page), "下载原件" for any other kept original.
 */
function showTools(doc, citation) {
  $('viewer-raw').checked = extracted;
  const slot = $('viewer-original');
  slot.replaceChildren();
  const original = doc.original;
  if (original) {
    const url = apiUrl(`${docPath(doc.doc_id)}/original`);
    const span = citation && doc.chunk_spans.find((s) => s.chunk_id === citation.chunk_id);
    const page = (citation && (citation.page || span?.page)) || 1;
    const opens = OPENABLE.has(original.content_type);
    const link = opens
      ? h('a', { class: 'btn subtle small', href: `${url}?inline=true#page=${page}`, target: '_blank', rel: 'noopener',
        title: `在浏览器中打开原件（第 ${page} 页）` }, icon('doc'), '打开原件')
      : h('a', { class: 'btn subtle small', href: url, download: original.name, title: `下载原件：${original.name}` },
        icon('download'), '下载原件');
    // A link cannot carry the key: with one, the file is fetched with it and handed over as a blob.
    link.addEventListener('click', (e) => {
      if (!hasKey()) return;
      e.preventDefault();
      fetchOriginal(url, original, opens ? page : 0);
    });
    slot.append(link);
  }
  $('viewer-tools').hidden = false;
}

/** "识别置信度低" beside the cited place when OCR read the cited passage's page below the setting. */
function showOcrFlag(doc, citation) {
  const span = citation && doc.chunk_spans.find((s) => s.chunk_id === citation.chunk_id);
  if (!span?.ocr_low) return;
  const figure = span.ocr_confidence.toFixed(2);
  $('viewer-section').after(h('span', {
    id: 'viewer-ocr', class: 'tag other-doc', role: 'note',
    title: `这段文字由 OCR 从扫描页识别，平均置信度只有 ${figure}，可能有错字，请核对原件`,
  }, `识别置信度低（${figure}）`));
}

async function fetchOriginal(url, original, page) {
  const tab = page ? window.open('', '_blank') : null; // opened now, inside the click, or it is blocked
  try {
    const blob = await getBlob(url);
    const href = URL.createObjectURL(new Blob([blob], { type: original.content_type }));
    if (tab) {
      tab.location.href = `${href}#page=${page}`;
    } else {
      const a = h('a', { href, download: original.name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    }
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
  } catch (e) {
    tab?.close();
    // said beside the link: a toast would sit under the modal viewer
    $('viewer-original').querySelector('.original-error')?.remove();
    $('viewer-original').append(h('span', { class: 'original-error', role: 'alert' }, `无法获取原件：${e.message}`));
  }
}

/**
 * The document as blocks: prose with its whitespace kept, and each table span as rows of cells.
 * Cleaned text by default (chunk spans' start/end), the extracted text with the switch (raw_start/raw_end).
 */
function renderDocument(doc, citation) {
  const chars = Array.from(extracted || !doc.text ? doc.raw_text : doc.text);
  const spanOf = extracted || !doc.text ? (s) => [s.raw_start, s.raw_end] : (s) => [s.start, s.end];
  const marks = citation ? citedMarks(chars, doc, citation, spanOf) : [];
  const tables = doc.chunk_spans.filter((s) => s.kind === 'table').map(spanOf).sort((a, b) => a[0] - b[0]);
  const blocks = [citation && citedRow(doc, citation)];
  let pos = 0;
  for (const [start, end] of tables) {
    if (start < pos) continue;
    blocks.push(prose(chars, pos, start, marks));
    blocks.push(table(chars, start, end, marks));
    pos = end;
  }
  blocks.push(prose(chars, pos, chars.length, marks));
  return blocks.filter(Boolean);
}

/**
 * A cited table row (a spreadsheet's, or a PDF table's) as a table of column → cell, the cells that
 * hold the answer marked: the flattened row in the sheet below has no column names beside it.
 */
function citedRow(doc, citation) {
  const span = doc.chunk_spans.find((s) => s.chunk_id === citation.chunk_id);
  if (span?.kind !== 'table_row' || !span.cells?.length) return null;
  // The record "表｜列: 值｜…" is the citation's text, shown as its card shows it.
  const where = citation.location || (span.row ? `第${span.row}行` : '引用的行');
  return h('section', { class: 'viewer-row', 'aria-label': `引用的行：${where}` },
    h('p', { class: 'meta' }, `引用的行：${where}`),
    rowTable(Array.from(citation.text), highlightMarks(citation)));
}

/** The cited span, and inside it each highlighted phrase of the citation, found in the text shown. */
function citedMarks(chars, doc, citation, spanOf) {
  const span = doc.chunk_spans.find((s) => s.chunk_id === citation.chunk_id);
  const cleaned = !extracted && doc.text;
  // The citation's own offsets are in the extracted text; its chunk's span says where it is in both.
  const [start, end] = span ? spanOf(span) : cleaned ? [0, chars.length] : citation.doc_offsets;
  const marks = span || !cleaned ? [{ start, end, cls: 'cited' }] : [];
  const text = Array.from(citation.text);
  for (const [s, e] of citation.highlight) {
    const found = findIn(chars, start, end, text.slice(s, e), !cleaned);
    if (found) marks.push({ ...found, cls: 'support' });
  }
  return marks;
}

/**
 * Where `phrase` (code points) occurs in chars[start, end), ignoring whitespace and, in the extracted
 * text (`glosses`), pinyin glosses: citation offsets index the chunk's own text (a table row is
 * rebuilt as a record), not the document's, so they cannot be used directly.
 */
function findIn(chars, start, end, phrase, glosses) {
  const want = phrase.filter((c) => !SPACE.test(c));
  if (!want.length) return null;
  const at = []; // positions of the kept characters
  for (let i = start; i < end; i++) {
    if (SPACE.test(chars[i])) continue;
    if (glosses && chars[i] === '(') {
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
