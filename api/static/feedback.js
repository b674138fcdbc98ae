// 👍 / 👎 under every answer (PUT /answers/{id}/feedback). 👎 opens a small form for an optional
// reason and comment; the vote is saved at once, the form only adds to it. Pressing a pressed
// 👍 takes the vote back; the form of a 👎 has "撤销评价". Plain buttons, radios and a textarea:
// all reachable and operable from the keyboard.

import { del, put } from './api.js';
import { h, icon } from './dom.js';

const REASONS = ['答案错误', '没找到', '引用不对', '其他'];
const COMMENT_MAX = 1000;
let formCount = 0;

/** The feedback controls for answer `answerId`, showing `given` ({vote, reason, comment}) if any. */
export function feedbackBar(answerId, given = null) {
  const path = `/answers/${encodeURIComponent(answerId)}/feedback`;
  const id = `fb-${++formCount}`;
  const up = h('button', { type: 'button', class: 'fb-btn fb-up', 'aria-pressed': 'false', title: '有帮助' },
    icon('thumbUp'), h('span', { class: 'sr-only' }, '有帮助'));
  const down = h('button', { type: 'button', class: 'fb-btn fb-down', 'aria-pressed': 'false', title: '没有帮助',
    'aria-expanded': 'false', 'aria-controls': id }, icon('thumbDown'), h('span', { class: 'sr-only' }, '没有帮助'));
  const status = h('span', { class: 'fb-status', role: 'status', 'aria-live': 'polite' });

  const radios = REASONS.map((r) => h('label', { class: 'fb-reason' },
    h('input', { type: 'radio', name: `${id}-reason`, value: r }), h('span', {}, r)));
  const comment = h('textarea', { id: `${id}-comment`, rows: '2', maxlength: String(COMMENT_MAX),
    placeholder: '补充说明（可不填）' });
  const submit = h('button', { type: 'submit', class: 'btn primary small' }, '提交');
  const undo = h('button', { type: 'button', class: 'btn link-btn small fb-undo' }, '撤销评价');
  const close = h('button', { type: 'button', class: 'btn small' }, '收起');
  const form = h('form', { id, class: 'fb-form', hidden: true, 'aria-label': '说明哪里不对' },
    h('fieldset', {}, h('legend', {}, '哪里不对？（可不选）'), h('div', { class: 'fb-reasons' }, radios)),
    h('label', { class: 'sr-only', for: `${id}-comment` }, '补充说明'), comment,
    h('div', { class: 'fb-actions' }, undo, close, submit));
  const bar = h('div', { class: 'feedback', role: 'group', 'aria-label': '评价这个回答' },
    h('div', { class: 'fb-row' }, up, down, status), form);

  let vote = null;
  const show = (f) => {
    vote = f ? f.vote : null;
    up.setAttribute('aria-pressed', String(vote === 'up'));
    down.setAttribute('aria-pressed', String(vote === 'down'));
    for (const r of radios) r.firstChild.checked = !!f && r.firstChild.value === f.reason;
    comment.value = f ? f.comment : '';
  };
  const openForm = (open) => {
    form.hidden = !open;
    down.setAttribute('aria-expanded', String(open));
    if (open) (form.querySelector('input:checked') || radios[0].firstChild).focus();
  };
  const reason = () => radios.map((r) => r.firstChild).find((r) => r.checked)?.value || '';
  const send = async (body, said) => {
    try {
      show(await put(path, body));
      status.textContent = said;
      return true;
    } catch (e) {
      status.textContent = `未能保存评价：${e.message}`;
      return false;
    }
  };
  const retract = async () => {
    try {
      await del(path);
      show(null);
      openForm(false);
      status.textContent = '已撤销评价';
      down.focus();
    } catch (e) {
      status.textContent = `未能撤销：${e.message}`;
    }
  };

  up.addEventListener('click', async () => {
    if (vote === 'up') return retract();
    if (await send({ vote: 'up' }, '感谢反馈')) openForm(false);
  });
  down.addEventListener('click', async () => {
    if (vote === 'down') return openForm(form.hidden);
    if (await send({ vote: 'down', reason: reason(), comment: comment.value }, '已记录，可以说明哪里不对')) openForm(true);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (await send({ vote: 'down', reason: reason(), comment: comment.value.slice(0, COMMENT_MAX) }, '感谢反馈，已记录原因')) {
      openForm(false);
      down.focus();
    }
  });
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      openForm(false);
      down.focus();
    }
  });
  close.addEventListener('click', () => {
    openForm(false);
    down.focus();
  });
  undo.addEventListener('click', retract);
  show(given);
  return bar;
}
