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
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from qa.errors import DocumentLoadError, EmptyDocument, UndecodableDocument, UnsupportedFormat
from qa.types import LoadProblem, RawDocument

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".jsonl")
SIDECAR_SUFFIX = ".meta.json"

_EMPTY = {".docx": "文档中没有文字", ".pdf": "PDF 中没有可提取的文字（可能是扫描件）", ".html": "网页中没有可提取的文字"}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_LEGACY = ("gb18030", "big5hkscs", "cp950")  # after strict UTF-8; cp950 is Windows' Big5


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders recursively (sorted) into the supported files they hold.

    A file named explicitly is kept whatever its type, so an unsupported one gets a clear
    error instead of vanishing. In folders, hidden files, Office lock files (~$x.docx) and
    `.meta.json` sidecars are skipped.
    """
    found: dict[Path, Path] = {}  # resolved -> as given, so a file named twice loads once
    for path in map(Path, paths):
        candidates = [path]
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and not _ignored(p.relative_to(path)))
            candidates = [p for p in inside if p.suffix.lower() in SUPPORTED]
            if skipped := [p.name for p in inside if p.suffix.lower() not in SUPPORTED]:
                log.warning("skipped %d unsupported files under %s: %s", len(skipped), path, ", ".join(skipped))
        for p in candidates:
            found.setdefault(p.resolve(), p)
    return list(found.values())


def load_file(path: Path) -> list[RawDocument]:
    """Read one file; a .jsonl gives one document per line and fails if any line is bad."""
    docs, problems = _load(Path(path))
    if problems:
        more = f"（另有 {len(problems) - 1} 处问题）" if len(problems) > 1 else ""
        raise DocumentLoadError(str(path), problems[0].message + more, code=problems[0].code)
    return docs


def load_files(paths: Iterable[Path]) -> tuple[list[RawDocument], list[LoadProblem]]:
    """Load every file; a bad file or JSONL line becomes a LoadProblem and the rest go on."""
    started = time.perf_counter()
    files = find_files(paths)
    docs: list[RawDocument] = []
    problems: list[LoadProblem] = []
    owner: dict[str, str] = {}  # doc_id -> the file that claimed it first
    for path in files:
        try:
            file_docs, file_problems = _load(path)
        except DocumentLoadError as exc:
            file_docs, file_problems = [], [LoadProblem(str(path), exc.code, exc.reason)]
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


def _load(path: Path) -> tuple[list[RawDocument], list[LoadProblem]]:
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
        return _read_jsonl(path, data, sidecar)
    text, fields = _READERS[suffix](path, data)
    text = _newlines(text)
    if not text.strip():
        raise EmptyDocument(str(path), _EMPTY.get(suffix, "文件为空"))
    return [RawDocument(path.stem, text, str(path), suffix[1:], {**fields, **sidecar})], []


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


def _read_docx(path: Path, data: bytes) -> tuple[str, dict[str, str]]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml.etree import XMLSyntaxError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, XMLSyntaxError) as exc:
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


def _read_pdf(path: Path, data: bytes) -> tuple[str, dict[str, str]]:
    import pypdf
    from pypdf.errors import DependencyError, PyPdfError

    encrypted = DocumentLoadError(str(path), "PDF 已加密，需要密码才能读取", code="encrypted_pdf")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        # many PDFs are "encrypted" with an empty user password only to forbid editing
        if reader.is_encrypted and not reader.decrypt(""):
            raise encrypted
        pages = [page.extract_text() or "" for page in reader.pages]
        title = ((reader.metadata.title if reader.metadata else None) or "").strip()
    except DependencyError:  # AES-encrypted and the `cryptography` package is missing
        raise encrypted from None
    except (PyPdfError, ValueError, KeyError, IndexError, TypeError) as exc:  # pypdf on damaged files
        raise DocumentLoadError(str(path), f"无法解析 PDF 文件：{exc}", code="invalid_pdf") from exc
    return "\n".join(pages), {"title": title} if title else {}


_READERS = {".txt": lambda path, data: (_decode_text(path, data), {}), ".md": _read_markdown,
            ".html": _read_html, ".docx": _read_docx, ".pdf": _read_pdf}


# --- JSONL: one document per line ---------------------------------------------------

def _read_jsonl(path: Path, data: bytes, sidecar: dict[str, str]) -> tuple[list[RawDocument], list[LoadProblem]]:
    docs: list[RawDocument] = []
    problems: list[LoadProblem] = []
    first_seen: dict[str, int] = {}  # doc_id -> line number
    # split on "\n" only: a JSON string may hold U+2028, where str.splitlines would cut
    for number, line in enumerate(_newlines(_decode_text(path, data)).split("\n"), start=1):
        if not line.strip():
            continue
        parsed = _parse_line(path, number, line, sidecar)
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


def _parse_line(path: Path, number: int, line: str, sidecar: dict[str, str]) -> RawDocument | LoadProblem:
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
    # the sidecar gives defaults for the whole file; each line's own fields win
    own = _string_fields({k: v for k, v in record.items() if k not in ("id", "context_id", "text")})
    return RawDocument(doc_id, _newlines(text), str(path), "jsonl", {**sidecar, **own})
