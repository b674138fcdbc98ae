"""A knowledge base's own eval set: questions staff could not get answered, turned into `qa eval` cases.

    <eval_dir>/<kb>.jsonl                  one case a line: the format of eval/README.md, plus
                                           `source` ("feedback"), `added` (YYYY-MM-DD) and `answer_id`
    <eval_dir>/runs/<kb>/<time>/report.*   each `qa eval --kb` run, so a later report shows the trend

`eval_dir` is `QA_EVAL_DIR`, by default `evalsets/` in the index folder: the knowledge base's data
folder (uploads and originals live there too), which an installed service can write and the `qa`
command of the same installation finds. A checkout's `eval/` holds the shipped sets, which are code.

A case is checked before it is written, the way `qa eval` will score it: the evidence must occur
(after the evaluation's normalisation) in one passage of the named document, and one of the
expected answers in that same passage, so the case can be scored both for retrieval and answer.
Writes take a file lock (the server's threads, several workers and the `qa` command may append at
once) and replace the file atomically (temp + rename): a crash leaves the old file or the new one.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from .errors import InvalidArgument, QAError
from .evaluate import matches, norm_answer

log = logging.getLogger(__name__)

KB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The question types of eval/README.md that a feedback case may have (unanswerable is its own route).
TYPES = ("number", "table", "name", "date", "list", "fact", "paraphrase", "traditional", "followup")
# An answer's extractor (`Answer.extractor`) → the case type suggested for it.
TYPE_OF_EXTRACTOR = {"number": "number", "table_cell": "table", "date": "date", "name": "name", "list": "list"}
MAX_ANSWER_CHARS = 200
MAX_EVIDENCE_CHARS = 200
EVIDENCE_CONTEXT = 12  # characters kept on each side of the answer in a suggested evidence
_ID = re.compile(r"^fb(\d+)$")
_SENTENCE_END = "。！？；!?;\n"


class InvalidCase(QAError):
    status = 422
    code = "invalid_eval_case"


class CaseExists(QAError):
    status = 409
    code = "eval_case_exists"


class NoEvalSet(QAError):
    status = 404
    code = "eval_set_not_found"


@dataclass(frozen=True)
class Case:
    """One line of a knowledge base's eval set, as `qa.evaluate.load_eval_set` reads it."""

    id: str
    question: str
    answers: tuple[str, ...]
    type: str
    added: str
    source: str = "feedback"
    evidence: str = ""
    doc: str = ""
    unanswerable: bool = False
    answer_id: str = ""
    extra: dict = field(default_factory=dict)  # fields of a hand-written line that this class does not name

    def to_json(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "extra"}
        d["answers"] = list(self.answers)
        if self.unanswerable:  # eval/README.md: unanswerable items have no evidence or doc
            d.pop("evidence")
            d.pop("doc")
        else:
            d.pop("unanswerable")
        return {**self.extra, **d}


# ---------------------------------------------------------------- where


def check_kb(kb: str) -> str:
    if not isinstance(kb, str) or not KB_NAME.match(kb):
        raise InvalidArgument(f"知识库名称只能由字母、数字、下划线和连字符组成（1–64 个），当前为 {kb!r}")
    return kb


def eval_dir(settings) -> Path:
    return Path(settings.eval_dir) if settings.eval_dir else Path(settings.index_dir) / "evalsets"


def set_path(settings, kb: str) -> Path:
    """The eval set file of knowledge base `kb` (which may not exist yet)."""
    return eval_dir(settings) / f"{check_kb(kb)}.jsonl"


def runs_dir(settings, kb: str) -> Path:
    return eval_dir(settings) / "runs" / check_kb(kb)


# ---------------------------------------------------------------- reading


def read_cases(path: Path) -> list[Case]:
    """The cases of an eval set file ([] when there is none); a line that is not a case is skipped
    with a warning (`qa eval` reports it with its line number)."""
    if not path.exists():
        return []
    cases = []
    # Line by line from bytes: one line that is not UTF-8 (a hand edit in another encoding) is skipped
    # like any other bad line, instead of making the whole set unreadable.
    for n, raw in enumerate(path.read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
            known = {k: rec.pop(k) for k in ("id", "question", "answers", "type", "added", "source", "evidence",
                                             "doc", "unanswerable", "answer_id") if k in rec}
            cases.append(Case(
                id=str(known.get("id") or f"line{n}"), question=str(known["question"]),
                answers=tuple(str(a) for a in known.get("answers") or ()), type=str(known.get("type") or ""),
                added=str(known.get("added") or ""), source=str(known.get("source") or ""),
                evidence=str(known.get("evidence") or ""), doc=str(known.get("doc") or ""),
                unanswerable=bool(known.get("unanswerable", False)), answer_id=str(known.get("answer_id") or ""),
                extra=rec))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("%s:%d is not an eval case (%s): skipped", path, n, e)
    return cases


# ---------------------------------------------------------------- checking


def _clean(text, what: str, limit: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidCase(f"{what}不能为空")
    text = text.strip()
    if len(text) > limit:
        raise InvalidCase(f"{what}过长：{len(text)} 个字符，最多 {limit} 个")
    return text


def check_answerable(index, question: str, answers: list[str], doc: str, evidence: str,
                     max_question_chars: int = 500) -> tuple[str, tuple[str, ...], str, str]:
    """The case's question, answers, doc and evidence, cleaned; `InvalidCase` naming what is wrong."""
    question = _clean(question, "问题", max_question_chars)
    if not isinstance(answers, (list, tuple)) or not answers:
        raise InvalidCase("至少需要一个期望答案")
    answers = tuple(dict.fromkeys(_clean(a, "期望答案", MAX_ANSWER_CHARS) for a in answers))
    doc = _clean(doc, "文档编号", 500)
    evidence = _clean(evidence, "原文片段", MAX_EVIDENCE_CHARS)
    if doc not in index.docs:
        raise InvalidCase(f"知识库中没有文档 {doc!r}")
    needle = norm_answer(evidence)
    if len(needle) < 2:
        raise InvalidCase(f"原文片段 {evidence!r} 太短：至少要有两个字")
    holding = [c for c in index.chunks_of(doc) if needle in norm_answer(c.text)]
    if not holding:
        raise InvalidCase(f"原文片段 {evidence!r} 不在文档 {doc!r} 的任何一个段落中：请从原文逐字摘取（不要跨段落）")
    if not any(matches(c.text, a) for c in holding for a in answers):
        raise InvalidCase(f"期望答案 {answers[0]!r} 不在含有原文片段 {evidence!r} 的段落中：答案要能在这段原文里找到")
    return question, answers, doc, evidence


def suggest_evidence(passage: str, answer: str) -> str:
    """A short verbatim piece of `passage` around `answer` (its sentence, clipped to the answer with
    a few characters each side), or "" when the answer is not in the passage as written."""
    at = passage.find(answer) if answer else -1
    if at < 0:
        return ""
    start = max((passage.rfind(ch, 0, at) for ch in _SENTENCE_END), default=-1) + 1
    ends = [e for e in (passage.find(ch, at + len(answer)) for ch in _SENTENCE_END) if e >= 0]
    end = min(ends, default=len(passage))
    start = max(start, at - EVIDENCE_CONTEXT)
    end = min(end, at + len(answer) + EVIDENCE_CONTEXT)
    return passage[start:end].strip().strip("，,、：:")[:MAX_EVIDENCE_CHARS]


# ---------------------------------------------------------------- writing


@contextmanager
def _locked(path: Path):
    """Exclusive across threads and processes: flock on a lock file beside the set (on Linux a
    flock is per open file, so two threads of one process exclude each other too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the rename itself survives a power cut
    finally:
        os.close(dfd)


def _same_question(a: str, b: str) -> bool:
    return norm_answer(a) == norm_answer(b)


def append(path: Path, make) -> Case:
    """Append the case `make(next_id)` returns, under the lock. Refused (`CaseExists`) when the set
    already has a case from the same answer or with the same question; ids are never reused."""
    with _locked(path):
        text = path.read_bytes() if path.exists() else b""  # kept byte for byte, bad lines included
        cases = read_cases(path)
        numbers = [int(m.group(1)) for c in cases if (m := _ID.match(c.id))]
        case = make(f"fb{max(numbers, default=0) + 1:04d}")
        for c in cases:
            if case.answer_id and c.answer_id == case.answer_id:
                raise CaseExists(f"这条回答（{case.answer_id}）已加入评测集，用例编号 {c.id}")
            if _same_question(c.question, case.question):
                raise CaseExists(f"评测集中已有这个问题：{c.id}「{c.question}」")
        if text and not text.endswith(b"\n"):
            text += b"\n"
        _write_atomic(path, text + (json.dumps(case.to_json(), ensure_ascii=False) + "\n").encode("utf-8"))
    log.info("eval set %s: case %s added (%s)", path, case.id, "unanswerable" if case.unanswerable else case.type)
    return case


def add_case(path: Path, index, *, question: str, answers: list[str], doc: str, evidence: str,
             type: str = "fact", answer_id: str = "", added: date | None = None,
             max_question_chars: int = 500) -> Case:
    """Append an answerable case, checked against the live index (see the module docstring)."""
    if type not in TYPES:
        raise InvalidCase(f"题型必须是 {'、'.join(TYPES)} 之一，当前为 {type!r}")
    question, answers, doc, evidence = check_answerable(index, question, answers, doc, evidence, max_question_chars)
    day = (added or date.today()).isoformat()
    return append(path, lambda cid: Case(cid, question, answers, type, day, evidence=evidence, doc=doc,
                                         answer_id=answer_id))


def add_unanswerable(path: Path, *, question: str, answer_id: str = "", added: date | None = None,
                     max_question_chars: int = 500) -> Case:
    """Append a question the knowledge base truly does not cover: `qa eval` counts it right when refused."""
    question = _clean(question, "问题", max_question_chars)
    day = (added or date.today()).isoformat()
    return append(path, lambda cid: Case(cid, question, (), "unanswerable", day, unanswerable=True,
                                         answer_id=answer_id))


# ---------------------------------------------------------------- runs over time


def history(runs: Path, limit: int = 20) -> list[dict]:
    """The earlier `qa eval --kb` runs (oldest first): when, how many cases, and how the feedback
    cases and all cases fared, from each run's report.json."""
    rows = []
    for report in sorted(runs.glob("*/report.json")) if runs.is_dir() else ():
        try:
            r = json.loads(report.read_text(encoding="utf-8"))
            m = next(iter(r["configs"].values()))["metrics"]
            fb = m.get("feedback") or {}
            row = {"run": report.parent.name, "created_at": str(r.get("created_at", "")),
                   "questions": _number(m.get("questions"), int), "overall_accuracy": _number(m.get("overall_accuracy")),
                   "feedback_cases": _number(fb.get("cases") or 0, int), "feedback_accuracy": _number(fb.get("accuracy"))}
        except (ValueError, KeyError, StopIteration, OSError, AttributeError, TypeError) as e:
            # A report of another shape (hand-edited, another version's) must not break GET /evalset.
            log.warning("%s is not a report (%s): left out of the history", report, e)
            continue
        rows.append(row)
    return rows[-limit:]


def _number(value, kind=float):
    """`value` when it is a number of `kind` (None stays None); anything else is not a report's."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise TypeError(f"not a number: {value!r}")
    return value
