"""Chunking that understands Chinese government documents.

- Headings (第一章, 一、, （一）, 1., 专栏N, 关键词N, Markdown #, short standalone
  lines) form a section path stored on every chunk under them.
- A chunk is whole sentences (ending at 。！？；… or a line break), never split
  inside a quotation or between a number and its unit; neighbours share
  `overlap` sentences.
- A 专栏 box holding a flattened table becomes one `table_row` record per row
  plus the whole `table`.
- A spreadsheet (qa/formats/sheet.py) is a `table_row` record per row and a `table` per sheet; a
  PDF's tables (rows of tab-separated cells, qa/load.py) are records too.
- Every chunk carries the page it starts on, counted by the "\f" page breaks readers of paged
  formats put in the raw text (cleaning never touches the raw text, so pages survive it); a
  spreadsheet record also its row number.
- The document's opening headline (a line naming the title, or the title glued to the first
  paragraph after a space: `metadata.leading_headline`) is a heading, never chunk text, so no
  sentence starts with it; its words stay searchable through the title and section path.
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from . import tables
from .formats import sheet as sheets
from .metadata import PROVINCES, leading_headline, regions_in
from .textnorm import normalize
from .types import Chunk, Document

# Bump whenever chunk boundaries or texts change: an index built by another
# version is refused on load, so stale chunks never mix with new ones.
CHUNKER_VERSION = "3"  # 3: the opening headline is a heading, not text

_CN_NUM = "一二三四五六七八九十百零〇"
_HEADINGS = (  # (pattern on the simplified line, level)
    (re.compile(r"^#{1,6}\s"), None),  # Markdown: level = number of #
    (re.compile(rf"^第[{_CN_NUM}\d]+[章编部分篇]"), 1),
    (re.compile(rf"^[{_CN_NUM}]+、"), 2),
    (re.compile(r"^关键词\s*\d+"), 2),
    (re.compile(rf"^[(（][{_CN_NUM}]+[)）]"), 3),
    (re.compile(rf"^[{_CN_NUM}]是\S{{2,40}}$"), 3),  # 一是闻令而动,有力维护…。
)
_BOX = re.compile(r"^专栏\s*\d+")
_NUMBERED = re.compile(r"^\d{1,2}[.．、](?!\d)")
_NUMBERED_LEVEL = 4
_GENERIC_LEVEL = 2
_GENERIC_MAX = 30
_NOT_GENERIC = re.compile(r"[。；;！!？?，,:：]$|^[(（\[【□]|^\d{4}[-年/.]\d{1,2}|发布|来源|日期\s*[:：]")
_GENERIC_TIGHT = 24
_ANY_PUNCT = re.compile(r"[。；;！!？?，,:：、“”\"]")
_PROSE_MIN = 60  # characters of the next line for a tight heading
_BARE_LABEL = re.compile(r"^关键词\s*\d+$")  # "关键词4" alone: its words are on the next line
_HEADING_SHOWN = 40  # characters of a heading kept in the section path
# Formats whose chunks have pages even when the document is one page (no "\f" in it).
PAGED_FORMATS = ("pdf", "ofd", "png", "jpg", "jpeg", "tif", "tiff")
# Readers that write a table as lines of tab-separated cells (the PDF reader): such a run of
# lines is a table of records. Other formats' tabs are only whitespace.
TAB_TABLE_FORMATS = ("pdf",)
_CAPTION_MAX = 40
_FURNITURE_LINES = 3  # a running header, a page number: what may sit between a table's two pages

_OPEN_QUOTES = "“‘「『《"
_CLOSE_QUOTES = "”’」』》"
_ENDS = "。！？；!?;…"
_SOFT_BREAKS = "，,、：:"
_TRAILERS = _CLOSE_QUOTES + "）)"


@dataclass
class _Heading:
    level: int
    text: str
    generic: bool = False  # recognised by shape (a short standalone line), not by numbering
    has_content: bool = False


@dataclass(frozen=True)
class _Sentence:
    start: int
    end: int


def _lines(text: str):
    pos = 0
    for line in text.replace("\f", "\n").split("\n"):  # a page break left in the text ends a line
        yield pos, pos + len(line), line
        pos += len(line) + 1


def heading_level(line: str, after_blank: bool, before_prose: bool = False) -> tuple[int, bool] | None:
    """(level, generic) of a heading line, or None if the line is content."""
    simple = normalize(line.strip())
    if not simple:
        return None
    for pattern, level in _HEADINGS:
        m = pattern.match(simple)
        if m:
            if level is None:  # Markdown
                return len(m.group(0).strip()), False
            if len(simple) <= 60:
                return level, False
    if after_blank and len(simple) <= _GENERIC_MAX and not _NOT_GENERIC.search(simple):
        return _GENERIC_LEVEL, True
    # A short unpunctuated line wedged between paragraphs ("2020年全省市场监管部门交出靓丽成绩单").
    if before_prose and len(simple) <= _GENERIC_TIGHT and not _ANY_PUNCT.search(simple):
        return _GENERIC_LEVEL, True
    return None


def split_sentences(text: str, start: int, end: int) -> list[_Sentence]:
    """Sentences of text[start:end]; a terminator inside quotes does not end a sentence."""
    out: list[_Sentence] = []
    depth = 0
    s = start
    i = start
    while i < end:
        ch = text[i]
        if ch in _OPEN_QUOTES:
            depth += 1
        elif ch in _CLOSE_QUOTES:
            depth = max(0, depth - 1)
        # "…明年继续努力！”" ends a sentence at the closing quote, not inside it; a title's own mark
        # ("《好！》节目中…") ends none: a title is a name, never a sentence.
        quote_closes_sentence = ch in _CLOSE_QUOTES and ch != "》" and depth == 0 and i > s and text[i - 1] in _ENDS
        if ch in _ENDS and depth == 0 or ch in "\n\f" or quote_closes_sentence:
            j = i + 1
            while j < end and (text[j] in _ENDS or text[j] in _TRAILERS):
                j += 1
            if text[s:j].strip():
                out.append(_Sentence(s, j))
            s = j
            i = j
            continue
        i += 1
    if s < end and text[s:end].strip():
        out.append(_Sentence(s, end))
    return [_trim(text, x) for x in out if text[x.start : x.end].strip()]


def _trim(text: str, s: _Sentence) -> _Sentence:
    a, b = s.start, s.end
    while a < b and text[a] in " \n\f":
        a += 1
    while b > a and text[b - 1] in " \n\f":
        b -= 1
    return _Sentence(a, b)


def _split_long(text: str, s: _Sentence, max_chars: int) -> list[_Sentence]:
    """Cut an over-long sentence at commas outside quotes; failing that, between characters
    that are not both digits or letters, so "650万户" or "12315" is never cut."""
    if s.end - s.start <= max_chars:
        return [s]
    depth, cut = 0, None
    for i in range(s.start, s.end):
        ch = text[i]
        depth += ch in _OPEN_QUOTES
        depth -= ch in _CLOSE_QUOTES and depth > 0
        if i - s.start >= max_chars:
            break
        if ch in _SOFT_BREAKS and depth == 0 and i - s.start >= max_chars // 3:
            cut = i + 1
    if cut is None:
        cut = s.start + max_chars
        while cut > s.start + 1 and (text[cut - 1].isalnum() and text[cut].isascii() and text[cut].isalnum()
                                     or text[cut] in "%％.万亿千百"):
            cut -= 1
    return [_Sentence(s.start, cut), *_split_long(text, _Sentence(cut, s.end), max_chars)]


def pack(sentences: list[_Sentence], target: int, max_chars: int, overlap: int) -> list[tuple[int, int]]:
    """Group consecutive sentences into (start, end) spans of about `target` characters."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(sentences):
        j = i + 1
        while j < len(sentences) and sentences[j - 1].end - sentences[i].start < target \
                and sentences[j].end - sentences[i].start <= max_chars:
            j += 1
        spans.append((sentences[i].start, sentences[j - 1].end))
        if j >= len(sentences):
            break
        if sentences[-1].end - sentences[j].start < target // 4 and sentences[-1].end - spans[-1][0] <= max_chars:
            spans[-1] = (spans[-1][0], sentences[-1].end)  # a short tail joins its neighbour
            break
        # Overlap with the previous chunk, unless that would make no progress.
        back = min(overlap, j - i - 1)
        while back and sentences[j - 1].end - sentences[j - back].start > target // 2:
            back -= 1
        i = j - back
    return spans


class _Builder:
    """Accumulates chunks for one document."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.chunks: list[Chunk] = []
        self._regions: dict[str, str] = {}
        self._breaks = [m.start() for m in re.finditer("\f", doc.raw_text)]
        self._paged = bool(self._breaks) or doc.fmt in PAGED_FORMATS or doc.fmt in sheets.FORMATS
        self._ocr = dict(doc.page_ocr)  # page → its OCR confidence, for the pages of a scan

    def ocr_confidence(self, raw_start: int, raw_end: int) -> float:
        """The lowest OCR confidence of the scanned pages a raw span covers (one badly read page
        makes the passage doubtful); 0 when none of them was read by OCR."""
        if not self._ocr:
            return 0.0
        first, last = self.page(raw_start), self.page(max(raw_start, raw_end - 1))
        read = [self._ocr[p] for p in range(first, last + 1) if p in self._ocr]
        return min(read, default=0.0)

    def page(self, raw_start: int) -> int:
        """The 1-based page (a spreadsheet's sheet) holding raw offset `raw_start`; 0 when unpaged."""
        return bisect_right(self._breaks, raw_start) + 1 if self._paged else 0

    def clean_span(self, raw_start: int, raw_end: int) -> tuple[int, int]:
        """The span of the cleaned text that a span of the raw text became."""
        return bisect_left(self.doc.offsets, raw_start), bisect_left(self.doc.offsets, raw_end)

    def region(self, section: str) -> str:
        """The region a heading names ("河北:推进…"), else the document's."""
        if section not in self._regions:
            known = set(PROVINCES) | set(self.doc.region.split("、"))
            found = ""
            for part in reversed(section.split(" > ")):
                names = [n for n in regions_in(part) if n in known]
                if names:
                    found = "、".join(names)
                    break
            self._regions[section] = found or self.doc.region
        return self._regions[section]

    def add(self, kind: str, section: str, text: str, start: int, end: int, row: int = 0) -> None:
        text = text.replace("\f", "\n")  # a page break cleaning kept (inside a line) is shown as a line break
        head = "｜".join(x for x in (self.doc.title, section) if x)
        search_text = normalize(f"{head}\n{text}")
        raw_start, raw_end = self.doc.raw_span(start, end)
        ordinal = len(self.chunks)
        digest = hashlib.sha1(
            f"{self.doc.doc_id}\x00{kind}\x00{start}\x00{end}\x00{search_text}".encode()
        ).hexdigest()[:16]
        self.chunks.append(Chunk(
            chunk_id=digest, doc_id=self.doc.doc_id, ordinal=ordinal, kind=kind, section=section,
            text=text, search_text=search_text, start=start, end=end,
            raw_start=raw_start, raw_end=raw_end, region=self.region(section), page=self.page(raw_start), row=row,
            ocr_confidence=self.ocr_confidence(raw_start, raw_end),
        ))


_BOX_LEVEL = 99  # a 专栏 box nests under whatever section it sits in


class _Chunker:
    """Walks a document's lines once, keeping the heading stack and the sentences not yet chunked."""

    def __init__(self, doc: Document, target: int, max_chars: int, overlap: int):
        self.doc, self.text = doc, doc.text
        self.target, self.max_chars, self.overlap = target, max_chars, overlap
        self.context = normalize(doc.text)
        self.out = _Builder(doc)
        self.stack: list[_Heading] = []
        self.pending: list[_Sentence] = []

    @property
    def section(self) -> str:
        return " > ".join(h.text[:_HEADING_SHOWN] for h in self.stack)

    def flush(self) -> None:
        sentences = [p for s in self.pending for p in _split_long(self.text, s, self.max_chars)]
        for a, b in pack(sentences, self.target, self.max_chars, self.overlap):
            self.out.add("text", self.section, self.text[a:b], a, b)
        self.pending = []

    def push(self, level: int, title: str, generic: bool = False) -> None:
        self.flush()
        # A headline over two lines is one heading ("回眸2020" / "湖南市场监管的精彩",
        # "关键词4" / "守底线: …").
        top = self.stack[-1] if self.stack else None
        if top and top.level == level and not top.has_content and generic \
                and (top.generic or _BARE_LABEL.match(normalize(top.text))):
            top.text = f"{top.text} {title}"
            return
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        self.stack.append(_Heading(level, title, generic))

    def content(self, start: int, end: int) -> None:
        for h in self.stack:
            h.has_content = True
        self.pending.extend(split_sentences(self.text, start, end))

    def box(self, box: list[tuple[int, int, str]]) -> None:
        """A 专栏 box: a rebuilt table when its lines are one, otherwise prose under the box heading."""
        title_start, _, title_line = box[0]
        title = re.sub(r"\s+", " ", title_line.strip())
        self.push(_BOX_LEVEL, title)
        table = tables.parse(title, box[1:], self.context)
        if table is None:
            for start, end, _ in box[1:]:
                self.content(start, end)
        else:
            for row in table.rows:
                self.out.add("table_row", self.section, row.record(title), row.start, row.end)
            self.out.add("table", self.section, self.text[title_start:table.end], title_start, table.end)
        self.flush()
        self.stack.pop()  # the box is over: its heading no longer applies

    def spreadsheet(self) -> list[Chunk]:
        """A spreadsheet: per sheet, a record per row (located by its row number), then the sheet."""
        csv = self.doc.fmt == "csv"  # one table, named after the file: no sheet to name in the path
        for sheet in sheets.tables(self.doc.raw_text, self.doc.title):
            section = "" if csv else sheet.name
            for rec in sheet.records:
                a, b = self.out.clean_span(rec.raw_start, rec.raw_end)
                self.out.add("table_row", section, rec.text, a, b, row=rec.row)
            a, b = self.out.clean_span(sheet.raw_start, sheet.raw_end)
            self.out.add("table", section, self.text[a:b], a, b)
        return self.out.chunks

    def _tab_tables(self) -> list[tuple[int, int, list]]:
        """Runs of two or more raw lines of tab-separated cells, as (clean start, clean end, rows):
        read from the raw text, where cleaning has not trimmed a row's empty leading cells. A run
        that goes on after a page break (only a page's furniture between) is the same table."""
        runs, run, pos = [], [], 0
        for line in self.doc.raw_text.replace("\f", "\n").split("\n"):
            if "\t" in line:
                run.append((0, pos, pos + len(line), line.split("\t")))
            elif run:
                runs.append(run)
                run = []
            pos += len(line) + 1
        if run:
            runs.append(run)
        merged: list[list] = []
        for run in runs:
            if merged and self._continues(merged[-1], run):
                header = merged[-1][0][3]
                merged[-1].extend(run[1:] if run[0][3] == header else run)  # a header repeated on the new page
            else:
                merged.append(run)
        found = []
        for run in merged:
            a, b = self.out.clean_span(run[0][1], run[-1][2])
            if len(run) >= 2 and b > a:
                found.append((a, b, run))
        return found

    def _continues(self, before: list, run: list) -> bool:
        gap = self.doc.raw_text[before[-1][2]:run[0][1]]
        between = [line.strip() for line in gap.replace("\f", "\n").split("\n") if line.strip()]
        return ("\f" in gap and len(before[0][3]) == len(run[0][3]) and len(between) <= _FURNITURE_LINES
                and all(len(line) <= _CAPTION_MAX for line in between))

    def tab_table(self, start: int, end: int, rows: list, caption: str) -> None:
        """A PDF's table: records named after its caption (the short line above it), else its heading."""
        self.flush()
        name = caption or (self.stack[-1].text[:_HEADING_SHOWN] if self.stack else self.doc.title)
        table = sheets.records(name, rows)
        if table is None:  # no body under the header: its lines are plain content
            self.content(start, end)
            return
        for rec in table.records:
            a, b = self.out.clean_span(rec.raw_start, rec.raw_end)
            self.out.add("table_row", self.section, rec.text, a, b)
        self.out.add("table", self.section, self.text[start:end], start, end)

    def _lines_with_headline(self) -> tuple[list[tuple[int, int, str]], int]:
        """The text's lines, a glued headline cut off its line; and the headline's line (-1: none)."""
        lines = list(_lines(self.text))
        head = leading_headline(self.text, self.doc.title)
        if head is None:
            return lines, -1
        at = next(k for k, (a, b, _) in enumerate(lines) if a <= head.start <= b)
        if not head.own_line:  # "标题 3月5日，…": the headline, then the rest of its line
            a, b, _ = lines[at]
            lines[at:at + 1] = [(a, head.end, self.text[a:head.end]), (head.body, b, self.text[head.body:b])]
        return lines, at

    def run(self) -> list[Chunk]:
        if self.doc.fmt in sheets.FORMATS:
            return self.spreadsheet()
        tabbed = self._tab_tables() if self.doc.fmt in TAB_TABLE_FORMATS else []
        lines, headline_at = self._lines_with_headline()
        i, after_blank, caption = 0, True, ""
        while i < len(lines):
            start, end, line = lines[i]
            while tabbed and tabbed[0][1] <= start:
                tabbed.pop(0)
            if tabbed and tabbed[0][0] <= start:
                a, b, rows = tabbed.pop(0)
                self.tab_table(a, b, rows, caption)
                while i < len(lines) and lines[i][0] < b:
                    i += 1
                after_blank, caption = False, ""
                continue
            stripped = line.strip()
            if stripped:
                short = len(stripped) <= _CAPTION_MAX and not _ANY_PUNCT.search(normalize(stripped)[-1:])
                caption = re.sub(r"\s+", " ", stripped) if short else ""

            if not stripped:
                after_blank = True
                i += 1
                continue
            simple = normalize(stripped)
            if _BOX.match(simple):
                j = i + 1  # a box runs to the next blank line
                while j < len(lines) and lines[j][2].strip():
                    j += 1
                self.box(lines[i:j])
                i, after_blank = j, False
                continue
            nxt = lines[i + 1][2].strip() if i + 1 < len(lines) else ""
            before_prose = len(nxt) >= _PROSE_MIN or bool(nxt) and heading_level(nxt, False) is not None
            heading = heading_level(stripped, after_blank, before_prose=before_prose)
            if heading is None and i == headline_at:  # too long to look like a heading, but it is one
                heading = (_GENERIC_LEVEL, True)
            if heading is not None:
                self.push(heading[0], stripped, generic=heading[1])
            else:
                if _NUMBERED.match(simple):
                    lead = split_sentences(self.text, start, end)[0]
                    self.push(_NUMBERED_LEVEL, self.text[lead.start:lead.end].rstrip("。；;"))
                self.content(start, end)
            after_blank = False
            i += 1
        self.flush()
        return self.out.chunks


def chunk_document(doc: Document, target: int = 400, max_chars: int = 500, overlap: int = 1) -> list[Chunk]:
    """Cut a cleaned document into chunks (text, table_row, table) with section paths and offsets."""
    return _Chunker(doc, target, max_chars, overlap).run()
