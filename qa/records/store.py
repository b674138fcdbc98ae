"""`Records`: the conversations, the answers given in them (with a trace of how each was reached) and
the feedback on them, in one SQL database (SQLite by default, PostgreSQL by URL).

Who sees what: every conversation has an `owner` ("key:<key id>" or "client:<browser id>"). Reads
and writes name the caller's owner; `owner=None` is an admin, who reads (renames, deletes) every
owner's, but asks only in their own. A conversation of someone else is "not found", never
"forbidden": its existence is not revealed.

What is kept follows the mode (QA_RECORDS): "full" keeps everything; "questions" keeps the questions,
their rewritten form, status, confidence, trace and feedback but not the answer text, the answer
object nor generated text; "off" keeps nothing (the API then opens no database at all).
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, Text, cast, create_engine, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, defer, selectinload, sessionmaker

from ..errors import (
    AnswerNotFound,
    ConversationNotFound,
    InvalidArgument,
    RecordsUnavailable,
)
from . import migrate
from .models import AnswerRow, Conversation, FeedbackRow, utcnow
from .types import MODES, AnswerRecord, ConversationRecord, Feedback, Mode, Turn

log = logging.getLogger(__name__)

TITLE_CHARS = 100
PURGE_EVERY_S = 3600.0  # retention is checked on writes at most this often (and at start-up)
# Keys of a generation trace that hold text of the answer: dropped with QA_RECORDS=questions.
ANSWER_TEXT_KEYS = frozenset({"raw", "text", "sentences", "rejected", "answer", "prompt", "passages", "note",
                              "problems"})  # problems quote the generated text they fault


def default_url(index_dir: Path) -> str:
    """Beside the index versions, like uploads/ and trash/: index_dir/records/records.db."""
    return f"sqlite:///{Path(index_dir).resolve() / 'records' / 'records.db'}"


def new_id() -> str:
    return uuid.uuid4().hex


class Records:
    def __init__(self, url: str, mode: Mode = "full", days: float = 0, kb: str = "default"):
        if mode not in MODES:
            raise InvalidArgument(f"QA_RECORDS 应为 off、questions 或 full，而不是 {mode!r}")
        self.mode = mode
        self.days = days
        self.kb = kb
        self.engine = _engine(url)
        try:
            self.revision = migrate.upgrade(self.engine)
        except SQLAlchemyError as e:
            self.engine.dispose()
            raise RecordsUnavailable(f"问答记录数据库 {self.engine.url.render_as_string()} 无法打开或升级：{e}") from e
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._purged = 0.0
        if mode == "questions":
            self.strip_answers()
        self.purge()

    @classmethod
    def from_settings(cls, settings) -> Records | None:
        """The store the settings name, or None when QA_RECORDS=off (no database is opened) or the
        database cannot be opened (logged)."""
        if settings.records == "off":
            return None
        try:
            return cls(settings.records_url or default_url(settings.index_dir), settings.records,
                       settings.records_days, settings.kb_name)
        except (RecordsUnavailable, OSError) as e:
            # The records are a by-product of answering: a database that cannot be opened (damaged,
            # unreachable, its folder not writable) is left as it is and costs the records, not the service.
            log.error("%s; questions are answered but not recorded until it is fixed and the service restarted",
                      getattr(e, "message", e))
            return None

    def close(self) -> None:
        self.engine.dispose()

    @property
    def keeps_answers(self) -> bool:
        return self.mode == "full"

    # ----- asking -----

    def history(self, conversation_id: str, owner: str, limit: int, max_chars: int) -> list[str]:
        """The questions of the caller's conversation that were answered (a refused one shapes no
        follow-up), oldest first: the last `limit` of them, and no more than `max_chars` in all."""
        with self._session() as s:
            conv = self._own(s, conversation_id, owner, asking=True)
            rows = s.scalars(select(AnswerRow.question).where(AnswerRow.conversation_id == conv.id,
                                                              AnswerRow.status == "found")
                             .order_by(AnswerRow.seq.desc()).limit(limit)).all()
        kept, total = [], 0
        for q in rows:
            total += len(q)
            if total > max_chars:
                break
            kept.append(q)
        return kept[::-1]

    def record(self, owner: str, conversation_id: str | None, answer: dict, trace: dict) -> tuple[str, str]:
        """Store one answer (`answer`: the API's answer object) in the caller's conversation, or in a
        new one titled by its question; returns (answer_id, conversation_id)."""
        now = utcnow()
        with self._session.begin() as s:
            if conversation_id is None:
                conv = Conversation(id=new_id(), kb=self.kb, owner=owner, title=_title(answer["question"]),
                                    created=now, updated=now)
                s.add(conv)
                seq = 0
            else:
                conv = self._own(s, conversation_id, owner, asking=True)
                conv.updated = now
                seq = (s.scalar(select(func.max(AnswerRow.seq)).where(AnswerRow.conversation_id == conv.id)) or 0) + 1
            row = AnswerRow(
                id=new_id(), conversation_id=conv.id, seq=seq, kb=self.kb, question=answer["question"],
                rewritten_question=answer.get("rewritten_question", ""), status=answer.get("status", ""),
                confidence=float(answer.get("confidence") or 0.0), extractor=answer.get("extractor", ""),
                index_version=trace.get("index_version") or "", created=now,
                answer=answer.get("answer", "") if self.keeps_answers else "",
                answer_json=answer if self.keeps_answers else None, trace=self._kept_trace(trace))
            s.add(row)
            ids = row.id, conv.id
        self._maybe_purge()
        return ids

    def add_generation(self, answer_id: str, generation: dict, shown: dict | None = None) -> None:
        """Attach a generation's trace (`qa.generate.Generation.trace()`) to an answer already recorded,
        and (QA_RECORDS=full) `shown`, the generated answer as the API gave it, to its answer object."""
        with self._session.begin() as s:
            row = s.get(AnswerRow, answer_id)
            if row is None:
                return  # deleted meanwhile with its conversation
            kept = generation if self.keeps_answers else _without_text(generation)
            trace = {**row.trace, "generation": kept}
            if isinstance(trace.get("answered_by"), dict):
                trace["answered_by"] = {**trace["answered_by"], "generator": generation.get("model") or "llm"}
            row.trace = trace
            if self.keeps_answers and shown is not None and row.answer_json is not None:
                row.answer_json = {**row.answer_json, "generated": shown}

    def _kept_trace(self, trace: dict) -> dict:
        if self.keeps_answers or not isinstance(trace.get("generation"), dict):
            return trace
        return {**trace, "generation": _without_text(trace["generation"])}

    # ----- reading conversations -----

    def conversations(self, owner: str | None, limit: int = 50, offset: int = 0) -> list[ConversationRecord]:
        """The caller's conversations, the latest first (`owner=None`: everyone's)."""
        if owner == "":
            return []
        with self._session() as s:
            count = (select(func.count(AnswerRow.id)).where(AnswerRow.conversation_id == Conversation.id)
                     .correlate(Conversation).scalar_subquery())
            q = select(Conversation, count).order_by(Conversation.updated.desc(), Conversation.id)
            if owner is not None:
                q = q.where(Conversation.owner == owner)
            return [_conversation(c, n) for c, n in s.execute(q.limit(limit).offset(offset)).all()]

    def conversation(self, conversation_id: str, owner: str | None) -> tuple[ConversationRecord, list[Turn]]:
        with self._session() as s:
            conv = self._own(s, conversation_id, owner)
            rows = s.scalars(select(AnswerRow).where(AnswerRow.conversation_id == conv.id)
                             .options(selectinload(AnswerRow.feedback)).order_by(AnswerRow.seq)).all()
            return _conversation(conv, len(rows)), [Turn(_answer(r, conv.owner), r.answer_json) for r in rows]

    def rename(self, conversation_id: str, owner: str | None, title: str) -> ConversationRecord:
        with self._session.begin() as s:
            conv = self._own(s, conversation_id, owner)
            conv.title = _title(title)
            n = s.scalar(select(func.count(AnswerRow.id)).where(AnswerRow.conversation_id == conv.id))
            return _conversation(conv, n or 0)

    def delete_conversation(self, conversation_id: str, owner: str | None) -> None:
        """Delete it with its answers and their feedback."""
        with self._session.begin() as s:
            conv = self._own(s, conversation_id, owner)
            s.execute(delete(Conversation).where(Conversation.id == conv.id))

    # ----- answers and feedback -----

    def answer(self, answer_id: str, owner: str | None = None) -> AnswerRecord | None:
        """One answer record (`owner` given: only if it is the caller's)."""
        with self._session() as s:
            row = self._answer_row(s, answer_id, owner)
            return None if row is None else _answer(row, row.conversation.owner)

    def answer_json(self, answer_id: str) -> dict | None:
        """The answer object as the API returned it, citations included (None unless QA_RECORDS=full)."""
        with self._session() as s:
            row = s.get(AnswerRow, answer_id)
            return None if row is None else row.answer_json

    def answers(self, kb: str, since: datetime | None = None, until: datetime | None = None,
                gaps_below: float | None = None) -> list[AnswerRecord]:
        """Every answer of knowledge base `kb` given in [since, until), oldest first. `gaps_below` given:
        only the gap report's (not found, unsure, found with a confidence below it, or given a 👎),
        chosen by the database: months of answered questions are not loaded to find the few gaps."""
        q = self._between(kb, since, until).options(defer(AnswerRow.answer_json))
        if gaps_below is not None:
            downvoted = select(FeedbackRow.answer_id).where(FeedbackRow.answer_id == AnswerRow.id,
                                                            FeedbackRow.vote < 0).exists()
            q = q.where((AnswerRow.status != "found") | (AnswerRow.confidence < gaps_below) | downvoted)
        with self._session() as s:
            return [_answer(r, r.conversation.owner) for r in s.scalars(q)]

    def set_feedback(self, answer_id: str, owner: str | None, vote: int, reason: str, comment: str
                     ) -> tuple[Feedback, Feedback | None]:
        """Give or change the caller's feedback on their answer; returns (the new one, the one it replaced)."""
        try:
            return self._set_feedback(answer_id, owner, vote, reason, comment)
        except IntegrityError:
            # Two first votes at once (a double click): the other one inserted the row, this one changes it.
            return self._set_feedback(answer_id, owner, vote, reason, comment)

    def _set_feedback(self, answer_id: str, owner: str | None, vote: int, reason: str, comment: str
                      ) -> tuple[Feedback, Feedback | None]:
        now = utcnow()
        with self._session.begin() as s:
            row = self._answer_row(s, answer_id, owner)
            if row is None:
                raise AnswerNotFound(f"没有编号为 {answer_id} 的回答")
            fb = row.feedback
            before = _feedback(fb)
            if fb is None:
                fb = FeedbackRow(answer_id=row.id, created=now)
                s.add(fb)
            fb.vote, fb.reason, fb.comment, fb.updated = vote, reason, comment, now
            return _feedback(fb), before

    def delete_feedback(self, answer_id: str, owner: str | None) -> None:
        with self._session.begin() as s:
            row = self._answer_row(s, answer_id, owner)
            if row is None:
                raise AnswerNotFound(f"没有编号为 {answer_id} 的回答")
            s.execute(delete(FeedbackRow).where(FeedbackRow.answer_id == row.id))

    # ----- export and retention -----

    def export(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
        """Every answer given in [since, until), oldest first, as flat dicts (for CSV / JSONL)."""
        with self._session() as s:
            q = self._between(None, since, until).options(selectinload(AnswerRow.feedback)).execution_options(yield_per=500)
            for r in s.scalars(q):
                fb = r.feedback
                yield {"answer_id": r.id, "conversation_id": r.conversation_id, "owner": r.conversation.owner,
                       "kb": r.kb, "created": r.created.isoformat(), "question": r.question,
                       "rewritten_question": r.rewritten_question, "status": r.status, "confidence": r.confidence,
                       "extractor": r.extractor, "index_version": r.index_version, "answer": r.answer,
                       "vote": {1: "up", -1: "down"}.get(fb.vote, "") if fb else "",
                       "reason": fb.reason if fb else "", "comment": fb.comment if fb else "",
                       "trace": r.trace, "answer_json": r.answer_json}

    def purge(self, now: datetime | None = None) -> int:
        """Delete answers older than QA_RECORDS_DAYS (0 keeps all), and conversations left empty by
        it; returns how many answers went."""
        self._purged = time.monotonic()
        if not self.days:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=self.days)
        with self._session.begin() as s:
            gone = s.execute(delete(AnswerRow).where(AnswerRow.created < cutoff)).rowcount
            has_answers = select(AnswerRow.id).where(AnswerRow.conversation_id == Conversation.id).exists()
            s.execute(delete(Conversation).where(Conversation.updated < cutoff, ~has_answers))
        if gone:
            log.info("records: purged %d answers older than %g days", gone, self.days)
        return gone

    def strip_answers(self, batch: int = 500) -> int:
        """Drop answer text kept under an earlier QA_RECORDS=full, now that the mode keeps questions only.
        Only rows recorded under `full` are read (they alone hold an answer object), a batch at a time:
        a start-up over a long history neither reads every answer again nor holds them all at once."""
        # Rows of an earlier version hold the JSON text 'null' where no answer object was kept.
        kept = (AnswerRow.answer != "") | (func.coalesce(cast(AnswerRow.answer_json, Text), "null") != "null")
        n = 0
        while True:
            with self._session.begin() as s:
                rows = s.scalars(select(AnswerRow).where(kept).limit(batch)).all()
                for r in rows:  # each leaves `kept`, so the loop ends
                    r.answer, r.answer_json, r.trace = "", None, self._kept_trace(r.trace or {})
            n += len(rows)
            if len(rows) < batch:
                break
        if n:
            log.info("records: answer text dropped from %d answers (QA_RECORDS=questions)", n)
        return n

    def _maybe_purge(self) -> None:
        if self.days and time.monotonic() - self._purged > PURGE_EVERY_S:
            self.purge()

    # ----- helpers -----

    def _own(self, s: Session, conversation_id: str, owner: str | None, asking: bool = False) -> Conversation:
        conv = s.get(Conversation, conversation_id)
        visible = conv is not None and (owner is None and not asking or (owner and conv.owner == owner))
        if not visible:
            raise ConversationNotFound(f"没有编号为 {conversation_id} 的对话")
        return conv

    @staticmethod
    def _answer_row(s: Session, answer_id: str, owner: str | None) -> AnswerRow | None:
        row = s.get(AnswerRow, answer_id)
        if row is None or (owner is not None and (not owner or row.conversation.owner != owner)):
            return None
        return row

    @staticmethod
    def _between(kb: str | None, since: datetime | None, until: datetime | None):
        q = select(AnswerRow).options(selectinload(AnswerRow.feedback), selectinload(AnswerRow.conversation))
        if kb is not None:
            q = q.where(AnswerRow.kb == kb)
        if since is not None:
            q = q.where(AnswerRow.created >= since)
        if until is not None:
            q = q.where(AnswerRow.created < until)
        return q.order_by(AnswerRow.created, AnswerRow.id)


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise InvalidArgument(f"QA_RECORDS_URL 不是合法的数据库地址：{e}") from e
    # hide_parameters: a failed statement's error (logged by the API) would otherwise quote its
    # parameters, the question among them, and question text never goes to a log.
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record) -> None:
        # WAL: readers never wait for the writer, and a process killed mid-write leaves every
        # committed answer in place (NORMAL syncs at checkpoints: only a power cut may lose the last ones).
        cur = conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


def _title(text: str) -> str:
    title = " ".join(text.split())
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


def _without_text(generation: dict) -> dict:
    return {k: v for k, v in generation.items() if k not in ANSWER_TEXT_KEYS}


def _feedback(fb: FeedbackRow | None) -> Feedback | None:
    return None if fb is None else Feedback(fb.vote, fb.reason, fb.comment, fb.updated)


def _answer(r: AnswerRow, owner: str) -> AnswerRecord:
    return AnswerRecord(answer_id=r.id, conversation_id=r.conversation_id, owner=owner, kb=r.kb, question=r.question,
                        rewritten_question=r.rewritten_question, status=r.status, confidence=r.confidence,
                        answer=r.answer, created=r.created, feedback=_feedback(r.feedback), extractor=r.extractor,
                        index_version=r.index_version, trace=r.trace or {})


def _conversation(c: Conversation, answers: int) -> ConversationRecord:
    return ConversationRecord(c.id, c.kb, c.owner, c.title, c.created, c.updated, answers)
