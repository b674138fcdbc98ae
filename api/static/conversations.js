// Past conversations, kept by the server (GET /conversations): a drawer lists them (title = first
// question), reopens one with its answers and citations as they were, renames and deletes them.
// The conversation on screen is remembered in localStorage, so a reload shows it again.

import { ApiError, del, get, patch } from './api.js';
import { confirmThen, h, icon, toast } from './dom.js';

const CURRENT = 'qa.conversation';
const $ = (id) => document.getElementById(id);
let handlers = { open: () => {}, deleted: () => {} };

function store() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage blocked: conversations still work, a reload just starts afresh
  }
}

/** `open(detail)` shows a conversation (GET /conversations/{id}); `deleted(id)` hears of one deleted. */
export function initConversations({ open, deleted }) {
  handlers = { open, deleted };
  $('open-history').addEventListener('click', showList);
  $('history-close').addEventListener('click', () => $('history').close());
  // A click on the backdrop (outside the drawer's box) closes it, as Escape does.
  $('history').addEventListener('click', (e) => { if (e.target === $('history')) $('history').close(); });
  $('history').addEventListener('close', () => $('open-history').focus());
}

export const rememberConversation = (id) => store()?.setItem(CURRENT, id);
export const forgetConversation = () => store()?.removeItem(CURRENT);
export const rememberedConversation = () => store()?.getItem(CURRENT) || null;

const path = (id) => `/conversations/${encodeURIComponent(id)}`;

/** Reopens the conversation that was on screen before the reload; quietly forgets one that is gone. */
export async function reopenConversation() {
  const id = rememberedConversation();
  if (!id) return false;
  try {
    handlers.open(await get(path(id)));
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) forgetConversation();
    return false;
  }
}

const WHEN = new Intl.DateTimeFormat('zh-CN', { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });

async function showList() {
  const dlg = $('history');
  const list = $('conv-list');
  const note = $('history-note');
  list.replaceChildren();
  note.hidden = false;
  note.textContent = '正在加载…';
  if (!dlg.open) dlg.showModal();
  let body;
  try {
    body = await get('/conversations?limit=100');
  } catch (e) {
    note.textContent = `无法加载对话记录：${e.message}`;
    return;
  }
  if (body.records === 'off') {
    note.textContent = '本服务未开启对话记录，刷新页面后对话不会保留。';
    return;
  }
  note.hidden = body.conversations.length > 0;
  note.textContent = '还没有对话。提问后，对话会保存在这里。';
  list.replaceChildren(...body.conversations.map(item));
  list.querySelector('.conv-open')?.focus();
}

function item(c) {
  const current = c.conversation_id === rememberedConversation();
  const title = h('span', { class: 'conv-title' }, c.title);
  const open = h('button', { type: 'button', class: 'conv-open', 'aria-current': current ? 'true' : null },
    title, h('span', { class: 'conv-meta' }, `${WHEN.format(new Date(c.updated))} · ${c.answers} 问`));
  open.addEventListener('click', async () => {
    try {
      const detail = await get(path(c.conversation_id));
      $('history').close();
      handlers.open(detail);
    } catch (e) {
      toast(`无法打开对话：${e.message}`);
    }
  });
  const rename = h('button', { type: 'button', class: 'btn subtle small conv-rename',
    'aria-label': `重命名“${c.title}”` }, '重命名');
  const remove = h('button', { type: 'button', class: 'btn danger-subtle icon-only small conv-delete',
    'aria-label': `删除“${c.title}”`, title: '删除' }, icon('trash'));
  const li = h('li', { class: `conv${current ? ' current' : ''}` }, open, rename, remove);
  rename.addEventListener('click', () => renameForm(li, c, open, title));
  remove.addEventListener('click', () => confirmDelete(c, li, remove));
  return li;
}

/** An inline form in place of the title: Enter saves, Escape cancels (without closing the drawer). */
function renameForm(li, c, open, title) {
  const input = h('input', { type: 'text', class: 'conv-input', maxlength: '100', 'aria-label': '对话的新标题' });
  input.value = c.title;
  const save = h('button', { type: 'submit', class: 'btn primary small' }, '保存');
  const cancel = h('button', { type: 'button', class: 'btn small' }, '取消');
  const form = h('form', { class: 'conv-form' }, input, save, cancel);
  const done = () => {
    form.replaceWith(open);
    li.classList.remove('editing');
    open.focus();
  };
  cancel.addEventListener('click', done);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      done();
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) {
      input.focus();
      return;
    }
    try {
      const updated = await patch(path(c.conversation_id), { title: value });
      c.title = updated.title;
      title.textContent = updated.title;
      toast('已重命名');
      done();
    } catch (err) {
      toast(`重命名失败：${err.message}`);
    }
  });
  li.classList.add('editing');
  open.replaceWith(form);
  input.select();
}

function confirmDelete(c, li, from) {
  confirmThen('删除这个对话？', `“${c.title}”中的 ${c.answers} 个问答及其评价将被删除，此操作无法撤销。`, from, async () => {
    await del(path(c.conversation_id));
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    if (c.conversation_id === rememberedConversation()) forgetConversation();
    handlers.deleted(c.conversation_id);
    toast('已删除对话');
    if (next) next.querySelector('.conv-open')?.focus();
    else {
      $('history-note').hidden = false;
      $('history-note').textContent = '还没有对话。提问后，对话会保存在这里。';
      $('history-close').focus();
    }
  });
}
