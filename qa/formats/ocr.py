"""Text from scans: images (.png .jpg .jpeg .tif .tiff) and the pages of a PDF that have no text layer.

The engine is RapidOCR 3 (PP-OCRv6 small text detection and recognition) on onnxruntime. Its ONNX
models ship inside the `rapidocr` wheel and are named here by path, so nothing is ever downloaded (the
library would fetch a missing model from the internet otherwise). Chosen over Tesseract's chi_sim and
the older rapidocr_onnxruntime (PP-OCRv4) by scripts/bench_ocr.py (README, "Benchmarks").

The recognised boxes are put back in reading order — lines by height on the page, then left to right
— and lines are joined into paragraphs where a full line runs on into the next one (see `_paragraphs`),
so that cleaning and chunking find the same paragraphs and headings as in a born-digital file.
Each document records its mean recognition confidence in `fields["ocr_confidence"]`, and each page
OCR read its own in `fields["ocr_page_confidence"]` ("2:0.981,3:0.640": page number, 1-based, and its
mean over the characters read), which qa/chunk.py puts on the page's chunks and citations.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import itertools
import json
import logging
import re
import shutil
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import DocumentLoadError, EmptyDocument

if TYPE_CHECKING:
    from PIL import Image

    from qa.load import LoadLimits

log = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
NOTHING_READ = "OCR 未识别出文字"

# A line that ends with one of these ends its paragraph (a sentence, a list item, a label).
_CLOSING = tuple("。！？；：:;!?…”」』）)")
_LATIN = re.compile(r"[A-Za-z]")
# A page whose text layer has fewer characters is a scan (a page number or a stamp's caption may have
# been added to it digitally); OCR reads those few characters too.
_TEXT_LAYER_MIN = 5
_UPSIDE_DOWN_BELOW = 0.8  # an upright printed page reads at 0.95 and more


@dataclass(frozen=True)
class Box:
    """One recognised run of text and where it is on the page (pixels, y downwards)."""

    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(frozen=True)
class PageText:
    """A page's text in reading order and what the engine thought of it."""

    text: str
    confidence: float  # mean over characters read, 0 when none
    chars: int


def recognise(image: Image.Image) -> PageText:
    """Read one page image. A page that reads badly is read again turned half round, and the better
    reading kept: a sheet fed into the scanner upside down."""
    image = _rgb(image)
    page = _read_page(image)
    if page.chars and page.confidence < _UPSIDE_DOWN_BELOW:
        turned = _read_page(image.rotate(180))
        if turned.confidence * turned.chars > page.confidence * page.chars:
            page = turned
    return page


def _read_page(image: Image.Image) -> PageText:
    result = _engine()(image)
    if result.boxes is None or not result.txts:
        return PageText("", 0.0, 0)
    boxes = [Box(text.strip(), float(score), float(min(p[0] for p in quad)), float(min(p[1] for p in quad)),
                 float(max(p[0] for p in quad)), float(max(p[1] for p in quad)))
             for quad, text, score in zip(result.boxes, result.txts, result.scores) if text.strip()]
    chars = sum(len(b.text) for b in boxes)
    confidence = sum(b.confidence * len(b.text) for b in boxes) / chars if chars else 0.0
    return PageText(_paragraphs(_lines(boxes)), confidence, chars)


def read(path: Path, data: bytes, limits: LoadLimits) -> tuple[str, dict[str, str]]:
    """An image file; every frame of a multi-page TIFF is a page, joined with "\\n\\f" as PDF pages are."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = sum(1 for _ in ImageSequence.Iterator(image))
            cache = _PageCache(limits, data, 0)
            _check_pages(path, sum(1 for n in range(frames) if not cache.has(n)), limits)
            pages = []
            for n, frame in enumerate(ImageSequence.Iterator(image)):
                pages.append(cache.read(n, lambda frame=frame: _upright(frame)))
                cache.done(len(pages), frames)
    except Image.DecompressionBombError as exc:
        raise DocumentLoadError(str(path), f"{path.name}：图片像素过多（{exc}），已跳过", code="image_too_large") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:  # PIL on damaged or odd files
        raise DocumentLoadError(str(path), f"{path.name}：无法读取图片（{exc}）", code="invalid_image") from exc
    return _document(path, pages, "图片中没有可辨认的文字" if len(pages) == 1 else f"{len(pages)} 页图片中都没有可辨认的文字")


def read_scanned_pages(path: Path, data: bytes, pages: Sequence[str],
                       limits: LoadLimits) -> tuple[list[str], dict[str, str]]:
    """A PDF's page texts (from its text layer, page 1 first) with each page that has none (fewer than
    `_TEXT_LAYER_MIN` characters) replaced by what OCR reads on it; a page with a text layer is kept
    exactly. Fields: `ocr_confidence`, `ocr_pages` (the pages OCR read), none for a born-digital PDF."""
    scanned = [n for n, text in enumerate(pages) if len("".join(text.split())) < _TEXT_LAYER_MIN]
    if not scanned:
        return list(pages), {}
    cache = _PageCache(limits, data, limits.ocr_dpi)
    todo = [n for n in scanned if not cache.has(n)]
    _check_pages(path, len(todo), limits)
    images = _render(path, data, todo, limits.ocr_dpi)  # in page order, as `scanned` is
    read_pages = {}
    for n in scanned:
        read_pages[n] = cache.read(n, lambda: next(images))
        cache.done(len(read_pages), len(scanned))
    if len(scanned) < len(pages) and not any(p.chars for p in read_pages.values()):
        return list(pages), {}  # only blank pages beside the text ones
    # each page's text goes back in its own place; the fields are the document's
    _, fields = _document(path, list(read_pages.values()), "PDF 中没有可提取的文字（可能是扫描件）")
    fields["ocr_page_confidence"] = page_confidences(read_pages)
    return [read_pages[n].text if n in read_pages else page for n, page in enumerate(pages)], fields


def read_page_images(path: Path, images: Mapping[int, bytes], limits: LoadLimits
                     ) -> tuple[dict[int, str], dict[str, str]]:
    """What OCR reads on scanned pages handed over as image files (an OFD's page image), by page
    number, with the document's fields as `read_scanned_pages` gives them; {} when nothing was read."""
    from PIL import Image, UnidentifiedImageError

    if not images:
        return {}, {}
    _check_pages(path, len(images), limits)
    read_pages = {}
    for n, data in images.items():
        try:
            with Image.open(io.BytesIO(data)) as image:
                read_pages[n] = recognise(_upright(image))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            log.warning("%s: page %d's image cannot be read (%s)", path, n + 1, exc)
    if not any(p.chars for p in read_pages.values()):
        return {}, {}
    _, fields = _document(path, list(read_pages.values()), "扫描页中没有可辨认的文字")
    fields["ocr_page_confidence"] = page_confidences(read_pages)
    return {n: p.text for n, p in read_pages.items()}, fields


def page_confidences(read_pages: Mapping[int, PageText]) -> str:
    """"2:0.981,3:0.640": the 1-based number and mean confidence of each page OCR read text on,
    given by 0-based page index; a page with a text layer (not OCR'd) or none read is left out."""
    return ",".join(f"{n + 1}:{p.confidence:.3f}" for n, p in sorted(read_pages.items()) if p.chars)


def parse_page_confidences(value: str) -> tuple[tuple[int, float], ...]:
    """`page_confidences` read back: ((page, confidence), …); () for a missing or malformed value
    (a sidecar may state anything)."""
    out = []
    for part in (value or "").split(","):
        page, _, confidence = part.partition(":")
        try:
            out.append((int(page), float(confidence)))
        except ValueError:
            continue
    return tuple(out)


def low_confidence(path: Path, fields: Mapping[str, str], limits: LoadLimits) -> str | None:
    """The warning for the admin when a document's OCR confidence is below the setting, else None."""
    try:
        confidence = float(fields.get("ocr_confidence", "nan"))
    except ValueError:  # a sidecar's own "ocr_confidence"
        return None
    if not confidence < limits.ocr_min_confidence:
        return None
    return (f"{path.name} 已导入，但 OCR 平均置信度只有 {confidence:.2f}（低于 {limits.ocr_min_confidence:g}），"
            "识别出的文字可能有误，请核对原件")


# --- pages read ahead ------------------------------------------------------------------------

class _PageCache:
    """What OCR read on each page of one file, kept under `limits.ocr_cache` by the file's sha256
    and the rendering resolution: an upload job reads a long scan page by page ahead of its ingest
    (api/jobs.py), and the ingest then finds every page read. Only the read-ahead writes
    (`ocr_cache_write`); a page missing or unreadable here is read by OCR as usual."""

    def __init__(self, limits: LoadLimits, data: bytes, dpi: int):
        self.limits = limits
        self.folder = None
        if limits.ocr_cache:
            self.folder = Path(limits.ocr_cache) / f"{hashlib.sha256(data).hexdigest()}-{dpi}"

    def has(self, n: int) -> bool:
        return self.folder is not None and (self.folder / f"{n}.json").is_file()

    def read(self, n: int, image: Callable[[], Image.Image]) -> PageText:
        """Page `n` (0-based) from the cache, else recognised from `image()` (and kept when writing)."""
        if self.has(n):
            try:
                kept = json.loads((self.folder / f"{n}.json").read_text(encoding="utf-8"))
                return PageText(str(kept["text"]), float(kept["confidence"]), int(kept["chars"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("OCR cache %s/%d.json unreadable (%s): page read again", self.folder, n, exc)
        page = recognise(image())
        if self.folder is not None and self.limits.ocr_cache_write:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{n}.json.tmp"
            tmp.write_text(json.dumps(dataclasses.asdict(page), ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.folder / f"{n}.json")
        return page

    def done(self, pages: int, total: int) -> None:
        if self.limits.on_ocr_page is not None:
            self.limits.on_ocr_page(pages, total)


def forget(cache: Path, data: bytes) -> None:
    """Drop the pages kept for a file (every resolution) once its ingest is over."""
    for folder in cache.glob(f"{hashlib.sha256(data).hexdigest()}-*"):
        shutil.rmtree(folder, ignore_errors=True)


# --- internals -----------------------------------------------------------------------------


@functools.cache
def _engine() -> Any:
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    paths = {"Det.model_path": models / "PP-OCRv6_det_small.onnx", "Rec.model_path": models / "PP-OCRv6_rec_small.onnx",
             "Cls.model_path": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:  # never let the library go and fetch them
        raise RuntimeError(f"the rapidocr package lacks its models: {', '.join(missing)}")
    # No per-line direction classifier: on upright pages it turned good lines over (a line starting
    # with "一" read as garbage) and cost time; `recognise` handles whole pages upside down instead.
    # One thread: on two cores shared with the queries it read a page as fast as two threads did
    # (4.1 s against 4.6 s) for three quarters of the CPU (scripts/bench_ocr.py).
    engine = rapidocr.RapidOCR(params={**{k: str(v) for k, v in paths.items()}, "Global.use_cls": False,
                                       "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                                       "Global.log_level": "error"})
    log.info("OCR engine loaded (RapidOCR, PP-OCRv6 small)")
    return engine


def _rgb(image: Image.Image) -> Image.Image:
    from PIL import Image

    if image.mode.startswith("I"):  # 16- or 32-bit grey (archival scanners): to 8 bits, not clipped
        image = image.convert("I").point(lambda v: v * (255 / 65535 if image.mode.startswith("I;16") else 1 / 256))
        image = image.convert("L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # transparent reads as black
        image = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    return image.convert("RGB")


def _upright(frame: Image.Image) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.exif_transpose(frame)  # a phone photo stores its rotation in EXIF


def _check_pages(path: Path, pages: int, limits: LoadLimits) -> None:
    if pages > limits.ocr_max_pages:
        raise DocumentLoadError(str(path), f"{path.name}：需要 OCR 识别的扫描页有 {pages} 页，超过 "
                                f"{limits.ocr_max_pages} 页的上限（QA_OCR_MAX_PAGES）；请拆分后再导入",
                                code="too_many_scanned_pages")


def _render(path: Path, data: bytes, numbers: list[int], dpi: int) -> Iterator[Image.Image]:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise DocumentLoadError(str(path), f"{path.name}：无法渲染 PDF 页面以进行 OCR（{exc}）",
                                code="invalid_pdf") from exc
    try:
        for n in numbers:
            yield pdf[n].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        pdf.close()


def _document(path: Path, pages: list[PageText], what: str) -> tuple[str, dict[str, str]]:
    chars = sum(p.chars for p in pages)
    if not chars:  # an EmptyDocument: nothing to import, as for an empty file of any other format
        raise EmptyDocument(str(path), f"{path.name}：{what}，{NOTHING_READ}", code="ocr_no_text")
    confidence = sum(p.confidence * p.chars for p in pages) / chars
    log.info("%s: OCR read %d characters on %d pages, mean confidence %.3f", path, chars, len(pages), confidence)
    return "\n\f".join(p.text for p in pages), {"ocr_confidence": f"{confidence:.3f}", "ocr_pages": str(len(pages)),
                                               "ocr_page_confidence": page_confidences(dict(enumerate(pages)))}


def _lines(boxes: list[Box]) -> list[list[Box]]:
    """Boxes grouped into lines: a box whose vertical middle lies within the current line's band
    joins it (the band follows the line, so a page scanned a degree askew still reads line by line),
    then each line left to right."""
    lines: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        middle = (box.y0 + box.y1) / 2
        if lines:
            last = lines[-1]
            top, bottom = statistics.fmean(b.y0 for b in last), statistics.fmean(b.y1 for b in last)
            if top + 0.25 * (bottom - top) <= middle <= bottom - 0.25 * (bottom - top):
                last.append(box)
                continue
        lines.append([box])
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def _line_text(line: list[Box]) -> str:
    # Boxes a character or more apart are separate cells or fields: keep them apart with a space.
    text = line[0].text
    for before, box in itertools.pairwise(line):
        text += (" " if box.x0 - before.x1 > 0.8 * box.height else "") + box.text
    return text


def _paragraphs(lines: list[list[Box]]) -> str:
    """Lines joined into paragraphs, one per text line. A line runs on into the next when it reaches
    the right edge of the text, ends without closing punctuation, and the next line starts in the same
    column or to its left (the first line of a paragraph is indented) just below it. Short lines —
    headings, signatures, dates — and centred lines stay lines of their own."""
    if not lines:
        return ""
    right = max(line[-1].x1 for line in lines)
    out: list[str] = [_line_text(lines[0])]
    for previous, line in itertools.pairwise(lines):
        text = _line_text(line)
        height = statistics.median(b.height for b in previous + line)
        runs_on = (previous[-1].x1 >= right - 2.5 * height
                   and not out[-1].endswith(_CLOSING)
                   and previous[0].x0 - 2.8 * height <= line[0].x0 <= previous[0].x0 + 0.6 * height
                   and line[0].y0 - max(b.y1 for b in previous) < 1.2 * height)
        if runs_on:
            glue = " " if _LATIN.match(out[-1][-1:]) and _LATIN.match(text[:1]) else ""
            out[-1] += glue + text
        else:
            out.append(text)
    return "\n".join(out)
