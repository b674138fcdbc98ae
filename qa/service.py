"""The one code path everything calls: the CLI, the API, the chat page and the evaluation.

    ingest:  load → clean → metadata → chunk → embed → index
    search:  normalise → dense + BM25 → fuse
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from . import answer as answering
from . import chunk as chunking
from . import clean, lexical, load, metadata, originals, trash
from .embed import QUERY_MIN_COSINE, Embedder
from .errors import (
    DocumentNotFound,
    EmptyDocument,
    IndexCorrupt,
    IndexMismatch,
    IndexNotFound,
    InvalidArgument,
    QAError,
)
from .formats.ocr import parse_page_confidences
from .index import DocumentInfo, Index, live_version_name, writer_lock
from .integrity import manifest_of, out_of_space
from .respond import Nearness, compose
from .retrieve import Mode, RetrievalParams
from .retrieve import search as retrieve_search
from .rewrite import rewrite
from .settings import Settings
from .textnorm import normalize
from .types import Answer, Chunk, Document, Filters, Hit, IngestReport, LoadProblem, RawDocument

log = logging.getLogger(__name__)


def _stated_fields(raw: RawDocument) -> dict[str, str]:
    return {k: str(v) for k, v in raw.fields.items() if v not in (None, "")}


def checksum(raw: RawDocument) -> str:
    """Identifies a document's content and stated metadata, before any cleaning:
    an unchanged file is recognised without re-reading its structure."""
    fields = _stated_fields(raw)
    digest = hashlib.sha256(raw.text.encode())
    digest.update(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()


def prepare(raw: RawDocument) -> Document:
    """Clean a loaded document and read its metadata."""
    cleaned = clean.clean(raw.text)
    if not cleaned.text.strip():
        raise EmptyDocument(raw.path, "清洗后没有正文（只有网页导航或空白）")
    meta = metadata.extract(cleaned.text, _stated_fields(raw), fallback_title=raw.doc_id)
    return Document(
        doc_id=raw.doc_id, title=meta.title, date=meta.date, source=meta.source, region=meta.region,
        kind=meta.kind, path=raw.path, fmt=raw.fmt, checksum=checksum(raw),
        raw_text=raw.text, text=cleaned.text, offsets=cleaned.offsets,
        page_ocr=parse_page_confidences(str(raw.fields.get("ocr_page_confidence") or "")),
    )


# A process pool pays only for a large batch: each spawned worker spends ~2 s loading jieba's
# dictionaries and OpenCC before its first document, and one process prepares ~200k characters a
# second. Both limits must be passed (the 848 CMRC passages, 0.43M characters, stay in-process).
POOL_MIN_DOCUMENTS = 50
POOL_MIN_CHARS = 2_000_000


def prepare_and_chunk(raw: RawDocument, sizes: tuple[int, int, int]) -> tuple[Document | None, list[Chunk],
                                                                             tuple[str, str] | None]:
    """`prepare` then `chunk_document`: a worker's whole job. A document that cannot be prepared
    comes back as its error's (code, message): an exception of ours need not survive pickling."""
    try:
        doc = prepare(raw)
    except QAError as e:
        return None, [], (e.code, e.message)
    return doc, chunking.chunk_document(doc, *sizes), None


def prepare_all(raws: list[RawDocument], sizes: tuple[int, int, int], workers: int,
                min_chars: int = POOL_MIN_CHARS) -> list[tuple]:
    """`prepare_and_chunk` of every document, in order; a large batch in a pool of `workers` processes.
    Spawned, not forked: the parent may hold torch's threads and locks, which a fork copies mid-use."""
    if workers <= 1 or len(raws) <= POOL_MIN_DOCUMENTS or sum(len(r.text) for r in raws) < min_chars:
        return [prepare_and_chunk(r, sizes) for r in raws]
    import multiprocessing  # noqa: PLC0415
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    from functools import partial  # noqa: PLC0415

    workers = min(workers, len(raws) // POOL_MIN_DOCUMENTS + 1)
    t = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = list(pool.map(partial(prepare_and_chunk, sizes=sizes), raws,
                            chunksize=max(1, len(raws) // (workers * 8))))
    log.info("prepared %d documents in %d processes in %.1f s", len(raws), workers, time.perf_counter() - t)
    return out


class Service:
    """Holds the settings, the loaded index and (loaded on first use) the embedding model."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None):
        self.settings = settings or Settings()
        self._embedder = embedder
        self._reranker = None
        self._index: Index | None = None
        self._loading = threading.Lock()
        # The version that last failed to load, and why: asked again only once `CURRENT` moves
        # (a rollback, a restore, a new write), not re-verified on every request.
        self._failed: tuple[str | None, IndexCorrupt] | None = None
        self._agreeing: dict[tuple[str, str], bool] = {}  # see `_same_vectors`

    # ----- the parts -----

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = Embedder(s.embed_model, s.query_prompt, s.passage_prompt,
                                      s.embed_batch_size, s.num_threads, backend=s.embed_backend,
                                      file=s.embed_file, query_backend=s.query_backend, query_file=s.query_file,
                                      device=s.embed_device, url=s.embed_url, url_model=s.embed_url_model,
                                      api_key=s.embed_api_key, url_timeout=s.embed_url_timeout)
        return self._embedder

    @property
    def reranker(self):
        """The cross-encoder, when `rerank_model` is set; loaded on first use."""
        if self._reranker is None and self.settings.rerank_model:
            from .rerank import Reranker  # noqa: PLC0415

            self._reranker = Reranker(self.settings.rerank_model)
        return self._reranker

    def chunker_config(self) -> dict:
        s = self.settings
        return {"version": chunking.CHUNKER_VERSION, "target": s.chunk_target,
                "max": s.chunk_max, "overlap_sentences": s.chunk_overlap_sentences}

    def _expect(self) -> dict:
        """Manifest values the current settings require of an index."""
        s = self.settings
        expect = {"model.identity": s.embed_identity,
                  "lexical.fingerprint": lexical.fingerprint()}
        expect.update({f"chunker.{k}": v for k, v in self.chunker_config().items()})
        return expect

    def _same_vectors(self, index: Index) -> bool:
        """Whether an index built by another local variant of the configured model holds the vectors
        this variant gives: a sample of its chunks is embedded again and compared (cosine ≥
        QUERY_MIN_COSINE, as for a query variant). So an index built with torch stays usable under
        the OpenVINO default; one built with int8 weights, another model or through an endpoint
        (whose identity names where it ran) is refused as before. Decided once per pair of variants."""
        have, want = index.manifest.get("model", {}).get("identity") or "", self.settings.embed_identity
        if "url:" in (have[:4], want[:4]) or have.split("@")[0] != want.split("@")[0]:
            return False
        if (have, want) not in self._agreeing:
            rows = np.unique(np.linspace(0, len(index.chunks) - 1, num=min(8, len(index.chunks))).astype(np.int64))
            fresh = self.embedder.encode_passages([index.chunks[r].search_text for r in rows]) if len(rows) else None
            cosine = float(np.min(np.sum(fresh * index.vectors_of(rows), axis=1))) if fresh is not None else 1.0
            self._agreeing[(have, want)] = cosine >= QUERY_MIN_COSINE
            log.log(logging.INFO if cosine >= QUERY_MIN_COSINE else logging.WARNING,
                    "index built with %s, embedder %s: minimum cosine %.5f over %d chunks: %s", have, want,
                    cosine, len(rows), "the same vectors, used as is" if cosine >= QUERY_MIN_COSINE else "refused")
        return self._agreeing[(have, want)]

    @property
    def index(self) -> Index:
        """The live index version. Another process (a `qa ingest`, another API worker) may have
        switched `CURRENT` since it was loaded: then the new version is loaded. Callers that use
        the index several times take it once, so a request finishes on the version it started on."""
        index = self._index
        live = live_version_name(self.settings.index_dir)
        if index is not None and index.folder.name == live:
            return index
        failed = self._failed
        if failed is not None and failed[0] == live and live is not None:
            raise IndexCorrupt(failed[1].message)
        if index is None:
            self._loading.acquire()
        elif not self._loading.acquire(blocking=False):
            return index  # another thread is loading the new version; the old one answers meanwhile
        try:
            index = self._index
            if index is None or index.folder.name != live_version_name(self.settings.index_dir):
                try:
                    index = self._index = Index.load(self.settings.index_dir, expect=self._expect(), reuse=index,
                                                     same_vectors=self._same_vectors)
                except IndexCorrupt as e:
                    self._failed = (live_version_name(self.settings.index_dir), e)
                    raise
                self._failed = None
            return index
        finally:
            self._loading.release()

    def reload(self) -> Index:
        self._index = self._failed = None
        return self.index

    # ----- ingest -----

    def ingest(self, paths: list[Path], replace: bool = False, rebuild: bool = False,
               progress: bool = False, doc_ids: Mapping[str, str] | None = None,
               file_names: Mapping[str, str] | None = None) -> IngestReport:
        """Add or update documents from `paths`; `replace` drops documents not among them;
        `rebuild` ignores the existing index (and its vectors) entirely. `doc_ids` names documents
        by file path where the file's own name is not the id (uploads are stored under generated names);
        `file_names` gives, by path, the name the original file is kept under (default: its own)."""
        with writer_lock(self.settings.index_dir), out_of_space(self.settings.index_dir, "导入文档"):
            return self._ingest(paths, replace, rebuild, progress, doc_ids or {}, file_names or {})

    def _ingest(self, paths: list[Path], replace: bool, rebuild: bool, progress: bool,
                doc_ids: Mapping[str, str], file_names: Mapping[str, str]) -> IngestReport:
        t0 = time.perf_counter()
        skipped: list[LoadProblem] = []  # files in the folders given that are of no supported type
        files = load.find_files(paths, skipped=skipped)
        raws, problems = load.load_files(files, load.LoadLimits.from_settings(self.settings))
        raws = [dataclasses.replace(r, doc_id=doc_ids[r.path]) if r.path in doc_ids and r.fmt != "jsonl" else r
                for r in raws]
        problems = skipped + list(problems)
        # A rebuild re-reads the live version's documents too (uploads included, whatever model
        # built it) and re-chunks and re-embeds them all: it never reuses a vector.
        old, stale = (self._stored_index(), True) if rebuild else self._existing_index()
        old_docs = old.docs if old else {}

        batch: dict[str, RawDocument] = {}
        for raw in raws:
            if raw.doc_id in batch:
                problems.append(LoadProblem(raw.path, "duplicate_document",
                                            f"文档编号 {raw.doc_id!r} 与 {batch[raw.doc_id].path} 重复，已跳过"))
            else:
                batch[raw.doc_id] = raw
        sums = {d: checksum(r) for d, r in batch.items()}
        # The file each document was read from (a JSONL file holds many documents: none is its original).
        kept = {d: originals.identify(Path(r.path), file_names.get(r.path)) for d, r in batch.items() if r.fmt != "jsonl"}
        # A stale index (older chunker or tokenizer) re-reads everything; its vectors are reused
        # wherever a chunk comes out the same. A document whose original is not the one kept (an
        # index older than originals) is re-read too: its chunks come out the same, nothing is embedded.
        unchanged = () if stale else tuple(d for d in batch if d in old_docs and old_docs[d].checksum == sums[d]
                                           and (d not in kept or _original_of(old_docs[d]) == kept[d]))
        changed: dict[str, Document] = {}
        fresh: dict[str, list[Chunk]] = {}  # the changed documents' chunks, cut beside their cleaning
        todo = [raw for doc_id, raw in batch.items() if doc_id not in unchanged]
        for raw, (doc, chunks, error) in zip(todo, prepare_all(todo, self._chunk_sizes(), self.settings.num_threads)):
            if error is not None:
                problems.append(LoadProblem(raw.path, *error))
            else:
                if (original := kept.get(raw.doc_id)) is not None:
                    originals.keep(self.settings.index_dir, Path(raw.path), original)
                    doc = dataclasses.replace(doc, original_sha256=original.sha256, original_name=original.name)
                changed[raw.doc_id], fresh[raw.doc_id] = doc, chunks
        added = tuple(d for d in changed if d not in old_docs)
        updated = tuple(d for d in changed if d in old_docs)
        removed = tuple(d for d in old_docs if d not in batch) if replace else ()

        if old is not None and not stale and not (added or updated or removed):
            return self._report(old, added, updated, removed, unchanged, 0, problems, t0)

        if old is not None and not stale and not rebuild:  # an update: one new segment, tombstones
            chunks = [c for d in changed for c in fresh[d]]
            vectors, embedded = self._vectors(chunks, old, progress)
            index = old.changed(list(changed.values()), chunks, vectors, set(removed),
                                known_splits=self._split_lookup(old) if updated else None)
        else:
            documents, chunks = self._compose(old, stale, changed, removed, fresh)
            index, embedded = self._build(documents, chunks, None if rebuild else old, progress)
        self._save(index, "重建" if rebuild else "导入时更新或移除")
        return self._report(index, added, updated, removed, unchanged, embedded, problems, t0)

    def _stored_index(self) -> Index | None:
        """The live version as stored, for a rebuild: read without checking what built it."""
        try:
            return Index.load(self.settings.index_dir)
        except (IndexNotFound, IndexMismatch, IndexCorrupt) as e:
            if not isinstance(e, IndexNotFound):
                log.warning("rebuild: the live version cannot be read (%s); only the given paths are ingested", e.code)
            return None

    def _chunk_sizes(self) -> tuple[int, int, int]:
        s = self.settings
        return s.chunk_target, s.chunk_max, s.chunk_overlap_sentences

    def _compose(self, old: Index | None, stale: bool, changed: Mapping[str, Document],
                 removed: tuple[str, ...], fresh: Mapping[str, list[Chunk]] | None = None,
                 ) -> tuple[list[Document], list[Chunk]]:
        """The new version's documents and chunks: everything not re-read keeps its stored
        document and chunks (and so its vectors). `fresh` holds chunks already cut, by document."""
        fresh = fresh or {}
        kept = [old.document(d) for d in old.docs if d not in changed and d not in removed] if old else []
        documents = kept + list(changed.values())
        chunks: list[Chunk] = [c for d in kept for c in old.chunks_of(d.doc_id)] if old and not stale else []
        for doc in (documents if stale else changed.values()):
            if doc.doc_id in fresh:
                chunks.extend(fresh[doc.doc_id])
            else:
                chunks.extend(chunking.chunk_document(doc, *self._chunk_sizes()))
        return documents, chunks

    def _save(self, index: Index, reason: str) -> None:
        """Make `index` the live version. Documents of the version live until now that it drops or
        changes go to the trash first (the writer lock is held), and old trash is purged."""
        index_dir, days = self.settings.index_dir, self.settings.deleted_retention_days
        current = index_dir / "CURRENT"
        trash_id = None
        if days > 0 and current.is_dir():
            before = {d["doc_id"]: d.get("checksum") for d in (manifest_of(current)[0] or {}).get("documents", [])}
            after = {d["doc_id"]: d.get("checksum") for d in index.manifest["documents"]}
            if gone := [d for d, checksum in before.items() if after.get(d) != checksum]:
                trash_id = trash.put(index_dir, current.resolve(), gone, reason)
        try:
            index.save(index_dir)
        except BaseException:
            if trash_id:
                trash.discard(index_dir, trash_id)
            raise
        trash.purge(index_dir, days)
        self._index = index

    def remove(self, doc_ids: list[str]) -> IngestReport:
        """Delete documents; they stay restorable from the trash for `deleted_retention_days`."""
        with writer_lock(self.settings.index_dir), out_of_space(self.settings.index_dir, "删除文档"):
            return self._remove(doc_ids)

    def _remove(self, doc_ids: list[str]) -> IngestReport:
        t0 = time.perf_counter()
        old = self.index
        missing = [d for d in doc_ids if d not in old.docs]
        if missing:
            raise DocumentNotFound(f"知识库中没有文档：{'、'.join(missing)}")
        index = old.changed([], [], np.zeros((0, self.embedder.dim), dtype=np.float32), set(doc_ids))
        self._save(index, "删除")
        return self._report(index, (), (), tuple(doc_ids), (), 0, [], t0)

    def restore_deleted(self, trash_id: str, doc_ids: list[str] | None = None) -> IngestReport:
        """Put documents of a trash entry (all, or those named) back, as a new version. Their
        vectors are reused wherever a chunk comes out the same; a live document of the same id
        is replaced (and goes to the trash in turn). A fully restored entry leaves the trash."""
        with writer_lock(self.settings.index_dir), out_of_space(self.settings.index_dir, "恢复已删除的文档"):
            t0 = time.perf_counter()
            entry, docs, chunks, vectors = trash.read(self.settings.index_dir, trash_id)
            if missing := sorted(set(doc_ids or ()) - {d.doc_id for d in docs}):
                raise DocumentNotFound(f"回收站条目 {trash_id} 中没有文档：{'、'.join(missing)}")
            docs = [d for d in docs if not doc_ids or d.doc_id in doc_ids]
            old, stale = self._existing_index()
            old_docs = old.docs if old else {}
            unchanged = tuple(d.doc_id for d in docs
                              if not stale and d.doc_id in old_docs and old_docs[d.doc_id].checksum == d.checksum)
            changed = {d.doc_id: d for d in docs if d.doc_id not in unchanged}
            index, embedded = old, 0
            if changed:
                emb, model = self.embedder, entry.get("model", {})
                same_model = (model.get("identity"), model.get("dim"), model.get("passage_prompt")) == (
                    emb.identity, emb.dim, emb.passage_prompt)
                known = {}
                if same_model and vectors is not None:  # vectors of another model are never mixed in
                    known = {c.chunk_id: v for c, v in zip(chunks, vectors, strict=True)}
                if old is not None and not stale:
                    new_chunks = [c for d in changed.values() for c in chunking.chunk_document(d, *self._chunk_sizes())]
                    vectors, embedded = self._vectors(new_chunks, old, False, known)
                    index = old.changed(list(changed.values()), new_chunks, vectors)
                else:
                    documents, new_chunks = self._compose(old, stale, changed, ())
                    index, embedded = self._build(documents, new_chunks, old, progress=False, known=known)
                self._save(index, "恢复时被替换")
            if len(docs) == len(entry.get("documents", ())):
                trash.discard(self.settings.index_dir, trash_id)
            return self._report(index, tuple(d for d in changed if d not in old_docs),
                                tuple(d for d in changed if d in old_docs), (), unchanged, embedded, [], t0)

    def _existing_index(self) -> tuple[Index | None, bool]:
        """The index to update, and whether it is stale (another chunker or tokenizer, same model)."""
        stale = False
        try:
            index = self.index
        except IndexNotFound:
            return None, False
        except IndexMismatch:
            # Only a different model needs the user's say-so (`--rebuild`): re-embedding is costly.
            index = Index.load(self.settings.index_dir, expect={"model.identity": self._expect()["model.identity"]},
                               same_vectors=self._same_vectors)
            stale = True
            log.info("index built with another chunker or tokenizer: re-chunking every document")
        model = index.manifest["model"]
        if model.get("dim") != self.embedder.dim or model.get("passage_prompt") != self.embedder.passage_prompt:
            raise IndexMismatch(
                f"索引的向量由维度 {model.get('dim')}、段落前缀 {model.get('passage_prompt')!r} 生成，"
                f"当前模型为维度 {self.embedder.dim}、前缀 {self.embedder.passage_prompt!r}；"
                "请运行 `qa ingest --rebuild`。"
            )
        return index, stale

    def _vectors(self, chunks: list[Chunk], old: Index | None, progress: bool,
                 known: Mapping | None = None) -> tuple[np.ndarray, int]:
        """Vectors for `chunks`, reusing the old index's (or `known` ones, by chunk id) wherever a
        chunk is unchanged; and how many had to be embedded."""
        known = known or {}
        emb = self.embedder
        vectors = np.zeros((len(chunks), emb.dim), dtype=np.float32)
        todo, reuse, reuse_rows = [], [], []
        for i, c in enumerate(chunks):
            row = old.row_of.get(c.chunk_id) if old else None
            if row is not None:
                reuse.append(i)
                reuse_rows.append(row)
            elif c.chunk_id in known:
                vectors[i] = known[c.chunk_id]
            else:
                todo.append(i)
        if reuse:
            vectors[reuse] = old.vectors_of(reuse_rows)
        if todo:
            t = time.perf_counter()
            vectors[todo] = emb.encode_passages([chunks[i].search_text for i in todo], progress=progress)
            log.info("embedded %d chunks in %.1f s", len(todo), time.perf_counter() - t)
        return vectors, len(todo)

    def _build(self, documents: list[Document], chunks: list[Chunk], old: Index | None,
               progress: bool, known: Mapping | None = None) -> tuple[Index, int]:
        """A whole new index of one segment (a rebuild, a first ingest, a new chunker)."""
        vectors, embedded = self._vectors(chunks, old, progress, known)
        emb = self.embedder
        model = {"name": emb.name, "identity": emb.identity, "dim": emb.dim,
                 "query_prompt": emb.query_prompt, "passage_prompt": emb.passage_prompt}
        s = self.settings
        index = Index.build(documents, chunks, vectors, model=model, chunker=self.chunker_config(),
                            lexical_fingerprint=lexical.fingerprint(), dense_kind=s.dense_index, hnsw_m=s.hnsw_m,
                            hnsw_min_rows=s.hnsw_min_rows,
                            known_splits=self._split_lookup(old))
        return index, embedded

    @staticmethod
    def _split_lookup(old: Index | None):
        """The old version's BM25 words, when they were split by today's tokenizer (same fingerprint)."""
        same = old is not None and old.manifest.get("lexical", {}).get("fingerprint") == lexical.fingerprint()
        return old.split_lookup() if same else None

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
                               dense_weight=s.dense_weight, bm25_weight=s.bm25_weight, fusion=s.fusion,
                               head_weight=s.head_weight,
                               mode=mode or "hybrid", hnsw_ef_search=s.hnsw_ef_search, year_weight=s.year_weight,
                               region_weight=s.region_weight)

    def _check_question(self, query: str, what: str = "问题") -> str:
        query = (query or "").strip()
        limit = self.settings.max_question_chars
        if not query:
            raise InvalidArgument(f"{what}不能为空")
        if len(query) > limit:
            raise InvalidArgument(f"{what}过长：{len(query)} 个字符，最多 {limit} 个")
        return query

    def search(self, query: str, k: int | None = None, filters: Filters | None = None,
               mode: Mode | None = None, rerank: bool | None = None) -> list[Hit]:
        """Ranked passages; `rerank` (default: whenever a reranker is configured) reorders the
        best `rerank_candidates` with the cross-encoder before cutting to `k`."""
        return self._search(self.index, self._check_question(query), k, filters, mode, rerank)

    def _search(self, index: Index, query: str, k: int | None, filters: Filters | None,
                mode: Mode | None, rerank: bool | None) -> list[Hit]:
        """`query` is checked by the caller: what the user sent is limited, not its rewritten form."""
        if k is not None and not 1 <= k <= 100:
            raise InvalidArgument(f"k 必须在 1 到 100 之间，当前为 {k}")
        k = k or self.settings.top_k
        use_reranker = self.settings.rerank_model != "" if rerank is None else rerank
        if use_reranker and not self.settings.rerank_model:
            raise InvalidArgument("没有配置重排序模型（QA_RERANK_MODEL）")
        if not use_reranker:
            return retrieve_search(index, self.embedder, query, self.params(k, mode), filters)
        depth = max(k, self.settings.rerank_candidates)
        hits = retrieve_search(index, self.embedder, query, self.params(depth, mode), filters)
        return self.reranker.rerank(normalize(query), hits)[:k]

    # ----- ask -----

    def ask(self, question: str, history: list[str] | tuple[str, ...] = (), filters: Filters | None = None,
            k: int | None = None, mode: Mode | None = None) -> Answer:
        """A short extractive answer with its cited passages, or an honest "not found"."""
        return self.answer(question, history, filters, k, mode)[0]

    def answer(self, question: str, history: list[str] | tuple[str, ...] = (), filters: Filters | None = None,
               k: int | None = None, mode: Mode | None = None,
               rerank: bool | None = None) -> tuple[Answer, list[Hit]]:
        """`ask`, also returning the ranked passages retrieved for it (what the evaluation scores)."""
        *_, answered = self.answer_steps(question, history, filters, k, mode, rerank)  # the last step answers
        return answered.answer, answered.hits

    def answer_steps(self, question: str, history: list[str] | tuple[str, ...] = (),
                     filters: Filters | None = None, k: int | None = None, mode: Mode | None = None,
                     rerank: bool | None = None) -> Iterator["Rewritten | Answered"]:
        """`answer` one stage at a time, for the chat stream: first the rewritten question, then
        the answer with its citations. The question is checked before anything is yielded."""
        question = self._check_question(question)
        if len(history) > self.settings.max_history:
            raise InvalidArgument(f"对话历史过长：{len(history)} 轮，最多 {self.settings.max_history} 轮")
        history = [self._check_question(h, "对话历史中的问题") for h in history]
        total = sum(map(len, history))
        if total > self.settings.max_history_chars:
            raise InvalidArgument(f"对话历史过长：共 {total} 个字符，最多 {self.settings.max_history_chars} 个")
        return self._answer_steps(question, history, filters, k or self.settings.top_k, mode, rerank)

    def _answer_steps(self, question, history, filters, k, mode, rerank):
        index = self.index  # one version for the whole answer, whatever an ingest swaps in meanwhile
        t0 = time.perf_counter()
        rewritten = rewrite(question, history)
        t1 = time.perf_counter()
        yield Rewritten(question, rewritten)
        t_resumed = time.perf_counter()
        hits = self._search(index, rewritten, max(k, self.settings.answer_passages), filters, mode, rerank)
        t2 = time.perf_counter()
        lex = index.lexical
        idf = lex.idf if lex is not None else (lambda word: 1.0)
        # Answers come from the same passages whatever `k` is: what staff see is what evaluation scores.
        choice = answering.choose(rewritten, hits[: self.settings.answer_passages], index.docs, answering.RefusalParams(
            self.settings.min_coverage, self.settings.weak_coverage, self.settings.min_dense,
            self.settings.min_confidence), idf=idf, split=rewritten == question, closeness=self.closeness(rewritten))
        t3 = time.perf_counter()
        timings = {"rewrite": round((t1 - t0) * 1000, 1), "retrieve": round((t2 - t_resumed) * 1000, 1),
                   "answer": round((t3 - t2) * 1000, 1)}
        near = Nearness(self.settings.min_dense - self.settings.near_margin, self.settings.weak_coverage)
        yield Answered(compose(question, rewritten, hits, choice, index.docs, k, timings, idf, near), hits)

    def closeness(self, question: str):
        """`sentence -> cosine to the question` in the embedding model, for the answer stage's last
        word on a paraphrase (`qa.answer.choose`); the question is embedded once, on first use (the
        embedder's rows are unit length, so the dot product is the cosine)."""
        query: list[np.ndarray] = []

        def cosine(sentence: str) -> float:
            try:
                if not query:
                    query.append(self.embedder.encode_queries([normalize(question)])[0])
                return float(query[0] @ self.embedder.encode_passages([normalize(sentence)])[0])
            except QAError as e:  # an embedding endpoint gone since the search: refuse as the word rules say
                log.warning("closeness not measured, the answer is judged by its words: %s", e.message)
                return -1.0

        return cosine

    def idf(self, word: str) -> float:
        lex = self.index.lexical
        return lex.idf(word) if lex is not None else 1.0

    def documents(self) -> list[DocumentInfo]:
        return list(self.index.docs.values())


def _original_of(info: DocumentInfo) -> originals.Original:
    return originals.Original(info.original_sha256, info.original_name)


@dataclasses.dataclass(frozen=True)
class Rewritten:
    """The question as it will be searched (follow-ups completed from the history)."""

    question: str
    rewritten_question: str


@dataclasses.dataclass(frozen=True)
class Answered:
    answer: Answer
    hits: list[Hit]
