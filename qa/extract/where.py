"""哪里/什么地方/哪个城市: what fills the question's slot, preferring a place name (jieba's ns tag,
or a division of China's administrative table) to any other phrase."""
from __future__ import annotations

import re

from ..regions import is_region
from ..slots import tags
from .base import Asked, Candidate, Passage, W, sentences
from .entity import slot_candidates

KIND = "where"
RULES = ((55, re.compile(r"哪里|哪儿|什么地方|何地|何处|在哪|哪个(?:省|市|县|区|国家|城市|地区|地方|国)|哪座城市|哪国|哪一?[省市县国]")),)


def _is_place(span: str) -> bool:
    return is_region(span) or any(flag == "ns" for _, flag in tags(span))


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    out = []
    for s in sentences(q, p):
        for c in slot_candidates(q, s, s.base):
            if _is_place(c.answer):
                c.score += W.place
            out.append(c)
        out.append(s.whole(s.base))
    return out
