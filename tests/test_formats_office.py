""".doc and .wps through LibreOffice (qa/formats/office.py): real .doc files made by LibreOffice from
.docx files python-docx writes, read back, ingested beside the corpus and answered; a corrupt file,
a hung converter and a missing one are each one file's Chinese error."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from conftest import (
    ADMIN,
    READER,
    app_client,
    copy_index,
    wait_for,
    wait_for_job,
    wait_ready,
)

from qa import load
from qa.errors import DocumentLoadError
from qa.service import Service

# Every test here runs LibreOffice (scripts/install_converters.sh installs it; `make test` runs that).
pytestmark = pytest.mark.office

NOTICE = "关于宠物医院专项检查情况的通报"
FACT = "2026年前三季度，全市共检查宠物医院312家，同比增长9%。"
QUESTION = "2026年前三季度全市共检查宠物医院多少家？"


def write_docx(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = NOTICE
    document.add_heading(NOTICE, 1)
    document.add_paragraph("发布日期：2026-10-08")  # the answer stage checks the question's year against the document's
    document.add_paragraph("各区县市场监督管理局：")
    document.add_paragraph(FACT)
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate([["项目", "检查数", "整改数"], ["宠物医院", "312家", "41家"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("联系电话：0731-88886666。")
    document.save(path)
    return path


def to_doc(source: Path, folder: Path) -> Path:
    """`source` converted to Word 97-2003 by LibreOffice, as an office would have saved it."""
    folder.mkdir(parents=True, exist_ok=True)
    profile = (folder / "profile").as_uri()
    subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "doc:MS Word 97",
                    "--outdir", str(folder), str(source)], check=True, capture_output=True, timeout=300)
    return folder / (source.stem + ".doc")


@pytest.fixture(scope="module")
def doc_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("doc")
    doc = to_doc(write_docx(folder / "source.docx"), folder / "out")
    data = doc.read_bytes()
    assert data.startswith(b"\xd0\xcf\x11\xe0")  # a real OLE Word binary, not a renamed .docx
    return data


def test_doc_reads_paragraphs_table_rows_and_title(tmp_path, doc_bytes):
    path = tmp_path / "通报.doc"
    path.write_bytes(doc_bytes)
    [doc] = load.load_file(path)
    assert doc.fields["title"] == NOTICE and doc.fmt == "doc"
    lines = doc.text.split("\n")
    assert FACT in doc.text and "宠物医院 312家 41家" in lines  # a table row as the .docx reader gives it


def test_wps_file_that_is_a_word_binary_is_read(tmp_path, doc_bytes):
    # LibreOffice would take ".wps" for Microsoft Works; the reader names the copy by its content
    path = tmp_path / "通报.wps"
    path.write_bytes(doc_bytes)
    [doc] = load.load_file(path)
    assert FACT in doc.text and doc.fmt == "wps"


def test_doc_that_is_really_a_docx_is_read_without_conversion(tmp_path):
    path = tmp_path / "新格式.doc"
    write_docx(tmp_path / "x.docx").rename(path)
    [doc] = load.load_file(path, load.LoadLimits(soffice=str(tmp_path / "no-such-soffice")))
    assert FACT in doc.text


def test_doc_is_ingested_and_answers_a_question_only_it_answers(tmp_path, corpus_service, embedder, doc_bytes):
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    svc = Service(settings, embedder=embedder)
    path = tmp_path / "宠物医院专项检查通报.doc"
    path.write_bytes(doc_bytes)
    report = svc.ingest([path])
    assert report.problems == ()
    answer = svc.ask(QUESTION)
    assert answer.found and answer.answer == "312家"
    assert answer.citations[0].doc_id == "宠物医院专项检查通报"


def test_doc_uploaded_through_the_api_is_answered(tmp_path, corpus_service, embedder, doc_bytes):
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    with app_client(Service(settings, embedder=embedder)) as client:
        wait_ready(client)
        files = [("files", ("宠物医院专项检查通报.doc", doc_bytes)), ("files", ("损坏.doc", doc_bytes[:3000]))]
        r = client.post("/api/v1/documents", files=files, headers=ADMIN)
        assert r.status_code == 202, r.text
        job = wait_for_job(lambda: client.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=ADMIN).json())
        good, bad = job["files"]
        assert good["doc_ids"] == ["宠物医院专项检查通报"] and good["status"] == "added"
        assert bad["name"] == "损坏.doc" and bad["status"] == "error" and bad["error"]["code"] == "convert_failed"
        assert "转换失败" in bad["error"]["message"] and "/uploads/" not in bad["error"]["message"]
        body = client.post("/api/v1/ask", json={"question": QUESTION}, headers=READER).json()
        assert body["found"] and body["answer"] == "312家" and body["citations"][0]["doc_id"] == "宠物医院专项检查通报"


def test_corrupt_doc_is_a_chinese_error_for_that_file_only(tmp_path, doc_bytes):
    (tmp_path / "好的.txt").write_text("宠物医院登记情况：本区共新设立宠物医院217家。", encoding="utf-8")
    (tmp_path / "截断.doc").write_bytes(doc_bytes[:3000])  # the OLE header survives, the rest is gone
    (tmp_path / "乱码.doc").write_bytes(b"\x00\x01garbage" * 100)  # not a Word file at all
    docs, problems = load.load_files([tmp_path])
    assert [d.doc_id for d in docs] == ["好的"]
    by_name = {Path(p.path).name: p for p in problems}
    assert by_name["截断.doc"].code == "convert_failed" and "转换失败" in by_name["截断.doc"].message
    assert by_name["乱码.doc"].code == "invalid_doc" and "不是有效的" in by_name["乱码.doc"].message


def test_hung_conversion_is_killed_with_its_children_at_the_timeout(tmp_path, doc_bytes):
    # A stand-in soffice that starts a worker (as soffice starts soffice.bin) and hangs
    pid_file = tmp_path / "worker.pid"
    fake = tmp_path / "soffice"
    fake.write_text(f"#!/bin/sh\nsleep 1000 &\necho $! > {pid_file}\nsleep 1000\n")
    fake.chmod(0o755)
    path = tmp_path / "卡住.doc"
    path.write_bytes(doc_bytes)
    with pytest.raises(DocumentLoadError) as caught:
        load.load_file(path, load.LoadLimits(convert_timeout=1, soffice=str(fake)))
    assert caught.value.code == "convert_timeout" and "转换超时" in caught.value.reason
    worker = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), lambda: "no worker pid"))
    wait_for(lambda: not _alive(worker), lambda: f"worker {worker} still running")


def test_concurrent_conversions_do_not_collide(tmp_path, doc_bytes):
    # each has its own LibreOffice profile; a shared one would make the second wait on, or fail at, its lock
    from concurrent.futures import ThreadPoolExecutor

    from qa.formats import office

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda n: office.convert_to_docx(tmp_path / f"{n}.doc", doc_bytes), range(3)))
    texts = [load._read_docx(tmp_path / "x.docx", data)[0] for data in results]
    assert all(FACT in text for text in texts)


def test_timeout_comes_from_the_settings(monkeypatch):
    from qa.settings import Settings

    monkeypatch.setenv("QA_CONVERT_TIMEOUT", "7.5")
    monkeypatch.setenv("QA_SOFFICE", "/opt/libreoffice/program/soffice")
    limits = load.LoadLimits.from_settings(Settings())
    assert (limits.convert_timeout, limits.soffice) == (7.5, "/opt/libreoffice/program/soffice")


def test_missing_libreoffice_says_what_to_install(tmp_path, doc_bytes):
    path = tmp_path / "通报.doc"
    path.write_bytes(doc_bytes)
    with pytest.raises(DocumentLoadError) as caught:
        load.load_file(path, load.LoadLimits(soffice=str(tmp_path / "no-such-soffice")))
    assert caught.value.code == "converter_missing"
    assert "libreoffice-writer-nogui" in caught.value.reason and "QA_SOFFICE" in caught.value.reason


def test_no_libreoffice_is_left_running_after_conversions(tmp_path, doc_bytes):
    path = tmp_path / "通报.doc"
    path.write_bytes(doc_bytes)
    load.load_file(path)
    # each conversion's profile lives in its own qa-convert-* folder, named on the command line
    leftovers = [_cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit() and "qa-convert-" in _cmdline(p)]
    assert leftovers == []
    assert shutil.which("soffice")  # the tests above ran the real one


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by init) is dead for our purpose
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\x00", b" ").decode("utf-8", "replace")
    except OSError:
        return ""
