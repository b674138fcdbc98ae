"""Cleaning the shipped corpus: chrome, pinyin and separators go; positions and script stay."""
import re

import pytest

from conftest import PLAN, TRADITIONAL

from qa.clean import clean
from qa.textnorm import normalize

CHROME = ("分享", "请使用微信扫一扫", "放大字体", "缩小字体", "当前位置", "责任编辑", "推荐产品&服务", "MORE>>",
          ".jpg", "推荐标法舆情动态", "主管", "主办")
PINYIN = re.compile(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)")


def test_no_chunk_contains_web_chrome(corpus_chunks):
    for chunks in corpus_chunks.values():
        for c in chunks:
            simple = normalize(c.text)
            for marker in CHROME:
                if marker in ("主管", "主办"):  # masthead lines "…总局主管", "…协会主办"
                    assert not re.search(rf"^\S+{marker}$", simple, re.M), c.text
                else:
                    assert marker not in simple, (marker, c.text)


def test_no_chunk_contains_pinyin_or_stray_question_marks(corpus_chunks):
    for chunks in corpus_chunks.values():
        for c in chunks:
            assert not PINYIN.search(c.text), c.text
            assert "?" not in c.text, c.text


def test_traditional_text_keeps_its_script_without_pinyin(corpus_documents):
    doc = corpus_documents[TRADITIONAL]
    assert "國家市場監(jiān)督" in doc.raw_text
    assert "全省11795家單體藥店通過入網審核" in doc.text
    assert "(jiān)" not in doc.text


def test_every_cleaned_character_maps_back_to_the_same_character(corpus_documents):
    for doc in corpus_documents.values():
        assert len(doc.offsets) == len(doc.text)
        assert all(doc.raw_text[o] == ch for o, ch in zip(doc.offsets, doc.text))
        assert list(doc.offsets) == sorted(doc.offsets)


def test_image_file_name_is_cut_from_its_caption():
    raw = "正文。\n\n省市场监管局.jpg2020年11月16日,湖南省质量大会召开\n"
    assert clean(raw).text == "正文。\n\n2020年11月16日,湖南省质量大会召开"


def test_broken_pinyin_garbage_is_removed():
    assert clean("介紹了當(dāng)?shù)亟Y(jié)合疫情防控").text == "介紹了當合疫情防控"


def test_chrome_span_inside_a_useful_line_keeps_the_rest(corpus_documents):
    doc = corpus_documents[PLAN]
    assert "发布日期:2021-08-18\xa0\xa0来源:湖南省市场监督管理局" in doc.text
    assert "放大字体" not in doc.text


@pytest.mark.parametrize("raw,text", [
    ("身长约30-{zh-cn:厘米; zh-hk:厘米; zh-tw:公分}-，尾短", "身长约30厘米，尾短"),  # the simplified variant
    ("由-{zh-hk:罗拔;zh-tw:罗伯;}-执导", "由罗伯执导"),  # no simplified variant: the first of the rest
    ("立为-{后}-，次年", "立为后，次年"),  # a word kept as written: its text
    ("-{T|某某函式库}-某某函式库是", "某某函式库某某函式库是"),  # a flag before |
    ("集合{a}-{b}中", "集合{a}-{b}中"),  # braces that are no conversion block
])
def test_wiki_conversion_markup_keeps_one_variant(raw, text):
    cleaned = clean(raw)
    assert cleaned.text == text
    assert [raw[o] for o in cleaned.offsets] == list(cleaned.text)


@pytest.mark.parametrize("raw,text", [
    ("全年受理投诉三百件。<br>备注：含来信来访", "全年受理投诉三百件。备注：含来信来访"),
    ("一等奖<BR />二等奖", "一等奖二等奖"),
    ("见该条例<ref>某某日报</ref>，次年施行", "见该条例某某日报，次年施行"),  # the tag goes, what it wraps stays
    ("当x<5且y>3时", "当x<5且y>3时"),  # angle brackets that are no tag
])
def test_html_and_wiki_tags_are_removed_and_what_they_wrap_kept(raw, text):
    cleaned = clean(raw)
    assert cleaned.text == text
    assert [raw[o] for o in cleaned.offsets] == list(cleaned.text)


def test_separator_lines_of_question_marks_are_removed():
    assert clean("第三章\n\n?\n\n第四章 保障措施").text == "第三章\n\n第四章 保障措施"


def test_normalised_form_is_simplified_and_half_width():
    assert normalize("國家市場監督管理總局６５０萬戶") == "国家市场监督管理总局650万户"


def test_a_glued_headline_stays_in_the_cleaned_text_the_viewer_shows():
    # Only the chunker keeps the headline out of answers; the document as published keeps it.
    raw = "分享\n关于开展食品安全监督抽检工作的通知 各区市场监管局：为做好抽检工作，现将有关事项通知如下。"
    cleaned = clean(raw)
    assert cleaned.text == raw.removeprefix("分享\n")
    assert [raw[o] for o in cleaned.offsets] == list(cleaned.text)
