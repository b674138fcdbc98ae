"""Data safety of the index on disk: a dangling or damaged live version, rollback, leftovers of a
killed writer, deleted documents kept in the trash, a full disk, backup and restore.
Each test works on a private copy of the session's corpus index."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import ADMIN, ADMIN_KEY, PLAN, READER, READER_KEY, copy_index, make_settings, start_server, stop_server
from fastapi.testclient import TestClient

from api.app import create_app
from qa import trash
from qa.backup import backup, restore
from qa.errors import BackupInvalid, IndexCorrupt, InsufficientStorage
from qa.index import Index, live_version_name, rollback, version_names
from qa.service import Service

KEYS = f"admin:{ADMIN_KEY},reader:{READER_KEY}"
Q2025 = "2025年市场主体目标是多少？"
PETS = "宠物医院登记情况"
PETS_TEXT = "宠物医院登记情况\n发布日期：2026-10-08\n2026年前三季度，本区共新设立宠物医院217家，同比增长9%。\n"
PETS_Q = "2026年前三季度新设立宠物医院多少家？"


@pytest.fixture()
def kb(tmp_path, corpus_service, embedder) -> Service:
    """A service over a private copy of the corpus index (one version, five documents)."""
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    return Service(settings, embedder=embedder)


def add_document(svc: Service, folder: Path, name: str, text: str):
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return svc.ingest([path])


def live(svc: Service) -> Path:
    return svc.settings.index_dir / "versions" / live_version_name(svc.settings.index_dir)


def app_client(svc: Service) -> TestClient:
    return TestClient(create_app(svc.settings.model_copy(update={"api_keys": KEYS}), service=svc))


def wait_until(check, timeout: float = 900):  # a cap on a busy machine, not a deadline
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
    return result


# ----- damaged files -----

def _newest_segment(folder: Path) -> tuple[Path, str]:
    """The segment the version wrote itself (the others are hard links shared with older versions)."""
    name = json.loads((folder / "manifest.json").read_text())["segments"][-1]["name"]
    return folder / "segments" / name, f"segments/{name}/"


def _garbage_postings(folder: Path) -> str:
    seg, prefix = _newest_segment(folder)
    path = seg / "lexical" / "post_tf.npy"
    data = bytearray(path.read_bytes())
    data[128:] = np.random.default_rng(0).bytes(len(data) - 128)  # the header parses; the numbers are noise
    path.unlink()  # a new file: damage only this version's copy, as a disk error in it would
    path.write_bytes(bytes(data))
    return f"{prefix}lexical/post_tf.npy"


def _no_lexical(folder: Path) -> str:
    seg, prefix = _newest_segment(folder)
    shutil.rmtree(seg / "lexical")
    return f"{prefix}lexical/"


def _truncated_vectors(folder: Path) -> str:
    seg, _ = _newest_segment(folder)
    path = seg / "vectors.npy"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])
    return "vectors.npy"


def _damaged_store(folder: Path) -> str:
    seg, _ = _newest_segment(folder)
    path = seg / "store.sqlite"
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.unlink()
    path.write_bytes(bytes(data))
    return "store.sqlite"


@pytest.mark.parametrize("damage", [_garbage_postings, _no_lexical, _truncated_vectors, _damaged_store])
def test_a_damaged_file_is_refused_naming_it_and_what_to_do(kb, damage):
    name = damage(live(kb))
    with pytest.raises(IndexCorrupt) as e:
        Index.load(kb.settings.index_dir)
    message = e.value.message
    assert name in message and "qa index rollback" in message and "qa ingest --rebuild" in message
    assert e.value.status == 503 and e.value.code == "index_corrupt"


def test_an_index_saved_before_checksums_still_loads_and_a_truncated_file_is_still_refused(kb):
    manifest_path = live(kb) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False))
    assert len(Index.load(kb.settings.index_dir).docs) == 5
    _truncated_vectors(live(kb))
    with pytest.raises(IndexCorrupt, match="vectors.npy"):  # not a bare ValueError from numpy
        Index.load(kb.settings.index_dir)


def test_a_damaged_live_version_makes_readyz_say_what_to_do_and_rollback_brings_the_service_back(kb, tmp_path):
    first = live_version_name(kb.settings.index_dir)
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT)
    _truncated_vectors(live(kb))
    damaged = live_version_name(kb.settings.index_dir)
    with app_client(Service(kb.settings, embedder=kb.embedder)) as c:
        assert c.app.state.runtime.wait_loaded(900)
        r = c.get("/readyz")
        error = r.json()["error"]
        assert r.status_code == 503 and error["code"] == "not_ready" and error["reason"] == "index_corrupt"
        assert "vectors.npy" in error["message"] and "qa index rollback" in error["message"]
        # Not silently switched to the older version: the admin decides.
        assert live_version_name(kb.settings.index_dir) == damaged
        assert rollback(kb.settings.index_dir) == (damaged, first)
        wait_until(lambda: c.get("/readyz").status_code == 200)  # no restart needed
        assert c.get("/api/v1/index", headers=READER).json()["version"] == first


# ----- a dangling CURRENT -----

def test_a_server_whose_current_dangles_serves_the_newest_intact_version_and_says_so(kb, tmp_path, model_dir):
    """The attack run: a deleted live folder made the server rebuild from corpus/, dropping uploads."""
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT)
    with_pets = live_version_name(kb.settings.index_dir)
    add_document(kb, tmp_path / "docs", "价格检查通知", "关于开展价格检查的通知\n2026年共开展价格专项检查14次。\n")
    shutil.rmtree(live(kb))  # CURRENT now names a missing folder
    server = start_server(kb.settings.index_dir, model_dir, tmp_path / "server.log")
    try:
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["index"]["version"] == with_pets and with_pets in ready["index"]["warning"]
        docs = httpx.get(f"{server.url}/api/v1/documents", headers=READER).json()
        assert {d["doc_id"] for d in docs["documents"]} >= {PETS, PLAN} and len(docs["documents"]) == 6
        assert docs["index"]["warning"]
        body = httpx.post(f"{server.url}/api/v1/ask", json={"question": PETS_Q}, headers=READER, timeout=60).json()
        assert body["answer"] == "217家"
    finally:
        stop_server(server)
    assert live_version_name(kb.settings.index_dir) == with_pets
    assert "CURRENT" in server.log.read_text()  # the log says what happened


def test_a_dangling_current_with_only_damaged_versions_is_refused_not_rebuilt_from_the_corpus(kb, tmp_path):
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT)
    older = [n for n in version_names(kb.settings.index_dir) if n != live_version_name(kb.settings.index_dir)][0]
    _truncated_vectors(kb.settings.index_dir / "versions" / older)
    shutil.rmtree(live(kb))
    with app_client(Service(kb.settings, embedder=kb.embedder)) as c:
        assert c.app.state.runtime.wait_loaded(900)
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["reason"] == "index_corrupt"
        assert older in r.json()["error"]["message"]
    assert version_names(kb.settings.index_dir) == [older]  # nothing was built from corpus/


def test_a_server_re_chunks_an_index_from_an_older_chunker_without_adding_the_sample_corpus(kb, monkeypatch):
    from qa import chunk

    kb.remove([PLAN])  # a knowledge base that no longer holds a sample document
    monkeypatch.setattr(chunk, "CHUNKER_VERSION", chunk.CHUNKER_VERSION + "-next")
    with app_client(Service(kb.settings, embedder=kb.embedder)) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200)
        docs = {d["doc_id"] for d in c.get("/api/v1/documents", headers=READER).json()["documents"]}
    assert len(docs) == 4 and PLAN not in docs


# ----- the CLI -----

def run_qa(*args, index_dir: Path):
    env = {**os.environ, "QA_INDEX_DIR": str(index_dir)}
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_qa_index_status_and_rollback(kb, tmp_path):
    first = live_version_name(kb.settings.index_dir)
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT)
    damaged = live_version_name(kb.settings.index_dir)
    damaged_file = _garbage_postings(live(kb))
    out = run_qa("index", "status", "--json", index_dir=kb.settings.index_dir)
    assert out.returncode == 0, out.stderr
    rows = {v["name"]: v for v in json.loads(out.stdout)}
    assert rows[first]["problem"] == "" and rows[first]["documents"] == 5 and not rows[first]["live"]
    assert damaged_file in rows[damaged]["problem"] and rows[damaged]["live"] and rows[damaged]["documents"] == 6
    out = run_qa("index", "rollback", index_dir=kb.settings.index_dir)
    assert out.returncode == 0, out.stderr
    assert first in out.stdout and "5 篇文档" in out.stdout
    assert live_version_name(kb.settings.index_dir) == first
    out = run_qa("index", "rollback", index_dir=kb.settings.index_dir)
    assert out.returncode == 2 and "没有比在线版本" in out.stderr and "Traceback" not in out.stderr


# ----- leftovers of a killed writer -----

def test_the_next_writer_removes_a_temporary_folder_left_by_a_killed_ingest(kb):
    leftover = kb.settings.index_dir / "versions" / f".tmp-{uuid.uuid4().hex[:8]}"
    leftover.mkdir()
    (leftover / "vectors.npy").write_bytes(b"half written")
    kb.remove([PLAN])
    assert not leftover.exists()


# ----- the trash -----

def test_a_deleted_document_can_be_restored_from_the_trash_without_re_embedding(kb):
    kb.remove([PLAN])
    [entry] = trash.entries(kb.settings.index_dir)
    assert entry.doc_ids == (PLAN,) and entry.reason == "删除"
    report = kb.restore_deleted(entry.trash_id)
    assert report.added == (PLAN,) and report.embedded_chunks == 0 and report.documents == 5
    assert kb.ask(Q2025).answer == "650万户"
    assert trash.entries(kb.settings.index_dir) == []


def test_the_old_content_of_an_updated_document_goes_to_the_trash(kb, tmp_path):
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT)
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT.replace("217家", "230家"))
    assert kb.ask(PETS_Q).answer == "230家"
    [entry] = trash.entries(kb.settings.index_dir)
    assert entry.doc_ids == (PETS,)
    kb.restore_deleted(entry.trash_id)
    assert kb.ask(PETS_Q).answer == "217家"
    assert [e.doc_ids for e in trash.entries(kb.settings.index_dir)] == [(PETS,)]  # the newer text, in turn


def test_trash_older_than_the_retention_is_purged_by_the_next_writer(kb):
    kb.remove([PLAN])
    [old] = trash.entries(kb.settings.index_dir)
    entry_json = kb.settings.index_dir / "trash" / old.trash_id / "entry.json"
    entry = json.loads(entry_json.read_text())
    entry["deleted_ts"] -= 31 * 86400  # the default retention is 30 days
    entry_json.write_text(json.dumps(entry))
    kb.remove(["湖南以精准监管助推高质量发展"])
    assert [e.doc_ids for e in trash.entries(kb.settings.index_dir)] == [("湖南以精准监管助推高质量发展",)]


# ----- a full disk -----

@pytest.fixture()
def small_disk(tmp_path, corpus_service):
    """A real 'disk' just larger than the corpus index (a tmpfs; needs root), holding a copy of it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    size = sum(p.stat().st_size for p in corpus_service.settings.index_dir.rglob("*") if p.is_file())
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size * 2 + (4 << 20)}", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield copy_index(corpus_service, mount / "kb")
    finally:
        subprocess.run(["umount", str(mount)], check=False) or subprocess.run(["umount", "-l", str(mount)])


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    # Unbuffered: a buffered last block would raise "no space left" again when the file closes.
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_delete_on_a_full_disk_returns_507_and_leaves_the_live_index(small_disk, corpus_service, embedder):
    svc = Service(corpus_service.settings.model_copy(update={"index_dir": small_disk}), embedder=embedder)
    with app_client(svc) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200)
        before = live_version_name(small_disk)
        filler = fill(small_disk.parent)
        r = c.delete(f"/api/v1/documents/{PLAN}", headers=ADMIN)
        error = r.json()["error"]
        assert r.status_code == 507 and error["code"] == "insufficient_storage"
        assert "磁盘空间不足" in error["message"] and "在线索引未改变" in error["message"]
        assert live_version_name(small_disk) == before and version_names(small_disk) == [before]
        assert not list((small_disk / "versions").glob(".tmp-*")) and not list(small_disk.glob("trash/*"))
        assert c.post("/api/v1/ask", json={"question": Q2025}, headers=READER).json()["answer"] == "650万户"
        filler.unlink()
        assert c.delete(f"/api/v1/documents/{PLAN}", headers=ADMIN).status_code == 200


def test_a_backup_onto_a_full_disk_is_refused_and_leaves_no_partial_file(small_disk):
    fill(small_disk.parent)
    with pytest.raises(InsufficientStorage, match="备份未写出"):
        backup(small_disk, small_disk.parent / "kb.tar")
    assert sorted(p.name for p in small_disk.parent.iterdir()) == ["filler", "kb"]


# ----- backup and restore -----

def test_restore_brings_back_a_deleted_document_and_keeps_what_it_replaces_in_the_trash(kb, tmp_path):
    archive = backup(kb.settings.index_dir, tmp_path / "kb.tar").path
    add_document(kb, tmp_path / "docs", PETS, PETS_TEXT)  # after the backup
    kb.remove([PLAN])
    info = restore(archive, kb.settings.index_dir)
    assert info.documents == 5 and info.version == live_version_name(kb.settings.index_dir)
    # The same service, as a running server would: it loads the restored version on its next request.
    assert kb.ask(Q2025).answer == "650万户" and PETS not in kb.index.docs
    kept = {e.trash_id: e for e in trash.entries(kb.settings.index_dir)}[info.trash_id]
    assert kept.doc_ids == (PETS,) and kept.reason == "恢复备份"


def test_a_damaged_or_truncated_backup_is_refused_and_the_live_index_is_unchanged(kb, tmp_path):
    archive = backup(kb.settings.index_dir, tmp_path / "kb.tar").path
    before = live_version_name(kb.settings.index_dir)
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/vectors.npy"))
    data = bytearray(archive.read_bytes())
    data[member.offset_data + 1000] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupInvalid, match=member.name):
        restore(damaged, kb.settings.index_dir)
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(BackupInvalid, match="已拒绝恢复"):
        restore(truncated, kb.settings.index_dir)
    assert live_version_name(kb.settings.index_dir) == before and len(version_names(kb.settings.index_dir)) == 1
    assert not list(kb.settings.index_dir.glob(".restore-*"))


def test_a_rebuild_re_embeds_the_documents_already_in_the_index_uploads_included(tmp_path, model_dir, embedder):
    """`qa ingest --rebuild` (e.g. after a model change) used to keep only the paths it was given:
    every uploaded document was dropped."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "通报.txt").write_text("关于宠物医院登记情况的通报\n本区共新设立宠物医院217家。\n", encoding="utf-8")
    upload = tmp_path / "uploads" / "01-3f2a.txt"  # stored under a generated name, as uploads are
    upload.parent.mkdir()
    upload.write_text("关于药店检查情况的通报\n本区共检查药店356家。\n", encoding="utf-8")
    svc = Service(make_settings(tmp_path / "kb", model_dir), embedder=embedder)
    svc.ingest([folder])
    svc.ingest([upload], doc_ids={str(upload): "药店通报"})

    report = svc.ingest([folder], rebuild=True)
    assert set(svc.index.docs) == {"通报", "药店通报"}
    assert report.embedded_chunks == report.chunks == len(svc.index.chunks)  # nothing reused
    assert any("356家" in c.text for c in svc.index.chunks_of("药店通报"))
