"""One question's way into the answer records, shared by /ask and /chat: before answering, the
conversation is resolved (someone else's is a 404, before any answer starts) and its stored
questions become the history; after answering, the answer is stored with its trace and gets its
`answer_id` and `conversation_id`.

Nothing here logs the question: it may hold personal data (README, "问答记录").
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from qa.records import Records
from qa.service import Service
from qa.settings import Settings

from .deps import Viewer
from .schemas import AskRequest

log = logging.getLogger(__name__)


@dataclass
class Recorder:
    records: Records | None
    viewer: Viewer
    settings: Settings
    body: AskRequest
    history: list[str]
    conversation_id: str | None
    index_version: str
    started: float = field(default_factory=time.perf_counter)
    answer_id: str | None = None

    @classmethod
    def begin(cls, records: Records | None, viewer: Viewer, svc: Service, body: AskRequest) -> Recorder:
        """The history to answer with: the stored conversation's when one is named (records on),
        otherwise the request's own `history`; none with `use_history` false."""
        history: list[str] = list(body.history) if body.use_history else []
        conversation_id = None
        if records is not None and body.conversation_id:
            conversation_id = body.conversation_id
            try:
                found = records.history(conversation_id, viewer.owner, svc.settings.max_history,
                                        svc.settings.max_history_chars)
            except SQLAlchemyError:
                # A failing database costs the stored history, not the answer: the request's own is used.
                log.exception("the conversation's history could not be read")
                found = list(body.history)
            history = found if body.use_history else []
        return cls(records, viewer, svc.settings, body, history, conversation_id, _index_version(svc))

    def save(self, out: dict, answer=None, generation: dict | None = None) -> dict:
        """`out` (the answer object) with its ids, once stored. A failing database costs the record,
        not the answer: the caller still gets it, with null ids, and the log says why."""
        if self.records is None:
            return out
        try:
            answer_id, conversation_id = self.records.record(self.viewer.owner, self.conversation_id, out,
                                                            self.trace(out, answer, generation))
        except SQLAlchemyError:
            log.exception("the answer could not be recorded")
            return out
        self.answer_id = answer_id
        # An owner nobody can identify again (anonymous, no X-Client-ID) could not continue it.
        return {**out, "answer_id": answer_id, "conversation_id": conversation_id if self.viewer.owner else None}

    def add_generation(self, generation: dict, shown: dict | None = None) -> None:
        """A generated answer that came after the record was written (/chat streams it after `done`):
        its trace, and `shown` (AnswerOut.generated) into the answer object kept with QA_RECORDS=full."""
        if self.records is None or self.answer_id is None:
            return
        try:
            self.records.add_generation(self.answer_id, generation, shown)
        except SQLAlchemyError:
            log.exception("the generation trace could not be recorded")

    def trace(self, out: dict, answer, generation: dict | None) -> dict:
        """How the answer was reached, for GET /answers/{id} ("why did it say that?")."""
        body = self.body
        return {
            "kb": self.settings.kb_name, "index_version": self.index_version,
            "question": out["question"], "history": self.history,
            "rewritten_question": out.get("rewritten_question", ""),
            "filters": body.filters.model_dump(exclude_defaults=True) if body.filters else None, "top_k": body.top_k,
            "status": out.get("status"), "found": out.get("found"), "confidence": out.get("confidence"),
            # Why it was refused: coverage, distant, region, year… (qa/answer.py Choice.reason).
            "refusal_reason": None if out.get("found") else (getattr(answer, "reason", "") or out.get("status")),
            "answered_by": {"extractor": out.get("extractor") or None,
                            "generator": (generation.get("model") or "llm") if generation else None},
            "timings_ms": {**out.get("timings_ms", {}),
                           "total": round((time.perf_counter() - self.started) * 1000, 1)},
            "generation": generation,
        }


def _index_version(svc: Service) -> str:
    index = svc.index
    return index.manifest.get("version") or index.folder.name
