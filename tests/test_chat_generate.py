"""The generated answer on the chat page, in a real headless Chromium against a real `qa serve` whose
model is the test double (tests/llm_double.py): the extractive answer first, then the generated text
with its [n] linked to the cards; a fabricated number never reaches the screen; the switch.

Screenshots go to tests/artifacts/chat/generated-*.png.
"""
from __future__ import annotations

import re

import pytest
from conftest import READER_KEY, private_server
from llm_double import Script
from playwright.sync_api import Page, expect
from test_chat_page import ARTIFACTS, VIEWPORTS

TARGET = "2025年市场主体目标是多少"


@pytest.fixture(scope="module")
def gen_server(tmp_path_factory, corpus_service, model_dir, double):
    with private_server(tmp_path_factory, corpus_service, model_dir, "gen-page", QA_LLM_BASE_URL=double.url,
                        QA_LLM_TIMEOUT="60") as server:
        yield server


@pytest.fixture()
def page(chromium, gen_server, double):  # noqa: F811 - the fixture imported above
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    double.reset()
    context = chromium.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN", reduced_motion="reduce")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{gen_server.url}/?key={READER_KEY}")
    expect(page.locator("#kb-stats")).to_contain_text("篇文档")
    yield page
    double.release()
    context.close()
    assert errors == [], "uncaught script errors"


def ask(page: Page, question: str):
    box = page.locator("#question")
    box.fill(question)
    box.press("Enter")
    turn = page.locator(".turn").last
    expect(turn.locator(".user-bubble")).to_have_text(question)
    return turn


def finished(page: Page) -> None:
    """The whole stream (generation included) has ended: the composer is no longer busy."""
    expect(page.locator("#composer")).not_to_have_class(re.compile(r"\bbusy\b"))
    expect(page.locator("#send")).to_be_enabled()


def test_generated_answer_follows_the_extractive_one_with_citations_linked_to_cards(page, double):
    expect(page.get_by_role("switch", name="生成式回答")).to_be_checked()
    double.reset(Script.reply("根据规划，2025年全省市场主体目标为650万户[1]。"
                              "2020年为488.84万户[1]，其他指标见[4]。"))
    double.hold()
    turn = ask(page, TARGET)
    # The extractive answer is on screen while the model has not answered yet.
    expect(turn.locator(".key-figure")).to_have_text("650万户")
    generated = turn.locator(".generated")
    expect(generated).to_contain_text("正在生成回答")
    page.screenshot(path=ARTIFACTS / "generated-pending-desktop.png")
    double.release()
    expect(generated.locator(".gen-text")).to_have_text(
        "根据规划，2025年全省市场主体目标为650万户[1]。2020年为488.84万户[1]，其他指标见[4]。")
    expect(generated.locator(".gen-note")).to_be_hidden()
    finished(page)
    # [4]: the fourth card, folded behind "显示全部" until the link asks for it.
    card = turn.locator('.sources:not(.others) .cite-card[data-rank="4"]')
    expect(card).to_be_hidden()
    generated.get_by_role("link", name="出处 4").click()
    expect(card).to_be_visible()
    expect(card.locator(".card-open")).to_be_focused()
    expect(card).to_be_in_viewport()
    generated.get_by_role("link", name="出处 1").first.click()
    expect(turn.locator('.sources:not(.others) .cite-card[data-rank="1"] .card-open')).to_be_focused()
    page.screenshot(path=ARTIFACTS / "generated-desktop.png")


def test_fabricated_number_never_appears_on_screen(page, double):
    double.reset(Script.reply("2025年全省市场主体目标为666.66万户[1]。"))
    turn = ask(page, TARGET)
    expect(turn.locator(".key-figure")).to_have_text("650万户")
    expect(turn.locator(".gen-note")).to_have_text("生成的回答与所引片段核对不符，未予显示；请以上面的答案和出处为准。")
    finished(page)
    assert double.requests, "the model was asked"
    assert "666.66" not in page.locator("body").inner_text()
    assert "666.66" not in page.content()
    page.screenshot(path=ARTIFACTS / "generated-withheld-desktop.png")


def test_switch_off_asks_for_no_generation_and_is_remembered(page, double, gen_server):
    switch = page.get_by_role("switch", name="生成式回答")
    switch.uncheck()
    double.reset(Script.reply("根据规划，2025年全省市场主体目标为650万户[1]。"))
    turn = ask(page, TARGET)
    expect(turn.locator(".key-figure")).to_have_text("650万户")
    finished(page)
    expect(turn.locator(".generated")).to_be_hidden()
    assert double.requests == []
    page.reload()
    expect(page.locator("#kb-stats")).to_contain_text("篇文档")
    expect(page.get_by_role("switch", name="生成式回答")).not_to_be_checked()  # this browser's choice
