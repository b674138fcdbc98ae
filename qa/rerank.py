"""Optional cross-encoder reranking of the fused candidates (`QA_RERANK_MODEL`).

Off by default: no trained Chinese cross-encoder ships offline. Any sentence-transformers
CrossEncoder name or local folder works; like the embedder, a hub name is fetched only
because the user named it.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from .errors import ModelNotFound
from .types import Hit

log = logging.getLogger(__name__)


class Reranker:
    def __init__(self, model: str, batch_size: int = 16):
        from sentence_transformers import CrossEncoder  # noqa: PLC0415

        path = Path(model).expanduser()
        if model.startswith((".", "/", "~")) or path.exists():
            if not (path / "config.json").exists():
                raise ModelNotFound(f"找不到重排序模型：{path}（QA_RERANK_MODEL 应指向一个 CrossEncoder 文件夹）")
            self.ce = CrossEncoder(str(path), device="cpu", local_files_only=True)
        else:
            log.info("loading hub cross-encoder %s (needs network on first use)", model)
            self.ce = CrossEncoder(model, device="cpu")
        self.name = model
        self.batch_size = batch_size

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """`hits` reordered by the cross-encoder's score of (query, passage); ranks renumbered."""
        if not hits:
            return hits
        scores = self.ce.predict([(query, h.chunk.search_text) for h in hits], batch_size=self.batch_size,
                                 show_progress_bar=False)
        order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), hits[i].rank))
        return [replace(hits[i], rank=r, rerank_score=float(scores[i])) for r, i in enumerate(order, start=1)]
