"""What the records store hands out: frozen dataclasses, no ORM rows."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Mode = Literal["off", "questions", "full"]
MODES: tuple[str, ...] = ("off", "questions", "full")
REASONS = ("答案错误", "没找到", "引用不对", "其他")


@dataclass(frozen=True)
class Feedback:
    vote: int  # +1 (👍) or -1 (👎)
    reason: str  # one of REASONS, or ""
    comment: str
    updated: datetime


@dataclass(frozen=True)
class AnswerRecord:
    answer_id: str
    conversation_id: str
    owner: str
    kb: str
    question: str
    rewritten_question: str
    status: str  # found | unsure | not_found
    confidence: float
    answer: str  # "" unless QA_RECORDS=full
    created: datetime
    feedback: Feedback | None
    extractor: str = ""
    index_version: str = ""
    trace: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationRecord:
    conversation_id: str
    kb: str
    owner: str
    title: str
    created: datetime
    updated: datetime
    answers: int


@dataclass(frozen=True)
class Turn:
    """One answer of a conversation as it is shown again: `answer_json` is the answer object as the
    API returned it (None unless QA_RECORDS=full)."""

    record: AnswerRecord
    answer_json: dict | None
