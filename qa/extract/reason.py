"""为什么/为何/什么原因: the clause that gives the reason (因为…, 由于…, 是为了…), else its sentence."""
from __future__ import annotations

import re

from . import cell
from .base import Asked, Candidate, Passage, W, sentences

KIND = "reason"
RULES = ((36, re.compile(r"为什么|为何|什么原因|原因是|何故|出于什么")),)
# A reason's opening word, and where the reason it gives ends.
_BECAUSE = re.compile(r"因为|由于|是为了|为了|之所以|原因是|原因在于|因而|因此|所以|以便|旨在")
_END = re.compile(r"[。；;！？!?]")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    for s in sentences(q, p):
        out.append(s.whole(s.base, KIND))
        m = _BECAUSE.search(s.text)
        if m:
            end = _END.search(s.text, m.end())
            b = end.start() if end else len(s.text)
            if b - m.end() >= 2:  # the clause that gives the reason, with its opening word
                out.append(s.candidate(m.start(), b, s.base + W.reason_marker, KIND))
    return out
