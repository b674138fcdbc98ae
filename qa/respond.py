"""Turning a chosen answer span and the retrieved passages into the `Answer` staff and clients see."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .answer import Choice, terms
from .excerpt import best_sentence
from .formats.sheet import FORMATS as SHEET_FORMATS
from .types import Answer, Chunk, Citation, Hit

_QUESTION_TAIL = re.compile(r"(?:是多少|有多少|多少|是谁|是什么|有哪些|哪些|什么时候|何时|是否|吗|呢)?[？?。！!\s]*$")
OTHERS = 3
LEAD = 3  # the first citations: the answering passage and the best-ranked others, whatever their document
UNSURE_MESSAGE = "未能确定答案，以下片段最相关："
# Refusals that say the best span is too weak, not that it is about something else: their nearest
# passages may still be close. A wrong region or year, another document than the one named, or no
# candidate at all ("region", "year", "document", "empty") keep the plain not-found message.
# "unsure" (a calibrated confidence too low) is named here whether or not `qa.answer` gives it.
WEAK_REASONS = frozenset({"unsure", "coverage", "distant", "unsupported"})


@dataclass(frozen=True)
class Nearness:
    """When a refused answer's nearest passage is still close enough to show as "most relevant".

    `min_dense`: the best cosine of a retrieved passage to the question. Off-topic questions stay
    below it and refused questions about something the passages do say reach it: on the shipped
    corpus off-topic ≤ 0.865 and refused-but-answerable ≥ 0.884; on CMRC 2018 trial (documents
    nobody tuned for) the seed questions asked there stay ≤ 0.877 while 80 % of refused trial
    questions reach 0.88. Settings give it as `min_dense − near_margin`, so it moves with the
    per-model calibration of min_dense. `min_coverage` stands in when no passage has a cosine
    (BM25-only search): the share of the question's words that lets an answer through on its own.
    """

    min_dense: float = 0.88
    min_coverage: float = 0.45


def location(chunk: Chunk, fmt: str) -> str:
    """Where a passage is in its original, said to people: "第3页", "工作表“指标”第12行", "第12行" (a
    .csv's row), "工作表“指标”" (a whole sheet); "" when the format has no pages."""
    if fmt in SHEET_FORMATS:
        sheet = f"工作表“{chunk.section}”" if chunk.section and fmt != "csv" else ""
        return f"{sheet}第{chunk.row}行" if chunk.row else sheet
    return f"第{chunk.page}页" if chunk.page else ""


def citation(rank: int, hit: Hit, docs: dict, highlight=()) -> Citation:
    c = hit.chunk
    info = docs.get(c.doc_id)
    return Citation(
        rank=rank, chunk_id=c.chunk_id, doc_id=c.doc_id, title=info.title if info else c.doc_id,
        source=info.source if info else "", date=info.date if info else "", region=c.region,
        section=c.section, kind=c.kind, text=c.text, highlight=tuple(tuple(s) for s in highlight),
        doc_offsets=(c.raw_start, c.raw_end), score=round(hit.score, 6),
        page=c.page, location=location(c, info.fmt if info else ""), ocr_confidence=c.ocr_confidence,
    )


def not_found_message(rewritten: str) -> str:
    topic = _QUESTION_TAIL.sub("", rewritten.strip()) or rewritten.strip()
    return f"知识库中没有找到与“{topic}”相关的内容。"


def nearest_is_close(choice: Choice, hits: list[Hit], near: Nearness) -> bool:
    """A refusal for weakness (not for another region, year or document) whose nearest passage is close."""
    if choice.found or choice.candidate is None or choice.reason not in WEAK_REASONS:
        return False
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    if dense:
        return max(dense) >= near.min_dense
    return choice.candidate.coverage >= near.min_coverage


def _refused(question: str, rewritten: str, hits: list[Hit], choice: Choice, docs: dict, k: int,
             timings: dict, idf, near: Nearness) -> Answer:
    """The nearest passages, whatever their document; when they are close, each marked on its own
    best sentence for the question and introduced as "most relevant" rather than "nothing found"."""
    shown = hits[:k]
    if not nearest_is_close(choice, hits, near):
        return Answer(question, rewritten, False, not_found_message(rewritten), "", choice.confidence,
                      tuple(citation(i + 1, h, docs) for i, h in enumerate(shown)), (), timings,
                      status="not_found", reason=choice.reason)
    ws = terms(rewritten, idf)
    cites = []
    for i, h in enumerate(shown):
        span = best_sentence(rewritten, h.chunk.text, h.chunk.kind, weights=ws)
        cites.append(citation(i + 1, h, docs, [span] if span else ()))
    return Answer(question, rewritten, False, UNSURE_MESSAGE, "", choice.confidence, tuple(cites), (), timings,
                  status="unsure", reason=choice.reason)


def compose(question: str, rewritten: str, hits: list[Hit], choice: Choice, docs: dict, k: int,
            timings: dict, idf=None, near: Nearness = Nearness()) -> Answer:
    """Citations: the answer's passage first, then the best-ranked remaining passages up to `LEAD`
    in all whatever their document, then more from the answer's document up to `k`. The best
    passage of each document not cited goes under `others`; only the answer's passage is highlighted, so
    numbers are never merged across documents. `idf(word)` weighs the question's words when a
    refused answer's cards are marked on their best sentence."""
    if not choice.found or choice.candidate is None:
        return _refused(question, rewritten, hits, choice, docs, k, timings, idf, near)
    cand = choice.candidate
    best = hits[cand.hit_index]
    rest = [h for h in hits if h is not best]
    lead = rest[: max(0, min(LEAD, k) - 1)]
    same = [h for h in rest[len(lead):] if h.chunk.doc_id == best.chunk.doc_id]
    cited = [best, *lead, *same][:k]
    cites = [citation(1, best, docs, cand.spans)] + [citation(i + 2, h, docs) for i, h in enumerate(cited[1:])]
    # One passage per document not cited: a cited document's best passage is already on show.
    seen_docs = {h.chunk.doc_id for h in cited}
    others = []
    for h in hits:
        if h.chunk.doc_id not in seen_docs and len(others) < OTHERS:
            seen_docs.add(h.chunk.doc_id)
            others.append(citation(len(others) + 1, h, docs))
    return Answer(question, rewritten, True, cand.answer, cand.sentence.strip(), choice.confidence,
                  tuple(cites), tuple(others), timings, cand.extractor, status="found", reason=choice.reason)
