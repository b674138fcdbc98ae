"""Rebuilding tables that arrive flattened into text.

A plan's 专栏 table reaches us as lines of space-separated cells:

    类别 序号 指标名称 2020年 2025年 属性
    营商 1 全省市场主体数(万户) 488.84 650 预期性
    环境 2 企业开办平均时间(天) 2 ≤2 预期性

The category cell was vertically merged in the original, so its text spills
over several rows ("营商" / "环境" → 营商环境) and rows further down carry
none. Each row becomes a record that names every column, so "2025年 … 目标"
lands on the 2025年 cell of the right row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .textnorm import normalize

_CELL_SPLIT = re.compile(r"[ \t\u3000]+")
_BLANK_CELL = "\xa0"
_SERIAL_HEADER = re.compile(r"^(?:序号|编号|No\.?)$", re.IGNORECASE)
_SERIAL = re.compile(r"^\d{1,3}$")
_SENTENCE_PUNCT = re.compile(r"[。；;！!？?，,]")
_MAX_HEADER_CELL = 12
EMPTY = "—"


@dataclass(frozen=True)
class TableRow:
    cells: tuple[tuple[str, str], ...]  # (column, value) in header order, serial column left out
    start: int  # offsets of the row's line in the cleaned document text
    end: int

    def record(self, title: str) -> str:
        """`专栏1 …｜类别: 营商环境｜指标名称: 全省市场主体数(万户)｜2020年: 488.84｜…`"""
        return "｜".join([title, *(f"{col}: {val}" for col, val in self.cells)])


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[TableRow, ...]
    start: int  # header line start … last row end
    end: int


def _cells(line: str) -> list[str]:
    return [c.strip(" ") for c in _CELL_SPLIT.split(line.strip(" ")) if c != ""]


def is_header(line: str) -> bool:
    cells = [c for c in _cells(line) if c != _BLANK_CELL]
    return (
        len(cells) >= 3
        and all(len(c) <= _MAX_HEADER_CELL for c in cells)
        and not _SENTENCE_PUNCT.search(line)
    )


def _segment_categories(fragments: list[str], context: str) -> list[str]:
    """Split a run of spilled category fragments into cells.

    Chooses the fewest cells such that each cell's text occurs in the
    document's prose (`context`): ["营商", "环境", "市场", "安全", "监管"] →
    营商环境 | 市场安全监管. Returns the cell text for each fragment.
    """
    n = len(fragments)
    # best[i] = (cells not found in context, number of cells, split points) for fragments[:i]
    best: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())] + [(n + 1, n + 1, ())] * n
    for end in range(1, n + 1):
        for start in range(end):
            cell = normalize("".join(fragments[start:end]))
            miss = 0 if cell in context else 1
            prev = best[start]
            cand = (prev[0] + miss, prev[1] + 1, prev[2] + (start,))
            if cand[:2] < best[end][:2]:
                best[end] = cand
    starts = list(best[n][2]) + [n]
    out: list[str] = []
    for a, b in zip(starts, starts[1:]):
        out.extend(["".join(fragments[a:b])] * (b - a))
    return out


def _align(header: list[str], values: list[str]) -> list[str]:
    """Fit a row's values to the header columns: blanks count, extras join the widest text column."""
    if len(values) > len(header):
        extra = len(values) - len(header) + 1
        # The name column (longest values) absorbs cells that were split on a space.
        values = [" ".join(values[:extra])] + values[extra:]
    # Missing cells are the leading ones: a baseline year is what plans leave blank.
    return [""] * (len(header) - len(values)) + values


def parse(title: str, lines: list[tuple[int, int, str]], context: str) -> Table | None:
    """Rebuild a table from (start, end, text) lines following its title, or None if they are prose."""
    if len(lines) < 3 or not is_header(lines[0][2]):
        return None
    header = [c for c in _cells(lines[0][2]) if c != _BLANK_CELL]
    serial_col = next((i for i, h in enumerate(header) if _SERIAL_HEADER.match(h)), None)
    parsed: list[tuple[str, list[str], int, int]] = []  # (category fragment, cells after it, start, end)
    for start, end, text in lines[1:]:
        cells = _cells(text)
        if len(cells) < 2 or _SENTENCE_PUNCT.search(text.replace("、", "")) and len(text) > 60:
            break  # the table has ended; prose follows
        fragment = ""
        if serial_col is not None:
            at = next((i for i, c in enumerate(cells) if _SERIAL.match(c)), None)
            if at is None:
                break
            fragment = "".join(c for c in cells[:at] if c != _BLANK_CELL)
            cells = cells[at:]
        parsed.append((fragment, cells, start, end))
    if len(parsed) < 2:
        return None

    categories = [""] * len(parsed)
    if serial_col is not None and serial_col > 0:
        i = 0
        current = ""
        while i < len(parsed):
            if not parsed[i][0]:
                categories[i] = current  # a merged cell's lower rows
                i += 1
                continue
            j = i
            while j < len(parsed) and parsed[j][0]:
                j += 1
            cells = _segment_categories([p[0] for p in parsed[i:j]], context)
            categories[i:j] = cells
            current = cells[-1]
            i = j

    columns = header[serial_col:] if serial_col is not None else header
    rows = []
    for category, (_, cells, start, end) in zip(categories, parsed):
        values = [("" if c == _BLANK_CELL else c) for c in _align(columns, cells)]
        named = list(zip(columns, values))
        if serial_col is not None:
            named = [(h, category) for h in header[:serial_col]] + named[1:]  # drop 序号
        rows.append(TableRow(tuple((col, val or EMPTY) for col, val in named), start, end))
    return Table(title, tuple(header), tuple(rows), lines[0][0], parsed[-1][3])
