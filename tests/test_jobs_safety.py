"""Upload jobs never outlive their server and never lie about it: a `kill -9` of `qa serve` takes
its ingest process with it, the index stays as it was, and the next server reports the job failed."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN, ADMIN_KEY, READER_KEY, copy_index, start_server, stop_server

from api.jobs import IngestJobs, process_start
from qa.service import Service
from qa.settings import Settings

CMRC = Path(__file__).resolve().parents[2] / "shared" / "bench" / "cmrc2018_dev" / "contexts.jsonl"
JOB = "0123456789abcdef0123456789abcdef"


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`, with their start times."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and (started := process_start(int(entry.name))):
                found[int(entry.name)] = started
    return found


def writer_lock_held(index_dir: Path) -> bool:
    with open(index_dir / ".writer.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def poll(condition, what: str, seconds: float = 600):
    """Wait for `condition()` to be true; the bound only stops a broken run from hanging."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return value


def test_killed_server_takes_its_ingest_with_it_and_the_next_server_reports_the_job_interrupted(
        tmp_path, corpus_service, model_dir):
    index_dir = copy_index(corpus_service, tmp_path / "kb")
    live = os.readlink(index_dir / "CURRENT")
    server = start_server(index_dir, model_dir, tmp_path / "server.log")
    try:
        # all 848 CMRC contexts: a minute or more of embedding, so the ingest is still at work when killed
        r = httpx.post(f"{server.url}/api/v1/documents", content=CMRC.read_bytes(), timeout=60,
                       headers={**ADMIN, "Content-Type": "application/x-ndjson"})
        assert r.status_code == 202, r.text
        job_url = f"{server.url}{r.headers['location']}"
        poll(lambda: httpx.get(job_url, headers=ADMIN).json()["status"] == "running", "the job never ran")
        poll(lambda: writer_lock_held(index_dir), "the ingest never started writing")  # held by the ingest process
        ingest = children(server.process.pid)
        assert ingest, "no ingest process"
    finally:
        server.process.kill()  # kill -9: no lifespan shutdown, no chance to tidy up
        server.process.wait()

    poll(lambda: all(process_start(pid) != started for pid, started in ingest.items()), "the ingest outlived its server")
    assert os.readlink(index_dir / "CURRENT") == live
    job_file = index_dir / "jobs" / f"{r.json()['job_id']}.json"
    assert json.loads(job_file.read_text())["status"] == "running"  # what the dead server left

    server = start_server(index_dir, model_dir, tmp_path / "server2.log")
    try:
        job = httpx.get(f"{server.url}{r.headers['location']}", headers=ADMIN).json()
        assert (job["status"], job["error"]["code"]) == ("failed", "interrupted"), job
        assert job["error"]["message"] == "服务在导入过程中停止，任务已中断；在线索引未改变，请重新上传"
        assert [f["status"] for f in job["files"]] == ["error"]
        assert os.readlink(index_dir / "CURRENT") == live
        text = job_file.read_text()
        assert ADMIN_KEY not in text and READER_KEY not in text
    finally:
        stop_server(server)


def write_job(folder: Path, job_id: str, status: str, **more) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    job = {"job_id": job_id, "status": status, "stage": "", "created_at": "", "started_at": None,
           "finished_at": None, "report": None, "error": None,
           "files": [{"name": "a.txt", "stored": "a.txt", "doc_id": "a", "doc_ids": [], "status": "pending",
                      "error": None}], **more}
    (folder / f"{job_id}.json").write_text(json.dumps(job), encoding="utf-8")


@pytest.fixture()
def other_worker():
    """Another live process, standing in for a second uvicorn worker."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield {"pid": proc.pid, "started": process_start(proc.pid)}
    proc.kill()
    proc.wait()


def gone_process() -> dict:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = {"pid": proc.pid, "started": process_start(proc.pid)}
    proc.wait()
    return owner


def test_starting_server_fails_only_the_jobs_whose_owner_is_gone(tmp_path, other_worker):
    folder = tmp_path / "jobs"
    dead = gone_process()
    write_job(folder, "a" * 32, "running", owner=other_worker, base_version=None)  # a live worker's: left alone
    write_job(folder, "b" * 32, "running", owner=dead, base_version=None)
    write_job(folder, "c" * 32, "queued", owner={**other_worker, "started": "1"})  # its pid, reused by another
    write_job(folder, "d" * 32, "running")  # from before owners were recorded
    write_job(folder, "e" * 32, "succeeded", owner=dead)
    write_job(folder, "f" * 32, "running", owner=dead, base_version="20240101T000000-0123abcd")
    jobs = IngestJobs(tmp_path, Service(Settings(index_dir=tmp_path)))  # the service loads nothing until a job runs
    try:
        status = {job_id[0]: (job["status"], (job["error"] or {}).get("code"))
                  for job_id in ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32, "f" * 32)
                  for job in [jobs.get(job_id)]}
        assert status == {"a": ("running", None), "b": ("failed", "interrupted"), "c": ("failed", "interrupted"),
                          "d": ("failed", "interrupted"), "e": ("succeeded", None), "f": ("failed", "interrupted")}
        assert jobs.get("b" * 32)["error"]["message"].endswith("在线索引未改变，请重新上传")
        # the index moved on since that job began (no CURRENT here at all): it does not claim otherwise
        assert "此后在线索引有过更新" in jobs.get("f" * 32)["error"]["message"]
    finally:
        jobs.shutdown()


def test_process_start_tells_a_live_process_from_a_gone_one(other_worker):
    assert process_start(other_worker["pid"]) == other_worker["started"] is not None
    assert process_start(gone_process()["pid"]) is None


def test_the_ingest_process_and_its_model_are_kept_for_the_next_job(tmp_path, corpus_service, embedder):
    """Each job used to start a process that loaded the model again (75 s for one paragraph on a
    busy machine): the second upload is ingested by the same process, its model already loaded."""
    from fastapi.testclient import TestClient
    from test_api import upload, wait_job, wait_ready

    from api.app import create_app

    settings = corpus_service.settings.model_copy(update={
        "index_dir": copy_index(corpus_service, tmp_path / "kb"), "api_keys": f"admin:{ADMIN_KEY},reader:{READER_KEY}"})
    with TestClient(create_app(settings, service=Service(settings, embedder=embedder))) as client:
        wait_ready(client)
        before = children(os.getpid())
        first = upload(client, [("宠物医院通报.txt", "关于宠物医院的通报\n本区新设立宠物医院217家。\n".encode())]).json()
        assert wait_job(client, first["job_id"])["status"] == "succeeded"
        worker = set(children(os.getpid()).items()) - set(before.items())
        assert worker  # the ingest process, still there after its job
        t0 = time.perf_counter()
        second = upload(client, [("药店通报.txt", "关于药店检查的通报\n本区检查药店356家。\n".encode())]).json()
        assert wait_job(client, second["job_id"])["status"] == "succeeded"
        print(f"second one-paragraph upload ingested in {time.perf_counter() - t0:.1f} s")
        assert set(children(os.getpid()).items()) - set(before.items()) == worker  # the same process
        r = client.post("/api/v1/ask", json={"question": "本区检查药店多少家？"}, headers=ADMIN)
        assert r.json()["answer"].startswith("356")
