"""什么是X / X是什么: the sentence that defines X ("X（…）是…", "X，又称…，指…"), from X on."""
from __future__ import annotations

import re

from ..textnorm import normalize
from .base import Asked, Candidate, Passage, W, sentences
from .sentence import with_pointed

KIND = "definition"
# The whole question is "什么是X" or "X是什么" with X a bare name (no 的: "X的作用是什么" asks an attribute).
RULES = ((57, re.compile(r"^(?:请问)?(?:什么是|何为|何谓)[^的，,]{1,24}[？?]?$|^(?:请问)?[^的，,是]{1,24}是什么[？?]?$")),)
_SUBJECT = re.compile(r"^(?:请问)?(?:什么是|何为|何谓)?(.+?)(?:是什么)?[？?。]?$")
# What may stand between the name and its definition: a gloss in brackets, a comma, "又称…".
_GAP = r"(?:\s*[（(][^）)]{0,60}[）)])?\s*[，,]?\s*"
_VERB = r"(?:是|为|指|系|即|乃|，?又称|，?也称|，?简称|，?全称)"


def subject(question: str) -> str:
    m = _SUBJECT.match(normalize(question).strip())
    return m.group(1).strip() if m else ""


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    name = subject(q.text)
    if len(name) < 2:
        return []
    defines = re.compile(re.escape(name) + _GAP + _VERB)
    out = []
    for s in sentences(q, p):
        m = defines.search(s.norm)
        if not m:
            out.extend(with_pointed(s, s.base))  # "应当符合以下条件：（一）…": with what it points to
            continue
        end = len(s.text.rstrip("。！!；; "))
        # The sentence from the name on; a sentence that opens with the name scores more.
        at_start = not s.norm[:m.start()].strip(" ，,")
        out.append(s.candidate(m.start() if not at_start else 0, end, s.base + W.definition * (1.5 if at_start else 1.0),
                               KIND))
    return out
