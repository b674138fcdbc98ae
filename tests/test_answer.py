"""Answers on the shipped corpus with the real model: the acceptance questions and the rules behind them."""
import re

import pytest
from conftest import PLAN, TRADITIONAL

from qa import answer as answering
from qa.answer import classify
from qa.errors import InvalidArgument
from qa.rewrite import rewrite
from qa.types import Filters

NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _highlighted(citation):
    return [citation.text[a:b] for a, b in citation.highlight]


def test_market_entity_target_is_650_wan_hu_from_the_table_row(corpus_service):
    a = corpus_service.ask("2025年市场主体目标是多少")
    assert a.found and a.answer == "650万户"
    top = a.citations[0]
    assert top.kind == "table_row" and top.doc_id == PLAN and top.region == "湖南"
    assert "650" in _highlighted(top) and "万户" in _highlighted(top)
    assert top.section.endswith("专栏1 “十四五”市场监管工作主要指标")


def test_follow_up_year_is_answered_from_the_2020_column(corpus_service):
    a = corpus_service.ask("那2020年呢？", history=["2025年市场主体目标是多少"])
    assert a.rewritten_question == "2020年市场主体目标是多少"
    assert a.found and a.answer == "488.84万户"


def test_who_heads_the_hunan_bureau(corpus_service):
    a = corpus_service.ask("湖南省市场监管局局长是谁")
    assert a.found and a.answer == "向曙光"
    assert a.citations[0].region == "湖南"


def test_guizhou_market_entity_total(corpus_service):
    a = corpus_service.ask("贵州全省市场主体总量达到多少")
    assert a.found and a.answer == "346.76万户"
    assert a.citations[0].region == "贵州"


def test_hebei_pharmacies_come_from_the_traditional_article(corpus_service):
    a = corpus_service.ask("河北有多少家单体药店通过了入网审核")
    assert a.found and a.answer == "11795家"
    assert a.citations[0].doc_id == TRADITIONAL and a.citations[0].region == "河北"


def test_a_province_the_corpus_never_mentions_is_not_answered_with_hunans_number(corpus_service):
    a = corpus_service.ask("北京市2025年市场主体目标是多少")
    assert not a.found
    assert a.answer.startswith("知识库中没有找到与") and "650" not in a.answer
    assert a.citations, "the nearest passages are still listed for the user to judge"


def test_a_year_the_corpus_never_mentions_is_refused(corpus_service):
    assert not corpus_service.ask("2030年市场主体目标是多少").found


def test_off_topic_question_is_refused(corpus_service):
    assert not corpus_service.ask("如何申请护照").found


@pytest.mark.parametrize("question,expected", [
    ("湖南学校食堂后厨对外可视化的比例有多高", "超过95%"),  # ↔ 学校食堂“明厨亮灶”覆盖率超过95%
    ("贵州电梯关人以后救援人员平均多久能赶到", "9.5分钟"),  # ↔ 应急救援到达现场时均9.5分钟
])
def test_a_paraphrase_whose_sentence_means_the_question_is_answered(corpus_service, question, expected):
    # Too few of the question's words are in the sentence, so the word rules alone refuse it; the
    # sentence's own cosine to the question (the embedding model's) reaches min_dense, so it is given.
    s = corpus_service.settings
    hits = corpus_service.search(question, k=s.answer_passages)
    params = answering.RefusalParams(s.min_coverage, s.weak_coverage, s.min_dense, s.min_confidence)
    words_only = answering.choose(question, hits, corpus_service.index.docs, params, idf=corpus_service.idf)
    assert not words_only.found and words_only.reason in ("coverage", "distant")
    assert corpus_service.closeness(question)(words_only.candidate.sentence) >= s.min_dense
    a = corpus_service.ask(question)
    assert (a.found, a.answer) == (True, expected)
    assert expected in _highlighted(a.citations[0])


def test_closeness_is_the_cosine_of_question_and_sentence(corpus_service):
    close = corpus_service.closeness("湖南学校食堂后厨对外可视化的比例有多高")
    on_topic = close("学校食堂“明厨亮灶”覆盖率超过95%,同比提升8个百分点。")
    off_topic = close("开展特种设备安全专项整治三年行动,实施电梯困人救援1.8万余次。")
    assert -1.0 <= off_topic < on_topic <= 1.0


def test_every_number_and_unit_of_the_answer_is_in_the_first_citation(corpus_service):
    for q in ("2025年市场主体目标是多少", "贵州全省市场主体总量达到多少", "湖南查扣非法口罩多少只",
              "河北有多少家单体药店通过了入网审核"):
        a = corpus_service.ask(q)
        top = a.citations[0]
        for number in NUMBER.findall(a.answer):
            assert number in top.text
        for a0, b0 in top.highlight:
            assert 0 <= a0 < b0 <= len(top.text)
        assert a.answer_sentence and a.answer_sentence in top.text or top.kind == "table_row"


def test_citation_offsets_locate_the_chunk_in_the_original_document(corpus_service):
    a = corpus_service.ask("河北有多少家单体药店通过了入网审核")
    top = a.citations[0]
    raw = corpus_service.index.document(top.doc_id).raw_text
    start, end = top.doc_offsets
    assert "11795" in raw[start:end]


def test_other_documents_go_under_others_never_merged(corpus_service):
    a = corpus_service.ask("市场主体总量达到多少", k=5)
    assert a.found
    # The best passages are cited whatever their document, but only the answer's passage is
    # highlighted: a figure is never shown as if two documents said it.
    assert a.citations[0].highlight and not any(c.highlight for c in a.citations[1:])
    cited_docs = {c.doc_id for c in a.citations}
    assert all(o.doc_id not in cited_docs and o.region for o in a.others)


def test_follow_up_region_swap(corpus_service):
    a = corpus_service.ask("贵州呢？", history=["湖南全省市场主体总量达到多少"])
    assert a.rewritten_question == "贵州全省市场主体总量达到多少"
    assert a.answer == "346.76万户"


def test_sub_question_follow_up_answers_the_part_asked(corpus_service):
    a = corpus_service.ask("其中发明专利申请多少件？", history=["株洲2020年申请专利多少件"])
    assert a.answer == "4229件"


def test_date_question_returns_the_date(corpus_service):
    assert corpus_service.ask("湖南省质量大会什么时候召开").answer == "2020年11月16日"


def test_traditional_number_keeps_its_unit(corpus_service):
    a = corpus_service.ask("湖南查扣非法口罩多少只")
    assert a.answer == "734萬只" and a.citations[0].doc_id == TRADITIONAL


def test_filters_apply_to_answers(corpus_service):
    a = corpus_service.ask("市场主体总量达到多少", filters=Filters(regions=("贵州",)))
    assert a.found and all(c.region == "贵州" for c in a.citations)


def test_timings_are_reported(corpus_service):
    a = corpus_service.ask("2025年市场主体目标是多少")
    assert set(a.timings_ms) == {"rewrite", "retrieve", "answer"}


@pytest.mark.parametrize("history", [["  "], ["问题"] * 21])
def test_bad_history_is_a_clear_error(corpus_service, history):
    with pytest.raises(InvalidArgument):
        corpus_service.ask("那2020年呢？", history=history)


@pytest.mark.parametrize("question,kind", [
    ("2025年市场主体目标是多少", "number"), ("湖南省市场监管局局长是谁", "who"),
    ("湖南省质量大会什么时候召开", "when"), ("食品安全放心工程包括哪些内容", "list"),
    ("株洲市场监管局如何优化营商环境", "method"),
])
def test_question_types(question, kind):
    assert classify(question) == kind


@pytest.mark.parametrize("history,question,expected", [
    (["2025年市场主体目标是多少"], "那2020年呢？", "2020年市场主体目标是多少"),
    (["湖南全省市场主体总量达到多少"], "贵州呢？", "贵州全省市场主体总量达到多少"),
    (["株洲2020年申请专利多少件"], "其中发明专利申请多少件？", "株洲2020年申请专利多少件，其中发明专利申请多少件"),
    (["2025年市场主体目标是多少", "那2020年呢？"], "贵州呢？", "贵州2020年市场主体目标是多少"),
    (["2025年市场主体目标是多少"], "湖南省市场监管局局长是谁", "湖南省市场监管局局长是谁"),
    ([], "那2020年呢？", "那2020年呢？"),
])
def test_follow_ups_are_rewritten_deterministically(history, question, expected):
    assert rewrite(question, history) == expected
