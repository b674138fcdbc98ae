"""谁: a person named beside a role (局长王某) or in a byline (记者 李某); else, when the question
names no role ("被谁所杀"), what fills its slot."""
from __future__ import annotations

import re

from ..slots import tags
from ..textnorm import normalize
from .base import ROLE, Asked, Candidate, Passage, W, proximity, sentences
from .entity import slot_candidates

KIND = "who"
RULES = ((20, re.compile(r"谁|哪位|什么人|姓名|叫什么名字")),)
FALLBACK = "sentence"

_ROLE_AFTER = re.compile(rf"({ROLE})、?([\u4e00-\u9fff]{{2,3}}?)(?=[出对在表作主任率带说指强要称、，,。：:（(\s]|$)")
_NOT_NAME = re.compile(r"[任担由为的和是在等及与对将把被从向到了着过省市县局长重要]$|^[的和是在等及与对将把被从到作出表主率带说指强要称]")
_BYLINE = re.compile(r"(?:□|作者[:：]\s*|记者\s*|文/\s*)([\u4e00-\u9fff]{2,3})(?=[\s，,）)]|$)")
_COMMON = {"n", "t", "v", "vn", "a", "ad", "an", "d", "f", "s", "ns", "nt", "m"}  # jieba's tags of what no name is
_ROLE_BEFORE = re.compile(rf"(?:^|(?<=[，,、。；;\s□]))([\u4e00-\u9fff]{{2,3}})(?={ROLE})")


def _common_word(name: str) -> bool:
    """A word the dictionary knows as something other than a name ("市长时期" → 时期): no person."""
    words = tags(name)
    return len(words) == 1 and words[0][1] in _COMMON


def _names(q: Asked, sentence: str, norm: str, occ) -> list[tuple[int, str, float]]:
    """(position, name, score bonus) for people named by role or byline (matched on the simplified form)."""
    found = [(m.start(2), m.end(2), False) for m in _ROLE_AFTER.finditer(norm)]
    found += [(m.start(1), m.end(1), False) for m in _ROLE_BEFORE.finditer(norm)]
    found += [(m.start(1), m.end(1), True) for m in _BYLINE.finditer(norm)]
    out = []
    for a, b, byline in found:
        name = sentence[a:b]
        if _NOT_NAME.search(simple := normalize(name)) or _common_word(simple):
            continue
        near = normalize(sentence[max(0, a - 8):b + 4])
        if q.roles and not any(r in near for r in q.roles) and not (byline and {"作者", "记者"} & set(q.roles)):
            continue  # asked for a 局长, this is a 记者
        out.append((a, name, W.name_proximity * proximity(a, occ) / q.focus_total))
    return out


def person_first(span: str) -> int:
    """The length of the person's name a span opens with, when words that are not a name follow it
    ("某某去世", "某某（英文名）"): a 谁 answer is the name, not what the sentence says next. 0 when the
    span opens with no name or holds nothing else."""
    at = 0
    words = tags(span)
    for k, (word, flag) in enumerate(words):
        if flag.startswith("nr") or word in "·•" and k and words[k - 1][1].startswith("nr"):
            at += len(word)
            continue
        break
    else:
        return 0
    word, flag = words[k]
    if word == "的":  # "某部落的…" is one phrase
        return 0
    return at if at and (flag[:1] in ("v", "t", "f", "m", "d", "p", "u") or word[0] in "（(") else 0


# Titles that follow a name ("某某总统"): a 谁 answer is the name.
_TITLES = rf"{ROLE}|总统|首相|总理|国王|女王|皇帝|教练|队长|教授|博士|将军|大使"
_TITLE_AFTER = re.compile(rf"(?:{_TITLES})$")


def _before_title(span: str) -> int:
    m = _TITLE_AFTER.search(span)
    return m.start() if m and m.start() >= 2 and not _TITLE_AFTER.search(span[:m.start()]) else 0


# A calling before a name ("英国物理学家某某", "演员某某"): a 谁 answer is the name after it.
_CALLING = re.compile(rf"(?:{_TITLES}|[学作画专演歌球诗导编]家|"
                      r"音乐家|科学家|哲学家|政治家|思想家|军事家|艺术家|企业家|演员|歌手|导演|编剧|运动员|球员|诗人|学者|"
                      r"律师|医生|工程师|设计师|建筑师|主持人|商人)(?=[^的，,、。（(]{2,12}$)")


def _after_calling(span: str) -> int:
    """Where the name after a calling starts in `span` ("英国物理学家某某" → 6), or 0."""
    callings = list(_CALLING.finditer(span))
    if not callings or (m := callings[-1]).end() >= len(span) - 1:
        return 0
    name = tags(span[m.end():])
    return m.end() if name and (name[0][1].startswith("nr") or "·" in span[m.end():]) else 0


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    out = []
    for s in sentences(q, p):
        for pos, name, bonus in _names(q, s.text, s.norm, s.occ):
            out.append(s.candidate(pos, pos + len(name), s.base + bonus, "name", answer=name))
        for c in slot_candidates(q, s, s.base + W.who_slot):
            a = c.spans[0][0]
            if n := person_first(c.answer) or _before_title(c.answer):
                c = s.candidate(a - s.start, a - s.start + n, c.score, c.extractor, checks=c.checks)
            elif n := _after_calling(c.answer):
                c = s.candidate(a - s.start + n, a - s.start + len(c.answer), c.score, c.extractor, checks=c.checks)
            out.append(c)
    return out


def select(q: Asked, found: list[Candidate]) -> list[Candidate]:
    """A question naming a role (局长) is answered by a name beside that role when there is one in a
    sentence about what is asked (a 主席 beside a name in a sentence saying nothing else of the question
    is no answer); one that names none ("由谁主持") by what fills its slot, or the name inside it
    ("副局长某某" → 某某): a word beside a role elsewhere is then no answer ("…担任局长，总计…"; on the
    tuning set, never one)."""
    names = [c for c in found if c.extractor == "name"]
    others = [c for c in found if c.extractor != "name"]
    if q.roles:
        best = max((o.coverage for o in others), default=0.0)
        return [n for n in names if n.coverage >= W.name_coverage * best] or others
    inside = []
    for n in names:
        slot = max((o for o in others if o.extractor == "slot" and _within(n, o)), key=lambda o: o.score, default=None)
        if slot is not None:
            n.score = max(n.score, slot.score + W.name_in_slot)
            inside.append(n)
    return others + inside


def _within(inner: Candidate, outer: Candidate) -> bool:
    (a, b), (c, d) = inner.spans[0], outer.spans[0]
    return inner.hit_index == outer.hit_index and c <= a and b <= d
