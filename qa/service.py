"""The one code path everything calls: the CLI, the API, the chat page and the evaluation.

    ingest:  load → clean → metadata → chunk → embed → index
    search:  normalise → dense + BM25 → fuse
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from . import chunk as chunking
from . import clean, lexical, load, metadata
from .embed import Embedder, model_identity
from .errors import DocumentNotFound, EmptyDocument, IndexMismatch, IndexNotFound, InvalidArgument, QAError
from .index import DocumentInfo, Index
from .retrieve import Mode, RetrievalParams
from .retrieve import search as retrieve_search
from .settings import Settings
from .types import Chunk, Document, Filters, Hit, IngestReport, LoadProblem, RawDocument

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500


def prepare(raw: RawDocument) -> Document:
    """Clean a loaded document and read its metadata."""
    cleaned = clean.clean(raw.text)
    if not cleaned.text.strip():
        raise EmptyDocument(raw.path, "清洗后没有正文（只有网页导航或空白）")
    fields = {k: str(v) for k, v in raw.fields.items() if v not in (None, "")}
    meta = metadata.extract(cleaned.text, fields, fallback_title=raw.doc_id)
    digest = hashlib.sha256(raw.text.encode())
    digest.update(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode())
    return Document(
        doc_id=raw.doc_id, title=meta.title, date=meta.date, source=meta.source, region=meta.region,
        kind=meta.kind, path=raw.path, fmt=raw.fmt, checksum=digest.hexdigest(),
        raw_text=raw.text, text=cleaned.text, offsets=cleaned.offsets,
    )


class Service:
    """Holds the settings, the loaded index and (loaded on first use) the embedding model."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None):
        self.settings = settings or Settings()
        self._embedder = embedder
        self._index: Index | None = None

    # ----- the parts -----

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = Embedder(s.embed_model, s.query_prompt, s.passage_prompt,
                                      s.embed_batch_size, s.num_threads)
        return self._embedder

    def chunker_config(self) -> dict:
        s = self.settings
        return {"version": chunking.CHUNKER_VERSION, "target": s.chunk_target,
                "max": s.chunk_max, "overlap_sentences": s.chunk_overlap_sentences}

    def _expect(self) -> dict:
        """Manifest values the current settings require of an index."""
        expect = {"model.identity": model_identity(self.settings.embed_model),
                  "lexical.fingerprint": lexical.fingerprint()}
        expect.update({f"chunker.{k}": v for k, v in self.chunker_config().items()})
        return expect

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index.load(self.settings.index_dir, expect=self._expect())
        return self._index

    def reload(self) -> Index:
        self._index = None
        return self.index

    # ----- ingest -----

    def ingest(self, paths: list[Path], replace: bool = False, rebuild: bool = False,
               progress: bool = False) -> IngestReport:
        """Add or update documents from `paths`; `replace` drops documents not among them;
        `rebuild` ignores the existing index (and its vectors) entirely."""
        t0 = time.perf_counter()
        files = load.find_files(paths)
        raws, problems = load.load_files(files)
        problems = list(problems)
        batch: dict[str, Document] = {}
        for raw in raws:
            if raw.doc_id in batch:
                problems.append(LoadProblem(raw.path, "duplicate_document",
                                            f"文档编号 {raw.doc_id!r} 与 {batch[raw.doc_id].path} 重复，已跳过"))
                continue
            try:
                batch[raw.doc_id] = prepare(raw)
            except QAError as e:
                problems.append(LoadProblem(raw.path, e.code, e.message))

        old = None if rebuild else self._existing_index()
        old_docs = old.docs if old else {}
        added = tuple(d for d in batch if d not in old_docs)
        updated = tuple(d for d in batch if d in old_docs and old_docs[d].checksum != batch[d].checksum)
        unchanged = tuple(d for d in batch if d in old_docs and old_docs[d].checksum == batch[d].checksum)
        removed = tuple(d for d in old_docs if d not in batch) if replace else ()

        if old is not None and not (added or updated or removed):
            return self._report(old, added, updated, removed, unchanged, 0, problems, t0)

        kept = [old.document(d) for d in old_docs if d not in batch and d not in removed] if old else []
        documents = kept + list(batch.values())
        chunks: list[Chunk] = [c for d in kept for c in old.chunks_of(d.doc_id)] if old else []
        for doc in batch.values():
            chunks.extend(chunking.chunk_document(doc, self.settings.chunk_target, self.settings.chunk_max,
                                                  self.settings.chunk_overlap_sentences))
        index, embedded = self._build(documents, chunks, old, progress)
        index.save(self.settings.index_dir, documents)
        self._index = index
        return self._report(index, added, updated, removed, unchanged, embedded, problems, t0)

    def remove(self, doc_ids: list[str]) -> IngestReport:
        t0 = time.perf_counter()
        old = self.index
        missing = [d for d in doc_ids if d not in old.docs]
        if missing:
            raise DocumentNotFound(f"知识库中没有文档：{'、'.join(missing)}")
        documents = [old.document(d) for d in old.docs if d not in doc_ids]
        chunks = [c for c in old.chunks if c.doc_id not in doc_ids]
        index, embedded = self._build(documents, chunks, old, progress=False)
        index.save(self.settings.index_dir, documents)
        self._index = index
        return self._report(index, (), (), tuple(doc_ids), (), embedded, [], t0)

    def _existing_index(self) -> Index | None:
        try:
            index = self.index
        except IndexNotFound:
            return None
        model = index.manifest["model"]
        if model.get("dim") != self.embedder.dim or model.get("passage_prompt") != self.embedder.passage_prompt:
            raise IndexMismatch(
                f"索引的向量由维度 {model.get('dim')}、段落前缀 {model.get('passage_prompt')!r} 生成，"
                f"当前模型为维度 {self.embedder.dim}、前缀 {self.embedder.passage_prompt!r}；"
                "请运行 `qa ingest --rebuild`。"
            )
        return index

    def _build(self, documents: list[Document], chunks: list[Chunk], old: Index | None,
               progress: bool) -> tuple[Index, int]:
        """Vectors for `chunks`, reusing the old index's wherever a chunk is unchanged."""
        import numpy as np  # noqa: PLC0415

        emb = self.embedder
        vectors = np.zeros((len(chunks), emb.dim), dtype=np.float32)
        todo = []
        for i, c in enumerate(chunks):
            row = old.row_of.get(c.chunk_id) if old else None
            if row is None:
                todo.append(i)
            else:
                vectors[i] = old.vectors[row]
        if todo:
            t = time.perf_counter()
            vectors[todo] = emb.encode_passages([chunks[i].search_text for i in todo], progress=progress)
            log.info("embedded %d chunks in %.1f s", len(todo), time.perf_counter() - t)
        model = {"name": emb.name, "identity": emb.identity, "dim": emb.dim,
                 "query_prompt": emb.query_prompt, "passage_prompt": emb.passage_prompt}
        s = self.settings
        index = Index.build(documents, chunks, vectors, model=model, chunker=self.chunker_config(),
                            lexical_fingerprint=lexical.fingerprint(), dense_kind=s.dense_index, hnsw_m=s.hnsw_m)
        return index, len(todo)

    @staticmethod
    def _report(index, added, updated, removed, unchanged, embedded, problems, t0) -> IngestReport:
        report = IngestReport(
            documents=len(index.docs), chunks=len(index.chunks), added=added, updated=updated,
            removed=removed, unchanged=unchanged, embedded_chunks=embedded, problems=tuple(problems),
            seconds=time.perf_counter() - t0,
        )
        log.info("ingest: %d added, %d updated, %d removed, %d unchanged; embedded %d chunks; "
                 "%d problems; index has %d documents, %d chunks, %.1f s",
                 len(added), len(updated), len(removed), len(unchanged), embedded, len(problems),
                 report.documents, report.chunks, report.seconds)
        return report

    # ----- search -----

    def params(self, k: int | None = None, mode: Mode | None = None) -> RetrievalParams:
        s = self.settings
        return RetrievalParams(k=k or s.top_k, candidates=s.candidates, rrf_k=s.rrf_k,
                               dense_weight=s.dense_weight, bm25_weight=s.bm25_weight,
                               mode=mode or "hybrid", hnsw_ef_search=s.hnsw_ef_search)

    def search(self, query: str, k: int | None = None, filters: Filters | None = None,
               mode: Mode | None = None) -> list[Hit]:
        query = (query or "").strip()
        if not query:
            raise InvalidArgument("问题不能为空")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidArgument(f"问题过长：{len(query)} 个字符，最多 {MAX_QUERY_CHARS} 个")
        if k is not None and not 1 <= k <= 100:
            raise InvalidArgument(f"k 必须在 1 到 100 之间，当前为 {k}")
        return retrieve_search(self.index, self.embedder, query, self.params(k, mode), filters)

    def documents(self) -> list[DocumentInfo]:
        return list(self.index.docs.values())
