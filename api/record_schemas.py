"""Request and response bodies of the answer records: conversations, answer traces, feedback."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.records import AnswerRecord, ConversationRecord, Feedback, Turn

from .schemas import AnswerOut

COMMENT_CHARS = 1000
VOTES = {"up": 1, "down": -1}


def _shown(answer_json: dict | None, r: AnswerRecord) -> AnswerOut | None:
    """The answer object as the caller got it: stored before its ids were known, so they are added."""
    if not answer_json:
        return None
    return AnswerOut.model_validate({**answer_json, "answer_id": r.answer_id, "conversation_id": r.conversation_id})


class ConversationOut(BaseModel):
    conversation_id: str
    title: str = Field(description="对话标题：默认为第一个问题，可重命名")
    created: datetime
    updated: datetime = Field(description="最近一次提问的时间（对话记录按它排序；重命名不改变它）")
    answers: int = Field(description="对话中的回答数")
    owner: str = Field(description="对话的归属：key:<密钥编号> 或 client:<浏览器编号>（从不含密钥本身）")

    @classmethod
    def of(cls, c: ConversationRecord) -> ConversationOut:
        return cls(conversation_id=c.conversation_id, title=c.title, created=c.created, updated=c.updated,
                   answers=c.answers, owner=c.owner)


class ConversationListOut(BaseModel):
    records: Literal["off", "questions", "full"] = Field(
        description="服务保存问答记录的方式（QA_RECORDS）：off 不保存（列表总为空）；questions 只保存问题；full 全部保存")
    conversations: list[ConversationOut]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"vote": "down", "reason": "引用不对", "comment": "引用的是2020年的数字"}, {"vote": "up"}]})

    vote: Literal["up", "down"] = Field(description="up = 👍，down = 👎")
    reason: Literal["答案错误", "没找到", "引用不对", "其他", ""] = Field("", description="👎 的原因（可不填）")
    comment: str = Field("", max_length=COMMENT_CHARS, description=f"补充说明，最多 {COMMENT_CHARS} 个字符")


class FeedbackOut(BaseModel):
    answer_id: str
    vote: Literal["up", "down"]
    reason: str
    comment: str
    updated: datetime

    @classmethod
    def of(cls, answer_id: str, f: Feedback) -> FeedbackOut:
        return cls(answer_id=answer_id, vote="up" if f.vote > 0 else "down", reason=f.reason, comment=f.comment,
                   updated=f.updated)


class TurnOut(BaseModel):
    answer_id: str
    question: str
    rewritten_question: str
    status: str = Field(description="found | unsure | not_found")
    confidence: float
    created: datetime
    answer: AnswerOut | None = Field(description="回答及其引用，与当时返回的完全相同；只保存问题时（QA_RECORDS=questions）为 null")
    feedback: FeedbackOut | None

    @classmethod
    def of(cls, t: Turn) -> TurnOut:
        r = t.record
        return cls(answer_id=r.answer_id, question=r.question, rewritten_question=r.rewritten_question,
                   status=r.status, confidence=r.confidence, created=r.created,
                   answer=_shown(t.answer_json, r),
                   feedback=FeedbackOut.of(r.answer_id, r.feedback) if r.feedback else None)


class ConversationDetailOut(ConversationOut):
    turns: list[TurnOut] = Field(description="对话中的每一问，按先后顺序")


class AnswerTraceOut(BaseModel):
    """An answer record: what was asked, how the answer was reached, what was shown, what was said of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "answer_id": "5f0c…", "conversation_id": "9a1e…", "kb": "default", "created": "2026-12-02T08:00:00Z",
        "question": "那2020年呢？", "rewritten_question": "2020年市场主体目标是多少？", "status": "found",
        "confidence": 0.91, "index_version": "20261202T075900-3f2a",
        "trace": {"kb": "default", "index_version": "20261202T075900-3f2a", "history": ["2025年市场主体目标是多少？"],
                  "answered_by": {"extractor": "table_cell", "generator": None}, "refusal_reason": None,
                  "timings_ms": {"rewrite": 0.1, "retrieve": 30.2, "answer": 4.0, "total": 36.0}},
        "answer": None, "feedback": None}]})

    answer_id: str
    conversation_id: str
    kb: str
    created: datetime
    question: str
    rewritten_question: str
    status: str
    confidence: float
    index_version: str = Field(description="回答时在线的索引版本")
    trace: dict = Field(description="知识库、索引版本、对话历史、改写后的问题、作答的抽取器或生成模型、"
                                    "未作答的原因、置信度、各阶段用时（毫秒）；有生成式回答时含其原始输出与核验结果")
    answer: AnswerOut | None = Field(description="当时返回的回答（含引用）；只保存问题时为 null")
    feedback: FeedbackOut | None

    @classmethod
    def of(cls, r: AnswerRecord, answer_json: dict | None) -> AnswerTraceOut:
        return cls(answer_id=r.answer_id, conversation_id=r.conversation_id, kb=r.kb, created=r.created,
                   question=r.question, rewritten_question=r.rewritten_question, status=r.status,
                   confidence=r.confidence, index_version=r.index_version, trace=r.trace,
                   answer=_shown(answer_json, r),
                   feedback=FeedbackOut.of(r.answer_id, r.feedback) if r.feedback else None)


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"title": "市场主体目标"}]})

    title: str = Field(min_length=1, max_length=100, pattern=r"\S", description="新的标题")


class DeletedOut(BaseModel):
    deleted: str = Field(description="已删除的对话或评价所属回答的编号")
