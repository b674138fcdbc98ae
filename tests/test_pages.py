"""Pages: readers of paged formats put "\\f" between pages; chunks carry the page they start on, and
citations say it ("第2页"). A PDF's ruled tables become records, answered from a cell."""
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import copy_index, double_settings, make_settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Table,
    TableStyle,
)

from api.schemas import AnswerOut
from qa.chunk import chunk_document
from qa.clean import clean
from qa.index import Index, live_version
from qa.integrity import sha256_file
from qa.load import load_file
from qa.service import Service, prepare
from qa.types import RawDocument

PAGE_ONE = ["青禾县市场监管工作要点", "发布日期：2025年1月10日　来源：青禾县市场监督管理局", "第一章 总体要求",
            "全县市场监管工作坚持稳中求进，持续优化营商环境，守牢安全底线。",
            "2024年全县新登记经营主体4816户，同比增长7.2%。"]
PAGE_TWO = ["第二章 主要指标", "2024年全县共查处各类违法案件417起，罚没款392万元。", "表1 质量提升主要指标"]
TABLE = [["类别", "指标名称", "2020年", "2025年"],
         ["质量提升", "规上工业产品抽检合格率(%)", "96.1", "98"],
         ["", "新增地理标志商标(件)", "3", "8"],  # its category cell is merged with the one above
         ["标准化", "主导制定地方标准(项)", "2", "11"]]


def qinghe_pdf(path: Path) -> Path:
    """Two pages of Chinese text (Adobe's STSong-Light CID font: no font file needed), a ruled table on
    page 2 whose 类别 cell spans two rows."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = ParagraphStyle("zh", fontName="STSong-Light", fontSize=11, leading=16, wordWrap="CJK")
    table = Table(TABLE)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), "STSong-Light"),
                               ("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("SPAN", (0, 1), (0, 2))]))
    story = [Paragraph(line, style) for line in PAGE_ONE] + [PageBreak()]
    story += [Paragraph(line, style) for line in PAGE_TWO] + [table, Paragraph("以上指标均为预期性指标。", style)]
    SimpleDocTemplate(str(path), pagesize=A4, title="青禾县市场监管工作要点").build(story)
    return path


def test_pdf_pages_are_separated_by_a_form_feed_and_table_rows_are_tab_separated(tmp_path):
    doc = load_file(qinghe_pdf(tmp_path / "青禾县要点.pdf"))[0]
    first, second = doc.text.split("\f")
    assert "4816户" in first and "417起" in second
    rows = [line for line in second.split("\n") if "\t" in line]
    assert rows == ["\t".join(TABLE[0]), "\t".join(TABLE[1]), "\t".join(["质量提升", *TABLE[2][1:]]),
                    "\t".join(TABLE[3])]
    assert "抽检合格率" not in second.replace(rows[1], "")  # the table's text is not repeated as prose


def test_pdf_table_rows_are_records_on_their_page(tmp_path):
    doc = prepare(load_file(qinghe_pdf(tmp_path / "青禾县要点.pdf"))[0])
    records = [(c.page, c.text) for c in chunk_document(doc) if c.kind == "table_row"]
    assert records == [
        (2, "表1 质量提升主要指标｜类别: 质量提升｜指标名称: 规上工业产品抽检合格率(%)｜2020年: 96.1｜2025年: 98"),
        (2, "表1 质量提升主要指标｜类别: 质量提升｜指标名称: 新增地理标志商标(件)｜2020年: 3｜2025年: 8"),
        (2, "表1 质量提升主要指标｜类别: 标准化｜指标名称: 主导制定地方标准(项)｜2020年: 2｜2025年: 11"),
    ]


@pytest.mark.parametrize("repeat_header", [0, 1])
def test_a_table_running_onto_the_next_page_keeps_its_header(tmp_path, repeat_header):
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    rows = [["乡镇", "检查户数", "发现问题"]] + [[f"第{i}网格", str(100 + i), str(i % 7)] for i in range(1, 61)]
    table = Table(rows, repeatRows=repeat_header)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), "STSong-Light"),
                               ("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    SimpleDocTemplate(str(tmp_path / "网格检查.pdf"), pagesize=A4).build([table])
    doc = prepare(load_file(tmp_path / "网格检查.pdf")[0])
    assert doc.raw_text.count("\f") == 1
    records = [c for c in chunk_document(doc) if c.kind == "table_row"]
    assert [c.text.split("｜", 1)[1] for c in records] == [
        f"乡镇: {r[0]}｜检查户数: {r[1]}｜发现问题: {r[2]}" for r in rows[1:]]
    assert records[0].page == 1 and records[-1].page == 2


def test_cleaning_drops_page_breaks_and_page_number_lines_but_keeps_offsets():
    raw = "第一页的正文。\n- 1 -\n\f第二页的正文。\n第 2 页 共 3 页\n\f第三页，中间\f断开的一行。"
    cleaned = clean(raw)
    assert cleaned.text == "第一页的正文。\n第二页的正文。\n第三页，中间\f断开的一行。"
    assert all(raw[o] == ch for ch, o in zip(cleaned.text, cleaned.offsets))


def paged(text: str, fmt: str = "pdf") -> list:
    return chunk_document(prepare(RawDocument("d", text, "d." + fmt, fmt)), target=60, max_chars=80, overlap=0)


def test_a_chunk_takes_the_page_it_starts_on():
    pages = ["市场监管局召开全体干部大会。会议传达了上级会议精神。" * 2,
             "会议要求全体干部提高认识。切实抓好各项工作落实。" * 2,
             "会议强调要加强队伍建设。会议还部署了下一阶段的重点任务，明确了责任分工。"]
    text = "\n\f".join(pages)
    chunks = paged(text)
    assert [(c.page, text.count("\f", c.raw_start, c.raw_end)) for c in chunks] == [(1, 1), (2, 1)]  # each spans two
    assert chunks[0].text.endswith("上级会议精神。\n会议要求全体干部提高认识。")  # no "\f" shown
    assert not any("\f" in c.text for c in chunks)


def test_a_page_break_inside_a_line_ends_the_line():
    text = "会议指出，今年以来全县市场监管工作在服务发展、守牢底线等方面取得新进展\f会议要求，各乡镇要切实抓好食品安全工作。"
    chunks = paged(text)
    assert [c.page for c in chunks] == [1]
    assert chunks[0].text == text.replace("\f", "\n")  # a break inside a line is a line break, shown as one


def test_a_one_page_pdf_is_page_one_and_a_text_file_has_no_pages():
    assert {c.page for c in paged("只有一页的通知。")} == {1}
    assert {c.page for c in paged("一篇网页正文。\n第二段。", fmt="txt")} == {0}


# ----- an index written before chunks had pages -----

def test_an_index_written_before_pages_still_loads_with_page_zero(tmp_path, hashing_embedder):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "通知.txt").write_text("关于开展质量提升行动的通知\n各乡镇：请认真组织实施。", encoding="utf-8")
    svc = Service(double_settings(tmp_path / "kb"), embedder=hashing_embedder)
    svc.ingest([tmp_path / "docs"])
    folder = live_version(tmp_path / "kb")
    manifest = json.loads((folder / "manifest.json").read_text())
    for rel in [r for r in manifest["files"] if r.endswith("store.sqlite")]:
        _drop_page_columns(folder / rel)  # the chunks table as the previous version wrote it
        manifest["files"][rel] = {"size": (folder / rel).stat().st_size, "sha256": sha256_file(folder / rel)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    index = Index.load(tmp_path / "kb")
    assert index.chunks and {(c.page, c.row, c.ocr_confidence) for c in index.chunks} == {(0, 0, 0)}
    assert all(index.document(d).page_ocr == () for d in index.docs)
    answer = Service(double_settings(tmp_path / "kb"), embedder=hashing_embedder).ask("各乡镇怎么做？")
    assert all(c.location == "" and c.page == 0 for c in answer.citations)


def _drop_page_columns(store: Path) -> None:
    con = sqlite3.connect(store)
    try:
        columns = [r[1] for r in con.execute("PRAGMA table_info(chunks)")]
        assert columns[-3:] == ["page", "sheet_row", "ocr_confidence"]
        kept = ", ".join(f'"{c}"' for c in columns[:-3])
        con.executescript(f"CREATE TABLE old AS SELECT {kept} FROM chunks; DROP TABLE chunks;"
                          "ALTER TABLE old RENAME TO chunks;")
        columns = [r[1] for r in con.execute("PRAGMA table_info(documents)")]
        assert columns[-1] == "page_ocr"  # per-page OCR confidences came later still
        kept = ", ".join(f'"{c}"' for c in columns[:-1])
        con.executescript(f"CREATE TABLE old AS SELECT {kept} FROM documents; DROP TABLE documents;"
                          "ALTER TABLE old RENAME TO documents; VACUUM;")
    finally:
        con.close()


# ----- through the real service, among the shipped corpus -----

@pytest.fixture(scope="module")
def pdf_service(tmp_path_factory, corpus_service, model_dir, embedder):
    root = tmp_path_factory.mktemp("pages")
    svc = Service(make_settings(copy_index(corpus_service, root / "kb"), model_dir), embedder=embedder)
    report = svc.ingest([qinghe_pdf(root / "青禾县要点.pdf")])
    assert report.problems == () and report.added == ("青禾县要点",)
    return svc


def test_a_number_in_a_pdf_table_is_answered_from_its_cell_citing_the_page(pdf_service):
    answer = pdf_service.ask("青禾县2025年新增地理标志商标目标是多少件？")
    assert answer.found and answer.answer == "8件" and answer.extractor == "table_cell"
    cited = answer.citations[0]
    assert (cited.doc_id, cited.kind, cited.page, cited.location) == ("青禾县要点", "table_row", 2, "第2页")
    assert "类别: 质量提升" in cited.text  # the merged category cell
    assert AnswerOut.from_answer(answer).citations[0].location == "第2页"


@pytest.mark.parametrize(("question", "expected", "page"), [
    ("青禾县2024年查处违法案件多少起？", "417起", 2),
    ("青禾县2024年新登记经营主体多少户？", "4816户", 1),
])
def test_a_fact_in_pdf_prose_is_cited_with_its_page(pdf_service, question, expected, page):
    answer = pdf_service.ask(question)
    assert answer.found and answer.answer == expected
    assert (answer.citations[0].doc_id, answer.citations[0].location) == ("青禾县要点", f"第{page}页")
