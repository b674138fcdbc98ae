"""Extractive answers: a span of a retrieved passage, never invented text.

The question's kind decides what span to look for (qa/extract/: a number with its unit, a table
cell, a name, a date, a place, an enumeration, a method, a reason, the evidence for a yes/no,
or else the single best sentence). Every candidate is scored by how much of the question it
covers and how near the span sits to the question's words; the question's region and year must
be borne out by the passage, or the answer is refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from . import calibration
from .asks import split_asks
from .extract import Candidate, asked, candidates, classify, terms
from .regions import covers
from .rewrite import regions, years
from .textnorm import normalize
from .types import Hit

__all__ = ["Candidate", "Choice", "RefusalParams", "candidates", "choose", "classify", "grounded", "terms"]


# ---------------------------------------------------------------- checks and choice


_YEAR_IN = re.compile(r"((?:19|20)\d{2})\s*年")


def grounded(q_regions: list[str], q_years: set[str], hit: Hit, cand: Candidate, doc_region: str,
             doc_date: str) -> dict[str, bool]:
    """Whether the passage bears out the places and years the question names.

    A year must be the one the answering sentence speaks of; a sentence naming no year
    borrows its passage's (or document's) years.
    """
    text = normalize(hit.chunk.search_text)
    sentence = normalize(cand.sentence)
    # The asked place is named by the sentence, the passage's region or its document's; or the
    # passage names it and comes from a place it lies in or that lies in it (醴陵 in a 株洲 report).
    # A related place alone is not enough: 湖南's figure is no answer about 株洲, nor the reverse.
    places = [p for p in (*hit.chunk.region.split("、"), *doc_region.split("、")) if p]
    region_ok = not q_regions or any(
        r in hit.chunk.region or r in doc_region or r in sentence
        or r in text and any(covers(r, p) for p in places) for r in q_regions)
    said = set(_YEAR_IN.findall(sentence))
    if not q_years:
        year_ok = True
    elif said:
        year_ok = bool(q_years & said)
    else:
        year_ok = any(y in text or doc_date.startswith(y) for y in q_years)
    return {"region": region_ok, "year": year_ok}


_QUOTED_TITLE = re.compile(r"《([^》]{4,60})》")


@dataclass(frozen=True)
class _Titles:
    docs: dict  # the version's documents these were read from (compared by identity)
    titles: dict[str, str]  # doc_id -> title
    normalized: tuple[tuple[str, str], ...]  # (doc_id, normalised title)


_titles_cache: _Titles | None = None


def _titles(docs: dict) -> _Titles:
    """Every document's title, plain and normalised, made once per index version (its `docs`
    dict) instead of on every question; the last version's are kept (one swap, thread-safe)."""
    global _titles_cache
    cached = _titles_cache
    if cached is None or cached.docs is not docs:
        cached = _titles_cache = _Titles(docs, {d: info.title for d, info in docs.items()},
                                         tuple((d, normalize(info.title)) for d, info in docs.items()))
    return cached


def _named_documents(question: str, docs: dict) -> set[str]:
    """Documents whose title the question quotes in 《》 ("《以精准监管助推湖南高质量发展》一文")."""
    out = set()
    for quoted in _QUOTED_TITLE.findall(normalize(question)):
        out |= {d for d, title in _titles(docs).normalized if quoted in title or title in quoted}
    return out


@dataclass(frozen=True)
class RefusalParams:
    """When a grounded answer is still too weak to give (calibrated by scripts/calibrate_refusal.py)."""

    min_coverage: float = 0.2  # below this share of the question's words: refuse
    weak_coverage: float = 0.45  # below this, refuse unless the passage is semantically close …
    min_dense: float = 0.905  # … i.e. its cosine similarity to the question reaches this
    # Below this calibrated probability the answer is withheld as "unsure" (QA_MIN_CONFIDENCE);
    # None: the threshold fitted with the calibration (qa/data/calibration.json).
    min_confidence: float | None = None


@dataclass(frozen=True)
class Choice:
    candidate: Candidate | None
    found: bool
    confidence: float  # calibrated probability that the candidate is right (qa/calibration.py)
    reason: str  # ok | unsure | unsupported | coverage | distant | region | year | empty
    features: dict = field(default_factory=dict)  # what the confidence was computed from


def choose(question: str, hits: list[Hit], docs: dict, params: RefusalParams = RefusalParams(),
           idf=None, split: bool = True, closeness=None) -> Choice:
    """The best grounded candidate, or a refusal with its reason. `idf(word)` weighs the question's words;
    `closeness(sentence)` is a sentence's cosine to the question (`Service.closeness`), asked only of
    an answer the word rules would refuse. A question with two asks (qa/asks.py) is answered ask by
    ask, when every ask is found; not so a follow-up completed from the last turn (`split=False`): its
    earlier ask is context, not asked again."""
    parts = split_asks(question) if split else [question]
    if len(parts) > 1:
        each = [_choose(question, hits, docs, params, idf, closeness, part) for part in parts]
        if all(c.found for c in each):
            return _joined(each)
    return _choose(question, hits, docs, params, idf, closeness)


def _says_it_otherwise(best: Candidate, closeness, params: RefusalParams) -> bool:
    """Whether the answering sentence itself is as close to the question as a passage must be
    (`min_dense`): a paraphrase shares few words with its sentence ("办下来要等多久" ↔ "平均办理时限为",
    "网上能办的比例" ↔ "全程网办率") yet means it, and a whole passage's cosine is diluted by its other
    sentences. On the seed set the refused unanswerable and off-topic questions' sentences stay at
    0.83–0.89 and the two paraphrases it lets through reach 0.91 (README, "Refusals")."""
    return closeness is not None and closeness(best.sentence) >= params.min_dense


def _joined(each: list[Choice]) -> Choice:
    """One answer of several asks' answers, "A；B": the first ask's passage is cited first, and
    every span in it is highlighted."""
    first = each[0].candidate
    spans = sorted({s for c in each if c.candidate.hit_index == first.hit_index for s in c.candidate.spans})
    merged = replace(first, answer="；".join(c.candidate.answer for c in each), spans=spans,
                     extractor="+".join(dict.fromkeys(c.candidate.extractor for c in each)))
    weakest = min(each, key=lambda c: c.confidence)
    return replace(weakest, candidate=merged)


def _choose(question: str, hits: list[Hit], docs: dict, params: RefusalParams, idf, closeness=None,
            part: str | None = None) -> Choice:
    """`choose` for one ask: `part` (one ask of a question with several) decides the kind and where
    spans sit; the whole question's words still score the passages."""
    qtype = classify(part or question)
    titles = _titles(docs).titles
    q = asked(question, idf, part)
    cands = candidates(question, qtype, hits, titles, idf, q)  # with its kind's fallback when it finds none
    named = _named_documents(question, docs)
    q_regions, q_years = regions(question), set(years(question))  # once: place names need jieba
    ok = []
    for c in cands:
        info = docs.get(hits[c.hit_index].chunk.doc_id)
        c.checks.update(grounded(q_regions, q_years, hits[c.hit_index], c, info.region if info else "",
                                 info.date if info else ""))
        # A question that names its document (《…》) is answered from that one.
        c.checks["document"] = not named or hits[c.hit_index].chunk.doc_id in named
        if c.checks["region"] and c.checks["year"] and c.checks["document"]:
            ok.append(c)
    if not ok:
        reason = "region" if cands and not any(c.checks["region"] for c in cands) else "year"
        return Choice(max(cands, key=lambda c: c.score) if cands else None, False, 0.0, reason if cands else "empty")
    best = max(ok, key=lambda c: (c.score, -c.hit_index))
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    dense_max = max(dense) if dense else None
    feats = calibration.features(question, best, ok, hits, dense_max)
    model = calibration.load()  # None (warned once): the uncalibrated margin, and nothing withheld as unsure
    if model is not None:
        confidence = round(model.probability(feats), 3)
    else:
        confidence = round(calibration.margin_confidence(best.coverage, dense_max, params.min_coverage,
                                                         params.min_dense), 3)
    if best.checks.get("support", 1.0) == 0.0:
        return Choice(best, False, confidence, "unsupported", feats)  # no question word near the number
    weak = best.coverage < params.min_coverage
    distant = dense_max is not None and dense_max < params.min_dense and best.coverage < params.weak_coverage
    # Without a dense leg (bm25 mode) nothing is embedded, here either.
    if (weak or distant) and not (dense_max is not None and _says_it_otherwise(best, closeness, params)):
        return Choice(best, False, confidence, "coverage" if weak else "distant", feats)
    threshold = params.min_confidence if params.min_confidence is not None else model.threshold if model else 0.0
    if confidence < threshold:
        return Choice(best, False, confidence, "unsure", feats)  # kept: shown as the most relevant passage
    return Choice(best, True, confidence, "ok", feats)
