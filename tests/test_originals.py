"""Original files: kept content-addressed beside the index, served with their own type and name,
kept through delete, trash restore, backup and restore; old indexes (without originals) still load."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

import docx
import httpx
import pytest
from conftest import (
    ADMIN,
    READER,
    app_client,
    copy_index,
    double_settings,
    start_server,
    stop_server,
    wait_for_job,
    wait_ready,
)

from qa import originals, trash
from qa.backup import backup, restore
from qa.errors import IndexCorrupt
from qa.index import live_version
from qa.service import Service

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NAME = "关于开展2026年计量器具检定工作的通知.docx"
DOC_ID = NAME.removesuffix(".docx")


def make_docx(path: Path, *paragraphs: str) -> Path:
    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    document.save(path)
    return path


def notice(path: Path) -> Path:
    return make_docx(path, "关于开展2026年计量器具检定工作的通知", "发布日期：2026-03-02",
                     "2026年全市共免费检定农贸市场电子秤4816台，合格率98.7%。")


def strip_originals(index_dir: Path, doc_ids: set[str]) -> None:
    """Make documents look as an index written before originals were kept records them."""
    manifest_path = live_version(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for d in manifest["documents"]:
        if d["doc_id"] in doc_ids:
            d.pop("original_sha256", None)
            d.pop("original_name", None)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


# ----- through a live server -----

@pytest.fixture(scope="module")
def server(tmp_path_factory, corpus_service, model_dir):
    """A live server over a copy of the corpus index in which one document is "old" (no original recorded)."""
    root = tmp_path_factory.mktemp("originals")
    index_dir = copy_index(corpus_service, root / "kb")
    strip_originals(index_dir, {"湖南以精准监管助推高质量发展"})
    live = start_server(index_dir, model_dir, root / "server.log")
    try:
        data = notice(root / NAME).read_bytes()
        r = httpx.post(f"{live.url}/api/v1/documents", headers=ADMIN, timeout=60,
                       files=[("files", (NAME, data, DOCX))])
        assert r.status_code == 202, r.text
        job = wait_for_job(lambda: httpx.get(f"{live.url}{r.headers['location']}", headers=ADMIN, timeout=60).json())
        assert job["status"] == "succeeded" and job["files"][0]["doc_ids"] == [DOC_ID], job
        yield live, data
    finally:
        stop_server(live)


def original_url(live, doc_id: str) -> str:
    return f"{live.url}/api/v1/documents/{quote(doc_id, safe='')}/original"


def test_uploaded_docx_is_downloaded_byte_for_byte_with_its_type_and_chinese_name(server):
    live, data = server
    r = httpx.get(original_url(live, DOC_ID), headers=READER, timeout=60)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == DOCX
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert f"filename*=UTF-8''{quote(NAME, safe='')}" in disposition
    assert 'filename="2026.docx"' in disposition  # the ASCII stand-in: what is left of the name in ASCII
    assert r.headers["x-content-type-options"] == "nosniff"


def test_document_detail_and_list_name_the_original(server):
    live, data = server
    detail = httpx.get(f"{live.url}/api/v1/documents/{quote(DOC_ID, safe='')}", headers=READER, timeout=60).json()
    assert detail["original"]["name"] == NAME and detail["original"]["content_type"] == DOCX
    assert detail["original"]["sha256"] == hashlib.sha256(data).hexdigest()
    listing = httpx.get(f"{live.url}/api/v1/documents", headers=READER, timeout=60).json()
    assert next(d for d in listing["documents"] if d["doc_id"] == DOC_ID)["original"]["name"] == NAME
    assert ".docx" in listing["upload_types"]


def test_original_needs_a_key_when_keys_are_configured(server):
    live, _ = server
    assert httpx.get(original_url(live, DOC_ID), timeout=60).status_code == 401
    assert httpx.get(original_url(live, DOC_ID), headers={"X-API-Key": "wrong"}, timeout=60).status_code == 401


def test_document_ingested_before_originals_were_kept_gives_404_in_chinese(server):
    live, _ = server
    r = httpx.get(original_url(live, "湖南以精准监管助推高质量发展"), headers=READER, timeout=60)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "original_not_found" and "没有保存原件" in error["message"]
    detail = httpx.get(f"{live.url}/api/v1/documents/湖南以精准监管助推高质量发展", headers=READER, timeout=60).json()
    assert detail["original"] is None  # the old manifest entry loads, with no original


def test_original_of_an_unknown_document_is_404(server):
    live, _ = server
    r = httpx.get(original_url(live, "没有这篇"), headers=READER, timeout=60)
    assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found"


def test_pdf_opens_inline_only_when_asked_and_other_types_never(server):
    live, _ = server
    r = httpx.get(original_url(live, DOC_ID) + "?inline=true", headers=READER, timeout=60)
    assert r.headers["content-disposition"].startswith("attachment; ")  # a .docx is never shown in the page
    assert r.headers["content-security-policy"] == "sandbox"


def test_openapi_documents_the_original_endpoint(server):
    live, _ = server
    spec = httpx.get(f"{live.url}/openapi.json", timeout=60).json()
    op = spec["paths"]["/api/v1/documents/{doc_id}/original"]["get"]
    assert set(op["responses"]) >= {"200", "401", "404"} and "*/*" in op["responses"]["200"]["content"]
    assert "rejected" in spec["components"]["schemas"]["JobOut"]["properties"]


# ----- the store: delete, trash, prune, backup, old indexes (bookkeeping: the hashing double) -----

@pytest.fixture()
def kb(tmp_path, hashing_embedder):
    src = tmp_path / "src"
    src.mkdir()
    notice(src / NAME)
    (src / "说明.txt").write_text("关于药店登记情况的说明\n本区2026年新设药店31家。\n", encoding="utf-8")
    svc = Service(double_settings(tmp_path / "kb"), embedder=hashing_embedder)
    assert svc.ingest([src]).problems == ()
    return svc, src


def kept_path(svc: Service, doc_id: str) -> Path:
    info = svc.index.docs[doc_id]
    return originals.path_of(svc.settings.index_dir, info.original_sha256, info.original_name)


def test_ingest_keeps_each_original_content_addressed_beside_the_index(kb):
    svc, src = kb
    path = kept_path(svc, DOC_ID)
    data = (src / NAME).read_bytes()
    assert path == svc.settings.index_dir / "originals" / path.name[:2] / path.name
    assert path.name == hashlib.sha256(data).hexdigest() + ".docx" and path.read_bytes() == data
    assert svc.index.docs[DOC_ID].original_name == NAME
    assert not list((svc.settings.index_dir / "originals").rglob(".tmp-*"))


def test_original_survives_delete_prune_and_trash_restore(kb):
    svc, _ = kb
    path = kept_path(svc, DOC_ID)
    svc.remove([DOC_ID])
    assert originals.prune(svc.settings.index_dir) == (0, 0) and path.exists()  # the trash still refers to it
    entry = trash.entries(svc.settings.index_dir)[0]
    svc.restore_deleted(entry.trash_id)
    assert svc.index.docs[DOC_ID].original_name == NAME and kept_path(svc, DOC_ID) == path


def test_prune_removes_only_originals_nothing_refers_to(kb):
    svc, _ = kb
    index_dir = svc.settings.index_dir
    stray = index_dir / "originals" / "00" / ("0" * 64 + ".pdf")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"%PDF-1.4 left by an ingest that failed")
    assert originals.prune(index_dir) == (1, 38)
    assert not stray.exists() and kept_path(svc, DOC_ID).exists()


def test_prune_refuses_when_a_version_cannot_be_read(kb):
    svc, _ = kb
    (live_version(svc.settings.index_dir) / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt):
        originals.prune(svc.settings.index_dir)
    assert any((svc.settings.index_dir / "originals").rglob("*.docx"))


def test_backup_and_restore_bring_the_originals_back(kb, tmp_path):
    svc, _ = kb
    path = kept_path(svc, DOC_ID)
    data = path.read_bytes()
    backup(svc.settings.index_dir, tmp_path / "kb.tar")
    fresh = tmp_path / "elsewhere"
    restore(tmp_path / "kb.tar", fresh)
    moved = fresh / path.relative_to(svc.settings.index_dir)
    assert moved.read_bytes() == data


def test_backup_and_restore_bring_the_records_and_the_eval_set_back_and_never_overwrite(kb, tmp_path):
    from qa.records import Records  # noqa: PLC0415

    svc, _ = kb
    live = Records.from_settings(svc.settings)  # open, as a running server holds it (WAL)
    question = "本区2026年新设药店多少家"
    said = {"question": question, "rewritten_question": question, "found": True, "status": "found", "answer": "31家",
            "answer_sentence": "", "confidence": 0.9, "extractor": "number", "timings_ms": {}, "citations": [],
            "others": []}
    answer_id, conversation_id = live.record("key:k-alice", None, said, {})
    evalset = svc.settings.index_dir / "evalsets" / "default.jsonl"
    evalset.parent.mkdir(parents=True, exist_ok=True)
    evalset.write_text(json.dumps({"id": "fb0001", "question": question, "answers": ["31家"]}, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    backup(svc.settings.index_dir, tmp_path / "kb.tar")
    live.close()

    fresh = tmp_path / "elsewhere"
    restore(tmp_path / "kb.tar", fresh)
    again = Records.from_settings(svc.settings.model_copy(update={"index_dir": fresh}))
    assert again.answer(answer_id).question == question and again.answer(answer_id).conversation_id == conversation_id
    again.close()
    assert (fresh / "evalsets" / "default.jsonl").read_bytes() == evalset.read_bytes()

    # restored over a live index: the newer records stay as they are
    newer = Records.from_settings(svc.settings)
    kept_id, _ = newer.record("key:k-bob", None, {**said, "question": "之后的问题"}, {})
    newer.close()
    restore(tmp_path / "kb.tar", svc.settings.index_dir)
    after = Records.from_settings(svc.settings)
    assert after.answer(kept_id).question == "之后的问题"
    after.close()


def test_old_index_gets_its_originals_on_the_next_ingest_without_embedding(kb, hashing_embedder):
    svc, src = kb
    for p in (svc.settings.index_dir / "originals").rglob("*"):
        if p.is_file():
            p.unlink()
    strip_originals(svc.settings.index_dir, {DOC_ID, "说明"})
    svc.reload()
    assert svc.index.docs[DOC_ID].original_sha256 == ""  # an old manifest entry loads, with no original
    before = hashing_embedder.passages_encoded
    report = svc.ingest([src])
    assert set(report.updated) == {DOC_ID, "说明"} and report.embedded_chunks == 0
    assert hashing_embedder.passages_encoded == before
    assert kept_path(svc, DOC_ID).read_bytes() == (src / NAME).read_bytes()
    assert set(svc.ingest([src]).unchanged) == {DOC_ID, "说明"}  # and from then on, nothing to do


def test_jsonl_documents_keep_no_original(tmp_path, hashing_embedder):
    line = {"id": "通知一", "title": "关于开展价格检查的通知", "text": "2026年共开展价格专项检查14次。"}
    (tmp_path / "a.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    svc = Service(double_settings(tmp_path / "kb"), embedder=hashing_embedder)
    svc.ingest([tmp_path / "a.jsonl"])
    assert svc.index.docs["通知一"].original_sha256 == "" and not (tmp_path / "kb" / "originals").exists()


def test_content_types_for_government_formats():
    assert originals.content_type("a.docx") == DOCX
    assert originals.content_type("a.XLSX") == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert originals.content_type("公文.ofd") == "application/ofd"
    assert originals.content_type("a.wps") == "application/vnd.ms-works"
    assert originals.content_type("a.pdf") == "application/pdf"
    assert originals.content_type("无后缀") == "application/octet-stream"


def test_client_file_names_are_kept_as_plain_names():
    assert originals.clean_name("../../etc/通知.docx") == "通知.docx"
    assert originals.clean_name("C:\\Users\\王\\通知\x00.docx") == "通知.docx"


def test_a_document_whose_id_ends_in_original_is_still_read(tmp_path, hashing_embedder):
    line = {"id": "公告/original", "title": "关于公告的说明", "text": "2026年共发布公告12份。"}
    (tmp_path / "a.jsonl").write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    svc = Service(double_settings(tmp_path / "kb"), embedder=hashing_embedder)
    svc.ingest([tmp_path / "a.jsonl"])
    with app_client(svc) as client:
        wait_ready(client)
        body = client.get("/api/v1/documents/公告/original", headers=READER).json()
        assert body["doc_id"] == "公告/original" and body["title"] == "关于公告的说明"
        r = client.get("/api/v1/documents/公告/original/original", headers=READER)
        assert r.status_code == 404 and r.json()["error"]["code"] == "original_not_found"
