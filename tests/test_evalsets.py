"""A knowledge base's own eval set: cases appended from the gap report, checked against the index,
run by `qa eval --kb`, and two runs compared by `qa eval --diff`."""
import json
import subprocess
import sys
import threading
from datetime import date

import pytest
from conftest import PLAN, copy_index

from qa import evalsets, evaluate

PLAN_SENTENCE = "截至2020年底,全省实有市场主体488.84万户,较“十二五”期末增长89.2%。"


@pytest.fixture()
def kb_set(tmp_path):
    return tmp_path / "evalsets" / "default.jsonl"


def add_plan_case(path, index, **over):
    args = {"question": "截至2020年底湖南全省实有市场主体多少户", "answers": ["488.84万户", "488.84"], "doc": PLAN,
            "evidence": "全省实有市场主体488.84万户", "type": "number", "answer_id": "a1", **over}
    return evalsets.add_case(path, index, **args)


def test_an_added_case_is_read_by_qa_eval_with_its_source_and_date(corpus_service, kb_set):
    case = add_plan_case(kb_set, corpus_service.index, added=date(2026, 11, 30))
    line = json.loads(kb_set.read_text(encoding="utf-8"))
    assert line == {"id": "fb0001", "question": "截至2020年底湖南全省实有市场主体多少户", "answers": ["488.84万户", "488.84"],
                    "type": "number", "added": "2026-11-30", "source": "feedback", "evidence": "全省实有市场主体488.84万户",
                    "doc": PLAN, "answer_id": "a1"}
    items, problems = evaluate.load_eval_set(kb_set)
    assert problems == [] and [(i.id, i.source, i.added, i.doc) for i in items] == [
        (case.id, "feedback", "2026-11-30", PLAN)]
    # The case is scoreable for retrieval: the evaluation finds the passage that holds it.
    assert evaluate.relevant_chunks(corpus_service.index, items[0])


def test_evidence_that_is_not_in_the_named_document_is_refused(corpus_service, kb_set):
    with pytest.raises(evalsets.InvalidCase, match="不在文档"):
        add_plan_case(kb_set, corpus_service.index, evidence="全省实有市场主体999万户")
    with pytest.raises(evalsets.InvalidCase, match="没有文档 '不存在的文档'"):
        add_plan_case(kb_set, corpus_service.index, doc="不存在的文档")
    assert not kb_set.exists()


def test_an_answer_that_is_not_in_the_evidence_passage_is_refused(corpus_service, kb_set):
    # 650万户 is the plan's 2025 target: in the document, but not in the passage that holds the evidence.
    with pytest.raises(evalsets.InvalidCase, match="期望答案 '650万户' 不在含有原文片段"):
        add_plan_case(kb_set, corpus_service.index, answers=["650万户"])


@pytest.mark.parametrize("field,value,message", [
    ("question", "  ", "问题不能为空"), ("answers", [], "至少需要一个期望答案"), ("answers", ["x" * 201], "期望答案过长"),
    ("evidence", "", "原文片段不能为空"), ("type", "riddle", "题型必须是"),
])
def test_blank_or_oversized_fields_are_refused_naming_the_field(corpus_service, kb_set, field, value, message):
    with pytest.raises(evalsets.InvalidCase, match=message):
        add_plan_case(kb_set, corpus_service.index, **{field: value})


def test_an_unanswerable_case_is_counted_right_only_when_refused(corpus_service, kb_set):
    case = evalsets.add_unanswerable(kb_set, question="北京市2030年市场主体目标是多少", answer_id="a9")
    line = json.loads(kb_set.read_text(encoding="utf-8"))
    assert line["unanswerable"] is True and line["answers"] == [] and "evidence" not in line and "doc" not in line
    items, _ = evaluate.load_eval_set(kb_set)
    outcomes, _, _ = evaluate.run(corpus_service, items)
    assert outcomes[0].id == case.id and outcomes[0].found is False and outcomes[0].correct is True
    fb = evaluate.score(outcomes, {}, {})["feedback"]
    assert (fb["cases"], fb["unanswerable"], fb["accuracy"]) == (1, 1, 1.0)


def test_the_same_answer_or_question_is_not_added_twice(corpus_service, kb_set):
    add_plan_case(kb_set, corpus_service.index)
    with pytest.raises(evalsets.CaseExists, match="fb0001"):
        add_plan_case(kb_set, corpus_service.index, question="另一个问法")
    with pytest.raises(evalsets.CaseExists, match="fb0001"):
        evalsets.add_unanswerable(kb_set, question="截至2020年底湖南全省实有市场主体多少户？", answer_id="a2")
    assert len(evalsets.read_cases(kb_set)) == 1


def test_concurrent_appends_keep_every_case_with_distinct_ids(kb_set):
    errors = []

    def add(n):
        try:
            evalsets.add_unanswerable(kb_set, question=f"第{n}个知识库未覆盖的问题", answer_id=f"a{n}")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cases = evalsets.read_cases(kb_set)
    assert sorted(c.id for c in cases) == [f"fb{n:04d}" for n in range(1, 17)]
    assert sorted(c.answer_id for c in cases) == sorted(f"a{n}" for n in range(16))
    assert not [p for p in kb_set.parent.iterdir() if p.name.endswith(".tmp")]


def test_hand_written_and_broken_lines_are_kept_when_a_case_is_appended(kb_set):
    kb_set.parent.mkdir(parents=True)
    hand = json.dumps({"id": "q1", "question": "手写的问题", "answers": ["1"], "note": "保留"}, ensure_ascii=False)
    kb_set.write_text(hand + "\n{an unfinished edit", encoding="utf-8")  # no final newline
    evalsets.add_unanswerable(kb_set, question="另一个问题")
    lines = kb_set.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == [hand, "{an unfinished edit"]  # nothing of the admin's is lost
    assert json.loads(lines[2])["id"] == "fb0001"
    assert [c.id for c in evalsets.read_cases(kb_set)] == ["q1", "fb0001"]


def test_suggested_evidence_is_verbatim_around_the_answer():
    ev = evalsets.suggest_evidence(PLAN_SENTENCE, "488.84万户")
    assert ev in PLAN_SENTENCE and "488.84万户" in ev and len(ev) <= len("488.84万户") + 2 * evalsets.EVIDENCE_CONTEXT
    assert evalsets.suggest_evidence(PLAN_SENTENCE, "650万户") == ""


def test_a_knowledge_base_name_cannot_leave_the_eval_folder(corpus_service):
    with pytest.raises(Exception, match="知识库名称"):
        evalsets.set_path(corpus_service.settings, "../etc")


# ---------------------------------------------------------------- the command


def qa(*args, index=None):
    where = ["--index", str(index)] if index is not None else []
    return subprocess.run([sys.executable, "-m", "qa.cli", *args, *where], capture_output=True, text=True, timeout=900)


@pytest.fixture()
def kb_index(tmp_path, corpus_service):
    index = copy_index(corpus_service, tmp_path / "kb")
    path = evalsets.set_path(corpus_service.settings.model_copy(update={"index_dir": index}), "default")
    add_plan_case(path, corpus_service.index, added=date(2026, 11, 30))
    evalsets.add_unanswerable(path, question="北京市2030年市场主体目标是多少", added=date(2026, 12, 1))
    return index


def test_qa_eval_kb_runs_the_knowledge_bases_own_set_and_reports_the_feedback_cases(kb_index, corpus_service):
    model = ["--model", corpus_service.settings.embed_model]
    first = qa("eval", "--kb", "default", "--json", *model, index=kb_index)
    assert first.returncode == 0, first.stderr[-2000:]
    run = json.loads(first.stdout)
    fb = run["metrics"]["hybrid"]["feedback"]
    assert (fb["cases"], fb["correct"]) == (2, 2)
    assert [d["added"] for d in fb["by_added"]] == ["2026-11-30", "2026-12-01"]
    runs = kb_index / "evalsets" / "runs" / "default"
    assert run["out"].startswith(str(runs))
    md = (runs / run["out"].rsplit("/", 1)[1] / "report.md").read_text(encoding="utf-8")
    assert "## 来自反馈的用例" in md and "| 2026-11-30 | 1 | 1 | 1.000 |" in md

    # A second run lists the first in its history; --diff compares the two.
    import time
    time.sleep(1.1)  # run folders are named by the second
    second = qa("eval", "--kb", "default", "--json", *model, index=kb_index)
    assert second.returncode == 0, second.stderr[-2000:]
    b = json.loads(second.stdout)["out"]
    report_b = json.loads((runs / b.rsplit("/", 1)[1] / "report.json").read_text(encoding="utf-8"))
    assert [h["feedback_cases"] for h in report_b["history"]] == [2]

    # Make run A wrong on the unanswerable case: B then has it newly right.
    a_json = runs / run["out"].rsplit("/", 1)[1] / "report.json"
    a = json.loads(a_json.read_text(encoding="utf-8"))
    flipped = a["configs"]["hybrid"]["outcomes"][1]
    flipped["correct"] = False
    a["configs"]["hybrid"]["metrics"]["feedback_accuracy"] = 0.5
    a_json.write_text(json.dumps(a, ensure_ascii=False), encoding="utf-8")
    diff = qa("eval", "--diff", str(a_json.parent), b, "--json")
    assert diff.returncode == 0, diff.stderr[-2000:]
    d = json.loads(diff.stdout)["configs"]["hybrid"]
    assert [c["id"] for c in d["newly_right"]] == [flipped["id"]] and d["newly_wrong"] == []
    assert d["metrics"]["feedback_accuracy"] == {"before": 0.5, "after": 1.0, "delta": 0.5}
    text = qa("eval", "--diff", str(a_json.parent), b)
    assert "新答对（1 题）" in text.stdout and "feedback_accuracy" in text.stdout


def test_qa_eval_kb_without_a_set_says_how_to_make_one(tmp_path, corpus_service):
    out = qa("eval", "--kb", "default", "--model", corpus_service.settings.embed_model, index=tmp_path / "empty")
    assert out.returncode == 2 and "还没有评测集" in out.stderr and "加入评测集" in out.stderr


def test_a_line_that_is_not_utf8_is_skipped_and_kept_byte_for_byte_on_append(kb_set):
    kb_set.parent.mkdir(parents=True)
    good = json.dumps({"id": "h1", "question": "手写的问题", "answers": ["1"], "type": "fact"}, ensure_ascii=False)
    before = good.encode() + b"\n" + b'{"id": "h2", "question": "\xff\xfe\xc3"}\n'
    kb_set.write_bytes(before)
    assert [c.id for c in evalsets.read_cases(kb_set)] == ["h1"]
    evalsets.add_unanswerable(kb_set, question="火星上有多少市场主体")
    assert kb_set.read_bytes().startswith(before)
    assert [c.id for c in evalsets.read_cases(kb_set)] == ["h1", "fb0001"]


def test_a_run_report_of_another_shape_is_left_out_of_the_history(tmp_path):
    runs = tmp_path / "runs"
    good = {"created_at": "2026-12-01", "configs": {"hybrid": {"metrics": {
        "questions": 3, "overall_accuracy": 1.0, "feedback": {"cases": 1, "accuracy": 1.0}}}}}
    for name, report in (("1-list", {"configs": []}), ("2-metrics", {"configs": {"x": {"metrics": [1]}}}),
                         ("3-array", [1, 2]), ("4-types", {"configs": {"x": {"metrics": {"questions": "many"}}}}),
                         ("5-good", good)):
        (runs / name).mkdir(parents=True)
        (runs / name / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (runs / "0-bytes").mkdir()
    (runs / "0-bytes" / "report.json").write_bytes(b"\xff\xfe{")
    rows = evalsets.history(runs)
    assert [r["run"] for r in rows] == ["5-good"]
    assert rows[0]["feedback_cases"] == 1 and rows[0]["overall_accuracy"] == 1.0
