// The admin view (admin keys only): index status, upload with progress, documents with delete.

import { del, docPath, get, upload } from './api.js';
import { confirmThen, h, icon, toast } from './dom.js';
import { openViewer } from './viewer.js';
import { initAnalysis, showAnalysis } from './analysis.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 700;
const FILE_STATUS = { pending: '等待导入', added: '已新增', updated: '已更新', unchanged: '内容未变化', error: '未能导入',
  rejected: '未上传' };

let chosen = []; // the files to upload
let refused = []; // chosen but of a type the service does not take: listed, never sent
let accepted = null; // the suffixes the service takes (GET /documents `upload_types`), once known
let busy = false;
let onIndex = () => {};

/** Wires the static markup once; `indexChanged(status)` hears of every fresh index status. */
export function initAdmin(indexChanged) {
  onIndex = indexChanged;
  const input = $('upload-input');
  const drop = $('drop');
  input.addEventListener('change', () => choose(input.files));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    choose(e.dataTransfer.files);
  });
  $('upload-btn').addEventListener('click', start);
  initAnalysis();
}

/** Opens the admin view: the index status and documents, and the gap report (问答分析). */
export function showAdmin() {
  showAnalysis();
  return loadDocs();
}

/** Loads the document list and index status into the view. */
async function loadDocs() {
  const docs = $('docs');
  docs.setAttribute('aria-busy', 'true');
  try {
    const { documents, index, upload_types: types } = await get('/documents');
    if (types?.length) acceptTypes(types);
    renderStatus(index);
    renderDocs(documents);
    onIndex(index);
  } catch (e) {
    const retry = h('button', { type: 'button', class: 'btn' }, icon('retry'), '重试');
    retry.addEventListener('click', loadDocs);
    docs.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, icon('alert'), h('p', {}, e.message), retry));
  } finally {
    docs.setAttribute('aria-busy', 'false');
  }
}

/** The picker offers, and the drop zone keeps, only the types the service takes (it says which). */
function acceptTypes(types) {
  accepted = types.map((t) => t.toLowerCase());
  $('upload-input').accept = accepted.join(',');
  const hint = $('drop').querySelector('small');
  if (hint) hint.textContent = `支持 ${accepted.join(' ')}，可一次选择多个`;
}

const suffixOf = (name) => (/\.[^./\\]+$/.exec(name.toLowerCase()) || [''])[0];
const takes = (f) => !accepted || accepted.includes(suffixOf(f.name));
const refusal = (f) => `不支持的文件类型 ${suffixOf(f.name) || '（无扩展名）'}，不会上传`;

function choose(files) {
  if (busy) return;
  chosen = [...files].filter(takes);
  refused = [...files].filter((f) => !takes(f));
  $('chosen').replaceChildren(
    ...chosen.map((f) => h('li', {}, icon('doc'), h('span', { class: 'name' }, f.name), h('span', { class: 'size' }, size(f.size)))),
    ...refused.map((f) => h('li', { class: 'refused' }, icon('alert'), h('span', { class: 'name' }, f.name),
      h('span', { class: 'size' }, refusal(f)))));
  $('upload-btn').disabled = !chosen.length;
  $('upload-status').replaceChildren();
}

const size = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

function progress(fraction, text) {
  const bar = $('upload-bar');
  $('upload-progress').hidden = false;
  if (fraction === null) bar.removeAttribute('value'); // indeterminate: the server does not say how far it is
  else bar.value = Math.round(fraction * 100);
  $('upload-status').replaceChildren(h('p', { class: 'status' }, h('span', { class: 'spinner' }), text));
}

async function start() {
  if (!chosen.length || busy) return;
  busy = true;
  $('upload-btn').disabled = true;
  $('upload-input').disabled = true;
  try {
    progress(0, '正在上传…');
    let job = await upload(chosen, (f) => progress(f, `正在上传 ${Math.round(f * 100)}%`));
    while (job.status === 'queued' || job.status === 'running') {
      progress(null, `正在导入：${job.stage}…`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await get(`/jobs/${job.job_id}`);
    }
    finished(job);
  } catch (e) {
    failed(e.message);
  } finally {
    busy = false;
    $('upload-progress').hidden = true;
    $('upload-input').disabled = false;
    $('upload-btn').disabled = !chosen.length;
  }
}

function finished(job) {
  // Every file chosen, with what became of it: imported, refused on upload (by the page or the
  // service), or read but not imported (encrypted, empty, damaged…), each with its reason.
  const results = [...job.files,
    ...(job.rejected || []).map((r) => ({ name: r.name, status: 'rejected', error: r })),
    ...refused.map((f) => ({ name: f.name, status: 'rejected', error: { message: refusal(f) } }))];
  const files = h('ul', { class: 'file-results' }, results.map((f) => h('li', { class: `st-${f.status}` },
    icon(f.status === 'error' || f.status === 'rejected' ? 'alert' : 'check'),
    h('span', { class: 'name' }, f.name),
    h('span', { class: 'state' }, FILE_STATUS[f.status] || f.status),
    f.error && h('span', { class: 'why' }, f.error.message),
    f.warning && h('span', { class: 'why' }, `请核对：${f.warning.message}`))));
  if (job.status !== 'succeeded') {
    failed(job.error?.message || '导入失败', files);
    return;
  }
  const r = job.report || {};
  const left = results.filter((f) => f.status === 'error' || f.status === 'rejected').length;
  $('upload-status').replaceChildren(h('div', { class: 'ok-box' },
    h('p', { class: 'ok-title' }, icon('check'), left ? `导入完成，${left} 个文件未导入（原因见下）` : '导入完成'),
    r.documents != null && h('p', { class: 'muted' },
      `知识库现有 ${r.documents} 篇文档、${r.chunks} 个片段（用时 ${Number(r.seconds || 0).toFixed(1)} 秒）`),
    files));
  chosen = [];
  refused = [];
  $('chosen').replaceChildren();
  $('upload-input').value = '';
  loadDocs();
}

function failed(message, details = null) {
  $('upload-status').replaceChildren(h('div', { class: 'error-box', role: 'alert' }, icon('alert'),
    h('p', {}, message), details));
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')); // "+0000" → "+00:00", which Date parses
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function renderStatus(index) {
  const item = (label, value, cls) => h('div', { class: 'stat' }, h('dt', {}, label), h('dd', { class: cls }, value));
  const model = (index.model || '').split('/').pop();
  $('index-status').replaceChildren(
    item('文档', `${index.documents} 篇`),
    item('片段', `${index.chunks} 个`),
    item('更新时间', when(index.created_at) || '—'),
    item('嵌入模型', model ? `${model}${index.dim ? `（${index.dim} 维）` : ''}` : '—'),
    item('索引版本', index.version || '—', 'code'));
}

function renderDocs(documents) {
  $('docs-count').textContent = String(documents.length);
  if (!documents.length) {
    $('docs').replaceChildren(h('p', { class: 'muted empty' }, '知识库中还没有文档，请先上传。'));
    return;
  }
  const head = h('thead', {}, h('tr', {}, ['标题', '类型', '地区', '来源', '日期', '片段', '操作']
    .map((t) => h('th', { scope: 'col' }, t))));
  const rows = documents.map((d) => {
    const view = h('button', { type: 'button', class: 'btn subtle small', 'aria-label': `查看《${d.title}》` },
      icon('eye'), '查看');
    view.addEventListener('click', () => openViewer(d.doc_id, null, view));
    const remove = h('button', { type: 'button', class: 'btn danger-subtle small', 'aria-label': `删除《${d.title}》` },
      icon('trash'), '删除');
    remove.addEventListener('click', () => confirmDelete(d, remove));
    const cell = (label, value, cls) => h('td', { 'data-label': label, class: cls }, value || '—');
    return h('tr', {},
      h('td', { class: 'title', 'data-label': '标题' }, h('span', { class: 'doc-title' }, d.title || d.doc_id),
        h('span', { class: 'doc-id' }, `${d.doc_id}.${d.fmt}`)),
      cell('类型', d.kind, 'nowrap'), cell('地区', d.region), cell('来源', d.source), cell('日期', d.date, 'nowrap'),
      cell('片段', String(d.chunks), 'num'),
      h('td', { class: 'actions' }, view, remove));
  });
  $('docs').replaceChildren(h('table', { class: 'doc-table' }, head, h('tbody', {}, rows)));
}

function confirmDelete(doc, from) {
  const text = `《${doc.title || doc.doc_id}》及其 ${doc.chunks} 个片段将从知识库中删除，之后的回答不再引用它。此操作无法撤销。`;
  confirmThen('删除这篇文档？', text, from, async () => {
    const r = await del(docPath(doc.doc_id));
    toast(`已删除《${doc.title || doc.doc_id}》，知识库现有 ${r.documents} 篇文档`);
    await loadDocs();
    $('docs-title').focus();
  });
}
