"""A question with two asks ("查办案件多少件，罚没多少钱"): each ask answered on its own.

A question is split at a clause break or a joining word (和/以及/并且/同时) only when both sides
ask something (a question word of their own); "截至2020年底，市场主体有多少户" is one ask.
"""
from __future__ import annotations

import re

from .slots import WH

_JOIN = re.compile(r"[，,；;]|(?<=[件户家个元人次项])(?:和|以及|并且|同时|又)")
_ASKS = re.compile(rf"(?:{WH.pattern})|为什么|如何|怎样|是否")
MAX_ASKS = 3


def split_asks(question: str) -> list[str]:
    """The asks of `question`, in order; a single ask is returned as it is."""
    parts = [p.strip() for p in _JOIN.split(question.strip().rstrip("？?。")) if p.strip()]
    asking = [p for p in parts if _ASKS.search(p)]
    if len(asking) < 2 or len(asking) > MAX_ASKS:
        return [question]
    # Words before the first ask that ask nothing ("2020年，") belong to every ask.
    lead = "".join(p for p in parts[:parts.index(asking[0])])
    return [lead + p if lead else p for p in asking]
