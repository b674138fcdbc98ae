"""The index: a folder of plain files that describes itself.

    index/default/
      CURRENT -> versions/20261122T101500-3f2a…   (symlink, swapped atomically)
      versions/<id>/
        manifest.json   model, dimension, chunker, library versions, document checksums, counts
        store.sqlite    documents (metadata, original and cleaned text) and chunks
        vectors.npy     one L2-normalised float32 row per chunk, in chunk order
        dense.faiss     IndexFlatIP (or HNSW) over those rows
        bm25/           bm25s arrays and the tokenizer vocabulary

A new version is written into a temporary folder, renamed into `versions/`,
and `CURRENT` is replaced in one `os.replace`: a crash at any point leaves
the previous version live, and readers holding a version finish on it.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from array import array
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata as pkg_metadata
from pathlib import Path

import numpy as np

from .errors import DocumentNotFound, IndexMismatch, IndexNotFound
from .lexical import Lexical
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_KEEP_VERSIONS = 2  # the live one and the one before it, for readers still on it
_LIBRARIES = ("faiss-cpu", "bm25s", "jieba", "opencc", "sentence-transformers", "transformers", "torch")

_SCHEMA = """
CREATE TABLE documents (
  doc_id TEXT PRIMARY KEY, title TEXT, date TEXT, source TEXT, region TEXT, kind TEXT,
  path TEXT, fmt TEXT, checksum TEXT, raw_text TEXT, text TEXT, offsets BLOB
);
CREATE TABLE chunks (
  row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE, doc_id TEXT, ordinal INTEGER, kind TEXT,
  section TEXT, text TEXT, search_text TEXT, start INTEGER, "end" INTEGER,
  raw_start INTEGER, raw_end INTEGER, region TEXT
);
CREATE INDEX chunks_doc ON chunks(doc_id);
"""


@dataclass(frozen=True)
class DocumentInfo:
    """A document's metadata without its text: what listings show."""

    doc_id: str
    title: str
    date: str
    source: str
    region: str
    kind: str
    path: str
    fmt: str
    checksum: str
    chunks: int


def library_versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _dense_index(vectors: np.ndarray, kind: str, hnsw_m: int):
    import faiss  # noqa: PLC0415

    dim = vectors.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


class Index:
    """A loaded index version: chunks and vectors in memory, document texts on disk."""

    def __init__(self, folder: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, dense, lexical):
        self.folder = folder
        self.manifest = manifest
        self.chunks = chunks
        self.vectors = vectors
        self.dense = dense
        self.lexical = lexical
        self.row_of = {c.chunk_id: i for i, c in enumerate(chunks)}
        self.docs = {d["doc_id"]: DocumentInfo(**d) for d in manifest["documents"]}
        self._by_doc: dict[str, list[Chunk]] | None = None

    # ----- building -----

    @classmethod
    def build(
        cls,
        documents: list[Document],
        chunks: list[Chunk],
        vectors: np.ndarray,
        *,
        model: dict,
        chunker: dict,
        lexical_fingerprint: str,
        dense_kind: str = "flat",
        hnsw_m: int = 32,
    ) -> "Index":
        """An in-memory index (not yet saved); `vectors[i]` embeds `chunks[i]`."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        counts: dict[str, int] = {}
        for c in chunks:
            counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": model,
            "chunker": chunker,
            "lexical": {"tokenizer": "jieba", "fingerprint": lexical_fingerprint},
            "dense": {"kind": dense_kind, "hnsw_m": hnsw_m, "metric": "inner_product"},
            "libraries": library_versions(),
            "counts": {"documents": len(documents), "chunks": len(chunks)},
            "documents": [
                asdict(DocumentInfo(d.doc_id, d.title, d.date, d.source, d.region, d.kind,
                                    d.path, d.fmt, d.checksum, counts.get(d.doc_id, 0)))
                for d in documents
            ],
        }
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        lexical = Lexical.build([c.search_text for c in chunks]) if chunks else None
        return cls(Path(), manifest, chunks, vectors, _dense_index(vectors, dense_kind, hnsw_m), lexical)

    def save(self, index_dir: Path, documents: list[Document]) -> Path:
        """Write this index (built from `documents`) as a new version of `index_dir` and make it live."""
        import faiss  # noqa: PLC0415

        versions = index_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        version = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        tmp = versions / f".tmp-{version}"
        tmp.mkdir()
        try:
            self.manifest["version"] = version
            self._write_store(tmp / "store.sqlite", documents)
            np.save(tmp / "vectors.npy", self.vectors)
            faiss.write_index(self.dense, str(tmp / "dense.faiss"))
            if self.lexical is not None:
                (tmp / "bm25").mkdir()
                self.lexical.save(tmp / "bm25")
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, ensure_ascii=False, indent=2))
            final = versions / version
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        link = index_dir / f".CURRENT-{version}"
        link.symlink_to(Path("versions") / version)
        os.replace(link, index_dir / "CURRENT")  # the atomic switch
        self.folder = final
        _prune(versions, keep=version)
        log.info("saved index version %s: %d documents, %d chunks", version,
                 len(self.manifest["documents"]), len(self.chunks))
        return final

    def _write_store(self, path: Path, documents: list[Document]) -> None:
        con = sqlite3.connect(path)
        try:
            con.executescript(_SCHEMA)
            con.executemany(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(d.doc_id, d.title, d.date, d.source, d.region, d.kind, d.path, d.fmt, d.checksum,
                  d.raw_text, d.text, array("i", d.offsets).tobytes()) for d in documents],
            )
            con.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(i, c.chunk_id, c.doc_id, c.ordinal, c.kind, c.section, c.text, c.search_text,
                  c.start, c.end, c.raw_start, c.raw_end, c.region) for i, c in enumerate(self.chunks)],
            )
            con.commit()
        finally:
            con.close()

    # ----- loading -----

    @classmethod
    def load(cls, index_dir: Path, expect: dict | None = None) -> "Index":
        """Load the live version; `expect` holds manifest values the settings require
        (model identity and dimension, chunker) and a mismatch is refused with a clear message."""
        import faiss  # noqa: PLC0415

        folder = live_version(index_dir)
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatch(
                f"索引 {folder} 的格式版本为 {manifest.get('format_version')}，当前程序需要 {FORMAT_VERSION}；"
                "请运行 `qa ingest --rebuild` 重建索引。"
            )
        for key, want in (expect or {}).items():
            section, _, field = key.partition(".")
            have = manifest.get(section, {}).get(field)
            if have != want:
                raise IndexMismatch(
                    f"索引 {index_dir} 由 {key}={have!r} 构建，当前设置为 {want!r}；"
                    "请运行 `qa ingest --rebuild` 用当前设置重建索引。"
                )
        con = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True)
        try:
            rows = con.execute(
                'SELECT chunk_id, doc_id, ordinal, kind, section, text, search_text, start, "end", '
                "raw_start, raw_end, region FROM chunks ORDER BY row"
            ).fetchall()
        finally:
            con.close()
        chunks = [Chunk(*r) for r in rows]
        vectors = np.load(folder / "vectors.npy")
        dense = faiss.read_index(str(folder / "dense.faiss"))
        lexical = Lexical.load(folder / "bm25") if (folder / "bm25").exists() else None
        if not (len(chunks) == len(vectors) == dense.ntotal):
            raise IndexMismatch(f"索引 {folder} 已损坏：{len(chunks)} 个片段、{len(vectors)} 个向量、"
                                f"{dense.ntotal} 个向量索引条目不一致；请运行 `qa ingest --rebuild`。")
        log.info("loaded index %s: %d documents, %d chunks", folder.name, len(manifest["documents"]), len(chunks))
        return cls(folder, manifest, chunks, vectors, dense, lexical)

    def document(self, doc_id: str) -> Document:
        """A stored document with its original and cleaned text."""
        con = sqlite3.connect(f"file:{self.folder / 'store.sqlite'}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        finally:
            con.close()
        if row is None:
            raise DocumentNotFound(f"知识库中没有文档 {doc_id!r}")
        *head, offsets = row
        return Document(*head, offsets=tuple(array("i", offsets)))

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        if self._by_doc is None:
            self._by_doc = {}
            for c in self.chunks:
                self._by_doc.setdefault(c.doc_id, []).append(c)
        return list(self._by_doc.get(doc_id, ()))


def live_version_name(index_dir: Path) -> str | None:
    """The live version's folder name (one `readlink`: cheap enough to ask on every request)."""
    try:
        return Path(os.readlink(index_dir / "CURRENT")).name
    except FileNotFoundError:
        return None


@contextmanager
def writer_lock(index_dir: Path):
    """Serialise writers of one index across threads and processes (the API's ingest jobs, a
    `qa ingest` run beside a running server, several uvicorn workers): each writer must start from
    the version the previous one wrote, or one's documents would be lost."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".writer.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def live_version(index_dir: Path) -> Path:
    current = index_dir / "CURRENT"
    if not current.exists():
        raise IndexNotFound(f"索引 {index_dir} 不存在；请先运行 `qa ingest corpus/` 构建索引。")
    return current.resolve()


def _prune(versions: Path, keep: str) -> None:
    """Delete all but the newest versions, and temporary folders left by crashed builds."""
    names = sorted(p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in names[:-_KEEP_VERSIONS]:
        if name != keep:
            shutil.rmtree(versions / name, ignore_errors=True)
    stale = time.time() - 3600  # an hour-old temporary folder is a crashed build, not a running one
    for p in versions.iterdir():
        if p.name.startswith(".tmp-") and p.stat().st_mtime < stale:
            shutil.rmtree(p, ignore_errors=True)
