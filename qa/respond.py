"""Turning a chosen answer span and the retrieved passages into the `Answer` staff and clients see."""
from __future__ import annotations

import re

from .answer import Choice
from .types import Answer, Citation, Hit

_QUESTION_TAIL = re.compile(r"(?:是多少|有多少|多少|是谁|是什么|有哪些|哪些|什么时候|何时|是否|吗|呢)?[？?。！!\s]*$")
OTHERS = 3


def citation(rank: int, hit: Hit, docs: dict, highlight=()) -> Citation:
    c = hit.chunk
    info = docs.get(c.doc_id)
    return Citation(
        rank=rank, chunk_id=c.chunk_id, doc_id=c.doc_id, title=info.title if info else c.doc_id,
        source=info.source if info else "", date=info.date if info else "", region=c.region,
        section=c.section, kind=c.kind, text=c.text, highlight=tuple(tuple(s) for s in highlight),
        doc_offsets=(c.raw_start, c.raw_end), score=round(hit.score, 6),
    )


def not_found_message(rewritten: str) -> str:
    topic = _QUESTION_TAIL.sub("", rewritten.strip()) or rewritten.strip()
    return f"知识库中没有找到与“{topic}”相关的内容。"


def compose(question: str, rewritten: str, hits: list[Hit], choice: Choice, docs: dict, k: int,
            timings: dict) -> Answer:
    """Citations: the answer's passage first, then more from the same document; passages from
    other documents go under `others`, so numbers are never merged across documents."""
    if not choice.found or choice.candidate is None:
        return Answer(question, rewritten, False, not_found_message(rewritten), "", choice.confidence,
                      tuple(citation(i + 1, h, docs) for i, h in enumerate(hits[:k])), (), timings)
    cand = choice.candidate
    best = hits[cand.hit_index]
    same = [h for h in hits if h.chunk.doc_id == best.chunk.doc_id and h is not best]
    cites = [citation(1, best, docs, cand.spans)] + [citation(i + 2, h, docs) for i, h in enumerate(same[: k - 1])]
    seen_docs: set[str] = {best.chunk.doc_id}
    others = []
    for h in hits:
        if h.chunk.doc_id not in seen_docs and len(others) < OTHERS:
            seen_docs.add(h.chunk.doc_id)
            others.append(citation(len(others) + 1, h, docs))
    return Answer(question, rewritten, True, cand.answer, cand.sentence.strip(), choice.confidence,
                  tuple(cites), tuple(others), timings, cand.extractor)
