// Small DOM helpers shared by the page's modules.
// Document text only ever enters the page as text nodes (append / textContent), never as HTML:
// a document that contains "<script>" shows those characters.

/** h('p', {class: 'x', onclick: f}, 'text', child…): an element; strings become text nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

// Stroke icons drawn on a 24-unit grid (Feather-style paths), inlined so the page needs no icon font.
const ICONS = {
  // the feedback thumbs: drawn, not emoji (an office PC without a colour emoji font shows an empty box)
  thumbUp: 'M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3',
  thumbDown: 'M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zM17 2h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17',
  send: 'M22 2 11 13M22 2l-7 20-4-9-9-4z',
  plus: 'M12 5v14M5 12h14',
  close: 'M18 6 6 18M6 6l12 12',
  copy: 'M9 9h11a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-9a2 2 0 0 1-2-2zM5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1',
  check: 'M20 6 9 17l-5-5',
  retry: 'M23 4v6h-6M20.5 15a9 9 0 1 1-2.1-9.4L23 10',
  doc: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6M16 13H8M16 17H8M10 9H8',
  key: 'M15.5 7.5 19 4M21 2l-2 2 3 3-3.5 3.5-3-3M11.4 11.6a5.5 5.5 0 1 1-7.8 7.8 5.5 5.5 0 0 1 7.8-7.8zM11.4 11.6 15.5 7.5',
  trash: 'M3 6h18M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6M10 11v6M14 11v6M9 6V4a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2',
  upload: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M17 8l-5-5-5 5M12 3v12',
  download: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3',
  alert: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 8v4M12 16h.01',
  search: 'M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zM21 21l-4.3-4.3',
  database: 'M12 8c5 0 9-1.3 9-3s-4-3-9-3-9 1.3-9 3 4 3 9 3zM21 12c0 1.7-4 3-9 3s-9-1.3-9-3M3 5v14c0 1.7 4 3 9 3s9-1.3 9-3V5',
  chat: 'M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z',
  back: 'M19 12H5M12 19l-7-7 7-7',
  right: 'M9 18l6-6-6-6',
  down: 'M6 9l6 6 6-6',
  eye: 'M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
  target: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 18a6 6 0 1 0 0-12 6 6 0 0 0 0 12zM12 14a2 2 0 1 0 0-4 2 2 0 0 0 0 4z',
  table: 'M3 3h18v18H3zM3 9h18M3 15h18M9 3v18',
};

export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

/** Fills every <span data-icon="name"> of the static markup. */
export function fillIcons(root = document) {
  for (const el of root.querySelectorAll('[data-icon]')) el.replaceWith(icon(el.dataset.icon));
}

/**
 * Appends chars[start, end) to `parent`, each piece covered by `marks` ({start, end, cls}) wrapped in
 * <mark class="…">. Offsets count code points, as the API's (Python) offsets do: pass Array.from(text).
 */
export function appendMarked(parent, chars, start, end, marks = []) {
  const cuts = new Set([start, end]);
  for (const m of marks) {
    if (m.end > start && m.start < end) {
      cuts.add(Math.max(m.start, start));
      cuts.add(Math.min(m.end, end));
    }
  }
  const points = [...cuts].sort((a, b) => a - b);
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const text = chars.slice(a, b).join('');
    const cls = marks.filter((m) => m.start <= a && m.end >= b).map((m) => m.cls);
    parent.append(cls.length ? h('mark', { class: cls.join(' ') }, text) : text);
  }
}

/** Whitespace, including the no-break and en spaces that flattened tables put between cells. */
export const SPACE = /[\s\u00a0\u2002\u3000]/;

/**
 * The lines of chars[start, end) as table rows, each cell a span: a flattened table keeps one row per
 * line with runs of spaces between cells. Returns [{row, start, end}] so callers can mark rows.
 */
export function tableRows(chars, start, end, marks = []) {
  const rows = [];
  let lineStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && chars[i] !== '\n') continue;
    const row = h('div', { class: 'raw-row' });
    let cellStart = -1;
    for (let j = lineStart; j <= i; j++) {
      const gap = j === i || SPACE.test(chars[j]);
      if (!gap && cellStart < 0) cellStart = j;
      if (gap && cellStart >= 0) {
        const cell = h('span', { class: 'raw-cell' });
        appendMarked(cell, chars, cellStart, j, marks);
        row.append(cell);
        cellStart = -1;
      }
    }
    if (row.childElementCount) rows.push({ row, start: lineStart, end: i });
    lineStart = i + 1;
  }
  return rows;
}

/** Rows in a box that scrolls sideways when a row is wider than the page (focusable, so keys scroll it). */
export function tableBox(rows) {
  return h('div', { class: 'raw-table', role: 'group', 'aria-label': '表格', tabindex: '0' },
    h('div', { class: 'raw-rows' }, rows));
}

/** Copies text; navigator.clipboard needs a secure context, which an intranet http:// host is not. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch { /* permission refused: fall back */ }
  }
  const area = h('textarea', { class: 'sr-only', readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  return ok;
}

let toastTimer;
/** A short status message at the bottom of the screen (announced politely). */
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 2600);
}

/** "第二章 总体思路 > 三、总体目标" → the same with a typographic separator. */
export function sectionPath(section) {
  return (section || '').split(/\s*>\s*/).filter(Boolean).join(' › ');
}

/** "source · date · region", skipping what a document does not state. */
export function metaLine(...parts) {
  return parts.filter(Boolean).join(' · ');
}

/** Asks in the page's #confirm dialog before a deletion; on 确定 awaits `run()`, and says a failure in
 *  a toast. Cancelling, or a failure, gives the focus back to `from`; the safe choice has focus first. */
export function confirmThen(title, text, from, run) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  dlg.returnValue = '';
  dlg.addEventListener('close', async () => {
    if (dlg.returnValue !== 'ok') {
      from.focus();
      return;
    }
    try {
      await run();
    } catch (e) {
      toast(`删除失败：${e.message}`);
      from.focus();
    }
  }, { once: true });
  dlg.showModal();
  dlg.querySelector('button[value="cancel"]').focus();
}
