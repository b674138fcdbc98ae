"""The plain dataclasses that stages hand each other: load → clean → chunk → index → retrieve."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# What a chunk is made of; stored on every chunk and filterable.
CHUNK_KINDS = ("text", "table_row", "table")


@dataclass(frozen=True)
class RawDocument:
    """A document as read from disk, before any cleaning.

    `fields` holds metadata the source states outright (JSONL fields, a sidecar
    `.meta.json`, an HTML page's <title>/date); cleaning fills in the rest.
    """

    doc_id: str
    text: str
    path: str
    fmt: str  # txt | md | html | docx | pdf | jsonl
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """A cleaned document with its metadata.

    `raw_text` is what the file said (shown in the document viewer); `text` is
    the cleaned display text (chrome and pinyin removed, script unchanged);
    `offsets[i]` is the index in `raw_text` of `text[i]`, so any span of the
    cleaned text can be located in the original.
    """

    doc_id: str
    title: str
    date: str  # ISO yyyy-mm-dd, or "" when the document does not say
    source: str
    region: str
    kind: str  # 规划 | 工作报告 | 新闻 | 其他 …
    path: str
    fmt: str
    checksum: str  # sha256 of raw_text plus the metadata that shapes chunks
    raw_text: str
    text: str
    offsets: tuple[int, ...]
    # The file it was read from, kept in `<index>/originals/` (qa/originals.py): its sha256 and the
    # name it was uploaded or ingested under; "" when none was kept (a JSONL line, an older index).
    original_sha256: str = ""
    original_name: str = ""
    # (page, mean OCR confidence) of each page read by OCR (a scan): qa/chunk.py puts it on the page's
    # chunks. () for a document with no scanned page.
    page_ocr: tuple[tuple[int, float], ...] = ()

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the cleaned text to the raw text."""
        if end <= start:
            pos = self.offsets[start] if start < len(self.offsets) else len(self.raw_text)
            return pos, pos
        return self.offsets[start], self.offsets[end - 1] + 1


@dataclass(frozen=True)
class Chunk:
    """One retrievable unit.

    `text` is displayed (original script); `search_text` is what gets embedded
    and BM25-indexed (simplified, half-width, with the section path and table
    header folded in). `start`/`end` are offsets in `Document.text`;
    `raw_start`/`raw_end` in `Document.raw_text`.
    """

    chunk_id: str
    doc_id: str
    ordinal: int
    kind: str  # one of CHUNK_KINDS
    section: str  # "第二章 总体思路 > 三、总体目标 > 专栏1 …"
    text: str
    search_text: str
    start: int
    end: int
    raw_start: int
    raw_end: int
    region: str
    # Where the chunk sits in a paged or tabular original: the page it starts on (1-based; for a
    # spreadsheet, its sheet), and a spreadsheet row's own row number. 0: unknown or not applicable.
    page: int = 0
    row: int = 0
    # The lowest mean OCR confidence of the scanned pages the chunk spans (a citation from a page
    # read badly is flagged 识别置信度低); 0: no page of it was read by OCR.
    ocr_confidence: float = 0.0


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents; every field left empty matches everything.

    Dates are ISO strings compared as text ("2021-01-01" ≤ date ≤ "2021-12-31");
    a document without a date never matches a date range.
    """

    doc_ids: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()  # matches a chunk whose region names any of these
    kinds: tuple[str, ...] = ()  # document kinds: 规划, 新闻, …
    chunk_kinds: tuple[str, ...] = ()  # text, table_row, table
    date_from: str = ""
    date_to: str = ""

    def __bool__(self) -> bool:
        return any((self.doc_ids, self.regions, self.kinds, self.chunk_kinds, self.date_from, self.date_to))


@dataclass(frozen=True)
class Hit:
    """A chunk returned by retrieval with every score that ranked it."""

    chunk: Chunk
    score: float  # the fused score the list is sorted by
    rank: int  # 1-based
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None
    rerank_score: float | None = None  # set when a cross-encoder reordered the candidates


@dataclass(frozen=True)
class LoadProblem:
    """A file that could not be ingested, and why (the rest of the batch goes on)."""

    path: str
    code: str
    message: str


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did; the CLI prints it, the API returns it."""

    documents: int
    chunks: int
    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]
    embedded_chunks: int
    problems: tuple[LoadProblem, ...]
    seconds: float


@dataclass(frozen=True)
class Citation:
    """A passage an answer rests on, located in its chunk and in the original document."""

    rank: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    date: str
    region: str
    section: str
    kind: str
    text: str
    highlight: tuple[tuple[int, int], ...]  # [start, end) spans of `text` that hold the answer
    doc_offsets: tuple[int, int]  # the chunk's span in the original document text
    score: float
    page: int = 0  # the page (a spreadsheet: sheet) the passage starts on; 0 when unknown
    location: str = ""  # said to people: "第3页", "工作表“指标”第12行"; "" when unknown
    ocr_confidence: float = 0.0  # the chunk's (see `Chunk`): 0 when its text was not read by OCR


@dataclass(frozen=True)
class Answer:
    question: str
    rewritten_question: str
    found: bool
    answer: str
    answer_sentence: str
    confidence: float
    citations: tuple[Citation, ...]
    others: tuple[Citation, ...]  # passages from other documents that bear on the question
    timings_ms: Mapping[str, float]
    # The kind of span that answered (number, table_cell, date, name, slot, list, block, sentence);
    # "" when nothing was found.
    extractor: str = ""
    # "found"; "unsure" when the answer was refused but the nearest passages are close (each cited
    # with its best sentence highlighted); "not_found". Left empty, it follows `found`.
    status: str = ""
    # Why it was refused (qa/answer.py Choice.reason: unsure, unsupported, coverage, distant, region,
    # year, empty); "ok" when found.
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "found" if self.found else "not_found")
