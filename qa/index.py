"""The index: a folder of plain files that describes itself.

    index/default/
      CURRENT -> versions/20261122T101500-3f2a…   (symlink, swapped atomically)
      versions/<id>/
        manifest.json   model, dimension, chunker, library versions, document checksums, counts,
                        and the size and sha256 of every other file (checked on load)
        store.sqlite    documents (metadata, original and cleaned text) and chunks
        vectors.npy     one L2-normalised float32 row per chunk, in chunk order
        dense.faiss     IndexFlatIP (or HNSW) over those rows
        bm25/           bm25s arrays and the tokenizer vocabulary

A new version is written into a temporary folder, renamed into `versions/`,
and `CURRENT` is replaced in one `os.replace`: a crash at any point leaves
the previous version live, and readers holding a version finish on it.
Every writer holds `writer_lock`. A `CURRENT` naming no folder falls back to the newest
intact version, and says so; a damaged live version is refused with what to do.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from array import array
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata as pkg_metadata
from pathlib import Path

import numpy as np

from .errors import DocumentNotFound, IndexCorrupt, IndexMismatch, IndexNotFound, NoEarlierVersion
from .integrity import corrupt, file_checksums, manifest_of, out_of_space, problem, read_manifest, verify
from .lexical import Lexical
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RECOVERY_NOTE = "recovery.json"  # written when a dangling CURRENT was re-pointed; removed by the next write
# What a damaged file makes sqlite, numpy, faiss or bm25s raise while reading it.
_READ_ERRORS = (OSError, ValueError, RuntimeError, EOFError, KeyError, TypeError, IndexError, sqlite3.Error)
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
        self._derived: dict[str, object] = {}  # see `derived`
        # Said in /readyz and GET /index when this version was made live by recovery, not by a write.
        self.warning: str | None = None

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
        known_splits=None,
    ) -> "Index":
        """An in-memory index (not yet saved); `vectors[i]` embeds `chunks[i]`. `known_splits(text)`
        gives the BM25 words an earlier version saved for a chunk text (see `split_lookup`)."""
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
        lexical = Lexical.build([c.search_text for c in chunks], known_splits) if chunks else None
        return cls(Path(), manifest, chunks, vectors, _dense_index(vectors, dense_kind, hnsw_m), lexical)

    def save(self, index_dir: Path, documents: list[Document]) -> Path:
        """Write this index (built from `documents`) as a new version of `index_dir` and make it live."""
        with writer_lock(index_dir), out_of_space(index_dir, "保存新的索引版本"):
            return self._save(index_dir, documents)

    def _save(self, index_dir: Path, documents: list[Document]) -> Path:
        import faiss  # noqa: PLC0415

        versions = index_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        previous = live_version_name(index_dir)
        version = new_version_name()
        tmp, final = versions / f".tmp-{version}", versions / version
        try:
            tmp.mkdir()
            self.manifest["version"] = version
            write_store(tmp / "store.sqlite", documents, self.chunks)
            np.save(tmp / "vectors.npy", self.vectors)
            faiss.write_index(self.dense, str(tmp / "dense.faiss"))
            if self.lexical is not None:
                (tmp / "bm25").mkdir()
                self.lexical.save(tmp / "bm25")
            self.manifest["files"] = file_checksums(tmp, sync=True)
            write_json(tmp / "manifest.json", self.manifest)
            os.replace(tmp, final)
            switch(index_dir, version)  # the atomic switch
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if live_version_name(index_dir) != version:
                shutil.rmtree(final, ignore_errors=True)
            raise
        (index_dir / RECOVERY_NOTE).unlink(missing_ok=True)
        self.folder = final
        prune(index_dir, version, previous)
        log.info("saved index version %s: %d documents, %d chunks", version,
                 len(self.manifest["documents"]), len(self.chunks))
        return final

    # ----- loading -----

    @classmethod
    def load(cls, index_dir: Path, expect: dict | None = None) -> "Index":
        """Load the live version; `expect` holds manifest values the settings require
        (model identity and dimension, chunker) and a mismatch is refused with a clear message.
        A damaged file is refused as `IndexCorrupt`, naming it and what to do."""
        import faiss  # noqa: PLC0415

        folder = live_version(index_dir)
        manifest = read_manifest(folder)
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
        verify(folder, manifest)
        chunks = _reading(folder, "store.sqlite", lambda: read_chunks(folder / "store.sqlite"))
        vectors = _reading(folder, "vectors.npy", lambda: np.load(folder / "vectors.npy", allow_pickle=False))
        dense = _reading(folder, "dense.faiss", lambda: faiss.read_index(str(folder / "dense.faiss")))
        lexical = None
        if (folder / "bm25").exists():
            lexical = _reading(folder, "bm25/", lambda: Lexical.load(folder / "bm25"))
        index = _reading(folder, "manifest.json", lambda: cls(folder, manifest, chunks, vectors, dense, lexical))
        if not (len(chunks) == len(vectors) == dense.ntotal):
            raise corrupt(folder, f"{len(chunks)} 个片段、{len(vectors)} 个向量、{dense.ntotal} 个向量索引条目不一致")
        if len(vectors) and not _dense_matches(dense, vectors):
            raise corrupt(folder, "dense.faiss 中的向量与 vectors.npy 不一致")
        index.warning = _recovery_warning(index_dir, folder.name)
        log.info("loaded index %s: %d documents, %d chunks", folder.name, len(manifest["documents"]), len(chunks))
        return index

    def document(self, doc_id: str) -> Document:
        """A stored document with its original and cleaned text."""
        docs = read_documents(self.folder / "store.sqlite", [doc_id])
        if not docs:
            raise DocumentNotFound(f"知识库中没有文档 {doc_id!r}")
        return docs[0]

    def derived(self, key: str, make):
        """`make(self)`, computed once per loaded version (filter columns, normalised titles):
        a version never changes, so what is derived from it never goes stale."""
        value = self._derived.get(key)
        if value is None:
            value = self._derived[key] = make(self)  # two threads may both make it: same value
        return value

    def split_lookup(self):
        """The BM25 words this version saved for each chunk text, for building the next version
        without splitting unchanged chunks again (knows nothing for a version saved before words were kept)."""
        return Lexical.stored_splits(self.folder / "bm25", [c.search_text for c in self.chunks])

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        if self._by_doc is None:
            self._by_doc = {}
            for c in self.chunks:
                self._by_doc.setdefault(c.doc_id, []).append(c)
        return list(self._by_doc.get(doc_id, ()))


def _reading(folder: Path, name: str, read):
    """`read()`, with whatever a damaged file makes the reader raise turned into `IndexCorrupt` naming it."""
    try:
        return read()
    except _READ_ERRORS as e:
        raise corrupt(folder, f"文件 {name} 读取失败（{type(e).__name__}: {e}）") from e


def _dense_matches(dense, vectors: np.ndarray) -> bool:
    """The first rows of the faiss index are the stored vectors (a cheap check for manifests
    without checksums: a garbage dense.faiss otherwise serves scores like 4e+37)."""
    n = min(8, len(vectors))
    try:
        rows = dense.reconstruct_n(0, n)
    except RuntimeError:  # an index type that cannot give its vectors back: nothing to compare
        return True
    return bool(np.allclose(rows, vectors[:n], atol=1e-4))


# ----- the store (also read by the trash and the backup) -----

def write_store(path: Path, documents: list[Document], chunks: list[Chunk]) -> None:
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
              c.start, c.end, c.raw_start, c.raw_end, c.region) for i, c in enumerate(chunks)],
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
    """The chunks in row order (row i is vector i)."""
    return [Chunk(*r) for r in _read(path, 'SELECT chunk_id, doc_id, ordinal, kind, section, text, search_text, '
                                           'start, "end", raw_start, raw_end, region FROM chunks ORDER BY row')]


def read_documents(path: Path, doc_ids: list[str] | None = None) -> list[Document]:
    """Stored documents (all, or those named) with their original and cleaned text."""
    if doc_ids is None:
        rows = _read(path, "SELECT * FROM documents")
    else:
        rows = [r for d in doc_ids for r in _read(path, "SELECT * FROM documents WHERE doc_id = ?", (d,))]
    return [Document(*head, offsets=tuple(array("i", offsets))) for *head, offsets in rows]


def write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, ensure_ascii=False, indent=2))
        f.flush()
        os.fsync(f.fileno())


# ----- versions -----

def new_version_name() -> str:
    """Sortable to the microsecond, so "newest" is well defined even for writes within a second."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    return f"{stamp}{int(now * 1e6) % 1_000_000:06d}-{uuid.uuid4().hex[:8]}"


def version_names(index_dir: Path) -> list[str]:
    """The version folders on disk, oldest first (temporary folders excluded)."""
    versions = index_dir / "versions"
    if not versions.is_dir():
        return []
    return sorted(p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))


def live_version_name(index_dir: Path) -> str | None:
    """The live version's folder name (one `readlink`: cheap enough to ask on every request)."""
    try:
        return Path(os.readlink(index_dir / "CURRENT")).name
    except (FileNotFoundError, OSError):  # missing, or not a link at all
        return None


def live_version(index_dir: Path) -> Path:
    """The live version's folder. When `CURRENT` is missing or names no folder (its version deleted
    or renamed) while versions remain, the newest intact one is made live and a note says so."""
    current = index_dir / "CURRENT"
    if current.is_dir():
        return current.resolve()
    if not version_names(index_dir):
        raise IndexNotFound(f"索引 {index_dir} 不存在；请先运行 `qa ingest corpus/` 构建索引。")
    return _recover(index_dir)


def _recover(index_dir: Path) -> Path:
    with writer_lock(index_dir):
        current = index_dir / "CURRENT"
        if current.is_dir():  # another process recovered while this one waited for the lock
            return current.resolve()
        was = live_version_name(index_dir)
        problems = []
        for name in reversed(version_names(index_dir)):
            folder = index_dir / "versions" / name
            if what := problem(folder):
                problems.append(f"{name}：{what}")
                continue
            switch(index_dir, name)
            write_json(index_dir / RECOVERY_NOTE, {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "from": was, "to": name})
            log.warning("CURRENT 指向的版本 %s 不存在，已切换到最近的完好版本 %s / CURRENT named a missing "
                        "version (%s): switched to the newest intact version %s", was, name, was, name)
            return folder
        raise IndexCorrupt(f"索引 {index_dir} 的 CURRENT 指向的版本 {was or '（无）'} 不存在，其余版本也都已损坏"
                           f"（{'；'.join(problems)}）；请用 `qa restore 备份.tar` 恢复备份，"
                           "或运行 `qa ingest --rebuild`。")


def _recovery_warning(index_dir: Path, name: str) -> str | None:
    try:
        note = json.loads((index_dir / RECOVERY_NOTE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or note.get("to") != name:
        return None
    return (f"{note.get('at')} 发现 CURRENT 指向的版本 {note.get('from') or '（无）'} 不存在，已自动切换到磁盘上"
            f"最近的完好版本 {name}；此后写入的文档可能不在其中，请核对文档列表（`qa trash` 可找回已删除的文档）。")


def switch(index_dir: Path, name: str) -> None:
    """Make `versions/<name>` live: one atomic rename of a fresh symlink over `CURRENT`."""
    link = index_dir / f".CURRENT-{name}"
    link.unlink(missing_ok=True)
    link.symlink_to(Path("versions") / name)
    os.replace(link, index_dir / "CURRENT")
    fd = os.open(index_dir, os.O_RDONLY)  # the rename itself must survive a power cut
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(index_dir: Path, live: str, previous: str | None) -> None:
    """Keep the live version and the one live before it (readers may still be on it); delete the rest."""
    names = version_names(index_dir)
    if previous not in names:
        previous = next((n for n in reversed(names) if n != live), None)
    for name in names:
        if name not in (live, previous):
            shutil.rmtree(index_dir / "versions" / name, ignore_errors=True)


_held = threading.local()


@contextmanager
def writer_lock(index_dir: Path):
    """Serialise writers of one index across threads and processes (the API's ingest jobs, a
    `qa ingest` run beside a running server, several uvicorn workers): each writer must start from
    the version the previous one wrote, or one's documents would be lost. Re-entrant within a
    thread. Since every writer holds it, a temporary file seen by the holder is a dead writer's."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(index_dir)
    held = _held.__dict__.setdefault("dirs", set())
    if key in held:
        yield
        return
    with open(index_dir / ".writer.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        held.add(key)
        try:
            _remove_leftovers(index_dir)
            yield
        finally:
            held.discard(key)
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_leftovers(index_dir: Path) -> None:
    found = [*(index_dir / "versions").glob(".tmp-*"), *index_dir.glob(".CURRENT-*"),
             *index_dir.glob(".restore-*"), *(index_dir / "trash").glob(".tmp-*")]
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    if found:
        log.warning("removed %d leftovers of an interrupted write: %s", len(found), ", ".join(p.name for p in found))


# ----- the admin's view: versions on disk, rollback -----

@dataclass(frozen=True)
class VersionInfo:
    name: str
    created_at: str
    documents: int
    chunks: int
    live: bool
    problem: str  # "" when every file is whole


def versions(index_dir: Path) -> list[VersionInfo]:
    """Every version on disk, oldest first, each checked (sizes and sha256)."""
    live = live_version_name(index_dir)
    out = []
    for name in version_names(index_dir):
        folder = index_dir / "versions" / name
        manifest, what = manifest_of(folder)
        manifest = manifest or {}
        counts = manifest.get("counts", {})
        out.append(VersionInfo(name, manifest.get("created_at", ""), counts.get("documents", 0),
                               counts.get("chunks", 0), name == live, what or problem(folder, manifest)))
    return out


def rollback(index_dir: Path) -> tuple[str | None, str]:
    """Make the newest intact version older than the live one live (under the writer lock);
    returns (the version live before, the version live now)."""
    with writer_lock(index_dir), out_of_space(index_dir, "切换在线版本"):
        was = live_version_name(index_dir)
        names = version_names(index_dir)
        older = [n for n in names if n < was] if was in names else names
        skipped = []
        for name in reversed(older):
            if what := problem(index_dir / "versions" / name):
                skipped.append(f"{name}：{what}")
                continue
            switch(index_dir, name)
            (index_dir / RECOVERY_NOTE).unlink(missing_ok=True)
            log.warning("rolled back: live version %s -> %s", was, name)
            return was, name
        raise NoEarlierVersion(f"没有比在线版本 {was or '（无）'} 更早的完好版本可以回退"
                               + (f"（{'；'.join(skipped)}）" if skipped else "")
                               + "；可用 `qa restore 备份.tar` 恢复备份，或运行 `qa ingest --rebuild` 重建索引。")

