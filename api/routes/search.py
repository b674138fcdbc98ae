"""POST /search: retrieval only, every score shown (the same call as `qa search --json`)."""
from __future__ import annotations

from fastapi import APIRouter

from ..deps import Reader, ServiceDep
from ..schemas import HitOut, SearchOut, SearchRequest
from .responses import READ_ERRORS

router = APIRouter(tags=["检索"])


@router.post("/search", summary="检索", response_model=SearchOut, responses=READ_ERRORS)
def search(body: SearchRequest, who: Reader, svc: ServiceDep) -> SearchOut:
    """检索与问题最相关的片段，给出向量分、BM25 分与融合分及片段元数据。"""
    index = svc.index
    hits = svc.search(body.query, k=body.top_k, filters=body.filters.to_filters() if body.filters else None,
                      mode=body.mode)
    return SearchOut(query=body.query, mode=body.mode, hits=[HitOut.from_hit(h, index.docs) for h in hits])
