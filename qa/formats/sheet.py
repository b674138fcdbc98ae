"""Spreadsheets (.xlsx, .xls, .et, .csv): every row a record naming its columns.

A workbook is read with python-calamine (one Rust reader for .xlsx, .xls and WPS's .et, which is
an .xls inside; it sniffs the bytes, not the name). Its text is one block per sheet, blocks
joined by "\\f" (a sheet is a page to the chunker):

    指标                              the sheet's name
    <row 1 cells, tab-separated>      line k is the sheet's own row k (empty rows stay empty lines)
    <row 2 …>

Merged cells are filled: every cell a merge covers holds its value, so a merged header names each
column under it and a merged category names each row beside it. A .csv is one block with an empty
name line (the table is named after the document). The fields state `sheets` (how many): a
workbook has no headline, so qa/metadata.py titles it by its file name (an upload's original
name: the path read here may be a generated one). `tables()` reads the text back into records (`表名｜列: 值｜…`, the form of a rebuilt
专栏 row, qa/tables.py) with their row numbers and offsets in the text, for qa/chunk.py; rebuilt
from the stored text, so re-chunking needs nothing but the document.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from qa.errors import DocumentLoadError
from qa.formats import numfmt

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "xls", "et", "csv")  # Document.fmt of a spreadsheet
_CELL_SPACE = re.compile(r"\s+")  # a cell's line breaks and tabs would break the row's line
_NUMBER = re.compile(r"^[-+]?(?:\d[\d,，]*)?\.?\d+%?$")
_MAX_HEADER_ROWS = 3
_MAX_CELLS = 2_000_000  # a sheet whose used range is larger is cut (a stray cell at XFD1048576)


# --- reading ----------------------------------------------------------------------------------

def read(path: Path, data: bytes, limits: Any = None) -> tuple[str, dict[str, str]]:
    """A workbook or .csv as the text above."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path, data), {"sheets": "1"}
    _check_inflated(path, data, getattr(limits, "max_inflated_bytes", 0))
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        codes = number_formats(path, data) if book.sheets_metadata else {}
        blocks = [_sheet_block(book, meta.name, codes.get(meta.name, {})) for meta in book.sheets_metadata
                  if getattr(meta.typ, "name", "WorkSheet") == "WorkSheet"]
    except PasswordError:
        raise DocumentLoadError(str(path), f"电子表格 {path.name} 已加密，需要密码才能读取", code="encrypted_spreadsheet") from None
    # calamine raises its own errors for damaged or unknown files, and ValueError/TypeError on odd ones
    except (CalamineError, ValueError, TypeError, OSError, IndexError, KeyError) as exc:
        raise DocumentLoadError(str(path), f"无法读取电子表格 {path.name}：{exc}", code="invalid_spreadsheet") from exc
    blocks = [b for b in blocks if b is not None]
    return "\f".join(blocks), {"sheets": str(len(blocks))}


def _check_inflated(path: Path, data: bytes, limit: int) -> None:
    """An .xlsx is a zip: refuse one whose parts unzip past `limit` bytes before calamine inflates them."""
    if not limit or not data.startswith(b"PK"):
        return
    try:
        total = sum(p.file_size for p in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError):
        return  # not a zip we can read: calamine says so
    if total > limit:
        mb = 1024 * 1024
        raise DocumentLoadError(str(path), f"电子表格 {path.name} 解压后共 {total / mb:.1f} MB，超过 {limit / mb:g} MB 的上限，"
                                           "已跳过", code="document_too_large")


def _sheet_block(book: Any, name: str, codes: dict[tuple[int, int], str]) -> str | None:
    sheet = book.get_sheet_by_name(name)
    if sheet.height == 0 or sheet.width == 0:
        return None
    (_, left), (bottom, right) = sheet.start, sheet.end
    if (bottom + 1) * (right - left + 1) > _MAX_CELLS:
        bottom = _MAX_CELLS // (right - left + 1) - 1
        log.warning("sheet %s: used range cut at row %d", name, bottom + 1)
    # from A1, so list index = row number - 1; columns before the first used one are dropped
    grid = [[_cell(v, codes.get((r, c))) for c, v in enumerate(row[left:right + 1], start=left)]
            for r, row in enumerate(sheet.to_python(skip_empty_area=False, nrows=bottom + 1))]
    for (r0, c0), (r1, c1) in _merges(sheet):
        r1, c0, c1 = min(r1, bottom), max(c0, left), min(c1, right)
        if not (0 <= r0 <= r1 and c0 <= c1) or c0 > right:
            continue
        value = grid[r0][c0 - left] if c0 - left < len(grid[r0]) else ""
        for r in range(r0, r1 + 1):
            for c in range(c0 - left, c1 - left + 1):
                if c < len(grid[r]):
                    grid[r][c] = value
    rows = ["\t".join(cells) if any(cells) else "" for cells in grid]
    return "\n".join([_one_line(name), *rows])


def number_formats(path: Path, data: bytes) -> dict[str, dict[tuple[int, int], str]]:
    """Per sheet, the format code of each number or date cell that has one other than General,
    by (row, column) from A1 = (0, 0). calamine drops these (it has no API for styles), so an .xlsx
    is read a second time with openpyxl and an .xls/.et with xlrd. A file either of them cannot
    read is still imported, its values unformatted."""
    from zipfile import BadZipFile

    import xlrd
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        if data.startswith(b"PK"):
            return _xlsx_formats(data)
        if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE compound file: BIFF .xls, WPS .et
            return _xls_formats(data)
    # openpyxl and xlrd raise these on the damaged or odd files calamine may still read
    except (InvalidFileException, BadZipFile, xlrd.XLRDError, OSError, ValueError, KeyError, TypeError,
            AttributeError, IndexError, AssertionError, SyntaxError, NotImplementedError, EOFError,
            zlib.error, RecursionError) as exc:  # SyntaxError: XML parse errors (ElementTree's, lxml's)
        log.warning("%s: number formats not read (%s); cells keep their stored values", path.name, exc)
    return {}


def _xlsx_formats(data: bytes) -> dict[str, dict[tuple[int, int], str]]:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        out = {}
        if not any(xf.numFmtId for xf in book._cell_styles):
            return out  # every cell General: skip the walk over the cells (~10 µs a cell)
        for ws in book.worksheets:
            codes, seen = {}, 0
            for row in ws.iter_rows():
                seen += len(row)
                if seen > _MAX_CELLS:
                    break
                for cell in row:
                    if cell.value is None or cell.data_type not in ("n", "d"):
                        continue
                    fid = cell.style_array.numFmtId
                    code = numfmt.ZH_BUILTIN.get(fid) if fid in numfmt.ZH_BUILTIN and fid < 164 else cell.number_format
                    if code and code != "General":
                        codes[(cell.row - 1, cell.column - 1)] = code
            out[ws.title] = codes
        return out
    finally:
        book.close()


def _xls_formats(data: bytes) -> dict[str, dict[tuple[int, int], str]]:
    import xlrd

    book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True, logfile=io.StringIO())
    try:
        out = {}
        for index, name in enumerate(book.sheet_names()):
            sh, codes = book.sheet_by_index(index), {}
            for r in range(min(sh.nrows, _MAX_CELLS // max(sh.ncols, 1))):
                for c in range(sh.row_len(r)):
                    if sh.cell_type(r, c) not in (xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
                        continue
                    key = book.xf_list[sh.cell_xf_index(r, c)].format_key
                    fmt = book.format_map.get(key)
                    code = numfmt.ZH_BUILTIN.get(key) if key in numfmt.ZH_BUILTIN else fmt.format_str if fmt else None
                    if code and code != "General":
                        codes[(r, c)] = code
            out[name] = codes
        return out
    finally:
        book.release_resources()


def _merges(sheet: Any) -> list:
    try:
        return list(sheet.merged_cell_ranges or ())
    except (AttributeError, ValueError):  # a format calamine keeps no merges for
        return []


def _cell(value: Any, code: str | None = None) -> str:
    if value is None or value == "":
        return ""
    if code and (shown := numfmt.render(value, code)) is not None:
        return _one_line(shown)  # 98% as the cell shows it, not the stored 0.98
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return _one_line(str(value))


def _one_line(text: str) -> str:
    return _CELL_SPACE.sub(" ", text).strip().replace("｜", "|")  # ｜ separates a record's cells


def _read_csv(path: Path, data: bytes) -> str:
    from qa.load import _decode_text  # GB18030, Big5 and BOMs, as for .txt

    text = _decode_text(path, data)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    rows = []
    try:
        for cells in csv.reader(io.StringIO(text, newline=""), dialect):
            cells = [_one_line(c) for c in cells]
            rows.append("\t".join(cells) if any(cells) else "")
    except csv.Error as exc:
        raise DocumentLoadError(str(path), f"CSV 文件 {path.name} 格式有误：{exc}", code="invalid_csv") from exc
    # A quoted cell spanning lines makes one row of several file lines: numbering follows records,
    # which is what a spreadsheet program opening the file shows.
    return "\n".join(["", *rows])


# --- reading the text back: records ----------------------------------------------------------

@dataclass(frozen=True)
class Record:
    row: int  # the spreadsheet's own row number; 0 for a table that is not a sheet
    text: str  # 表名｜列: 值｜…
    raw_start: int  # the row's line in the document's raw text
    raw_end: int


@dataclass(frozen=True)
class Sheet:
    name: str  # the table's name: the sheet's, or the file's for a .csv
    records: tuple[Record, ...]
    raw_start: int  # the header's line … the last row's end
    raw_end: int


def tables(raw_text: str, default_name: str) -> list[Sheet]:
    """The sheets of a spreadsheet's text, each with a record per data row; a block without a
    name (a .csv) is named `default_name`."""
    out, pos = [], 0
    for block in raw_text.split("\f"):
        lines, at = [], pos
        for line in block.split("\n"):
            lines.append((at, at + len(line), line))
            at += len(line) + 1
        name = lines[0][2].strip() or default_name
        rows = [(k, a, b, line.split("\t")) for k, (a, b, line) in enumerate(lines) if k and line.strip()]
        sheet = records(name, rows)
        if sheet is not None:
            out.append(sheet)
        pos += len(block) + 1
    return out


def record_cells(record: str) -> list[tuple[str, str]]:
    """A record's (column, value) pairs: `表名｜列: 值｜…` read back (its name left out). A cell's own
    "｜" was made "|" when read, so the split is safe; a part without ": " is not a cell."""
    return [(k, v) for k, sep, v in (part.partition(": ") for part in record.split("｜")[1:]) if sep]


def is_number(cell: str) -> bool:
    return bool(_NUMBER.match(cell.replace(" ", "")))


def records(name: str, rows: list[tuple[int, int, int, list[str]]]) -> Sheet | None:
    """Records of a table given as (row number, raw start, raw end, cells), blank rows left out.

    The header is the first row that is not a caption (one value across the table, a merged title);
    a row under a header with a merged (repeated) cell is a second header row when it holds no
    number ("2025年" over "目标" and "实际"). A category column (text, left of a number column,
    filled in its first row) that is blank in a row takes the value above: a merged cell the file
    kept no merge for.
    """
    rows = [(n, a, b, [c.strip() for c in cells]) for n, a, b, cells in rows]
    while rows and len({c for c in rows[0][3] if c}) == 1 and len(rows) > 1 \
            and sum(1 for c in rows[1][3] if c) > 1:
        rows = rows[1:]  # a title row over the table
    if len(rows) < 2:
        return None
    width = max(len(r[3]) for r in rows)
    rows = [(n, a, b, cells + [""] * (width - len(cells))) for n, a, b, cells in rows]
    depth = 1
    while depth < min(_MAX_HEADER_ROWS, len(rows) - 1) and _repeats(rows[depth - 1][3]) \
            and not any(is_number(c) for c in rows[depth][3]):
        depth += 1
    columns = [_column(c, [r[3][c] for r in rows[:depth]]) for c in range(width)]
    body = rows[depth:]
    if not body:
        return None
    numeric = [any(is_number(r[3][c]) for r in body) for c in range(width)]
    category = [not numeric[c] and bool(body[0][3][c]) and any(numeric[c + 1:]) for c in range(width)]
    above = list(body[0][3])
    out = []
    for n, a, b, cells in body:
        cells = [cells[c] or (above[c] if category[c] else "") for c in range(width)]
        above = cells
        named = [f"{columns[c]}: {v}" for c, v in enumerate(cells) if v]
        if named:
            out.append(Record(n, "｜".join([name, *named]), a, b))
    return Sheet(name, tuple(out), rows[0][1], rows[-1][2]) if out else None


def _repeats(cells: list[str]) -> bool:
    """Two neighbouring cells with one value: a merged header cell filled across its columns."""
    return any(x and x == y for x, y in pairwise(cells))


def _column(index: int, parts: list[str]) -> str:
    names: list[str] = []
    for p in parts:
        if p and (not names or names[-1] != p):
            names.append(p)
    return " ".join(names) or f"第{index + 1}列"
