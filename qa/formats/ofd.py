"""OFD (GB/T 33190, the national fixed-layout format): its text in reading order, "\\f" between pages.

An OFD is a zip of XML: OFD.xml names each document's Document.xml, which lists the pages (and the
template pages they draw on); a page's Content.xml holds TextObjects whose TextCodes carry the text
and its position (X, Y: the baseline, in mm from the top left; DeltaX/DeltaY: the advance of each
glyph after the first). Text is Unicode in the XML, so embedded fonts need no reading (a producer
that writes a subset font's private-use code points instead gets them kept as they are).

Reading order: glyphs are placed on the page (through the object's Boundary and CTM), gathered
into lines by baseline (with a tolerance of a fraction of the font size), each line read left to
right, and wrapped lines of one paragraph joined again: a line that runs to the right edge of the
page's text continues on the next, unless that one is indented (a new paragraph starts two
characters in) or far below. Runs far apart on one line (table cells) are joined by a space.

The PyPI parsers were tried on the ofdrw project's sample files and not used: `easyofd` pulls in
PyMuPDF (AGPL), onnxruntime and reportlab and failed on signed samples; `ofdparser` unpacks into the
working directory and has undeclared dependencies (README, "Formats").
"""
from __future__ import annotations

import io
import itertools
import logging
import math
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from qa.errors import DocumentLoadError

if TYPE_CHECKING:
    from qa.load import LoadLimits

log = logging.getLogger(__name__)

_MB = 1024 * 1024
# As for .docx (qa/load.py): a part inflating past this at a ratio above _BOMB_RATIO is a zip bomb.
_BOMB_MEMBER = 5 * _MB
_BOMB_RATIO = 100
# No entities, no network, no DTDs: the XML comes from whoever uploaded the file.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)
_TEXT_LAYER_MIN = 5  # characters: a page with fewer has no text layer to speak of (as qa/formats/ocr.py)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class _Run:
    """Glyphs on one baseline in one TextCode, placed on the page (mm)."""

    x: float
    end: float  # right edge of the last glyph
    y: float
    size: float
    text: str


def read(path: Path, data: bytes, limits: LoadLimits | None = None) -> tuple[str, dict[str, str]]:
    """The text of every page of every document in the package, pages separated by "\\f"."""
    from qa.load import LoadLimits  # qa.load imports this module

    package = _Package(path, data, (limits or LoadLimits()).max_inflated_bytes)
    root = package.xml("OFD.xml")
    if _local(root.tag) != "OFD":
        raise _invalid(path, "OFD.xml 的根元素不是 OFD")
    pages: list[str] = []
    scans: dict[int, bytes] = {}  # a page with no text but a picture: a sealed scan, read by OCR
    title = ""
    for body in _children(root, "DocBody"):
        info = next(_children(body, "DocInfo"), None)
        if info is not None and not title:
            title = " ".join(_child_text(info, "Title").split())
        doc_root = _child_text(body, "DocRoot")
        if not doc_root:
            continue
        for text, image in _document_pages(package, package.resolve("OFD.xml", doc_root)):
            if image and len("".join(text.split())) < _TEXT_LAYER_MIN:
                scans[len(pages)] = image
            pages.append(text)
    if not pages and next(_children(root, "DocBody"), None) is None:
        raise _invalid(path, "OFD.xml 中没有 DocBody")
    fields = {"title": title} if title else {}
    if scans:
        from . import ocr  # noqa: PLC0415 - the OCR engine loads only for a scanned OFD

        read_pages, ocr_fields = ocr.read_page_images(path, scans, limits or LoadLimits())
        pages = [read_pages.get(n, text) for n, text in enumerate(pages)]
        fields.update(ocr_fields)
    return "\f".join(pages), fields


# --- the package ----------------------------------------------------------------------

class _Package:
    """The zip, its size checked before anything is unzipped; parts read by name as parsed XML."""

    def __init__(self, path: Path, data: bytes, max_inflated: int) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            parts = self.zip.infolist()
        except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as exc:
            raise _invalid(path, f"不是 zip 压缩包（{exc}）") from exc
        self.names = {p.filename.lstrip("/"): p.filename for p in parts if not p.is_dir()}
        self.folded = {name.lower(): name for name in self.names}
        if any(p.flag_bits & 0x1 for p in parts) or "Encryptions.xml" in self.names:
            raise DocumentLoadError(str(path), "OFD 文件已加密，无法读取其中的文字", code="encrypted_ofd")
        total = sum(p.file_size for p in parts)
        biggest = max(parts, key=lambda p: p.file_size, default=None)
        if total > max_inflated:
            reason = (f"解压后共 {total / _MB:.1f} MB（其中 {biggest.filename} {biggest.file_size / _MB:.1f} MB），"
                      f"超过 {max_inflated / _MB:g} MB 的上限")
        elif bomb := next((p for p in parts if p.file_size > _BOMB_MEMBER
                           and p.file_size > _BOMB_RATIO * max(p.compress_size, 1)), None):
            reason = (f"{bomb.filename} 由 {bomb.compress_size:,} 字节解压为 {bomb.file_size / _MB:.1f} MB，"
                      "压缩比异常（疑似压缩炸弹）")
        else:
            reason = ""
        if reason:
            raise DocumentLoadError(str(path), f"OFD 文件过大：{reason}，已跳过", code="document_too_large")
        if "OFD.xml" not in self.names:
            raise _invalid(path, "压缩包中没有 OFD.xml")
        self.cache: dict[str, Any] = {}

    def resolve(self, base: str, loc: str) -> str:
        """A part's name from an ST_Loc: absolute ("/Doc_0/...") from the package root, else relative to
        the folder of the part that names it. Producers get this wrong both ways, so a name that is not
        there is tried from the root too, and without regard to case."""
        loc = loc.strip().replace("\\", "/")
        candidates = [posixpath.normpath(loc.lstrip("/"))] if loc.startswith("/") else [
            posixpath.normpath(posixpath.join(posixpath.dirname(base), loc)), posixpath.normpath(loc)]
        for name in candidates:
            name = name.lstrip("./") if name.startswith("./") else name
            if name in self.names:
                return name
            if name.lower() in self.folded:
                return self.folded[name.lower()]
        return candidates[0]

    def data(self, name: str) -> bytes:
        """A part's bytes (a page's picture); the package's size was checked when it was opened."""
        try:
            return self.zip.read(self.names[name])
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, ValueError) as exc:
            raise _invalid(self.path, f"无法解压 {name}（{exc}）") from exc

    def xml(self, name: str) -> Any:
        if name not in self.cache:
            if name not in self.names:
                raise _invalid(self.path, f"缺少 {name}")
            try:
                raw = self.zip.read(self.names[name])
                self.cache[name] = etree.fromstring(raw.lstrip(b"\xef\xbb\xbf \r\n\t"), _PARSER)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, ValueError) as exc:
                raise _invalid(self.path, f"无法解压 {name}（{exc}）") from exc
            except etree.XMLSyntaxError as exc:
                raise _invalid(self.path, f"{name} 不是合法的 XML（{exc}）") from exc
        return self.cache[name]


def _invalid(path: Path, reason: str) -> DocumentLoadError:
    return DocumentLoadError(str(path), f"不是有效的 OFD 文件：{reason}", code="invalid_ofd")


# --- documents and pages ----------------------------------------------------------------

def _media(package: _Package, doc_name: str, document: Any) -> dict[str, str]:
    """Multimedia resource ID → the part holding it (PublicRes and DocumentRes, each with its BaseLoc)."""
    out = {}
    for common in _children(document, "CommonData"):
        for kind in ("PublicRes", "DocumentRes"):
            for ref in _children(common, kind):
                res_name = package.resolve(doc_name, ref.text or "")
                if res_name not in package.names:
                    continue
                res = package.xml(res_name)
                base = posixpath.join(posixpath.dirname(res_name), res.get("BaseLoc", ""))
                for media in res.iter():
                    if isinstance(media.tag, str) and _local(media.tag) == "MultiMedia" and media.get("ID"):
                        loc = _child_text(media, "MediaFile")
                        if loc:
                            out[media.get("ID")] = package.resolve(base + "/", loc)
    return out


def _page_image(package: _Package, page: Any, media: dict[str, str]) -> bytes:
    """The largest picture a page draws (a scan fills the page), or b"" when it draws none."""
    found = []
    for obj in page.iter():
        if isinstance(obj.tag, str) and _local(obj.tag) == "ImageObject":
            name = media.get(obj.get("ResourceID", ""))
            if name in package.names:
                found.append(package.data(name))
    return max(found, key=len, default=b"")


def _document_pages(package: _Package, doc_name: str) -> list[tuple[str, bytes]]:
    """(text, largest picture) of each page; the picture only matters when the text is empty."""
    document = package.xml(doc_name)
    templates = {}
    for common in _children(document, "CommonData"):
        for tpl in _children(common, "TemplatePage"):
            if tpl.get("ID") and tpl.get("BaseLoc"):
                templates[tpl.get("ID")] = package.resolve(doc_name, tpl.get("BaseLoc"))
    media = _media(package, doc_name, document)
    texts = []
    for pages in _children(document, "Pages"):
        for page in _children(pages, "Page"):
            if not page.get("BaseLoc"):
                continue
            content = package.resolve(doc_name, page.get("BaseLoc"))
            runs = list(_page_runs(package.xml(content)))
            for ref in _children(package.xml(content), "Template"):  # headers, footers, a 公文's red heading
                name = templates.get(ref.get("TemplateID", ""))
                if name and name in package.names:
                    runs.extend(_page_runs(package.xml(name)))
            text = _page_text(runs)
            texts.append((text, _page_image(package, package.xml(content), media)
                          if len("".join(text.split())) < _TEXT_LAYER_MIN else b""))
    return texts


def _page_runs(page: Any) -> Any:
    for content in _children(page, "Content"):
        for text_object in content.iter():
            if isinstance(text_object.tag, str) and _local(text_object.tag) == "TextObject":
                yield from _object_runs(text_object)


def _object_runs(obj: Any) -> Any:
    """Each TextCode's glyphs placed on the page: X/Y (and DeltaX/DeltaY per glyph) are in the object's
    own space, mapped by its CTM (if any) and then offset by its Boundary's origin."""
    left, top = (_numbers(obj.get("Boundary", "")) + [0.0, 0.0])[:2]
    ctm = _numbers(obj.get("CTM", ""))
    a, b, c, d, e, f = ctm if len(ctm) == 6 else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    size = _float(obj.get("Size"), 3.5)
    size = size if size > 0 else 3.5
    scale = max(abs(a), abs(d)) or 1.0
    x = y = 0.0
    for code in _children(obj, "TextCode"):
        text = code.text or ""
        x, y = _float(code.get("X"), x), _float(code.get("Y"), y)
        dxs, dys = _deltas(code.get("DeltaX", ""), len(text)), _deltas(code.get("DeltaY", ""), len(text))
        gx, gy, start = x, y, 0
        placed = []  # (x, y) of each glyph in object space
        for i, _ in enumerate(text):
            if i:
                gx += dxs[i - 1] if i - 1 < len(dxs) else size * _advance(text[i - 1])
                gy += dys[i - 1] if i - 1 < len(dys) else 0.0
            placed.append((gx, gy))
        for i in range(1, len(text) + 1):  # split where a glyph leaves the baseline or steps back
            if i == len(text) or abs(placed[i][1] - placed[start][1]) > size * 0.3 or placed[i][0] < placed[i - 1][0]:
                px, py = placed[start]
                lx = placed[i - 1][0] + size * _advance(text[i - 1])
                piece = text[start:i]
                if piece.strip():
                    yield _Run(left + a * px + c * py + e, left + a * lx + c * py + e,
                               top + b * px + d * py + f, size * scale, piece)
                start = i
        if text:
            x, y = placed[-1][0] + size * _advance(text[-1]), placed[-1][1]


def _page_text(runs: list[_Run]) -> str:
    lines: list[list[_Run]] = []
    for run in sorted(runs, key=lambda r: (r.y, r.x)):
        line = lines[-1] if lines else None
        if line and abs(run.y - line[0].y) <= 0.5 * min(run.size, line[0].size):
            line.append(run)
        else:
            lines.append([run])
    if not lines:
        return ""
    rows = []  # (text, left, right, baseline, size)
    for line in lines:
        line.sort(key=lambda r: r.x)
        text, end = line[0].text, line[0].end
        for run in line[1:]:
            gap = run.x - end
            text += (" " if gap > 0.8 * run.size or (gap > 0.15 * run.size and _latin(text[-1:] + run.text[:1]))
                     else "") + run.text
            end = max(end, run.end)
        rows.append((text.strip(), line[0].x, end, line[0].y, max(r.size for r in line)))
    left = min(r[1] for r in rows)
    right = max(r[2] for r in rows)
    paragraphs = [rows[0][0]]
    for prev, row in itertools.pairwise(rows):
        _, _, prev_right, prev_y, size = prev
        text, x, _, y, _ = row
        wrapped = prev_right >= right - 1.5 * size and x < left + 0.8 * size and y - prev_y < 2.2 * size
        if wrapped:
            paragraphs[-1] += (" " if _latin(paragraphs[-1][-1:] + text[:1]) else "") + text
        else:
            paragraphs.append(text)
    return "\n".join(p for p in paragraphs if p)


# --- small helpers ----------------------------------------------------------------------

def _deltas(spec: str, glyphs: int) -> list[float]:
    """DeltaX/DeltaY: numbers, where "g N v" stands for N times v; no more than the glyphs need
    (a hostile "g 1000000000 1" must not fill the memory)."""
    out: list[float] = []
    tokens = spec.split()
    i = 0
    while i < len(tokens) and len(out) < glyphs:
        if tokens[i] == "g" and i + 2 < len(tokens):
            count, value = int(_float(tokens[i + 1], 0)), _float(tokens[i + 2], 0.0)
            out.extend([value] * max(0, min(count, glyphs - len(out))))
            i += 3
        else:
            out.append(_float(tokens[i], 0.0))
            i += 1
    return out


def _advance(ch: str) -> float:
    """A glyph's width in ems when the file does not say: CJK and full-width are square, the rest half."""
    return 0.5 if ch < "\u2e80" else 1.0


def _latin(pair: str) -> bool:
    return len(pair) == 2 and all(ch.isascii() and ch.isalnum() for ch in pair)


def _numbers(text: str) -> list[float]:
    return [n for n in map(float, _NUMBER.findall(text or "")) if math.isfinite(n)]


def _float(value: str | None, default: float) -> float:
    """A number from the XML, or `default` for a missing, malformed, infinite or NaN one."""
    try:
        number = float(value) if value is not None and value.strip() else default
    except ValueError:
        return default
    return number if math.isfinite(number) else default


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].split(":")[-1]


def _children(element: Any, name: str) -> Any:
    # by local name: producers differ in namespaces (ofdspec.org/2016, none at all)
    return (child for child in element if isinstance(child.tag, str) and _local(child.tag) == name)


def _child_text(element: Any, name: str) -> str:
    child = next(_children(element, name), None)
    return (child.text or "").strip() if child is not None else ""
