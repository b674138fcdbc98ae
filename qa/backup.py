"""`qa backup` / `qa restore`: the live version with the uploads, jobs, trash and original files, as one tar file.

    backup.json   format, time, the version and its counts and model, size and sha256 of every file
    version/…     the live version folder (manifest.json, store.sqlite, vectors.npy, dense.faiss, bm25/)
    uploads/…  jobs/…  trash/…  originals/…  evalsets/…
    records/records.db   the conversations and feedback (qa/records), when kept in the default SQLite file

A backup is taken under the writer lock, so no writer switches versions while the live folder is
copied (a version folder never changes once written); each file is hashed as it goes into the
archive. A restore checks every file against backup.json and the version against its own manifest,
then, under the lock, adds it as a new version and switches `CURRENT` to it: a running server
loads it on its next request. Documents the restore drops from the live index go to the trash.
The records database is copied with SQLite's own backup (a consistent snapshot while the server
writes); like every section, a restore adds it only where there is none, never over newer records.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import trash
from .errors import BackupInvalid, IndexMismatch
from .index import (
    RECOVERY_NOTE,
    live_version,
    live_version_name,
    new_version_name,
    prune,
    switch,
    write_json,
    writer_lock,
)
from .integrity import manifest_of, out_of_space, problem, verify

log = logging.getLogger(__name__)

FORMAT = 1
# Kept beside the version: what uploads and deletes leave, and a knowledge base's own eval set
# (qa/evalsets.py, at its default QA_EVAL_DIR).
SECTIONS = ("uploads", "jobs", "trash", "originals", "evalsets")
RECORDS = "records/records.db"  # qa/records' default database (a QA_RECORDS_URL elsewhere is backed up by its owner)


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    version: str
    documents: int
    chunks: int
    files: int
    bytes: int


@dataclass(frozen=True)
class RestoreInfo:
    version: str  # the new live version
    restored_from: str  # the version the backup holds
    documents: int
    chunks: int
    trash_id: str | None  # where documents the restore dropped from the live index were kept


class _Hashing:
    """A file read through into the archive, hashed on the way."""

    def __init__(self, f):
        self.f, self.digest = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        block = self.f.read(n)
        self.digest.update(block)
        return block


def backup(index_dir: Path, dest: Path) -> BackupInfo:
    """Write the live version (checked first), uploads/, jobs/ and trash/ to the tar file `dest`."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    with writer_lock(index_dir):
        folder = live_version(index_dir)
        manifest = verify(folder)  # a damaged version is not worth keeping: refused, with what to do
        files: dict[str, dict] = {}
        try:
            with (out_of_space(dest.parent, "写出备份", "备份未写出，在线索引未改变"),
                  tempfile.TemporaryDirectory(prefix=".backup-", dir=dest.parent) as scratch):
                with tarfile.open(tmp, "w") as tar:
                    for path, arcname in _members(index_dir, folder, Path(scratch)):
                        with open(path, "rb") as f:
                            info = tar.gettarinfo(arcname=arcname, fileobj=f)
                            reader = _Hashing(f)
                            tar.addfile(info, reader)
                        files[arcname] = {"size": info.size, "sha256": reader.digest.hexdigest()}
                    record = {"format": FORMAT, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "index_dir": str(index_dir), "version": folder.name,
                              "counts": manifest.get("counts", {}), "model": manifest.get("model", {}),
                              "files": files}
                    data = json.dumps(record, ensure_ascii=False, indent=2).encode()
                    info = tarfile.TarInfo("backup.json")
                    info.size, info.mtime = len(data), int(time.time())
                    tar.addfile(info, io.BytesIO(data))
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    counts = manifest.get("counts", {})
    info = BackupInfo(dest, folder.name, counts.get("documents", 0), counts.get("chunks", 0), len(files),
                      dest.stat().st_size)
    log.info("backed up version %s (%d files, %d bytes) to %s", folder.name, info.files, info.bytes, dest)
    return info


def _members(index_dir: Path, folder: Path, scratch: Path):
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield path, f"version/{path.relative_to(folder).as_posix()}"
    for section in SECTIONS:
        base = index_dir / section
        for path in sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else ():
            rel = path.relative_to(base)
            if not any(part.startswith(".") for part in rel.parts):  # temporary files of a write in progress
                yield path, f"{section}/{rel.as_posix()}"
    if (index_dir / RECORDS).is_file():
        yield _snapshot(index_dir / RECORDS, scratch / "records.db"), RECORDS


def _snapshot(db: Path, dest: Path) -> Path:
    """A consistent copy of a live SQLite database (its WAL included), by SQLite's backup API."""
    with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(dest)) as out:
        src.backup(out)
    return dest


def restore(src: Path, index_dir: Path, *, expect_model: str | None = None,
            keep_deleted_days: float = 30) -> RestoreInfo:
    """Make the version in backup `src` live in `index_dir`, with the backup's uploads, jobs and
    trash added beside what is there. `expect_model` refuses a backup built with another model."""
    src = Path(src)
    try:
        tar = tarfile.open(src, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise BackupInvalid(f"{src} 不是可读的备份文件（{e}），已拒绝恢复") from None
    with tar, writer_lock(index_dir), out_of_space(index_dir, "恢复备份"):
        staging = index_dir / f".restore-{uuid.uuid4().hex[:8]}"  # removed by the next writer if this one dies
        try:
            record = _extract(tar, src, staging)
            return _install(staging, record, index_dir, expect_model, keep_deleted_days)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _extract(tar: tarfile.TarFile, src: Path, staging: Path) -> dict:
    """Every file of the backup into `staging`, each checked against backup.json as it is written."""
    try:
        try:
            record = json.loads(tar.extractfile("backup.json").read())
        except KeyError:
            raise BackupInvalid(f"{src} 不是完整的 `qa backup` 备份（缺少 backup.json：文件被截断，或不是备份），"
                                "已拒绝恢复") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record.get("files"), dict):
            raise BackupInvalid(f"{src} 的 backup.json 不完整或格式版本不支持（需要 {FORMAT}），已拒绝恢复")
        files: dict = record["files"]
        seen = set()
        for member in tar:
            if member.name == "backup.json" or member.isdir():
                continue
            name = PurePosixPath(member.name)
            if (not member.isfile() or name.is_absolute() or ".." in name.parts
                    or name.parts[0] not in ("version", *SECTIONS, "records") or member.name not in files):
                raise BackupInvalid(f"{src} 含有不属于备份的条目 {member.name!r}，已拒绝恢复")
            dest = staging / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as f, open(dest, "wb") as out:
                reader = _Hashing(f)
                shutil.copyfileobj(reader, out, 1024 * 1024)
            want = files[member.name]
            if dest.stat().st_size != want.get("size") or reader.digest.hexdigest() != want.get("sha256"):
                raise BackupInvalid(f"备份 {src} 中的文件 {member.name} 已损坏（与 backup.json 记录的校验和不符），"
                                    "已拒绝恢复")
            seen.add(member.name)
    except (tarfile.TarError, EOFError, ValueError) as e:  # truncated or garbled archive
        raise BackupInvalid(f"备份 {src} 已损坏或被截断（{e}），已拒绝恢复") from None
    if missing := sorted(set(files) - seen):
        raise BackupInvalid(f"备份 {src} 缺少文件 {missing[0]}" + (f" 等 {len(missing)} 个" if len(missing) > 1 else "")
                            + "，已拒绝恢复")
    return record


def _install(staging: Path, record: dict, index_dir: Path, expect_model: str | None,
             keep_deleted_days: float) -> RestoreInfo:
    version = staging / "version"
    manifest, what = manifest_of(version)
    if manifest is None or (what := problem(version, manifest)):
        raise BackupInvalid(f"备份中的索引版本 {record.get('version')} 已损坏：{what}，已拒绝恢复")
    model = manifest.get("model", {}).get("identity")
    if expect_model is not None and model != expect_model:
        raise IndexMismatch(f"备份中的索引由模型 {model!r} 构建，当前设置为 {expect_model!r}；"
                            "请先把 QA_EMBED_MODEL 设为该模型再恢复。")
    name = new_version_name()  # a new name: "newest" stays the last made live, for rollback and pruning
    manifest["restored_from"], manifest["version"] = manifest.get("version"), name
    write_json(version / "manifest.json", manifest)  # the manifest is not among its own checksums
    previous, current = live_version_name(index_dir), index_dir / "CURRENT"
    (index_dir / "versions").mkdir(parents=True, exist_ok=True)
    final = index_dir / "versions" / name
    os.replace(version, final)
    trash_id = None
    try:
        for section in (*SECTIONS, "records"):  # added beside what is there: nothing newer is overwritten
            for path in sorted(p for p in (staging / section).rglob("*") if p.is_file()):
                target = index_dir / section / path.relative_to(staging / section)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
        if keep_deleted_days > 0 and current.is_dir():
            before = {d["doc_id"]: d.get("checksum") for d in (manifest_of(current)[0] or {}).get("documents", [])}
            after = {d["doc_id"]: d.get("checksum") for d in manifest["documents"]}
            if gone := [d for d, checksum in before.items() if after.get(d) != checksum]:
                trash_id = trash.put(index_dir, current.resolve(), gone, "恢复备份")
        switch(index_dir, name)
    except BaseException:
        if live_version_name(index_dir) != name:
            shutil.rmtree(final, ignore_errors=True)
            if trash_id:
                trash.discard(index_dir, trash_id)
        raise
    (index_dir / RECOVERY_NOTE).unlink(missing_ok=True)
    prune(index_dir, name, previous)
    trash.purge(index_dir, keep_deleted_days)
    counts = manifest.get("counts", {})
    log.warning("restored version %s from a backup as %s (live before: %s)", manifest["restored_from"], name, previous)
    return RestoreInfo(name, manifest["restored_from"] or "", counts.get("documents", 0), counts.get("chunks", 0),
                       trash_id)
