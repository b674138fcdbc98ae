"""The gap report (问答分析): the questions staff could not get answered, grouped by similar question.

An answer is a gap when it was not found, got a 👎, or was shown with low confidence (withheld as
unsure, or found below `gap_low_confidence`). Gaps are grouped by the cosine of their questions'
embeddings, from the model the service already has loaded ("query: " prompt on both sides, as e5
does for symmetric similarity): pure numpy, no clustering library.

The embedding alone cannot tell 河南 from 湖南, or 2020 from 2021: the same question about another
region scores 0.94–0.96, as high as a paraphrase. So questions are grouped only with questions that
name the same regions and years (`facets`), and by similarity within those.

Pure functions over answer records (`qa.records.AnswerRecord`, or anything with the same fields),
so they are tested on real questions with the real model and no server.
"""
from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, Protocol

import numpy as np

from .metadata import regions_in
from .textnorm import normalize

log = logging.getLogger(__name__)

KINDS = ("not_found", "downvoted", "low_confidence")
_YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
Sort = Literal["count", "recent"]


class _Feedback(Protocol):
    vote: int
    reason: str
    comment: str


class AnswerLike(Protocol):
    """What the report reads of an answer record (`qa.records.AnswerRecord` has all of it)."""

    answer_id: str
    question: str
    rewritten_question: str
    status: str
    confidence: float
    answer: str
    created: datetime
    feedback: _Feedback | None


@dataclass(frozen=True)
class GapItem:
    answer_id: str
    question: str  # what was asked, as the group shows it
    text: str  # what was compared: the standalone (rewritten) question
    status: str
    confidence: float
    answer: str
    created: datetime
    kinds: tuple[str, ...]
    vote: int = 0
    reason: str = ""
    comment: str = ""


@dataclass(frozen=True)
class Gap:
    """One group of similar questions, its items newest first."""

    items: tuple[GapItem, ...]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def newest(self) -> GapItem:
        return self.items[0]

    @property
    def first(self) -> datetime:
        return self.items[-1].created

    @property
    def last(self) -> datetime:
        return self.items[0].created

    @property
    def kinds(self) -> dict[str, int]:
        """How many of the group's answers are of each kind (an answer may be of two: 👎 and not found)."""
        counts = Counter(k for i in self.items for k in i.kinds)
        return {k: counts[k] for k in KINDS if counts[k]}


def kinds_of(record: AnswerLike, low_confidence: float) -> tuple[str, ...]:
    """Why an answer is a gap; () when it is not one."""
    kinds = []
    if record.status == "not_found":
        kinds.append("not_found")
    if record.feedback is not None and record.feedback.vote < 0:
        kinds.append("downvoted")
    if record.status == "unsure" or (record.status == "found" and record.confidence < low_confidence):
        kinds.append("low_confidence")
    return tuple(kinds)


def gap_items(records: Iterable[AnswerLike], low_confidence: float, since: datetime | None = None,
              until: datetime | None = None) -> list[GapItem]:
    """The records that are gaps (created in [since, until) when given), newest first."""
    items = []
    since, until = _utc(since), _utc(until)
    for r in records:
        created = _utc(r.created)
        if (since is not None and created < since) or (until is not None and created >= until):
            continue
        kinds = kinds_of(r, low_confidence)
        if not kinds:
            continue
        fb = r.feedback
        items.append(GapItem(r.answer_id, r.question, (r.rewritten_question or r.question).strip(), r.status,
                             float(r.confidence), r.answer, r.created, kinds,
                             fb.vote if fb else 0, fb.reason if fb else "", fb.comment if fb else ""))
    items.sort(key=lambda i: i.created, reverse=True)
    return items


def _utc(when: datetime | None) -> datetime | None:
    """Naive times are UTC (as the records store writes them), so naive and aware ones compare."""
    return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when


def _key(text: str) -> str:
    """Questions that differ only in script, width, spaces or end punctuation are the same question."""
    return normalize(text).strip().rstrip("?？。!！ ").replace(" ", "")


def facets(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The regions and years a question names: only questions naming the same ones are grouped."""
    return frozenset(regions_in(text)), frozenset(_YEAR.findall(normalize(text)))


def cluster(vectors: np.ndarray, threshold: float, weights: Sequence[int] | None = None) -> list[list[int]]:
    """Groups of row indices: each row joins the group whose centre (the normalised weighted mean of its
    rows) is most similar, if that cosine is at least `threshold`, else starts a group. Rows are taken
    in order (callers pass the most-asked first, so a group's centre settles on its common wording);
    a centre, unlike single linkage, does not chain A~B~C into one group when A and C differ."""
    weights = list(weights) if weights is not None else [1] * len(vectors)
    vectors = np.asarray(vectors, dtype=np.float32)
    sums = np.zeros_like(vectors)  # row g: group g's weighted sum of rows (at most one group per row)
    centres = np.zeros_like(vectors)
    groups: list[list[int]] = []
    for i, v in enumerate(vectors):
        g = len(groups)
        if g:
            sims = centres[:g] @ v
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                groups[best].append(i)
                sums[best] += weights[i] * v
                centres[best] = sums[best] / (np.linalg.norm(sums[best]) or 1.0)
                continue
        groups.append([i])
        sums[g] = weights[i] * v
        centres[g] = v
    return groups


def group(items: Sequence[GapItem], encode, threshold: float, sort: Sort = "count") -> list[Gap]:
    """`items` grouped by similar question. `encode(texts) -> L2-normalised rows` (the service's
    `embedder.encode_queries`); each distinct question is embedded once, however often it was asked."""
    if not items:
        return []
    by_key: dict[str, list[GapItem]] = {}
    for item in items:
        by_key.setdefault(_key(item.text), []).append(item)
    keys = sorted(by_key, key=lambda k: (-len(by_key[k]), -by_key[k][0].created.timestamp()))
    vectors = np.asarray(encode([by_key[k][0].text for k in keys]), dtype=np.float32)
    by_facets: dict[tuple, list[int]] = {}
    for n, k in enumerate(keys):
        by_facets.setdefault(facets(by_key[k][0].text), []).append(n)
    gaps = []
    for rows in by_facets.values():
        for members in cluster(vectors[rows], threshold, [len(by_key[keys[r]]) for r in rows]):
            found = (i for m in members for i in by_key[keys[rows[m]]])
            gaps.append(Gap(tuple(sorted(found, key=lambda i: i.created, reverse=True))))
    log.info("gap report: %d answers, %d distinct questions, %d groups", len(items), len(keys), len(gaps))
    return sort_gaps(gaps, sort)


class CachedEncoder:
    """`encode` with the rows of texts it has seen kept (the oldest dropped past `max_items`): the
    report is asked for again and again over mostly the same questions, and each is embedded once."""

    def __init__(self, encode, max_items: int = 20_000):
        self._encode, self._max = encode, max_items
        self._rows: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
        if missing:
            fresh = np.asarray(self._encode(missing), dtype=np.float32)
            with self._lock:
                self._rows.update(zip(missing, fresh))
                for old in list(self._rows)[: max(0, len(self._rows) - self._max)]:
                    del self._rows[old]
        with self._lock:
            rows = [self._rows.get(t) for t in texts]
        if any(r is None for r in rows):  # evicted meanwhile by a larger call: embed those again
            again = [t for t, r in zip(texts, rows) if r is None]
            extra = dict(zip(again, np.asarray(self._encode(again), dtype=np.float32)))
            rows = [r if r is not None else extra[t] for t, r in zip(texts, rows)]
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def sort_gaps(gaps: list[Gap], sort: Sort = "count") -> list[Gap]:
    """Most asked first (the newest breaking ties), or most recent first."""
    if sort == "recent":
        return sorted(gaps, key=lambda g: g.last, reverse=True)
    return sorted(gaps, key=lambda g: (g.count, g.last), reverse=True)
