"""Hybrid retrieval: dense (faiss) and BM25 (bm25s) candidates fused by reciprocal rank fusion.

    score(chunk) = Σ_retrievers  weight / (rrf_k + rank)

RRF needs no score calibration between the two retrievers, which is why it is
the default; the weights let an analyst lean on either.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .rewrite import regions
from .textnorm import normalize

YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
from .types import Filters, Hit

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class RetrievalParams:
    k: int = 5
    candidates: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    mode: Mode = "hybrid"
    hnsw_ef_search: int = 128
    # A question about 2025 prefers passages that say 2025: each year of the query
    # found in a candidate adds this weight at rank 1 to its fused score.
    year_weight: float = 0.5
    # Likewise for a region the query names and a passage's region (or text) bears.
    region_weight: float = 0.5


def allowed_rows(index, filters: Filters | None) -> np.ndarray | None:
    """Boolean mask over chunk rows that pass the filters, or None when nothing is filtered."""
    if not filters:
        return None
    docs = index.docs
    mask = np.ones(len(index.chunks), dtype=bool)
    for i, c in enumerate(index.chunks):
        d = docs.get(c.doc_id)
        if d is None:
            mask[i] = False
            continue
        if filters.doc_ids and c.doc_id not in filters.doc_ids:
            mask[i] = False
        elif filters.regions and not any(r in c.region for r in filters.regions):
            mask[i] = False
        elif filters.kinds and d.kind not in filters.kinds:
            mask[i] = False
        elif filters.chunk_kinds and c.kind not in filters.chunk_kinds:
            mask[i] = False
        elif (filters.date_from or filters.date_to) and (
            not d.date or (filters.date_from and d.date < filters.date_from)
            or (filters.date_to and d.date > filters.date_to)
        ):
            mask[i] = False
    return mask


def dense_search(index, query_vector: np.ndarray, k: int, mask: np.ndarray | None, ef_search: int = 128):
    """Row numbers and inner-product scores of the `k` nearest allowed chunks."""
    import faiss  # noqa: PLC0415

    n = index.dense.ntotal
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
    params = None
    if mask is not None:
        allowed = np.flatnonzero(mask).astype(np.int64)
        if len(allowed) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        selector = faiss.IDSelectorBatch(allowed)
        if isinstance(index.dense, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=ef_search)
        else:
            params = faiss.SearchParameters(sel=selector)
        k = min(k, len(allowed))
    elif isinstance(index.dense, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(efSearch=ef_search)
    scores, rows = index.dense.search(q, min(k, n), params=params)
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), scores[0][keep]


def rrf(ranked: list[tuple[np.ndarray, float]], rrf_k: int) -> dict[int, float]:
    """Reciprocal rank fusion of ranked row lists, each with its weight."""
    fused: dict[int, float] = {}
    for rows, weight in ranked:
        for rank, row in enumerate(rows, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + weight / (rrf_k + rank)
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
    if params.mode in ("hybrid", "bm25") and index.lexical is not None:
        weights = None if mask is None else mask.astype(np.float32)
        b_rows, b_scores = index.lexical.search(text, depth, weights)

    dense_at = {int(r): (i + 1, float(s)) for i, (r, s) in enumerate(zip(d_rows, d_scores))}
    bm25_at = {int(r): (i + 1, float(s)) for i, (r, s) in enumerate(zip(b_rows, b_scores))}
    if params.mode == "dense":
        fused = {r: s for r, (_, s) in dense_at.items()}
    elif params.mode == "bm25":
        fused = {r: s for r, (_, s) in bm25_at.items()}
    else:
        fused = rrf([(d_rows, params.dense_weight), (b_rows, params.bm25_weight)], params.rrf_k)

    if params.mode == "hybrid":
        _boost(index, fused, YEAR.findall(text), params.year_weight / (params.rrf_k + 1), by_region=False)
        _boost(index, fused, regions(text), params.region_weight / (params.rrf_k + 1), by_region=True)

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
