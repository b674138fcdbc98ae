"""Deleted documents, kept for `deleted_retention_days` (QA_DELETED_RETENTION_DAYS).

Whatever a write drops from the live index — a removed document, the old content of an updated
one, a document left out of a rebuild or a restore — is copied here first, with its chunks'
vectors, so it can be put back without re-embedding. Only those documents are kept, never a
whole index copy.

    index/default/trash/20261122T101500-3f2a1b2c/
      entry.json     when, why, the version it came from, the model, the documents (with their
                     originals' sha256 and name: the original files stay in originals/)
      store.sqlite   the documents (original and cleaned text, metadata) and their chunks
      vectors.npy    the chunks' vectors, in chunk order (absent when they could not be read)

Entries are written under the index's writer lock, into a temporary folder renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import IndexCorrupt, TrashNotFound
from .index import read_chunks, read_documents, read_version, write_json, write_store
from .integrity import manifest_of
from .types import Chunk, Document

log = logging.getLogger(__name__)

_ID = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")
# What a damaged version makes sqlite or numpy raise: its documents then go to the trash without
# vectors (or, when unreadable, not at all, with a warning), and the write goes on.
_UNREADABLE = (OSError, ValueError, IndexError, EOFError, sqlite3.Error)


@dataclass(frozen=True)
class TrashEntry:
    trash_id: str
    deleted_at: str
    reason: str  # 删除 | 导入（替换或移除）| 重建 | 恢复备份 …
    version: str  # the index version the documents were taken from
    doc_ids: tuple[str, ...]
    titles: tuple[str, ...]


def folder_of(index_dir: Path) -> Path:
    return index_dir / "trash"


def put(index_dir: Path, version: Path, doc_ids: list[str], reason: str) -> str | None:
    """Copy documents `doc_ids` of the version folder `version` into a new entry; its id
    (None when the version's store cannot be read: logged, and the caller's write goes on)."""
    try:
        documents, chunks, vectors = read_version(version, doc_ids)
    except (*_UNREADABLE, IndexCorrupt) as e:
        log.warning("could not keep %s in the trash: version %s is unreadable (%s)", ", ".join(doc_ids), version.name, e)
        return None
    if not documents:
        return None
    manifest = manifest_of(version)[0] or {}
    # The store keeps no record of originals; the manifest does, and the entry keeps it, so a restored
    # document finds its original again (originals are never deleted while an entry refers to them).
    kept = {d.get("doc_id"): d for d in manifest.get("documents", ()) if isinstance(d, dict)}
    now = time.time()
    digest = hashlib.sha256("\n".join(f"{d.doc_id}\t{d.checksum}" for d in documents).encode())
    digest.update(str(time.time_ns()).encode())
    trash_id = f"{time.strftime('%Y%m%dT%H%M%S', time.localtime(now))}-{digest.hexdigest()[:8]}"
    entry = {"trash_id": trash_id, "deleted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
             "deleted_ts": now, "reason": reason, "version": version.name, "model": manifest.get("model", {}),
             "chunker": manifest.get("chunker", {}),
             "documents": [{"doc_id": d.doc_id, "title": d.title, "checksum": d.checksum,
                            "original_sha256": kept.get(d.doc_id, {}).get("original_sha256", ""),
                            "original_name": kept.get(d.doc_id, {}).get("original_name", "")} for d in documents]}
    trash = folder_of(index_dir)
    tmp = trash / f".tmp-{trash_id}"
    try:
        tmp.mkdir(parents=True)
        write_store(tmp / "store.sqlite", documents, chunks)
        if vectors is not None:
            np.save(tmp / "vectors.npy", vectors)
        write_json(tmp / "entry.json", entry)
        os.replace(tmp, trash / trash_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("kept %d deleted documents in the trash as %s (%s)", len(documents), trash_id, reason)
    return trash_id


def entries(index_dir: Path) -> list[TrashEntry]:
    """The entries, newest first."""
    trash = folder_of(index_dir)
    out = []
    for p in sorted(trash.iterdir() if trash.is_dir() else (), reverse=True):
        if not _ID.match(p.name):
            continue
        entry = _entry_json(p)
        if entry is None:
            continue
        docs = entry.get("documents", [])
        out.append(TrashEntry(p.name, entry.get("deleted_at", ""), entry.get("reason", ""), entry.get("version", ""),
                              tuple(d["doc_id"] for d in docs), tuple(d.get("title", "") for d in docs)))
    return out


def read(index_dir: Path, trash_id: str) -> tuple[dict, list[Document], list[Chunk], np.ndarray | None]:
    """An entry's record, documents, chunks and (when kept) the chunks' vectors."""
    folder = folder_of(index_dir) / trash_id
    entry = _entry_json(folder) if _ID.match(trash_id) and folder.is_dir() else None
    if entry is None:
        raise TrashNotFound(f"回收站中没有条目 {trash_id!r}（`qa trash` 列出现有条目）")
    kept = {d.get("doc_id"): d for d in entry.get("documents", ()) if isinstance(d, dict)}
    documents = [replace(d, original_sha256=str(kept.get(d.doc_id, {}).get("original_sha256") or ""),
                         original_name=str(kept.get(d.doc_id, {}).get("original_name") or ""))
                 for d in read_documents(folder / "store.sqlite")]
    chunks = read_chunks(folder / "store.sqlite")
    vectors = None
    if (folder / "vectors.npy").exists():
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        if len(vectors) != len(chunks):
            vectors = None
    return entry, documents, chunks, vectors


def discard(index_dir: Path, trash_id: str) -> None:
    shutil.rmtree(folder_of(index_dir) / trash_id, ignore_errors=True)


def purge(index_dir: Path, days: float) -> int:
    """Delete entries older than `days`; how many."""
    trash = folder_of(index_dir)
    if not trash.is_dir():
        return 0
    cutoff = time.time() - days * 86400
    gone = 0
    for p in trash.iterdir():
        if not _ID.match(p.name):
            continue
        entry = _entry_json(p)
        deleted = entry.get("deleted_ts") if entry else None
        if (deleted if isinstance(deleted, (int, float)) else p.stat().st_mtime) < cutoff:
            shutil.rmtree(p, ignore_errors=True)
            gone += 1
    if gone:
        log.info("purged %d trash entries older than %g days", gone, days)
    return gone


def _entry_json(folder: Path) -> dict | None:
    try:
        entry = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None
