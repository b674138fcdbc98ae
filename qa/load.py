"""Read documents from disk into `RawDocument`s: one per file, one per line of a .jsonl.

Text is kept as the file has it (decoded, BOM dropped, line endings made "\\n"):
cleaning is the next stage, and `Document.offsets` point back into this text.
"""
from __future__ import annotations

import codecs
import functools
import io
import json
import logging
import re
import signal
import threading
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import DocumentLoadError, EmptyDocument, UndecodableDocument, UnsupportedFormat
from qa.formats import ocr, ofd, office, sheet
from qa.types import LoadProblem, RawDocument

if TYPE_CHECKING:
    from qa.settings import Settings

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".jsonl", ".doc", ".wps", ".ofd", ".xlsx", ".xls", ".et", ".csv",
             *ocr.SUFFIXES)
SIDECAR_SUFFIX = ".meta.json"
# Problems with these codes are warnings: the file's documents were imported all the same.
WARNING_CODES = frozenset({"ocr_low_confidence"})

_EMPTY = {".docx": "文档中没有文字", ".doc": "文档中没有文字", ".wps": "文档中没有文字",
          ".ofd": "OFD 中没有可提取的文字（可能是扫描件）", ".pdf": "PDF 中没有可提取的文字（可能是扫描件）", ".html": "网页中没有可提取的文字",
          **dict.fromkeys((".xlsx", ".xls", ".et", ".csv"), "表格中没有数据")}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_LEGACY = ("gb18030", "big5hkscs", "cp950")  # after strict UTF-8; cp950 is Windows' Big5
_MB = 1024 * 1024


@dataclass(frozen=True)
class LoadLimits:
    """What one file may cost to read, so a hostile or broken upload is a per-file problem and
    never a job that eats the machine or never ends. The defaults are those of `Settings`."""

    max_inflated_bytes: int = 50 * _MB  # a .docx unzipped: parsing costs ~12x this in memory
    max_document_chars: int = 5_000_000
    max_seconds_per_file: float = 300.0  # 0: no limit
    convert_timeout: float = 60.0  # LibreOffice converting one .doc/.wps (qa/formats/office.py)
    soffice: str = "soffice"
    ocr_max_pages: int = 50  # scanned pages OCR'd per document (qa/formats/ocr.py)
    ocr_dpi: int = 150  # a scanned PDF page is rendered at this resolution for OCR
    ocr_min_confidence: float = 0.9  # below: the ingest report warns that the text may be misread
    # Pages an upload job read ahead (api/jobs.py) are found here and not read again, nor counted
    # against `ocr_max_pages`; "" for none. Only the read-ahead writes it (`ocr_cache_write`).
    ocr_cache: str = ""
    ocr_cache_write: bool = False
    on_ocr_page: Callable[[int, int], None] | None = field(default=None, compare=False)  # (done, total)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoadLimits:
        return cls(settings.max_inflated_bytes, settings.max_document_chars, settings.max_seconds_per_file,
                   convert_timeout=settings.convert_timeout, soffice=settings.soffice,
                   ocr_max_pages=settings.ocr_max_pages, ocr_dpi=settings.ocr_dpi,
                   ocr_min_confidence=settings.ocr_min_confidence, ocr_cache=str(settings.index_dir / "ocr-cache"))


def find_files(paths: Iterable[Path], skipped: list[LoadProblem] | None = None) -> list[Path]:
    """Expand folders recursively (sorted) into the supported files they hold.

    A file named explicitly is kept whatever its type, so an unsupported one gets a clear
    error instead of vanishing. In folders, hidden files, Office lock files (~$x.docx) and
    `.meta.json` sidecars are skipped; files of other types are left out, each added to
    `skipped` (when given) as a problem saying why, so the ingest summary can list it.
    """
    found: dict[Path, Path] = {}  # resolved -> as given, so a file named twice loads once
    for path in map(Path, paths):
        candidates = [path]
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and not _ignored(p.relative_to(path)))
            candidates = [p for p in inside if p.suffix.lower() in SUPPORTED]
            others = [p for p in inside if p.suffix.lower() not in SUPPORTED]
            if others and skipped is not None:
                skipped.extend(LoadProblem(str(p), "unsupported_format",
                                           f"不支持的文件类型 {p.suffix.lower() or '（无扩展名）'}，已跳过"
                                           f"（支持：{'、'.join(SUPPORTED)}）") for p in others)
            elif others:
                log.warning("skipped %d unsupported files under %s: %s", len(others), path,
                            ", ".join(p.name for p in others))
        for p in candidates:
            found.setdefault(p.resolve(), p)
    return list(found.values())


def load_file(path: Path, limits: LoadLimits = LoadLimits()) -> list[RawDocument]:
    """Read one file; a .jsonl gives one document per line and fails if any line is bad."""
    docs, problems = _load_in_time(Path(path), limits)
    if problems:
        more = f"（另有 {len(problems) - 1} 处问题）" if len(problems) > 1 else ""
        raise DocumentLoadError(str(path), problems[0].message + more, code=problems[0].code)
    return docs


def load_files(paths: Iterable[Path], limits: LoadLimits = LoadLimits()) -> tuple[list[RawDocument], list[LoadProblem]]:
    """Load every file; a bad file or JSONL line becomes a LoadProblem and the rest go on."""
    started = time.perf_counter()
    files = find_files(paths)
    docs: list[RawDocument] = []
    problems: list[LoadProblem] = []
    owner: dict[str, str] = {}  # doc_id -> the file that claimed it first
    for path in files:
        try:
            file_docs, file_problems = _load_in_time(path, limits)
        except DocumentLoadError as exc:
            file_docs, file_problems = [], [LoadProblem(str(path), exc.code, exc.reason)]
        # a scan read with low confidence is imported, and the report says to check it (WARNING_CODES)
        file_problems += [LoadProblem(str(path), "ocr_low_confidence", warning)
                          for doc in file_docs if (warning := ocr.low_confidence(path, doc.fields, limits))]
        for doc in file_docs:
            if doc.doc_id in owner:  # same stem in two folders: one would overwrite the other in the index
                message = f"文档编号“{doc.doc_id}”已被 {owner[doc.doc_id]} 使用，已跳过"
                file_problems.append(LoadProblem(str(path), "duplicate_id", message))
            else:
                owner[doc.doc_id] = doc.path
                docs.append(doc)
        for problem in file_problems:
            log.warning("%s: %s", problem.path, problem.message)
        problems.extend(file_problems)
    log.info("loaded %d documents from %d files in %.1f s (%d problems)",
             len(docs), len(files), time.perf_counter() - started, len(problems))
    return docs, problems


def _ignored(relative: Path) -> bool:
    name = relative.name  # ~$x.docx: the lock file Word leaves beside an open document
    return any(p.startswith(".") for p in relative.parts) or name.startswith("~$") or name.endswith(SIDECAR_SUFFIX)


class _OutOfTime(BaseException):
    """Raised by the timer's signal: a BaseException, so parsers' `except Exception` cannot swallow it."""


def _load_in_time(path: Path, limits: LoadLimits) -> tuple[list[RawDocument], list[LoadProblem]]:
    try:
        with _time_limit(limits.max_seconds_per_file):
            return _load(path, limits)
    except _OutOfTime:
        seconds = f"{limits.max_seconds_per_file:g}"
        raise DocumentLoadError(str(path), f"解析超时（超过 {seconds} 秒），已跳过", code="parse_timeout") from None


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` with SIGALRM (then again every second, should a parser
    catch it anyway). Loading runs in the main thread of `qa ingest` or of an upload job's own
    process, where signals can be used; elsewhere (a thread) no limit is set. A parser stuck inside
    C code is only interrupted when it returns to Python: the size limits bound those."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def out_of_time(signum: int, frame: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous)


def _load(path: Path, limits: LoadLimits) -> tuple[list[RawDocument], list[LoadProblem]]:
    suffix = ".html" if path.suffix.lower() == ".htm" else path.suffix.lower()
    if suffix not in SUPPORTED:
        raise UnsupportedFormat(str(path), f"不支持的文件类型 {suffix or '（无扩展名）'}，支持：{'、'.join(SUPPORTED)}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentLoadError(str(path), "文件不存在", code="file_not_found") from None
    except OSError as exc:
        raise DocumentLoadError(str(path), f"无法读取文件（{exc.strerror or exc}）") from exc
    if not data.strip():
        raise EmptyDocument(str(path), "文件为空")
    sidecar = _read_sidecar(path)
    if suffix == ".jsonl":
        return _read_jsonl(path, data, sidecar, limits.max_document_chars)
    if suffix == ".docx":
        _check_inflated(path, data, limits.max_inflated_bytes)
    text, fields = _READERS[suffix](path, data, limits)
    text = _newlines(text)
    if not text.strip():
        raise EmptyDocument(str(path), _EMPTY.get(suffix, "文件为空"))
    if len(text) > limits.max_document_chars:
        raise DocumentLoadError(str(path), _too_many_chars(len(text), limits.max_document_chars),
                                code="document_too_large")
    return [RawDocument(path.stem, text, str(path), suffix[1:], {**fields, **sidecar})], []


def _too_many_chars(chars: int, limit: int) -> str:
    return f"文档文字有 {chars:,} 字，超过 {limit:,} 字的上限；请拆分后再导入"


def _read_sidecar(path: Path) -> dict[str, str]:
    meta = path.with_name(path.stem + SIDECAR_SUFFIX)
    if not meta.is_file():
        return {}
    try:
        record = json.loads(_decode_text(meta, meta.read_bytes()))
        reason = "" if isinstance(record, dict) else "应为 JSON 对象 {…}"
    except json.JSONDecodeError as exc:
        reason = f"不是合法的 JSON：{exc.msg}，第 {exc.lineno} 行第 {exc.colno} 列"
    except (DocumentLoadError, OSError) as exc:  # undecodable, or unreadable
        reason = getattr(exc, "reason", None) or str(exc)
    if reason:
        raise DocumentLoadError(str(path), f"元数据文件 {meta.name} 有误（{reason}）", code="invalid_sidecar")
    return _string_fields(record)


def _string_fields(record: Mapping[str, Any]) -> dict[str, str]:
    # fields are strings: other values keep their JSON spelling (2021 -> "2021"); null means unstated
    return {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in record.items() if v is not None}


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- encodings ----------------------------------------------------------------------

def _decode_text(path: Path, data: bytes) -> str:
    """Strict UTF-8 first; then whichever of GB18030/Big5 reads as more plausible Chinese.

    charset-normalizer is only the last resort: on short Chinese text it answers cp949 or
    utf_8, and GB18030 happily decodes Big5 bytes (and Big5 GB bytes) into junk hanzi.
    """
    if data.startswith(_UTF16_BOMS):  # Notepad's "Unicode"
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise UndecodableDocument(str(path), "文件以 UTF-16 标记开头，但内容不是 UTF-16") from None
    sample = data[:65536]
    if (text := _utf16_without_bom(data, sample)) is not None:
        log.debug("%s: read as UTF-16 without a BOM", path)
        return text
    controls = sum(1 for b in sample if b < 0x20 and b not in b"\t\n\r\f\v\x1a\x1b")
    if b"\x00" in sample or controls > 0.05 * len(sample):
        raise UndecodableDocument(str(path), "不是文本文件（包含二进制内容）")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # errors="replace" so one corrupt byte does not cost a whole GB file; U+FFFD scores -3
    scored = [(_cjk_score(text[:20000]), encoding, text)
              for encoding in _LEGACY for text in [data.decode(encoding, errors="replace")]]
    score, encoding, text = max(scored, key=lambda s: s[0])  # ties go to GB18030, listed first
    # a text without common hanzi (only punctuation, say) must at least beat every other reading
    plausible = score > 0 or (score == 0 and all(s < 0 for s, _, other in scored if other != text))
    if plausible and (bad := text.count("\ufffd")) <= len(text) // 100:
        log.log(logging.WARNING if bad else logging.DEBUG, "%s: read as %s (%d bad chars)", path, encoding, bad)
        return text
    from charset_normalizer import from_bytes

    if (guess := from_bytes(data).best()) is not None:
        log.warning("%s: no Chinese encoding fits; charset-normalizer guessed %s", path, guess.encoding)
        return str(guess)
    raise UndecodableDocument(str(path), "无法识别文件编码（尝试了 UTF-8、GB18030、Big5）")


def _utf16_without_bom(data: bytes, sample: bytes) -> str | None:
    """`data` as UTF-16 (LE or BE) when it is that without a BOM, as some editors and exports
    write it: NUL bytes (ASCII characters' high halves) or bytes that are not UTF-8, and a
    reading that is nearly all everyday text. Else None."""
    if len(data) % 2 or (b"\x00" not in sample and _utf8_prefix(sample)):
        return None
    for encoding in ("utf-16-le", "utf-16-be"):
        text = sample.decode(encoding, errors="replace")
        if sum(map(_everyday, text)) >= 0.95 * len(text):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    return None


def _utf8_prefix(sample: bytes) -> bool:
    try:  # not final: the sample may end inside a character
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _everyday(ch: str) -> bool:
    """Printable ASCII, common hanzi, CJK and general punctuation: what a Chinese text is made of."""
    return (" " <= ch <= "~" or ch in "\t\n\r" or _common_hanzi(ch) or "\u3000" <= ch <= "\u303f"
            or "\uff01" <= ch <= "\uff5e" or "\u2010" <= ch <= "\u2027" or ch in "·×÷°")


def _cjk_score(text: str) -> int:
    """+1 per common hanzi or CJK punctuation mark, -1 per rare hanzi or kana, -3 per
    character Chinese prose hardly holds (private use, bopomofo, small forms, box drawing…):
    what GB bytes read as Big5, or Big5 bytes read as GB, turn into."""
    score = 0
    for ch in text:
        if ch < "\x80":
            continue
        if "\u4e00" <= ch <= "\u9fff":
            score += 1 if _common_hanzi(ch) else -1
        elif "\u3040" <= ch <= "\u30ff":  # kana: Big5 read as GB gives them, but so do Japanese names
            score -= 1
        elif unicodedata.category(ch) in ("Co", "Cn", "Cc") or any(lo <= ord(ch) <= hi for lo, hi in _UNLIKELY):
            score -= 3
        elif "\u3000" <= ch <= "\u303f" or "\uff01" <= ch <= "\uff60":  # 。、「」（），
            score += 1
    return score


_UNLIKELY = ((0x0370, 0x04FF), (0x2500, 0x257F), (0x3100, 0x312F), (0x3400, 0x4DBF), (0xF900, 0xFAFF),
             (0xFE30, 0xFE6F), (0xFF61, 0xFF9F), (0xFFFD, 0xFFFD), (0x20000, 0x10FFFF))


@functools.lru_cache(maxsize=None)
def _common_hanzi(ch: str) -> bool:
    # Level 1 of GB2312 (3,755 simplified) and of Big5 (5,401 traditional) are the
    # everyday characters, chosen by frequency: no word list needed.
    for encoding, low, high in (("gb2312", 0xB0A1, 0xD7F9), ("big5", 0xA440, 0xC67E)):
        try:
            if low <= int.from_bytes(ch.encode(encoding), "big") <= high:
                return True
        except UnicodeEncodeError:
            pass
    return False


# --- one reader per format: (path, bytes) -> (text, fields) ---------------------------

def _read_markdown(path: Path, data: bytes) -> tuple[str, dict[str, str]]:
    text, in_fence = _decode_text(path, data), False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and (heading := re.match(r"#[ \t]+(.+?)[ \t#]*$", line)):
            return text, {"title": heading.group(1)}
    return text, {}


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
# what browsers decode these labels as (WHATWG): pages labelled gb2312 hold GBK
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "cp950"}


def _read_html(path: Path, data: bytes) -> tuple[str, dict[str, str]]:
    import trafilatura

    html = None
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith((codecs.BOM_UTF8, *_UTF16_BOMS)):
        label = declared.group(1).decode("ascii").lower()
        try:
            html = data.decode(_CHARSET_ALIASES.get(label, label))
        except (LookupError, UnicodeDecodeError):
            log.warning("%s: declared charset %s does not fit the bytes; detecting", path, label)
    html = html if html is not None else _decode_text(path, data)
    doc = trafilatura.bare_extraction(html, include_tables=True, include_comments=False, with_metadata=True)
    text = _markdown_tables_as_lines(doc.text) if doc is not None and doc.text else ""
    meta = doc if doc is not None else trafilatura.extract_metadata(html)
    fields = {k: v for k, v in (("title", meta.title), ("date", meta.date), ("source", meta.sitename),
                                ("url", meta.url)) if v}
    return text if text.strip() else _visible_text(html), fields


def _markdown_tables_as_lines(text: str) -> str:
    # trafilatura writes tables as Markdown; give them the shape of flattened text tables
    # (and of .docx tables): one line per row, cells separated by one space
    lines = []
    for line in text.split("\n"):
        if (row := line.strip()).startswith("|") and row.endswith("|") and len(row) > 1:
            cells = [cell.strip() for cell in row[1:-1].split("|")]
            if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                continue  # the |---|---| rule under the header
            line = " ".join(cells)
        lines.append(line)
    return "\n".join(lines)


_BLOCKS = ("p", "div", "br", "li", "tr", "table", "section", "article", "header", "footer",
           "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "dd", "dt")


def _visible_text(html: str) -> str:
    """All visible text, a line per block element: for pages trafilatura finds nothing in."""
    import lxml.etree
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return ""
    for hidden in tree.xpath("//script|//style|//noscript|//template|//head"):
        hidden.drop_tree()
    for element in tree.iter(*_BLOCKS, "td", "th"):
        element.tail = (" " if element.tag in ("td", "th") else "\n") + (element.tail or "")
    lines = (" ".join(line.split()) for line in tree.text_content().split("\n"))
    return "\n".join(line for line in lines if line)


# A part inflating past this at a ratio above _BOMB_RATIO is a zip bomb (deflate tops out near
# 1,000:1); a real document.xml compresses 5-20:1, a long repetitive table perhaps 50:1.
_BOMB_MEMBER = 5 * _MB
_BOMB_RATIO = 100


def _check_inflated(path: Path, data: bytes, limit: int) -> None:
    """Refuse a .docx whose parts unzip to more than `limit` bytes, before anything unzips them.
    The sizes are the ones the archive states; zipfile never inflates a part past its stated size."""
    try:
        parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError):
        return  # not a zip we can read: the reader says so
    total = sum(p.file_size for p in parts)
    biggest = max(parts, key=lambda p: p.file_size, default=None)
    if total > limit:
        reason = f"解压后共 {total / _MB:.1f} MB（其中 {biggest.filename} {biggest.file_size / _MB:.1f} MB），超过 {limit / _MB:g} MB 的上限"
    elif bomb := next((p for p in parts if p.file_size > _BOMB_MEMBER
                       and p.file_size > _BOMB_RATIO * max(p.compress_size, 1)), None):
        reason = f"{bomb.filename} 由 {bomb.compress_size:,} 字节解压为 {bomb.file_size / _MB:.1f} MB，压缩比异常（疑似压缩炸弹）"
    else:
        return
    raise DocumentLoadError(str(path), f"Word 文档过大：{reason}，已跳过", code="document_too_large")


def _read_docx(path: Path, data: bytes) -> tuple[str, dict[str, str]]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml.etree import XMLSyntaxError

    try:
        document = docx.Document(io.BytesIO(data))
    # zlib.error, NotImplementedError (an unknown zip version or method), RuntimeError (an encrypted
    # part): what zipfile raises on damaged or odd zips
    except (PackageNotFoundError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError,
            KeyError, ValueError, XMLSyntaxError) as exc:
        raise DocumentLoadError(str(path), f"不是有效的 Word 文档（.docx）：{exc}", code="invalid_docx") from exc
    lines = []
    for block in document.iter_inner_content():  # paragraphs and tables in document order
        lines.extend(_table_lines(block) if isinstance(block, Table) else [block.text])
    title = (document.core_properties.title or "").strip()
    return "\n".join(lines), {"title": title} if title else {}


def _table_lines(table: Any) -> list[str]:
    lines = []
    for row in table.rows:
        cells, previous = [], None
        for cell in row.cells:
            # python-docx repeats a horizontally merged cell once per grid column it spans;
            # a vertically merged one repeats on each row, which keeps every row self-contained
            if cell is not previous:
                cells.append(" ".join(cell.text.split()))
            previous = cell
        if any(cells):
            lines.append(" ".join(cells))
    return lines


def _read_pdf(path: Path, data: bytes, limits: LoadLimits) -> tuple[str, dict[str, str]]:
    import pypdf
    from pypdf.errors import DependencyError, PyPdfError

    encrypted = DocumentLoadError(str(path), "PDF 已加密，需要密码才能读取", code="encrypted_pdf")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        # many PDFs are "encrypted" with an empty user password only to forbid editing
        if reader.is_encrypted and not reader.decrypt(""):
            raise encrypted
        title = reader.metadata.title if reader.metadata else None
        title = title.strip() if isinstance(title, str) else ""  # a damaged file's title may be a number
    except DependencyError:  # AES-encrypted and the `cryptography` package is missing
        raise encrypted from None
    except (PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:  # pypdf on damaged files
        raise DocumentLoadError(str(path), f"无法解析 PDF 文件：{exc}", code="invalid_pdf") from exc
    # pages without a text layer (scans) are read by OCR; the others keep their text exactly
    pages, scanned = ocr.read_scanned_pages(path, data, _pdf_pages(path, data), limits)
    # "\f" before each page after the first: chunks count their page by it (qa/chunk.py); the line
    # break before it lets cleaning drop the "\f" from the displayed text (qa/clean.py)
    return "\n\f".join(pages), {**scanned, "title": title} if title else scanned


def _pdf_pages(path: Path, data: bytes) -> list[str]:
    """Each page's text (pdfplumber: positions, so tables are found by their ruling lines)."""
    import pdfplumber
    from pdfminer.pdfexceptions import PDFException, PSException
    from pdfplumber.utils.exceptions import PdfminerException

    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return [_pdf_page_text(page) for page in pdf.pages]
    except (PdfminerException, PDFException, PSException, ValueError, KeyError, IndexError, TypeError,
            AttributeError, AssertionError, RecursionError) as exc:  # pdfminer on damaged files
        raise DocumentLoadError(str(path), f"无法解析 PDF 文件：{exc}", code="invalid_pdf") from exc


_CJK_BREAK = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s*\n\s*(?=[\u3000-\u9fff\uff00-\uffef])")


def _pdf_page_text(page: Any) -> str:
    """A page in reading order; each ruled table in it as lines of tab-separated cells between blank
    lines (qa/chunk.py makes each row a record), its text left out of the prose around it."""
    tables = sorted((t for t in page.find_tables() if len(t.rows) >= 2 and len(t.columns) >= 2),
                    key=lambda t: t.bbox[1])
    if not tables:
        return page.extract_text() or ""

    def outside(obj: dict) -> bool:
        return obj.get("object_type") != "char" or not any(
            x0 <= obj["x0"] and obj["x1"] <= x1 and top <= obj["top"] and obj["bottom"] <= bottom
            for x0, top, x1, bottom in (t.bbox for t in tables))

    prose = page.filter(outside)
    left, page_top, right, page_bottom = page.bbox
    parts, y = [], page_top

    def band(top: float, bottom: float) -> None:
        if bottom > top:
            parts.append(prose.within_bbox((left, top, right, bottom)).extract_text() or "")

    for t in tables:
        top, bottom = max(t.bbox[1], y), max(t.bbox[3], y)
        band(y, top)
        parts.append("\n" + "\n".join(_pdf_table_lines(t)) + "\n")
        band(top, bottom)  # text beside the table
        y = bottom
    band(y, page_bottom)
    return "\n".join(p for p in parts if p.strip())


def _pdf_table_lines(table: Any) -> list[str]:
    """A table's rows, tab-separated. pdfplumber gives None where a merged cell covers the grid: it
    takes the value of the cell above when that cell reaches down into this row, else of the left one."""
    texts = [[None if t is None else " ".join(_CJK_BREAK.sub("", t).split()).replace("｜", "|") for t in row]
             for row in table.extract()]
    grid = [list(row.cells) for row in table.rows]
    lines = []
    for r, cells in enumerate(texts):
        out = []
        for c, text in enumerate(cells):
            if text is None:
                up = next((k for k in range(r - 1, -1, -1) if c < len(grid[k]) and grid[k][c] is not None), None)
                if up is not None and grid[up][c][3] > table.rows[r].bbox[1] + 1:
                    text = texts[up][c] or ""
                else:
                    text = out[-1] if out else ""
            out.append(text)
        if any(out):
            lines.append("\t".join(out))
    return lines


def _plain(reader: Any) -> Any:
    """A reader above as the registry calls readers, `(path, data, limits)`: these need no limits."""
    return lambda path, data, limits: reader(path, data)


_READERS = {".txt": _plain(lambda path, data: (_decode_text(path, data), {})), ".md": _plain(_read_markdown),
            ".html": _plain(_read_html), ".docx": _plain(_read_docx), ".pdf": _read_pdf,
            ".doc": office.read, ".wps": office.read, ".ofd": ofd.read,
            ".xlsx": sheet.read, ".xls": sheet.read, ".et": sheet.read, ".csv": sheet.read,
            **dict.fromkeys(ocr.SUFFIXES, ocr.read)}


# --- JSONL: one document per line ---------------------------------------------------

def _read_jsonl(path: Path, data: bytes, sidecar: dict[str, str],
                max_chars: int) -> tuple[list[RawDocument], list[LoadProblem]]:
    docs: list[RawDocument] = []
    problems: list[LoadProblem] = []
    first_seen: dict[str, int] = {}  # doc_id -> line number
    for number, line in enumerate(_jsonl_lines(path, data), start=1):
        if isinstance(line, str) and not line.strip():
            continue
        parsed = line if isinstance(line, LoadProblem) else _parse_line(path, number, line, sidecar, max_chars)
        if isinstance(parsed, RawDocument) and parsed.doc_id in first_seen:
            message = f"第 {number} 行：编号“{parsed.doc_id}”与第 {first_seen[parsed.doc_id]} 行重复"
            parsed = LoadProblem(str(path), "duplicate_id", message)
        if isinstance(parsed, LoadProblem):
            problems.append(parsed)
        else:
            first_seen[parsed.doc_id] = number
            docs.append(parsed)
    if not docs and not problems:
        raise EmptyDocument(str(path), "文件为空")
    return docs, problems


# The line breaks _newlines knows, and no others: str.splitlines would also cut at U+2028, which a
# JSON string may hold.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f]")  # never in a JSON line (a tab is whitespace)


def _jsonl_lines(path: Path, data: bytes) -> list[str | LoadProblem]:
    """The file's lines (numbered as an editor numbers them) as text, or as the problem that
    line has: binary bytes, or not the UTF-8 the rest of the file is in. One bad line must not
    cost the good ones beside it, as it would if the file were decoded as one text."""
    if data.startswith(_UTF16_BOMS) or _utf16_without_bom(data, data[:65536]) is not None:
        return _newlines(_decode_text(path, data)).split("\n")
    raw = _LINE_BREAK.split(data.removeprefix(codecs.BOM_UTF8))
    binary = {n for n, line in enumerate(raw) if _CONTROL.search(line)}
    as_utf8 = {n: _utf8(line) for n, line in enumerate(raw) if n not in binary and not line.isascii()}
    if sum(text is not None for text in as_utf8.values()) > len(as_utf8) / 2:  # UTF-8, as JSON Lines should be
        texts = [as_utf8.get(n) if n in as_utf8 else line.decode("ascii", errors="replace") for n, line in enumerate(raw)]
    else:  # a legacy encoding (GB18030, Big5): detected on the whole file, less its binary lines
        texts = _decode_text(path, b"\n".join(b"" if n in binary else line for n, line in enumerate(raw))).split("\n")

    def bad(n: int, what: str) -> LoadProblem:
        return LoadProblem(str(path), "invalid_line", f"第 {n + 1} 行：{what}，已跳过")

    return [bad(n, "包含二进制内容或控制字符（如 NUL 字节）") if n in binary else
            bad(n, "不是 UTF-8 编码的文字") if text is None else text for n, text in enumerate(texts)]


def _utf8(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _parse_line(path: Path, number: int, line: str, sidecar: dict[str, str], max_chars: int) -> RawDocument | LoadProblem:
    def problem(code: str, what: str) -> LoadProblem:
        return LoadProblem(str(path), code, f"第 {number} 行：{what}")

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return problem("invalid_json", f"不是合法的 JSON（{exc.msg}，第 {exc.colno} 列）")
    if not isinstance(record, dict):
        return problem("invalid_json", "应为 JSON 对象 {…}")
    doc_id = record.get("id", record.get("context_id"))  # the CMRC 2018 benchmark says context_id
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        return problem("missing_id", "缺少 \"id\"（或 \"context_id\"）字段，或它不是字符串")
    text = record.get("text")
    if not isinstance(text, str):
        return problem("missing_text", "缺少 \"text\" 字段" if text is None else "\"text\" 应为字符串")
    if not text.strip():
        return problem("empty_text", f"\"text\" 为空（编号“{doc_id}”）")
    if len(text) > max_chars:
        return problem("document_too_large", f"编号“{doc_id}”的{_too_many_chars(len(text), max_chars)}")
    # the sidecar gives defaults for the whole file; each line's own fields win
    own = _string_fields({k: v for k, v in record.items() if k not in ("id", "context_id", "text")})
    return RawDocument(doc_id, _newlines(text), str(path), "jsonl", {**sidecar, **own})
