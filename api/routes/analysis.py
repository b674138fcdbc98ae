"""The gap report and the loop into evaluation (admin only): questions staff could not get answered,
grouped by similar question, and the knowledge base's own eval set they become cases of.

    GET  /analysis                  not found, 👎 and low-confidence answers, grouped (qa/gaps.py)
    GET  /evalset                   the knowledge base's eval set, and how earlier `qa eval --kb` runs fared
    GET  /evalset/draft             a case proposed from an answer: its question, answer and cited passages
    POST /evalset/cases             append a case: expected answer and the passage that holds it (qa/evalsets.py)
    POST /evalset/unanswerable      mark the question as not covered by the knowledge base
"""
from __future__ import annotations

import logging
import threading
import weakref
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from qa import evalsets, gaps
from qa.errors import AnswerNotFound, InvalidArgument
from qa.records import AnswerRecord, Records

from ..deps import Admin, RecordsDep, RuntimeDep, ServiceDep
from ..schemas import ErrorOut

log = logging.getLogger(__name__)

router = APIRouter(tags=["问答分析"])

_ERR = {"model": ErrorOut}
ERRORS = {
    400: {**_ERR, "description": "请求体不是合法的 JSON"},
    401: {**_ERR, "description": "缺少或无效的 API 密钥"},
    403: {**_ERR, "description": "需要管理员（admin）密钥"},
    422: {**_ERR, "description": "参数不合法"},
    429: {**_ERR, "description": "请求过于频繁"},
    503: {**_ERR, "description": "服务未就绪（索引或模型未加载）"},
}
CASE_ERRORS = {
    **ERRORS,
    404: {**_ERR, "description": "没有这个回答（answer_not_found），或服务未开启问答记录"},
    409: {**_ERR, "description": "这条回答或这个问题已在评测集中（eval_case_exists）"},
    422: {**_ERR, "description": "用例不合法（invalid_eval_case）：如原文片段不在该文档中，或期望答案不在这段原文里"},
}
MAX_ANSWERS = 5000  # the newest gaps analysed at once: grouping embeds each distinct question
MAX_ITEMS = 20  # examples listed per group
_encoders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # embedder → its CachedEncoder
_encoders_lock = threading.Lock()
AnswerIdField = Field(min_length=1, max_length=64, description="回答编号（回答中的 answer_id）")


# ---------------------------------------------------------------- bodies


class GapItemOut(BaseModel):
    answer_id: str
    question: str = Field(description="提问者的原话")
    rewritten_question: str = Field(description="结合对话历史改写后的问题（分组依据）")
    status: str = Field(description="found | unsure | not_found")
    confidence: float
    answer: str = Field(description="当时给出的答案（QA_RECORDS=full 时保存）")
    created: datetime
    kinds: list[str] = Field(description="归入分析的原因：not_found（未找到）、downvoted（👎）、low_confidence（置信度低）")
    vote: int = Field(description="评价：1 👍，-1 👎，0 未评价")
    reason: str
    comment: str
    case_id: str | None = Field(description="已加入评测集时的用例编号")

    @classmethod
    def of(cls, i: gaps.GapItem, case_id: str | None) -> GapItemOut:
        return cls(answer_id=i.answer_id, question=i.question, rewritten_question=i.text, status=i.status,
                   confidence=i.confidence, answer=i.answer, created=i.created, kinds=list(i.kinds), vote=i.vote,
                   reason=i.reason, comment=i.comment, case_id=case_id)


class GapGroupOut(BaseModel):
    count: int = Field(description="组内回答数")
    question: str = Field(description="最新的一次提问")
    answer_id: str = Field(description="最新一次的回答编号")
    first: datetime = Field(description="最早一次提问的时间")
    last: datetime = Field(description="最近一次提问的时间")
    kinds: dict[str, int] = Field(description="各原因的回答数")
    items: list[GapItemOut] = Field(description=f"组内的回答，新的在前（至多 {MAX_ITEMS} 条）")


class AnalysisOut(BaseModel):
    kb: str
    records: Literal["off", "questions", "full"] = Field(description="服务保存问答记录的方式（QA_RECORDS）：off 时没有可分析的回答")
    since: date | None
    until: date | None
    sort: Literal["count", "recent"]
    answers: int = Field(description="期间内归入分析的回答数")
    truncated: bool = Field(description=f"回答多于 {MAX_ANSWERS} 条时只分析最新的 {MAX_ANSWERS} 条")
    groups: list[GapGroupOut]


class CaseOut(BaseModel):
    id: str
    question: str
    answers: list[str]
    type: str
    added: str = Field(description="加入日期 YYYY-MM-DD")
    source: str = Field(description="feedback：从问答分析加入")
    evidence: str
    doc: str
    unanswerable: bool
    answer_id: str

    @classmethod
    def of(cls, c: evalsets.Case) -> CaseOut:
        return cls(id=c.id, question=c.question, answers=list(c.answers), type=c.type, added=c.added, source=c.source,
                   evidence=c.evidence, doc=c.doc, unanswerable=c.unanswerable, answer_id=c.answer_id)


class RunOut(BaseModel):
    run: str
    created_at: str
    questions: int | None
    overall_accuracy: float | None
    feedback_cases: int
    feedback_accuracy: float | None


class EvalSetOut(BaseModel):
    kb: str
    cases: list[CaseOut]
    runs: list[RunOut] = Field(description="此前的 qa eval --kb 运行（旧的在前）：来自反馈的用例表现如何")


class PassageOut(BaseModel):
    rank: int
    doc_id: str
    title: str
    text: str
    evidence: str = Field(description="建议的原文片段：期望答案所在句中答案前后的几个字；答案不在这段中时为空")


class DraftOut(BaseModel):
    answer_id: str
    question: str = Field(description="建议的问题：改写后的（不依赖对话历史的）问题")
    answers: list[str] = Field(description="建议的期望答案：当时给出的答案（未找到时为空）")
    type: str = Field(description="建议的题型")
    types: list[str] = Field(description="可选的题型")
    status: str
    passages: list[PassageOut] = Field(description="回答引用的片段（QA_RECORDS=full 时保存），期望答案应出自其中之一")
    case_id: str | None = Field(description="这条回答已加入评测集时的用例编号")


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"answer_id": "4f1c0e9a2b7d4c3e8a6f5d2c1b0a9e8d", "answers": ["1.2万户", "1.2"], "citation": 1},
        {"answer_id": "4f1c0e9a2b7d4c3e8a6f5d2c1b0a9e8d", "answers": ["1.2万户"], "doc": "青禾县2026年市场监管工作要点",
         "evidence": "全县新设经营主体1.2万户", "question": "青禾县2026年新设经营主体目标是多少户", "type": "number"}]})

    answer_id: str = AnswerIdField
    answers: list[Annotated[str, Field(min_length=1, max_length=evalsets.MAX_ANSWER_CHARS)]] = Field(
        min_length=1, max_length=10, description="期望答案，最精确的在前；回答包含其中任一即算答对")
    citation: int | None = Field(None, ge=1, le=50, description="期望答案出自回答的第几条引用（从 1 起）：文档取自它，"
                                                                 "未给 evidence 时原文片段也从中摘取")
    doc: str = Field("", max_length=500, description="文档编号（不给时取 citation 所指引用的文档）")
    evidence: str = Field("", max_length=evalsets.MAX_EVIDENCE_CHARS,
                          description="从原文逐字摘取、含有或紧挨答案的一段（不给时从 citation 所指片段中摘取）")
    question: str = Field("", max_length=500, description="用例的问题（不给时用改写后的问题）")
    type: Literal[evalsets.TYPES] | Literal[""] = Field("", description="题型（不给时按答案的类型建议）")


class UnanswerableIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"answer_id": "4f1c0e9a2b7d4c3e8a6f5d2c1b0a9e8d"},
        {"answer_id": "4f1c0e9a2b7d4c3e8a6f5d2c1b0a9e8d", "question": "北京市2030年市场主体目标是多少"}]})

    answer_id: str = AnswerIdField
    question: str = Field("", max_length=500, description="用例的问题（不给时用改写后的问题）")


# ---------------------------------------------------------------- helpers


def _store(records: Records | None) -> Records:
    if records is None:
        raise AnswerNotFound("服务未开启问答记录（QA_RECORDS=off），没有可分析的回答")
    return records


def _record(records: Records | None, answer_id: str) -> AnswerRecord:
    record = _store(records).answer(answer_id)
    if record is None:
        raise AnswerNotFound(f"没有编号为 {answer_id} 的回答")
    return record


def _encoder(embedder):
    with _encoders_lock:
        if embedder not in _encoders:
            _encoders[embedder] = gaps.CachedEncoder(embedder.encode_queries)
        return _encoders[embedder]


def _day_start(d: date | None) -> datetime | None:
    return datetime.combine(d, time.min, timezone.utc) if d else None


def _suggested_question(record: AnswerRecord) -> str:
    # A follow-up ("那贵州呢") means nothing alone: the case asks the rewritten, standalone question.
    return (record.rewritten_question or record.question).strip()


def _citations(records: Records, answer_id: str) -> list[dict]:
    stored = records.answer_json(answer_id) or {}
    return [c for c in stored.get("citations") or [] if isinstance(c, dict)]


# ---------------------------------------------------------------- routes


@router.get("/analysis", summary="问答分析：未答好的问题（按相似问题分组）", response_model=AnalysisOut,
            responses=ERRORS)
def analysis(who: Admin, rt: RuntimeDep, svc: ServiceDep, records: RecordsDep,
             since: Annotated[date | None, Query(description="起始日期（含），YYYY-MM-DD，UTC")] = None,
             until: Annotated[date | None, Query(description="截止日期（含），YYYY-MM-DD，UTC")] = None,
             sort: Annotated[Literal["count", "recent"], Query(description="count：问得多的在前；recent：最近的在前")]
             = "count") -> AnalysisOut:
    """知识库中未找到答案、被评 👎、或置信度低（未确定，或给出但置信度低于 QA_GAP_LOW_CONFIDENCE）的回答，
    按问题的语义相似度（当前加载的嵌入模型）分组：每组的回答数、最新的一次提问、最早和最近的时间、各原因的数量。"""
    kb = rt.settings.kb_name
    # until is inclusive: the range ends at the next day's start (none after the last representable day)
    start, end = _day_start(since), _day_start(until + timedelta(days=1)) if until and until < date.max else None
    found = [] if records is None or (start and end and start >= end) else records.answers(
        kb, start, end, gaps_below=rt.settings.gap_low_confidence)
    items = gaps.gap_items(found, rt.settings.gap_low_confidence)
    truncated = len(items) > MAX_ANSWERS
    items = items[:MAX_ANSWERS]
    groups = gaps.group(items, _encoder(svc.embedder), rt.settings.gap_similarity, sort)
    case_of = {c.answer_id: c.id for c in evalsets.read_cases(evalsets.set_path(rt.settings, kb)) if c.answer_id}
    return AnalysisOut(kb=kb, records=rt.settings.records, since=since, until=until, sort=sort, answers=len(items), truncated=truncated, groups=[
        GapGroupOut(count=g.count, question=g.newest.question, answer_id=g.newest.answer_id, first=g.first, last=g.last,
                    kinds=g.kinds, items=[GapItemOut.of(i, case_of.get(i.answer_id)) for i in g.items[:MAX_ITEMS]])
        for g in groups])


@router.get("/evalset", summary="知识库的评测集", response_model=EvalSetOut, responses=ERRORS)
def eval_set(who: Admin, rt: RuntimeDep) -> EvalSetOut:
    """本知识库自己的评测集（qa eval --kb 评测的就是它）中的全部用例，以及此前各次评测中来自反馈的用例的正确率。"""
    kb = rt.settings.kb_name
    return EvalSetOut(kb=kb, cases=[CaseOut.of(c) for c in evalsets.read_cases(evalsets.set_path(rt.settings, kb))],
                      runs=[RunOut(**r) for r in evalsets.history(evalsets.runs_dir(rt.settings, kb))])


@router.get("/evalset/draft", summary="由一条回答拟一个评测用例", response_model=DraftOut, responses=CASE_ERRORS)
def draft(who: Admin, rt: RuntimeDep, records: RecordsDep,
          answer_id: Annotated[str, Query(min_length=1, max_length=64, description="回答编号")]) -> DraftOut:
    """“加入评测集”表单的初始内容：改写后的问题、当时的答案（作为期望答案）、回答引用的片段（每段附建议的原文片段）。"""
    record = _record(records, answer_id)
    answer = record.answer.strip() if record.status != "not_found" else ""
    passages = [PassageOut(rank=int(c.get("rank") or n), doc_id=str(c.get("doc_id", "")), title=str(c.get("title", "")),
                           text=str(c.get("text", "")), evidence=evalsets.suggest_evidence(str(c.get("text", "")), answer))
                for n, c in enumerate(_citations(_store(records), answer_id), start=1)]
    existing = next((c.id for c in evalsets.read_cases(evalsets.set_path(rt.settings, rt.settings.kb_name))
                     if c.answer_id == answer_id), None)
    return DraftOut(answer_id=answer_id, question=_suggested_question(record), answers=[answer] if answer else [],
                    type=evalsets.TYPE_OF_EXTRACTOR.get(record.extractor, "fact"), types=list(evalsets.TYPES),
                    status=record.status, passages=passages, case_id=existing)


@router.post("/evalset/cases", summary="加入评测集", status_code=201, response_model=CaseOut, responses=CASE_ERRORS)
def add_case(body: CaseIn, who: Admin, rt: RuntimeDep, svc: ServiceDep, records: RecordsDep) -> CaseOut:
    """把一条回答的问题连同期望答案和出处加入本知识库的评测集（qa eval 的格式，source 为 feedback，附加入日期）。
    出处为 `citation`（回答的第几条引用），或 `doc` 加 `evidence`：原文片段须逐字出自该文档的某一段，
    期望答案须出现在同一段中，这样 qa eval 才能同时评检索和答案。"""
    record = _record(records, body.answer_id)
    doc, evidence = body.doc, body.evidence
    if body.citation is not None:
        cited = _citations(_store(records), body.answer_id)
        if body.citation > len(cited):
            raise InvalidArgument(f"这条回答只有 {len(cited)} 条保存的引用，没有第 {body.citation} 条")
        passage = cited[body.citation - 1]
        doc = doc or str(passage.get("doc_id", ""))
        if not evidence:
            text = str(passage.get("text", ""))
            evidence = next((e for a in body.answers if (e := evalsets.suggest_evidence(text, a.strip()))), "")
            if not evidence:
                raise evalsets.InvalidCase(f"期望答案 {body.answers[0]!r} 不在第 {body.citation} 条引用中：请选择含有答案的片段，"
                                           "或给出文档和原文片段")
    case = evalsets.add_case(
        evalsets.set_path(rt.settings, rt.settings.kb_name), svc.index,
        question=body.question or _suggested_question(record), answers=body.answers, doc=doc, evidence=evidence,
        type=body.type or evalsets.TYPE_OF_EXTRACTOR.get(record.extractor, "fact"), answer_id=record.answer_id,
        max_question_chars=rt.settings.max_question_chars)
    return CaseOut.of(case)


@router.post("/evalset/unanswerable", summary="标记为知识库未覆盖", status_code=201, response_model=CaseOut,
             responses=CASE_ERRORS)
def add_unanswerable(body: UnanswerableIn, who: Admin, rt: RuntimeDep, records: RecordsDep) -> CaseOut:
    """这个问题知识库确实没有答案：作为 unanswerable 用例加入评测集（qa eval 中拒答才算对）。"""
    record = _record(records, body.answer_id)
    case = evalsets.add_unanswerable(
        evalsets.set_path(rt.settings, rt.settings.kb_name), question=body.question or _suggested_question(record),
        answer_id=record.answer_id, max_question_chars=rt.settings.max_question_chars)
    return CaseOut.of(case)
