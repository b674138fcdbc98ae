"""OCR benchmark: pages rendered from the shipped corpus, scanned-looking, read back by each engine.

Each corpus document is read through qa.load and qa.clean (the text the index would hold), laid out
on A4 pages at 150 dpi in Noto Serif CJK (12 pt body, 1.5 line spacing, 2.5 cm margins), then made to
look like a scan: a rotation of up to ±1° and Gaussian noise (σ = 12 grey levels). Each engine reads
the pages back, and the script prints, per engine:

- character accuracy = 1 − Σ edit distance / Σ reference length, over all pages, comparing the text
  without whitespace and NFKC-normalised on both sides (so "，" and "," count as the same mark:
  the corpus itself mixes full- and half-width punctuation, and rendering cannot show which it was);
- pages/s, wall time on this machine (model loading not counted), and CPU seconds per page (all threads,
  Tesseract's child processes included): the figure that does not move when the machine is shared.

Usage: .venv/bin/python scripts/bench_ocr.py [--pages N] [--engines rapidocr,tesseract] [--save DIR]
(`make bench-ocr`). The other engines are measured when installed: Tesseract (Debian tesseract-ocr
tesseract-ocr-chi-sim) and the older rapidocr_onnxruntime package (PyPI; not a dependency).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.clean import clean
from qa.load import load_files

DPI = 150
PAGE = (round(8.27 * DPI), round(11.69 * DPI))  # A4
MARGIN = round(2.5 / 2.54 * DPI)
FONT_PX = round(12 / 72 * DPI)  # 12 pt (小四)
LINE_PX = round(FONT_PX * 1.5)
FONT = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"


def corpus_paragraphs(corpus: Path) -> list[str]:
    docs, _ = load_files([corpus])
    paragraphs = []
    for doc in docs:
        paragraphs += [" ".join(line.split()) for line in clean(doc.text).text.split("\n") if line.strip()]
    return paragraphs


def layout(paragraphs: list[str], font: ImageFont.FreeTypeFont) -> list[list[str]]:
    """Paragraphs wrapped to the text width (first line indented two characters), cut into pages."""
    width, per_page = PAGE[0] - 2 * MARGIN, (PAGE[1] - 2 * MARGIN) // LINE_PX
    lines: list[str] = []
    for paragraph in paragraphs:
        line = "\u3000\u3000"
        for ch in paragraph:
            if font.getlength(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return [lines[i:i + per_page] for i in range(0, len(lines), per_page)]


def render(lines: list[str], font: ImageFont.FreeTypeFont, rng: random.Random) -> Image.Image:
    page = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(page)
    for n, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + n * LINE_PX), line, font=font, fill=0)
    page = page.rotate(rng.uniform(-1, 1), resample=Image.BICUBIC, fillcolor=255)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 12, (PAGE[1], PAGE[0]))
    return Image.fromarray(np.clip(np.asarray(page, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def normalised(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def read_rapidocr(images: list[Image.Image]) -> tuple[list[str], float, float]:
    """The reader the service uses (qa/formats/ocr.py: RapidOCR 3, PP-OCRv6 small)."""
    from qa.formats.ocr import recognise

    recognise(images[0])  # load the models outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    texts = [recognise(image).text for image in images]
    return texts, time.perf_counter() - wall, time.process_time() - cpu


def read_rapidocr_onnxruntime(images: list[Image.Image]) -> tuple[list[str], float, float]:
    """The older package (1.4, PP-OCRv4 mobile models), when importable; lines ordered as the service orders them."""
    from rapidocr_onnxruntime import RapidOCR

    from qa.formats.ocr import Box, _lines, _paragraphs

    engine = RapidOCR(use_cls=False)

    def read(image: Image.Image) -> str:
        result, _ = engine(np.asarray(image.convert("RGB"))[:, :, ::-1])
        boxes = [Box(text, score, min(p[0] for p in quad), min(p[1] for p in quad), max(p[0] for p in quad),
                     max(p[1] for p in quad)) for quad, text, score in result or []]
        return _paragraphs(_lines(boxes))

    read(images[0])
    wall, cpu = time.perf_counter(), time.process_time()
    texts = [read(image) for image in images]
    return texts, time.perf_counter() - wall, time.process_time() - cpu


def read_tesseract(images: list[Image.Image]) -> tuple[list[str], float, float]:
    """Tesseract 5 (LSTM) with chi_sim, one process per page as a converter would run it."""
    import resource

    texts = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n, image in enumerate(images):
            files.append(Path(tmp) / f"{n}.png")
            image.save(files[-1])
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        for file in files:
            out = subprocess.run(["tesseract", str(file), "stdout", "-l", "chi_sim", "--psm", "6", "--dpi", str(DPI)],
                                 capture_output=True, text=True, check=True)
            texts.append(out.stdout)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return texts, wall, (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)


def installed(name: str) -> bool:
    if name == "tesseract":
        return shutil.which("tesseract") is not None
    return importlib.util.find_spec(name) is not None


ENGINES = {"rapidocr": read_rapidocr, "rapidocr_onnxruntime": read_rapidocr_onnxruntime, "tesseract": read_tesseract}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--pages", type=int, default=0, help="at most this many pages (0: the whole corpus)")
    parser.add_argument("--engines", default="rapidocr,rapidocr_onnxruntime,tesseract")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--save", type=Path, help="write the page images here, to look at")
    args = parser.parse_args()

    from rapidfuzz.distance import Levenshtein

    font = ImageFont.truetype(FONT, FONT_PX, index=0)  # index 0 of the collection: the SC face
    pages = layout(corpus_paragraphs(args.corpus), font)
    pages = pages[:args.pages] if args.pages else pages
    rng = random.Random(args.seed)
    images = [render(lines, font, rng) for lines in pages]
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for n, image in enumerate(images, 1):
            image.save(args.save / f"page{n:02d}.png")
    references = [normalised("".join(lines)) for lines in pages]
    chars = sum(map(len, references))
    print(f"{len(images)} pages, {chars:,} characters, {DPI} dpi, {FONT_PX} px Noto Serif CJK SC, "
          f"±1° rotation, noise σ 12")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (pages/s is wall time; CPU s/page counts all threads)")
    print(f"{'engine':<22}{'accuracy':>10}{'pages/s':>10}{'CPU s/page':>12}")
    for name in args.engines.split(","):
        if not installed(name):
            print(f"{name:<22}{'(not installed)':>32}")
            continue
        texts, wall, cpu = ENGINES[name](images)
        errors = sum(Levenshtein.distance(ref, normalised(text)) for ref, text in zip(references, texts))
        print(f"{name:<22}{1 - errors / chars:>10.2%}{len(images) / wall:>10.2f}{cpu / len(images):>12.2f}")


if __name__ == "__main__":
    main()
