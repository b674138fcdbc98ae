"""A batch with bad files imports every good one and says, per file and in Chinese, why the others
were not imported: through the API (an upload) and the CLI (`qa ingest`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import docx
from conftest import ADMIN, READER, wait_for_job


GOOD_DOCX = "关于开展2026年电梯安全检查的通知.docx"
GOOD_TXT = "宠物医院登记情况.txt"


def docx_bytes(tmp_path, *paragraphs: str) -> bytes:
    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    path = tmp_path / "made.docx"
    document.save(path)
    return path.read_bytes()


def good_files(tmp_path) -> list[tuple[str, bytes]]:
    return [
        (GOOD_DOCX, docx_bytes(tmp_path, "关于开展2026年电梯安全检查的通知", "发布日期：2026-04-01",
                               "2026年全市共检查在用电梯5832台，发现并督促整改隐患391处。")),
        (GOOD_TXT, "宠物医院登记情况\n发布日期：2026-10-08\n2026年前三季度，本区共新设立宠物医院217家。\n".encode()),
    ]


def upload(client, files):
    return client.post("/api/v1/documents", files=[("files", f) for f in files], headers=ADMIN)


def test_upload_with_bad_files_imports_every_good_one_and_reports_each_bad_one(writable, tmp_path):
    files = [*good_files(tmp_path), ("病毒.exe", b"MZ\x90\x00"), ("空白.txt", b""),
             ("扫描件.pdf", b"%PDF-1.4 not really a pdf")]
    r = upload(writable, files)
    assert r.status_code == 202, r.text
    body = r.json()
    assert [f["name"] for f in body["files"]] == [GOOD_DOCX, GOOD_TXT, "空白.txt", "扫描件.pdf"]
    rejected = {x["name"]: x for x in body["rejected"]}
    assert rejected["病毒.exe"]["code"] == "unsupported_format" and "不支持的文件类型" in rejected["病毒.exe"]["message"]
    assert "病毒.exe" in rejected["病毒.exe"]["message"] and set(rejected) == {"病毒.exe"}

    job = wait_for_job(lambda: writable.get(f"/api/v1/jobs/{body['job_id']}", headers=ADMIN).json())
    assert job["status"] == "succeeded", job
    result = {f["name"]: f for f in job["files"]}
    assert result[GOOD_DOCX]["status"] == "added" and result[GOOD_TXT]["status"] == "added"
    pdf = result["扫描件.pdf"]
    assert pdf["status"] == "error" and pdf["error"]["code"] == "invalid_pdf" and "无法解析 PDF" in pdf["error"]["message"]
    empty = result["空白.txt"]
    assert empty["status"] == "error" and empty["error"]["code"] == "empty_document" and "为空" in empty["error"]["message"]
    assert job["rejected"] == body["rejected"]  # the job's record keeps the refusals too
    stored = list((writable.app.state.runtime.settings.index_dir / "uploads" / body["job_id"]).iterdir())
    assert len(stored) == 4 and not any(p.suffix == ".exe" for p in stored)

    answer = writable.post("/api/v1/ask", json={"question": "2026年全市检查在用电梯多少台？"}, headers=READER).json()
    assert answer["found"] and answer["answer"] == "5832台"
    assert answer["citations"][0]["doc_id"] == GOOD_DOCX.removesuffix(".docx")


def test_upload_with_no_acceptable_file_is_refused_whole_and_stores_nothing(writable):
    index_dir = writable.app.state.runtime.settings.index_dir
    r = upload(writable, [("病毒.exe", b"MZ"), ("表格.numbers", b"PK\x03\x04")])
    assert r.status_code == 415
    error = r.json()["error"]
    assert error["code"] == "unsupported_media_type" and "病毒.exe" in error["message"] and "表格.numbers" in error["message"]
    assert not any((index_dir / "uploads").glob("*/*"))


# ----- the CLI -----

def run_qa(*args, env):
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=900)


def test_cli_ingest_imports_the_good_files_and_lists_each_skipped_one_in_chinese(tmp_path, model_dir):
    folder = tmp_path / "收文"
    folder.mkdir()
    for name, data in good_files(tmp_path):
        (folder / name).write_bytes(data)
    (folder / "病毒.exe").write_bytes(b"MZ")
    (folder / "扫描件.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    env = {"QA_INDEX_DIR": str(tmp_path / "kb"), "QA_EMBED_MODEL": str(model_dir)}
    out = run_qa("ingest", str(folder), env=env)
    assert out.returncode == 0, out.stderr
    assert "本次新增 2" in out.stdout
    assert "跳过 2 个文件" in out.stdout
    lines = out.stdout.splitlines()
    exe = next(line for line in lines if "病毒.exe" in line)
    assert "未导入" in exe and "不支持的文件类型 .exe" in exe
    pdf = next(line for line in lines if "扫描件.pdf" in line)
    assert "未导入" in pdf and "PDF" in pdf
    assert "skipped" not in out.stderr  # no English-only warning about the skipped files

    report = json.loads(run_qa("ingest", str(folder), "--json", env=env).stdout)
    assert sorted(report["unchanged"]) == sorted(n.rsplit(".", 1)[0] for n, _ in good_files(tmp_path))
    assert {p["code"] for p in report["problems"]} == {"unsupported_format", "invalid_pdf"}
