"""Evaluation: ask every question of an eval set through `Service.answer` (the path staff use)
and score retrieval, answers, refusals and latency.

Retrieval metrics come from ranx over chunk-level relevance: a chunk is relevant when it
belongs to the question's document (when the set names one) and contains a gold answer or
the evidence string, after normalisation.
"""
from __future__ import annotations

import json
import logging
import re
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import calibration
from .errors import QAError
from .numerals import arabic
from .textnorm import normalize
from .types import LoadProblem

log = logging.getLogger(__name__)

K_VALUES = (1, 3, 5, 10)
_PUNCT = re.compile(r"[\s。，,．！!？?；;：:“”\"'‘’《》「」『』()（）【】\[\]、]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


# ---------------------------------------------------------------- the eval set


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    evidence: str = ""
    doc: str = ""  # the document the answer must come from (`doc` or `context_id`)
    unanswerable: bool = False
    type: str = ""
    line: int = 0
    source: str = ""  # "feedback": added from the gap report (qa/evalsets.py)
    added: str = ""  # the date it was added, YYYY-MM-DD


def load_eval_set(path: Path) -> tuple[list[EvalItem], list[LoadProblem]]:
    """Parse a JSONL eval set; a malformed line is reported (with its number) and skipped."""
    items, problems, seen = [], [], set()
    with open(path, "rb") as f:  # line by line from bytes: a line that is not UTF-8 is that line's problem
        for n, line in enumerate(f, start=1):
            if n == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line.strip():
                continue
            try:
                rec = json.loads(line.decode("utf-8"))
                if not isinstance(rec, dict):
                    raise ValueError("不是 JSON 对象")
                qid = str(rec.get("id") or f"line{n}")
                question = rec.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise ValueError('缺少 "question"')
                answers = rec.get("answers", [])
                if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                    raise ValueError('"answers" 必须是字符串列表')
                unanswerable = bool(rec.get("unanswerable", False))
                if not answers and not unanswerable:
                    raise ValueError('没有 "answers"，也没有标记 "unanswerable": true')
                history = rec.get("history", [])
                if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
                    raise ValueError('"history" 必须是字符串列表')
                if qid in seen:
                    raise ValueError(f"id {qid!r} 重复")
            except (ValueError, json.JSONDecodeError) as e:
                problems.append(LoadProblem(f"{path}:{n}", "invalid_eval_line", f"第 {n} 行：{e}"))
                continue
            seen.add(qid)
            items.append(EvalItem(
                id=qid, question=question.strip(), answers=tuple(answers), history=tuple(history),
                evidence=str(rec.get("evidence") or ""), doc=str(rec.get("doc") or rec.get("context_id") or ""),
                unanswerable=unanswerable, type=str(rec.get("type") or ""), line=n,
                source=str(rec.get("source") or ""), added=str(rec.get("added") or ""),
            ))
    return items, problems


# ---------------------------------------------------------------- answer matching


def norm_answer(text: str) -> str:
    """Traditional → simplified, full → half width, Chinese numerals as figures (一千二百零六 → 1206),
    no spaces, punctuation or thousands separators."""
    return _PUNCT.sub("", _THOUSANDS.sub("", arabic(normalize(text)))).lower()


def matches(predicted: str, gold: str) -> bool:
    """`gold` occurs in `predicted`, and a number in it matches as a whole number ("6" ≠ "650")."""
    p, g = norm_answer(predicted), norm_answer(gold)
    if not g:
        return False
    for m in re.finditer(re.escape(g), p):
        before = p[m.start() - 1] if m.start() else ""
        after = p[m.end()] if m.end() < len(p) else ""
        if g[0].isdigit() and (before.isdigit() or before == "."):
            continue
        if g[-1].isdigit() and (after.isdigit() or after == "." and p[m.end() + 1:m.end() + 2].isdigit()):
            continue
        return True
    return False


def char_f1(predicted: str, gold: str) -> float:
    """CMRC-style character F1."""
    p, g = norm_answer(predicted), norm_answer(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def rouge_l(predicted: str, gold: str) -> float:
    """Character ROUGE-L F1: the longest common subsequence against both lengths (order counts,
    where character F1 counts only which characters are shared)."""
    p, g = norm_answer(predicted), norm_answer(gold)
    if not p or not g:
        return 0.0
    row = [0] * (len(g) + 1)
    for ch in p:
        diag = 0
        for j, gch in enumerate(g, start=1):
            diag, row[j] = row[j], diag + 1 if ch == gch else max(row[j], row[j - 1])
    lcs = row[-1]
    if not lcs:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- running


@dataclass
class Outcome:
    id: str
    question: str
    history: list[str]
    rewritten: str
    type: str
    unanswerable: bool
    expected: list[str]
    found: bool
    answer: str
    correct: bool  # the right answer, or a refusal of an unanswerable question
    exact: bool
    f1: float
    rouge_l: float
    hit_rank: int | None  # rank of the first relevant retrieved chunk
    relevant: int  # relevant chunks in the index
    latency_ms: float
    confidence: float
    top: list[dict] = field(default_factory=list)  # the first citations, for the report
    error: str = ""
    extractor: str = ""  # the kind of span that answered ("" when refused)
    source: str = ""  # the item's `source` ("feedback") and `added` date, for the feedback figures
    added: str = ""


def relevant_chunks(index, item: EvalItem) -> set[str]:
    """Chunk ids that can support the item's answer."""
    needles = [norm_answer(x) for x in (item.evidence, *item.answers) if norm_answer(x)]
    chunks = index.chunks_of(item.doc) if item.doc else index.chunks
    return {c.chunk_id for c in chunks if any(n in norm_answer(c.text) for n in needles)}


def run(svc, items: list[EvalItem], mode: str = "hybrid", k: int = 10, progress: bool = False
        ) -> tuple[list[Outcome], dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """Ask every item; returns the outcomes plus the ranx run and qrels."""
    from tqdm import tqdm  # noqa: PLC0415

    index = svc.index
    outcomes, ranx_run, qrels = [], {}, {}
    for item in tqdm(items, desc=f"eval {mode}", unit="问", disable=not progress, leave=False):
        t = time.perf_counter()
        try:
            if mode == "reranked":
                answer, hits = svc.answer(item.question, item.history, k=k, mode="hybrid", rerank=True)
            else:
                answer, hits = svc.answer(item.question, item.history, k=k, mode=mode, rerank=False)
        except QAError as e:  # a question the service refuses as invalid is scored as failed
            outcomes.append(Outcome(item.id, item.question, list(item.history), "", item.type, item.unanswerable,
                                    list(item.answers), False, "", False, False, 0.0, 0.0, None, 0,
                                    (time.perf_counter() - t) * 1000, 0.0, error=e.message,
                                    source=item.source, added=item.added))
            continue
        latency = (time.perf_counter() - t) * 1000
        hits = hits[:k]
        relevant = relevant_chunks(index, item) if not item.unanswerable else set()
        hit_rank = next((i + 1 for i, h in enumerate(hits) if h.chunk.chunk_id in relevant), None)
        if item.unanswerable:
            correct, exact, f1 = not answer.found, not answer.found, float(not answer.found)
            rouge = f1
        else:
            correct = answer.found and any(matches(answer.answer, g) for g in item.answers)
            exact = answer.found and any(norm_answer(answer.answer) == norm_answer(g) for g in item.answers)
            f1 = max((char_f1(answer.answer, g) for g in item.answers), default=0.0) if answer.found else 0.0
            rouge = max((rouge_l(answer.answer, g) for g in item.answers), default=0.0) if answer.found else 0.0
            # ranx needs a relevant chunk per query: a question with none counts as a miss.
            qrels[item.id] = {cid: 1 for cid in relevant} or {"__no_relevant_chunk__": 1}
            ranx_run[item.id] = {h.chunk.chunk_id: float(len(hits) - i) for i, h in enumerate(hits)} \
                or {"__nothing_retrieved__": 0.0}
        top = [{"doc_id": c.doc_id, "region": c.region, "kind": c.kind, "text": c.text[:160]}
               for c in answer.citations[:3]]
        outcomes.append(Outcome(
            item.id, item.question, list(item.history), answer.rewritten_question, item.type, item.unanswerable,
            list(item.answers), answer.found, answer.answer, correct, exact, round(f1, 4), round(rouge, 4), hit_rank,
            len(relevant), round(latency, 1), answer.confidence, top, extractor=answer.extractor,
            source=item.source, added=item.added,
        ))
    return outcomes, ranx_run, qrels


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def score(outcomes: list[Outcome], ranx_run: dict, qrels: dict, k: int = 10) -> dict:
    """Every figure of one configuration."""
    from ranx import Qrels, Run, evaluate  # noqa: PLC0415

    answerable = [o for o in outcomes if not o.unanswerable]
    unanswerable = [o for o in outcomes if o.unanswerable]
    metrics: dict = {"questions": len(outcomes), "answerable": len(answerable), "unanswerable": len(unanswerable)}
    if qrels:
        names = [f"hit_rate@{n}" for n in K_VALUES if n <= k] + [f"mrr@{k}", f"ndcg@{k}", f"recall@{k}"]
        scores = evaluate(Qrels(qrels), Run(ranx_run), names, make_comparable=True)
        for name, value in scores.items():
            metrics[name.replace("hit_rate", "hit")] = round(float(value), 4)
    metrics["answer_accuracy"] = _ratio(sum(o.correct for o in answerable), len(answerable))
    metrics["answer_exact"] = _ratio(sum(o.exact for o in answerable), len(answerable))
    metrics["answer_f1"] = round(statistics.fmean(o.f1 for o in answerable), 4) if answerable else None
    metrics["answer_rouge_l"] = round(statistics.fmean(o.rouge_l for o in answerable), 4) if answerable else None
    refused = [o for o in outcomes if not o.found]
    metrics["refusal_precision"] = _ratio(sum(o.unanswerable for o in refused), len(refused))
    metrics["refusal_recall"] = _ratio(sum(not o.found for o in unanswerable), len(unanswerable))
    answered = [o for o in outcomes if o.found]
    metrics["wrong_answer_rate"] = _ratio(sum(not o.correct for o in answered), len(answered))
    metrics["overall_accuracy"] = _ratio(sum(o.correct for o in outcomes), len(outcomes))
    # Calibration of `confidence` over the answers shown as found (what staff see): does an answer
    # shown at 0.8 turn out right 8 times in 10? Withheld answers carry no span to score.
    conf, right = [o.confidence for o in answered], [o.correct for o in answered]
    metrics["ece"] = calibration.ece(conf, right)
    metrics["reliability"] = calibration.reliability(conf, right)
    lat = sorted(o.latency_ms for o in outcomes)
    if lat:
        metrics["latency_p50_ms"] = round(statistics.median(lat), 1)
        metrics["latency_p95_ms"] = round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1)
    by_type: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_type.setdefault(o.type or "-", []).append(o)
    metrics["accuracy_by_type"] = {t: _ratio(sum(o.correct for o in os_), len(os_)) for t, os_ in sorted(by_type.items())}
    # Which kind of span answered: each extractor's accuracy, exact match and character F1.
    by_extractor: dict[str, list[Outcome]] = {}
    for o in answerable:
        if o.found:
            by_extractor.setdefault(o.extractor or "-", []).append(o)
    metrics["by_extractor"] = {
        name: {"answers": len(os_), "accuracy": _ratio(sum(o.correct for o in os_), len(os_)),
               "exact": _ratio(sum(o.exact for o in os_), len(os_)), "f1": round(statistics.fmean(o.f1 for o in os_), 4)}
        for name, os_ in sorted(by_extractor.items(), key=lambda kv: -len(kv[1]))}
    if (fb := feedback_figures(outcomes)) is not None:
        metrics["feedback_accuracy"] = fb["accuracy"]
        metrics["feedback"] = fb
    return metrics


def feedback_figures(outcomes: list[Outcome]) -> dict | None:
    """How the cases that came from the gap report fare, all together and by the date they were
    added (an old case still wrong is a gap nobody closed); None when the set has none."""
    fb = [o for o in outcomes if o.source == "feedback"]
    if not fb:
        return None
    by_added: dict[str, list[Outcome]] = {}
    for o in fb:
        by_added.setdefault(o.added or "-", []).append(o)
    return {"cases": len(fb), "correct": sum(o.correct for o in fb), "accuracy": _ratio(sum(o.correct for o in fb), len(fb)),
            "unanswerable": sum(o.unanswerable for o in fb),
            "by_added": [{"added": day, "cases": len(os_), "correct": sum(o.correct for o in os_),
                          "accuracy": _ratio(sum(o.correct for o in os_), len(os_))}
                         for day, os_ in sorted(by_added.items())]}


def evaluate_set(svc, items: list[EvalItem], modes: list[str], k: int = 10, progress: bool = False) -> dict:
    """Run and score each retriever configuration; the result is what report.json holds."""
    configs = {}
    for mode in modes:
        outcomes, ranx_run, qrels = run(svc, items, mode=mode, k=k, progress=progress)
        configs[mode] = {"metrics": score(outcomes, ranx_run, qrels, k), "outcomes": [asdict(o) for o in outcomes]}
        log.info("eval %s: %s", mode, {m: v for m, v in configs[mode]["metrics"].items()
                                       if m not in ("accuracy_by_type", "by_extractor", "reliability", "feedback")})
    return configs


def diff(a: dict, b: dict) -> list[dict]:
    """Questions whose outcome changed between two reports (per configuration present in both)."""
    changes = []
    for mode in [m for m in a["configs"] if m in b["configs"]]:
        before = {o["id"]: o for o in a["configs"][mode]["outcomes"]}
        for o in b["configs"][mode]["outcomes"]:
            old = before.get(o["id"])
            if old is None:
                continue
            if old["correct"] != o["correct"] or old["hit_rank"] != o["hit_rank"]:
                changes.append({
                    "config": mode, "id": o["id"], "question": o["question"],
                    "before": {"correct": old["correct"], "answer": old["answer"], "hit_rank": old["hit_rank"]},
                    "after": {"correct": o["correct"], "answer": o["answer"], "hit_rank": o["hit_rank"]},
                    "change": "fixed" if o["correct"] and not old["correct"]
                    else "broken" if old["correct"] and not o["correct"] else "rank",
                })
    return changes


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(a: dict, b: dict) -> dict:
    """Run A against run B, per configuration present in both: every scalar metric before, after and
    the change; the cases newly right and newly wrong; cases only in one run (the set grew)."""
    configs = {}
    for mode in [m for m in a["configs"] if m in b["configs"]]:
        ma, mb = a["configs"][mode]["metrics"], b["configs"][mode]["metrics"]
        metrics = {}
        for key in [k for k in (*ma, *(k for k in mb if k not in ma))]:
            x, y = ma.get(key), mb.get(key)
            if _number(x) and _number(y):
                metrics[key] = {"before": x, "after": y, "delta": round(y - x, 4)}
            elif (_number(x) or _number(y)) and None in (x, y):  # e.g. feedback_accuracy, absent before
                metrics[key] = {"before": x, "after": y, "delta": None}
        before = {o["id"]: o for o in a["configs"][mode]["outcomes"]}
        after = {o["id"]: o for o in b["configs"][mode]["outcomes"]}

        def case(o: dict) -> dict:
            return {"id": o["id"], "question": o["question"], "expected": o["expected"], "answer": o["answer"],
                    "found": o["found"], "source": o.get("source", ""), "added": o.get("added", "")}

        both = [i for i in after if i in before]
        configs[mode] = {
            "metrics": metrics,
            "newly_right": [case(after[i]) for i in both if after[i]["correct"] and not before[i]["correct"]],
            "newly_wrong": [case(after[i]) for i in both if before[i]["correct"] and not after[i]["correct"]],
            "added": [case(after[i]) for i in after if i not in before],
            "removed": [case(before[i]) for i in before if i not in after],
        }
    return {"a": {"set": a.get("set"), "created_at": a.get("created_at")},
            "b": {"set": b.get("set"), "created_at": b.get("created_at")},
            "configs": configs, "changes": diff(a, b)}
