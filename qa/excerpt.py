"""The sentence of a passage that bears most on a question: what a card highlights when no answer was given.

A refused answer still shows its nearest passages; each card is then marked on its own best
sentence, so staff read the part that matters instead of the passage's first lines.
"""
from __future__ import annotations

import re

from .answer import terms
from .chunk import split_sentences
from .textnorm import normalize

# A table row is "caption｜key: value｜…" and a whole table one such line per row: its cells
# (or rows) are its sentences, since none of them ends with a full stop.
_CELL = re.compile(r"[^｜\n]+")


def _pieces(text: str, kind: str) -> list[tuple[int, int]]:
    if kind in ("table_row", "table"):
        pieces = []
        for m in _CELL.finditer(text):
            a, b = m.start(), m.end()
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if a < b:
                pieces.append((a, b))
        return pieces
    return [(s.start, s.end) for s in split_sentences(text, 0, len(text))]


def best_sentence(question: str, text: str, kind: str = "text", idf=None,
                  weights: dict[str, float] | None = None) -> tuple[int, int] | None:
    """[start, end) of the sentence of `text` holding the largest weight of the question's words
    (`qa.answer.terms`: rare words count more); the shorter one on a tie, then the earlier.
    None when no sentence holds any of them: a highlight on nothing relevant would mislead.
    Pass `weights` to reuse one `terms(question, idf)` for many passages."""
    ws = terms(question, idf) if weights is None else weights
    if not ws:
        return None
    best, best_key = None, (0.0, 0)
    for a, b in _pieces(text, kind):
        norm = normalize(text[a:b]).lower()  # the words are lower-cased as the tokenizer gives them
        weight = sum(wt for w, wt in ws.items() if w.lower() in norm)
        key = (weight, -(b - a))
        if weight > 0 and key > best_key:
            best, best_key = (a, b), key
    return best
