"""The HTTP API through `TestClient(create_app(...))`: every endpoint and error path, on the real
corpus index and the real model. Tests that write (upload, delete) get a private copy of the index."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import (
    ADMIN,
    KEYS,
    PLAN,
    READER,
    READER_KEY,
    WAIT_CAP_S,
    app_client,
    copy_index,
    double_settings,
    make_settings,
    wait_for_job,
    wait_ready,
)
from fastapi.testclient import TestClient

from api.app import create_app
from qa.errors import InvalidArgument
from qa.service import Service

Q2025 = "2025年市场主体目标是多少？"


def ask(client, question, **body):
    return client.post("/api/v1/ask", json={"question": question, **body}, headers=READER)


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], body
    return body["error"]


def wait_job(client, job_id: str) -> dict:
    return wait_for_job(lambda: client.get(f"/api/v1/jobs/{job_id}", headers=ADMIN).json())


def upload(client, files: list[tuple[str, bytes]], headers=ADMIN):
    return client.post("/api/v1/documents", files=[("files", (name, data)) for name, data in files], headers=headers)


# ----- health, readiness, metrics, docs -----

def test_healthz_answers_ok_at_root_and_under_api(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/api/v1/healthz").json() == {"status": "ok"}


def test_readyz_reports_the_loaded_index(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["index"]["documents"] == 5 and body["index"]["dim"] == 384


def test_readyz_is_503_with_the_reason_when_there_is_no_index(tmp_path, model_dir, embedder):
    settings = make_settings(tmp_path / "none", model_dir, corpus_dir=tmp_path / "empty", api_keys=KEYS)
    with TestClient(create_app(settings, service=Service(settings, embedder=embedder))) as c:
        assert c.app.state.runtime.wait_loaded(WAIT_CAP_S)
        r = c.get("/readyz")
        assert r.status_code == 503 and error_of(r)["code"] == "not_ready" and "不存在" in error_of(r)["message"]
        r = ask(c, Q2025)
        assert r.status_code == 503 and error_of(r)["code"] == "not_ready"


def test_server_builds_the_index_from_the_corpus_when_there_is_none(tmp_path, hashing_embedder):
    # Bookkeeping, not quality: the seeded test double embeds (what it answers is tested on the real model).
    settings = double_settings(tmp_path / "fresh", api_keys=KEYS)
    with TestClient(create_app(settings, service=Service(settings, embedder=hashing_embedder))) as c:
        wait_ready(c)
        assert c.get("/readyz").json()["index"]["documents"] == 5
        assert "650万户" in ask(c, Q2025).json()["answer"]


def test_metrics_count_requests_answers_and_index_size(client):
    ask(client, Q2025)
    ask(client, "火星上有多少家奶茶店？")
    text = client.get("/metrics").text
    assert 'http_requests_total{handler="/api/v1/ask",method="POST",status="200"}' in text
    assert 'qa_answers_total{found="true"}' in text and 'qa_answers_total{found="false"}' in text
    assert "qa_index_documents 5.0" in text


def test_openapi_carries_chinese_examples(client):
    spec = client.get("/openapi.json").json()
    examples = spec["components"]["schemas"]["AskRequest"]["examples"]
    assert {"question": Q2025} in examples
    assert spec["paths"]["/api/v1/ask"]["post"]["summary"] == "问答"


def test_docs_page_loads_its_scripts_from_the_service_not_a_cdn(client):
    html = client.get("/docs").text
    assert "cdn" not in html.lower() and "/static-offline-docs/swagger-ui-bundle.js" in html
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


# ----- keys and roles -----

def test_ask_without_a_key_returns_401(client):
    r = client.post("/api/v1/ask", json={"question": Q2025})
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"


def test_ask_with_a_wrong_key_returns_401(client):
    r = client.post("/api/v1/ask", json={"question": Q2025}, headers={"X-API-Key": "not-a-key"})
    assert r.status_code == 401 and error_of(r)["message"] == "API 密钥无效"


def test_bearer_token_is_accepted(client):
    r = client.post("/api/v1/ask", json={"question": Q2025}, headers={"Authorization": f"Bearer {READER_KEY}"})
    assert r.status_code == 200


def test_another_authorization_scheme_returns_401(client):
    r = client.post("/api/v1/ask", json={"question": Q2025}, headers={"Authorization": f"Basic {READER_KEY}"})
    assert r.status_code == 401 and "Bearer" in error_of(r)["message"]


def test_me_tells_the_role_of_the_key(client):
    assert client.get("/api/v1/me", headers=ADMIN).json()["role"] == "admin"
    body = client.get("/api/v1/me", headers=READER).json()
    assert body["role"] == "reader" and body["key_id"].startswith("k-") and READER_KEY not in body["key_id"]


def test_reader_cannot_upload(client):
    r = upload(client, [("a.txt", "文字".encode())], headers=READER)
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"


def test_reader_cannot_delete(client):
    r = client.delete(f"/api/v1/documents/{PLAN}", headers=READER)
    assert r.status_code == 403
    assert PLAN in [d["doc_id"] for d in client.get("/api/v1/documents", headers=READER).json()["documents"]]


def test_anonymous_reading_when_allowed_but_never_writing(corpus_service):
    with app_client(corpus_service, allow_anonymous_read=True) as c:
        wait_ready(c)
        assert c.post("/api/v1/ask", json={"question": Q2025}).status_code == 200
        assert c.delete(f"/api/v1/documents/{PLAN}").status_code == 403


def test_keys_file_is_read(tmp_path, corpus_service):
    keys = tmp_path / "keys.txt"
    keys.write_text("# 门户网站\nreader:portal-key-1\n\nadmin:ops-key-2  # 运维\n", encoding="utf-8")
    with app_client(corpus_service, api_keys="", api_keys_file=keys) as c:
        wait_ready(c)
        assert c.post("/api/v1/ask", json={"question": Q2025}, headers={"X-API-Key": "portal-key-1"}).status_code == 200
        assert c.get("/api/v1/jobs/" + "0" * 32, headers={"X-API-Key": "ops-key-2"}).status_code == 404


def test_malformed_key_setting_stops_start_up_without_echoing_the_key(corpus_service):
    settings = corpus_service.settings.model_copy(update={"api_keys": "superuser:s3cret-value"})
    with pytest.raises(InvalidArgument) as e:
        create_app(settings, service=corpus_service)
    assert "s3cret-value" not in e.value.message


def test_keys_are_never_logged_only_their_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="api.access"):
        ask(client, Q2025)
        client.post("/api/v1/ask", json={"question": Q2025}, headers={"X-API-Key": "wrong-key-9"})
    lines = [r.getMessage() for r in caplog.records if r.name == "api.access"]
    assert lines and not any(READER_KEY in line or "wrong-key-9" in line for line in lines)
    record = json.loads(lines[0])
    assert record["route"] == "/api/v1/ask" and record["status"] == 200 and record["key_id"].startswith("k-")


def test_rate_limit_per_key_returns_429_with_retry_after(corpus_service):
    with app_client(corpus_service, rate_limit_per_minute=2) as c:
        wait_ready(c)
        codes = [ask(c, Q2025).status_code for _ in range(3)]
        r = ask(c, Q2025)
        assert codes == [200, 200, 429] and r.status_code == 429
        assert error_of(r)["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        # another key has its own allowance
        assert c.post("/api/v1/ask", json={"question": Q2025}, headers=ADMIN).status_code == 200


def test_cors_allows_the_configured_origin_only(corpus_service):
    with app_client(corpus_service, cors_origins="http://portal.example.gov.cn") as c:
        wait_ready(c)
        pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,content-type"}
        ok = c.options("/api/v1/ask", headers={"Origin": "http://portal.example.gov.cn", **pre})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://portal.example.gov.cn"
        other = c.options("/api/v1/ask", headers={"Origin": "http://evil.example.com", **pre})
        assert "access-control-allow-origin" not in other.headers
        # error responses carry the header too, so the portal can read their message
        r = c.post("/api/v1/ask", json={"question": ""}, headers={"Origin": "http://portal.example.gov.cn", **READER})
        assert r.status_code == 422 and r.headers["access-control-allow-origin"] == "http://portal.example.gov.cn"


# ----- ask -----

def test_ask_answers_with_the_table_row_cited_and_highlighted(client):
    body = ask(client, Q2025).json()
    assert body["found"] and body["answer"] == "650万户"
    top = body["citations"][0]
    assert "专栏1" in top["section"] and top["kind"] == "table_row"
    assert any("650" in top["text"][a:b] for a, b in top["highlight"])


def test_ask_citation_offsets_point_into_the_original_document(client):
    top = ask(client, Q2025).json()["citations"][0]
    doc = client.get(f"/api/v1/documents/{top['doc_id']}", headers=READER).json()
    a, b = top["doc_offsets"]
    assert "650" in doc["raw_text"][a:b] and "488.84" in doc["raw_text"][a:b]


def test_ask_follow_up_uses_the_history(client):
    body = ask(client, "那2020年呢？", history=[Q2025]).json()
    assert body["found"] and "488.84" in body["answer"] and "2020" in body["rewritten_question"]


def test_ask_gives_what_the_cli_gives(client, corpus_service, model_dir):
    from typer.testing import CliRunner

    from qa.cli import app as cli

    out = CliRunner().invoke(cli, ["ask", Q2025, "--json", "--index", str(corpus_service.settings.index_dir),
                                   "--model", str(model_dir)])
    assert out.exit_code == 0, out.output
    from_cli, from_api = json.loads(out.stdout), ask(client, Q2025).json()
    for body in (from_cli, from_api):
        body.pop("timings_ms")
    # What only the API adds: the answer's record ids (issue 13) and the generated answer (issue 12).
    for key in ("answer_id", "conversation_id", "generated"):
        from_api.pop(key, None)
    assert from_api == from_cli


def test_ask_with_nothing_in_the_knowledge_base_says_so(client):
    r = ask(client, "火星上有多少家奶茶店？")
    body = r.json()
    assert r.status_code == 200 and body["found"] is False
    assert body["answer"].startswith("知识库中没有找到") and body["citations"]


def test_ask_with_a_region_filter_answers_from_that_region(client):
    body = ask(client, "市场主体有多少户？", filters={"regions": ["贵州"]}).json()
    assert body["citations"] and all("贵州" in c["region"] for c in body["citations"])


def test_ask_with_an_empty_question_returns_422(client):
    r = ask(client, "   ")
    assert r.status_code == 422 and error_of(r) == {"code": "invalid_argument", "message": "问题不能为空"}


def test_ask_with_too_long_a_question_returns_422(client):
    r = ask(client, "市场" * 300)
    assert r.status_code == 422 and "问题过长：600 个字符" in error_of(r)["message"]


def test_ask_with_too_long_a_history_returns_422(client):
    r = ask(client, "那2020年呢？", history=[Q2025] * 21)
    assert r.status_code == 422 and "对话历史过长" in error_of(r)["message"]


def test_ask_with_top_k_out_of_range_returns_422_naming_the_field(client):
    r = ask(client, Q2025, top_k=0)
    err = error_of(r)
    assert r.status_code == 422 and err["code"] == "invalid_request" and "top_k" in err["message"]


def test_ask_with_an_unknown_field_is_answered_as_if_it_were_absent(client):
    # a portal that adds its own fields (`user`) must not break
    r = ask(client, Q2025, user="张三", filters={"regions": [], "portal_tag": "x"})
    assert r.status_code == 200 and r.json()["answer"] == ask(client, Q2025).json()["answer"]


def test_ask_with_a_field_of_the_wrong_type_returns_422(client):
    r = ask(client, Q2025, history="2024年呢")
    assert r.status_code == 422 and "history" in error_of(r)["message"]


def test_ask_with_a_malformed_date_filter_returns_422(client):
    r = ask(client, Q2025, filters={"date_from": "2021年"})
    assert r.status_code == 422 and "filters.date_from" in error_of(r)["message"]


def test_ask_with_malformed_json_returns_400(client):
    r = client.post("/api/v1/ask", content=b'{"question": "2025', headers={**READER, "Content-Type": "application/json"})
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_json"


def test_ask_with_an_oversized_body_returns_413(client):
    r = client.post("/api/v1/ask", content=b" " * (2 * 1024 * 1024), headers={**READER, "Content-Type": "application/json"})
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"


def test_unknown_route_and_wrong_method_answer_in_json(client):
    r = client.get("/api/v1/nothing-here", headers=READER)
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    r = client.get("/api/v1/ask", headers=READER)
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"


# ----- search -----

def test_search_ranks_chunks_with_every_score(client):
    body = client.post("/api/v1/search", json={"query": "2025年市场主体目标", "top_k": 5}, headers=READER).json()
    hits = body["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert any("专栏1" in h["section"] for h in hits[:2])
    assert all(h["score"] > 0 for h in hits) and hits == sorted(hits, key=lambda h: -h["score"])
    assert any(h["dense_score"] is not None and h["bm25_score"] is not None for h in hits)
    assert hits[0]["title"] and hits[0]["raw_end"] > hits[0]["raw_start"]


def test_search_in_bm25_mode_has_no_dense_ranks(client):
    hits = client.post("/api/v1/search", json={"query": "口罩", "mode": "bm25"}, headers=READER).json()["hits"]
    assert hits and all(h["dense_rank"] is None and h["bm25_rank"] is not None for h in hits)


def test_search_with_an_unknown_mode_returns_422(client):
    r = client.post("/api/v1/search", json={"query": "口罩", "mode": "magic"}, headers=READER)
    assert r.status_code == 422 and "mode" in error_of(r)["message"]


# ----- chat (server-sent events) -----

def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_chat_streams_rewritten_citations_answer_done(client):
    r = client.post("/api/v1/chat", json={"question": "那2020年呢？", "history": [Q2025]}, headers=READER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert [name for name, _ in events] == ["rewritten", "citations", "answer", "done"]
    rewritten, citations, answer, done = (data for _, data in events)
    assert "2020" in rewritten["rewritten_question"]
    assert "专栏1" in citations["citations"][0]["section"]
    assert "488.84" in answer["answer"]
    expected = ask(client, "那2020年呢？", history=[Q2025]).json()
    for body in (done, expected):
        body.pop("timings_ms")
        # each answer is its own record (issue 13): ids of their own, in a conversation of its own
        assert body.pop("answer_id") and body.pop("conversation_id")
    assert done == expected


def test_ask_says_whether_an_answer_was_found_unsure_or_not_found(client):
    found = ask(client, Q2025).json()
    assert (found["found"], found["status"]) == (True, "found")
    # Refused, but the passage that says "注销“僵尸企业”7.43万家" is close: each card marks its best sentence.
    unsure = ask(client, "湖南2020年清掉了多少家长期不经营的空壳企业").json()
    assert (unsure["found"], unsure["status"], unsure["answer"]) == (False, "unsure", "未能确定答案，以下片段最相关：")
    assert unsure["citations"] and all(len(c["highlight"]) == 1 for c in unsure["citations"])
    absent = ask(client, "火星上的市场主体有多少？").json()
    assert (absent["found"], absent["status"]) == (False, "not_found")
    assert absent["citations"] and all(c["highlight"] == [] for c in absent["citations"])


def test_chat_events_carry_the_answer_status(client):
    r = client.post("/api/v1/chat", json={"question": "湖南2020年清掉了多少家长期不经营的空壳企业"}, headers=READER)
    events = dict(parse_sse(r.text))
    assert events["citations"]["status"] == events["answer"]["status"] == events["done"]["status"] == "unsure"


def test_openapi_documents_the_answer_status(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["AnswerOut"]
    status = schema["properties"]["status"]
    assert status["enum"] == ["found", "unsure", "not_found"] and "未能确定答案" in status["description"]
    assert {e["status"] for e in schema["examples"]} == {"found", "unsure"}


def test_chat_with_an_empty_question_is_refused_before_streaming(client):
    r = client.post("/api/v1/chat", json={"question": ""}, headers=READER)
    assert r.status_code == 422 and error_of(r)["code"] == "invalid_argument"


# ----- documents -----

def test_list_documents_with_metadata_chunk_counts_and_index_status(client, corpus_service):
    body = client.get("/api/v1/documents", headers=READER).json()
    docs = {d["doc_id"]: d for d in body["documents"]}
    assert len(docs) == 5 and docs[PLAN]["date"] == "2021-08-18" and docs[PLAN]["region"] == "湖南"
    assert sum(d["chunks"] for d in docs.values()) == body["index"]["chunks"] == len(corpus_service.index.chunks)
    assert "path" not in docs[PLAN]  # server paths are not the client's business


def test_get_document_gives_the_original_text_and_chunk_spans(client, corpus_service):
    body = client.get(f"/api/v1/documents/{PLAN}", headers=READER).json()
    raw = corpus_service.index.document(PLAN).raw_text
    assert body["raw_text"] == raw and body["title"] == "湖南省“十四五”市场监管规划"
    spans = body["chunk_spans"]
    assert len(spans) == body["chunks"] and all(0 <= s["raw_start"] < s["raw_end"] <= len(raw) for s in spans)
    assert any(s["kind"] == "table" and "专栏1" in s["section"] for s in spans)


def test_get_an_unknown_document_returns_404(client):
    r = client.get("/api/v1/documents/没有这篇", headers=READER)
    assert r.status_code == 404 and error_of(r)["code"] == "document_not_found" and "没有这篇" in error_of(r)["message"]


def test_upload_then_ask_answers_from_the_new_document(writable):
    text = "宠物医院登记情况\n发布日期：2026-10-08\n2026年前三季度，本区共新设立宠物医院217家，同比增长9%。\n"
    r = upload(writable, [("宠物医院登记情况.txt", text.encode())])
    assert r.status_code == 202 and r.headers["location"].endswith(r.json()["job_id"])
    job = wait_job(writable, r.json()["job_id"])
    assert job["status"] == "succeeded" and job["files"][0]["doc_ids"] == ["宠物医院登记情况"]
    assert job["files"][0]["status"] == "added" and job["report"]["documents"] == 6
    body = ask(writable, "2026年前三季度新设立宠物医院多少家？").json()
    assert body["found"] and body["answer"] == "217家" and body["citations"][0]["doc_id"] == "宠物医院登记情况"


def test_upload_stores_files_under_the_index_folder_whatever_the_client_calls_them(writable, tmp_path):
    index_dir = writable.app.state.runtime.settings.index_dir
    r = upload(writable, [("../../../../tmp/evil.txt", "越界测试文件。本文件只有一句话。".encode())])
    job = wait_job(writable, r.json()["job_id"])
    assert job["files"][0]["doc_ids"] == ["evil"]
    stored = list((index_dir / "uploads" / job["job_id"]).iterdir())
    assert len(stored) == 1 and stored[0].name.endswith(".txt") and "evil" not in stored[0].name
    assert not Path("/tmp/evil.txt").exists()


def test_upload_of_jsonl_as_the_request_body(writable):
    lines = [{"id": "通知一", "title": "关于开展计量器具检定的通知", "text": "2026年计量器具免费检定共覆盖农贸市场86个。"},
             {"id": "通知二", "title": "关于开展价格检查的通知", "text": "2026年共开展价格专项检查14次。"}]
    body = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    r = writable.post("/api/v1/documents", content=body, headers={**ADMIN, "Content-Type": "application/x-ndjson"})
    job = wait_job(writable, r.json()["job_id"])
    assert job["status"] == "succeeded" and job["files"][0]["doc_ids"] == ["通知一", "通知二"]


def test_a_document_whose_id_holds_a_slash_can_be_read_and_deleted(writable):
    line = {"id": "2026/通知", "title": "关于开展电子秤检定的通知", "text": "2026年共检定农贸市场电子秤1200台。"}
    r = writable.post("/api/v1/documents", content=json.dumps(line, ensure_ascii=False).encode(),
                      headers={**ADMIN, "Content-Type": "application/x-ndjson"})
    assert wait_job(writable, r.json()["job_id"])["status"] == "succeeded"
    assert writable.get("/api/v1/documents/2026/通知", headers=READER).json()["title"] == "关于开展电子秤检定的通知"
    assert writable.delete("/api/v1/documents/2026/通知", headers=ADMIN).json()["removed"] == ["2026/通知"]


def test_upload_with_no_supported_file_returns_415_and_stores_nothing(writable):
    index_dir = writable.app.state.runtime.settings.index_dir
    r = upload(writable, [("病毒.exe", b"MZ\x90\x00")])
    assert r.status_code == 415 and "病毒.exe" in error_of(r)["message"]
    assert not any((index_dir / "uploads").iterdir())


def test_upload_of_too_large_a_file_returns_413(corpus_service, tmp_path, embedder):
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    with app_client(Service(settings, embedder=embedder), max_upload_bytes=1000) as c:
        wait_ready(c)
        r = upload(c, [("大文件.txt", "字".encode() * 1000)])
        assert r.status_code == 413 and "大文件.txt" in error_of(r)["message"]


def test_upload_of_too_many_files_returns_413(corpus_service, tmp_path, embedder):
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    with app_client(Service(settings, embedder=embedder), max_upload_files=2) as c:
        wait_ready(c)
        r = upload(c, [(f"{i}.txt", "文字".encode()) for i in range(3)])
        assert r.status_code == 413 and "最多上传 2 个" in error_of(r)["message"]


def test_upload_without_files_returns_400(writable):
    r = writable.post("/api/v1/documents", data={"note": "x"}, files={"other": ("a.txt", b"x")}, headers=ADMIN)
    assert r.status_code == 400 and error_of(r)["code"] == "bad_request"


def test_upload_with_another_content_type_returns_415(writable):
    r = writable.post("/api/v1/documents", json={"text": "x"}, headers=ADMIN)
    assert r.status_code == 415


def test_failed_ingest_reports_why_and_leaves_the_live_index(writable):
    before = writable.get("/api/v1/index", headers=READER).json()
    r = upload(writable, [("扫描件.pdf", b"%PDF-1.4 not really a pdf"), ("空白.txt", b"   \n")])
    job = wait_job(writable, r.json()["job_id"])
    assert job["status"] == "failed" and job["error"]["code"] == "nothing_ingested"
    assert [f["status"] for f in job["files"]] == ["error", "error"]
    pdf = job["files"][0]
    assert pdf["name"] == "扫描件.pdf" and "PDF" in pdf["error"]["message"] and "/uploads/" not in pdf["error"]["message"]
    assert writable.get("/api/v1/index", headers=READER).json()["version"] == before["version"]


def test_unknown_job_returns_404(writable):
    r = writable.get("/api/v1/jobs/" + "0" * 32, headers=ADMIN)
    assert r.status_code == 404 and error_of(r)["code"] == "job_not_found"
    assert writable.get("/api/v1/jobs/..%2F..%2Fetc", headers=ADMIN).status_code == 404


def test_delete_removes_the_document_from_answers(writable):
    r = writable.delete(f"/api/v1/documents/{PLAN}", headers=ADMIN)
    assert r.status_code == 200 and r.json()["removed"] == [PLAN] and r.json()["documents"] == 4
    assert writable.get(f"/api/v1/documents/{PLAN}", headers=READER).status_code == 404
    assert all(c["doc_id"] != PLAN for c in ask(writable, Q2025).json()["citations"])


def test_delete_of_an_unknown_document_returns_404(writable):
    r = writable.delete("/api/v1/documents/没有这篇", headers=ADMIN)
    assert r.status_code == 404 and error_of(r)["code"] == "document_not_found"


def test_a_request_in_flight_finishes_on_the_index_version_it_started_on(writable):
    svc = writable.app.state.runtime.service
    steps = svc.answer_steps(Q2025)
    next(steps)  # the question is rewritten; the index version is taken
    assert writable.delete(f"/api/v1/documents/{PLAN}", headers=ADMIN).status_code == 200
    answered = next(steps)
    assert answered.answer.answer == "650万户" and answered.answer.citations[0].doc_id == PLAN
    assert PLAN not in svc.index.docs
