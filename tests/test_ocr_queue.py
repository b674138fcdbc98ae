"""A long scan uploaded (more pages than QA_OCR_MAX_PAGES) is not refused: its pages are read by OCR
one by one in a process beside the ingest queue (api/jobs.py), the job reporting pages done, while a
job uploaded after it is ingested meanwhile; its facts are then answered and cited by page."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import ADMIN, WAIT_CAP_S, app_client, copy_index, wait_for_job, wait_ready
from PIL import Image
from test_formats_ocr import BOILERS, CYLINDERS, DPI, ELEVATORS, FUEL, scan

from qa.service import Service

MARKETS = ["三、智慧农贸市场建设", "　　截至2025年9月，全县共建成智慧农贸市场17家，实现快检数据实时上传。"]


def long_scan(path: Path) -> Path:
    """Five scanned pages, no text layer; the fact asked about on the last one."""
    pages = [scan(lines, size=(1240, 400), seed=30 + n) for n, lines in
             enumerate([ELEVATORS[:2], FUEL, BOILERS, CYLINDERS, MARKETS])]
    pages[0].save(path, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return path


@pytest.fixture()
def client(request, tmp_path, corpus_service, embedder):
    overrides = {"index_dir": copy_index(corpus_service, tmp_path / "kb"), "ocr_max_pages": 2,
                 **getattr(request, "param", {})}
    with app_client(Service(corpus_service.settings.model_copy(update=overrides), embedder=embedder)) as c:
        wait_ready(c)
        yield c


def upload(client, *paths: Path) -> str:
    files = [("files", (p.name, p.read_bytes())) for p in paths]
    response = client.post("/api/v1/documents", files=files, headers=ADMIN)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def test_a_long_scan_is_read_page_by_page_while_a_later_job_is_ingested(client, tmp_path):
    scan_job = upload(client, long_scan(tmp_path / "青禾县市场监管季报.pdf"))
    note = tmp_path / "药店登记.txt"
    note.write_text("药店登记情况\n\n2026年青禾县新设药店31家。\n", encoding="utf-8")
    note_job = upload(client, note)
    seen, states_when_note_done = [], None
    deadline = time.monotonic() + WAIT_CAP_S
    while True:  # poll both jobs: the scan's progress, and where it was when the later job finished
        scan_state = client.get(f"/api/v1/jobs/{scan_job}", headers=ADMIN).json()
        note_state = client.get(f"/api/v1/jobs/{note_job}", headers=ADMIN).json()
        if scan_state.get("progress"):
            seen.append((scan_state["progress"]["pages_done"], scan_state["progress"]["pages_total"]))
            if 0 < seen[-1][0] < 5 and scan_state["status"] == "running":  # what the upload panel shows
                assert scan_state["stage"] in (f"OCR 识别扫描页 {seen[-1][0]}/5", "扫描页已识别，排队导入")
        if note_state["status"] in ("succeeded", "failed") and states_when_note_done is None:
            states_when_note_done = scan_state["status"]
        if scan_state["status"] in ("succeeded", "failed") and states_when_note_done is not None:
            break
        assert time.monotonic() < deadline, f"jobs not finished: {scan_state} {note_state}"
        time.sleep(0.1)
    assert note_state["status"] == "succeeded"
    assert states_when_note_done in ("queued", "running")  # the later job did not wait for the scan's OCR
    assert scan_state["status"] == "succeeded", scan_state
    assert scan_state["files"][0]["status"] == "added" and scan_state["progress"] == {"pages_done": 5, "pages_total": 5}
    assert any(0 < done < 5 for done, _ in seen), seen  # progress by pages while it was read
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # never backwards
    cache = client.app.state.runtime.settings.index_dir / "ocr-cache"
    assert not cache.exists() or not any(cache.iterdir())  # the pages read ahead are dropped once ingested
    answer = client.post("/api/v1/ask", json={"question": "青禾县共建成智慧农贸市场多少家？"}, headers=ADMIN).json()
    assert answer["answer"] == "17家"
    assert (answer["citations"][0]["doc_id"], answer["citations"][0]["location"]) == ("青禾县市场监管季报", "第5页")


@pytest.mark.parametrize("client", [{"ocr_queue_max_pages": 3}], indirect=True)
def test_a_scan_longer_than_the_queue_limit_is_that_files_error_and_the_rest_is_imported(client, tmp_path):
    long = tmp_path / "超长扫描件.tif"
    page = Image.new("L", (200, 100), 255)
    page.save(long, save_all=True, append_images=[page] * 4)  # 5 pages: over 3 (and over QA_OCR_MAX_PAGES 2)
    note = tmp_path / "药店登记.txt"
    note.write_text("药店登记情况\n\n2026年青禾县新设药店31家。\n", encoding="utf-8")
    job_id = upload(client, long, note)
    job = wait_for_job(lambda: client.get(f"/api/v1/jobs/{job_id}", headers=ADMIN).json())
    assert job["status"] == "succeeded"
    by_name = {f["name"]: f for f in job["files"]}
    assert by_name["药店登记.txt"]["status"] == "added"
    assert by_name["超长扫描件.tif"]["status"] == "error"
    assert by_name["超长扫描件.tif"]["error"]["code"] == "too_many_scanned_pages"
    assert "超过 3 页的上限" in by_name["超长扫描件.tif"]["error"]["message"]


def test_stopping_the_server_stops_a_read_ahead_instead_of_waiting_for_its_pages(tmp_path, corpus_service, embedder):
    import json

    from conftest import wait_for

    from api.jobs import process_start

    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb"),
                                                          "ocr_max_pages": 1})
    with app_client(Service(settings, embedder=embedder)) as client:
        wait_ready(client)
        job_id = upload(client, long_scan(tmp_path / "青禾县市场监管季报.pdf"))
        progress = lambda: client.get(f"/api/v1/jobs/{job_id}", headers=ADMIN).json().get("progress") or {}  # noqa: E731
        wait_for(lambda: progress().get("pages_done", 0) >= 1, progress)
        jobs = client.app.state.runtime.jobs
        ocr_pids = [p.pid for p in jobs._ocr_worker._processes.values()]
    # the app's shutdown returned with pages left: the OCR process was stopped, the job left unfinished
    # (a server starting later marks it interrupted: its owner is gone)
    assert ocr_pids and not any(process_start(pid) for pid in ocr_pids)
    job = json.loads((settings.index_dir / "jobs" / f"{job_id}.json").read_text(encoding="utf-8"))
    assert job["status"] == "running" and job["report"] is None
    cache = settings.index_dir / "ocr-cache"
    assert any(cache.rglob("*")), "the page read ahead is kept until the job ends"

    # As a killed server leaves it: the job's owner gone. The next server marks the job interrupted
    # and drops the pages read ahead for it, which no job will ever use now.
    job["owner"] = {"pid": 2**22 + 12345, "started": 1.0}
    (settings.index_dir / "jobs" / f"{job_id}.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    with app_client(Service(settings, embedder=embedder)) as client:
        wait_ready(client)
        after = client.get(f"/api/v1/jobs/{job_id}", headers=ADMIN).json()
    assert after["status"] == "failed" and after["error"]["code"] == "interrupted"
    assert not any(p.is_file() for p in cache.rglob("*"))
