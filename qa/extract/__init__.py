"""Extractors: one small module per kind of question, each finding the spans that answer it.

Each module says which questions are its own and how strongly (`RULES`: (priority, pattern)
pairs; the matching rule of lowest priority decides a question's kind), finds candidates in one
passage (`extract(asked, passage)`), and may name a `FALLBACK` kind for when no passage holds a
span of its own, and a `select(asked, candidates)` step over all passages. Weights live in
`base.Weights`. To add a kind: write its module and list it in `_MODULES`.
"""
from __future__ import annotations

import re
from types import ModuleType

from .. import slots
from ..textnorm import normalize
from ..types import Hit
from . import (
    cell,
    definition,
    entity,
    listing,
    method,
    number,
    reason,
    sentence,
    when,
    where,
    who,
    yesno,
)
from .base import Asked, Candidate, Passage, asked, terms

__all__ = ["Candidate", "KINDS", "asked", "candidates", "classify", "terms"]

_MODULES: tuple[ModuleType, ...] = (number, yesno, who, when, method, reason, listing, where, definition, sentence,
                                    entity)
KINDS: dict[str, ModuleType] = {m.KIND: m for m in _MODULES} | {cell.KIND: cell}


def _validated() -> tuple[tuple[int, re.Pattern, str], ...]:
    """Every (priority, pattern, kind), lowest priority first; two kinds may not share a priority,
    so which kind wins never depends on the order of `_MODULES`."""
    rules = sorted((prio, pattern, m.KIND) for m in _MODULES for prio, pattern in m.RULES)
    prios = [r[0] for r in rules]
    if len(set(prios)) != len(prios):
        raise ValueError(f"extractor priorities collide: {prios}")
    for m in _MODULES:
        if getattr(m, "FALLBACK", None) not in (None, *KINDS):
            raise ValueError(f"extractor {m.KIND} falls back to an unknown kind {m.FALLBACK}")
    return tuple(rules)


_RULES = _validated()


def classify(question: str) -> str:
    """The question's kind: the kind whose matching rule has the lowest priority."""
    q = slots.completed(normalize(question))
    return next(kind for _, pattern, kind in _RULES if pattern.search(q))


def candidates(question: str, kind: str, hits: list[Hit], titles: dict[str, str], idf=None,
               q: Asked | None = None) -> list[Candidate]:
    """Every span of the asked kind in the passages, scored."""
    q = q or asked(question, idf)
    module = KINDS[kind]
    out: list[Candidate] = []
    for i, hit in enumerate(hits):
        c = hit.chunk
        header = normalize(f"{titles.get(c.doc_id, '')} {c.section}")
        out.extend(module.extract(q, Passage(i, hit, header)))
    select = getattr(module, "select", None)
    out = select(q, out) if select else out
    fallback = getattr(module, "FALLBACK", None)
    if not out and fallback:
        # No span of the asked kind: the best sentence (e.g. "二十六证合一" is a number in words).
        out = [c for c in candidates(question, fallback, hits, titles, idf, q) if hits[c.hit_index].chunk.kind == "text"]
    return out
