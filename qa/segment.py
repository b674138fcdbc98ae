"""A segment: an immutable slice of the index, written once and shared by later versions.

    segments/<name>/
      store.sqlite   its documents (metadata, original and cleaned text) and their chunks
      vectors.npy    one L2-normalised float32 row per chunk, in chunk order
      lexical/       the chunks' words and BM25 postings, lexical/head/ those of their headings (qa/lexical.py)
      dense.faiss    an HNSW graph over the vectors, when the index is HNSW (a flat index is
                     made from vectors.npy when the segment is loaded)

A version (qa/index.py) lists its segments and, per segment, the documents deleted from it since it
was written (tombstones). A new version hard-links the files of the segments it keeps, so an update
writes only what changed; a segment's files are removed when the last version naming them is.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from array import array
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .lexical import Postings
from .types import Chunk, Document

_SCHEMA = """
CREATE TABLE documents (
  doc_id TEXT PRIMARY KEY, title TEXT, date TEXT, source TEXT, region TEXT, kind TEXT,
  path TEXT, fmt TEXT, checksum TEXT, raw_text TEXT, text TEXT, offsets BLOB, page_ocr TEXT DEFAULT ''
);
CREATE TABLE chunks (
  row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, doc_id TEXT, ordinal INTEGER, kind TEXT,
  section TEXT, text TEXT, search_text TEXT, start INTEGER, "end" INTEGER,
  raw_start INTEGER, raw_end INTEGER, region TEXT, page INTEGER DEFAULT 0, sheet_row INTEGER DEFAULT 0,
  ocr_confidence REAL DEFAULT 0
);
CREATE INDEX chunks_doc ON chunks(doc_id);
"""
REQUIRED = ("store.sqlite", "vectors.npy", "lexical/vocab.json")


@dataclass(eq=False)
class Segment:
    """One segment in memory. `documents` is held only until the segment is saved (then they are
    read from its store on demand); `folder` is where it is stored, None before."""

    name: str
    doc_ids: tuple[str, ...]  # every document written into it, in order
    chunks: list[Chunk]  # every row, deleted ones too: row i is vector i
    vectors: np.ndarray  # memory-mapped once saved
    postings: Postings
    dense: object  # a faiss index over `vectors`
    folder: Path | None = None
    documents: list[Document] | None = None
    files: dict[str, dict] = field(default_factory=dict)  # rel path -> {"size", "sha256"}, once saved

    @classmethod
    def make(cls, name: str, documents: list[Document], chunks: list[Chunk], vectors: np.ndarray,
             postings: Postings, dense: dict) -> Segment:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(name, tuple(d.doc_id for d in documents), chunks, vectors, postings,
                   dense_index(vectors, dense), documents=documents)

    def write(self, folder: Path) -> None:
        """Write an unsaved segment into `folder` (which must not exist)."""
        faiss = _faiss()

        folder.mkdir(parents=True)
        write_store(folder / "store.sqlite", self.documents or [], self.chunks)
        np.save(folder / "vectors.npy", self.vectors)
        self.postings.save(folder / "lexical")
        if _is_hnsw(self.dense):
            faiss.write_index(self.dense, str(folder / "dense.faiss"))

    def link(self, folder: Path) -> None:
        """Hard-link a saved segment's files into `folder`: no bytes written (copied where the
        filesystem cannot link)."""
        for rel in self.files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.folder / rel, target)
            except OSError:
                shutil.copy2(self.folder / rel, target)

    def saved_at(self, folder: Path, files: dict[str, dict]) -> None:
        """Once written or linked: read from `folder` from now on, and free the documents' texts."""
        self.folder, self.files, self.documents = folder, files, None
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)

    @classmethod
    def load(cls, name: str, folder: Path, files: dict[str, dict], dense: dict) -> Segment:
        """Read a saved segment; `Unreadable` names the file a damaged segment fails on."""
        faiss = _faiss()

        store = folder / "store.sqlite"
        chunks, doc_ids = _reading("store.sqlite", lambda: (
            read_chunks(store), tuple(r[0] for r in _read(store, "SELECT doc_id FROM documents ORDER BY rowid"))))
        vectors = _reading("vectors.npy", lambda: np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False))
        postings = _reading("lexical/", lambda: Postings.load(folder / "lexical", [c.search_text for c in chunks]))
        if (folder / "dense.faiss").exists():  # an HNSW graph, built when the segment was written
            dense = _reading("dense.faiss", lambda: faiss.read_index(str(folder / "dense.faiss")))
        else:
            dense = _reading("vectors.npy", lambda: dense_index(np.ascontiguousarray(vectors, dtype=np.float32),
                                                                 {**dense, "kind": "flat"}))
        if not (len(chunks) == len(vectors) == dense.ntotal == len(postings)):
            raise Unreadable("", f"{len(chunks)} 个片段、{len(vectors)} 个向量、{dense.ntotal} 个向量索引条目、"
                                 f"{len(postings)} 个关键词索引行不一致")
        return cls(name, doc_ids, chunks, vectors, postings, dense, folder=folder, files=files)

    def read_documents(self, doc_ids: list[str] | None = None) -> list[Document]:
        if self.documents is not None:
            return [d for d in self.documents if doc_ids is None or d.doc_id in doc_ids]
        return read_documents(self.folder / "store.sqlite", doc_ids)


# What a damaged file makes sqlite, numpy, faiss or json raise while reading it.
READ_ERRORS = (OSError, ValueError, RuntimeError, EOFError, KeyError, TypeError, IndexError, sqlite3.Error)


class Unreadable(Exception):
    """A segment file that cannot be read: `name` (relative to the segment), and what went wrong."""

    def __init__(self, name: str, what: str):
        super().__init__(f"{name}: {what}")
        self.name, self.what = name, what


def _reading(name: str, read):
    try:
        return read()
    except READ_ERRORS as e:
        raise Unreadable(name, f"{type(e).__name__}: {e}") from e


def _is_hnsw(dense) -> bool:
    return isinstance(dense, _faiss().IndexHNSW)


HNSW_MIN_ROWS = 20_000  # measured (README, "规模基准"): below this a flat search is as fast and exact


@lru_cache(maxsize=1)
def _faiss():
    """faiss, searching on one thread: a single query's flat search spread over OpenMP threads costs
    20–30 ms on two busy cores against 0.25 ms on one (README, "规模基准")."""
    import faiss  # noqa: PLC0415

    faiss.omp_set_num_threads(1)
    return faiss


def dense_index(vectors: np.ndarray, dense: dict):
    """The faiss index over a segment's vectors: `dense["kind"]` flat, hnsw, or auto (HNSW from
    `hnsw_min_rows` rows on, flat below)."""
    faiss = _faiss()
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    kind = dense.get("kind", "flat")
    if kind == "auto":
        kind = "hnsw" if len(vectors) >= dense.get("hnsw_min_rows", HNSW_MIN_ROWS) else "flat"
    if kind != "hnsw":
        index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(vectors)
        return index
    index = faiss.IndexHNSWFlat(dim, dense.get("hnsw_m", 32), faiss.METRIC_INNER_PRODUCT)
    if len(vectors):
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building the graph is worth every core
        try:
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(1)
    return index


class Dense:
    """Nearest neighbours over the live rows of several segments, merged by score."""

    def __init__(self, parts: list[tuple[object, np.ndarray]], n_rows: int):
        self.parts = parts  # (faiss index, global row of each local row or -1)
        self.ntotal = n_rows
        self._alive = [None if (rows >= 0).all() else rows >= 0 for _, rows in parts]

    def search(self, query_vector: np.ndarray, k: int, mask: np.ndarray | None = None,
               ef_search: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """Global rows and inner-product scores of the `k` nearest allowed rows."""
        faiss = _faiss()

        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        found_rows, found_scores = [], []
        for (index, rows), alive in zip(self.parts, self._alive):
            ok = alive
            if mask is not None:
                ok = np.where(rows >= 0, mask[np.maximum(rows, 0)], False)
            allowed = index.ntotal if ok is None else int(ok.sum())
            if allowed == 0:
                continue
            sel = None
            if ok is not None:
                bits = np.packbits(ok, bitorder="little")
                sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # its size in bytes
            if _is_hnsw(index):
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef_search)
            else:
                params = faiss.SearchParameters(sel=sel) if sel is not None else None
            scores, local = index.search(q, min(k, allowed), params=params)
            keep = local[0] >= 0
            found_rows.append(rows[local[0][keep]])
            found_scores.append(scores[0][keep])
        if not found_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows, scores = np.concatenate(found_rows), np.concatenate(found_scores)
        order = np.argsort(-scores, kind="stable")[:k]
        return rows[order].astype(np.int64), scores[order]


# ----- the store (also read by the trash and the backup) -----

def write_store(path: Path, documents: list[Document], chunks: list[Chunk]) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(d.doc_id, d.title, d.date, d.source, d.region, d.kind, d.path, d.fmt, d.checksum,
              d.raw_text, d.text, array("i", d.offsets).tobytes(),
              ",".join(f"{p}:{c:.3f}" for p, c in d.page_ocr)) for d in documents],
        )
        con.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(i, c.chunk_id, c.doc_id, c.ordinal, c.kind, c.section, c.text, c.search_text,
              c.start, c.end, c.raw_start, c.raw_end, c.region, c.page, c.row, c.ocr_confidence)
             for i, c in enumerate(chunks)],
        )
        con.commit()
    finally:
        con.close()


def _read(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def read_chunks(path: Path) -> list[Chunk]:
    """The chunks in row order (row i is vector i). A store written before chunks had pages (or OCR
    confidences) has no page, sheet_row (ocr_confidence) column: its chunks read with 0 (unknown)."""
    columns = {r[1] for r in _read(path, "PRAGMA table_info(chunks)")}
    where = ", ".join(c if c in columns else "0" for c in ("page", "sheet_row", "ocr_confidence"))
    return [Chunk(*r) for r in _read(path, 'SELECT chunk_id, doc_id, ordinal, kind, section, text, search_text, '
                                           f'start, "end", raw_start, raw_end, region, {where} FROM chunks ORDER BY row')]


def read_documents(path: Path, doc_ids: list[str] | None = None) -> list[Document]:
    """Stored documents (all, or those named) with their original and cleaned text."""
    # a store written before OCR confidences were kept has no page_ocr column
    page_ocr = "page_ocr" if "page_ocr" in {r[1] for r in _read(path, "PRAGMA table_info(documents)")} else "''"
    select = ("SELECT doc_id, title, date, source, region, kind, path, fmt, checksum, raw_text, text, offsets, "
              f"{page_ocr} FROM documents")
    if doc_ids is None:
        rows = _read(path, select)
    else:
        rows = [r for d in doc_ids for r in _read(path, f"{select} WHERE doc_id = ?", (d,))]
    return [Document(*head, offsets=tuple(array("i", offsets)), page_ocr=_page_ocr(pages))
            for *head, offsets, pages in rows]


def _page_ocr(value: str) -> tuple[tuple[int, float], ...]:
    """"2:0.981,3:0.640" as written above, read back."""
    return tuple((int(p), float(c)) for p, _, c in (part.partition(":") for part in (value or "").split(",") if part))
