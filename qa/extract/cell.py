"""A table row's cell: the column the question names ("检查户数是多少"), else the column of the
question's year, else the target (last) year column. Used by the number and sentence kinds
whenever the passage is a rebuilt table row or a spreadsheet record."""
from __future__ import annotations

import re

from ..textnorm import normalize
from .base import Asked, Candidate, Passage, W, coverage

KIND = "table_cell"
RULES = ()  # never a question's kind of its own: number and sentence questions reach it
_CELL_UNIT = re.compile(r"[(（]([^()（）]+)[)）]\s*$")
_YEAR_COL = re.compile(r"((?:19|20)\d{2}年)")  # "2025年", or a merged header "2025年 目标"


def _named_column(q: Asked, cols: dict[str, str]) -> str:
    """The column whose name the question says while its value is not said ("城关镇检查户数是多少"
    names 检查户数, and 城关镇 is the row, not the asked column); the longest such name."""
    named = [k for k, v in cols.items() if len(k) >= 2 and not _YEAR_COL.match(k)
             and normalize(_CELL_UNIT.sub("", k)).strip() in q.text and normalize(v) not in q.text]
    return max(named, key=len, default="")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    text = p.text
    cells = [part.split(": ", 1) for part in text.split("｜")[1:] if ": " in part]
    cols = {k: v for k, v in cells}
    year_cols = [k for k in cols if _YEAR_COL.match(k)]
    asked = [k for y in q.years for k in year_cols if k.startswith(f"{y}年")]
    named = "" if asked else _named_column(q, cols)
    if not (year_cols or named):
        return []
    col = asked[0] if asked else named or year_cols[-1]
    value = cols[col]
    if value in ("—", ""):
        return []
    name = cols.get("指标名称", "") if not named else col
    unit_m = _CELL_UNIT.search(name)
    unit = unit_m.group(1) if unit_m else ""
    answer = value if not unit or value.endswith(unit) else value + unit  # 650 + 万户, ≤2 + 天, 98 + %
    start = text.index(f"{col}: {value}") + len(col) + 2
    spans = [(start, start + len(value))]
    if unit_m:
        u0 = text.index(name) + unit_m.start(1)
        spans.append((u0, u0 + len(unit)))
    covered = coverage(normalize(text), p.header, q.ws)  # its title and section speak for it, as for a sentence
    # Scored like a number in prose whose clause is the indicator's name, sitting right beside it.
    # The chosen column is part of what the row says: "2020年" for a question about 2020, and
    # the last year column of a plan's indicator table is its target (目标).
    said = f"{name} {col}" + (" 目标 预期 规划" if year_cols and col == year_cols[-1] else "")
    support = coverage(normalize(said), "", q.focus)
    score = covered + p.rank_prior + W.cell_support * support + W.cell_base + (W.cell_asked_year if asked else 0.0)
    return [Candidate(p.index, answer, text, sorted(spans), covered, score, {"column": col, "support": support}, KIND)]
