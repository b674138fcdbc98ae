"""Metadata of the shipped corpus, read from the documents themselves (and two sidecars)."""
import pytest
from conftest import PLAN, TRADITIONAL

from qa.metadata import find_date, find_region, find_source, find_title

EXPECTED = {
    PLAN: ("湖南省“十四五”市场监管规划", "2021-08-18", "湖南省市场监督管理局", "湖南", "规划"),
    "湖南以精准监管助推高质量发展": (
        "深化改革创新强化监管服务 以精准监管助推湖南高质量发展", "2021-01-26", "湘声报-湖南政协新闻网", "湖南", "新闻"),
    TRADITIONAL: (
        "創新監管手段 推動高質量發展 河北、江蘇、湖南三省市場監管局推進工作有實招", "2020-07-21",
        "中国消费者报•中国消费网", "河北、江苏、湖南", "新闻"),
    # These two state no date/source in the text; their sidecar .meta.json files do.
    "贵州省市场监管暨知识产权工作会议": (
        "贵州省全省市场监管暨知识产权工作会议召开", "2021-03-16", "贵州省市场监督管理局", "贵州", "会议报道"),
    "株洲市市场监管局服务高质量发展纪实": (
        "凝心聚力护民生 奋力履职显担当——株洲市市场监督管理局服务高质量发展纪实", "", "株洲市市场监督管理局",
        "株洲", "新闻"),
}


@pytest.mark.parametrize("doc_id", sorted(EXPECTED))
def test_corpus_metadata(corpus_documents, doc_id):
    d = corpus_documents[doc_id]
    assert (d.title, d.date, d.source, d.region, d.kind) == EXPECTED[doc_id]


def test_title_of_an_issuing_notice_is_the_issued_document():
    text = "湖南省发展和改革委员会 湖南省市场监督管理局关于印发湖南省“十四五”市场监管规划的通知\n\n正文。"
    assert find_title(text, "x") == "湖南省“十四五”市场监管规划"


def test_title_falls_back_to_file_name_when_no_line_reads_like_one():
    assert find_title("这是一段很长的正文，没有任何标题行。", "文件名") == "文件名"


def test_date_and_source_from_a_traditional_dateline():
    text = "標題\n2020-07-21 11:10 本文來源:中國消費者報•中國消費網 作者:任震宇\n"
    assert find_date(text) == "2020-07-21"
    assert find_source(text) == "中国消费者报•中国消费网"


def test_region_from_body_when_title_names_none():
    assert find_region("全省市场监管工作会议召开", "会议深入学习贯彻视察贵州重要讲话精神，贵州发展极不平凡。") == "贵州"
