"""The citation viewer (api/static/viewer.js) on a spreadsheet row and on a poorly scanned page, in a
real headless Chromium against a live `qa serve`: a cited row is shown as a table of its columns and
cells, the answer's cell marked; a passage from a page OCR read badly is flagged 识别置信度低.

Screenshots go to tests/artifacts/chat/<state>-<width>.png beside the chat page's."""
from __future__ import annotations

import pytest
from conftest import copy_index, make_settings, start_server, stop_server
from playwright.sync_api import expect
from test_chat_page import ARTIFACTS, VIEWPORTS, Ui
from test_formats_ocr import clean_and_poor_pdf
from test_formats_sheet import formats_book

from qa.service import Service


@pytest.fixture(scope="module")
def sheet_server(tmp_path_factory, corpus_service, model_dir, embedder):
    """A server over a copy of the corpus index with a workbook and a two-page scan ingested."""
    root = tmp_path_factory.mktemp("viewer-sheet")
    kb = copy_index(corpus_service, root / "kb")
    files = [formats_book(root / "青禾县办件情况.xlsx"), clean_and_poor_pdf(root / "特种设备月报.pdf")]
    report = Service(make_settings(kb, model_dir), embedder=embedder).ingest(files)
    assert report.problems == () and sorted(report.added) == ["特种设备月报", "青禾县办件情况"]
    server = start_server(kb, model_dir, root / "server.log")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(params=list(VIEWPORTS))
def ui(request, chromium, sheet_server):  # noqa: F811 - chromium is the imported fixture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=VIEWPORTS[request.param], locale="zh-CN", reduced_motion="reduce")
    page = context.new_page()
    ui = Ui(page, sheet_server.url, request.param)
    page.on("request", lambda r: r.url.startswith(sheet_server.url) or ui.foreign.append(r.url))
    page.on("pageerror", lambda e: ui.errors.append(str(e)))
    yield ui
    context.close()
    assert ui.foreign == [], "the page asked hosts other than the service"
    assert ui.errors == [], f"the page raised: {ui.errors}"


def open_first_citation(ui: Ui, question: str, answer: str):
    ui.open()
    turn = ui.ask(question)
    expect(turn.locator(".key-figure")).to_have_text(answer)
    turn.locator(".cite-card").first.click()
    viewer = ui.page.locator("#viewer")
    expect(viewer.locator("#viewer-body")).to_have_attribute("aria-busy", "false")
    return viewer


def test_a_cited_spreadsheet_row_is_shown_as_a_table_of_its_columns_and_cells(ui):
    viewer = open_first_citation(ui, "青禾县城关镇网上办件率是多少？", "98%")
    expect(viewer.locator("#viewer-title")).to_have_text("青禾县办件情况")
    row = viewer.locator(".viewer-row")
    expect(row).to_contain_text("引用的行：工作表“办件情况”第2行")
    cells = [(tr.locator("th").inner_text(), tr.locator("td").inner_text())
             for tr in row.locator("table.kv tr").all()]
    assert cells == [("乡镇", "城关镇"), ("网上办件率", "98%"), ("办件经费(元)", "1,234.50"),
                     ("统计截止日期", "2025年3月15日")]
    expect(row.locator("tr.hit")).to_have_count(1)
    expect(row.locator("tr.hit th")).to_have_text("网上办件率")  # the answer's cell
    expect(viewer.locator(".raw-row.cited")).to_contain_text("城关镇")  # the row in its sheet, below
    expect(viewer.locator("#viewer-ocr")).to_have_count(0)
    ui.shot("viewer-sheet-row")


def test_a_passage_from_a_poorly_read_scan_page_is_flagged(ui):
    viewer = open_first_citation(ui, "青禾县6月共检查气瓶充装单位多少家？", "14家")
    flag = viewer.locator("#viewer-ocr")
    expect(flag).to_contain_text("识别置信度低（0.")
    assert "请核对原件" in flag.get_attribute("title")
    expect(viewer.locator(".viewer-row")).to_have_count(0)  # prose, not a table row
    ui.shot("viewer-ocr-low")


def test_a_passage_from_a_clean_scan_page_is_not_flagged(ui):
    viewer = open_first_citation(ui, "青禾县登记在用锅炉多少台？", "187台")
    expect(viewer.locator("#viewer-title")).to_have_text("特种设备月报")
    expect(viewer.locator("#viewer-ocr")).to_have_count(0)
