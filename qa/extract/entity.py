"""什么/哪个: the phrase that fills the question's slot (qa/slots.py), beside the whole sentence."""
from __future__ import annotations

from .. import slots
from .base import Asked, Candidate, Passage, Sentence, W, sentences
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


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    out = []
    for s in sentences(q, p):
        out.extend(slot_candidates(q, s, s.base))
        out.extend(with_pointed(s, s.base))
    return out
