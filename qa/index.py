"""The index: a folder of plain files that describes itself.

    index/default/
      CURRENT -> versions/20261122T101500-3f2a…   (symlink, swapped atomically)
      versions/<id>/
        manifest.json   model, dimension, chunker, library versions, documents, counts, the
                        segments and their tombstones, and the size and sha256 of every other
                        file (checked on load)
        segments/<name>/  store.sqlite, vectors.npy, lexical/ (see qa/segment.py)

An update writes its new and changed documents as one new segment and marks the documents it
replaces or deletes as deleted (tombstones) in the segments holding them; every other segment's
files are hard-linked from the version before, so an edit writes what it changes. A version with
more than `MAX_SEGMENTS` segments merges its smallest ones, and a segment more than half deleted
is rewritten with the next merge (see `_merge_plan`). BM25 keeps statistics over all live chunks,
so a segmented index ranks exactly as one built from scratch.

A new version is written into a temporary folder, renamed into `versions/`,
and `CURRENT` is replaced in one `os.replace`: a crash at any point leaves
the previous version live, and readers holding a version finish on it.
Every writer holds `writer_lock`. A `CURRENT` naming no folder falls back to the newest
intact version, and says so; a damaged live version is refused with what to do.
Versions written before segments (format 1: the files at the top of the version folder) load as
one segment, and the first update rewrites it as a segment.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from importlib import metadata as pkg_metadata
from pathlib import Path

import numpy as np

from .errors import (
    DocumentNotFound,
    IndexCorrupt,
    IndexMismatch,
    IndexNotFound,
    NoEarlierVersion,
)
from .integrity import (
    corrupt,
    file_checksums,
    manifest_of,
    out_of_space,
    problem,
    read_manifest,
    verify,
)
from .lexical import Lexical, Postings
from .segment import (  # noqa: F401 - re-exported
    HNSW_MIN_ROWS,
    READ_ERRORS,
    Dense,
    Segment,
    Unreadable,
    read_chunks,
    read_documents,
    write_store,
)
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MAX_SEGMENTS = 8  # more than this after a write: the smallest are merged (see `_merge_plan`)
RECOVERY_NOTE = "recovery.json"  # written when a dangling CURRENT was re-pointed; removed by the next write
_LIBRARIES = ("faiss-cpu", "bm25s", "jieba", "opencc", "sentence-transformers", "transformers", "torch")


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
    original_sha256: str = ""  # see `Document`: absent from manifests written before originals were kept
    original_name: str = ""


def library_versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def new_segment_name() -> str:
    return f"s{new_version_name()}"


class Index:
    """A loaded index version: its segments, and the live chunks of all of them in one row space
    (row i is `chunks[i]`; BM25 and dense search answer in rows). Document texts stay on disk."""

    def __init__(self, folder: Path, manifest: dict, segments: list[Segment], deleted: dict[str, frozenset[str]]):
        self.folder = folder
        self.manifest = manifest
        self.segments = segments
        self.deleted = deleted  # segment name -> documents deleted from it (tombstones)
        self.chunks: list[Chunk] = []
        parts_rows = []
        seg_of, local_of = [], []
        for s, seg in enumerate(segments):
            dead = deleted.get(seg.name, frozenset())
            rows = np.full(len(seg.chunks), -1, dtype=np.int64)
            for i, c in enumerate(seg.chunks):
                if c.doc_id not in dead:
                    rows[i] = len(self.chunks)
                    self.chunks.append(c)
            live = np.flatnonzero(rows >= 0)
            seg_of.append(np.full(len(live), s, dtype=np.int32))
            local_of.append(live.astype(np.int64))
            parts_rows.append(rows)
        self._seg_of = np.concatenate(seg_of) if seg_of else np.zeros(0, dtype=np.int32)
        self._local_of = np.concatenate(local_of) if local_of else np.zeros(0, dtype=np.int64)
        n = len(self.chunks)
        self.lexical = Lexical([(seg.postings, r) for seg, r in zip(segments, parts_rows)], n) if n else None
        self.dense = Dense([(seg.dense, r) for seg, r in zip(segments, parts_rows)], n)
        self.row_of = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        self.docs = {d["doc_id"]: DocumentInfo(**d) for d in manifest["documents"]}
        # Which segment holds each live document: the last one written with it and not deleting it.
        self._home: dict[str, Segment] = {}
        for seg in segments:
            dead = deleted.get(seg.name, frozenset())
            for d in seg.doc_ids:
                if d not in dead:
                    self._home[d] = seg
        self._by_doc: dict[str, list[Chunk]] | None = None
        self._vectors: np.ndarray | None = None
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
        hnsw_min_rows: int = HNSW_MIN_ROWS,
        known_splits=None,
    ) -> Index:
        """An in-memory index of one segment (not yet saved); `vectors[i]` embeds `chunks[i]`.
        `known_splits(text)` gives the BM25 words an earlier version saved for a chunk text."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": model,
            "chunker": chunker,
            "lexical": {"tokenizer": "jieba", "fingerprint": lexical_fingerprint},
            "dense": {"kind": dense_kind, "hnsw_m": hnsw_m, "hnsw_min_rows": hnsw_min_rows, "metric": "inner_product"},
        }
        postings = Postings.build([c.search_text for c in chunks], known_splits)
        segment = Segment.make(new_segment_name(), documents, chunks, vectors, postings, manifest["dense"])
        return cls._assemble(manifest, [segment], {}, _infos(documents, chunks))

    @classmethod
    def _assemble(cls, base: dict, segments: list[Segment], deleted: dict[str, frozenset[str]],
                  documents: list[dict]) -> Index:
        manifest = {k: v for k, v in base.items() if k not in ("version", "files", "segments", "documents",
                                                                  "counts", "restored_from")}
        manifest.update(format_version=FORMAT_VERSION, created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        libraries=library_versions(), documents=documents)
        index = cls(Path(), manifest, segments, deleted)
        manifest["counts"] = {"documents": len(documents), "chunks": len(index.chunks)}
        manifest["segments"] = [{"name": s.name, "rows": len(s.chunks), "documents": list(s.doc_ids),
                                 "deleted": sorted(deleted.get(s.name, ()))} for s in segments]
        return index

    def changed(self, documents: list[Document], chunks: list[Chunk], vectors: np.ndarray,
                removed: set[str] | frozenset[str] = frozenset(), known_splits=None) -> Index:
        """A new in-memory version: `documents` (new, or replacing live ones of the same id) with
        their `chunks` and `vectors` as one new segment, and the documents `removed` deleted.
        Nothing of the segments kept is rewritten, except by a merge."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        gone = set(removed) | {d.doc_id for d in documents}
        deleted = dict(self.deleted)
        for doc_id in gone:
            home = self._home.get(doc_id)
            if home is not None:
                deleted[home.name] = deleted.get(home.name, frozenset()) | {doc_id}
        segments = list(self.segments)
        if documents:
            postings = Postings.build([c.search_text for c in chunks], known_splits)
            dense = self.manifest.get("dense", {})
            segments.append(Segment.make(new_segment_name(), documents, chunks, vectors, postings,
                                         dense))
        infos = [d for d in self.manifest["documents"] if d["doc_id"] not in gone] + _infos(documents, chunks)
        segments, deleted = self._merged(segments, deleted)
        return self._assemble(self.manifest, segments, {k: v for k, v in deleted.items() if v}, infos)

    def _merged(self, segments: list[Segment], deleted: dict[str, frozenset[str]]):
        plan = _merge_plan(segments, deleted)
        if not plan:
            return segments, deleted
        dense = self.manifest.get("dense", {})
        docs, chunks, vectors, parts = [], [], [], []
        for seg in plan:
            dead = deleted.get(seg.name, frozenset())
            docs += [d for d in seg.read_documents() if d.doc_id not in dead]
            keep = np.fromiter((c.doc_id not in dead for c in seg.chunks), dtype=bool, count=len(seg.chunks))
            chunks += [c for c, k in zip(seg.chunks, keep) if k]
            vectors.append(np.asarray(seg.vectors)[keep])
            parts.append((seg.postings, keep))
        merged = Segment.make(new_segment_name(), docs, chunks, np.concatenate(vectors), Postings.merge(parts),
                              dense)
        log.info("merged %d segments (%d live chunks) into %s", len(plan), len(chunks), merged.name)
        at = segments.index(plan[0])  # the merged segment takes the place of the oldest: order stays
        kept = [s for s in segments if s not in plan]
        kept.insert(min(at, len(kept)), merged)
        return kept, {k: v for k, v in deleted.items() if k not in {s.name for s in plan}}

    def save(self, index_dir: Path, documents: list[Document] | None = None) -> Path:
        """Write this index as a new version of `index_dir` and make it live (`documents` is
        accepted for callers of the time before segments; the segments hold them)."""
        with writer_lock(index_dir), out_of_space(index_dir, "保存新的索引版本"):
            return self._save(index_dir)

    def _save(self, index_dir: Path) -> Path:
        versions = index_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        previous = live_version_name(index_dir)
        version = new_version_name()
        tmp, final = versions / f".tmp-{version}", versions / version
        written: list[tuple[Segment, dict]] = []
        try:
            tmp.mkdir()
            self.manifest["version"] = version
            files: dict[str, dict] = {}
            for seg in self.segments:
                where = tmp / "segments" / seg.name
                if seg.folder is not None and seg.files:
                    seg.link(where)
                    own = seg.files
                else:
                    seg.write(where)
                    own = file_checksums(where, sync=True)
                files.update({f"segments/{seg.name}/{rel}": v for rel, v in own.items()})
                written.append((seg, own))
            self.manifest["files"] = files
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
        for seg, own in written:
            seg.saved_at(final / "segments" / seg.name, own)
        prune(index_dir, version, previous)
        log.info("saved index version %s: %d documents, %d chunks in %d segments", version,
                 len(self.manifest["documents"]), len(self.chunks), len(self.segments))
        return final

    # ----- loading -----

    @classmethod
    def load(cls, index_dir: Path, expect: dict | None = None, reuse: Index | None = None,
             same_vectors: Callable[[Index], bool] | None = None) -> Index:
        """Load the live version; `expect` holds manifest values the settings require
        (model identity and dimension, chunker) and a mismatch is refused with a clear message.
        A damaged file is refused as `IndexCorrupt`, naming it and what to do. Segments of `reuse`
        (the version loaded before) with the same files are taken as they are: after an update,
        only its new segment is read. `same_vectors(index)`, when given, may accept an index whose
        model identity differs (another local variant of the same model giving the same vectors)."""
        folder = live_version(index_dir)
        manifest = read_manifest(folder)
        if manifest.get("format_version") not in READABLE_FORMATS:
            raise IndexMismatch(
                f"索引 {folder} 的格式版本为 {manifest.get('format_version')}，当前程序需要 {FORMAT_VERSION}；"
                "请运行 `qa ingest --rebuild` 重建索引。"
            )
        other_model = None  # decided once the vectors can be compared (`same_vectors`)
        for key, want in (expect or {}).items():
            section, _, field = key.partition(".")
            have = manifest.get(section, {}).get(field)
            if have != want:
                error = IndexMismatch(
                    f"索引 {index_dir} 由 {key}={have!r} 构建，当前设置为 {want!r}；"
                    "请运行 `qa ingest --rebuild` 用当前设置重建索引。"
                )
                if key != "model.identity" or same_vectors is None:
                    raise error
                other_model = error
        verify(folder, manifest)
        dense = manifest.get("dense", {})

        segments, deleted = [], {}
        known = {s.name: s for s in reuse.segments if s.folder is not None} if reuse is not None else {}
        if manifest.get("format_version") == 1:
            segments.append(_reading(folder, "store.sqlite", lambda: _legacy_segment(folder, dense)))
        for entry in manifest.get("segments", ()):
            name = entry["name"]
            where = folder / "segments" / name
            prefix = f"segments/{name}/"
            own = {k[len(prefix):]: v for k, v in (manifest.get("files") or {}).items() if k.startswith(prefix)}
            seg = known.get(name)
            if seg is not None and seg.files == own:
                seg.folder = where  # read from this version's links: the one it was loaded from may be pruned
            else:
                try:
                    seg = Segment.load(name, where, own, dense)
                except Unreadable as e:
                    what = f"文件 {prefix}{e.name} 读取失败（{e.what}）" if e.name else f"{prefix}：{e.what}"
                    raise corrupt(folder, what) from e
            if len(seg.chunks) != entry.get("rows", len(seg.chunks)):
                raise corrupt(folder, f"{prefix} 有 {len(seg.chunks)} 个片段，清单记录为 {entry.get('rows')}")
            segments.append(seg)
            if entry.get("deleted"):
                deleted[name] = frozenset(entry["deleted"])
        index = _reading(folder, "manifest.json", lambda: cls(folder, manifest, segments, deleted))
        if len(index.chunks) != manifest.get("counts", {}).get("chunks", len(index.chunks)):
            raise corrupt(folder, f"在线片段 {len(index.chunks)} 个，清单记录为 {manifest['counts']['chunks']} 个")
        for seg in segments:
            if len(seg.vectors) and not _dense_matches(seg.dense, seg.vectors):
                raise corrupt(folder, f"segments/{seg.name}/dense.faiss 中的向量与 vectors.npy 不一致")
        if other_model is not None and not same_vectors(index):
            raise other_model
        index.warning = _recovery_warning(index_dir, folder.name)
        log.info("loaded index %s: %d documents, %d chunks in %d segments", folder.name, len(manifest["documents"]),
                 len(index.chunks), len(segments))
        return index

    # ----- reading -----

    @property
    def vectors(self) -> np.ndarray:
        """Every live row's vector, in row order (gathered once, on first use)."""
        if self._vectors is None:
            self._vectors = self.vectors_of(np.arange(len(self.chunks)))
        return self._vectors

    def vectors_of(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        dim = int(self.manifest.get("model", {}).get("dim") or (self.segments[0].vectors.shape[1] if self.segments else 0))
        out = np.zeros((len(rows), dim), dtype=np.float32)
        for s, seg in enumerate(self.segments):
            at = np.flatnonzero(self._seg_of[rows] == s)
            if len(at):
                out[at] = np.asarray(seg.vectors)[self._local_of[rows[at]]]
        return out

    def document(self, doc_id: str) -> Document:
        """A stored document with its original and cleaned text."""
        home = self._home.get(doc_id)
        docs = home.read_documents([doc_id]) if home is not None and doc_id in self.docs else []
        if not docs:
            raise DocumentNotFound(f"知识库中没有文档 {doc_id!r}")
        info = self.docs[doc_id]  # the segment's store does not hold the original; the manifest does
        return replace(docs[0], original_sha256=info.original_sha256, original_name=info.original_name)

    def derived(self, key: str, make):
        """`make(self)`, computed once per loaded version (filter columns, normalised titles):
        a version never changes, so what is derived from it never goes stale."""
        value = self._derived.get(key)
        if value is None:
            value = self._derived[key] = make(self)  # two threads may both make it: same value
        return value

    def split_lookup(self):
        """The BM25 words this version keeps for each live chunk text, for building another
        version without splitting unchanged chunks again."""
        where = {}
        for seg in self.segments:
            dead = self.deleted.get(seg.name, frozenset())
            for i, c in enumerate(seg.chunks):
                if c.doc_id not in dead:
                    where[c.search_text] = (seg.postings, i)

        def lookup(text: str) -> list[str] | None:
            hit = where.get(text)
            return None if hit is None else hit[0].words_of(hit[1])

        return lookup

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        if self._by_doc is None:
            self._by_doc = {}
            for c in self.chunks:
                self._by_doc.setdefault(c.doc_id, []).append(c)
        return list(self._by_doc.get(doc_id, ()))


def _infos(documents: list[Document], chunks: list[Chunk]) -> list[dict]:
    """The manifest's entry of each document, with its number of chunks (counted in one pass)."""
    counts = Counter(c.doc_id for c in chunks)
    return [asdict(DocumentInfo(d.doc_id, d.title, d.date, d.source, d.region, d.kind, d.path, d.fmt,
                                d.checksum, counts.get(d.doc_id, 0), d.original_sha256, d.original_name))
            for d in documents]


def _merge_plan(segments: list[Segment], deleted: dict[str, frozenset[str]]) -> list[Segment]:
    """The segments to merge into one after a write, in order: none while there are at most
    `MAX_SEGMENTS`; beyond, the smallest (by live chunks) until half that many remain, with every
    segment more than half deleted among them. Merging small segments keeps a write's cost near
    what it changed; a large segment is rewritten only when it is mostly deleted."""
    if len(segments) <= MAX_SEGMENTS:
        return []

    def live(seg: Segment) -> int:
        dead = deleted.get(seg.name, frozenset())
        return sum(1 for c in seg.chunks if c.doc_id not in dead)

    sizes = {seg.name: live(seg) for seg in segments}
    by_size = sorted(segments, key=lambda s: sizes[s.name])
    chosen = by_size[: len(segments) - MAX_SEGMENTS // 2 + 1]
    chosen += [s for s in segments if s not in chosen and sizes[s.name] * 2 < len(s.chunks)]
    return [s for s in segments if s in chosen]


def _legacy_segment(folder: Path, dense: dict) -> Segment:
    """A format-1 version's files as one segment, not yet saved as one (its BM25 words are
    taken from bm25/ where they were kept, split again otherwise)."""
    chunks = read_chunks(folder / "store.sqlite")
    texts = [c.search_text for c in chunks]
    postings = Postings.build(texts, _legacy_splits(folder / "bm25", texts))
    vectors = np.load(folder / "vectors.npy", allow_pickle=False)
    documents = read_documents(folder / "store.sqlite")
    return Segment.make(new_segment_name(), documents, chunks, vectors, postings, dense)


def _legacy_splits(folder: Path, texts: list[str]):
    try:
        vocab = json.loads((folder / "split_vocab.json").read_text(encoding="utf-8"))
        ids = np.load(folder / "split_ids.npy", allow_pickle=False)
        indptr = np.load(folder / "split_indptr.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if len(indptr) != len(texts) + 1:
        return None
    row = {t: i for i, t in enumerate(texts)}
    return lambda text: None if (i := row.get(text)) is None else [vocab[j] for j in ids[indptr[i]:indptr[i + 1]].tolist()]


def read_version(folder: Path, doc_ids: list[str]) -> tuple[list[Document], list[Chunk], np.ndarray | None]:
    """The live copies of documents `doc_ids` in a saved version, their chunks and vectors (for the
    trash): read from the segments holding them, without loading the version."""
    manifest = read_manifest(folder)
    if manifest.get("format_version") == 1:
        places = [(folder, frozenset())]
    else:
        places = [(folder / "segments" / e["name"], frozenset(e.get("deleted", ())))
                  for e in manifest.get("segments", ())]
    documents: dict[str, Document] = {}
    found: dict[str, tuple[list[Chunk], np.ndarray | None]] = {}
    for where, dead in places:  # a later segment's copy replaces an earlier one
        wanted = [d for d in doc_ids if d not in dead]
        for doc in read_documents(where / "store.sqlite", wanted) if wanted else ():
            documents[doc.doc_id] = doc
            all_chunks = read_chunks(where / "store.sqlite")
            rows = [i for i, c in enumerate(all_chunks) if c.doc_id == doc.doc_id]
            try:
                vectors = np.load(where / "vectors.npy", mmap_mode="r", allow_pickle=False)
                vectors = np.ascontiguousarray(vectors[rows], dtype=np.float32) if len(vectors) == len(all_chunks) else None
            except (OSError, ValueError):
                vectors = None
            found[doc.doc_id] = ([all_chunks[i] for i in rows], vectors)
    docs = [documents[d] for d in doc_ids if d in documents]
    chunks = [c for d in docs for c in found[d.doc_id][0]]
    parts = [found[d.doc_id][1] for d in docs]
    vectors = None if any(p is None for p in parts) or not parts else np.concatenate(parts)
    return docs, chunks, vectors


def _reading(folder: Path, name: str, read):
    """`read()`, with whatever a damaged file makes the reader raise turned into `IndexCorrupt` naming it."""
    try:
        return read()
    except READ_ERRORS as e:
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

