"""Spreadsheets (.xlsx, .xls, .et, .csv): each row a record naming its columns, cited by sheet and row."""
import datetime as dt
from pathlib import Path

import openpyxl
import pytest
import xlwt
from conftest import copy_index, make_settings

from api.schemas import AnswerOut
from qa.chunk import chunk_document
from qa.errors import DocumentLoadError
from qa.formats import numfmt, sheet
from qa.load import load_file
from qa.service import Service, prepare


def formats_book(path: Path) -> Path:
    """Cells whose number format makes what they show: a percent, a thousands separator, Chinese dates."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "办件情况"
    ws.append(["乡镇", "网上办件率", "办件经费(元)", "统计截止日期"])
    ws.append(["城关镇", 0.98, 1234.5, dt.datetime(2025, 3, 15)])
    ws.append(["青山乡", 0.8756, 20860, dt.datetime(2025, 4, 1)])
    for row, rate in ((2, "0%"), (3, "0.00%")):
        ws[f"B{row}"].number_format = rate
        ws[f"C{row}"].number_format = "#,##0.00"
    ws["D2"].number_format = 'yyyy"年"m"月"d"日"'
    ws["D3"].number_format = "mm-dd-yy"  # built-in 14, the short date: a Chinese desktop shows 2025/4/1
    book.save(path)
    return path


def indicator_book(path: Path) -> Path:
    """A county's indicator workbook as bureaus lay them out: a merged title row, a merged category
    cell over two rows, a category left blank under its first row, and a second sheet."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "主要指标"
    ws.merge_cells("A1:D1")
    ws["A1"] = "青禾县“十四五”市场监管主要指标"
    ws.append(["类别", "指标名称", "2020年", "2025年"])  # row 2
    ws.append(["食品安全", "农贸市场快检室(个)", 12, 36])  # row 3; 食品安全 merged over rows 3-4
    ws.append([None, "食品抽检批次(批次/千人)", 4.5, 6])
    ws.merge_cells("A3:A4")
    ws.append(["计量标准", "社会公用计量标准(项)", 41, 58])  # row 5
    ws.append([None, "强制检定器具(万台件)", 2.25, 3.1])  # row 6: category blank, no merge
    second = book.create_sheet("检查")
    second.append(["乡镇", "检查户数", "发现问题"])
    second.append(["城关镇", 1204, 37])
    second.append(["青山乡", 388, 9])
    book.save(path)
    return path


def test_workbook_text_keeps_each_sheet_and_row_number(tmp_path):
    path = indicator_book(tmp_path / "青禾县指标.xlsx")
    text, fields = sheet.read(path, path.read_bytes())
    first, second = text.split("\f")
    lines = first.split("\n")
    assert fields == {"sheets": "2"}  # no title: a workbook is titled by its file name (qa/metadata.py)
    assert lines[0] == "主要指标" and lines[3] == "食品安全\t农贸市场快检室(个)\t12\t36"
    assert lines[4].startswith("食品安全\t")  # the merged cell's lower row holds its value
    assert lines[6] == "\t强制检定器具(万台件)\t2.25\t3.1"  # as the file has it; the record fills it
    assert second.split("\n")[2] == "城关镇\t1204\t37"


def test_every_row_is_a_record_naming_its_columns_with_its_row_number(tmp_path):
    doc = prepare(load_file(indicator_book(tmp_path / "青禾县指标.xlsx"))[0])
    rows = [(c.section, c.row, c.text) for c in chunk_document(doc) if c.kind == "table_row"]
    assert rows == [
        ("主要指标", 3, "主要指标｜类别: 食品安全｜指标名称: 农贸市场快检室(个)｜2020年: 12｜2025年: 36"),
        ("主要指标", 4, "主要指标｜类别: 食品安全｜指标名称: 食品抽检批次(批次/千人)｜2020年: 4.5｜2025年: 6"),
        ("主要指标", 5, "主要指标｜类别: 计量标准｜指标名称: 社会公用计量标准(项)｜2020年: 41｜2025年: 58"),
        ("主要指标", 6, "主要指标｜类别: 计量标准｜指标名称: 强制检定器具(万台件)｜2020年: 2.25｜2025年: 3.1"),
        ("检查", 2, "检查｜乡镇: 城关镇｜检查户数: 1204｜发现问题: 37"),
        ("检查", 3, "检查｜乡镇: 青山乡｜检查户数: 388｜发现问题: 9"),
    ]


def test_each_sheet_is_also_one_table_chunk_on_its_own_page(tmp_path):
    doc = prepare(load_file(indicator_book(tmp_path / "青禾县指标.xlsx"))[0])
    chunks = chunk_document(doc)
    tables = [(c.section, c.page, c.text.split("\n")[0]) for c in chunks if c.kind == "table"]
    assert tables == [("主要指标", 1, "类别\t指标名称\t2020年\t2025年"), ("检查", 2, "乡镇\t检查户数\t发现问题")]
    for c in chunks:  # every chunk points at its row's (or sheet's) line in the stored text
        assert doc.raw_text[c.raw_start:c.raw_end].strip()
        if c.kind == "table_row":
            assert doc.raw_text[c.raw_start:c.raw_end].split("\t")[-1] in c.text


@pytest.mark.parametrize("suffix", [".xls", ".et"])  # WPS's .et is an .xls inside
def test_legacy_xls_and_wps_et_workbooks_are_read_with_their_merges(tmp_path, suffix):
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("检查记录")
    for col, value in enumerate(["类别", "乡镇", "检查户数"]):
        ws.write(0, col, value)
    ws.write_merge(1, 2, 0, 0, "餐饮")
    ws.write(1, 1, "城关镇"), ws.write(1, 2, 1204), ws.write(2, 1, "青山乡"), ws.write(2, 2, 388.5)
    book.save(str(tmp_path / f"检查{suffix}"))
    doc = prepare(load_file(tmp_path / f"检查{suffix}")[0])
    assert doc.fmt == suffix[1:] and doc.title == "检查"
    assert [(c.row, c.text) for c in chunk_document(doc) if c.kind == "table_row"] == [
        (2, "检查记录｜类别: 餐饮｜乡镇: 城关镇｜检查户数: 1204"), (3, "检查记录｜类别: 餐饮｜乡镇: 青山乡｜检查户数: 388.5")]


def test_cells_read_as_their_number_format_shows_them(tmp_path):
    path = formats_book(tmp_path / "办件.xlsx")
    lines = sheet.read(path, path.read_bytes())[0].split("\n")
    assert lines[2] == "城关镇\t98%\t1,234.50\t2025年3月15日"  # calamine alone: 0.98, 1234.5, 2025-03-15
    assert lines[3] == "青山乡\t87.56%\t20,860.00\t2025/4/1"


@pytest.mark.parametrize("suffix", [".xls", ".et"])
def test_legacy_workbook_cells_read_as_their_number_format_shows_them(tmp_path, suffix):
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("办件情况")
    for col, value in enumerate(["乡镇", "网上办件率", "办件经费(元)", "统计截止日期"]):
        ws.write(0, col, value)
    ws.write(1, 0, "城关镇")
    ws.write(1, 1, 0.98, xlwt.easyxf(num_format_str="0%"))
    ws.write(1, 2, 1234.5, xlwt.easyxf(num_format_str="#,##0.00"))
    ws.write(1, 3, dt.datetime(2025, 3, 15), xlwt.easyxf(num_format_str='yyyy"年"m"月"d"日"'))
    book.save(str(tmp_path / f"办件{suffix}"))
    doc = prepare(load_file(tmp_path / f"办件{suffix}")[0])
    assert [c.text for c in chunk_document(doc) if c.kind == "table_row"] == [
        "办件情况｜乡镇: 城关镇｜网上办件率: 98%｜办件经费(元): 1,234.50｜统计截止日期: 2025年3月15日"]


@pytest.mark.parametrize(("value", "code", "shown"), [
    (0.98, "0%", "98%"), (0.075, "0.0%", "7.5%"), (0.9812, "0.00%", "98.12%"),
    (1234.5, "#,##0.00", "1,234.50"), (1234567, "#,##0", "1,234,567"), (1234.5, "0.00", "1234.50"),
    (12.3456, "0.0#", "12.35"), (12.3, "0.0#", "12.3"), (7, "000", "007"), (1234567, "#,##0,", "1,235"),
    (-1234.5, "#,##0_);(#,##0)", "(1,235)"), (-20, "0.00;[Red]0.00", "-20.00"),  # the colour is not text
    (0, '#,##0;-#,##0;"-"', "-"), (1234.5, "[$¥-804]#,##0.00", "¥1,234.50"), (2.5, '0.0"万元"', "2.5万元"),
    (123456, "0.00E+00", "1.23E+05"),
    (dt.datetime(2025, 3, 15), 'yyyy"年"m"月"d"日"', "2025年3月15日"), (45731, "yyyy/m/d", "2025/3/15"),
    (dt.datetime(2025, 3, 15, 14, 5, 9), "yyyy-mm-dd hh:mm:ss", "2025-03-15 14:05:09"),
    (dt.time(14, 5), '上午/下午h"时"mm"分"', "下午2时05分"), (dt.datetime(2025, 3, 15, 14, 5), "h:mm AM/PM", "2:05 PM"),
    (1234.5, "General", None), (3, "@", None), (1.5, "# ?/?", None),  # None: the stored value is shown
    (1e30, "#,##0.00", None),  # past decimal's 28 digits
])
def test_number_format_codes_render_as_excel_shows_them(value, code, shown):
    assert numfmt.render(value, code) == shown


def test_merged_header_cells_name_every_column_under_them():
    rows = [(1, 0, 0, ["类别", "2025年", "2025年"]), (2, 0, 0, ["类别", "目标", "实际"]),
            (3, 0, 0, ["营商环境", "650", "700"])]
    table = sheet.records("指标", rows)
    assert [r.text for r in table.records] == ["指标｜类别: 营商环境｜2025年 目标: 650｜2025年 实际: 700"]


def test_csv_in_gb18030_is_read_with_row_numbers(tmp_path):
    path = tmp_path / "投诉统计.csv"
    path.write_bytes("乡镇,2023年,2024年\n城关镇,131,118\n白沙镇,64,57\n".encode("gb18030"))
    doc = prepare(load_file(path)[0])
    rows = [(c.section, c.row, c.text) for c in chunk_document(doc) if c.kind == "table_row"]
    assert doc.title == "投诉统计"
    assert rows == [("", 2, "投诉统计｜乡镇: 城关镇｜2023年: 131｜2024年: 118"),
                    ("", 3, "投诉统计｜乡镇: 白沙镇｜2023年: 64｜2024年: 57")]


def test_a_damaged_workbook_is_a_per_file_error(tmp_path):
    path = tmp_path / "坏.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook" * 10)
    with pytest.raises(DocumentLoadError) as caught:
        load_file(path)
    assert caught.value.code == "invalid_spreadsheet" and "坏.xlsx" in caught.value.reason


# ----- through the real service, among the shipped corpus -----

@pytest.fixture(scope="module")
def sheet_service(tmp_path_factory, corpus_service, model_dir, embedder):
    """A copy of the corpus index with the workbook and the .csv ingested; the .csv stored under a
    generated name, as an upload is, and named by its original one."""
    root = tmp_path_factory.mktemp("sheets")
    files = [indicator_book(root / "青禾县指标.xlsx"), root / "01-5f0c2a.csv", formats_book(root / "青禾县办件情况.xlsx")]
    files[1].write_bytes("乡镇,2023年,2024年\n城关镇,131,118\n白沙镇,64,57\n".encode("gb18030"))
    svc = Service(make_settings(copy_index(corpus_service, root / "kb"), model_dir), embedder=embedder)
    report = svc.ingest(files, doc_ids={str(files[1]): "青禾县投诉统计"})
    assert report.problems == () and sorted(report.added) == ["青禾县办件情况", "青禾县投诉统计", "青禾县指标"]
    assert {d.doc_id: d.title for d in svc.documents()}["青禾县投诉统计"] == "青禾县投诉统计"
    return svc


def test_a_number_question_is_answered_from_the_workbook_cell_and_cites_sheet_and_row(sheet_service):
    answer = sheet_service.ask("青禾县2025年农贸市场快检室目标是多少个？")
    assert answer.found and answer.answer == "36个"
    cited = answer.citations[0]
    assert cited.doc_id == "青禾县指标" and cited.location == "工作表“主要指标”第3行" and cited.page == 1
    assert "类别: 食品安全" in cited.text
    out = AnswerOut.from_answer(answer).citations[0]  # what the API returns
    assert (out.location, out.page) == ("工作表“主要指标”第3行", 1)


def test_a_row_under_a_blank_category_is_answered_and_cited(sheet_service):
    answer = sheet_service.ask("青禾县强制检定器具2025年目标是多少？")
    assert answer.found and answer.answer == "3.1万台件"
    assert answer.citations[0].location == "工作表“主要指标”第6行"
    assert "类别: 计量标准" in answer.citations[0].text


def test_a_csv_row_is_answered_and_cited_by_its_line(sheet_service):
    answer = sheet_service.ask("青禾县白沙镇2024年投诉统计是多少？")
    assert answer.found and answer.answer == "57"
    assert (answer.citations[0].doc_id, answer.citations[0].location) == ("青禾县投诉统计", "第3行")
    assert answer.citations[0].text.startswith("青禾县投诉统计｜乡镇: 白沙镇")


def test_a_percent_cell_is_answered_as_it_shows_and_cites_its_row(sheet_service):
    answer = sheet_service.ask("青禾县城关镇网上办件率是多少？")
    assert answer.found and answer.answer == "98%"  # not 0.98, the stored value
    cited = answer.citations[0]
    assert (cited.doc_id, cited.location) == ("青禾县办件情况", "工作表“办件情况”第2行")
    assert "办件经费(元): 1,234.50" in cited.text
