"""哪些/包括: an enumeration ("A、B、C"), the one carrying the question's “quoted” name first, or the
block of items a lead-in opens ("提交以下材料：（一）…；（二）…")."""
from __future__ import annotations

import re

from ..numerals import value
from ..slots import tags
from ..textnorm import normalize
from .base import Asked, Candidate, Passage, W, clause_at, coverage, sentences
from .entity import slot_candidates
from .sentence import with_blocks

KIND = "list"
RULES = ((40, re.compile(r"哪些|包括|包含|有哪几|哪几[个项类方面]|主要有|分别是")),)
# Three items or more: "A、B、C", or "A、B与C" (the last joined by 与/和/及).
_ENUM = re.compile(r"[^，,。；;：:！？!?]*?[^，,。；;：:、！？!?]+(?:、[^，,。；;：:、！？!?]+){2,}|"
                   r"[^，,。；;：:！？!?]*?[^，,。；;：:、！？!?]+、[^，,。；;：:、！？!?]+?(?:与|和|及|以及)[^，,。；;：:、！？!?]+")
# "包含哪两个族": a question that counts what it asks for is answered like any slot, by what stands
# where its words line up ("包含两个族：甲族、乙族"), as well as by an enumeration
_COUNTED = re.compile(r"哪(?:[两二三四五六七八九十]|\d+)[个位种项类家条部名座所只支届次门]")
# A word that introduces the items as examples or a restatement ("因数即1、2、3", "如甲、乙"): what
# stands before it is no item. (Verbs before a list, "分布于/包括/涉嫌", were cut too: the tuning set's
# answers keep them.)
_LEAD_IN = {"即", "例如", "比如", "诸如", "如"}
_COUNT = re.compile(r"^(\d+|[一二两三四五六七八九十]+)(?:大|个|项|类|条|种|化|型|重|张|新)?")


def _counts(quoted: list[str]) -> set[int]:
    """How many items a quoted name counts ("八大体系" → 8, "五个安全" → 5)."""
    out = set()
    for m in filter(None, map(_COUNT.match, quoted)):
        figure = m.group(1) if m.group(1).isdigit() else value(m.group(1))
        if figure and 1 < int(figure) <= 20:
            out.add(int(figure))
    return out


def _after_lead_in(span: str) -> int:
    """Where the items start past the last word introducing them in the first item, else 0."""
    first, at, cut, opened = span[:span.index("、")], 0, 0, 0
    for word, _ in tags(first):
        at += len(word)
        opened += sum(word.count(c) for c in "（(") - sum(word.count(c) for c in "）)")
        if word in _LEAD_IN and at < len(first) and not opened:  # "（即其起点）" glosses, introduces nothing
            cut = at
    return cut


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    text = p.text
    if q.quoted and not all(x in normalize(text) or x in p.header for x in q.quoted):
        return []  # "“五个安全”是哪些": only a passage that speaks of “五个安全”
    counts = _counts(q.quoted)
    counted = bool(_COUNTED.search(q.text))
    out = []
    for s in sentences(q, p):
        if counted:
            out.extend(slot_candidates(q, s, s.base))
        # The sentence that names the list, or the one right after ("完善“八大体系”。着力完善…").
        near_quote = W.list_near_quote if q.quoted and all(
            x in normalize(text[max(0, s.start - 30):s.end]) for x in q.quoted) else 0.0
        for m in _ENUM.finditer(s.text):
            span = m.group(0).strip()
            a = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            if cut := _after_lead_in(span):
                a, span = a + cut, span[cut:].lstrip("：: ")
            own = W.list_quoted if q.quoted and any(x in normalize(span) for x in q.quoted) else 0.0
            if span.count("、") + 1 in counts:  # as many items as the name counts: the list it names
                own += W.list_quoted
            # the enumeration whose own clause says what is asked ("…主治甲、乙、丙，功能丁、戊、己" for 功能)
            own += W.list_clause * coverage(s.norm[clause_at(s.norm, a)[0]:a + len(span)], "", q.focus)
            out.append(s.candidate(a, a + len(span), s.base + W.list_base + own + near_quote, KIND))
        # the sentence, or the enumerated block it opens ("提交以下材料：（一）…；（二）…")
        out.extend(with_blocks(s, s.base + near_quote))
    return out
