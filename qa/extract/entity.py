"""什么/哪个: the phrase that fills the question's slot (qa/slots.py), beside the whole sentence."""
from __future__ import annotations

import re

from .. import slots
from .base import Asked, Candidate, Passage, Sentence, W, coverage, sentences
from .sentence import POINTER_WORD, block_at, pointed_end, with_pointed

KIND = "entity"
RULES = ((60, slots.WH),)


def slot_candidates(q: Asked, s: Sentence, base: float) -> list[Candidate]:
    """The phrase filling the question's slot in this sentence, if any."""
    found = slots.slot(q.text, s.norm)
    if found is None:
        return []
    score = base + (W.slot_base + W.slot_strength * found.strength) * s.coverage
    if POINTER_WORD.search(s.text, found.start, found.end) and (end := pointed_end(s, found.start)) >= s.end:
        return [block_at(s, end, score)]  # "主要内容包括以下几个方面：一是…": with what the slot points to
    return [s.candidate(found.start, found.end, score, "slot", checks={"slot": found.strength})]


# "什么情况下可以申请延期" ↔ "因不可抗力无法按时提交的，可以申请延期": a notice states the case a rule
# applies in as a clause ending in 的 before the rule.
_CASE_Q = re.compile(r"(?:什么|哪些|哪种|何种)(?:样的)?(?:情况|情形|条件)下")
_CASE = re.compile(r"[^，,。；;：:！？!?]{2,40}的(?=[，,])")


def _case(q: Asked, s: Sentence) -> list[Candidate]:
    """The 的-clause stating the case, when what follows it in the sentence says the question's words."""
    out = []
    for m in _CASE.finditer(s.text):
        after = coverage(s.norm[m.end():], "", q.focus)
        if after > 0:
            a = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
            out.append(s.candidate(a, m.end(), s.base + (W.slot_base + W.slot_strength) * after, "slot"))
    return out


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    out = []
    case = _CASE_Q.search(q.text)
    for s in sentences(q, p):
        out.extend(_case(q, s) if case else slot_candidates(q, s, s.base))
        out.extend(with_pointed(s, s.base))
    return out
