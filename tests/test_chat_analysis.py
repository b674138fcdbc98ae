"""问答分析 on the web chat, in a real headless Chromium against a live `qa serve` (issue 13 §3): a
question given a 👎 in the chat appears in the admin's 问答分析, is added to the eval set with an
expected answer, and `qa eval --kb` then runs it; a question not found is marked as not covered."""
# ruff: noqa: F811 - the page fixture is imported from test_chat_page and taken as a parameter
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import ADMIN, ADMIN_KEY
from playwright.sync_api import expect
from test_chat_page import Ui, ui  # noqa: F401 - the page fixture, at desktop and phone width

# Each width asks its own questions: both share the module's server, and a question goes into the
# eval set once.
DOWNVOTED = {"desktop": ("截至2020年底湖南全省实有市场主体多少户", "488.84"),
             "phone": ("湖南全省市场主体数较“十二五”期末增长了多少", "89.2")}
NOT_FOUND = {"desktop": "上海市市场监管局局长是谁", "phone": "北京市市场监管局局长是谁"}


def thumbs_down(turn) -> None:
    turn.get_by_role("button", name="没有帮助").click()
    form = turn.locator(".fb-form")
    form.get_by_label("答案错误").check()
    form.get_by_role("button", name="提交").click()
    expect(turn.locator(".fb-status")).to_contain_text("感谢反馈")


def eval_set(ui: Ui) -> list[dict]:
    return httpx.get(f"{ui.url}/api/v1/evalset", headers=ADMIN, timeout=60).json()["cases"]


def test_a_downvoted_question_is_added_to_the_eval_set_from_the_analysis(ui, live_server, corpus_service):
    question, figure = DOWNVOTED[ui.width]
    ui.open()
    turn = ui.ask(question)
    expect(turn.locator(".key-figure")).to_contain_text(figure)
    thumbs_down(turn)
    missing = ui.ask(NOT_FOUND[ui.width])
    expect(missing.locator(".answer")).to_have_attribute("aria-busy", "false")

    ui.open(ADMIN_KEY, "#admin")
    group = ui.page.locator(".gap", has_text=question)
    expect(group).to_be_visible()
    expect(group.locator(".chip.kind-downvoted")).to_have_text("差评 1")
    expect(ui.page.locator(".gap", has_text=NOT_FOUND[ui.width]).locator(".chip.kind-not_found")).to_be_visible()
    group.scroll_into_view_if_needed()
    ui.shot("analysis")

    group.get_by_role("button", name=f"把“{question}”加入评测集").click()
    dialog = ui.page.locator("#case-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#case-question")).to_have_value(question)
    expect(dialog.locator("#case-answers")).to_have_value(re.compile(re.escape(figure)))  # the answer given
    expect(dialog.locator("input[name=case-passage]:checked")).to_have_count(1)
    expect(dialog.locator("#case-evidence")).to_have_value(re.compile(re.escape(figure)))
    ui.shot("analysis-case")
    dialog.get_by_role("button", name="加入评测集", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(ui.page.locator(".gap", has_text=question).locator(".gap-head .chip.in-set")).to_contain_text("已在评测集")

    # 标记为知识库未覆盖: the question not found becomes an unanswerable case.
    nf = ui.page.locator(".gap", has_text=NOT_FOUND[ui.width])
    nf.get_by_role("button", name=f"把“{NOT_FOUND[ui.width]}”标记为知识库未覆盖").click()
    expect(dialog.locator("#case-answer-fields")).to_be_hidden()
    dialog.get_by_role("button", name="标记为未覆盖").click()
    expect(nf.locator(".gap-head .chip.in-set")).to_contain_text("已在评测集")
    expect(ui.page.locator("#evalset-summary")).to_contain_text("知识库未覆盖")
    ui.shot("analysis-added")

    cases = {c["question"]: c for c in eval_set(ui)}
    assert figure in cases[question]["evidence"] and cases[question]["source"] == "feedback"
    assert cases[NOT_FOUND[ui.width]]["unanswerable"] is True

    # `qa eval` on the knowledge base then includes them (once: both widths' cases by the second run).
    out = subprocess.run([sys.executable, "-m", "qa.cli", "eval", "--kb", "default", "--json",
                          "--index", str(live_server.index_dir), "--model", corpus_service.settings.embed_model],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((Path(json.loads(out.stdout)["out"]) / "report.json").read_text(encoding="utf-8"))
    asked = {o["question"] for o in report["configs"]["hybrid"]["outcomes"]}
    assert {question, NOT_FOUND[ui.width]} <= asked

