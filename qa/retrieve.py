"""Hybrid retrieval: dense (faiss) and BM25 candidates, fused.

The candidates are each retriever's best `candidates` chunks; every candidate is scored by both
(its cosine and its BM25 score are exact even where it is not in that retriever's list), and

    minmax (default)  score = Σ_retrievers weight × (s − floor) / (s_best − floor), clipped at 0
                      s_best: the retriever's best score; floor: 0 for BM25, and for the cosine
                      the last score of its list
    rrf               score = Σ_retrievers weight / (rrf_k + rank)

Scaled scores keep how far apart two candidates are, which rank fusion throws away: on CMRC trial,
the seed set and CMRC dev it scores about 2 points of hit@1 above the RRF it replaces
(scripts/bench_fusion.py). In hybrid search the BM25 score is the body's plus `head_weight` times
the heading field's (title and section path, qa/lexical.py), so a heading match counts for more
than the same words in the body.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .regions import within
from .rewrite import regions
from .textnorm import normalize
from .types import Filters, Hit

YEAR = re.compile(r"((?:19|20)\d{2})\s*年")

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
Fusion = Literal["minmax", "rrf"]


@dataclass(frozen=True)
class RetrievalParams:
    k: int = 5
    candidates: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    mode: Mode = "hybrid"
    fusion: Fusion = "minmax"
    # BM25 of the heading field (title and section path) added to the body's, times this (hybrid only).
    head_weight: float = 0.0
    hnsw_ef_search: int = 128
    # A question about 2025 prefers passages that say 2025: each year of the query
    # found in a candidate adds this weight at rank 1 to its fused score.
    year_weight: float = 0.5
    # Likewise for a region the query names and a passage's region (or text) bears.
    region_weight: float = 0.5


@dataclass(frozen=True)
class FilterColumns:
    """What filters test, as per-chunk codes into small tables of distinct values: a filter is then
    a few numpy lookups, not a Python loop over every chunk (182 ms at 100k chunks)."""

    doc: np.ndarray  # per chunk: index into doc_ids, or len(doc_ids) for a chunk of no listed document
    doc_ids: tuple[str, ...]
    doc_kinds: tuple[str, ...]
    doc_dates: tuple[str, ...]
    region: np.ndarray  # per chunk: index into regions
    regions: tuple[str, ...]
    kind: np.ndarray  # per chunk: index into kinds (chunk kinds)
    kinds: tuple[str, ...]

    @classmethod
    def of(cls, index) -> FilterColumns:
        docs = list(index.docs.values())
        doc_at = {d.doc_id: i for i, d in enumerate(docs)}
        regions: dict[str, int] = {}
        kinds: dict[str, int] = {}
        chunks = index.chunks
        return cls(
            doc=np.fromiter((doc_at.get(c.doc_id, len(docs)) for c in chunks), dtype=np.int64, count=len(chunks)),
            doc_ids=tuple(d.doc_id for d in docs), doc_kinds=tuple(d.kind for d in docs),
            doc_dates=tuple(d.date for d in docs),
            region=np.fromiter((regions.setdefault(c.region, len(regions)) for c in chunks), dtype=np.int64,
                               count=len(chunks)),
            regions=tuple(regions),
            kind=np.fromiter((kinds.setdefault(c.kind, len(kinds)) for c in chunks), dtype=np.int64, count=len(chunks)),
            kinds=tuple(kinds),
        )


def _table(values: tuple[str, ...], ok) -> np.ndarray:
    return np.fromiter((bool(ok(v)) for v in values), dtype=bool, count=len(values))


def allowed_rows(index, filters: Filters | None) -> np.ndarray | None:
    """Boolean mask over chunk rows that pass the filters, or None when nothing is filtered."""
    if not filters:
        return None
    cols = index.derived("filter_columns", FilterColumns.of)
    f = filters
    # Per document: listed, and passing the document filters; the extra last entry is "no document".
    doc_ok = np.ones(len(cols.doc_ids) + 1, dtype=bool)
    doc_ok[-1] = False
    if f.doc_ids:
        doc_ok[:-1] &= _table(cols.doc_ids, lambda d: d in f.doc_ids)
    if f.kinds:
        doc_ok[:-1] &= _table(cols.doc_kinds, lambda k: k in f.kinds)
    if f.date_from or f.date_to:
        doc_ok[:-1] &= _table(cols.doc_dates, lambda d: d and not (f.date_from and d < f.date_from)
                              and not (f.date_to and d > f.date_to))
    mask = doc_ok[cols.doc]
    if f.regions:  # 湖南 keeps 株洲's and 醴陵's chunks too
        wanted = set().union(*(within(r) for r in f.regions))
        mask &= _table(cols.regions, lambda region: any(r in region for r in wanted))[cols.region]
    if f.chunk_kinds:
        mask &= _table(cols.kinds, lambda k: k in f.chunk_kinds)[cols.kind]
    return mask


def dense_search(index, query_vector: np.ndarray, k: int, mask: np.ndarray | None, ef_search: int = 128):
    """Row numbers and inner-product scores of the `k` nearest allowed chunks (over every segment)."""
    return index.dense.search(query_vector, k, mask, ef_search)


def rrf(ranked: list[tuple[np.ndarray, float]], rrf_k: int) -> dict[int, float]:
    """Reciprocal rank fusion of ranked row lists, each with its weight."""
    fused: dict[int, float] = {}
    for rows, weight in ranked:
        for rank, row in enumerate(rows, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + weight / (rrf_k + rank)
    return fused


def minmax(scores: list[np.ndarray], tops: list[np.ndarray], weights: list[float],
           floors: list[float | None]) -> np.ndarray:
    """Fused scores of the candidates. `scores[i]` holds retriever i's score of each candidate and
    `tops[i]` the scores of its own best list; each is scaled to 1 at that list's best and 0 at
    `floors[i]` (None: the list's last score), lower scores clipped to 0, then weighted and
    summed. A retriever that found nothing adds 0; one whose best is its floor gives 1 to that
    score and 0 below."""
    fused = np.zeros(len(scores[0]) if scores else 0, dtype=np.float64)
    for s, top, w, floor in zip(scores, tops, weights, floors):
        if not len(top) or not w:
            continue
        s = np.asarray(s, dtype=np.float64)
        hi = float(np.max(top))
        lo = float(np.min(top)) if floor is None else float(floor)
        scaled = (s >= hi).astype(np.float64) if hi <= lo else np.clip((s - lo) / (hi - lo), 0.0, None)
        fused += w * scaled
    return fused


def _boost(index, fused: dict[int, float], wanted: list[str], bonus: float, by_region: bool) -> None:
    """Add `bonus` for each wanted year (or region) a candidate bears."""
    if not wanted or not bonus:
        return
    for row in fused:
        c = index.chunks[row]
        where = c.region if by_region else c.search_text
        fused[row] += bonus * sum(1 for w in set(wanted) if w in where)


def search(index, embedder, query: str, params: RetrievalParams, filters: Filters | None = None) -> list[Hit]:
    """The best `params.k` chunks for `query`, each with its dense, BM25 and fused rank and score."""
    text = normalize(query).strip()
    if not text or not index.chunks:
        return []
    mask = allowed_rows(index, filters)
    depth = max(params.candidates, params.k)

    d_rows = np.zeros(0, dtype=np.int64)
    d_scores = np.zeros(0, dtype=np.float32)
    if params.mode in ("hybrid", "dense"):
        qv = embedder.encode_queries([text])[0]
        d_rows, d_scores = dense_search(index, qv, depth, mask, params.hnsw_ef_search)
    b_rows = np.zeros(0, dtype=np.int64)
    b_scores = np.zeros(0, dtype=np.float32)
    b_all = None  # every row's BM25 score
    if params.mode in ("hybrid", "bm25") and index.lexical is not None:
        # The heading field weighs in hybrid search only: alone, without the cosine to temper it, it
        # costs the seed set 2-11 points of hit@1 (weight 0.5-1, scripts/bench_fusion.py), so `bm25`
        # stays plain BM25.
        b_all = index.lexical.scores(text, params.head_weight if params.mode == "hybrid" else 0.0)
        if b_all is not None:
            b_rows, b_scores = index.lexical.top(b_all, depth, None if mask is None else mask.astype(np.float32))

    dense_at = {int(r): (i + 1, float(s)) for i, (r, s) in enumerate(zip(d_rows, d_scores))}
    bm25_at = {int(r): (i + 1, float(s)) for i, (r, s) in enumerate(zip(b_rows, b_scores))}
    if params.mode == "dense":
        fused = {r: s for r, (_, s) in dense_at.items()}
    elif params.mode == "bm25":
        fused = {r: s for r, (_, s) in bm25_at.items()}
    elif params.fusion == "rrf":
        fused = rrf([(d_rows, params.dense_weight), (b_rows, params.bm25_weight)], params.rrf_k)
    else:
        cand = np.union1d(d_rows, b_rows).astype(np.int64)
        cos = index.vectors_of(cand) @ qv if len(cand) else np.zeros(0, dtype=np.float32)
        bm = b_all[cand] if b_all is not None else np.zeros(len(cand), dtype=np.float32)
        # BM25 has a natural zero (no query word), the cosine none (e5 rates unrelated text ~0.8):
        # BM25 is scaled from 0, the cosine from the last score of its list.
        fused = dict(zip(cand.tolist(), minmax([cos, bm], [d_scores, b_scores],
                                               [params.dense_weight, params.bm25_weight], [None, 0.0]).tolist()))

    if params.mode == "hybrid":
        # The year and region votes weigh as a rank-1 vote of a retriever of weight 1.
        vote = 1.0 / (params.rrf_k + 1) if params.fusion == "rrf" else 1.0
        _boost(index, fused, YEAR.findall(text), params.year_weight * vote, by_region=False)
        _boost(index, fused, regions(text), params.region_weight * vote, by_region=True)

    # Ties (same fused score) fall back to the dense rank, then row order, so results are stable.
    order = sorted(fused, key=lambda r: (-fused[r], dense_at.get(r, (10**9,))[0], r))[: params.k]
    hits = []
    for rank, row in enumerate(order, start=1):
        d = dense_at.get(row)
        b = bm25_at.get(row)
        hits.append(Hit(
            chunk=index.chunks[row], score=fused[row], rank=rank,
            dense_rank=d[0] if d else None, dense_score=d[1] if d else None,
            bm25_rank=b[0] if b else None, bm25_score=b[1] if b else None,
        ))
    return hits
