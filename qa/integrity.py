"""Is a version folder whole? Sizes and sha256 of its files are recorded in its manifest when it
is saved and checked when it is loaded; and a full disk becomes a clean error, not a traceback.

    manifest.json  "files": {"vectors.npy": {"size": 301184, "sha256": "9f2c…"}, "bm25/…": …}

Manifests written before checksums existed have no "files": they load as before, with only
the checks that need no record (the files are there, `bm25/` exists when there are chunks).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from .errors import IndexCorrupt, InsufficientStorage

ADVICE = ("请运行 `qa index rollback` 切换回上一版本（仍在磁盘上，`qa index status` 列出各版本），"
          "或运行 `qa ingest --rebuild` 重建索引")
REQUIRED = ("store.sqlite", "vectors.npy", "dense.faiss")  # a version written before segments (format 1)
SEGMENT_REQUIRED = ("store.sqlite", "vectors.npy", "lexical/vocab.json")
_BLOCK = 1024 * 1024
# Files this process has hashed and found whole, by (device, inode, size, mtime): a segment is shared
# by hard links across versions, so each load after an update hashes only what the update wrote.
_verified: dict[tuple[int, int, int, int], str] = {}


def sha256_file(path: Path) -> str:
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if (known := _verified.get(key)) is not None:
        return known
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if len(_verified) > 100_000:
        _verified.clear()
    _verified[key] = digest
    return digest


def file_checksums(folder: Path, sync: bool = False) -> dict[str, dict]:
    """Size and sha256 of every file under `folder` except the manifest, by relative path.
    `sync` also flushes each file to disk: a version must be whole before `CURRENT` names it."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            if sync:
                os.fsync(f.fileno())
        out[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": digest}
    return out


def corrupt(folder: Path, what: str) -> IndexCorrupt:
    return IndexCorrupt(f"索引版本 {folder.name} 已损坏：{what}；{ADVICE}。")


def manifest_of(folder: Path) -> tuple[dict | None, str]:
    """The version's manifest, or None and what is wrong with it."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "缺少 manifest.json"
    except (OSError, ValueError) as e:
        return None, f"manifest.json 无法读取（{e}）"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("documents"), list):
        return None, "manifest.json 内容不完整"
    return manifest, ""


def read_manifest(folder: Path) -> dict:
    manifest, what = manifest_of(folder)
    if manifest is None:
        raise corrupt(folder, what)
    return manifest


def problem(folder: Path, manifest: dict | None = None) -> str:
    """What is wrong with the version, or "" when each file has its recorded size and sha256
    (sizes first: a truncated file is found without reading the others)."""
    if manifest is None:
        manifest, what = manifest_of(folder)
        if manifest is None:
            return what
    if manifest.get("format_version", 1) == 1:
        for name in REQUIRED:
            if not (folder / name).is_file():
                return f"缺少文件 {name}"
        if manifest.get("counts", {}).get("chunks") and not (folder / "bm25").is_dir():
            return "缺少 bm25/（关键词检索的索引），混合检索会退化为只用向量"
    for entry in manifest.get("segments", ()):
        for name in SEGMENT_REQUIRED:
            rel = f"segments/{entry.get('name')}/{name}"
            if not (folder / rel).is_file():
                return f"缺少文件 {rel}"
    files = manifest.get("files") or {}
    for rel, want in files.items():
        path = folder / rel
        if not path.is_file():
            return f"缺少文件 {rel}"
        size = path.stat().st_size
        if size != want["size"]:
            return f"文件 {rel} 的大小为 {size} 字节，保存时为 {want['size']} 字节"
    for rel, want in files.items():
        if sha256_file(folder / rel) != want["sha256"]:
            return f"文件 {rel} 的内容与保存时的校验和（sha256）不符"
    return ""


def verify(folder: Path, manifest: dict | None = None) -> dict:
    """The version's manifest, once its files are found whole; `IndexCorrupt` naming the bad file otherwise."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    if what := problem(folder, manifest):
        raise corrupt(folder, what)
    return manifest


# numpy reports a short write without an errno ("768000 requested and 262112 written"),
# faiss as a RuntimeError naming strerror, sqlite as SQLITE_FULL.
_FULL_TEXT = re.compile(r"No space left on device|Disk quota exceeded|requested and \d+ written")


def is_out_of_space(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(e, sqlite3.OperationalError):
        return getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(e, (OSError, RuntimeError)) and bool(_FULL_TEXT.search(str(e)))


@contextmanager
def out_of_space(where: Path, what: str, outcome: str = "在线索引未改变"):
    """Turn a full disk or quota met while writing under `where` into `InsufficientStorage`."""
    try:
        yield
    except (OSError, RuntimeError, sqlite3.OperationalError) as e:
        if not is_out_of_space(e):
            raise
        raise InsufficientStorage(f"磁盘空间不足：{what}时写入 {where} 失败；{outcome}。请清理磁盘后重试。") from e
