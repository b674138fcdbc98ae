"""The tables of the answer records: conversations, the answers given in them, feedback on an answer.

Times are stored as naive UTC (SQLite has no time zone type) and read back as aware UTC.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kb: Mapped[str] = mapped_column(String(100))
    # "key:<key id>" or "client:<browser id>"; "" for a caller nobody can identify again (anonymous
    # without X-Client-ID): only an admin reads those.
    owner: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    answers: Mapped[list[AnswerRow]] = relationship(back_populates="conversation", cascade="all, delete-orphan",
                                                    passive_deletes=True, order_by="AnswerRow.seq")


class AnswerRow(Base):
    __tablename__ = "answers"
    __table_args__ = (Index("ix_answers_kb_created", "kb", "created"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # order within the conversation
    kb: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    rewritten_question: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))  # found | unsure | not_found
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    extractor: Mapped[str] = mapped_column(String(50), default="")
    index_version: Mapped[str] = mapped_column(String(100), default="")
    # Kept only with QA_RECORDS=full: the answer text, and the answer object (citations included)
    # exactly as the API returned it.
    answer: Mapped[str] = mapped_column(Text, default="")
    # none_as_null: an answer not kept is SQL NULL (not the JSON text 'null'), so `IS NULL` finds it.
    answer_json: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    trace: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="answers")
    feedback: Mapped[FeedbackRow | None] = relationship(back_populates="answer", cascade="all, delete-orphan",
                                                        passive_deletes=True, uselist=False)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    answer_id: Mapped[str] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True)
    vote: Mapped[int] = mapped_column(Integer)  # +1 / -1
    reason: Mapped[str] = mapped_column(String(20), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    answer: Mapped[AnswerRow] = relationship(back_populates="feedback")
