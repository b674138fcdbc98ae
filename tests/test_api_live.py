"""A real uvicorn on loopback (`qa serve` in a subprocess), spoken to over HTTP."""
from __future__ import annotations

import json

import httpx
from conftest import ADMIN, READER, wait_for_job

Q2025 = "2025年市场主体目标是多少？"


def test_live_chat_stream_is_read_to_the_end(live_server):
    events = []
    with httpx.stream("POST", f"{live_server.url}/api/v1/chat", headers=READER, timeout=60,
                      json={"question": "那2020年呢？", "history": [Q2025]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    assert [n for n, _ in events] == ["rewritten", "citations", "answer", "done"]
    assert "488.84" in events[-1][1]["answer"]


def test_live_upload_then_a_question_is_answered_from_the_new_document(own_server):
    text = ("关于2026年度电梯安全检查情况的通报\n发布日期：2026-09-30\n"
            "2026年，全市共检查在用电梯5832台，发现并督促整改隐患391处。\n")
    r = httpx.post(f"{own_server.url}/api/v1/documents", headers=ADMIN, timeout=60,
                   files=[("files", ("电梯安全检查通报.txt", text.encode(), "text/plain"))])
    assert r.status_code == 202
    job_url = f"{own_server.url}{r.headers['location']}"
    job = wait_for_job(lambda: httpx.get(job_url, headers=ADMIN, timeout=60).json())
    assert job["status"] == "succeeded", job
    body = httpx.post(f"{own_server.url}/api/v1/ask", headers=READER, timeout=60,
                      json={"question": "2026年全市检查在用电梯多少台？"}).json()
    assert body["found"] and body["answer"] == "5832台"
    assert body["citations"][0]["doc_id"] == "电梯安全检查通报"


def test_live_server_logs_requests_without_keys(live_server):
    httpx.post(f"{live_server.url}/api/v1/ask", headers=READER, json={"question": Q2025}, timeout=60)
    log = live_server.log.read_text()
    assert '"route": "/api/v1/ask"' in log and READER["X-API-Key"] not in log and ADMIN["X-API-Key"] not in log
