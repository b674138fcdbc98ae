"""Span extraction on literal passages, no model: the question's kind, the slot a 什么/哪个/谁
question asks for, quantities and ranges. Passages are written for the test (or general
knowledge), not taken from the shipped corpus."""
from __future__ import annotations

import pytest

from qa.answer import _numbers, classify
from qa.slots import slot
from qa.textnorm import normalize


@pytest.mark.parametrize("question,kind", [
    ("平均办理时间是多少天", "number"),  # "时间是" no longer makes it a date question
    ("实施方案包括多少项措施", "number"),  # "包括" no longer makes it a list question
    ("该园区一共有几家企业入驻？", "number"),
    ("该公园位于什么地方？", "entity"),
    ("首届博览会在哪个城市举办？", "entity"),
    ("该规定由哪个部门负责解释？", "entity"),
    ("为什么要推行信用监管？", "sentence"),  # 为什么 holds 什么, but asks for a reason
    ("如何提升抽检合格率？", "sentence"),
    ("该机构的负责人是谁？", "who"),
    ("条例什么时候施行？", "when"),
    ("专项行动包括哪些内容？", "list"),
])
def test_a_question_is_classified_by_what_it_asks(question, kind):
    assert classify(question) == kind


@pytest.mark.parametrize("question,sentence,span", [
    ("该赛事中生命数耗完即算为什么？", "该赛事中生命数耗完即算为出局，比赛随即结束。", "出局"),
    ("这座公园位于什么地方？", "这座公园位于城市西郊的滨江新区，占地约二百亩。", "城市西郊的滨江新区"),
    ("这座公园是由谁捐资兴建的？", "这座公园是由当地商会捐资兴建的。", "当地商会"),
    ("该条例的正式名称是什么？", "该条例的正式名称为“营商环境促进条例”，于次年施行。", "“营商环境促进条例”"),
    ("该套餐主要以什么为原料？", "该套餐主要以本地大米、时令蔬菜为原料，价格实惠。", "本地大米、时令蔬菜"),
    ("小组组长由哪个部门的负责人担任？", "小组组长由市场监管部门的负责人担任，成员由各区派员组成。", "市场监管部门"),
])
def test_the_slot_a_question_asks_for_is_lined_up_with_the_sentence(question, sentence, span):
    found = slot(normalize(question), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == span


@pytest.mark.parametrize("question,sentence", [
    ("这座公园位于什么地方？", "今年共举办各类展会三十余场。"),  # nothing of the question is restated
    ("该条例的正式名称是什么？", "该条例的正式名称。此后多次修订，内容不断完善，逐步形成了较为完整的体系框架。"),
])
def test_no_slot_where_the_sentence_does_not_restate_the_question(question, sentence):
    found = slot(normalize(question), normalize(sentence))
    assert found is None


@pytest.mark.parametrize("text,quantities", [
    ("海拔100米至2,800米的地区", ["100米至2,800米"]),  # a range is one answer
    ("果实长约15至20厘米。", ["15至20厘米"]),
    ("每季度抽检2-4个批次", ["2-4个"]),
    ("共发放防护服1.4万件、医用手套11万双", ["1.4万件", "11万双"]),  # a list of quantities
    ("于2020-10-05发布", []),  # a date is not a quantity
    ("2019年完成", []),  # nor is a bare year
])
def test_quantities_keep_their_unit_and_ranges_stay_whole(text, quantities):
    assert [m.group(0) for m in _numbers(text, set())] == quantities


def _hit(text: str):
    from qa.types import Chunk, Hit

    chunk = Chunk("c1", "d1", 0, "text", "", text, text, 0, len(text), 0, len(text), "")
    return Hit(chunk=chunk, score=1.0, rank=1)


def test_a_how_question_is_answered_with_the_enumerated_measures_after_the_lead_in():
    from qa.answer import candidates

    text = ("为提升服务质量，该局采取了以下措施：一是压缩办理时限；二是推行网上申报；三是设立帮办专窗。"
            "全年共受理申请三千余件。")
    cands = candidates("该局采取了哪些措施提升服务质量", "sentence", [_hit(text)], {})
    best = max(cands, key=lambda c: c.score)
    assert best.answer == "为提升服务质量，该局采取了以下措施：一是压缩办理时限；二是推行网上申报；三是设立帮办专窗。"


@pytest.mark.parametrize("question,sentence,span", [
    ("该市在全国率先成立了什么调解机构？", "该市在全国率先成立调解仲裁中心，当年受理案件百余件。", "调解仲裁中心"),
    ("该县哪个农产品产量居全省第一？", "该县出产的高山茶叶产量居全省第一，远销海外。", "出产的高山茶叶"),
])
def test_the_slot_is_found_when_the_sentence_names_the_thing_and_not_its_kind(question, sentence, span):
    found = slot(normalize(question), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == span


def test_a_collective_name_is_answered_with_what_stands_before_it():
    sentence = "会议要求，推进绿色低碳、数字赋能“两大转型”，守住安全底线。"
    found = slot(normalize("该市要推进的“两大转型”是什么？"), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == "推进绿色低碳、数字赋能"


def test_the_number_that_fills_the_slot_wins_over_another_in_the_sentence():
    from qa.answer import candidates

    text = "该区将原有200余家小作坊整合规范为48家，质量水平明显提升。"
    cands = candidates("该区把小作坊整合规范为多少家", "number", [_hit(text)], {})
    assert max(cands, key=lambda c: c.score).answer == "48家"


def test_a_count_in_words_is_answered_with_what_it_counts():
    sentence = "该省商事制度改革实现“二十六证合一”，企业开办时间大幅压缩。"
    found = slot(normalize("该省商事制度改革实现了几证合一？"), normalize(sentence))
    assert found is not None and sentence[found.start:found.end] == "二十六证合一"
