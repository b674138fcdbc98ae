"""Scans: images and PDF pages without a text layer are read by OCR (qa/formats/ocr.py), offline.

The pages are rendered here in Noto Serif CJK (Debian fonts-noto-cjk, installed by
scripts/install_converters.sh), turned half a degree and speckled like a scan, each holding a made-up fact
that no shipped document has."""
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_index, make_settings
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from qa.errors import DocumentLoadError, EmptyDocument
from qa.formats import ocr
from qa.load import WARNING_CODES, LoadLimits, load_file, load_files
from qa.service import Service

FONT = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"
DPI = 150

ELEVATORS = ["青禾县市场监督管理局", "关于电梯安全专项检查情况的通报",
             ("　　2025年3月至5月，县局组织开展电梯安全专项检查，全县共检查在用电梯2731台，发现并督促整改安全隐患86处，"
              "对3家维保单位立案调查。"),
             "　　下一步，县局将把住宅小区老旧电梯作为监管重点，推动电梯应急处置平台覆盖全县。"]
FUEL = ["青禾县加油站计量专项检查结果公告",
        "　　2025年，县市场监督管理局对辖区加油站开展计量专项检查，共抽查加油机412台，其中9台计量超差，已责令停止使用并限期检定。"]
SEALS = ["二、公章刻制备案情况",
         "　　截至2025年6月底，全县公章刻制业务已全部纳入线上备案，上半年新刻制公章5386枚，免费刻制公章1290套。"]
TEXT_PAGE = ["青禾县市场监管工作简报", "一、本期概况", "本期共两页，第二页为盖章文件的扫描件。"]
BOILERS = ["青禾县特种设备安全月报", "　　2025年6月，全县登记在用锅炉187台，锅炉定期检验率达到100%，未发生特种设备事故。"]
CYLINDERS = ["二、气瓶充装单位检查", "　　6月共检查气瓶充装单位14家，责令整改充装记录不全等问题23项，暂停1家单位的充装许可。"]


def scan(lines: list[str], size: tuple[int, int] = (1240, 640), seed: int = 11) -> Image.Image:
    """`lines` typeset at 150 dpi (12 pt, wrapped to the margins) and made to look scanned."""
    font = ImageFont.truetype(FONT, round(12 / 72 * DPI), index=0)
    page = Image.new("L", size, 255)
    draw, margin, y = ImageDraw.Draw(page), 150, 100
    for paragraph in lines:
        line = ""
        for ch in paragraph + "\n":
            if ch == "\n" or font.getlength(line + ch) > size[0] - 2 * margin:
                draw.text((margin, y), line, font=font, fill=0)
                line, y = "", y + 38
            line += ch if ch != "\n" else ""
    rng = random.Random(seed)
    page = page.rotate(rng.uniform(-0.6, 0.6), resample=Image.BICUBIC, fillcolor=255)
    noise = np.random.default_rng(seed).normal(0, 10, (size[1], size[0]))
    return Image.fromarray(np.clip(np.asarray(page, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def scanned_pdf(path: Path, image: Image.Image) -> Path:
    image.save(path, "PDF", resolution=DPI)  # one image per page, no text layer: what a copier writes
    return path


def mixed_pdf(path: Path, scanned: Image.Image | None) -> Path:
    """Page 1 born digital (a text layer); page 2, when given, the scanned image alone."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setFont("STSong-Light", 14)
    for n, line in enumerate(TEXT_PAGE):
        pdf.drawString(72, A4[1] - 90 - 24 * n, line)
    pdf.showPage()
    if scanned is not None:
        width, height = scanned.size
        pdf.setPageSize((width * 72 / DPI, height * 72 / DPI))
        pdf.drawImage(ImageReader(scanned), 0, 0, width * 72 / DPI, height * 72 / DPI)
        pdf.showPage()
    pdf.save()
    return path


def clean_and_poor_pdf(path: Path) -> Path:
    """Two scanned pages: the first clean, the second scanned at under a quarter of the resolution
    (read at ~0.86 confidence, its figures still right), so the document's mean (~0.93) stays above
    QA_OCR_MIN_CONFIDENCE (0.9) while its second page is below it."""
    poor = scan(CYLINDERS, size=(1240, 400), seed=22)
    poor = poor.resize((int(1240 / 4.5), int(400 / 4.5))).resize(poor.size)
    scan(BOILERS, size=(1240, 400), seed=21).save(path, "PDF", resolution=DPI, save_all=True, append_images=[poor])
    return path


# ----- reading -----

def test_an_image_is_read_into_its_paragraphs_with_its_confidence(tmp_path):
    path = tmp_path / "电梯检查通报.png"
    scan(ELEVATORS).save(path)
    doc = load_file(path)[0]
    lines = doc.text.split("\n")
    assert doc.fmt == "png" and lines[:2] == ELEVATORS[:2]  # the short heading lines stay lines
    assert len(lines) == 4 and "检查在用电梯2731台" in lines[2]  # a wrapped paragraph is one line again
    assert float(doc.fields["ocr_confidence"]) > 0.9 and doc.fields["ocr_pages"] == "1"


def test_a_page_scanned_upside_down_is_read_the_right_way_up(tmp_path):
    path = tmp_path / "倒置.png"
    scan(ELEVATORS[:2], size=(1240, 260)).rotate(180).save(path)
    assert load_file(path)[0].text.split("\n") == ELEVATORS[:2]


def test_a_mixed_pdf_keeps_its_text_page_exactly_and_reads_its_scanned_page(tmp_path):
    digital = load_file(mixed_pdf(tmp_path / "只有文字页.pdf", None))[0]
    doc = load_file(mixed_pdf(tmp_path / "简报.pdf", scan(SEALS)))[0]
    first, second = doc.text.split("\n\f")
    assert first == digital.text and "第二页为盖章文件的扫描件" in first
    assert "新刻制公章5386枚" in second
    assert doc.fields["ocr_pages"] == "1"  # only the page without a text layer


def test_an_image_without_text_is_a_per_file_error_in_chinese(tmp_path):
    blank = tmp_path / "空白页.jpg"
    Image.new("RGB", (800, 600), "white").save(blank)
    good = tmp_path / "电梯.png"
    scan(ELEVATORS[:2], size=(1240, 260)).save(good)
    docs, problems = load_files([blank, good])
    assert [d.doc_id for d in docs] == ["电梯"]  # the rest of the batch goes on
    assert [(p.code, p.message) for p in problems] == [
        ("ocr_no_text", "空白页.jpg：图片中没有可辨认的文字，OCR 未识别出文字")]
    with pytest.raises(EmptyDocument, match="OCR 未识别出文字"):
        load_file(blank)


def test_a_poor_scan_is_imported_with_a_warning_naming_file_and_figure(tmp_path):
    path = tmp_path / "模糊.png"  # scanned at a fifth of the resolution: some characters misread
    scan(ELEVATORS[:2], size=(1240, 260)).resize((248, 52)).resize((1240, 260)).save(path)
    docs, problems = load_files([path], LoadLimits(ocr_min_confidence=0.95))
    confidence = float(docs[0].fields["ocr_confidence"])
    assert docs[0].doc_id == "模糊" and confidence < 0.95
    assert [p.code for p in problems] == ["ocr_low_confidence"] and problems[0].code in WARNING_CODES
    assert problems[0].message == (f"模糊.png 已导入，但 OCR 平均置信度只有 {confidence:.2f}（低于 0.95），"
                                   "识别出的文字可能有误，请核对原件")


def test_each_scanned_page_keeps_its_own_confidence_which_its_chunks_carry(tmp_path):
    from qa.chunk import chunk_document
    from qa.service import prepare

    raw = load_file(clean_and_poor_pdf(tmp_path / "特种设备月报.pdf"))[0]
    pages = ocr.parse_page_confidences(raw.fields["ocr_page_confidence"])
    assert [p for p, _ in pages] == [1, 2] and pages[0][1] > 0.95 and pages[1][1] < 0.9
    assert float(raw.fields["ocr_confidence"]) >= 0.9  # the document's mean alone would not warn
    chunks = chunk_document(prepare(raw))
    assert {c.page: c.ocr_confidence for c in chunks} == dict(pages)
    digital = load_file(mixed_pdf(tmp_path / "简报.pdf", scan(SEALS)))[0]  # page 1 has a text layer
    assert digital.fields["ocr_page_confidence"].startswith("2:")
    assert {c.page: c.ocr_confidence > 0 for c in chunk_document(prepare(digital))} == {1: False, 2: True}


def test_a_scan_with_more_pages_than_the_limit_is_refused_before_any_is_read(tmp_path):
    path = tmp_path / "长扫描件.tif"
    page = Image.new("L", (200, 100), 255)
    page.save(path, save_all=True, append_images=[page, page])
    with pytest.raises(DocumentLoadError, match="需要 OCR 识别的扫描页有 3 页，超过 2 页的上限") as caught:
        load_file(path, LoadLimits(ocr_max_pages=2))
    assert caught.value.code == "too_many_scanned_pages"


def test_a_damaged_image_is_a_per_file_error(tmp_path):
    path = tmp_path / "坏图.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(DocumentLoadError, match="坏图.png：无法读取图片") as caught:
        load_file(path)
    assert caught.value.code == "invalid_image"


# ----- reading order, on boxes as the engine returns them (no model) -----

def box(text: str, x0: float, y0: float, x1: float, height: float = 25) -> ocr.Box:
    return ocr.Box(text, 0.99, x0, y0, x1, y0 + height)


def test_boxes_are_read_by_line_then_left_to_right_and_full_lines_run_on():
    boxes = [
        box("二、监管重点", 150, 100, 300),  # a heading: short, stays a line
        box("全县共检查在用电梯2731台，发现隐患", 200, 140, 1090),  # indented first line, full width
        box("86处，均已整改。", 150, 180, 400),  # continues: same column, the line above ran to the edge
        box("单位", 150, 220, 210), box("数量", 600, 222, 660),  # two cells of one row, a degree askew
        box("（一）住宅小区电梯", 150, 260, 1088),  # full width but…
        box("对老旧电梯逐台建档。", 300, 300, 600),  # …the next line starts further right: a new line
    ]
    text = ocr._paragraphs(ocr._lines(list(reversed(boxes))))
    assert text.split("\n") == ["二、监管重点", "全县共检查在用电梯2731台，发现隐患86处，均已整改。", "单位 数量",
                                "（一）住宅小区电梯", "对老旧电梯逐台建档。"]


def test_a_full_line_ending_a_sentence_does_not_run_on():
    lines = ocr._lines([box("检查在用电梯2731台。", 150, 100, 1090), box("下一步，县局将开展复查。", 150, 140, 700)])
    assert ocr._paragraphs(lines) == "检查在用电梯2731台。\n下一步，县局将开展复查。"


def test_qa_ingest_lists_a_poor_scan_as_imported_to_check_and_a_blank_one_as_skipped(tmp_path, model_dir):
    poor, blank = tmp_path / "模糊.png", tmp_path / "空白.png"
    scan(ELEVATORS[:2], size=(1240, 260)).resize((248, 52)).resize((1240, 260)).save(poor)
    Image.new("L", (600, 400), 255).save(blank)
    env = {**os.environ, "QA_INDEX_DIR": str(tmp_path / "kb"), "QA_EMBED_MODEL": str(model_dir),
           "QA_OCR_MIN_CONFIDENCE": "0.95", "COLUMNS": "300"}
    out = subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(poor), str(blank)],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "本次新增 1" in lines[0]
    assert lines[1:3] == ["跳过 1 个文件（其余文件已照常导入）：",
                          f"  未导入 {blank}：空白.png：图片中没有可辨认的文字，OCR 未识别出文字（ocr_no_text）"]
    assert lines[3].startswith(f"请核对 {poor}：模糊.png 已导入，但 OCR 平均置信度只有 0.")  # not "未导入"
    assert lines[3].endswith("（ocr_low_confidence）") and len(lines) == 4


# ----- through the real service, among the shipped corpus -----

@pytest.fixture(scope="module")
def ocr_service(tmp_path_factory, corpus_service, model_dir, embedder):
    """A copy of the corpus index with a scanned .png, an image-only PDF and a mixed PDF ingested,
    beside an image with no text."""
    root = tmp_path_factory.mktemp("ocr")
    scan(ELEVATORS).save(root / "电梯检查通报.png")
    files = [root / "电梯检查通报.png", scanned_pdf(root / "加油机检查公告.pdf", scan(FUEL, seed=12)),
             mixed_pdf(root / "公章刻制简报.pdf", scan(SEALS, seed=13)),
             clean_and_poor_pdf(root / "特种设备月报.pdf"), root / "空白.png"]
    Image.new("L", (600, 400), 255).save(files[-1])
    svc = Service(make_settings(copy_index(corpus_service, root / "kb"), model_dir), embedder=embedder)
    report = svc.ingest(files)
    assert sorted(report.added) == ["公章刻制简报", "加油机检查公告", "特种设备月报", "电梯检查通报"]
    assert [(Path(p.path).name, p.code) for p in report.problems] == [("空白.png", "ocr_no_text")]
    return svc


@pytest.mark.parametrize(("question", "doc_id", "expected", "location"), [
    ("青禾县电梯安全专项检查共检查在用电梯多少台？", "电梯检查通报", "2731台", "第1页"),
    ("青禾县加油站计量专项检查抽查了多少台加油机？", "加油机检查公告", "412台", "第1页"),
    ("青禾县2025年上半年新刻制公章多少枚？", "公章刻制简报", "5386枚", "第2页"),
])
def test_a_fact_only_in_a_scan_is_answered_and_cited(ocr_service, question, doc_id, expected, location):
    answer = ocr_service.ask(question)
    assert answer.found and answer.answer == expected
    assert (answer.citations[0].doc_id, answer.citations[0].location) == (doc_id, location)


def test_a_citation_from_a_poorly_read_page_is_flagged_and_one_from_a_clean_page_is_not(ocr_service):
    from conftest import READER, app_client, wait_ready

    from api.schemas import AnswerOut

    poor = ocr_service.ask("青禾县6月共检查气瓶充装单位多少家？")
    clean = ocr_service.ask("青禾县登记在用锅炉多少台？")
    assert (poor.answer, poor.citations[0].doc_id, poor.citations[0].location) == ("14家", "特种设备月报", "第2页")
    assert (clean.answer, clean.citations[0].doc_id, clean.citations[0].location) == ("187台", "特种设备月报", "第1页")
    assert 0 < AnswerOut.from_answer(poor).citations[0].ocr_confidence < 0.9  # what the API returns
    assert AnswerOut.from_answer(clean).citations[0].ocr_confidence > 0.95
    assert all(c.ocr_confidence == 0 for c in ocr_service.ask("青禾县2025年上半年新刻制公章多少枚？").citations
               if c.location == "第1页" and c.doc_id == "公章刻制简报")  # a text-layer page is not OCR
    with app_client(ocr_service) as client:  # the viewer's spans say which passages to flag
        wait_ready(client)
        detail = client.get("/api/v1/documents/特种设备月报", headers=READER)
        assert detail.status_code == 200, detail.text
        spans = detail.json()["chunk_spans"]
    assert {(s["page"], s["ocr_low"]) for s in spans} == {(1, False), (2, True)}


def test_a_scanned_ofd_page_is_read_by_ocr_and_its_text_page_kept(tmp_path):
    """An OFD whose second page is a sealed scan (a picture, no text): OCR reads that page, the
    first page keeps its text layer exactly, and the page break stays between them."""
    import io as _io

    from ofd_builder import Page, build_ofd

    png = _io.BytesIO()
    scan(SEALS).save(png, "PNG")
    path = tmp_path / "公章备案.ofd"
    path.write_bytes(build_ofd([Page().heading("青禾县市场监管工作简报").paragraph("本期共两页，第二页为扫描件。"),
                                Page().scan(png.getvalue())], footer=False))
    raw = load_file(path)[0]
    first, second = raw.text.split("\f")
    assert "本期共两页，第二页为扫描件。" in first
    assert "5386枚" in second and "1290套" in second
    assert float(raw.fields["ocr_confidence"]) > 0.9 and raw.fields["ocr_pages"] == "1"
