"""One answer record ("why did it say that?"), the caller's feedback on it, and the admin's export.

    GET    /answers/{id}            the trace: knowledge base, index version, history, rewritten question,
                                    extractor or generator, refusal reason, confidence, timings
    PUT    /answers/{id}/feedback   👍 / 👎 with an optional reason and comment (changeable)
    DELETE /answers/{id}/feedback
    GET    /records/export          admin: the answers of a date range as CSV or JSONL
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from qa.errors import AnswerNotFound
from qa.records import Records

from ..deps import Admin, RecordsDep, RuntimeDep, ViewerDep
from ..record_schemas import VOTES, AnswerTraceOut, DeletedOut, FeedbackIn, FeedbackOut
from ..schemas import ErrorOut

router = APIRouter(tags=["对话记录"])

_ERR = {"model": ErrorOut}
ERRORS = {
    400: {**_ERR, "description": "请求体不是合法的 JSON"},
    401: {**_ERR, "description": "缺少或无效的 API 密钥"},
    404: {**_ERR, "description": "没有这个回答（或不是调用者的回答）"},
    422: {**_ERR, "description": "参数不合法（如说明超过 1000 字）"},
    429: {**_ERR, "description": "请求过于频繁"},
}
AnswerId = Annotated[str, Path(max_length=64, description="回答编号（回答中的 answer_id）")]
CSV_COLUMNS = ("answer_id", "conversation_id", "owner", "kb", "created", "question", "rewritten_question", "status",
               "confidence", "extractor", "index_version", "answer", "vote", "reason", "comment")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _store(records: Records | None, answer_id: str) -> Records:
    if records is None:
        raise AnswerNotFound(f"没有编号为 {answer_id} 的回答（服务未开启问答记录）")
    return records


@router.get("/answers/{answer_id}", summary="回答的记录与来龙去脉", response_model=AnswerTraceOut, responses=ERRORS)
def get_answer(answer_id: AnswerId, viewer: ViewerDep, records: RecordsDep) -> AnswerTraceOut:
    """一次回答是怎样得出的（供排查“为什么这样回答”）：知识库、索引版本、对话历史、改写后的问题、
    作答的抽取器或生成模型、未作答的原因、置信度、各阶段用时，以及当时返回的回答和评价。
    只有提问者本人和管理员可查看。"""
    store = _store(records, answer_id)
    record = store.answer(answer_id, viewer.reads)
    if record is None:
        raise AnswerNotFound(f"没有编号为 {answer_id} 的回答")
    return AnswerTraceOut.of(record, store.answer_json(answer_id))


@router.put("/answers/{answer_id}/feedback", summary="评价回答", response_model=FeedbackOut, responses=ERRORS)
def put_feedback(answer_id: AnswerId, body: FeedbackIn, viewer: ViewerDep, records: RecordsDep,
                 rt: RuntimeDep) -> FeedbackOut:
    """👍（up）或 👎（down），可附原因（答案错误、没找到、引用不对、其他）和说明；再次提交即修改。
    只能评价自己得到的回答。"""
    store = _store(records, answer_id)
    # Feedback is the asker's own word: an admin reads it but gives it only on their own answers.
    new, old = store.set_feedback(answer_id, viewer.owner, VOTES[body.vote], body.reason, body.comment)
    if old is None or (old.vote, old.reason) != (new.vote, new.reason):
        rt.metrics.feedback_given(store.kb, body.vote, body.reason)
    return FeedbackOut.of(answer_id, new)


@router.delete("/answers/{answer_id}/feedback", summary="撤销评价", response_model=DeletedOut, responses=ERRORS)
def delete_feedback(answer_id: AnswerId, viewer: ViewerDep, records: RecordsDep) -> DeletedOut:
    """删除对这个回答的评价（没有评价时也成功）。"""
    _store(records, answer_id).delete_feedback(answer_id, viewer.owner)
    return DeletedOut(deleted=answer_id)


@router.get("/records/export", summary="导出问答记录（管理员）", response_class=StreamingResponse, responses={
    200: {"description": "CSV（UTF-8，带 BOM，Excel 可直接打开）或 JSONL，每个回答一行",
          "content": {"text/csv": {}, "application/x-ndjson": {}}},
    **{k: v for k, v in ERRORS.items() if k != 404}, 403: {**_ERR, "description": "需要管理员（admin）密钥"}})
def export_records(who: Admin, records: RecordsDep,
                   since: Annotated[date | None, Query(description="起始日期（含），YYYY-MM-DD，UTC")] = None,
                   until: Annotated[date | None, Query(description="截止日期（含），YYYY-MM-DD，UTC")] = None,
                   format: Annotated[Literal["csv", "jsonl"], Query(description="csv 或 jsonl")] = "csv",
                   ) -> StreamingResponse:
    """导出一段日期内的全部回答：问题、改写后的问题、状态、置信度、抽取器、索引版本、回答（完整保存时）、
    评价与说明；JSONL 还含每个回答的完整记录（trace）和当时返回的回答对象。起始晚于截止时导出为空。"""
    start = datetime.combine(since, time.min, UTC) if since else None
    # until is inclusive: the range ends at the next day's start (none after the last representable day)
    end = datetime.combine(until + timedelta(days=1), time.min, UTC) if until and until < date.max else None
    rows = records.export(start, end) if records is not None else iter(())
    name = f"qa-records-{since or 'start'}-{until or 'now'}.{format}"
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(_csv(rows) if format == "csv" else _jsonl(rows), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _cell(value):
    """A text that Excel would take for a formula (a question "=HYPERLINK(…)" anyone who may ask can
    plant) gets a leading apostrophe, which Excel shows as text: OWASP's advice on CSV injection."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _csv(rows: Iterator[dict]) -> Iterator[str]:
    buf = io.StringIO()
    out = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore")
    buf.write("\ufeff")  # Excel reads UTF-8 only with a BOM
    out.writeheader()
    for row in rows:
        out.writerow({k: _cell(v) for k, v in row.items()})
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def _jsonl(rows: Iterator[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"
