"""Evaluation: answer matching, eval-set parsing, reports, and the quality gate on the seed set."""
import json
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

from qa import evaluate, report

SEED = PROJECT_ROOT / "eval" / "seed_questions.jsonl"

# Measured on the seed set with the default model (hybrid); a drop below any of these fails.
# Raise them when a change improves the figures (see README, "Evaluation").
# Exact match and F1 fell from 0.8495 / 0.9063 when the set grew by 24 how / which-measures questions
# (q107–q130): their golds are single measures, the answers the paragraph that gives them; F1 0.7786
# → 0.7779 when a how answer ended by a semicolon ran on to its full stop (q110, still right).
PINNED = {"hit@5": 1.0, "mrr@10": 0.9637, "answer_accuracy": 0.9744, "answer_exact": 0.6752,
          "answer_f1": 0.7779, "refusal_recall": 1.0, "refusal_precision": 0.9286}
PINNED_BY_TYPE = {"method": 1.0}  # 0.375 before a paragraph's lead stopped answering how on its own
MAX_WRONG_ANSWER_RATE = 0.018


@pytest.mark.parametrize("predicted,gold,expected", [
    ("650万户", "650", True),
    ("650万户", "6", False),
    ("650万户", "65", False),
    ("488.84万户", "488", False),
    ("734萬只", "734万只", True),
    ("全省11,795家单体药店", "11795家", True),
    ("ＡＢＣ 12315", "abc12315", True),
    ("≤2天", "≤2天", True),
    ("一千二百零六家", "1206家", True),  # Chinese numerals compared as figures
    ("实现二十六证合一", "26证合一", True),
    ("", "650", False),
])
def test_answer_matching(predicted, gold, expected):
    assert evaluate.matches(predicted, gold) is expected


def test_char_f1_is_one_for_the_same_answer_in_another_script():
    assert evaluate.char_f1("734萬只", "734万只") == pytest.approx(1.0)
    assert evaluate.char_f1("向曙光", "阳向东") == pytest.approx(1 / 3)


def test_malformed_lines_are_reported_with_their_number_and_the_rest_loads(tmp_path):
    f = tmp_path / "set.jsonl"
    f.write_text("\n".join([
        json.dumps({"id": "a", "question": "问题一", "answers": ["1"]}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "b", "answers": ["2"]}),
        json.dumps({"id": "a", "question": "重复", "answers": ["3"]}, ensure_ascii=False),
        json.dumps({"id": "c", "question": "无答案", "answers": []}, ensure_ascii=False),
        json.dumps({"id": "d", "question": "不可答", "answers": [], "unanswerable": True}, ensure_ascii=False),
        json.dumps({"id": "DEV_0_QUERY_0", "question": "q", "answers": ["x"], "context_id": "DEV_0"}),
    ]), encoding="utf-8")
    items, problems = evaluate.load_eval_set(f)
    assert [i.id for i in items] == ["a", "d", "DEV_0_QUERY_0"]
    assert items[2].doc == "DEV_0"
    assert [p.message.split("：")[0] for p in problems] == ["第 2 行", "第 3 行", "第 4 行", "第 5 行"]


def test_a_line_that_is_not_utf8_is_that_lines_problem_and_a_bom_is_not(tmp_path):
    line = lambda i: json.dumps({"id": i, "question": f"问题{i}", "answers": ["1"]}, ensure_ascii=False).encode()  # noqa: E731
    f = tmp_path / "set.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + line("a") + b"\n" + b'{"id": "b", "question": "\xff\xfe"}\n' + line("c") + b"\n")
    items, problems = evaluate.load_eval_set(f)
    assert [i.id for i in items] == ["a", "c"]
    assert [p.message.split("：")[0] for p in problems] == ["第 2 行"]


def test_seed_set_is_well_formed():
    items, problems = evaluate.load_eval_set(SEED)
    assert problems == [] and len(items) >= 80
    assert sum(i.unanswerable for i in items) >= 10
    assert sum(bool(i.history) for i in items) >= 8
    assert sum(i.type == "method" for i in items) >= 20  # how / which measures: most of what staff ask


@pytest.fixture(scope="module")
def seed_report(corpus_service):
    items, _ = evaluate.load_eval_set(SEED)
    configs = evaluate.evaluate_set(corpus_service, items, ["hybrid"], k=10)
    return {"set": str(SEED), "corpus": "corpus", "k": 10, "created_at": "test", "problems": [],
            "index": {"documents": 5, "chunks": len(corpus_service.index.chunks), "model": "e5"},
            "configs": configs}


def test_quality_gate_on_the_seed_set(seed_report):
    m = seed_report["configs"]["hybrid"]["metrics"]
    for name, floor in PINNED.items():
        assert m[name] >= floor, f"{name} fell to {m[name]} (pinned {floor})"
    for kind, floor in PINNED_BY_TYPE.items():
        assert m["accuracy_by_type"][kind] >= floor, f"{kind} accuracy fell to {m['accuracy_by_type'][kind]} (pinned {floor})"
    assert m["wrong_answer_rate"] <= MAX_WRONG_ANSWER_RATE


def test_every_outcome_names_what_was_expected_and_returned(seed_report):
    outcomes = seed_report["configs"]["hybrid"]["outcomes"]
    assert len(outcomes) == len(evaluate.load_eval_set(SEED)[0])
    assert all({"expected", "answer", "found", "hit_rank", "latency_ms", "top"} <= set(o) for o in outcomes)


def test_reports_are_written_self_contained(seed_report, tmp_path):
    report.write_all(seed_report, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<svg" in page and "答错的问题" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "| hit@5 |" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["configs"]["hybrid"]["metrics"]


def test_diff_lists_questions_whose_outcome_changed(seed_report):
    after = json.loads(json.dumps(seed_report))
    flipped = after["configs"]["hybrid"]["outcomes"][0]
    flipped["correct"] = not flipped["correct"]
    changes = evaluate.diff(seed_report, after)
    assert [c["id"] for c in changes] == [flipped["id"]]


def test_qa_eval_command_writes_reports(corpus_service, tmp_path):
    # Three questions: this is the command's plumbing; the scores are the quality gate's above.
    env_index = str(corpus_service.settings.index_dir)
    out = subprocess.run(
        [sys.executable, "-m", "qa.cli", "eval", str(SEED), "--limit", "3", "--compare", "--out", str(tmp_path),
         "--index", env_index, "--model", corpus_service.settings.embed_model, "--json"],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert set(result["metrics"]) == {"bm25", "dense", "hybrid"}
    assert {p.name for p in tmp_path.iterdir()} == {"report.json", "report.md", "report.html"}


@pytest.mark.parametrize("predicted,gold,expected", [
    ("650万户", "650万户", 1.0), ("全省市场主体650万户", "650万户", 0.625), ("abc", "cba", 1 / 3), ("", "x", 0.0),
])
def test_rouge_l_is_the_longest_common_subsequence_f1(predicted, gold, expected):
    assert evaluate.rouge_l(predicted, gold) == pytest.approx(expected)


def test_the_report_scores_each_kind_of_answer_span_apart(seed_report, tmp_path):
    m = seed_report["configs"]["hybrid"]["metrics"]
    outcomes = seed_report["configs"]["hybrid"]["outcomes"]
    kinds = m["by_extractor"]
    assert set(kinds) <= {"number", "table_cell", "date", "name", "slot", "list", "method", "block", "sentence"}
    assert sum(v["answers"] for v in kinds.values()) == sum(o["found"] for o in outcomes if not o["unanswerable"])
    assert {"table_cell", "number", "slot", "method", "block"} <= set(kinds)  # the seed set asks for all five
    assert 0 < m["answer_rouge_l"] <= 1 and 0 < m["answer_f1"] <= 1
    report.write_all(seed_report, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "各类答案片段" in md and "| table_cell |" in md and "answer_rouge_l" in md
