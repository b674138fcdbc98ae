// 问答分析 (admin keys only): answers not found, given a 👎 or of low confidence, grouped by similar
// question (GET /analysis); from any of them, a case for the knowledge base's own eval set, which
// `qa eval --kb` runs: "加入评测集" with the expected answer and the passage that holds it, or
// "标记为知识库未覆盖" for a question the documents truly do not answer.

import { get, post } from './api.js';
import { h, icon, toast } from './dom.js';

const $ = (id) => document.getElementById(id);
const KINDS = { not_found: '未找到', downvoted: '差评', low_confidence: '置信度低' }; // words: no emoji font on every desktop
const STATUS = { found: '已回答', unsure: '未确定', not_found: '未找到' };
const TYPES = { number: '数字', table: '表格', name: '人名机构', date: '日期', list: '列举', fact: '事实',
  paraphrase: '换种说法', traditional: '繁体原文', followup: '追问' };
const ALTERNATIVES = /[|｜]/; // several acceptable answers in one field
const SENTENCE_END = '。！？；!?;\n';
const CONTEXT = 12; // characters kept each side of the answer in a suggested evidence (as qa/evalsets.py)

let drafting = null; // { mode, item, draft, from, suggested }

/** Wires the static markup once. */
export function initAnalysis() {
  $('analysis-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    showAnalysis();
  });
  $('analysis-sort').addEventListener('change', showAnalysis);
  $('case-form').addEventListener('submit', (e) => {
    e.preventDefault();
    submitCase();
  });
  $('case-cancel').addEventListener('click', () => $('case-dialog').close());
  $('case-dialog').addEventListener('close', () => drafting?.from?.isConnected && drafting.from.focus());
  $('case-answers').addEventListener('input', () => resuggest());
}

/** Loads the groups (with the filter's dates and order) and the eval set's summary. */
export async function showAnalysis() {
  const box = $('analysis');
  box.setAttribute('aria-busy', 'true');
  const params = new URLSearchParams({ sort: $('analysis-sort').value });
  if ($('analysis-since').value) params.set('since', $('analysis-since').value);
  if ($('analysis-until').value) params.set('until', $('analysis-until').value);
  try {
    const [result, set] = await Promise.all([get(`/analysis?${params}`), get('/evalset').catch(() => null)]);
    renderGroups(result);
    renderSet(set);
  } catch (e) {
    const retry = h('button', { type: 'button', class: 'btn' }, icon('retry'), '重试');
    retry.addEventListener('click', showAnalysis);
    $('analysis-count').textContent = '';
    box.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, icon('alert'), h('p', {}, e.message), retry));
  } finally {
    box.setAttribute('aria-busy', 'false');
  }
}

function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso || '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

const day = (iso) => when(iso).slice(0, 10);

function renderGroups({ groups, answers, truncated, records }) {
  $('analysis-count').textContent = String(groups.length);
  if (!groups.length) {
    $('analysis').replaceChildren(h('p', { class: 'muted empty' }, records === 'off'
      ? '服务未保存问答记录（QA_RECORDS=off），没有可分析的回答。' : '这段时间没有未答好的问题。'));
    return;
  }
  const note = h('p', { class: 'muted' }, `${answers} 条回答，${groups.length} 组相似问题`
    + (truncated ? '（回答太多，只分析了最新的一部分）' : ''));
  $('analysis').replaceChildren(note, h('ol', { class: 'gap-list' }, groups.map(renderGroup)));
}

function kindChips(kinds) {
  return Object.entries(kinds).map(([k, n]) => h('span', { class: `chip kind-${k}` }, `${KINDS[k] || k} ${n}`));
}

function renderGroup(g) {
  const newest = g.items[0];
  const dates = day(g.first) === day(g.last) ? `最近 ${when(g.last)}` : `首次 ${day(g.first)} · 最近 ${when(g.last)}`;
  const head = h('div', { class: 'gap-head' },
    h('span', { class: 'gap-count', title: `问了 ${g.count} 次` }, String(g.count)),
    h('div', { class: 'gap-main' },
      h('p', { class: 'gap-question' }, g.question),
      h('p', { class: 'gap-meta' }, ...kindChips(g.kinds), h('span', { class: 'muted' }, dates))),
    actions(newest));
  const li = h('li', { class: 'gap', 'data-answer-id': g.answer_id }, head);
  if (g.items.length > 1 || newest.answer || newest.comment) {
    li.append(h('details', { class: 'gap-items' }, h('summary', {}, `查看这组的 ${g.count} 次提问`),
      h('ul', {}, g.items.map(renderItem))));
  }
  return li;
}

function renderItem(item) {
  const said = [STATUS[item.status] || item.status, item.answer && `答：${item.answer}`,
    item.reason && `评价：${item.reason}`, item.comment && `说明：${item.comment}`].filter(Boolean).join(' · ');
  return h('li', { class: 'gap-item', 'data-answer-id': item.answer_id },
    h('div', { class: 'gap-main' },
      h('p', {}, item.question, item.rewritten_question !== item.question
        && h('span', { class: 'muted' }, `（理解为：${item.rewritten_question}）`)),
      h('p', { class: 'muted' }, `${when(item.created)} · ${said}`)),
    actions(item));
}

function actions(item) {
  if (item.case_id) {
    return h('div', { class: 'gap-actions' }, h('span', { class: 'chip in-set' }, icon('check'), `已在评测集（${item.case_id}）`));
  }
  const add = h('button', { type: 'button', class: 'btn small', 'aria-label': `把“${item.question}”加入评测集` },
    icon('plus'), '加入评测集');
  add.addEventListener('click', () => openCase('answer', item, add));
  const none = h('button', { type: 'button', class: 'btn subtle small',
    'aria-label': `把“${item.question}”标记为知识库未覆盖` }, '标记为知识库未覆盖');
  none.addEventListener('click', () => openCase('unanswerable', item, none));
  return h('div', { class: 'gap-actions' }, add, none);
}

function renderSet(set) {
  if (!set) {
    $('evalset-summary').textContent = '';
    return;
  }
  const fromFeedback = set.cases.filter((c) => c.source === 'feedback');
  const uncovered = fromFeedback.filter((c) => c.unanswerable).length;
  const last = set.runs[set.runs.length - 1];
  const pct = (v) => (v == null ? '—' : `${Math.round(v * 100)}%`);
  $('evalset-summary').textContent = `评测集：${set.cases.length} 个用例（来自反馈 ${fromFeedback.length} 个，`
    + `其中知识库未覆盖 ${uncovered} 个）。` + (last
    ? `最近一次评测 ${last.created_at}：来自反馈的用例正确率 ${pct(last.feedback_accuracy)}，全部 ${pct(last.overall_accuracy)}。`
    : `尚未评测：在服务器上运行 qa eval --kb ${set.kb}。`);
}

// ----- the case form -----

/** A short verbatim piece of `text` around `answer` (the same rule as qa/evalsets.py suggest_evidence). */
function suggestEvidence(text, answer) {
  const at = answer ? text.indexOf(answer) : -1;
  if (at < 0) return '';
  let start = 0;
  let end = text.length;
  for (const ch of SENTENCE_END) {
    const before = text.lastIndexOf(ch, at - 1);
    if (before >= 0 && before < at) start = Math.max(start, before + 1);
    const after = text.indexOf(ch, at + answer.length);
    if (after >= 0) end = Math.min(end, after);
  }
  start = Math.max(start, at - CONTEXT);
  end = Math.min(end, at + answer.length + CONTEXT);
  return text.slice(start, end).trim().replace(/^[，,、：:]+|[，,、：:]+$/g, '');
}

const answersGiven = () => $('case-answers').value.split(ALTERNATIVES).map((a) => a.trim()).filter(Boolean);
const chosenPassage = () => {
  const picked = $('case-passages').querySelector('input[name="case-passage"]:checked');
  return picked ? drafting.draft.passages[Number(picked.value)] : null;
};

/** The evidence follows the chosen passage and the answer, until the admin edits it. */
function resuggest() {
  const passage = chosenPassage();
  const evidence = $('case-evidence');
  if (!passage || (evidence.value && evidence.value !== drafting.suggested)) return;
  const found = answersGiven().map((a) => suggestEvidence(passage.text, a)).find(Boolean) || '';
  evidence.value = found;
  drafting.suggested = found;
}

function renderPassages(passages) {
  const box = $('case-passages');
  box.querySelectorAll('.passage, .muted').forEach((el) => el.remove());
  $('case-doc-field').hidden = passages.length > 0;
  if (!passages.length) {
    box.append(h('p', { class: 'muted' }, '这条回答没有保存引用的片段：请填写文档编号和原文片段。'));
    return;
  }
  const first = Math.max(0, passages.findIndex((p) => p.evidence));
  passages.forEach((p, i) => {
    const input = h('input', { type: 'radio', name: 'case-passage', value: String(i), checked: i === first });
    input.addEventListener('change', () => {
      $('case-evidence').value = '';
      resuggest();
    });
    box.append(h('label', { class: 'passage' }, input,
      h('span', {}, h('strong', {}, `[${p.rank}] ${p.title || p.doc_id}`), h('span', { class: 'passage-text' }, p.text))));
  });
}

async function openCase(mode, item, from) {
  const dlg = $('case-dialog');
  drafting = { mode, item, from, draft: null, suggested: '' };
  const answerMode = mode === 'answer';
  $('case-title-text').textContent = answerMode ? '加入评测集' : '标记为知识库未覆盖';
  $('case-intro').textContent = answerMode
    ? '写下（或确认）期望答案，并选出含有答案的片段：用例将加入本知识库的评测集（qa eval --kb）。'
    : '确认知识库中确实没有这个问题的答案：它将作为“知识库未覆盖”的用例加入评测集，评测时拒答才算对。';
  $('case-answer-fields').hidden = !answerMode;
  $('case-submit').textContent = answerMode ? '加入评测集' : '标记为未覆盖';
  $('case-error').textContent = '';
  $('case-question').value = item.rewritten_question || item.question;
  $('case-evidence').value = '';
  $('case-doc').value = '';
  if (answerMode) {
    try {
      drafting.draft = await get(`/evalset/draft?answer_id=${encodeURIComponent(item.answer_id)}`);
    } catch (e) {
      toast(e.message);
      return;
    }
    const { draft } = drafting;
    $('case-question').value = draft.question;
    $('case-answers').value = draft.answers.join('｜');
    $('case-type').replaceChildren(...draft.types.map((t) => h('option', { value: t, selected: t === draft.type },
      `${TYPES[t] || t}（${t}）`)));
    renderPassages(draft.passages);
    const chosen = chosenPassage();
    drafting.suggested = chosen?.evidence || '';
    $('case-evidence').value = drafting.suggested;
  }
  dlg.showModal();
  (answerMode && !$('case-answers').value ? $('case-answers') : $('case-question')).focus();
}

async function submitCase() {
  const { mode, item } = drafting;
  const submit = $('case-submit');
  submit.disabled = true;
  $('case-error').textContent = '';
  try {
    let created;
    const question = $('case-question').value.trim();
    if (mode === 'answer') {
      if (!answersGiven().length) throw new Error('请填写期望答案');
      const passage = chosenPassage();
      created = await post('/evalset/cases', {
        answer_id: item.answer_id, question, answers: answersGiven(), type: $('case-type').value,
        doc: passage ? passage.doc_id : $('case-doc').value.trim(), evidence: $('case-evidence').value.trim(),
      });
    } else {
      created = await post('/evalset/unanswerable', { answer_id: item.answer_id, question });
    }
    $('case-dialog').close();
    toast(`已加入评测集：${created.id}`);
    await showAnalysis();
  } catch (e) {
    $('case-error').textContent = e.message;
  } finally {
    submit.disabled = false;
  }
}
