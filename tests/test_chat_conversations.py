"""Conversations and feedback on the web chat, in a real headless Chromium against a live `qa serve`
(issue 13 §1-2): a conversation survives a reload with its answers and citations, the list reopens,
renames and deletes conversations, and 👎 with a reason is saved against the answer."""
# ruff: noqa: F811 - the page fixtures are imported from test_chat_page and taken as parameters
from __future__ import annotations

import httpx
from conftest import READER
from playwright.sync_api import expect
from test_chat_page import Ui, ui  # noqa: F401 - the page fixture, at desktop and phone width


def asked(ui: Ui, question: str):
    """`ui.ask`, returning once the whole answer is in (its record written: `done` came), so the next
    question is not typed while the page is still busy with this one."""
    turn = ui.ask(question)
    expect(turn.locator(".answer")).to_have_attribute("aria-busy", "false")
    return turn


def _as_page(ui: Ui) -> dict:
    """The page's own headers: its key and its browser id (conversations are filed under both)."""
    return {**READER, "X-Client-ID": ui.page.evaluate("localStorage.getItem('qa.clientId')")}


def _records(ui: Ui) -> list[dict]:
    return httpx.get(f"{ui.url}/api/v1/conversations", headers=_as_page(ui)).json()["conversations"]


def test_a_conversation_is_there_again_after_a_reload(ui):
    ui.open()
    first = asked(ui, "2025年市场主体目标是多少")
    expect(first.locator(".key-figure")).to_have_text("650万户")
    follow = asked(ui, "那2020年呢？")
    expect(follow.locator(".key-figure")).to_have_text("488.84万户")
    ui.page.reload()
    turns = ui.page.locator(".turn")
    expect(turns).to_have_count(2)
    expect(turns.nth(0).locator(".key-figure")).to_have_text("650万户")
    expect(turns.nth(0).locator(".cite-card").first.locator("tr.hit mark.hl", has_text="650")).to_be_visible()
    expect(turns.nth(1).locator(".rewritten .text")).to_have_text("2020年市场主体目标是多少")
    ui.shot("conversation-reloaded")
    # The follow-up after the reload takes its history from the stored conversation.
    again = asked(ui, "那2030年呢？")
    expect(again.locator(".rewritten .text")).to_contain_text("2030年")


def test_thumbs_down_with_a_reason_is_saved_and_shown_after_a_reload(ui):
    ui.open()
    turn = asked(ui, "湖南查扣非法口罩多少只？")
    down = turn.get_by_role("button", name="没有帮助")
    down.focus()
    ui.page.keyboard.press("Enter")  # from the keyboard: the vote is saved, the form opens on its first reason
    expect(down).to_have_attribute("aria-pressed", "true")
    form = turn.locator(".fb-form")
    expect(form).to_be_visible()
    form.get_by_label("引用不对").check()
    form.get_by_placeholder("补充说明（可不填）").fill("引用的不是湖南的文件")
    form.get_by_role("button", name="提交").click()
    expect(turn.locator(".fb-status")).to_have_text("感谢反馈，已记录原因")
    ui.shot("feedback")

    conversation = _records(ui)[0]
    detail = httpx.get(f"{ui.url}/api/v1/conversations/{conversation['conversation_id']}", headers=_as_page(ui)).json()
    feedback = detail["turns"][0]["feedback"]
    assert (feedback["vote"], feedback["reason"], feedback["comment"]) == ("down", "引用不对", "引用的不是湖南的文件")

    ui.page.reload()
    turn = ui.page.locator(".turn").first
    down = turn.get_by_role("button", name="没有帮助")
    expect(down).to_have_attribute("aria-pressed", "true")
    down.click()
    expect(turn.locator(".fb-form").get_by_label("引用不对")).to_be_checked()


def test_the_list_reopens_renames_and_deletes_conversations(ui):
    ui.open()  # a new browser context, so a new browser id: its list starts empty on the shared server
    expect(asked(ui, "贵州2020年新设立市场主体多少户？").locator(".key-figure")).to_have_text("68.2万户")
    ui.page.get_by_role("button", name="新对话").click()
    expect(asked(ui, "2025年市场主体目标是多少").locator(".key-figure")).to_have_text("650万户")

    ui.page.get_by_role("button", name="对话记录").click()
    drawer = ui.page.locator("#history")
    items = drawer.locator(".conv")
    expect(items).to_have_count(2)
    expect(items.first.locator(".conv-title")).to_have_text("2025年市场主体目标是多少")
    ui.shot("conversations")

    items.nth(1).get_by_role("button", name="重命名“贵州2020年新设立市场主体多少户？”").click()
    box = drawer.get_by_label("对话的新标题")
    box.fill("贵州新设市场主体")
    box.press("Enter")
    expect(items.nth(1).locator(".conv-title")).to_have_text("贵州新设市场主体")

    items.nth(1).locator(".conv-open").click()
    expect(drawer).to_be_hidden()
    turns = ui.page.locator(".turn")
    expect(turns).to_have_count(1)
    expect(turns.first.locator(".key-figure")).to_have_text("68.2万户")

    ui.page.get_by_role("button", name="对话记录").click()
    items.first.get_by_role("button", name="删除“2025年市场主体目标是多少”").click()
    ui.page.locator("#confirm").get_by_role("button", name="删除").click()
    expect(items).to_have_count(1)
    assert [c["title"] for c in _records(ui)] == ["贵州新设市场主体"]
