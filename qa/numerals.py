"""Chinese numerals read as figures, for matching and comparing numbers (二十六 = 26, 一千二百零六 = 1206).

Only runs that are unmistakably numbers are read: two characters or more, with a place word
(十百千万亿) or the digit-by-digit form of a year (二〇二〇). "统一", "一是", "十一五" stay as they
are; cn2an does the reading. The result is for matching only: its length differs from the text's,
so no position is ever taken from it.
"""
from __future__ import annotations

import re
import warnings
from functools import lru_cache

import cn2an

_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万亿]{2,}")
_DIGITS = re.compile(r"[零〇一二三四五六七八九]{4}")  # 二〇二〇
_PLACES = re.compile(r"[十百千万亿]")


def _figure(run: str) -> str | None:
    if run[-1] in "万亿" and len(run) > 1:  # "十二万" → "12万": figures keep their magnitude word, as "12万户" does
        head = _figure(run[:-1]) if len(run) > 2 else _single(run[0])
        return head + run[-1] if head else None
    if _DIGITS.fullmatch(run):
        return "".join(str("零一二三四五六七八九".index(c) if c != "〇" else 0) for c in run)
    if not _PLACES.search(run):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns on text it cannot read; None says so here
        try:
            value = cn2an.cn2an(run, "smart")
        except (ValueError, KeyError, TypeError):
            return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _single(ch: str) -> str | None:
    return str("零一二三四五六七八九".index(ch)) if ch in "一二三四五六七八九" else {"两": "2", "十": "10"}.get(ch)


@lru_cache(maxsize=16384)
def arabic(text: str) -> str:
    """`text` with every Chinese numeral run written in figures (see the module's docstring)."""
    if not _RUN.search(text):
        return text
    return _RUN.sub(lambda m: _figure(m.group(0)) or m.group(0), text)


def value(text: str) -> str | None:
    """The figure a whole numeral stands for ("一千二百零六" → "1206", "两" → "2"), or None. A single
    character is read here, where the caller has seen it count something ("两个"), never in `arabic`."""
    if len(text) == 1:
        return _single(text)
    return _figure(text) if _RUN.fullmatch(text) else None
