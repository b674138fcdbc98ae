"""The edge of the API, where an attack run found it could be frozen or exhausted without a key:
oversized heads, bodies refused before they are read, chunked bodies counted as they arrive,
per-file upload limits, key guessing, request ids, methods, and the cost of a long history.

The socket-level cases run against a real `qa serve` on loopback (the HTTP parser is part of what
is tested); the rest through `TestClient(create_app(...))`."""
from __future__ import annotations

import json
import logging
import select
import socket

import pytest
from conftest import ADMIN, ADMIN_KEY, READER, READER_KEY, copy_index
from fastapi.testclient import TestClient
from test_api import Q2025, app_client, ask, error_of, upload, wait_ready

from api.app import create_app
from qa.rewrite import rewrite
from qa.service import Service

# ----- a real server: the HTTP parser and the guard, byte by byte -----


def _raw(url: str, head: bytes, body_blocks=(), read_timeout: float = 30) -> tuple[bytes, int]:
    """Send `head` and then `body_blocks` until the server answers or closes; returns what it
    answered and how many body bytes it took before that."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port))) as s:
        try:
            s.sendall(head)
            for block in body_blocks:
                if select.select([s], [], [], 0)[0]:  # the server has answered (or closed)
                    break
                s.sendall(block)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_answer(s, read_timeout), sent


def _read_answer(s: socket.socket, timeout: float) -> bytes:
    """The response head and its body (as long as Content-Length says), or what came before a close."""
    s.settimeout(timeout)
    answer = b""
    try:
        while chunk := s.recv(65536):
            answer += chunk
            head, sep, body = answer.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if sep and length is not None and len(body) >= length:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _chunks(total: int, size: int = 64 * 1024):
    block = f"{size:x}\r\n".encode() + b"a" * size + b"\r\n"
    for _ in range(total // size):
        yield block


def test_an_oversized_request_head_is_refused_as_it_arrives(live_server):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    answer, _ = _raw(live_server.url, head, (b"a" * 65536 for _ in range(64)))  # 4 MB of one header
    assert _status(answer) == 400
    # …and the server was never held: the next request is answered at once
    answer, _ = _raw(live_server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _status(answer) == 200


def test_a_chunked_body_without_a_key_is_refused_before_it_is_read(live_server):
    head = (b"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    answer, sent = _raw(live_server.url, head, _chunks(50 * 1024 * 1024))
    assert _status(answer) == 401 and b'"unauthorized"' in answer
    assert sent < 50 * 1024 * 1024  # answered long before the body ended


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(live_server):
    head = (f"POST /api/v1/ask HTTP/1.1\r\nHost: x\r\nX-API-Key: {READER_KEY}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    answer, sent = _raw(live_server.url, head, _chunks(50 * 1024 * 1024))
    assert _status(answer) == 413 and b'"payload_too_large"' in answer
    assert sent < 50 * 1024 * 1024


def test_a_multipart_upload_without_a_key_is_refused_before_it_is_read(live_server):
    boundary = "qa-boundary"
    head = (f"POST /api/v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    answer, sent = _raw(live_server.url, head, _chunks(50 * 1024 * 1024))
    assert _status(answer) == 401 and sent < 50 * 1024 * 1024
    assert not any((live_server.index_dir / "uploads").glob("*/*"))


# ----- through the app -----


@pytest.fixture()
def small_limits(tmp_path, corpus_service, embedder):
    """A writable app with a 2 KB per-file limit, 2 files per upload and 3 wrong keys per minute."""
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    with app_client(Service(settings, embedder=embedder), max_upload_bytes=2048, max_upload_files=2,
                    auth_failures_per_minute=3) as c:
        wait_ready(c)
        yield c, settings.index_dir


def test_a_file_over_the_limit_stops_the_upload_and_leaves_nothing(small_limits):
    client, index_dir = small_limits
    r = upload(client, [("小.txt", "关于宠物医院的通报。".encode()), ("大.txt", "很长的通报。".encode() * 2000)])
    assert r.status_code == 413 and "大.txt" in error_of(r)["message"]
    assert not any((index_dir / "uploads").glob("*/*"))


def test_one_file_too_many_stops_the_upload(small_limits):
    client, index_dir = small_limits
    r = upload(client, [(f"{i}.txt", "通报。".encode()) for i in range(3)])
    assert r.status_code == 413 and "最多上传 2 个文件" in error_of(r)["message"]
    assert not any((index_dir / "uploads").glob("*/*"))


def test_a_file_of_a_refused_type_is_left_out_and_the_good_one_kept(small_limits):
    client, index_dir = small_limits
    r = upload(client, [("a.txt", "通报。".encode()), ("b.exe", b"MZ")])
    assert r.status_code == 202
    assert [x["name"] for x in r.json()["rejected"]] == ["b.exe"]
    stored = list((index_dir / "uploads").glob("*/*"))  # kept under a name of its own, with its type
    assert len(stored) == 1 and stored[0].suffix == ".txt" and stored[0].read_bytes() == "通报。".encode()


def test_a_reader_key_cannot_upload(small_limits):
    client, _ = small_limits
    assert upload(client, [("a.txt", "通报。".encode())], headers=READER).status_code == 403


def test_wrong_keys_are_throttled_per_address(small_limits):
    client, _ = small_limits
    statuses = [client.get("/api/v1/me", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    # while the address is locked out, even a right key is not checked
    r = client.get("/api/v1/me", headers=READER)
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    # requests without a key were never guesses (anonymous reading is off: 401, not counted)
    assert client.get("/healthz").status_code == 200


def test_every_response_carries_a_request_id_and_the_log_line_names_it(client, caplog):
    with caplog.at_level(logging.INFO, logger="api.access"):
        given = client.get("/api/v1/me", headers={**READER, "X-Request-ID": "portal-42.a"})
        generated = client.get("/api/v1/me", headers={**READER, "X-Request-ID": "bad id\twith tabs"})
        refused = client.get("/api/v1/me")
    assert given.headers["x-request-id"] == "portal-42.a"
    assert len(generated.headers["x-request-id"]) == 32 and refused.headers["x-request-id"]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "api.access"]
    assert {"portal-42.a", generated.headers["x-request-id"], refused.headers["x-request-id"]} <= {
        line["request_id"] for line in lines}


def test_options_names_every_method_the_path_takes(client):
    listing = client.options("/api/v1/documents", headers=ADMIN)
    one = client.options("/api/v1/documents/某文档", headers=ADMIN)
    assert listing.status_code == one.status_code == 405
    assert {"GET", "POST"} <= set(listing.headers["allow"].split(", "))
    assert {"GET", "DELETE"} <= set(one.headers["allow"].split(", "))


def test_the_openapi_document_states_the_configured_limits(corpus_service):
    settings = corpus_service.settings.model_copy(update={"max_question_chars": 120, "max_history": 6})
    schema = TestClient(create_app(settings, service=corpus_service)).get("/openapi.json").json()
    ask_in = schema["components"]["schemas"]["AskRequest"]["properties"]
    assert ask_in["question"]["maxLength"] == 120 and ask_in["question"]["pattern"] == r"[^\s\x1c-\x1f\x85]"
    # 4,000 characters of history in all, shared by 6 items: each may be as long as a question
    assert ask_in["history"]["maxItems"] == 6 and ask_in["history"]["items"]["maxLength"] == 120
    assert schema["components"]["schemas"]["SearchRequest"]["properties"]["query"]["maxLength"] == 120


# ----- the cost of a long history -----


def test_a_short_follow_up_after_long_questions_is_not_refused_as_too_long(client):
    long_question = "2025年全省市场主体总量达到多少，" + "其中个体工商户和企业的数量分别是多少，" * 20
    r = ask(client, "那2020年呢？", history=[long_question[:480]])
    assert r.status_code == 200, r.json()
    assert r.json()["rewritten_question"].startswith("2020年")


def test_a_history_over_the_character_cap_is_refused(client):
    r = ask(client, Q2025, history=["湖南省株洲市长沙市" * 50] * 10)  # 4,500 characters
    assert r.status_code == 422 and "对话历史过长：共 4500 个字符" in error_of(r)["message"]


def test_only_the_last_turns_shape_a_follow_up():
    noise = ["湖南省、贵州省、河北省和江苏省的市场监管工作情况怎样"] * 30
    assert rewrite("那2020年呢？", noise + ["2025年市场主体目标是多少"]) == "2020年市场主体目标是多少"


def test_a_very_long_wrong_key_is_refused_like_any_other(client):
    r = client.get("/api/v1/me", headers={"X-API-Key": "k" * 8000})
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    assert ADMIN_KEY not in r.text and READER_KEY not in r.text
