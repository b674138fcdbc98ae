"""The answer records store (qa/records): migrated from empty and in place, owners kept apart,
retention, the export, and what QA_RECORDS=questions keeps. No model needed."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from qa.errors import AnswerNotFound, ConversationNotFound
from qa.records import Records
from qa.records import migrate as records_migrate
from qa.settings import Settings

ALICE, BOB = "key:k-alice", "key:k-bob"


def answer(question: str, status: str = "found", text_: str = "650万户") -> dict:
    """An answer object as the API returns it (the fields the store reads)."""
    return {"question": question, "rewritten_question": question, "found": status == "found", "status": status,
            "answer": text_ if status == "found" else "知识库中没有找到", "answer_sentence": "", "confidence": 0.9,
            "extractor": "table_cell" if status == "found" else "", "timings_ms": {"retrieve": 3.0},
            "citations": [{"rank": 1, "text": "全省市场主体数 650"}], "others": []}


@pytest.fixture()
def store(tmp_path) -> Records:
    r = Records(f"sqlite:///{tmp_path / 'records.db'}")
    yield r
    r.close()


def test_an_empty_database_is_migrated_to_the_newest_schema(tmp_path):
    path = tmp_path / "new" / "records.db"
    r = Records(f"sqlite:///{path}")
    assert records_migrate.current(r.engine) == records_migrate.head() == r.revision
    with r.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    r.close()
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "answers", "feedback", "alembic_version"} <= tables


def test_reopening_an_upgraded_database_keeps_its_records(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    first = Records(url)
    answer_id, _ = first.record(ALICE, None, answer("2025年市场主体目标是多少？"), {})
    first.close()
    again = Records(url)  # the upgrade is a no-op now
    assert records_migrate.current(again.engine) == records_migrate.head()
    assert again.answer(answer_id).question == "2025年市场主体目标是多少？"
    again.close()


def test_the_default_database_sits_beside_the_index_versions(tmp_path):
    r = Records.from_settings(Settings(index_dir=tmp_path / "kb"))
    r.record(ALICE, None, answer("q"), {})
    r.close()
    assert (tmp_path / "kb" / "records" / "records.db").is_file()
    assert Records.from_settings(Settings(index_dir=tmp_path / "kb", records="off")) is None


def test_follow_up_history_is_the_answered_questions_of_the_conversation(store):
    _, conv = store.record(ALICE, None, answer("2025年市场主体目标是多少？"), {})
    store.record(ALICE, conv, answer("火星上有多少市场主体？", "not_found"), {})
    store.record(ALICE, conv, answer("那2020年呢？"), {})
    assert store.history(conv, ALICE, 20, 4000) == ["2025年市场主体目标是多少？", "那2020年呢？"]
    assert store.history(conv, ALICE, 1, 4000) == ["那2020年呢？"]


def test_one_owner_never_reads_or_continues_another_owners_conversation(store):
    answer_id, conv = store.record(ALICE, None, answer("q"), {})
    assert store.conversations(BOB) == [] and len(store.conversations(ALICE)) == 1
    for call in (lambda: store.conversation(conv, BOB), lambda: store.history(conv, BOB, 20, 4000),
                 lambda: store.record(BOB, conv, answer("q2"), {}), lambda: store.rename(conv, BOB, "x"),
                 lambda: store.delete_conversation(conv, BOB)):
        with pytest.raises(ConversationNotFound):
            call()
    assert store.answer(answer_id, BOB) is None
    with pytest.raises(AnswerNotFound):
        store.set_feedback(answer_id, BOB, -1, "其他", "")
    # nobody's: a caller that cannot be identified again reads nothing, not even other unidentified ones'
    store.record("", None, answer("q3"), {})
    assert store.conversations("") == []
    # an admin (owner None) reads everyone's, but asks only in their own
    assert len(store.conversations(None)) == 2
    assert store.conversation(conv, None)[0].owner == ALICE
    with pytest.raises(ConversationNotFound):
        store.history(conv, None, 20, 4000)


def test_feedback_is_changeable_and_deletable(store):
    answer_id, _ = store.record(ALICE, None, answer("q"), {})
    new, old = store.set_feedback(answer_id, ALICE, -1, "答案错误", "数字不对")
    assert old is None and (new.vote, new.reason, new.comment) == (-1, "答案错误", "数字不对")
    new, old = store.set_feedback(answer_id, ALICE, 1, "", "")
    assert old.vote == -1 and new.vote == 1
    assert store.answer(answer_id).feedback.vote == 1
    store.delete_feedback(answer_id, ALICE)
    assert store.answer(answer_id).feedback is None


def test_deleting_a_conversation_deletes_its_answers_and_feedback(store):
    answer_id, conv = store.record(ALICE, None, answer("q"), {})
    store.set_feedback(answer_id, ALICE, -1, "其他", "")
    store.delete_conversation(conv, ALICE)
    assert store.answer(answer_id) is None
    with store.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM feedback")).scalar() == 0


def test_retention_purges_answers_older_than_the_setting_and_empty_conversations(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    r = Records(url, days=30)
    old_id, old_conv = r.record(ALICE, None, answer("旧问题"), {})
    r.set_feedback(old_id, ALICE, -1, "没找到", "")
    new_id, _ = r.record(ALICE, None, answer("新问题"), {})
    later = datetime.now(UTC) + timedelta(days=31)
    with r.engine.begin() as c:  # the new question is asked a month after the old one
        c.execute(text("UPDATE answers SET created = :t WHERE id = :i"), {"t": later.replace(tzinfo=None), "i": new_id})
        c.execute(text("UPDATE conversations SET updated = :t WHERE id != :i"),
                  {"t": later.replace(tzinfo=None), "i": old_conv})
    assert r.purge(now=later + timedelta(hours=1)) == 1
    assert r.answer(old_id) is None and r.answer(new_id) is not None
    assert [c.title for c in r.conversations(ALICE)] == ["新问题"]
    with r.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM feedback")).scalar() == 0
    r.close()


def test_answers_for_the_gap_report_follow_the_date_range(store):
    a, _ = store.record(ALICE, None, answer("q1", "not_found"), {})
    store.set_feedback(a, ALICE, -1, "没找到", "")
    store.record(BOB, None, answer("q2"), {})
    now = datetime.now(UTC)
    got = store.answers("default", now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert [(x.question, x.owner, x.status) for x in got] == [("q1", ALICE, "not_found"), ("q2", BOB, "found")]
    assert got[0].feedback.reason == "没找到" and got[1].feedback is None
    assert store.answers("default", now + timedelta(minutes=5), None) == []
    assert store.answers("other-kb") == []
    assert store.answer_json(got[1].answer_id)["citations"][0]["text"] == "全省市场主体数 650"


def test_export_gives_every_answer_with_its_feedback(store):
    a, conv = store.record(ALICE, None, answer("2025年市场主体目标是多少？"), {"index_version": "v1"})
    store.set_feedback(a, ALICE, -1, "引用不对", "不是这份文件")
    rows = list(store.export())
    assert len(rows) == 1
    row = rows[0]
    assert (row["answer_id"], row["conversation_id"], row["owner"], row["question"], row["answer"]) == (
        a, conv, ALICE, "2025年市场主体目标是多少？", "650万户")
    assert (row["vote"], row["reason"], row["comment"], row["index_version"]) == ("down", "引用不对", "不是这份文件", "v1")
    future = datetime.now(UTC) + timedelta(days=1)
    assert list(store.export(since=future)) == []


def test_questions_mode_keeps_no_answer_text_and_strips_what_full_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    full = Records(url, mode="full")
    kept, _ = full.record(ALICE, None, answer("q1"), {"generation": {"raw": "模型原文", "verified": True}})
    full.close()
    questions = Records(url, mode="questions")
    new, _ = questions.record(ALICE, None, answer("q2"), {"generation": {"raw": "模型原文", "verified": False}})
    for answer_id in (kept, new):
        record = questions.answer(answer_id)
        assert record.question in ("q1", "q2") and record.status == "found" and record.answer == ""
        assert questions.answer_json(answer_id) is None
        assert "raw" not in record.trace["generation"] and "verified" in record.trace["generation"]
    questions.close()


def test_a_bad_database_url_is_a_clear_error():
    from qa.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="QA_RECORDS_URL"):
        Records("not a url at all")


def test_a_generation_after_the_answer_is_kept_with_it(store):
    answer_id, _ = store.record(ALICE, None, answer("q"), {"answered_by": {"extractor": "table_cell", "generator": None}})
    store.add_generation(answer_id, {"model": "qwen", "raw": "650万户。[1]", "verified": True},
                         {"text": "650万户。[1]", "verified": True})
    record = store.answer(answer_id)
    assert record.trace["generation"]["raw"] == "650万户。[1]"
    assert record.trace["answered_by"] == {"extractor": "table_cell", "generator": "qwen"}
    assert store.answer_json(answer_id)["generated"]["text"] == "650万户。[1]"


def test_a_failed_write_does_not_carry_the_question_into_its_error(store):
    # The API logs the error of a failed write: it must not hold the question (README: never in a log line).
    with store.engine.begin() as c:
        c.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON answers BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    from sqlalchemy.exc import SQLAlchemyError

    with pytest.raises(SQLAlchemyError) as e:
        store.record(ALICE, None, answer("身份证号110101199001011234的人"), {})
    assert "disk full" in str(e.value) and "110101199001011234" not in str(e.value)


def test_questions_mode_leaves_no_answer_object_and_a_restart_reads_nothing_to_strip(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    full = Records(url, mode="full")
    for n in range(7):
        full.record(ALICE, None, answer(f"q{n}"), {"generation": {"raw": "模型原文", "verified": True}})
    full.close()
    first = Records(url, mode="questions")
    assert first.strip_answers() == 0  # the start-up already stripped all seven
    first.record(ALICE, None, answer("q7"), {})
    first.close()
    # Not the JSON text 'null': a row that keeps no answer object is NULL, and found as such.
    db = sqlite3.connect(tmp_path / "records.db")
    assert db.execute("SELECT count(*) FROM answers WHERE answer_json IS NOT NULL OR answer != ''").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM answers").fetchone() == (8,)
    # A row an earlier version stripped holds the JSON text 'null': it is not stripped (read) again.
    db.execute("UPDATE answers SET answer_json = 'null' WHERE question = 'q0'")
    db.commit()
    again = Records(url, mode="questions")
    assert again.strip_answers(batch=3) == 0 and again.answer_json(again.answers("default")[0].answer_id) is None
    again.close()


def test_the_gap_reports_answers_are_chosen_by_the_database(store):
    from qa import gaps

    ids = {}
    for question, status, confidence in (("答好了", "found", 0.9), ("没找到", "not_found", 0.0), ("没把握", "unsure", 0.4),
                                         ("低置信", "found", 0.3), ("被点踩", "found", 0.95)):
        ids[question], _ = store.record(ALICE, None, {**answer(question, status), "confidence": confidence}, {})
    store.set_feedback(ids["被点踩"], ALICE, -1, "答案错误", "")
    store.set_feedback(ids["答好了"], ALICE, 1, "", "")
    chosen = store.answers("default", gaps_below=0.5)
    assert [r.question for r in chosen] == ["没找到", "没把握", "低置信", "被点踩"]
    # the same as the report's own rule over every answer
    assert {i.answer_id for i in gaps.gap_items(chosen, 0.5)} == {i.answer_id for i in gaps.gap_items(store.answers("default"), 0.5)}


def test_two_first_votes_at_once_both_succeed(tmp_path):
    # A double click sends two PUTs before either is answered: both find no feedback yet and insert.
    import threading

    r = Records(f"sqlite:///{tmp_path / 'records.db'}")
    errors: list[Exception] = []
    for n in range(40):
        answer_id, _ = r.record(ALICE, None, answer(f"q{n}"), {})
        start = threading.Barrier(4)

        def vote(v: int, answer_id: str, start: threading.Barrier) -> None:
            start.wait()
            try:
                r.set_feedback(answer_id, ALICE, v, "", "")
            except Exception as e:  # noqa: BLE001 - collected for the assertion
                errors.append(e)

        threads = [threading.Thread(target=vote, args=(v, answer_id, start)) for v in (1, -1, 1, -1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert r.answer(answer_id).feedback is not None
    r.close()
    assert errors == []
