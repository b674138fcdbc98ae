// The chat page: start-up checks, the API key prompt, the conversation, and the switch to the
// admin view. Rendering of answers lives in answer.js, the document viewer in viewer.js.

import { ApiError, chat, get, hasKey, initKey, isAdmin, readiness, setKey, tryKey } from './api.js';
import { answerText, citationGroup, renderAnswer } from './answer.js';
import { copyText, fillIcons, h, icon, toast } from './dom.js';
import { initAdmin, showAdmin } from './admin.js';
import { initViewer, openViewer } from './viewer.js';
import { GeneratedView, generateRequest, generating, initGenerate } from './generate.js';
import { forgetConversation, initConversations, rememberConversation, reopenConversation } from './conversations.js';
import { feedbackBar } from './feedback.js';

// Questions the shipped corpus answers well (checked against the API).
const SUGGESTIONS = [
  '2025年市场主体目标是多少？',
  '湖南查扣非法口罩多少只？',
  '贵州2020年新设立市场主体多少户？',
  '株洲5年来市场主体增加了多少？',
];
const READY_POLL_MS = 3000;
// Shown instead of the key prompt when the server has no key at all: there is none to ask staff for.
const NO_KEYS = '本服务尚未配置访问密钥，暂时无法使用。请联系系统管理员（管理员可运行 qa key new 创建密钥）。';
// Earlier questions sent with a follow-up; the server refuses more than QA_MAX_HISTORY (default 20),
// and a follow-up only ever leans on the last few.
const MAX_HISTORY = 10;

const $ = (id) => document.getElementById(id);
const embedded = new URLSearchParams(location.search).has('embed');
// `id`: the server's record of this conversation (null until its first answer, or with records off).
const conversation = { id: null, history: [], controller: null, busy: false };
let admin = false;
let readyTimer = 0;

boot();

function boot() {
  initKey();
  fillIcons();
  document.documentElement.classList.toggle('embed', embedded);
  initViewer();
  initAdmin(showStats);
  $('suggestions').replaceChildren(...SUGGESTIONS.map((q) => {
    const b = h('button', { type: 'button', class: 'suggestion' }, icon('chat'), h('span', {}, q));
    b.addEventListener('click', () => ask(q));
    return b;
  }));
  const input = $('question');
  input.addEventListener('input', grow);
  input.addEventListener('keydown', (e) => {
    // Enter while an input method is composing picks a candidate: it must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      ask(input.value);
    }
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    ask(input.value);
  });
  $('new-chat').addEventListener('click', newConversation);
  initConversations({ open: showConversation, deleted: (id) => id === conversation.id && newConversation() });
  $('open-key').addEventListener('click', () => askForKey('change'));
  $('open-admin').addEventListener('click', () => { location.hash = 'admin'; });
  $('admin-back').addEventListener('click', () => { location.hash = ''; });
  $('close-embed').addEventListener('click', () => parent.postMessage({ type: 'qa-widget:close' }, '*'));
  window.addEventListener('hashchange', route);
  loadStatus();
}

// ----- start-up: is the service there, ready, and does it want a key? -----

async function loadStatus() {
  clearTimeout(readyTimer);
  try {
    const index = await get('/index');
    hideBanner();
    lock(false);
    showStats(index);
    admin = !embedded && await isAdmin();
    $('open-admin').hidden = !admin;
    initGenerate(); // the "生成式回答" switch, when the service has a model
    route();
    if (!conversation.id && !$('log').querySelector('.turn')) reopenConversation(); // the one on screen before a reload
  } catch (e) {
    if (e.status === 401) {
      // /readyz needs no key and says whether any key exists; until the service is ready it cannot.
      const ready = await readiness();
      if (ready.state === 'loading') {
        starting(ready.message);
      } else if (ready.auth && !ready.auth.keys_configured && !ready.auth.anonymous_read) {
        lock(true);
        showBanner(NO_KEYS, '重新检查', loadStatus);
      } else if (await askForKey(hasKey() ? 'invalid' : 'missing')) {
        loadStatus();
      } else {
        showBanner('需要访问密钥才能使用问答服务。', '输入密钥', () => askForKey('missing').then((ok) => ok && loadStatus()));
      }
    } else if (e.status === 503) {
      starting(e.message);
    } else {
      showBanner(e.message, '重试', loadStatus);
    }
  }
}

function starting(message) {
  showBanner(`服务正在启动（${message}），稍后自动重试…`, '立即重试', loadStatus);
  readyTimer = setTimeout(loadStatus, READY_POLL_MS);
}

/** With no key on the server nothing can be asked: the question box and the suggestions are disabled. */
function lock(locked) {
  const box = $('question');
  box.dataset.placeholder ??= box.placeholder;
  box.placeholder = locked ? '暂时无法提问：服务尚未配置访问密钥' : box.dataset.placeholder;
  box.disabled = locked;
  $('send').disabled = locked || conversation.busy;
  for (const b of $('suggestions').querySelectorAll('button')) b.disabled = locked;
}

function showStats(index) {
  $('kb-stats').textContent = `知识库收录 ${index.documents} 篇文档 · ${index.chunks} 个片段`;
}

function showBanner(message, action, onAction) {
  const button = h('button', { type: 'button', class: 'btn' }, icon('retry'), action);
  button.addEventListener('click', onAction);
  $('banner').replaceChildren(icon('alert'), h('p', {}, message), button);
  $('banner').hidden = false;
}

const hideBanner = () => { $('banner').hidden = true; };

function route() {
  const showAdminView = admin && location.hash === '#admin';
  $('chat-view').hidden = showAdminView;
  $('admin-view').hidden = !showAdminView;
  $('new-chat').hidden = showAdminView;
  $('open-admin').setAttribute('aria-pressed', String(showAdminView));
  if (showAdminView) {
    showAdmin();
    $('admin-title').focus();
  }
}

// ----- the API key -----

const KEY_REASONS = {
  missing: '本服务需要访问密钥。请输入管理员发给您的密钥，它只保存在本浏览器中。',
  invalid: '已保存的访问密钥无效或已停用，请重新输入。',
  change: '输入新的访问密钥（管理员密钥可管理文档）。密钥只保存在本浏览器中。',
};
let keyPrompt = null;

/** Opens the key dialog; resolves true once a key the server accepts is saved, false if cancelled. */
function askForKey(reason) {
  if (keyPrompt) return keyPrompt;
  const dlg = $('key-dialog');
  const form = $('key-form');
  const input = $('key-input');
  const error = $('key-error');
  $('key-reason').textContent = KEY_REASONS[reason];
  $('key-clear').hidden = !hasKey();
  error.textContent = '';
  input.value = '';
  keyPrompt = new Promise((resolve) => {
    const finish = (ok) => {
      form.removeEventListener('submit', submit);
      dlg.removeEventListener('cancel', cancel);
      $('key-cancel').removeEventListener('click', cancel);
      $('key-clear').removeEventListener('click', clear);
      dlg.close();
      keyPrompt = null;
      resolve(ok);
    };
    const submit = async (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (!value) {
        error.textContent = '请输入密钥。';
        return;
      }
      try {
        await tryKey(value);
      } catch (err) {
        error.textContent = err.status === 401 ? '密钥无效，请检查后重新输入。' : err.message;
        input.select();
        return;
      }
      setKey(value);
      finish(true);
      toast('密钥已保存');
      if (reason === 'change') loadStatus();
    };
    const cancel = (e) => {
      e.preventDefault();
      finish(false);
    };
    const clear = () => {
      setKey(null);
      finish(false);
      toast('已清除保存的密钥');
      loadStatus();
    };
    form.addEventListener('submit', submit);
    dlg.addEventListener('cancel', cancel);
    $('key-cancel').addEventListener('click', cancel);
    $('key-clear').addEventListener('click', clear);
  });
  dlg.showModal();
  input.focus();
  return keyPrompt;
}

// ----- the conversation -----

function grow() {
  const input = $('question');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

function newConversation() {
  conversation.controller?.abort();
  conversation.id = null;
  forgetConversation();
  conversation.history = [];
  conversation.busy = false;
  setBusy(false);
  for (const turn of $('log').querySelectorAll('.turn')) turn.remove();
  $('welcome').hidden = false;
  $('question').value = '';
  grow();
  $('question').focus();
}

function setBusy(busy) {
  $('send').disabled = busy;
  $('composer').classList.toggle('busy', busy);
}

/** Ask `text`; `standalone` sends no earlier turns (the "按原问题提问" button of a rewritten turn). */
function ask(text, { standalone = false } = {}) {
  const question = text.trim();
  if (!question || conversation.busy) return;
  $('question').value = '';
  grow();
  $('welcome').hidden = true;
  const turn = new Turn(question);
  const log = $('log');
  log.append(turn.el);
  log.scrollTop = log.scrollHeight;
  run(turn, question, standalone ? [] : conversation.history.slice(-MAX_HISTORY));
}

/** A stored conversation (GET /conversations/{id}) shown again, answers and citations as they were. */
function showConversation(detail) {
  newConversation();
  conversation.id = detail.conversation_id;
  rememberConversation(detail.conversation_id);
  $('welcome').hidden = detail.turns.length > 0;
  for (const t of detail.turns) {
    const turn = new Turn(t.question);
    $('log').append(turn.el);
    if (t.answer) {
      turn.rewritten(t.answer);
      turn.citations(t.answer);
      turn.answer(t.answer);
      turn.done(t.answer, t.feedback);
    } else { // kept without its answer (QA_RECORDS=questions)
      turn.body.replaceChildren(h('p', { class: 'status' }, '（回答未保存）'));
      turn.done({ ...t, found: false }, t.feedback);
    }
    if (t.status === 'found') conversation.history.push(t.question);
  }
}

async function run(turn, question, history) {
  const controller = new AbortController();
  conversation.controller = controller;
  conversation.busy = true;
  setBusy(true);
  turn.waiting();
  try {
    // In a stored conversation the server takes the history from it; `use_history` false asks as is.
    const body = conversation.id ? { question, conversation_id: conversation.id, use_history: history.length > 0 }
      : { question, history };
    const generate = generating(); // as the switch stood when the question was sent
    for await (const { event, data } of chat({ ...body, ...generateRequest() }, controller.signal)) {
      if (event === 'rewritten') turn.rewritten(data);
      else if (event === 'citations') turn.citations(data);
      else if (event === 'answer') turn.answer(data);
      else if (event === 'done') {
        turn.done(data);
        if (generate && data.status === 'found') turn.gen.pending(); // the generated answer follows
        if (data.conversation_id && !conversation.id) rememberConversation(conversation.id = data.conversation_id);
        // A refused turn shapes no follow-up: "那2020年呢？" after it would inherit a question nobody answered.
        if (data.found) conversation.history.push(question);
      } else if (event === 'generated_sentence') turn.gen.sentence(data);
      else if (event === 'generated') turn.gen.finish(data);
      else if (event === 'error') throw new ApiError(500, data.code, data.message);
    }
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (e.code === 'conversation_not_found' && conversation.id) { // deleted meanwhile (another tab): start afresh
      conversation.id = null;
      forgetConversation();
      run(turn, question, []);
      return;
    }
    if (e.status === 401 && await askForKey(hasKey() ? 'invalid' : 'missing')) {
      run(turn, question, history); // takes over `conversation` before this call's `finally` runs
      return;
    }
    turn.failed(e, () => run(turn, question, history));
  } finally {
    if (conversation.controller === controller) {
      conversation.busy = false;
      conversation.controller = null;
      setBusy(false);
    }
  }
}

const norm = (q) => q.replace(/[\s？?。！!]+$/u, '').trim();

/** One question and its answer in the conversation. */
class Turn {
  constructor(question) {
    this.question = question;
    this.note = h('p', { class: 'rewritten', hidden: true });
    this.body = h('div', { class: 'answer', 'aria-live': 'polite' });
    this.tools = h('div', { class: 'tools' });
    // Under the extractive answer: the model's text, its [n] leading to the cards below.
    this.gen = new GeneratedView((n) => this.sources.querySelector(`.sources:not(.others) .cite-card[data-rank="${n}"]`));
    this.bubble = h('div', { class: 'bubble bot-bubble' }, this.note, this.body, this.gen.el, this.tools);
    this.sources = h('div', { class: 'source-groups' });
    this.el = h('article', { class: 'turn', 'aria-label': `问题：${question}` },
      h('div', { class: 'msg user' }, h('p', { class: 'bubble user-bubble' }, question)),
      h('div', { class: 'msg bot' }, h('div', { class: 'avatar', 'aria-hidden': 'true' }, icon('chat')),
        h('div', { class: 'bot-main' }, this.bubble, this.sources)));
  }

  open = (c, from) => openViewer(c.doc_id, c, from);

  waiting() {
    this.body.setAttribute('aria-busy', 'true');
    this.body.classList.remove('notfound');
    this.status('正在理解问题…');
    this.gen.reset();
    this.tools.replaceChildren();
    this.sources.replaceChildren();
  }

  status(text) {
    this.body.replaceChildren(h('p', { class: 'status' }, h('span', { class: 'spinner' }), text));
  }

  rewritten({ rewritten_question: rewritten }) {
    if (norm(rewritten) !== norm(this.question)) {
      const asIs = h('button', { type: 'button', class: 'link as-is' }, '按原问题提问');
      asIs.addEventListener('click', () => ask(this.question, { standalone: true }));
      this.note.replaceChildren(h('span', { class: 'label' }, '理解为：'), h('span', { class: 'text' }, rewritten), asIs);
      this.note.hidden = false;
    }
    this.status('正在检索知识库…');
  }

  citations(data) {
    this.cited = data.citations;
    this.status(data.citations.length ? `找到 ${data.citations.length} 条相关出处，正在整理答案…` : '正在整理答案…');
    const groups = [];
    if (data.citations.length) {
      // A refused answer shows the nearest passages: "most relevant", each with its best sentence
      // marked, when they are close (status "unsure"); otherwise plainly "nearest".
      const unsure = data.status === 'unsure';
      groups.push(citationGroup(data.found ? '出处' : unsure ? '最相关的片段' : '最接近的片段', data.citations, this.open, {
        className: data.found ? '' : unsure ? 'nearest unsure' : 'nearest',
        answerDoc: data.found ? data.citations[0].doc_id : null,
      }));
    }
    if (data.others.length) {
      // Passages from other documents are context, not the answer's source: folded until asked for.
      groups.push(citationGroup('其他文档中的相关内容', data.others, this.open, { className: 'others', shown: 0 }));
    }
    this.sources.replaceChildren(...groups);
  }

  answer(data) {
    renderAnswer(this.body, data, this.cited || [], this.open);
    if (data.generated) this.gen.finish(data.generated); // a stored answer shown again
    this.reveal();
  }

  /** Scrolls the conversation so this turn starts at the top: its answer first, then the cards. */
  reveal() {
    const calm = matchMedia('(prefers-reduced-motion: reduce)').matches;
    $('log').scrollTo({ top: this.el.offsetTop - 16, behavior: calm ? 'auto' : 'smooth' });
  }

  done(data, feedback = null) {
    this.body.setAttribute('aria-busy', 'false');
    this.tools.replaceChildren(...(data.answer_id ? [feedbackBar(data.answer_id, feedback)] : [])); // 👍/👎
    if (!data.found) return; // nothing worth copying
    const copy = h('button', { type: 'button', class: 'btn subtle small copy' }, icon('copy'), h('span', {}, '复制答案'));
    copy.addEventListener('click', async () => {
      const ok = await copyText(answerText(data));
      copy.querySelector('span').textContent = ok ? '已复制' : '复制失败';
      copy.classList.toggle('copied', ok);
      setTimeout(() => {
        copy.querySelector('span').textContent = '复制答案';
        copy.classList.remove('copied');
      }, 2000);
    });
    this.tools.prepend(copy);
  }

  failed(error, retry) {
    this.body.setAttribute('aria-busy', 'false');
    // The server's 401 message names HTTP headers; staff need to hear about the key instead.
    let message = error.status === 401 ? '需要有效的访问密钥才能提问。' : error.message;
    if (error.status === 429 && error.retryAfter) message += `（约 ${error.retryAfter} 秒后可重试）`;
    const again = h('button', { type: 'button', class: 'btn' }, icon('retry'), '重试');
    again.addEventListener('click', retry);
    const actions = [again];
    if (error.status === 401) {
      const key = h('button', { type: 'button', class: 'btn' }, icon('key'), '输入密钥');
      key.addEventListener('click', async () => (await askForKey('missing')) && retry());
      actions.unshift(key);
    }
    // A refused question (422) cannot succeed as it is: no retry, just the reason.
    this.body.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, icon('alert'),
      h('p', {}, message), error.status === 422 ? null : h('div', { class: 'actions' }, actions)));
    this.tools.replaceChildren();
    this.reveal();
  }
}
