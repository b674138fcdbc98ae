"""Calibrate when a grounded answer is refused, on an eval set (default: eval/seed_questions.jsonl).

    python scripts/calibrate_refusal.py [EVAL_FILE]

Each question is answered once with refusal switched off, recording the chosen span's
coverage of the question's words, the best passage's cosine similarity, and whether the
span is right. Then every combination of the three thresholds in `qa.answer.RefusalParams`
is scored without re-running the model. Printed: the best settings (a) for overall accuracy
with refusal recall ≥ 0.8, and (b) for accuracy with wrong-answer rate ≤ 0.05 as well. The
chosen values go into `qa/settings.py` (`QA_MIN_COVERAGE`, `QA_WEAK_COVERAGE`, `QA_MIN_DENSE`).
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import answer as answering  # noqa: E402
from qa.evaluate import load_eval_set, matches  # noqa: E402
from qa.rewrite import rewrite  # noqa: E402
from qa.service import Service  # noqa: E402

OPEN = answering.RefusalParams(min_coverage=0.0, weak_coverage=0.0, min_dense=-1.0)


def features(svc, items):
    rows = []
    for item in items:
        question = rewrite(item.question, list(item.history))
        hits = svc.search(question, k=svc.settings.answer_passages)
        choice = answering.choose(question, hits, svc.index.docs, OPEN, idf=svc.idf)
        cand = choice.candidate
        dense = [h.dense_score for h in hits if h.dense_score is not None]
        rows.append({
            "unanswerable": item.unanswerable,
            "answerable_by_rules": choice.found,  # grounded and supported; thresholds not yet applied
            "right": bool(choice.found and cand and any(matches(cand.answer, g) for g in item.answers)),
            "coverage": cand.coverage if cand else 0.0,
            "dense": max(dense) if dense else 0.0,
        })
    return rows


def outcome(rows, min_cov, weak_cov, min_dense):
    answered_right = answered_wrong = refused_unans = 0
    n_ans = sum(not r["unanswerable"] for r in rows)
    n_unans = len(rows) - n_ans
    for r in rows:
        found = r["answerable_by_rules"] and r["coverage"] >= min_cov and not (
            r["dense"] < min_dense and r["coverage"] < weak_cov)
        if not found:
            refused_unans += r["unanswerable"]
        elif r["right"]:
            answered_right += 1
        else:
            answered_wrong += 1
    answered = answered_right + answered_wrong
    return {
        "accuracy": answered_right / n_ans if n_ans else 0.0,
        "refusal_recall": refused_unans / n_unans if n_unans else 1.0,
        "wrong_rate": answered_wrong / answered if answered else 0.0,
        "overall": (answered_right + refused_unans) / len(rows),
    }


def main() -> None:
    eval_file = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "eval" / "seed_questions.jsonl"
    items, _ = load_eval_set(eval_file)
    rows = features(Service(), items)
    grid = itertools.product([x / 20 for x in range(0, 13)], [x / 20 for x in range(0, 17)],
                             [0.84 + x * 0.005 for x in range(0, 17)])
    results = []
    for min_cov, weak_cov, min_dense in grid:
        if weak_cov < min_cov:
            continue
        results.append(((min_cov, weak_cov, round(min_dense, 3)), outcome(rows, min_cov, weak_cov, min_dense)))

    def best(constraint):
        ok = [r for r in results if constraint(r[1])]
        # Prefer the loosest thresholds among equals, so fewer right answers are refused elsewhere.
        return max(ok, key=lambda r: (r[1]["overall"], -r[1]["wrong_rate"], -sum(r[0]))) if ok else None

    for name, constraint in (
        ("refusal recall ≥ 0.8", lambda m: m["refusal_recall"] >= 0.8),
        ("refusal recall ≥ 0.8 and wrong-answer rate ≤ 0.05",
         lambda m: m["refusal_recall"] >= 0.8 and m["wrong_rate"] <= 0.05),
    ):
        chosen = best(constraint)
        if chosen is None:
            print(f"{name}: no setting reaches it")
            continue
        (min_cov, weak_cov, min_dense), m = chosen
        print(f"{name}: min_coverage={min_cov} weak_coverage={weak_cov} min_dense={min_dense} -> "
              + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    current = Service().settings
    m = outcome(rows, current.min_coverage, current.weak_coverage, current.min_dense)
    print(f"current settings ({current.min_coverage}, {current.weak_coverage}, {current.min_dense}): "
          + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))


if __name__ == "__main__":
    main()
