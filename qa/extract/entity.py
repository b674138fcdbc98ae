"""什么/哪个: the phrase that fills the question's slot (qa/slots.py), beside the whole sentence."""
from __future__ import annotations

from .. import slots
from .base import Asked, Candidate, Passage, Sentence, W, sentences

KIND = "entity"
RULES = ((60, slots.WH),)


def slot_candidates(q: Asked, s: Sentence, base: float) -> list[Candidate]:
    """The phrase filling the question's slot in this sentence, if any."""
    found = slots.slot(q.text, s.norm)
    if found is None:
        return []
    return [s.candidate(found.start, found.end, base + (W.slot_base + W.slot_strength * found.strength) * s.coverage,
                        "slot", checks={"slot": found.strength})]


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return []
    out = []
    for s in sentences(q, p):
        out.extend(slot_candidates(q, s, s.base))
        out.append(s.whole(s.base))
    return out
