"""什么时候/哪天/哪一年: a date, the one nearest the question's words; a day when a day is asked."""
from __future__ import annotations

import re

from .base import (
    Asked,
    Candidate,
    Passage,
    W,
    clause_at,
    coverage,
    proximity,
    sentences,
)

KIND = "when"
RULES = ((30, re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|时间是|日期|什么年代|哪个世纪")),)
FALLBACK = "sentence"
_YEAR = r"(?:1\d|20)\d{2}年"
_ONE = (rf"(?:{_YEAR})?\d{{1,2}}月\d{{1,2}}日|\d{{4}}-\d{{1,2}}-\d{{1,2}}|{_YEAR}\d{{1,2}}月|{_YEAR}代?|"
        r"\d{1,2}世纪(?:\d{2}年代)?(?:[初中末]期?)?|(?:公元前?)\d{1,4}年|"
        r"[〇零一二三四五六七八九]{4}年(?:[一二三四五六七八九十]{1,2}月(?:[一二三四五六七八九十]{1,3}日)?)?")
# A date, or a period of two ("1984年10月7日至1985年9月29日"): a period is one answer.
DATE = re.compile(rf"(?:{_ONE})(?:\s*(?:至|到|~|～|－|—|-)\s*(?:{_ONE}))?")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind in ("table_row", "table"):
        return []  # a table's rows are chunks of their own, with their columns named
    out = []
    for s in sentences(q, p):
        for m in DATE.finditer(s.text):
            if q.day_asked and re.fullmatch(rf"{_YEAR}代?", m.group(0)):
                continue  # asked for a day, a bare year is not an answer
            # The date whose own clause says what is asked ("2001年9月参加工作", not "1978年2月出生").
            a, b = clause_at(s.norm, m.start())
            said = W.date_clause * coverage(s.norm[a:b], "", q.focus)
            out.append(s.candidate(m.start(), m.end(),
                                   s.base + said + W.date_proximity * proximity(m.start(), s.occ) / q.focus_total,
                                   "date"))
    return out
