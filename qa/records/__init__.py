"""Answer records: conversations, every answer with its trace, and feedback (issue 13 §1-2).

    Records(url, mode, days, kb)   the store (qa/records/store.py), migrated on open
    AnswerRecord, Feedback, ConversationRecord, Turn   what it hands out
"""
from ..errors import AnswerNotFound, ConversationNotFound, RecordsUnavailable
from .store import Records, default_url
from .types import MODES, REASONS, AnswerRecord, ConversationRecord, Feedback, Mode, Turn

__all__ = ["MODES", "REASONS", "AnswerNotFound", "AnswerRecord", "ConversationNotFound", "ConversationRecord",
           "Feedback", "Mode", "Records", "RecordsUnavailable", "Turn", "default_url"]
