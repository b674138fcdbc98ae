"""是否/有没有/能否: the sentence that states or denies what is asked, as its evidence (the answer
is that sentence, never a bare 是 or 否 that nobody could check)."""
from __future__ import annotations

import re

from . import cell
from .base import Asked, Candidate, Passage, W, sentences

KIND = "yes_no"
RULES = ((15, re.compile(r"是否|有没有|能否|可否|是不是|能不能|可不可以|会不会|需不需要|要不要")),)
_STATES = re.compile(r"不得|禁止|严禁|应当|必须|可以|不予|不需要|无需|免予|不再|须|不能|不可|允许|同意|不属于|属于")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    for s in sentences(q, p):
        out.append(s.whole(s.base + (W.yes_no_marker if _STATES.search(s.norm) else 0.0), KIND))
    return out
