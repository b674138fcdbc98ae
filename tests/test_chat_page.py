"""The web chat page (api/static) in a real headless Chromium, against a live `qa serve`.

Every test runs at desktop (1280×800) and phone (390×844) width and saves a screenshot of the
state it checks to tests/artifacts/chat/<state>-<width>.png. Every test also checks that the page
asked nothing of any host but the service (the intranet has no internet).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import ADMIN, ADMIN_KEY, CHROMIUM, CHROMIUM_ARGS, READER, READER_KEY  # noqa: F401 - CHROMIUM*: re-exported
from playwright.sync_api import Locator, Page, expect

ARTIFACTS = Path(__file__).parent / "artifacts" / "chat"
STATIC = Path(__file__).parent.parent / "api" / "static"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
INGEST_MS = 900_000  # a cap for a busy machine, not a deadline

expect.set_options(timeout=20_000)


@dataclass
class Ui:
    """One browser page on the chat, at one width."""

    page: Page
    url: str
    width: str
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, key: str | None = READER_KEY, hash: str = "") -> None:
        self.page.goto(f"{self.url}/{f'?key={key}' if key else ''}{hash}")
        if key:
            expect(self.page.locator("#kb-stats")).to_contain_text("篇文档")

    def ask(self, question: str) -> Locator:
        """Types `question`, sends it with Enter, and returns its turn once the answer is complete."""
        box = self.page.locator("#question")
        box.fill(question)
        box.press("Enter")
        turn = self.page.locator(".turn").last
        expect(turn.locator(".user-bubble")).to_have_text(question)
        return turn

    def shot(self, state: str) -> None:
        self.page.screenshot(path=ARTIFACTS / f"{state}-{self.width}.png")


@pytest.fixture(params=list(VIEWPORTS))
def ui(request, chromium, live_server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Reduced motion: the page then scrolls without animation, so screenshots show where it settles.
    context = chromium.new_context(viewport=VIEWPORTS[request.param], locale="zh-CN", reduced_motion="reduce")
    page = context.new_page()
    ui = Ui(page, live_server.url, request.param)
    allowed = (live_server.url, "file://", "data:", "about:")  # file://: the widget test's portal page
    page.on("request", lambda r: r.url.startswith(allowed) or ui.foreign.append(r.url))
    page.on("pageerror", lambda e: ui.errors.append(str(e)))
    yield ui
    context.close()
    assert ui.foreign == [], "the page asked hosts other than the service"
    assert ui.errors == [], "uncaught script errors"


def upload(server, path: Path) -> dict:
    """Uploads through the API as admin and waits for the ingest job to finish."""
    with path.open("rb") as f:
        job = httpx.post(f"{server.url}/api/v1/documents", headers=ADMIN, files={"files": (path.name, f)}).json()
    deadline = time.monotonic() + INGEST_MS / 1000
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = httpx.get(f"{server.url}/api/v1/jobs/{job['job_id']}", headers=ADMIN).json()
    assert job["status"] == "succeeded", job
    return job


def test_answer_shows_key_figure_and_table_row_citation(ui):
    ui.open()
    turn = ui.ask("2025年市场主体目标是多少")
    expect(turn.locator(".key-figure")).to_have_text("650万户")
    card = turn.locator(".cite-card").first
    expect(card.locator(".cite-section")).to_contain_text("专栏1")
    expect(card.locator("tr.hit mark.hl", has_text="650")).to_be_visible()
    expect(turn.get_by_role("button", name="复制答案")).to_be_visible()
    ui.shot("answer")


def test_follow_up_uses_history_and_shows_rewritten_question(ui):
    ui.open()
    first = ui.ask("2025年市场主体目标是多少")
    expect(first.locator(".key-figure")).to_have_text("650万户")
    turn = ui.ask("那2020年呢？")
    expect(turn.locator(".key-figure")).to_have_text("488.84万户")
    expect(turn.locator(".rewritten .text")).to_have_text("2020年市场主体目标是多少")
    ui.shot("follow-up")
    # One click asks the question as typed, without the earlier turn: nothing is rewritten then.
    turn.get_by_role("button", name="按原问题提问").click()
    again = ui.page.locator(".turn").nth(2)
    expect(again.locator(".answer")).to_have_attribute("aria-busy", "false")
    expect(again.locator(".rewritten")).to_be_hidden()


def test_a_refused_turn_does_not_shape_the_next_question(ui):
    ui.open()
    refused = ui.ask("火星基地的宠物医院有多少家？")
    expect(refused.locator(".answer.notfound")).to_be_visible()
    turn = ui.ask("那2020年呢？")
    expect(turn.locator(".answer")).to_have_attribute("aria-busy", "false")
    expect(turn.locator(".rewritten")).to_be_hidden()  # not "2020年火星基地的宠物医院有多少家"


def test_citation_click_opens_viewer_at_highlighted_row(ui):
    ui.open()
    turn = ui.ask("2025年市场主体目标是多少")
    turn.locator(".cite-card").first.click()
    viewer = ui.page.locator("#viewer")
    expect(viewer.locator("#viewer-title")).to_have_text("湖南省“十四五”市场监管规划")
    expect(viewer.locator(".raw-row.cited")).to_contain_text("全省市场主体数")
    expect(viewer.locator(".raw-row.cited mark.support", has_text="650")).to_be_in_viewport()
    ui.shot("viewer")


def test_viewer_opens_from_keyboard_and_escape_returns_focus(ui):
    ui.open()
    turn = ui.ask("贵州2020年新设立市场主体多少户？")
    expect(turn.locator(".key-figure")).to_have_text("68.2万户")
    opener = turn.locator(".cite-card .card-open").first
    opener.focus()
    ui.page.keyboard.press("Enter")
    viewer = ui.page.locator("#viewer")
    expect(viewer.locator("mark.support", has_text="68.2万户")).to_be_in_viewport()
    ui.shot("viewer-text")
    ui.page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(opener).to_be_focused()


def test_copy_button_copies_answer_with_its_source(ui):
    ui.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.url)
    ui.open()
    turn = ui.ask("2025年市场主体目标是多少")
    copy = turn.get_by_role("button", name="复制答案")
    copy.click()
    expect(turn.get_by_role("button", name="已复制")).to_be_visible()
    copied = ui.page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("650万户\n") and "《湖南省“十四五”市场监管规划》" in copied


def test_unanswerable_question_shows_not_found_with_nearest_passages(ui):
    question = "火星上的市场主体有多少？"
    api = httpx.post(f"{ui.url}/api/v1/ask", headers=READER, json={"question": question}).json()
    assert api["found"] is False and api["citations"]
    ui.open()
    turn = ui.ask(question)
    expect(turn.locator(".answer.notfound")).to_contain_text("知识库中没有找到与“火星上的市场主体”相关的内容")
    expect(turn.locator(".sources.nearest .sources-title")).to_contain_text("最接近的片段")
    expect(turn.locator(".sources.nearest .cite-card").first).to_be_visible()
    ui.shot("not-found")


def test_unsure_answer_shows_most_relevant_passages_centred_on_their_best_sentence(ui):
    # Refused (too few of the question's words, and the wrong figure of its sentence picked), but the passage
    # saying "注销“僵尸企业”7.43万家" is close.
    question = "湖南2020年清掉了多少家长期不经营的空壳企业"
    api = httpx.post(f"{ui.url}/api/v1/ask", headers=READER, json={"question": question}).json()
    assert api["status"] == "unsure"
    ui.open()
    turn = ui.ask(question)
    expect(turn.locator(".answer.unsure")).to_contain_text("未能确定答案，以下片段最相关")
    expect(turn.locator(".sources.unsure .sources-title")).to_contain_text("最相关的片段")
    cards = turn.locator(".sources.unsure .cite-card:visible")
    expect(cards).to_have_count(3)
    expect(cards.first.locator("mark.hl")).to_contain_text("注销“僵尸企业”7.43万家")
    for card in cards.all():
        expect(card.locator("mark.hl")).to_have_count(1)
        expect(card.locator("mark.hl")).to_be_visible()
    # Each excerpt is centred on its sentence: as much text before it as after, unless a side is the
    # passage's own start or end (no "…" there).
    for text, sentence in turn.locator(".sources.unsure .passage").evaluate_all(
            "ps => ps.map(p => [p.textContent, p.querySelector('mark.hl').textContent])"):
        at = text.index(sentence)
        before, after = text[:at], text[at + len(sentence):]
        if before.startswith("…") and after.endswith("…"):
            assert abs(len(before) - len(after)) <= 2, (before, sentence, after)
    expect(turn.get_by_role("button", name="复制答案")).to_have_count(0)
    ui.shot("unsure")


def test_found_answer_labels_cards_from_other_documents_and_shows_each_passage_once(ui):
    question = "疫情期间湖南指导多少家重点防疫用品生产企业快速通过应急审批"
    api = httpx.post(f"{ui.url}/api/v1/ask", headers=READER, json={"question": question}).json()
    answer_doc = api["citations"][0]["doc_id"]
    foreign = [c for c in api["citations"] if c["doc_id"] != answer_doc]
    assert api["status"] == "found" and foreign and api["others"]
    ui.open()
    turn = ui.ask(question)
    expect(turn.locator(".key-figure")).to_have_text("400多家")
    cited = turn.locator(".sources:not(.others) .cite-card")
    expect(cited).to_have_count(len(api["citations"]))
    # Every card names its document; those not the answer's say they come from another one.
    for card, c in zip(cited.all(), api["citations"]):
        expect(card.locator(".cite-title")).to_have_text(c["title"])
        expect(card.locator(".tag.other-doc")).to_have_count(0 if c["doc_id"] == answer_doc else 1)
    expect(cited.first.locator("mark.hl")).to_contain_text("400多家")
    expect(turn.locator(".sources:not(.others) mark.hl")).to_have_count(cited.first.locator("mark.hl").count())
    others = turn.locator(".sources.others .cite-card")
    expect(others).to_have_count(len(api["others"]))
    cited_titles = {c["title"] for c in api["citations"]}
    assert not cited_titles & {o["title"] for o in api["others"]}
    cited.locator(".tag.other-doc").first.scroll_into_view_if_needed()
    ui.shot("found-several-documents")


def test_admin_uploads_a_document_and_chat_answers_from_it(ui, tmp_path):
    doc = tmp_path / f"宠物医院情况-{ui.width}.txt"
    doc.write_text(f"某区2026年宠物医疗服务发展情况（{ui.width}）\n\n"
                   "2026年本区共新设立宠物医院217家，宠物诊疗服务覆盖全部街道。\n", encoding="utf-8")
    ui.open(ADMIN_KEY)
    ui.page.get_by_role("button", name="文档管理").click()
    expect(ui.page.locator("#docs tbody tr").first).to_be_visible()
    ui.page.locator("#upload-input").set_input_files(doc)
    expect(ui.page.locator("#chosen")).to_contain_text(doc.name)
    ui.page.get_by_role("button", name="上传并导入").click()
    expect(ui.page.locator("#upload-status")).to_contain_text("导入完成", timeout=INGEST_MS)
    expect(ui.page.locator("#upload-status")).to_contain_text("已新增")
    expect(ui.page.locator("#docs")).to_contain_text(f"某区2026年宠物医疗服务发展情况（{ui.width}）")
    ui.shot("admin-uploaded")
    ui.page.get_by_role("button", name="返回问答").click()
    turn = ui.ask("2026年本区新设立宠物医院多少家？")
    expect(turn.locator(".key-figure")).to_have_text("217家")
    ui.shot("uploaded-answer")


def test_admin_deletes_a_document_only_after_confirming(ui, tmp_path, live_server):
    title = f"待删除的通知 {ui.width}"
    doc = tmp_path / f"待删除-{ui.width}.txt"
    doc.write_text(f"{title}\n\n本通知仅用于测试删除功能。\n", encoding="utf-8")
    doc_id = upload(live_server, doc)["files"][0]["doc_ids"][0]
    ui.open(ADMIN_KEY, "#admin")
    remove = ui.page.get_by_role("button", name=f"删除《{title}》")
    remove.click()
    dialog = ui.page.locator("#confirm")
    expect(dialog).to_contain_text(f"《{title}》及其 1 个片段将从知识库中删除")
    ui.shot("admin-confirm-delete")
    dialog.get_by_role("button", name="取消").click()
    expect(dialog).to_be_hidden()
    expect(remove).to_be_focused()
    remove.click()
    dialog.get_by_role("button", name="删除").click()
    expect(ui.page.locator("#toast")).to_contain_text(f"已删除《{title}》")
    expect(ui.page.locator("#docs")).not_to_contain_text(title)
    assert httpx.get(f"{ui.url}/api/v1/documents/{doc_id}", headers=READER).status_code == 404


def test_admin_view_is_hidden_for_reader_keys(ui):
    ui.open(READER_KEY, "#admin")
    expect(ui.page.locator("#welcome")).to_be_visible()
    expect(ui.page.get_by_role("button", name="文档管理")).to_be_hidden()
    expect(ui.page.locator("#admin-view")).to_be_hidden()


def test_document_with_markup_renders_as_characters(ui, tmp_path, live_server):
    title = f"<b>脚本</b>测试文档 {ui.width}"
    script = "<script>window.__pwned = 1</script>"
    doc = tmp_path / f"脚本测试-{ui.width}.txt"
    doc.write_text(f'{title}\n\n本文包含 {script} 和 <img src=x onerror="window.__pwned = 2"> 字样。\n', encoding="utf-8")
    upload(live_server, doc)
    ui.open(ADMIN_KEY, "#admin")
    expect(ui.page.locator("#docs")).to_contain_text(title)
    ui.page.get_by_role("button", name=f"查看《{title}》").click()
    viewer = ui.page.locator("#viewer")
    expect(viewer.locator("#viewer-title")).to_have_text(title)
    expect(viewer.locator("#viewer-body")).to_contain_text(script)
    assert viewer.locator("script, img, b").count() == 0
    assert ui.page.evaluate("window.__pwned") is None
    ui.shot("markup-as-text")


def test_unreachable_server_shows_error_and_retry_recovers(ui):
    ui.open()
    ui.page.route("**/api/v1/chat", lambda route: route.abort("connectionrefused"))
    turn = ui.ask("2025年市场主体目标是多少")
    expect(turn.locator(".error-box")).to_contain_text("无法连接到问答服务")
    ui.shot("offline")
    ui.page.unroute("**/api/v1/chat")
    turn.get_by_role("button", name="重试").click()
    expect(turn.locator(".key-figure")).to_have_text("650万户")
    expect(turn.locator(".error-box")).to_have_count(0)


def test_page_without_key_asks_for_one_and_keeps_it(ui):
    ui.open(key=None)
    dialog = ui.page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    ui.page.get_by_label("密钥", exact=True).fill("not-a-key")
    ui.page.get_by_role("button", name="确定").click()
    expect(dialog.locator("#key-error")).to_have_text("密钥无效，请检查后重新输入。")
    ui.shot("key-prompt")
    ui.page.get_by_label("密钥", exact=True).fill(READER_KEY)
    ui.page.get_by_role("button", name="确定").click()
    expect(dialog).to_be_hidden()
    expect(ui.page.locator("#kb-stats")).to_contain_text("篇文档")
    ui.page.reload()  # the key was saved: no prompt the second time
    expect(ui.page.locator("#kb-stats")).to_contain_text("篇文档")
    expect(dialog).to_be_hidden()


def test_key_in_address_is_removed_from_it(ui):
    ui.open()
    assert "key=" not in ui.page.url


def test_shift_enter_adds_a_line_and_enter_sends(ui):
    ui.open()
    box = ui.page.locator("#question")
    box.fill("2025年市场主体")
    box.press("Shift+Enter")
    box.press_sequentially("目标是多少")
    expect(box).to_have_value("2025年市场主体\n目标是多少")
    expect(ui.page.locator(".turn")).to_have_count(0)
    box.press("Enter")
    expect(ui.page.locator(".turn .key-figure")).to_have_text("650万户")
    expect(box).to_have_value("")


def test_suggested_question_is_asked_on_click(ui):
    ui.open()
    ui.shot("welcome")
    ui.page.get_by_role("button", name="湖南查扣非法口罩多少只？").click()
    expect(ui.page.locator(".turn .key-figure")).to_have_text("734萬只")


def test_new_conversation_forgets_history(ui):
    ui.open()
    expect(ui.ask("2025年市场主体目标是多少").locator(".key-figure")).to_have_text("650万户")
    ui.page.get_by_role("button", name="新对话").click()
    expect(ui.page.locator("#welcome")).to_be_visible()
    expect(ui.page.locator(".turn")).to_have_count(0)
    turn = ui.ask("那2020年呢？")
    expect(turn.locator(".answer")).to_have_attribute("aria-busy", "false")
    expect(turn.locator(".rewritten")).to_be_hidden()  # nothing to resolve "那" against


def test_widget_adds_a_chat_panel_to_a_portal_page(ui, tmp_path):
    # A file:// page: Chromium refuses a made-up http origin's script from loopback (Private Network
    # Access), as it would a public site's; a real portal is on the intranet, like the service.
    portal = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>门户</title></head>'
              f'<body style="margin:0;font-family:sans-serif;background:#f7f7f7">'
              f'<header style="background:#b3261e;color:#fff;padding:18px 24px;font-size:20px">某市人民政府门户网站</header>'
              f'<main style="padding:24px"><p>政务公开 · 办事服务 · 互动交流</p></main>'
              f'<script src="{ui.url}/static/widget.js" data-api-key="{READER_KEY}"></script></body></html>')
    page = tmp_path / "portal.html"
    page.write_text(portal, encoding="utf-8")
    ui.page.goto(page.as_uri())
    fab = ui.page.get_by_role("button", name="打开政务知识问答")
    fab.click()
    frame = ui.page.frame_locator("iframe[title='政务知识问答']")
    expect(frame.locator("#kb-stats")).to_contain_text("篇文档")
    frame.locator("#question").fill("2025年市场主体目标是多少")
    frame.locator("#question").press("Enter")
    expect(frame.locator(".key-figure")).to_have_text("650万户")
    ui.shot("widget")
    frame.get_by_role("button", name="关闭问答窗口").click()
    expect(ui.page.locator("iframe[title='政务知识问答']")).to_be_hidden()
    expect(fab).to_be_visible()


def test_static_files_name_no_external_host():
    """Offline: no asset may point at a CDN. The SVG namespace and the widget's usage comment are not fetched."""
    allowed = {"http://www.w3.org/2000/svg", "http://SERVICE/static/widget.js"}
    found = {m for f in STATIC.iterdir() for m in re.findall(r"https?://[^\s\"'`)<>]+", f.read_text(encoding="utf-8"))}
    assert found <= allowed


def test_viewer_shows_cleaned_text_with_a_switch_to_the_extracted_text(ui):
    ui.open()
    turn = ui.ask("湖南查扣非法口罩多少只")
    expect(turn.locator(".key-figure")).to_have_text("734萬只")
    turn.locator(".cite-card").first.click()
    viewer = ui.page.locator("#viewer")
    body = viewer.locator("#viewer-body")
    expect(body.locator("mark.support", has_text="734萬只")).to_be_in_viewport()
    switch = viewer.get_by_role("switch", name="按提取原文显示")
    expect(switch).not_to_be_checked()
    expect(body).to_contain_text("市場監管局")  # cleaned: the pinyin glosses (監(jiān)管) are gone
    expect(body).not_to_contain_text("(jiān)")
    ui.shot("viewer-cleaned")
    switch.check()
    expect(body).to_contain_text("監(jiān)管")  # as extracted from the file
    expect(body.locator("mark.support", has_text="734萬只")).to_be_in_viewport()
    expect(body.locator("mark.cited").first).to_be_visible()
    ui.shot("viewer-extracted")
    switch.uncheck()
    expect(body).not_to_contain_text("(jiān)")
    expect(body.locator("mark.support", has_text="734萬只")).to_be_visible()


def test_viewer_downloads_the_original_with_the_key(ui, tmp_path, live_server):
    import docx  # noqa: PLC0415 - only this test builds a Word file

    title = f"关于开展2026年计量检定工作的通知 {ui.width}"
    path = tmp_path / f"计量检定通知-{ui.width}.docx"
    document = docx.Document()
    document.add_paragraph(title)
    document.add_paragraph("2026年全市共免费检定农贸市场电子秤4816台。")
    document.save(path)
    upload(live_server, path)
    ui.open(ADMIN_KEY, "#admin")
    ui.page.get_by_role("button", name=f"查看《{title}》").click()
    link = ui.page.locator("#viewer-original").get_by_role("link", name="下载原件")
    expect(link).to_be_visible()
    expect(ui.page.locator("#viewer-original")).not_to_contain_text("打开原件")  # a .docx is not shown in the browser
    with ui.page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == path.name
    assert Path(download.value.path()).read_bytes() == path.read_bytes()


def test_upload_picker_and_drop_zone_take_only_the_accepted_types(ui, tmp_path):
    good = tmp_path / f"药店登记-{ui.width}.txt"
    good.write_text(f"药店登记情况（{ui.width}）\n\n2026年本区新设药店31家。\n", encoding="utf-8")
    bad = tmp_path / f"病毒-{ui.width}.exe"
    bad.write_bytes(b"MZ")
    ui.open(ADMIN_KEY, "#admin")
    expect(ui.page.locator("#docs tbody tr").first).to_be_visible()
    types = httpx.get(f"{ui.url}/api/v1/documents", headers=READER).json()["upload_types"]
    expect(ui.page.locator("#upload-input")).to_have_attribute("accept", ",".join(types))
    ui.page.locator("#upload-input").set_input_files([good, bad])
    chosen = ui.page.locator("#chosen")
    expect(chosen.locator("li.refused")).to_contain_text("不支持的文件类型 .exe")
    ui.page.get_by_role("button", name="上传并导入").click()
    status = ui.page.locator("#upload-status")
    expect(status).to_contain_text("1 个文件未导入", timeout=INGEST_MS)
    expect(status.locator(".st-added")).to_contain_text(good.name)
    expect(status.locator(".st-rejected")).to_contain_text(bad.name)
    ui.shot("admin-batch-results")
