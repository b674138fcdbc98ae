"""The original files documents were read from, kept content-addressed beside the index.

    index/default/originals/3f/3f2a…e9.docx   the bytes as uploaded or ingested (sha256, then the suffix)

A document records its original's sha256 and file name (`Document.original_sha256`, `original_name`,
in the manifest). Originals live outside the versions, so pruning versions never touches them; a
deleted document keeps its original (a restore from the trash or a rollback finds it again), and
`qa index prune-originals` removes, under the writer lock, the ones no version and no trash entry
refers to. Each file is written to a temporary name and renamed into place: a crash never leaves a
half-written original under a real name.
"""
from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import IndexCorrupt
from .index import writer_lock

log = logging.getLogger(__name__)

FOLDER = "originals"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_BLOCK = 1024 * 1024

# Types the standard table lacks or gets wrong on some systems (/etc/mime.types differs per distro).
_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".wps": "application/vnd.ms-works",  # what Kingsoft's own servers send for .wps
    ".et": "application/vnd.ms-excel",
    ".ofd": "application/ofd",  # GB/T 33190
    ".pdf": "application/pdf",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain",  # no charset: the file may be GB18030 as well as UTF-8
    ".jsonl": "application/jsonl",
    ".csv": "text/csv",
}


@dataclass(frozen=True)
class Original:
    sha256: str
    name: str  # the file's own name (uploads: the client's name), never a path


def folder_of(index_dir: Path) -> Path:
    return Path(index_dir) / FOLDER


def suffix_of(name: str) -> str:
    """The suffix a stored original carries: the name's, lower-cased, when it is a plain one."""
    suffix = Path(name).suffix.lower()
    return suffix if _SUFFIX.match(suffix) else ""


def path_of(index_dir: Path, sha256: str, name: str) -> Path | None:
    """Where the original of that hash and name is kept (None for a malformed hash)."""
    if not _SHA.match(sha256 or ""):
        return None
    return folder_of(index_dir) / sha256[:2] / f"{sha256}{suffix_of(name)}"


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def identify(path: Path, name: str | None = None) -> Original:
    """The original of the file at `path`, to be known as `name` (default: the file's own name)."""
    return Original(digest(path), clean_name(name or "") or Path(path).name)


def clean_name(name: str) -> str:
    """A client's file name as a plain name: its last path component, NFC, without control characters."""
    name = PureWindowsPath(PurePosixPath(name).name).name
    return _CONTROL.sub("", unicodedata.normalize("NFC", name)).strip()[:200]


def keep(index_dir: Path, source: Path, original: Original) -> Path:
    """Copy `source` in as the original `original` (nothing to do when it is already there)."""
    dest = path_of(index_dir, original.sha256, original.name)
    if dest is None:
        raise ValueError(f"not a sha256: {original.sha256!r}")
    if dest.is_file() and dest.stat().st_size == Path(source).stat().st_size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        with open(source, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, _BLOCK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(f"x{suffix}")
    return guessed or "application/octet-stream"


def referenced(index_dir: Path) -> set[Path]:
    """The originals some version on disk or some trash entry refers to. A record that cannot be
    read is refused (`IndexCorrupt`): what it refers to is unknown, so nothing may be deleted."""
    index_dir = Path(index_dir)
    records: list[dict] = []
    for path in [*(index_dir / "versions").glob("*/manifest.json"), *(index_dir / "trash").glob("*/entry.json")]:
        if path.parent.name.startswith("."):
            continue  # a write in progress (there is none under the writer lock) or its leftovers
        docs = _documents(path)
        if docs is None:
            raise IndexCorrupt(f"{path} 无法读取，不知道它引用了哪些原件；为免误删，没有删除任何原件")
        records += docs
    out = set()
    for d in records:
        if isinstance(d, dict) and (p := path_of(index_dir, str(d.get("original_sha256") or ""),
                                                 str(d.get("original_name") or ""))):
            out.add(p)
    return out


def prune(index_dir: Path) -> tuple[int, int]:
    """Delete the originals nothing refers to (and temporary files a crash left); how many, and bytes."""
    index_dir = Path(index_dir)
    gone = size = 0
    with writer_lock(index_dir):  # an ingest writes its originals before the version naming them
        keep_ = referenced(index_dir)
        for path in sorted(folder_of(index_dir).glob("*/*")):
            if path.is_file() and path not in keep_:
                size += path.stat().st_size
                path.unlink()
                gone += 1
    if gone:
        log.info("pruned %d originals (%d bytes) no version or trash entry refers to", gone, size)
    return gone, size


def _documents(path: Path) -> list | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    docs = record.get("documents") if isinstance(record, dict) else None
    return docs if isinstance(docs, list) else None
